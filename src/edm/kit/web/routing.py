"""Routes as declarations, and the one router that serves them.

A ``Route`` says everything about one operation: method and path template,
the handler, who may call it (scopes, or ``public``), and what it documents
(``Doc``: parameters, body, success responses and the errors it raises).  The
router serves every route of the service (resources and meta alike), and the
OpenAPI document is generated from the same declarations
(``edm.kit.web.openapi``), so the two cannot drift.

Requests are dispatched here without a framework's request path: FastAPI's
middleware layers, router and dependency resolution cost more CPU than the
handler, the database round trip and the response together on a point read
(py-spy, README "Performance").  This is also the one place that decides 405
and ``Allow``.  Errors are raised, never rendered here: the request-context
middleware renders every one (``edm.kit.web.problems``).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from edm.kit.auth import Caller
from edm.kit.errors import APIError, MethodNotAllowed, NotFound
from edm.kit.web.request import authenticate

__all__ = ["Route", "Doc", "ClientMethod", "Router", "Endpoint"]

# (request, caller, **path parameters); the caller is None on public routes.
Endpoint = Callable[..., Awaitable[Response]]


@dataclass(frozen=True)
class ClientMethod:
    """A client (SDK) method that a route carries; a delete route also carries purge."""

    sdk: str  # e.g. client.customer.accounts.purge
    summary: str
    scopes: tuple[str, ...]  # what a token with a `scope` claim needs for it
    query: Mapping[str, str] = field(default_factory=dict)  # fixed query parameters (purge=true)

    @property
    def name(self) -> str:
        return self.sdk.rsplit(".", 1)[1]


@dataclass(frozen=True)
class Doc:
    """What the OpenAPI document says of a route (absent: the route is not documented)."""

    operation_id: str
    summary: str
    description: str
    tag: str
    responses: Mapping[str, Any]  # success (and 304) responses, as OpenAPI response objects
    errors: tuple[type[APIError], ...] = ()  # beyond those every route may answer
    parameters: tuple[Mapping[str, Any], ...] = ()  # query and header parameters
    path_parameters: tuple[Mapping[str, Any], ...] = ()
    request_body: Mapping[str, Any] | None = None
    methods: tuple[ClientMethod, ...] = ()  # the first one's scopes are the operation's security


@dataclass(frozen=True)
class Route:
    """``method path`` served by ``endpoint``.

    ``scopes`` are what a token with a ``scope`` claim needs; an empty tuple
    means any authenticated caller (the endpoint then checks the scope itself:
    a delete that may be a purge).  ``public`` routes need no token.
    """

    method: str
    path: str  # the template, as metrics and logs name the route
    endpoint: Endpoint
    scopes: tuple[str, ...] = ()
    public: bool = False
    doc: Doc | None = None
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.path))
        object.__setattr__(self, "pattern", re.compile(regex))


class Router:
    """Matches a path to its routes, answers 405 with ``Allow``, authenticates and runs the handler."""

    def __init__(self, routes: Sequence[Route]) -> None:
        by_path: dict[str, dict[str, Route]] = {}
        for route in routes:
            methods = by_path.setdefault(route.path, {})
            if route.method in methods:
                raise ValueError(f"two routes for {route.method} {route.path}")
            methods[route.method] = route
        # Literal paths are looked up first, so /accounts/events is never read as /accounts/{id}.
        self._literal = {path: methods for path, methods in by_path.items() if "{" not in path}
        self._templated = [
            (methods[next(iter(methods))].pattern, methods) for path, methods in by_path.items() if "{" in path
        ]
        self.routes = tuple(routes)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope["path"]
        methods = self._literal.get(path)
        if methods is not None:
            response = await self._dispatch(scope, receive, methods, {})
            await response(scope, receive, send)
            return
        for pattern, methods in self._templated:
            match = pattern.fullmatch(path)
            if match is not None:
                response = await self._dispatch(scope, receive, methods, match.groupdict())
                await response(scope, receive, send)
                return
        raise NotFound("no such resource")

    @staticmethod
    async def _dispatch(
        scope: dict[str, Any], receive: Any, methods: dict[str, Route], path_params: dict[str, str]
    ) -> Response:
        route = methods.get(scope["method"])
        if route is None:
            allowed = ", ".join(sorted(methods))
            raise MethodNotAllowed(f"allowed methods here: {allowed}", headers={"Allow": allowed})
        scope["route"] = route
        request = Request(scope, receive)
        caller: Caller | None = None if route.public else await authenticate(request, route.scopes)
        return await route.endpoint(request, caller, **path_params)
