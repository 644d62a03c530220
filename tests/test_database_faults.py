"""The database misbehaves; the service answers 503 in time and recovers by itself (docs/failures.md).

PostgreSQL faults are made without touching the shared cluster: a frozen
database is a proxy that stops forwarding (``tests.netfaults``), a killed
connection is ``pg_terminate_backend``, a request stuck in the database
waits on a table lock the test holds.
"""

from __future__ import annotations

import asyncio
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import (
    ACCOUNTS,
    assert_problem,
    base_settings,
    make_token,
    scratch_postgres_database,
)
from tests.netfaults import FreezableProxy

pytestmark = pytest.mark.slow  # fault injection: seconds per test

DEADLINE_S = 4.5  # EDM_DB_DEADLINE_MS's default
ANSWERED_WITHIN_S = 5.0  # docs/failures.md


def _headers(tenant: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(tenant)}", **extra}


class Locker:
    """A connection of the test's own that can hold locks in the server's database."""

    def __init__(self, url: str) -> None:
        self._url = sa.make_url(url)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._conn: asyncpg.Connection = self.run(
            asyncpg.connect(host=self._url.host, port=self._url.port, user=self._url.username, database=self._url.database)
        )

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)

    def sql(self, statement: str, *args: Any) -> Any:
        return self.run(self._conn.fetch(statement, *args))

    def close(self) -> None:
        self.run(self._conn.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)


@pytest.fixture
def locker(database_urls: dict[str, str]) -> Iterator[Locker]:
    conn = Locker(database_urls["postgresql"])
    yield conn
    conn.close()


def _waiting_backends(locker: Locker, statement: str) -> list[int]:
    """Backends waiting on a lock in a statement containing ``statement`` (a write is one statement whose
    data-modifying CTEs also record its change event: ``WITH written AS (INSERT INTO accounts …)``)."""
    locker.sql("SELECT pg_stat_clear_snapshot()")  # the activity view is otherwise frozen for the transaction
    rows = locker.sql(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        " AND query LIKE $1 AND pid <> pg_backend_pid()",
        f"%{statement}%",
    )
    return [row["pid"] for row in rows]


def _wait_for(condition: Any, timeout: float = 10) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := condition():
            return found
        time.sleep(0.05)
    raise AssertionError(f"condition not met in time: {condition()!r}")


# --------------------------------------------------------------------------- a frozen database


@pytest.mark.postgres
def test_a_frozen_database_answers_503_within_5_s_and_service_resumes_by_itself(
    serve_for_test: Any, database_urls: dict[str, str], tmp_path: Path
) -> None:
    real = sa.make_url(database_urls["postgresql"])
    with FreezableProxy((real.host or "127.0.0.1", real.port or 5432)) as proxy:
        url = serve_for_test(base_settings(real.set(host="127.0.0.1", port=proxy.port).render_as_string(False), tmp_path))
        tenant = f"tenant-{uuid.uuid4().hex[:12]}"
        created = httpx.post(url + ACCOUNTS, json={"name": "Before"}, headers=_headers(tenant), timeout=30)
        assert created.status_code == 201, created.text

        proxy.freeze()
        requests = [
            ("GET", f"{ACCOUNTS}/{created.json()['id']}", None),
            ("GET", ACCOUNTS, None),
            ("POST", ACCOUNTS, {"name": "During"}),
            ("GET", "/readyz", None),
        ] * 2  # more requests than pooled connections: the pool and the connect wait are bounded too
        with ThreadPoolExecutor(len(requests)) as pool:

            def timed(method: str, path: str, body: Any) -> tuple[httpx.Response, float]:
                began = time.monotonic()
                response = httpx.request(method, url + path, json=body, headers=_headers(tenant), timeout=30)
                return response, time.monotonic() - began

            answers = list(pool.map(lambda r: timed(*r), requests))
        for response, seconds in answers:
            assert_problem(response, 503, "database_unavailable")
            assert int(response.headers["retry-after"]) >= 1
            assert seconds < ANSWERED_WITHIN_S, seconds

        proxy.thaw()
        _wait_for(lambda: httpx.get(url + "/readyz", timeout=30).status_code == 200)
        after = httpx.post(url + ACCOUNTS, json={"name": "After"}, headers=_headers(tenant), timeout=30)
        assert after.status_code == 201, after.text
        listed = httpx.get(url + ACCOUNTS, headers=_headers(tenant), timeout=30).json()["data"]
        assert {r["name"] for r in listed} == {"Before", "After"}


# --------------------------------------------------------------------------- a connection killed mid-write


@pytest.mark.postgres
def test_a_write_whose_connection_is_killed_is_a_503_and_its_key_retries_at_once(
    serve_for_test: Any, database_urls: dict[str, str], tmp_path: Path, locker: Locker
) -> None:
    url = serve_for_test(base_settings(database_urls["postgresql"], tmp_path))
    tenant = f"tenant-{uuid.uuid4().hex[:12]}"
    headers = _headers(tenant, **{"Idempotency-Key": f"k-{uuid.uuid4()}"})
    locker.sql("BEGIN")
    locker.sql("LOCK TABLE accounts IN SHARE MODE")  # the create claims its key, then waits here
    try:
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(httpx.post, url + ACCOUNTS, json={"name": "Killed"}, headers=headers, timeout=30)
            (pid,) = _wait_for(lambda: _waiting_backends(locker, "INSERT INTO accounts"))
            locker.sql("SELECT pg_terminate_backend($1)", pid)
            killed = pending.result()
    finally:
        locker.sql("ROLLBACK")
    assert_problem(killed, 503, "database_unavailable")
    assert killed.headers["retry-after"] == "1"

    retried = httpx.post(url + ACCOUNTS, json={"name": "Killed"}, headers=headers, timeout=30)
    assert retried.status_code == 201, retried.text
    assert "idempotent-replayed" not in retried.headers
    replayed = httpx.post(url + ACCOUNTS, json={"name": "Killed"}, headers=headers, timeout=30)
    assert replayed.headers["idempotent-replayed"] == "true" and replayed.json()["id"] == retried.json()["id"]
    total = httpx.get(url + ACCOUNTS, params={"include_total": "true"}, headers=_headers(tenant), timeout=30).json()
    assert total["total"] == 1


