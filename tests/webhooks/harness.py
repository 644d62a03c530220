"""What the webhook tests share: a receiver on 127.0.0.1, a server with its worker on a fresh database, events."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from edm.kit.migrate import upgrade
from edm.kit.settings import Settings
from tests.conftest import SECRET, make_token, scratch_postgres_database

WEBHOOKS = "/api/v1/crm/webhooks"
ADMIN = "crm.admin crm.accounts.read crm.accounts.write"


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Receiver:
    """An HTTP receiver on 127.0.0.1: answers ``status(request number)`` after ``delay`` seconds."""

    status: Callable[[int], int] = lambda n: 204
    delay: float = 0.0
    received: list[Received] = field(default_factory=list)

    @contextmanager
    def serving(self) -> Iterator[str]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                number = len(receiver.received)
                receiver.received.append(Received({k.lower(): v for k, v in self.headers.items()}, body, time.time()))
                time.sleep(receiver.delay)
                status = receiver.status(number)
                self.send_response(status)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                """Quiet: the test reads what arrived from ``received``, not from stderr."""

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}/hook"
        finally:
            server.shutdown()
            server.server_close()

    def wait_for(self, count: int, timeout: float = 15.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            assert time.monotonic() < deadline, f"{len(self.received)} of {count} deliveries arrived"
            time.sleep(0.05)
        return self.received


@contextmanager
def fresh_database(backend: str, tmp_path: Path) -> Iterator[str]:
    """A migrated database of its own, so that no other server's worker takes its deliveries."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'hooks.sqlite3'}"
        upgrade(Settings(database_url=url, jwt_secret=SECRET))
        yield url
        return
    with scratch_postgres_database() as url:
        upgrade(Settings(database_url=url, jwt_secret=SECRET))
        yield url


def write_event(http: httpx.Client, tenant: str, kind: str = "created", *, app: str | None = None) -> dict[str, Any]:
    """A real change through the API (``created``: a new account; ``deleted``: a new account, then deleted);
    the account as the API answered it."""
    headers = {"Authorization": f"Bearer {make_token(tenant, app=app)}"}
    response = http.post("/api/v1/crm/accounts", json={"name": f"Acme {uuid.uuid4().hex[:6]}"}, headers=headers)
    assert response.status_code == 201, response.text
    account = response.json()
    if kind == "deleted":
        deleted = http.delete(f"/api/v1/crm/accounts/{account['id']}", headers=headers)
        assert deleted.status_code in (200, 204), deleted.text
    return dict(account)
