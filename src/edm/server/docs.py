"""``GET /docs``: the API reference, rendered by Redoc from the OpenAPI document.

The page renders ``GET /docs/openapi.json``: the complete document with each
list operation's filters documented once (``edm.server.openapi.docs_view``);
its download button gives the complete ``/api/v1/openapi.json``.

Every asset is served by EDM itself from the ``fastapi-offline`` package's
copy of Redoc: no CDN, no web fonts, no request leaves the machine.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response

from edm.crm.manifest import OPENAPI_PATH
from edm.kit.errors import NotFound
from edm.kit.web.routing import Route

__all__ = ["ROUTES"]


def _assets() -> Path:
    """The ``fastapi-offline`` package's static files (found, not imported: it would import FastAPI)."""
    spec = importlib.util.find_spec("fastapi_offline")
    assert spec is not None and spec.submodule_search_locations, "the fastapi-offline package ships the Redoc assets"
    return Path(next(iter(spec.submodule_search_locations))).resolve() / "static"


ASSETS = _assets()
_SERVED = {"redoc.standalone.js": "text/javascript", "favicon.png": "image/png"}
DOCS_OPENAPI_PATH = "/docs/openapi.json"
_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>EDM CRM API reference</title>
  <link rel="icon" href="/docs/assets/favicon.png">
  <style>body { margin: 0; font-family: system-ui, -apple-system, "Segoe UI", sans-serif; }</style>
</head>
<body>
  <redoc spec-url="{spec}" download-definition-url="{full}" download-file-name="openapi.json"
    max-displayed-enum-values="6"></redoc>
  <script src="/docs/assets/redoc.standalone.js"></script>
</body>
</html>
""".replace("{spec}", DOCS_OPENAPI_PATH).replace("{full}", OPENAPI_PATH)

async def docs(request: Request, caller: None) -> HTMLResponse:
    return HTMLResponse(_PAGE, headers={"Content-Security-Policy": _CSP})


async def docs_openapi(request: Request, caller: None) -> Response:
    return Response(request.app.docs_openapi_json, media_type="application/json")


async def asset(request: Request, caller: None, name: str) -> FileResponse:
    if name not in _SERVED:
        raise NotFound("no such asset")
    return FileResponse(ASSETS / name, media_type=_SERVED[name], headers={"Cache-Control": "public, max-age=86400"})


# Belt and braces: the browser itself refuses anything not from this origin.
_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' blob:; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'"
)


ROUTES = (
    Route("GET", "/docs", docs, public=True),
    Route("GET", DOCS_OPENAPI_PATH, docs_openapi, public=True),
    Route("GET", "/docs/assets/{name}", asset, public=True),
)
