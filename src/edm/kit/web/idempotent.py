"""Running a POST effect under its Idempotency-Key (see ``edm.kit.idempotency``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from edm.kit import idempotency
from edm.kit.auth import Caller
from edm.kit.db import Connection
from edm.kit.web.request import database

__all__ = ["run_idempotent"]

# The effect runs in the write transaction and answers (response, id of the resource it touched).
Effect = Callable[[Connection], Awaitable[tuple[Response, str | None]]]


async def run_idempotent(
    request: Request, caller: Caller, route: str, body: Any, effect: Effect, *, lock: str | None = None
) -> Response:
    """``lock``: the advisory lock the write transaction takes first (``edm.kit.db.Database.write``)."""
    db = database(request)
    key = idempotency.parse_key(
        request.headers.get("idempotency-key"), caller, request.method, route, request.url.path, body
    )
    if key is None:
        async with db.write(caller.tenant_id, lock=lock) as conn:
            response, _ = await effect(conn)
        return response

    async with db.write(caller.tenant_id, lock=lock) as conn:
        stored = await idempotency.claim(conn, key)
        if stored is None:
            response, resource_id = await effect(conn)
            headers = {k: v for k, v in response.headers.items() if k in idempotency.REPLAYED_HEADERS}
            await idempotency.complete(
                conn, key, idempotency.StoredResponse(response.status_code, bytes(response.body), headers), resource_id
            )
            return response
    return Response(stored.body, status_code=stored.status, headers={**stored.headers, "Idempotent-Replayed": "true"})