# --------------------------------------------------------------------------- one tenant cannot hold every connection


@pytest.mark.postgres
def test_one_tenant_stuck_in_the_database_leaves_connections_for_the_others(
    serve_for_test: Any, database_urls: dict[str, str], tmp_path: Path, locker: Locker
) -> None:
    url = serve_for_test(base_settings(database_urls["postgresql"], tmp_path, db_pool_size=4))
    noisy, quiet = (f"tenant-{uuid.uuid4().hex[:12]}" for _ in range(2))
    seen = httpx.post(url + ACCOUNTS, json={"name": "Quiet"}, headers=_headers(quiet), timeout=30).json()
    locker.sql("BEGIN")
    locker.sql("LOCK TABLE accounts IN SHARE MODE")
    try:
        with ThreadPoolExecutor(6) as pool:
            stuck = [
                pool.submit(httpx.post, url + ACCOUNTS, json={"name": f"Noisy {n}"}, headers=_headers(noisy), timeout=30)
                for n in range(6)
            ]
            _wait_for(lambda: len(_waiting_backends(locker, "INSERT INTO accounts")) == 2)
            began = time.monotonic()
            read = httpx.get(f"{url}{ACCOUNTS}/{seen['id']}", headers=_headers(quiet), timeout=30)
            took = time.monotonic() - began
            assert read.status_code == 200, read.text
            assert took < 1.0, took
            # The noisy tenant holds its share (half the pool) and no more.
            assert len(_waiting_backends(locker, "INSERT INTO accounts")) == 2
            locker.sql("ROLLBACK")
            statuses = sorted(f.result().status_code for f in stuck)
    finally:
        locker.sql("ROLLBACK")
    assert set(statuses) <= {201, 503} and 201 in statuses, statuses


# --------------------------------------------------------------------------- start-up and storage


@pytest.mark.postgres
def test_serve_starts_with_the_database_down_and_migrates_once_it_answers(tmp_path: Path) -> None:
    from tests.processes import EDM, clean_env, free_port

    with scratch_postgres_database() as fresh_url:  # nothing migrated yet
        fresh = sa.make_url(fresh_url)
        db_port, port = free_port(), free_port()
        through_proxy = fresh.set(host="127.0.0.1", port=db_port).render_as_string(hide_password=False)
        env = clean_env(EDM_DATA_DIR=str(tmp_path), EDM_DATABASE_URL=through_proxy)
        process = subprocess.Popen([EDM, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        url = f"http://127.0.0.1:{port}"
        try:
            down = _wait_for(lambda: _answer(url + "/readyz"), timeout=30)
            assert process.poll() is None
            assert_problem(down, 503, "database_unavailable")
            token = subprocess.run([EDM, "token", "--tenant", "t1", "--sub", "u1"], env=env, capture_output=True, text=True)
            headers = {"Authorization": f"Bearer {token.stdout.strip()}"}
            assert_problem(httpx.post(url + ACCOUNTS, json={"name": "Early"}, headers=headers), 503, "database_unavailable")

            with FreezableProxy((fresh.host or "127.0.0.1", fresh.port or 5432), port=db_port):  # the database comes up
                _wait_for(lambda: httpx.get(url + "/readyz").status_code == 200, timeout=30)
                created = httpx.post(url + ACCOUNTS, json={"name": "Late"}, headers=headers)
                assert created.status_code == 201, created.text
                assert process.poll() is None
        finally:
            process.terminate()
            process.wait(timeout=30)


def _answer(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url)
    except httpx.TransportError:
        return None


def test_a_read_only_sqlite_file_serves_reads_and_answers_writes_503(
    serve_for_test: Any, database_urls: dict[str, str], tmp_path: Path
) -> None:
    writable = serve_for_test(base_settings(database_urls["sqlite"], tmp_path / "rw"))
    tenant = f"tenant-{uuid.uuid4().hex[:12]}"
    created = httpx.post(writable + ACCOUNTS, json={"name": "Kept"}, headers=_headers(tenant)).json()

    path = sa.make_url(database_urls["sqlite"]).database
    read_only = serve_for_test(base_settings(f"sqlite:///file:{path}?mode=ro&uri=true", tmp_path / "ro"))
    assert httpx.get(read_only + "/readyz").status_code == 200
    got = httpx.get(f"{read_only}{ACCOUNTS}/{created['id']}", headers=_headers(tenant))
    assert got.status_code == 200 and got.json()["name"] == "Kept"
    assert httpx.get(read_only + ACCOUNTS, headers=_headers(tenant)).json()["data"][0]["id"] == created["id"]
    refused = httpx.post(read_only + ACCOUNTS, json={"name": "Refused"}, headers=_headers(tenant))
    assert_problem(refused, 503, "database_unavailable")
    assert refused.headers["retry-after"] == "1"
    assert_problem(
        httpx.patch(f"{read_only}{ACCOUNTS}/{created['id']}", json={"name": "No"}, headers=_headers(tenant)),
        503,
        "database_unavailable",
    )
    assert httpx.get(f"{writable}{ACCOUNTS}/{created['id']}", headers=_headers(tenant)).json()["version"] == 1
