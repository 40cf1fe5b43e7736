"""Local HTTP server: each request becomes an API Gateway proxy event for the SAME Lambda handler.

So the spec's curl and Python examples work verbatim on http://127.0.0.1:8000, against S3 (moto or
real) or a local ``MODELO_GENERO_ENTRENADO`` file, with exactly the behaviour deployed code has.
"""

from __future__ import annotations

import base64
import errno
import importlib.util
import json
import os
import re
import socket
import sys
import uuid
from collections.abc import Callable, MutableMapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from devtools import demo_models
from devtools.lambda_context import lambda_context
from genre_model.config import ConfigError
from genre_model.serve.http import BATCH_PATH, MAX_BATCH_BODY_BYTES

MAX_READ_BYTES = MAX_BATCH_BODY_BYTES  # beyond this the server answers 413 itself, unread
SOCKET_TIMEOUT_SECONDS = 15.0  # an idle keep-alive or a client that stops mid-request is dropped
LISTEN_BACKLOG = 128  # the default 5 makes a burst of 50+ clients wait for SYN retries or resets
Handler = Callable[[dict[str, Any], object], dict[str, Any]]
DIGITS = re.compile(r"[0-9]+")  # str.isdigit() also takes '²' and other Unicode digits
# What http.server answers itself (send_error), as (field, reason) of the API's error shape.
PROTOCOL_ERRORS = {
    414: ("request-line", "too long"),
    431: ("headers", "too many or too long"),
}


# devtools/ sits at the repository root, beside functions/.
PREDICT_APP = Path(__file__).resolve().parent.parent / "functions" / "predict" / "app.py"


def find_handler(path: str | Path | None = None) -> Handler:
    """``functions/predict/app.py:lambda_handler`` of this repository (or of ``path``): the
    handler Lambda runs, with its Powertools decorators, not a copy of it."""
    candidate = Path(path) if path else PREDICT_APP
    if candidate.is_file():
        spec = importlib.util.spec_from_file_location("predict_app", candidate)
        if spec is not None and spec.loader is not None:
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module.lambda_handler  # type: ignore[no-any-return]
    raise FileNotFoundError(f"{candidate} not found")


def to_event(
    method: str, target: str, headers: dict[str, str], body: bytes | None
) -> dict[str, Any]:
    """An API Gateway REST (v1) proxy event, as API Gateway builds it."""
    url = urlsplit(target)
    query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
    text: str | None = None
    encoded = False
    if body:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text, encoded = base64.b64encode(body).decode("ascii"), True
    return {
        "resource": url.path,
        "path": url.path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": (parse_qs(url.query) if query else None),
        "pathParameters": None,
        "stageVariables": None,
        "body": text,
        "isBase64Encoded": encoded,
        "requestContext": {
            "resourcePath": url.path,
            "httpMethod": method,
            "path": url.path,
            "stage": "local",
            "requestId": str(uuid.uuid4()),
            "identity": {"sourceIp": "127.0.0.1"},
        },
    }


class _Server(ThreadingHTTPServer):
    request_queue_size = LISTEN_BACKLOG


