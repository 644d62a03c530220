"""A TCP proxy that can freeze: a database that stops answering without refusing.

A frozen PostgreSQL (its processes stopped) or a network partition looks
the same to a client: connections open, bytes go out, nothing comes back.
``FreezableProxy`` sits between a server under test and the shared
PostgreSQL and, while frozen, holds every byte in both directions and
every new connection, so the shared cluster itself is never touched.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Any

__all__ = ["FreezableProxy"]


class FreezableProxy:
    def __init__(self, target: tuple[str, int], port: int = 0) -> None:
        self._target = target
        self._listener = socket.create_server(("127.0.0.1", port))
        self.port: int = self._listener.getsockname()[1]
        self._flowing = threading.Event()
        self._flowing.set()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def freeze(self) -> None:
        self._flowing.clear()

    def thaw(self) -> None:
        self._flowing.set()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            self._flowing.wait()
            try:
                upstream = socket.create_connection(self._target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):  # either side closed: the connection is over
            while data := source.recv(65536):
                self._flowing.wait()
                sink.sendall(data)
        for sock in (source, sink):
            _close(sock)

    def close(self) -> None:
        self.thaw()
        _close(self._listener)
        with self._lock:
            for sock in self._sockets:
                _close(sock)

    def __enter__(self) -> FreezableProxy:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed or never connected
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
