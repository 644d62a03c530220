"""FastAPI dependencies shared by every domain's routes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request

from edm.kit.auth import Caller, TokenVerifier
from edm.kit.db import Database
from edm.kit.settings import Settings

__all__ = ["require_scopes", "database", "settings"]


def require_scopes(*scopes: str) -> Callable[[Request], Awaitable[Caller]]:
    async def caller(request: Request) -> Caller:
        verifier: TokenVerifier = request.app.state.verifier
        caller = await verifier.authenticate(request.headers.get("authorization"))
        request.scope["state"]["tenant_id"] = caller.tenant_id  # for the request log line
        return caller.require(*scopes)

    caller.__name__ = "caller_with_" + "_".join(s.replace(".", "_") for s in scopes)
    return caller


def database(request: Request) -> Database:
    return request.app.state.db


def settings(request: Request) -> Settings:
    return request.app.state.settings
