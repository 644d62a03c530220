"""Crash PostgreSQL under concurrent idempotent writers; nothing acknowledged may be lost.

    python -m bench.fault [--writers 8] [--seconds 20] [--crashes 2] [--port 5499]

Creates its own PostgreSQL cluster on ``--port`` (never the shared one),
starts ``edm serve`` on it, and runs writers that each create accounts with
an ``Idempotency-Key``. While they write, the cluster is restarted with
``pg_ctlcluster … restart -m immediate`` (a crash: no checkpoint, in-flight
transactions lost). A writer whose request fails (503 or no answer) waits
until ``/readyz`` is 200 and retries once with the same key and body.

It checks, and exits 1 unless all hold:
* every acknowledged (2xx) write is in the database, exactly once;
* no two rows share a key (no duplicates from retries);
* no answer was a 5xx other than 503;
* every failed write succeeded on its first retry with its key;
* the same ``edm serve`` process served before and after (no restart).
Bounded: about ``--seconds`` plus a few seconds per crash.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt

from bench.common import SECRET, server_process

CLUSTER = ("15", "edmfault")
ACCOUNTS = "/api/v1/crm/accounts"


@dataclass
class Tally:
    acknowledged: dict[str, str] = field(default_factory=dict)  # key -> account id
    statuses: Counter[int | str] = field(default_factory=Counter)
    failed: int = 0
    retried_ok: int = 0
    replayed: int = 0  # retries whose first attempt had committed without an answer
    retry_failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _cluster(*args: str) -> None:
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", *CLUSTER, *args], check=True, capture_output=True)


def _create_cluster(port: int) -> None:
    subprocess.run(["pg_dropcluster", "--stop", *CLUSTER], capture_output=True)  # a leftover of an earlier run
    subprocess.run(["pg_createcluster", *CLUSTER, "-p", str(port), "--", "--auth=trust"], check=True, capture_output=True)
    _cluster("start")


def _psql(port: int, sql: str, database: str = "postgres") -> str:
    command = ["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-d", database, "-Atc", sql]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def _token(tenant: str) -> str:
    now = int(time.time())
    return jwt.encode({"sub": "fault", "tenant_id": tenant, "iat": now, "exp": now + 3600}, SECRET, algorithm="HS256")


def _ready(base: str) -> None:
    while True:
        try:
            if httpx.get(base + "/readyz", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)


def _post(client: httpx.Client, key: str) -> httpx.Response | None:
    try:
        return client.post(ACCOUNTS, json={"name": key}, headers={"Idempotency-Key": key})
    except httpx.TransportError:
        return None


def _writer(base: str, tenant: str, stop: threading.Event, tally: Tally) -> None:
    headers = {"Authorization": f"Bearer {_token(tenant)}"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        while not stop.is_set():
            key = f"w-{uuid.uuid4()}"
            response = _post(client, key)
            with tally.lock:
                tally.statuses[response.status_code if response is not None else "no answer"] += 1
            if response is not None and response.status_code == 201:
                with tally.lock:
                    tally.acknowledged[key] = response.json()["id"]
                continue
            with tally.lock:
                tally.failed += 1
            _ready(base)
            retry = _post(client, key)
            with tally.lock:
                tally.statuses[retry.status_code if retry is not None else "no answer"] += 1
                if retry is not None and retry.status_code == 201:
                    tally.retried_ok += 1
                    tally.replayed += retry.headers.get("idempotent-replayed") == "true"
                    tally.acknowledged[key] = retry.json()["id"]
                else:
                    tally.retry_failures.append(f"{key}: {retry.status_code if retry is not None else 'no answer'}")


def run(writers: int, seconds: float, crashes: int, port: int) -> dict[str, Any]:
    _create_cluster(port)
    try:
        _psql(port, "CREATE DATABASE edm_fault")
        url = f"postgresql://postgres@127.0.0.1:{port}/edm_fault"
        tally, stop = Tally(), threading.Event()
        tenant = f"fault-{uuid.uuid4().hex[:8]}"
        with server_process(url, workers=1, pool_size=4) as (base, process):
            threads = [threading.Thread(target=_writer, args=(base, tenant, stop, tally)) for _ in range(writers)]
            for thread in threads:
                thread.start()
            crash_times = [seconds * (n + 1) / (crashes + 1) for n in range(crashes)]
            began = time.monotonic()
            for at in crash_times:
                time.sleep(max(0.0, at - (time.monotonic() - began)))
                _cluster("restart", "-m", "immediate")
            time.sleep(max(0.0, seconds - (time.monotonic() - began)))
            stop.set()
            for thread in threads:
                thread.join(timeout=60)
            served_throughout = process.poll() is None
        rows = _psql(port, f"SELECT name, id FROM accounts WHERE tenant_id = '{tenant}'", "edm_fault").splitlines()
    finally:
        subprocess.run(["pg_dropcluster", "--stop", *CLUSTER], capture_output=True)

    stored = Counter(line.split("|")[0] for line in rows)
    ids = dict(line.split("|") for line in rows)
    lost = [key for key in tally.acknowledged if stored[key] == 0]
    wrong_id = [key for key, id_ in tally.acknowledged.items() if stored[key] and ids[key] != id_]
    duplicates = [key for key, n in stored.items() if n > 1]
    bad_5xx = {str(s): n for s, n in tally.statuses.items() if isinstance(s, int) and s >= 500 and s != 503}
    report = {
        "writers": writers,
        "seconds": seconds,
        "crashes": crashes,
        "acknowledged": len(tally.acknowledged),
        "rows": len(rows),
        "statuses": {str(k): v for k, v in tally.statuses.items()},
        "failed_then_retried": tally.failed,
        "retried_ok_first_time": tally.retried_ok,
        "of_which_replayed": tally.replayed,
        "retry_failures": tally.retry_failures[:10],
        "lost": lost[:10],
        "wrong_id": wrong_id[:10],
        "duplicates": duplicates[:10],
        "bad_5xx": bad_5xx,
        "served_throughout_without_restart": served_throughout,
    }
    report["ok"] = bool(
        not lost and not wrong_id and not duplicates and not bad_5xx and not tally.retry_failures
        and served_throughout and crashes and tally.failed
    )  # fmt: skip
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--crashes", type=int, default=2)
    parser.add_argument("--port", type=int, default=5499)
    args = parser.parse_args()
    report = run(args.writers, args.seconds, args.crashes, args.port)
    print(json.dumps(report, indent=2))
    sys.exit(0 if report["ok"] else 1)


if __name__ == "__main__":
    main()
