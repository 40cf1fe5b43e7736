"""API Gateway REST (v1) and HTTP API / function URL (payload format 2.0) events as ONE shape.

The handler routes v1 events. A v2 event is translated to the v1 fields the handler reads (the
answer needs no translation: ``http.respond``'s one shape suits both formats), so the three
front doors give byte-identical bodies and statuses for the same request. Whatever is not a
well-formed event of either kind (a direct ``aws lambda invoke`` can send anything) raises
``MalformedEvent``, which the API answers with a 400.
"""

from __future__ import annotations

import re
from typing import Any

METHOD_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


class MalformedEvent(ValueError):
    """The invocation is not an API Gateway / function URL proxy event."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field, self.reason = field, reason


def is_v2(event: Any) -> bool:
    return isinstance(event, dict) and event.get("version") == "2.0"


def to_rest(event: Any) -> dict[str, Any]:
    """The v1 event to route, checked field by field."""
    if not isinstance(event, dict):
        raise MalformedEvent("event", "not a JSON object")
    rest = _from_v2(event) if is_v2(event) else event
    for name in ("httpMethod", "path"):
        if not isinstance(rest.get(name), str) or not rest[name]:
            raise MalformedEvent(name, "missing or not a string")
    if not rest["path"].startswith("/"):
        raise MalformedEvent("path", "not an absolute path")
    rest = {**rest, "httpMethod": method_name(rest["httpMethod"])}
    for name in ("headers", "queryStringParameters", "pathParameters", "stageVariables"):
        _text_map(rest.get(name), name)
    for name in ("multiValueHeaders", "multiValueQueryStringParameters"):
        _list_map(rest.get(name), name)
    if rest.get("body") is not None and not isinstance(rest["body"], str):
        raise MalformedEvent("body", "not a string")
    if not isinstance(rest.get("isBase64Encoded", False), bool):
        raise MalformedEvent("isBase64Encoded", "not a boolean")
    if not isinstance(rest.get("requestContext", {}), dict):
        raise MalformedEvent("requestContext", "not an object")
    return rest


def method_name(method: str) -> str:
    """HTTP methods are case-insensitive here as in API Gateway: ``post`` is POST for v1 and v2
    alike. Only an RFC 9110 token: ``str.upper`` (the router's too) makes POST of "po\\u017ft"."""
    if not METHOD_TOKEN.fullmatch(method):
        raise MalformedEvent("httpMethod", "not an HTTP method")
    return method.upper()


def _from_v2(event: dict[str, Any]) -> dict[str, Any]:
    context = event.get("requestContext")
    if not isinstance(context, dict):
        raise MalformedEvent("requestContext.http", "missing or not an object")
    http = context.get("http")
    if not isinstance(http, dict):
        raise MalformedEvent("requestContext.http", "missing or not an object")
    method, path = http.get("method"), event.get("rawPath", http.get("path"))
    if not isinstance(method, str) or not isinstance(path, str):
        raise MalformedEvent("requestContext.http", "method or path missing")
    stage = context.get("stage")
    if isinstance(stage, str) and stage != "$default" and path.startswith(f"/{stage}/"):
        path = path[len(stage) + 1 :]  # an HTTP API's named stage is part of rawPath
    headers = dict(_text_map(event.get("headers"), "headers") or {})
    cookies = event.get("cookies")
    if cookies is not None:
        if not isinstance(cookies, list) or not all(isinstance(c, str) for c in cookies):
            raise MalformedEvent("cookies", "not a list of strings")
        headers["cookie"] = "; ".join(cookies)
    query = _text_map(event.get("queryStringParameters"), "queryStringParameters")
    return {
        "resource": path,
        "path": path,
        "httpMethod": method_name(method),
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": event.get("pathParameters"),
        "stageVariables": event.get("stageVariables"),
        "body": event.get("body"),
        "isBase64Encoded": event.get("isBase64Encoded", False),
        "requestContext": {
            "resourcePath": path,
            "httpMethod": method_name(method),
            "path": path,
            "stage": stage,
            "requestId": context.get("requestId"),
            "identity": {"sourceIp": http.get("sourceIp")},
        },
    }


def _text_map(value: Any, field: str) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise MalformedEvent(field, "not an object of strings")
    return value


def _list_map(value: Any, field: str) -> None:
    if value is None:
        return
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, list) and all(isinstance(i, str) for i in v)
        for k, v in value.items()
    ):
        raise MalformedEvent(field, "not an object of string lists")
