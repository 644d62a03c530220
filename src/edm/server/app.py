"""The application factory: one ASGI app, one router, one middleware.

Every route (the registered resources' and the meta routes: health, docs,
OpenAPI, manifest, metrics) is a ``Route`` declaration served by the one
``Router``; the request-context middleware in front of it gives request ids,
the rate limit (``edm.kit.ratelimit``), the body limit, problem+json for every
error, metrics and the log line.
"""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import orjson
import structlog
from starlette.datastructures import State

from edm.crm.manifest import build_manifest
from edm.crm.registry import REGISTRY, Registry
from edm.kit.auth import TokenVerifier
from edm.kit.cursor import CursorSigner
from edm.kit.db import Database
from edm.kit.idempotency import delete_expired
from edm.kit.migrate import upgrade
from edm.kit.pg import PgConnection, leaky_index_functions
from edm.kit.ratelimit import RateLimiter, RateLimitGate
from edm.kit.settings import Settings, load_settings
from edm.kit.web.middleware import RequestContextMiddleware
from edm.kit.web.routing import Router
from edm.server.observability import (
    configure_logging,
    count_rate_limit_fallback,
    count_rate_limited,
    observe_request,
    watch_pool,
)
from edm.server.openapi import build_openapi, docs_view
from edm.server.routes import service_routes
from edm.server.worker import run_worker

__all__ = ["create_app", "EDMApp"]


SWEEP_EVERY_SECONDS = 900
MIGRATE_RETRY_SECONDS = 2
log = structlog.get_logger("edm.server")


async def _sweep_idempotency_keys(db: Database) -> None:
    """Delete idempotency records past their 24 hours, every 15 minutes."""
    while True:
        try:
            await delete_expired(db)
        except Exception as exc:  # the database may be down; try again next round
            log.warning("could not delete expired idempotency keys", error=f"{type(exc).__name__}: {exc}")
        await asyncio.sleep(SWEEP_EVERY_SECONDS)


async def _warn_if_gin_plans_are_blocked(db: Database) -> None:
    """Under row-level security, search, tag and custom-field filters reach their
    GIN indexes only when the operators are LEAKPROOF, which takes a superuser
    (migration 1600) and which a dump and restore loses: say so at start."""
    if db.dialect != "postgresql":
        return
    async with db.read(None) as conn:
        assert isinstance(conn, PgConnection)
        leaky = await leaky_index_functions(conn)
    if leaky:
        log.warning(
            "search, tag and custom-field filters cannot use their indexes under row-level security "
            "until these functions are marked LEAKPROOF (docs/database.md)",
            functions=leaky,
        )


async def _migrate_when_reachable(db: Database, settings: Settings) -> None:
    """Bring the schema up to date as soon as the database answers, then let requests through."""
    while True:
        try:
            await asyncio.to_thread(upgrade, settings)
        except Exception as exc:  # unreachable (or still starting): try again
            log.warning("cannot migrate the database yet; retrying", error=f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(MIGRATE_RETRY_SECONDS)
        else:
            db.unavailable = None
            log.info("the database schema is up to date")
            return


class EDMApp:
    """The ASGI application: HTTP through the middleware and router, and the lifespan."""

    def __init__(self, settings: Settings, registry: Registry = REGISTRY) -> None:
        self.settings = settings
        self.registry = registry
        self.state = State()
        self.state.settings = settings
        self.state.verifier = TokenVerifier(settings)
        assert settings.cursor_secrets
        self.state.cursor_signer = CursorSigner(*(secret.encode() for secret in settings.cursor_secrets))
        routes = service_routes(registry)
        self.router = Router(routes)
        self._openapi = build_openapi(registry, routes)
        self.openapi_json = orjson.dumps(self._openapi)
        self.docs_openapi_json = orjson.dumps(docs_view(self._openapi, registry))
        self.manifest_json = orjson.dumps(build_manifest(registry))
        self.rate_limiter = RateLimiter.from_settings(settings, on_fallback=count_rate_limit_fallback)
        gate = RateLimitGate(self.rate_limiter, self.state.verifier, on_limited=count_rate_limited)
        self._edge = RequestContextMiddleware(self.router, observe_request, gate)
        self._background: list[asyncio.Task[None]] = []

    def openapi(self) -> dict[str, Any]:
        """The OpenAPI document, built once."""
        return self._openapi

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        scope["app"] = self  # what Request.app answers
        await self._edge(scope, receive, send)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self._start()
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self._stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _start(self) -> None:
        await self.rate_limiter.start()
        self.state.db = Database(self.settings)
        try:
            await self.state.db.start()
        except Exception as exc:  # serve anyway: requests answer 503 and /readyz says why until it is up
            log.warning("the database is not reachable at start-up", error=f"{type(exc).__name__}: {exc}")
        else:
            try:
                await _warn_if_gin_plans_are_blocked(self.state.db)
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
                log.warning("could not check the functions index plans need", error=f"{type(exc).__name__}: {exc}")
        # What start-up built lives as long as the process: move it out of the
        # collector's sight, so full collections stay short (tail latency).
        gc.collect()
        gc.freeze()
        self._background = [
            asyncio.create_task(_sweep_idempotency_keys(self.state.db)),
            asyncio.create_task(watch_pool(self.state.db)),
            asyncio.create_task(self.state.verifier.keep_keys_fresh()),
        ]
        if self.settings.webhooks_worker_in_serve:
            # deliveries (and NATS publishing) run in this process too, never in a request
            self._background.append(asyncio.create_task(run_worker(self.settings)))
        if self.settings.migrate_on_start:
            self.state.db.unavailable = "the database is not reachable yet, or its schema is being brought up to date"
            self._background.append(asyncio.create_task(_migrate_when_reachable(self.state.db, self.settings)))

    async def _stop(self) -> None:
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        await self.state.db.dispose()
        await self.rate_limiter.close()


def create_app(settings: Settings | None = None, registry: Registry = REGISTRY) -> EDMApp:
    """Build the ASGI app serving ``registry``; settings default to the ``EDM_*`` environment."""
    settings = (settings or load_settings()).with_secret()
    settings.validate()
    configure_logging(settings.log_level)
    return EDMApp(settings, registry)
