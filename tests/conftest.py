"""Fixtures: a real server over real TCP, on SQLite and on PostgreSQL.

Every API test takes the ``api`` fixture, which is parametrized over both
databases.  Each database is fresh for the run and its schema is built by the
Alembic migrations.  Tests isolate themselves by using fresh tenant ids
(``tenant`` fixture), so nothing needs cleaning between them.

PostgreSQL comes from ``EDM_TEST_DATABASE_URL`` (a server URL; a database is
created on it per run) or, by default, ``postgresql://postgres@127.0.0.1:5432``.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import jwt
import pytest
import sqlalchemy as sa
import uvicorn

from edm.crm.registry import REGISTRY, Registry
from edm.kit.migrate import upgrade
from edm.kit.settings import Settings
from edm.server.app import create_app
from edm.server.serving import server_config

SECRET = "test-secret-that-is-long-enough-for-hs256"
ACCOUNTS = "/api/v1/crm/accounts"
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
BACKENDS = ["sqlite", "postgresql"]


# --------------------------------------------------------------------------- databases


def _pg_admin_url() -> str:
    return os.environ.get("EDM_TEST_DATABASE_URL") or DEFAULT_PG


async def _pg_admin(statement: str) -> None:
    url = sa.make_url(_pg_admin_url())
    conn = await asyncpg.connect(
        host=url.host or "127.0.0.1",
        port=url.port or 5432,
        user=url.username or "postgres",
        password=url.password,
        database=url.database or "postgres",
    )
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    name = f"edm_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    url = sa.make_url(_pg_admin_url()).set(database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def database_urls(tmp_path_factory: pytest.TempPathFactory, postgres_url: str) -> dict[str, str]:
    sqlite_file = tmp_path_factory.mktemp("sqlite") / "edm.sqlite3"
    urls = {"sqlite": f"sqlite:///{sqlite_file}", "postgresql": postgres_url}
    for url in urls.values():
        upgrade(Settings(database_url=url, jwt_secret=SECRET))
    return urls


# The suite sends thousands of quick requests per tenant (schemathesis) and every
# unauthenticated one from 127.0.0.1, so its servers get a budget they never
# spend; the headers still show it.  tests/kit/test_ratelimit.py serves the
# production defaults (100/s, burst 200) and proves they hold.
SUITE_RATE_LIMIT: dict[str, Any] = {"rate_limit_per_s": 1_000_000.0, "rate_limit_burst": 1_000_000}


def base_settings(database_url: str, data_dir: Path, **overrides: Any) -> Settings:
    settings = Settings(data_dir=data_dir, database_url=database_url, jwt_secret=SECRET, **SUITE_RATE_LIMIT)
    return replace(settings, **overrides)


# --------------------------------------------------------------------------- servers


class ServerThread:
    """uvicorn serving an app on a free loopback port, in a background thread."""

    def __init__(self, app: Any, **options: Any) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]
        config = server_config(app, **{"log_level": "warning", **options})  # what `edm serve` runs
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "ServerThread":
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=20)
        self._socket.close()


@pytest.fixture(scope="session")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """``serve(settings)`` starts a server for the rest of the session and returns its URL."""
    servers: list[ServerThread] = []

    def start(settings: Settings, registry: Registry = REGISTRY) -> str:
        server = ServerThread(create_app(settings, registry)).__enter__()
        servers.append(server)
        return server.url

    yield start
    for server in servers:
        server.__exit__(None, None, None)


@pytest.fixture
def serve_for_test() -> Iterator[Any]:
    """Like ``serve``, but the servers stop when the test ends, closing their database pools."""
    servers: list[ServerThread] = []

    def start(settings: Settings, registry: Registry = REGISTRY) -> str:
        server = ServerThread(create_app(settings, registry)).__enter__()
        servers.append(server)
        return server.url

    yield start
    for server in servers:
        server.__exit__(None, None, None)


@pytest.fixture(scope="session")
def servers(serve: Any, database_urls: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return {
        backend: serve(base_settings(url, tmp_path_factory.mktemp(f"data-{backend}")))
        for backend, url in database_urls.items()
    }


# --------------------------------------------------------------------------- tokens and clients


def make_token(
    tenant: str,
    sub: str = "user-1",
    *,
    app: str | None = None,
    scope: str | None = None,
    ttl: int = 600,
    secret: str = SECRET,
    **claims: Any,
) -> str:
    now = int(time.time())
    payload: dict[str, Any] = {"sub": sub, "tenant_id": tenant, "iat": now, "exp": now + ttl}
    if app is not None:
        payload["app_id"] = app
    if scope is not None:
        payload["scope"] = scope
    payload.update(claims)
    payload = {k: v for k, v in payload.items() if v is not None}
    return jwt.encode(payload, secret, algorithm="HS256")


@dataclass
class Api:
    """An HTTP client for one server, acting as one caller unless told otherwise."""

    http: httpx.Client
    backend: str
    tenant: str
    token: str

    def as_(self, tenant: str | None = None, **token_args: Any) -> "Api":
        tenant = tenant or self.tenant
        return Api(self.http, self.backend, tenant, make_token(tenant, **token_args))

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", **(extra or {})}

    def request(self, method: str, path: str, *, headers: dict[str, str] | None = None, **kw: Any) -> httpx.Response:
        return self.http.request(method, path, headers=self.headers(headers), **kw)

    def create(self, body: dict[str, Any] | None = None, **kw: Any) -> httpx.Response:
        return self.request("POST", ACCOUNTS, json={"name": "Acme"} if body is None else body, **kw)

    def created(self, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.create(body)
        assert response.status_code == 201, response.text
        return response.json()

    def get(self, account_id: str, **kw: Any) -> httpx.Response:
        return self.request("GET", f"{ACCOUNTS}/{account_id}", **kw)

    def patch(self, account_id: str, body: Any, **kw: Any) -> httpx.Response:
        return self.request("PATCH", f"{ACCOUNTS}/{account_id}", json=body, **kw)

    def delete(self, account_id: str, **kw: Any) -> httpx.Response:
        return self.request("DELETE", f"{ACCOUNTS}/{account_id}", **kw)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def tenant() -> str:
    return f"tenant-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def http_clients(servers: dict[str, str]) -> Iterator[dict[str, httpx.Client]]:
    clients = {backend: httpx.Client(base_url=url, timeout=30) for backend, url in servers.items()}
    yield clients
    for client in clients.values():
        client.close()


@pytest.fixture
def api(backend: str, tenant: str, http_clients: dict[str, httpx.Client]) -> Api:
    return Api(http_clients[backend], backend, tenant, make_token(tenant))


def assert_problem(response: httpx.Response, status: int, code: str | None = None, field: str | None = None) -> dict[str, Any]:
    """The response is a problem+json error of this status (and code, naming this field)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert {"type", "title", "status", "detail", "code", "request_id", "errors"} <= body.keys()
    assert body["status"] == status
    assert body["request_id"] == response.headers["x-request-id"]
    if code is not None:
        assert body["code"] == code, body
    if field is not None:
        assert field in [e["field"] for e in body["errors"]], body
    return body


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, object]]:
    """Every statement the server sends: through SQLAlchemy (SQLite) and straight to asyncpg (PostgreSQL)."""
    captured: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        captured.append((statement, parameters))

    for method in ("fetch", "fetchrow", "execute"):
        original = getattr(asyncpg.Connection, method)

        async def recording(self, query, *args, _original=original, **kwargs):  # type: ignore[no-untyped-def]
            captured.append((query, args))
            return await _original(self, query, *args, **kwargs)

        monkeypatch.setattr(asyncpg.Connection, method, recording)
    sa.event.listen(sa.engine.Engine, "before_cursor_execute", capture)
    yield captured
    sa.event.remove(sa.engine.Engine, "before_cursor_execute", capture)
