"""How EDM is served: uvicorn's configuration and the process's life, in one place.

``edm serve`` and the tests' servers both take their configuration from
``server_config``, so tests exercise what production runs: uvloop, the
httptools protocol with a bounded request head, and a graceful stop.

On SIGTERM (or SIGINT) the server stops accepting connections, closes idle
ones, lets requests in flight finish for up to ``GRACEFUL_SHUTDOWN_SECONDS``
(then answers them 503), closes the database pool and exits 0.  With several
workers the parent process closes its copy of the listening socket at once
and passes the signal on to every worker.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

from edm.server.http_protocol import BoundedHeadProtocol

__all__ = ["GRACEFUL_SHUTDOWN_SECONDS", "run", "server_config"]

GRACEFUL_SHUTDOWN_SECONDS = 30


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
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_SECONDS,
    }
    return uvicorn.Config(app, **{**defaults, **options})


def run(config: uvicorn.Config) -> None:
    """Serve until SIGTERM or SIGINT, then stop gracefully and return."""
    if config.workers > 1:
        _Supervisor(config, sockets=[config.bind_socket()]).run()
        return
    # uvicorn raises the signal it stopped on again once it has shut down
    # (with the handlers it found); exiting here makes that an exit 0.
    for stop in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop, _exit_cleanly)
    server = uvicorn.Server(config)
    server.run()
    if not server.started:
        sys.exit(STARTUP_FAILURE)


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


class _Supervisor(Multiprocess):
    """uvicorn's worker supervisor, which also stops listening as soon as it is told to stop.

    The workers close their copies of the listening socket when they shut
    down; the parent's copy would otherwise keep the port open, queueing
    connections that nobody accepts, until the last worker has finished.
    """

    def handle_term(self) -> None:
        self._stop_listening()
        super().handle_term()

    def handle_int(self) -> None:
        self._stop_listening()
        super().handle_int()

    def _stop_listening(self) -> None:
        for sock in self.sockets:
            sock.close()
