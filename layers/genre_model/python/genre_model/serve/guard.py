"""What is checked before any route sees a request: the body's size, encoding and media type.

``body_text`` gives the body as text or raises the ``ApiError`` to send: 413 over the limit its
route sets (the bytes as sent, decoded from base64 when the front door encoded them), 415 for a
``Content-Encoding`` other than identity (a compressed body is refused, named, rather than read
as garbage: a 16 KiB JSON API gains nothing from compression that is worth a decompressor's
bounds on the hot path) or a declared ``Content-Type`` that is not JSON, 400 for invalid base64
or UTF-8.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from genre_model.serve.errors import ApiError, too_large
from genre_model.serve.http import APPLICATION_JSON


def _header(event: dict[str, Any], name: str) -> str | None:
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == name:
            return str(value)
    return None


def _encoding(event: dict[str, Any]) -> None:
    """415 for a compressed POST body (checked before its bytes are read as UTF-8)."""
    encoding = _header(event, "content-encoding")
    if encoding is None or event["httpMethod"] != "POST":
        return
    codings = [c.strip().lower() for c in encoding.split(",") if c.strip()]
    if any(c != "identity" for c in codings):
        raise ApiError(
            415,
            "Content-Encoding is not supported: send the body uncompressed",
            [("Content-Encoding", ", ".join(codings))],
        )


def _media_type(event: dict[str, Any]) -> None:
    """415 for a POST body declared as something other than JSON (none declared is fine)."""
    content_type = _header(event, "content-type")
    if content_type and event["httpMethod"] == "POST":
        media = content_type.split(";", 1)[0].strip().lower()
        if media != APPLICATION_JSON and not media.endswith("+json"):
            raise ApiError(
                415, "Content-Type must be application/json", [("Content-Type", media or "empty")]
            )


def _size(limit: int) -> str:
    """``limit`` as the 413 names it: "16 KiB", "1 MiB"."""
    return f"{limit >> 20} MiB" if limit >= 1 << 20 else f"{limit >> 10} KiB"


def body_text(event: dict[str, Any], limit: int) -> str:
    """The body of a checked v1 event as text within ``limit`` bytes ('' when none)."""
    body = event.get("body")
    if body is None:
        return ""
    label = _size(limit)
    if len(body) > limit * 4 // 3 + 4:  # over the limit even as base64: not decoded at all
        raise too_large(label)
    if event.get("isBase64Encoded"):
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise ApiError(
                400, "Request body is not valid base64", [("body", "invalid base64")]
            ) from None
    else:
        raw = body.encode("utf-8", "surrogatepass")
    if len(raw) > limit:
        raise too_large(label)
    _encoding(event)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(
            400, "Request body is not valid UTF-8", [("body", "invalid UTF-8")]
        ) from None
    _media_type(event)
    return text
