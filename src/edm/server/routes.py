"""Every route the service answers: the registered resources', then the meta routes."""

from __future__ import annotations

from edm.crm.registry import REGISTRY
from edm.kit.web.routing import Route
from edm.server import docs, documents, health, observability

__all__ = ["ROUTES"]

ROUTES: tuple[Route, ...] = (
    *REGISTRY.routes,
    *documents.ROUTES,
    *health.ROUTES,
    *docs.ROUTES,
    Route("GET", "/metrics", observability.metrics, public=True),
)
