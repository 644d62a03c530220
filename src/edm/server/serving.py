"""How EDM is served: uvicorn's configuration, in one place.

``edm serve`` and the tests' servers both take their configuration from
``server_config``, so tests exercise what production runs: uvloop and the
httptools protocol with a bounded request head.
"""

from __future__ import annotations

import sys
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

from edm.server.http_protocol import BoundedHeadProtocol

__all__ = ["run", "server_config"]


def server_config(app: Any, **options: Any) -> uvicorn.Config:
    """uvicorn's configuration for serving ``app`` (an ASGI app, or an import string with ``factory=True``).

    ``options`` add to it (host, port, workers, log level) or, in tests, override it.
    """
    defaults: dict[str, Any] = {
        "loop": "uvloop",
        "http": BoundedHeadProtocol,
        "ws": "none",  # no route takes a WebSocket
        "lifespan": "on",
        "access_log": False,  # the app logs one line per request itself
        "proxy_headers": False,
    }
    return uvicorn.Config(app, **{**defaults, **options})


def run(config: uvicorn.Config) -> None:
    """Serve until SIGTERM or SIGINT."""
    if config.workers > 1:
        Multiprocess(config, sockets=[config.bind_socket()]).run()
        return
    server = uvicorn.Server(config)
    server.run()
    if not server.started:
        sys.exit(STARTUP_FAILURE)
