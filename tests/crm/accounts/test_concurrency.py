"""Versions (docs/concurrency.md) and idempotency keys (docs/idempotency.md) under real parallel HTTP: a server of two worker processes
(``edm serve --workers 2``) on each database."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ACCOUNTS, SECRET, make_token
from tests.processes import free_port

EDM = str(Path(sys.executable).parent / "edm")


@pytest.fixture(scope="module")
def two_workers(database_urls: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    processes, urls = [], {}
    for backend, database_url in database_urls.items():
        port = free_port()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("EDM_")},
            "EDM_DATABASE_URL": database_url,
            "EDM_JWT_SECRET": SECRET,
            "EDM_DATA_DIR": str(tmp_path_factory.mktemp(f"workers-{backend}")),
            "EDM_LOG_LEVEL": "warning",
        }
        processes.append(subprocess.Popen([EDM, "serve", "--port", str(port), "--workers", "2"], env=env))
        urls[backend] = f"http://127.0.0.1:{port}"
    try:
        for url in urls.values():
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(url + "/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, "edm serve --workers 2 did not start"
                    time.sleep(0.1)
        yield urls
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=30)


class Parallel:
    """One tenant's view of the two-worker server, with requests fired together."""

    def __init__(self, url: str) -> None:
        self.tenant = f"tenant-{uuid.uuid4().hex[:12]}"
        self.headers = {"Authorization": f"Bearer {make_token(self.tenant)}"}
        self.client = httpx.Client(base_url=url, headers=self.headers, timeout=60, limits=httpx.Limits(max_connections=64))

    def create(self, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.client.post(ACCOUNTS, json=body or {"name": "Acme"})
        assert response.status_code == 201, response.text
        return response.json()

    def together(self, calls: list[Any]) -> list[httpx.Response]:
        with ThreadPoolExecutor(max_workers=len(calls)) as pool:
            return list(pool.map(lambda call: call(self.client), calls))


@pytest.fixture
def parallel(two_workers: dict[str, str], backend: str) -> Iterator[Parallel]:
    session = Parallel(two_workers[backend])
    yield session
    session.client.close()


def test_fifty_parallel_patches_keep_every_key(parallel: Parallel) -> None:
    record = parallel.create({"name": "Hot record", "custom_fields": {"seed": 0}})
    path = f"{ACCOUNTS}/{record['id']}"
    responses = parallel.together(
        [lambda c, n=n: c.patch(path, json={"custom_fields": {f"k{n:02d}": n}}) for n in range(50)]
    )
    assert [r.status_code for r in responses] == [200] * 50, [r.text for r in responses if r.status_code != 200]
    final = parallel.client.get(path).json()
    assert final["custom_fields"] == {"seed": 0, **{f"k{n:02d}": n for n in range(50)}}
    assert final["version"] == 51
    assert sorted(r.json()["version"] for r in responses) == list(range(2, 52))


def test_twenty_patches_with_one_if_match_let_exactly_one_through(parallel: Parallel) -> None:
    record = parallel.create()
    path = f"{ACCOUNTS}/{record['id']}"
    responses = parallel.together(
        [lambda c, n=n: c.patch(path, json={"industry": f"i{n}"}, headers={"If-Match": '"1"'}) for n in range(20)]
    )
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {200: 1, 412: 19}, statuses
    assert all(r.json()["current_version"] == 2 for r in responses if r.status_code == 412)
    winner = next(r.json() for r in responses if r.status_code == 200)
    assert parallel.client.get(path).json()["industry"] == winner["industry"]


def test_twenty_creates_with_one_idempotency_key_make_one_account(parallel: Parallel) -> None:
    key = {"Idempotency-Key": f"create-{uuid.uuid4()}"}
    body = {"name": "Exactly once", "tags": ["x"]}
    responses = parallel.together([lambda c: c.post(ACCOUNTS, json=body, headers=key) for _ in range(20)])
    statuses = Counter(r.status_code for r in responses)
    assert set(statuses) <= {201, 409} and statuses[201] >= 1, statuses
    ids = {r.json()["id"] for r in responses if r.status_code == 201}
    assert len(ids) == 1
    assert all(r.json()["code"] == "idempotency_in_flight" for r in responses if r.status_code == 409)
    listed = parallel.client.get(ACCOUNTS, params={"include_total": "true"}).json()
    assert listed["total"] == 1 and listed["data"][0]["id"] in ids
    replay = parallel.client.post(ACCOUNTS, json=body, headers=key)
    assert replay.status_code == 201 and replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["id"] in ids


def test_a_delete_racing_a_patch_never_resurrects_or_half_applies(parallel: Parallel) -> None:
    for _ in range(10):
        record = parallel.create({"name": "Racer", "custom_fields": {"a": 1}})
        path = f"{ACCOUNTS}/{record['id']}"
        patch, delete = parallel.together(
            [lambda c, path=path: c.patch(path, json={"industry": "Won", "custom_fields": {"b": 2}}), lambda c, path=path: c.delete(path)]
        )
        assert delete.status_code == 204
        assert patch.status_code in (200, 404), patch.text
        assert parallel.client.get(path).status_code == 404
        final = next(
            r for r in parallel.client.get(ACCOUNTS, params={"include_deleted": "true", "filter[id]": record["id"]}).json()["data"]
        )
        assert final["is_deleted"] is True
        if patch.status_code == 200:  # the patch came first, whole
            assert (final["version"], final["industry"], final["custom_fields"]) == (3, "Won", {"a": 1, "b": 2})
        else:  # the delete came first; nothing of the patch landed
            assert (final["version"], final["industry"], final["custom_fields"]) == (2, None, {"a": 1})


def test_totals_stay_exact_under_parallel_creates_and_deletes(parallel: Parallel) -> None:
    """Unfiltered totals come from counters that triggers keep; parallel writers must not lose an update."""
    first = [parallel.create({"name": f"old {n}"}) for n in range(10)]
    responses = parallel.together(
        [lambda c, n=n: c.post(ACCOUNTS, json={"name": f"new {n}"}) for n in range(30)]
        + [lambda c, r=r: c.delete(f"{ACCOUNTS}/{r['id']}") for r in first]
    )
    assert Counter(r.status_code for r in responses) == {201: 30, 204: 10}

    def total(**params: str) -> int:
        return parallel.client.get(ACCOUNTS, params={"include_total": "true", "limit": "1", **params}).json()["total"]

    assert (total(), total(include_deleted="true")) == (30, 40)
