"""The application factory."""

from __future__ import annotations

import asyncio
import gc
import structlog
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from edm.crm.accounts.routes import ROUTES as ACCOUNT_ROUTES
from edm.kit.auth import TokenVerifier
from edm.kit.cursor import CursorSigner
from edm.kit.db import Database
from edm.kit.idempotency import delete_expired
from edm.kit.settings import Settings, load_settings
from edm.server import docs, health, manifest
from edm.server.observability import configure_logging, metrics_response, watch_pool
from edm.server.middleware import RequestContextMiddleware
from edm.server.openapi import build_openapi
from edm.server.problems import install_handlers
from edm.server.routing import Route, Router

__all__ = ["create_app"]


SWEEP_EVERY_SECONDS = 900
log = structlog.get_logger("edm.server")


async def _sweep_idempotency_keys(db: Database) -> None:
    """Delete idempotency records past their 24 hours, every 15 minutes."""
    while True:
        try:
            await delete_expired(db)
        except Exception:  # the database may be down; try again next round
            log.warning("could not delete expired idempotency keys", exc_info=True)
        await asyncio.sleep(SWEEP_EVERY_SECONDS)


class EDMApp(FastAPI):
    """The resource operations on the plain router (``edm.server.routing``),
    everything else on FastAPI, all behind the request-context middleware."""

    def __init__(self, routes: tuple[Route, ...], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._edge = RequestContextMiddleware(Router(routes, fallback=super().__call__))

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        scope["app"] = self  # what Request.app answers, on the plain routes too
        await self._edge(scope, receive, send)


def create_app(settings: Settings | None = None) -> EDMApp:
    """Build the ASGI app; settings default to the ``EDM_*`` environment."""
    settings = (settings or load_settings()).with_secret()
    settings.validate()
    configure_logging(settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.db = Database(settings)
        try:
            await app.state.db.start()
        except Exception:  # serve anyway: requests answer 503 and /readyz says why until it is up
            log.warning("the database is not reachable at start-up", exc_info=True)
        # What start-up built lives as long as the process: move it out of the
        # collector's sight, so full collections stay short (tail latency).
        gc.collect()
        gc.freeze()
        background = [
            asyncio.create_task(_sweep_idempotency_keys(app.state.db)),
            asyncio.create_task(watch_pool(app.state.db)),
        ]
        try:
            yield
        finally:
            for task in background:
                task.cancel()
            await app.state.db.dispose()

    app = EDMApp(
        ACCOUNT_ROUTES,
        title="EDM CRM API",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/v1/openapi.json",
    )
    app.state.settings = settings
    app.state.verifier = TokenVerifier(settings)
    assert settings.cursor_secret
    app.state.cursor_signer = CursorSigner(settings.cursor_secret.encode())
    routers = (health.router, docs.router, manifest.router)
    for router in routers:
        app.include_router(router)
    app.add_route("/metrics", metrics_response, include_in_schema=False)
    plain_routes = [r for r in app.router.routes if hasattr(r, "path_regex") and getattr(r, "methods", None)]
    app.state.route_methods = [(r.path_regex, r.methods) for r in [*plain_routes, *(r for router in routers for r in router.routes)]]
    install_handlers(app)
    document = build_openapi()
    app.openapi = lambda: document  # type: ignore[method-assign]
    return app
