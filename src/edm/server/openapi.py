"""The OpenAPI 3.1 document (``GET /api/v1/openapi.json``), built once at start-up.

Generated from the routes' declarations (``edm.kit.web.openapi``), every
registered resource's schemas (``edm.crm.engine.openapi``) and the manifest's
schema: a new resource, field, filter operator, sort key, route or error
shows up here without an edit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from edm.crm.engine.openapi import resource_schemas, shared_schemas
from edm.crm.engine.resource import ADMIN_SCOPE
from edm.crm.manifest import API_VERSION, MANIFEST_PATH, MANIFEST_SCHEMA
from edm.crm.registry import REGISTRY, Registry
from edm.kit.web.openapi import build_document
from edm.kit.web.routing import Route
from edm.server.routes import service_routes

__all__ = ["build_openapi"]


def build_openapi(registry: Registry = REGISTRY, routes: Sequence[Route] | None = None) -> dict[str, Any]:
    """The document of ``routes`` (default: every route of the service for ``registry``)."""
    if routes is None:
        routes = service_routes(registry)
    schemas: dict[str, Any] = {}
    for engine in registry:
        schemas |= resource_schemas(engine.resource)
    schemas |= shared_schemas()
    schemas["Manifest"] = MANIFEST_SCHEMA
    scopes = ", ".join(f"`{s}`" for engine in registry for s in (engine.resource.read_scope, engine.resource.write_scope))
    return build_document(
        routes,
        info={
            "title": "EDM CRM API",
            "version": API_VERSION,
            "description": "Multi-tenant CRM records. Every request under `/api/v1/crm/` needs `Authorization: Bearer <JWT>` "
            "(claims `sub`, `tenant_id`, `exp`; optional `app_id`, `scope`). Every response carries `X-Request-Id`; "
            "every error is `application/problem+json`. A method a path does not take is a 405 with `Allow`. "
            f"The machine-readable manifest is at `{MANIFEST_PATH}`.",
        },
        tags=[
            *({"name": e.resource.name, "description": f"{e.resource.description}: `{e.resource.sdk}`."} for e in registry),
            {"name": "meta", "description": "Documents about the API."},
        ],
        schemas=schemas,
        security_scheme={
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": f"HS256 (EDM_JWT_SECRET) or RS256/ES256/EdDSA from a JWKS; scopes {scopes}, `{ADMIN_SCOPE}`.",
        },
    )
