"""Liveness and readiness for orchestrators and load balancers."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse

from edm.kit.errors import ServiceUnavailable
from edm.server.deps import database

__all__ = ["router"]

router = APIRouter()


@router.get("/healthz", include_in_schema=False)
async def healthz() -> JSONResponse:
    return JSONResponse({"status": "ok"})


@router.get("/readyz", include_in_schema=False)
async def readyz(request: Request) -> JSONResponse:
    try:
        await database(request).ping()
    except Exception as exc:  # any driver error means "not ready"
        raise ServiceUnavailable("the database is not reachable") from exc
    return JSONResponse({"status": "ok", "database": database(request).dialect})