def make_server(
    host: str, port: int, handler: Handler, *, timeout: float = SOCKET_TIMEOUT_SECONDS
) -> ThreadingHTTPServer:
    socket_timeout = timeout  # a class body does not see the function's names it assigns

    class ProxyHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body leave in two writes; with Nagle on, keep-alive clients wait ~40 ms
        # for a delayed ACK on every request.
        disable_nagle_algorithm = True
        server_version = "genre-model-local"
        timeout = socket_timeout  # read by StreamRequestHandler.setup: settimeout on the socket

        def _framing_error(self) -> tuple[int, str, str, str] | None:
            """Requests whose body length is not ONE Content-Length (RFC 9112 section 6.3)."""
            lengths = self.headers.get_all("Content-Length") or []
            if self.headers.get("Transfer-Encoding") is not None:
                if lengths:
                    return (
                        400,
                        "Both Transfer-Encoding and Content-Length",
                        "Content-Length",
                        "conflicting",
                    )
                return (
                    411,
                    "Content-Length required",
                    "Transfer-Encoding",
                    "chunked bodies are not accepted",
                )
            if len(lengths) > 1:
                return 400, "Duplicate Content-Length", "Content-Length", "given more than once"
            return None

        def _serve(self) -> None:
            refused = self._framing_error()
            if refused is not None:
                self._refuse(*refused)
                return
            declared = self.headers.get("Content-Length")
            raw_length = "0" if declared is None else declared.strip(" \t")
            if not DIGITS.fullmatch(raw_length):
                self._refuse(400, "Invalid Content-Length", "Content-Length", "not a whole number")
                return
            length = int(raw_length)
            if length > MAX_READ_BYTES:  # over every route's limit: the batch route's 1 MiB
                limit = "1 MiB" if urlsplit(self.path).path == BATCH_PATH else "16 KiB"
                self._refuse(413, f"Request body over {limit}", "body", "too large")
                return
            body = self.rfile.read(length) if length else None
            event = to_event(self.command, self.path, dict(self.headers.items()), body)
            result = handler(event, lambda_context())
            payload = result.get("body") or ""
            data = base64.b64decode(payload) if result.get("isBase64Encoded") else payload.encode()
            headers = [(k, str(v)) for k, v in (result.get("headers") or {}).items()]
            for key, values in (result.get("multiValueHeaders") or {}).items():
                headers += [(key, str(v)) for v in values]
            self._send(int(result.get("statusCode", 200)), headers, data)

        def parse_request(self) -> bool:
            """http.server serves a two-word line as HTTP/0.9: no status line, no headers."""
            if not super().parse_request():
                return False
            if self.request_version == "HTTP/0.9":
                self.send_error(400, "HTTP/0.9 requests are not served")
                return False
            return True

        def send_error(
            self, code: int, message: str | None = None, explain: str | None = None
        ) -> None:
            """What http.server refuses itself (bad request line or version, 414, 431) in the
            API's error shape, always a 4xx (its 505 for ``HTTP/9.9`` is a client's error),
            with a status line even when the request line was unreadable."""
            if self.request_version not in ("HTTP/1.0", "HTTP/1.1"):
                self.request_version = "HTTP/1.1"
            status = code if 400 <= code < 500 else 400
            field, reason = PROTOCOL_ERRORS.get(status, ("request-line", "malformed"))
            self._refuse(status, message or "Malformed request", field, reason)

        def _refuse(self, status: int, message: str, field: str, reason: str) -> None:
            """Answer without reading the body, in the API's error shape, and hang up."""
            body = {
                "status": "ERROR",
                "message": message,
                "errors": [{"field": field, "reason": reason}],
            }
            self._send(status, [("Content-Type", "application/json")], json.dumps(body).encode())
            self.close_connection = True
            self._drain()

        def _drain(self) -> None:
            """Lingering close: a close() with unread input sends a TCP reset, and the client
            may lose the answer it has not read yet; so stop writing and discard what is left."""
            try:
                self.connection.shutdown(socket.SHUT_WR)
                self.connection.settimeout(1.0)
                left = MAX_READ_BYTES
                while left > 0 and (chunk := self.connection.recv(min(left, 65536))):
                    left -= len(chunk)
            except OSError:
                pass

        def __getattr__(self, name: str) -> Callable[[], None]:
            """Any other method (TRACE, CONNECT, ...) goes to the handler too: a JSON 405/404."""
            if name.startswith("do_"):
                return self._serve
            raise AttributeError(name)

        def _send(self, status: int, headers: list[tuple[str, str]], data: bytes) -> None:
            self.send_response(status)
            for key, value in headers:
                if key.lower() != "content-length":
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            sys.stderr.write(f"{self.address_string()} {format % args}\n")

    return _Server((host, port), ProxyHandler)


LOCAL_REFRESH_SECONDS = "2"  # a rollback or a new training reaches the local server this soon


def open_server(host: str, port: int, handler: Handler, setting: str) -> ThreadingHTTPServer:
    """``make_server``, a port it cannot listen on said in one line naming ``setting``, the
    variable that changes it (run before any other work, so nothing is done for nothing)."""
    try:
        return make_server(host, port, handler)
    except OSError as exc:
        why = "is already in use" if exc.errno == errno.EADDRINUSE else f"failed: {exc.strerror}"
        raise ConfigError(
            f"listening on {host}:{port} {why}: choose another port with {setting}, "
            f"e.g. {setting}={port + 1 if port < 65535 else 8000}"
        ) from None


def choose_model(env: MutableMapping[str, str], demo_dir: Path = demo_models.DEMO_DIR) -> str:
    """Point ``env`` at a model when none is set, and say which (before any request).

    Nothing set: the newest model ``make demo`` wrote; with none, the plain demo's model path,
    so a ``make demo`` run later is picked up, and the line says what to run or set.
    Also sets the refresh interval the local server runs with (``LOCAL_REFRESH_SECONDS``)."""
    env.setdefault("MODEL_REFRESH_SECONDS", LOCAL_REFRESH_SECONDS)
    every = f"checked for a new version every {env['MODEL_REFRESH_SECONDS']} s"
    if env.get("MODEL_BUCKET") or env.get("MODELO_GENERO_ENTRENADO"):
        where = env.get("MODELO_GENERO_ENTRENADO") or f"s3://{env['MODEL_BUCKET']}/"
        return f"Model: {where} (from the environment; {every})"
    found = demo_models.newest(demo_dir)
    if found is None:
        env["MODELO_GENERO_ENTRENADO"] = str(demo_models.model_path("", demo_dir))
        return (
            "No model to serve yet: predictions answer 503 until one exists. Run `make demo "
            "DEMO_ONCE=1` (writes var/demo/assets/modelo_genero_entrenado.pkl, picked up here "
            "within seconds), or set MODELO_GENERO_ENTRENADO=<pickle path> or MODEL_BUCKET=<bucket>"
        )
    env["MODELO_GENERO_ENTRENADO"] = str(found.path)
    return (
        f"Model: version {found.version} from {found.shown()}, the newest `make demo` wrote "
        f"(set MODELO_GENERO_ENTRENADO or MODEL_BUCKET to serve another; {every})"
    )


def serve(host: str = "127.0.0.1", port: int = 8000, handler_path: str | None = None) -> None:
    model = choose_model(os.environ)
    server = open_server(host, port, find_handler(handler_path), setting="SERVE_PORT")
    print(model, file=sys.stderr)
    print(f"Serving the predict Lambda on http://{host}:{port} (Ctrl-C stops)", file=sys.stderr)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
