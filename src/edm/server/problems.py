"""Rendering every error once, as ``application/problem+json`` (RFC 9457)."""

from __future__ import annotations

import structlog
from typing import Any

import asyncpg
import orjson
from sqlalchemy import exc as sa_exc
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from edm.kit.errors import APIError, BadRequest, FieldError, MethodNotAllowed, NotFound, ServiceUnavailable

__all__ = ["problem_response", "install_handlers", "PROBLEM_JSON", "DATABASE_UNAVAILABLE", "database_unavailable_response"]

PROBLEM_JSON = "application/problem+json"
log = structlog.get_logger("edm.errors")


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


def problem_response(error: APIError, request_id: str | None) -> Response:
    return Response(
        problem_body(error, request_id), status_code=error.status, media_type=PROBLEM_JSON, headers=error.headers
    )


def _request_id(request: Request) -> str | None:
    return request.scope.get("state", {}).get("request_id")


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, APIError)
    return problem_response(exc, _request_id(request))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    error: APIError
    if exc.status_code == 404:
        error = NotFound("no such resource")
    elif exc.status_code == 405:
        allowed = ", ".join(_allowed_methods(request))
        error = MethodNotAllowed(f"allowed methods here: {allowed}", headers={"Allow": allowed})
    else:
        error = APIError(str(exc.detail))
        error.status, error.code, error.title = exc.status_code, "http_error", str(exc.detail)
    return problem_response(error, _request_id(request))


def _allowed_methods(request: Request) -> list[str]:
    """Every method any route on this path takes (Starlette names only the first route's)."""
    methods: set[str] = set()
    for path_regex, route_methods in request.app.state.route_methods:
        if path_regex.match(request.url.path):
            methods |= route_methods
    return sorted(methods)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [FieldError(".".join(str(p) for p in e.get("loc", ()) if p not in ("query", "path", "body")), str(e.get("msg"))) for e in exc.errors()]
    return problem_response(BadRequest("the request is invalid", errors=errors), _request_id(request))


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
    asyncpg.OperatorInterventionError,
)


def database_unavailable_response(exc: BaseException, request_id: str | None) -> Response:
    log.warning("database unavailable", error=type(exc).__name__, request_id=request_id)
    error = ServiceUnavailable("the database is unavailable; retry shortly", headers={"Retry-After": "1"})
    return problem_response(error, request_id)


async def _database_unavailable(request: Request, exc: Exception) -> Response:
    return database_unavailable_response(exc, _request_id(request))


def unexpected_error() -> APIError:
    """The 500 for anything unforeseen: no detail beyond the request id."""
    return APIError("an unexpected error occurred; quote the request_id when reporting it")


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.error("unhandled error", request_id=_request_id(request), exc_info=exc)
    return problem_response(unexpected_error(), _request_id(request))


def install_handlers(app: Any) -> None:
    app.add_exception_handler(Exception, _unexpected)
    for unavailable in DATABASE_UNAVAILABLE:
        app.add_exception_handler(unavailable, _database_unavailable)
    app.add_exception_handler(APIError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
