"""The change feed under load: 8 concurrent writers (each with its own HTTP client)
and a consumer following ``next_cursor`` while they write, against a two-worker
server.  Every (record, version) is seen exactly once, each record's versions in
increasing order (docs/changes.md, "Guarantees")."""

from __future__ import annotations

import os
import subprocess
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import ACCOUNTS, SECRET, make_token
from tests.crm.accounts.test_concurrency import EDM
from tests.processes import free_port

WRITERS, RECORDS_PER_WRITER, PATCHES_PER_RECORD = 8, 50, 4  # 8 × 50 × (1 + 4) = 2,000 writes


@pytest.fixture
def url(database_urls: dict[str, str], backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``edm serve --workers 2`` with a tenant rate limit the writers stay under."""
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("EDM_")},
        "EDM_DATABASE_URL": database_urls[backend],
        "EDM_JWT_SECRET": SECRET,
        "EDM_DATA_DIR": str(tmp_path_factory.mktemp(f"feed-{backend}")),
        "EDM_LOG_LEVEL": "warning",
        "EDM_RATE_LIMIT_PER_S": "100000",
        "EDM_RATE_LIMIT_BURST": "100000",
    }
    process = subprocess.Popen([EDM, "serve", "--port", str(port), "--workers", "2"], env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(base + "/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "edm serve --workers 2 did not start"
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.mark.slow
def test_a_consumer_sees_every_change_exactly_once_in_record_order(url: str) -> None:
    tenant = f"tenant-{uuid.uuid4().hex[:12]}"
    headers = {"Authorization": f"Bearer {make_token(tenant)}"}
    written: list[tuple[str, int]] = []
    lock = threading.Lock()
    done = threading.Event()
    failures: list[str] = []

    def writer(n: int) -> None:
        with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
            for i in range(RECORDS_PER_WRITER):
                response = client.post(ACCOUNTS, json={"name": f"w{n}-{i}"})
                if response.status_code != 201:
                    failures.append(response.text)
                    return
                record_id = response.json()["id"]
                mine = [(record_id, 1)]
                for p in range(PATCHES_PER_RECORD):
                    patched = client.patch(f"{ACCOUNTS}/{record_id}", json={"custom_fields": {f"k{p}": p}})
                    if patched.status_code != 200:
                        failures.append(patched.text)
                        return
                    mine.append((record_id, patched.json()["version"]))
                with lock:
                    written.extend(mine)

    seen: list[tuple[str, int]] = []

    def consume(client: httpx.Client, cursor: str | None) -> tuple[list[dict[str, Any]], str]:
        params: dict[str, Any] = {"limit": 200}
        if cursor is not None:
            params["after"] = cursor
        response = client.get(f"{ACCOUNTS}/events", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        return page["data"], page["next_cursor"]

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        cursor = None
        while not done.is_set():
            page, cursor = consume(client, cursor)
            seen += [(e["account_id"], e["version"]) for e in page]
            if all(not t.is_alive() for t in threads):
                done.set()
        while True:  # the writers are done: read to the end
            page, cursor = consume(client, cursor)
            if not page:
                break
            seen += [(e["account_id"], e["version"]) for e in page]
    for thread in threads:
        thread.join()

    assert not failures, failures[:3]
    assert len(written) == WRITERS * RECORDS_PER_WRITER * (1 + PATCHES_PER_RECORD)
    assert len(seen) == len(set(seen)), "an event was seen twice"
    assert sorted(seen) == sorted(written), "an event was missed"
    versions: dict[str, list[int]] = defaultdict(list)
    for record_id, version in seen:
        versions[record_id].append(version)
    assert all(v == sorted(v) for v in versions.values()), "a record's events came out of order"
