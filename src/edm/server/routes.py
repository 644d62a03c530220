"""Every route the service answers: each registered resource's, then the meta routes."""

from __future__ import annotations

from edm.crm.registry import Registry
from edm.crm.webhooks.routes import webhook_routes
from edm.kit.web.routing import Route
from edm.server import docs, documents, health, observability

__all__ = ["service_routes"]

META_ROUTES: tuple[Route, ...] = (
    *documents.ROUTES,
    *health.ROUTES,
    *docs.ROUTES,
    Route("GET", "/metrics", observability.metrics, public=True),
)


def service_routes(registry: Registry) -> tuple[Route, ...]:
    nouns = [engine.resource.noun for engine in registry]
    return (*registry.routes, *webhook_routes(nouns), *META_ROUTES)
