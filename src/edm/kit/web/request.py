"""What every route takes from the request: the caller, the database, the settings."""

from __future__ import annotations

from starlette.requests import Request

from edm.kit.auth import Caller, TokenVerifier
from edm.kit.cursor import CursorSigner
from edm.kit.db import Database
from edm.kit.settings import Settings

__all__ = ["authenticate", "database", "settings", "cursor_signer"]


async def authenticate(request: Request, scopes: tuple[str, ...]) -> Caller:
    """The verified caller, holding every one of ``scopes`` (401 or 403 otherwise)."""
    state = request.scope["state"]
    caller = state.get("caller")  # verified already by the rate-limit gate
    if caller is None:
        verifier: TokenVerifier = request.app.state.verifier
        caller = await verifier.authenticate(request.headers.get("authorization"))
        state["tenant_id"] = caller.tenant_id  # for the request log line
    return caller.require(*scopes)


def database(request: Request) -> Database:
    return request.app.state.db


def settings(request: Request) -> Settings:
    return request.app.state.settings


def cursor_signer(request: Request) -> CursorSigner:
    return request.app.state.cursor_signer
