"""Liveness and readiness for orchestrators and load balancers."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from edm.kit.errors import DatabaseUnavailable
from edm.kit.web.request import database
from edm.kit.web.routing import Route

__all__ = ["ROUTES"]


async def healthz(request: Request, caller: None) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request, caller: None) -> JSONResponse:
    try:
        await database(request).ping()
    except Exception as exc:  # any driver error means "not ready"
        raise DatabaseUnavailable("the database is not reachable", headers={"Retry-After": "1"}) from exc
    return JSONResponse({"status": "ok", "database": database(request).dialect})


ROUTES = (Route("GET", "/healthz", healthz, public=True), Route("GET", "/readyz", readyz, public=True))
