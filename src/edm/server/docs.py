"""``GET /docs``: the API reference, rendered by Redoc from the OpenAPI document.

Every asset is served by EDM itself from the ``fastapi-offline`` package's
copy of Redoc: no CDN, no web fonts, no request leaves the machine.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import APIRouter
from starlette.responses import FileResponse, HTMLResponse

from edm.kit.errors import NotFound

__all__ = ["router"]

ASSETS = Path(fastapi_offline.__file__).resolve().parent / "static"
_SERVED = {"redoc.standalone.js": "text/javascript", "favicon.png": "image/png"}
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
  <redoc spec-url="/api/v1/openapi.json" hide-download-button="false"></redoc>
  <script src="/docs/assets/redoc.standalone.js"></script>
</body>
</html>
"""

router = APIRouter()


@router.get("/docs", include_in_schema=False)
async def docs() -> HTMLResponse:
    return HTMLResponse(_PAGE, headers={"Content-Security-Policy": _CSP})


@router.get("/docs/assets/{name}", include_in_schema=False)
async def asset(name: str) -> FileResponse:
    if name not in _SERVED:
        raise NotFound("no such asset")
    return FileResponse(ASSETS / name, media_type=_SERVED[name], headers={"Cache-Control": "public, max-age=86400"})


# Belt and braces: the browser itself refuses anything not from this origin.
_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' blob:; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'"
)
