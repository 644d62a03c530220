"""Plain ASGI routing for the resource operations.

FastAPI's request path (its middleware layers, router and dependency
resolution) cost more CPU than the handler, the database round trip and the
response together on a point read (py-spy, bench/README.md).  The resource
routes therefore skip it: this router matches the path, answers 405 with
``Allow``, authenticates, runs the handler and renders errors as
problem+json.  Everything else (docs, OpenAPI, manifest, health, metrics)
falls through to FastAPI.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from edm.kit.auth import Caller
from edm.kit.errors import APIError, MethodNotAllowed
from edm.server.deps import authenticate
from edm.server.problems import DATABASE_UNAVAILABLE, database_unavailable_response, problem_response

__all__ = ["Route", "Router"]

Endpoint = Callable[..., Awaitable[Response]]  # (request, caller, **path parameters)
ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


@dataclass(frozen=True)
class Route:
    """``method path`` served by ``endpoint`` for a caller holding ``scopes``.

    An empty ``scopes`` means any authenticated caller; the endpoint then
    checks the scope itself (a delete that may be a purge, say).
    """

    method: str
    path: str  # the template, as metrics and logs name the route
    endpoint: Endpoint
    scopes: tuple[str, ...] = ()
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.path))
        object.__setattr__(self, "pattern", re.compile(regex))


class Router:
    """Dispatches the routes it knows; any other path goes to ``fallback``."""

    def __init__(self, routes: Sequence[Route], fallback: ASGIApp) -> None:
        by_path: dict[str, dict[str, Route]] = {}
        for route in routes:
            by_path.setdefault(route.path, {})[route.method] = route
        self._paths = [(methods[next(iter(methods))].pattern, methods) for methods in by_path.values()]
        self._prefix = _common_prefix([r.path for r in routes])
        self._fallback = fallback

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self._prefix):
            path = scope["path"]
            for pattern, methods in self._paths:
                match = pattern.fullmatch(path)
                if match is not None:
                    response = await self._dispatch(scope, receive, methods, match.groupdict())
                    await response(scope, receive, send)
                    return
        await self._fallback(scope, receive, send)

    @staticmethod
    async def _dispatch(
        scope: dict[str, Any], receive: Any, methods: dict[str, Route], path_params: dict[str, str]
    ) -> Response:
        request = Request(scope, receive)
        request_id = scope["state"].get("request_id")
        try:
            route = methods.get(scope["method"])
            if route is None:
                allowed = ", ".join(sorted(methods))
                raise MethodNotAllowed(f"allowed methods here: {allowed}", headers={"Allow": allowed})
            scope["route"] = route
            caller: Caller = await authenticate(request, route.scopes)
            return await route.endpoint(request, caller, **path_params)
        except APIError as error:
            return problem_response(error, request_id)
        except DATABASE_UNAVAILABLE as error:
            return database_unavailable_response(error, request_id)


def _common_prefix(paths: list[str]) -> str:
    prefix = paths[0] if paths else ""
    for path in paths[1:]:
        while not path.startswith(prefix):
            prefix = prefix[:-1]
    return prefix.split("{", 1)[0]
