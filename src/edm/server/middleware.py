"""Pure ASGI middleware: request ids, the body limit, and the last-resort 500.

Pure ASGI (not ``BaseHTTPMiddleware``) keeps the per-request cost to a few
function calls.
"""

from __future__ import annotations

import os
import re
import time
from typing import Any

import structlog

from edm.kit.errors import APIError, PayloadTooLarge
from edm.kit.jsonbody import MAX_BODY_BYTES
from edm.server.observability import observe_request
from edm.server.problems import PROBLEM_JSON, problem_body, unexpected_error

__all__ = ["RequestContextMiddleware"]

log = structlog.get_logger("edm.server")
_CLIENT_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")

Scope = dict[str, Any]


class RequestContextMiddleware:
    """Gives every request an id (``X-Request-Id``, the client's if it is sane),
    refuses bodies over 1 MiB with 413, and turns any unexpected exception into
    a problem+json 500 that carries the request id and nothing else."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        header = (b"x-request-id", request_id.encode())
        started = False
        status = 500
        began = time.perf_counter()

        async def send_with_id(message: dict[str, Any]) -> None:
            nonlocal started, status
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        declared = _content_length(scope)
        if declared is not None and declared > MAX_BODY_BYTES:
            await _send_problem(send_with_id, PayloadTooLarge(_too_large()), request_id)
            observe_request(scope, status, time.perf_counter() - began)
            return

        received = 0

        async def limited_receive() -> dict[str, Any]:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > MAX_BODY_BYTES:
                    raise PayloadTooLarge(_too_large())
            return message

        try:
            await self.app(scope, limited_receive, send_with_id)
        except Exception:
            log.exception("unhandled error", request_id=request_id)
            if not started:
                await _send_problem(send_with_id, unexpected_error(), request_id)
        finally:
            observe_request(scope, status, time.perf_counter() - began)


def _too_large() -> str:
    return f"the request body must be at most {MAX_BODY_BYTES} bytes"


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id" and _CLIENT_REQUEST_ID.fullmatch(value):
            return value.decode()
    return f"req_{os.urandom(16).hex()}"


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _send_problem(send: Any, error: APIError, request_id: str) -> None:
    body = problem_body(error, request_id)
    headers = [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in error.headers.items()]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
