"""Fixtures: a real server over real TCP, on SQLite and on PostgreSQL.

Every API test takes the ``api`` fixture, which is parametrized over both
databases.  Each database is fresh for the run and its schema is built by the
Alembic migrations.  Tests isolate themselves by using fresh tenant ids
(``tenant`` fixture), so nothing needs cleaning between them.

PostgreSQL comes from ``EDM_TEST_DATABASE_URL`` (a server URL; a database is
created on it per run) or, by default, ``postgresql://postgres@127.0.0.1:5432``.
A test that uses it is marked ``postgres`` (done here for every test run on the
``postgresql`` backend); without PostgreSQL those tests are skipped with one
reason, and ``-m "not postgres"`` leaves them out (``tests/services.py``).

Database connections are a shared, small resource: the two main servers live
for the run, servers from ``serve`` stop with their module, those from
``serve_for_test`` with their test, and ``tests/connections.py`` fails the run
when the suite ever holds more than its budget.  See docs/development.md.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Generic, TypeVar

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
from tests import connections
from tests.services import POSTGRES, SERVICES, pg_admin_connect, pg_admin_url, required, skip_unavailable

SECRET = "test-secret-that-is-long-enough-for-hs256"
ACCOUNTS = "/api/v1/crm/accounts"
BACKENDS = ["sqlite", "postgresql"]
T = TypeVar("T")


# --------------------------------------------------------------------------- services


# The longest tests (minutes, not seconds) run first: with ``-n 2`` pytest-xdist
# hands the first tests out one per worker, so the two schemathesis runs go to
# different workers and the rest of the suite fills in beside them.
_LONGEST_FIRST = ("tests/test_schemathesis.py", "tests/crm/test_feed_exactly_once.py")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark what the markers can be told from a test's parameters and fixtures (before ``-m`` selects)."""
    rank = {path: n for n, path in enumerate(_LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))
    for item in items:
        params = getattr(item, "callspec", None) and item.callspec.params or {}
        if "postgresql" in params.values() or "postgres_url" in item.fixturenames:
            item.add_marker(pytest.mark.postgres)
        if "redis_url" in item.fixturenames:
            item.add_marker(pytest.mark.redis)
        if "private_redis" in item.fixturenames:
            item.add_marker(pytest.mark.redis_server)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Probe, once, each service the selected tests need; a required one that is missing stops the run."""
    mandatory = required()
    for marker, service in SERVICES.items():
        needed = any(item.get_closest_marker(marker) for item in session.items)
        if needed and service.check() and marker in mandatory:
            pytest.exit(
                f"EDM_TEST_REQUIRE={marker}: {service.describe()} {service.problem}; {service.remedy}", returncode=1
            )


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker, service in SERVICES.items():
        if item.get_closest_marker(marker) and service.problem:
            skip_unavailable(service)


def pytest_runtest_logstart(nodeid: str) -> None:
    connections.note_test(nodeid)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for line in connections.summary():
        terminalreporter.write_line(line)


def pytest_sessionfinish(session: pytest.Session) -> None:
    if connections.over_budget():
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def require_postgres() -> None:
    """Called wherever a test reaches PostgreSQL: skip without it, and refuse an unmarked test."""
    if POSTGRES.problem:
        skip_unavailable(POSTGRES)
    if not POSTGRES.usable:
        pytest.fail(
            "this test uses PostgreSQL but is not marked postgres, so -m 'not postgres' would still"
            " need PostgreSQL: add @pytest.mark.postgres", pytrace=False
        )


class Backends(Mapping[str, T], Generic[T]):
    """backend -> a value made on its first use.  It holds (and iterates over) SQLite
    always and PostgreSQL when this run uses it: some selected test is marked
    ``postgres`` and PostgreSQL answers."""

    def __init__(self, make: Callable[[str], T]) -> None:
        self._make = make
        self.made: dict[str, T] = {}

    def __getitem__(self, backend: str) -> T:
        if backend not in BACKENDS:
            raise KeyError(backend)
        if backend == "postgresql":
            require_postgres()
        if backend not in self.made:
            self.made[backend] = self._make(backend)
        return self.made[backend]

    def __iter__(self) -> Iterator[str]:
        return iter([b for b in BACKENDS if b != "postgresql" or POSTGRES.usable])

    def __contains__(self, backend: object) -> bool:
        return backend in list(iter(self))

    def __len__(self) -> int:
        return len(list(iter(self)))


# --------------------------------------------------------------------------- databases


async def _pg_admin(statement: str) -> None:
    require_postgres()
    conn = await pg_admin_connect()
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


_RUN_DATABASE = f"edm_test_{uuid.uuid4().hex[:12]}"


@contextmanager
def scratch_postgres_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards.  Its name
    starts with the run's, so its connections count against the suite's budget."""
    name = f"{_RUN_DATABASE}_{uuid.uuid4().hex[:6]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.make_url(pg_admin_url()).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def database_urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backends[str]]:
    """backend -> the run's migrated database; PostgreSQL's is created on first use."""

    def make(backend: str) -> str:
        if backend == "sqlite":
            url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'edm.sqlite3'}"
        else:
            asyncio.run(_pg_admin(f'CREATE DATABASE "{_RUN_DATABASE}"'))
            url = sa.make_url(pg_admin_url()).set(database=_RUN_DATABASE).render_as_string(hide_password=False)
            connections.watch(pg_admin_url(), _RUN_DATABASE)
        upgrade(Settings(database_url=url, jwt_secret=SECRET))
        return url

    urls = Backends(make)
    yield urls
    if "postgresql" in urls.made:
        connections.stop()
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{_RUN_DATABASE}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def postgres_url(database_urls: Backends[str]) -> str:
    """This run's PostgreSQL database, migrated (a test taking it is marked ``postgres``)."""
    return database_urls["postgresql"]


