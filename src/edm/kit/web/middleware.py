"""The edge of every request: request ids, the gate (rate limit), the body limit, errors, and observation.

Pure ASGI (not ``BaseHTTPMiddleware``) keeps the per-request cost to a few
function calls.  Any exception raised below (a handler, the router's 404 and
405, the body limit) is rendered here as problem+json, the one place errors
become responses.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

import structlog

from edm.kit.errors import PayloadTooLarge, ServiceUnavailable
from edm.kit.jsonbody import MAX_BODY_BYTES
from edm.kit.web.problems import problem_response

__all__ = ["RequestContextMiddleware", "Observer", "Gate"]

log = structlog.get_logger("edm.server")
_NO_STORE = (b"cache-control", b"no-store")
_CLIENT_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")

Scope = dict[str, Any]
# Called once per answered request with (scope, status, seconds): metrics and the log line.
Observer = Callable[[Scope, int, float], None]
# Called before anything else runs (the rate limit): the headers every answer
# to this request carries, or an APIError that becomes the answer.
Gate = Callable[[Scope], Awaitable[Sequence[tuple[bytes, bytes]]]]


class RequestContextMiddleware:
    """Gives every request an id (``X-Request-Id``, the client's if it is sane),
    refuses bodies over 1 MiB with 413, renders every error as problem+json,
    marks every answer of a non-public route ``Cache-Control: no-store``, and
    reports each answered request to ``observe``.  A ``gate`` runs first and
    adds its headers to the answer, whatever the answer is."""

    def __init__(self, app: Any, observe: Observer, gate: Gate | None = None) -> None:
        self.app = app
        self.observe = observe
        self.gate = gate

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
        gate_headers: Sequence[tuple[bytes, bytes]] = ()

        async def send_with_id(message: MutableMapping[str, Any]) -> None:
            nonlocal started, status
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                headers = [*message.get("headers", []), header, *gate_headers]
                if not getattr(scope.get("route"), "public", False):
                    # Tenant data (and errors about it) must not sit in shared caches.
                    headers.append(_NO_STORE)
                message["headers"] = headers
            await send(message)

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
            if self.gate is not None:
                gate_headers = await self.gate(scope)
            declared = _content_length(scope)
            if declared is not None and declared > MAX_BODY_BYTES:
                raise PayloadTooLarge(_too_large())
            await self.app(scope, limited_receive, send_with_id)
        except asyncio.CancelledError:
            # The server stopped and its grace period ran out (edm.server.serving):
            # a 503 the client may retry, rather than the server's bare 500.
            if started:
                raise
            log.warning("request cancelled: the server is stopping", request_id=request_id)
            stopping = ServiceUnavailable("the server is stopping; retry", headers={"Retry-After": "1"})
            await problem_response(stopping, request_id)(scope, receive, send_with_id)
        except Exception as exc:
            if not started:
                await problem_response(exc, request_id)(scope, receive, send_with_id)
            else:  # too late to answer with a problem: the response is under way
                log.error("error after the response started", request_id=request_id, exc_info=exc)
        finally:
            self.observe(scope, status, time.perf_counter() - began)


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
