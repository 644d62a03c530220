"""The OpenAPI 3.1 documents, built once at start-up.

``build_openapi`` is the complete document (``GET /api/v1/openapi.json``):
generated from the routes' declarations (``edm.kit.web.openapi``), every
registered resource's schemas (``edm.crm.engine.openapi``) and the manifest's
schema, so a new resource, field, filter operator, sort key, route or error
shows up here without an edit.  Every operation carries curl and Python
samples (``x-codeSamples``, ``edm.crm.engine.samples``).

``docs_view`` is what the reference page (``/docs``) renders: the same
document, with each list operation's one parameter per filter and operator
(some 340 for accounts) folded into one ``filter`` parameter that documents
the grammar once.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from edm.crm.engine.openapi import (
    filter_parameter,
    is_filter_parameter,
    resource_schemas,
    shared_schemas,
)
from edm.crm.engine.resource import ADMIN_SCOPE
from edm.crm.engine.samples import ENVIRONMENT_NOTE, curl, resource_samples, sample
from edm.crm.manifest import API_VERSION, MANIFEST_PATH, MANIFEST_SCHEMA, OPENAPI_PATH
from edm.crm.registry import REGISTRY, Registry
from edm.crm.webhooks import openapi as webhooks_openapi
from edm.crm.webhooks.service import event_types
from edm.kit.web.openapi import build_document
from edm.kit.web.routing import Route
from edm.server.routes import service_routes

__all__ = ["build_openapi", "docs_view"]


def build_openapi(registry: Registry = REGISTRY, routes: Sequence[Route] | None = None) -> dict[str, Any]:
    """The document of ``routes`` (default: every route of the service for ``registry``)."""
    if routes is None:
        routes = service_routes(registry)
    schemas: dict[str, Any] = {}
    for engine in registry:
        schemas |= resource_schemas(engine.resource)
    schemas |= shared_schemas()
    schemas |= webhooks_openapi.webhook_schemas(event_types(engine.resource.noun for engine in registry))
    schemas["Manifest"] = MANIFEST_SCHEMA
    scopes = ", ".join(f"`{s}`" for engine in registry for s in (engine.resource.read_scope, engine.resource.write_scope))
    document = build_document(
        routes,
        info={
            "title": "EDM CRM API",
            "version": API_VERSION,
            "description": "Multi-tenant CRM records. Every request under `/api/v1/crm/` needs `Authorization: Bearer <JWT>` "
            "(claims `sub`, `tenant_id`, `exp`; optional `app_id`, `scope`). Every response carries `X-Request-Id`; "
            "every error is `application/problem+json`. A method a path does not take is a 405 with `Allow`. "
            f"The machine-readable manifest is at `{MANIFEST_PATH}`.\n\n{ENVIRONMENT_NOTE}",
        },
        tags=[
            *({"name": e.resource.name, "description": f"{e.resource.description}: `{e.resource.sdk}`."} for e in registry),
            webhooks_openapi.TAG,
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
    _add_code_samples(document, registry)
    return document


def _add_code_samples(document: dict[str, Any], registry: Registry) -> None:
    """``x-codeSamples`` on every operation: its SDK methods' samples, or a plain GET's."""
    by_sdk = {
        f"{engine.resource.sdk}.{name}": samples
        for engine in registry
        for name, samples in resource_samples(engine.resource).items()
    } | {f"client.webhooks.{name}": samples for name, samples in webhooks_openapi.webhook_samples().items()}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            if "x-sdk-methods" in operation:
                first, *others = operation["x-sdk-methods"]
                operation["x-codeSamples"] = [
                    *by_sdk[first],
                    *(sample(f"{s['label']} ({sdk.rsplit('.', 1)[1]})", s["source"]) for sdk in others for s in by_sdk[sdk]),
                ]
            elif method == "get" and operation["security"] == [] and "parameters" not in operation:
                operation["x-codeSamples"] = _public_document_samples(path)
            else:
                raise ValueError(f"{method} {path}: no code samples are generated for it; write them")


def _public_document_samples(path: str) -> list[dict[str, str]]:
    """A plain GET of a public document (the manifest): no token, no SDK method."""
    python = f'import os\n\nimport httpx\n\nanswer = httpx.get(os.environ["EDM_BASE_URL"] + "{path}")\nprint(answer.json())\n'
    return [sample("curl", curl("GET", path)), sample("Python", python)]


def docs_view(document: dict[str, Any], registry: Registry = REGISTRY) -> dict[str, Any]:
    """What ``/docs`` renders: ``document`` with each list operation's filters as one documented parameter."""
    view = copy.deepcopy(document)
    view["info"]["description"] += (
        "\n\nThis page documents each list operation's filters once, as one `filter` parameter. "
        f"The complete document, with one parameter per filter and operator (for code generators and "
        f"testing tools), is at `{OPENAPI_PATH}`."
    )
    for engine in registry:
        operation = view["paths"][engine.resource.path]["get"]
        parameters = operation["parameters"]
        first = next(i for i, p in enumerate(parameters) if is_filter_parameter(p))
        rest = [p for p in parameters if not is_filter_parameter(p)]
        operation["parameters"] = [*rest[:first], filter_parameter(engine.resource, engine.grammar), *rest[first:]]
    return view
