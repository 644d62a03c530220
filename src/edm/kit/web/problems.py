"""Every error becomes ``application/problem+json`` (RFC 9457) here, and only here.

``problem_response(exc, request_id)`` turns any exception into the response
the client gets: an ``APIError`` says its own status and code; a database
that is down, locked or past its statement timeout is a 503 the client may
retry; anything else is a 500 carrying only the request id (and is logged).
The request-context middleware (``edm.kit.web.middleware``) is its one caller.
"""

from __future__ import annotations

from typing import Any

import asyncpg
import orjson
import structlog
from sqlalchemy import exc as sa_exc
from starlette.responses import Response

from edm.kit.errors import APIError, DatabaseUnavailable

__all__ = ["PROBLEM_JSON", "DATABASE_UNAVAILABLE", "problem_body", "problem_response", "as_api_error"]

PROBLEM_JSON = "application/problem+json"
log = structlog.get_logger("edm.errors")

# The database is down, locked, out of connections or gave up on a statement:
# a 503 the client may retry.
DATABASE_UNAVAILABLE: tuple[type[BaseException], ...] = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,
    OSError,
    TimeoutError,
    # PostgreSQL runs on asyncpg directly (edm.kit.pg)
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.QueryCanceledError,  # statement_timeout
    asyncpg.TransactionRollbackError,  # deadlock or serialization failure: safe to retry
    asyncpg.InsufficientResourcesError,
    asyncpg.OperatorInterventionError,  # pg_terminate_backend, shutdown
    asyncpg.InternalClientError,  # the connection was lost mid-protocol (e.g. terminated)
)


def _safe(value: Any) -> Any:
    """Strings that may echo client input (field names) lose lone surrogates."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


def problem_body(error: APIError, request_id: str | None) -> bytes:
    body: dict[str, Any] = {
        "type": f"urn:edm:problem:{error.code}",
        "title": error.title,
        "status": error.status,
        "detail": _safe(error.detail),
        "code": error.code,
        "request_id": request_id,
        "errors": [{"field": _safe(e.field), "message": _safe(e.message)} for e in error.errors],
        **error.extra,
    }
    return orjson.dumps(body)


def as_api_error(exc: BaseException, request_id: str | None) -> APIError:
    """The error the client is told about ``exc``."""
    if isinstance(exc, APIError):
        return exc
    if isinstance(exc, DATABASE_UNAVAILABLE):
        log.warning("database unavailable", error=type(exc).__name__, request_id=request_id)
        return DatabaseUnavailable("the database is unavailable; retry shortly", headers={"Retry-After": "1"})
    log.error("unhandled error", request_id=request_id, exc_info=exc)
    return APIError("an unexpected error occurred; quote the request_id when reporting it")


def problem_response(exc: BaseException, request_id: str | None) -> Response:
    error = as_api_error(exc, request_id)
    return Response(
        problem_body(error, request_id), status_code=error.status, media_type=PROBLEM_JSON, headers=error.headers
    )
