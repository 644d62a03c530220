"""Every route the service answers: each registered resource's, then the meta routes."""

from __future__ import annotations

from edm.crm.registry import Registry
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
    return (*registry.routes, *META_ROUTES)
