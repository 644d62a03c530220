"""``GET /api/v1/openapi.json`` and ``GET /api/v1/manifest``: documents about the API, built once, no token needed."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from edm.crm.manifest import MANIFEST_PATH, OPENAPI_PATH
from edm.kit.web.openapi import json_response
from edm.kit.web.routing import Doc, Route

__all__ = ["ROUTES"]

async def openapi(request: Request, caller: None) -> Response:
    return Response(request.app.openapi_json, media_type="application/json")


async def manifest(request: Request, caller: None) -> Response:
    return Response(request.app.manifest_json, media_type="application/json")


ROUTES = (
    Route("GET", OPENAPI_PATH, openapi, public=True),
    Route(
        "GET",
        MANIFEST_PATH,
        manifest,
        public=True,
        doc=Doc(
            operation_id="getManifest",
            summary="The API manifest",
            description="Resources, operations (method, path, scopes, SDK method) and the field table; no token needed.",
            tag="meta",
            responses={"200": json_response("Manifest", "The manifest.")},
        ),
    ),
)