# The suite sends thousands of quick requests per tenant (schemathesis) and every
# unauthenticated one from 127.0.0.1, so its servers get a budget they never
# spend; the headers still show it.  tests/kit/test_ratelimit.py serves the
# production defaults (100/s, burst 200) and proves they hold.
SUITE_RATE_LIMIT: dict[str, Any] = {"rate_limit_per_s": 1_000_000.0, "rate_limit_burst": 1_000_000}

# Test servers other than the two main ones get two database connections (the
# default is 4): enough for a test's few concurrent requests, and it keeps the
# suite within its connection budget (docs/development.md).
TEST_POOL_SIZE = 2


def base_settings(database_url: str, data_dir: Path, **overrides: Any) -> Settings:
    # The webhook worker stays out of test servers unless a test asks for it (webhooks_in_process=True):
    # on SQLite it would otherwise poll the feed in every one of the suite's servers.
    settings = Settings(
        data_dir=data_dir,
        database_url=database_url,
        jwt_secret=SECRET,
        db_pool_size=TEST_POOL_SIZE,
        webhooks_in_process=False,
        **SUITE_RATE_LIMIT,
    )
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

    def __enter__(self) -> ServerThread:
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


class Started:
    """``start(settings[, registry])`` serves an app and returns its URL; ``stop()`` stops them all,
    closing their database pools."""

    def __init__(self) -> None:
        self._servers: list[ServerThread] = []

    def __call__(self, settings: Settings, registry: Registry = REGISTRY) -> str:
        server = ServerThread(create_app(settings, registry)).__enter__()
        self._servers.append(server)
        return server.url

    def stop(self) -> None:
        while self._servers:
            self._servers.pop().__exit__(None, None, None)


@pytest.fixture(scope="module")
def serve() -> Iterator[Started]:
    """``serve(settings)`` starts a server that stops when the module's tests are done, and returns its URL."""
    started = Started()
    yield started
    started.stop()


@pytest.fixture
def serve_for_test() -> Iterator[Started]:
    """Like ``serve``, but the servers stop when the test ends."""
    started = Started()
    yield started
    started.stop()


@pytest.fixture(scope="session")
def servers(database_urls: Backends[str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backends[str]]:
    """backend -> the URL of the run's main server on that database, started on first use."""
    started = Started()

    def make(backend: str) -> str:
        data_dir = tmp_path_factory.mktemp(f"data-{backend}")
        # the production pool size: these two serve most of the suite's requests
        return started(base_settings(database_urls[backend], data_dir, db_pool_size=Settings.db_pool_size))

    yield Backends(make)
    started.stop()


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

    def as_(self, tenant: str | None = None, **token_args: Any) -> Api:
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
def http_clients(servers: Backends[str]) -> Iterator[Backends[httpx.Client]]:
    clients = Backends(lambda backend: httpx.Client(base_url=servers[backend], timeout=30))
    yield clients
    for client in clients.made.values():
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
