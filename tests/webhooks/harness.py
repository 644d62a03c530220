"""What the webhook tests share: a receiver on 127.0.0.1, a server with its worker on a fresh database, events."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import asyncpg
import sqlalchemy as sa
from ulid import ULID

from edm.kit.migrate import upgrade
from edm.kit.settings import Settings
from tests.conftest import SECRET, scratch_postgres_database

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
                pass

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


_EVENT_TABLE = {
    "sqlite": """CREATE TABLE IF NOT EXISTS record_events (seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT UNIQUE NOT NULL, tenant_id TEXT NOT NULL, app_id TEXT, actor_app_id TEXT, resource TEXT NOT NULL,
        record_id TEXT NOT NULL, version INTEGER NOT NULL, type TEXT NOT NULL, at VARCHAR(24) NOT NULL,
        by TEXT NOT NULL, changes JSON, data JSON)""",
    "postgresql": """CREATE TABLE IF NOT EXISTS record_events (seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        txid xid8 NOT NULL DEFAULT pg_current_xact_id(), id text UNIQUE NOT NULL, tenant_id text NOT NULL,
        app_id text, actor_app_id text, resource text NOT NULL, record_id text NOT NULL, version integer NOT NULL,
        type text NOT NULL, at timestamptz NOT NULL, by text NOT NULL, changes jsonb, data jsonb)""",
}


def write_event(url: str, tenant: str, type_: str = "account.created", *, app: str | None = None) -> dict[str, Any]:
    """A change event as the record engine writes it with a change (until the merge of the engine's write path)."""
    event = {
        "id": f"evt_{ULID()}",
        "tenant_id": tenant,
        "app_id": app,
        "resource": "accounts",
        "record_id": f"acc_{ULID()}",
        "version": 1,
        "type": type_,
        "by": "user-1",
        "data": {"name": "Acme", "n": uuid.uuid4().hex},
    }
    now = datetime.now(UTC)
    backend = "sqlite" if url.startswith("sqlite") else "postgresql"
    columns = "id, tenant_id, app_id, resource, record_id, version, type, at, by, data"
    if backend == "sqlite":
        import sqlite3

        with sqlite3.connect(sa.make_url(url).database or "") as conn:
            conn.execute(_EVENT_TABLE["sqlite"])
            at = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
            conn.execute(
                f"INSERT INTO record_events ({columns}) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (*[event[k] for k in ("id", "tenant_id", "app_id", "resource", "record_id", "version", "type")],
                 at, event["by"], json.dumps(event["data"])),
            )
    else:

        async def insert() -> None:
            conn = await asyncpg.connect(sa.make_url(url).render_as_string(hide_password=False))
            try:
                await conn.execute(_EVENT_TABLE["postgresql"])
                await conn.execute(
                    f"INSERT INTO record_events ({columns}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10::jsonb)",
                    *[event[k] for k in ("id", "tenant_id", "app_id", "resource", "record_id", "version", "type")],
                    now, event["by"], json.dumps(event["data"]),
                )
            finally:
                await conn.close()

        asyncio.run(insert())
    return event
