"""Commit-to-webhook latency on PostgreSQL: ``edm serve`` + ``edm worker``, a receiver on this machine.

Creates accounts at a steady ``--rate`` (default 200 writes a second) for
``--seconds`` through the API, each with its own request, while one endpoint
subscribed to ``account.created`` receives them on 127.0.0.1 (``bench.receiver``, a
process of its own). The latency of
one event is from the moment its write's 201 came back (the commit) to the
moment the receiver got the delivery; reports p50, p99 and max (the issue's
target: p99 under 1 s).

    .venv/bin/python -m bench.webhooks [--rate 200] [--seconds 20] [--database-url …]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import jwt
import orjson

from bench.common import SECRET, ensure_database, server

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/edm_bench_webhooks"
TENANT = "bench-webhooks"


@contextmanager
def receiver(arrivals: dict[str, float]) -> Iterator[str]:
    """``bench.receiver`` in a process of its own (so that the load generator here and the receiver
    never hold up each other's clock readings); ``arrivals`` gets when each account's delivery arrived."""
    process = subprocess.Popen([sys.executable, "-m", "bench.receiver"], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    port = int(process.stdout.readline())

    def read(lines: Any) -> None:
        for line in lines:
            account, at = line.split()
            arrivals.setdefault(account, float(at))

    reader = threading.Thread(target=read, args=(process.stdout,), daemon=True)
    reader.start()
    try:
        yield f"http://127.0.0.1:{port}/hook"
    finally:
        process.terminate()
        process.wait(timeout=30)
        reader.join(timeout=30)


@contextmanager
def worker(url: str) -> Iterator[None]:
    env = {**os.environ, "EDM_DATABASE_URL": url, "EDM_WEBHOOKS_ALLOW_PRIVATE": "true", "EDM_LOG_LEVEL": "warning"}
    process = subprocess.Popen([str(Path(sys.executable).parent / "edm"), "worker"], env=env)
    try:
        yield
    finally:
        process.terminate()
        process.wait(timeout=30)


def token(scope: str | None = None) -> str:
    claims: dict[str, Any] = {"sub": "bench", "tenant_id": TENANT, "exp": int(time.time()) + 3600}
    if scope:
        claims["scope"] = scope
    return jwt.encode(claims, SECRET, algorithm="HS256")


async def write_at_rate(base: str, rate: float, seconds: float) -> dict[str, float]:
    """Create ``rate·seconds`` accounts, one every 1/rate s; when each one's 201 came back.

    Plain HTTP/1.1 over asyncio streams (a pool of keep-alive connections), not
    httpx: on two cores the load generator's own CPU would otherwise delay the
    worker it measures.
    """
    url = httpx.URL(base)
    head = (
        f"POST /api/v1/crm/accounts HTTP/1.1\r\nhost: {url.host}:{url.port}\r\n"
        f"authorization: Bearer {token()}\r\ncontent-type: application/json\r\n"
    ).encode()
    idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(32):
        idle.put_nowait(await asyncio.open_connection(url.host, url.port))
    committed: dict[str, float] = {}

    async def one(n: int) -> None:
        body = b'{"name": "Bench %d"}' % n
        reader, writer = await idle.get()
        writer.write(head + b"content-length: %d\r\n\r\n" % len(body) + body)
        status_and_headers = await reader.readuntil(b"\r\n\r\n")
        length = int(status_and_headers.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        answer = await reader.readexactly(length)
        done = time.perf_counter()
        idle.put_nowait((reader, writer))
        if not status_and_headers.startswith(b"HTTP/1.1 201"):
            raise RuntimeError(f"create failed: {status_and_headers[:200]!r} {answer[:500]!r}")
        committed[orjson.loads(answer)["id"]] = done

    start, tasks = time.perf_counter(), []
    for n in range(int(rate * seconds)):
        await asyncio.sleep(max(0.0, start + n / rate - time.perf_counter()))
        tasks.append(asyncio.create_task(one(n)))
    await asyncio.gather(*tasks)
    achieved = len(committed) / (time.perf_counter() - start)
    while not idle.empty():
        idle.get_nowait()[1].close()
    print(f"wrote {len(committed)} accounts at {achieved:.0f}/s", flush=True)
    return committed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--serve-workers", type=int, default=1)
    args = parser.parse_args()
    ensure_database(args.database_url)
    arrivals: dict[str, float] = {}
    extra = {"EDM_WEBHOOKS_ALLOW_PRIVATE": "true"}
    with receiver(arrivals) as hook, server(args.database_url, workers=args.serve_workers, pool_size=8, extra_env=extra) as base:
        subscribed = httpx.post(
            base + "/api/v1/crm/webhooks",
            json={"url": hook, "events": ["account.created"], "description": "bench"},
            headers={"Authorization": f"Bearer {token('crm.admin')}"},
        )
        subscribed.raise_for_status()
        endpoint = subscribed.json()["id"]
        try:
            with worker(args.database_url):
                # Measure a running worker, not its start: one delivery through first.
                warm = httpx.post(base + "/api/v1/crm/accounts", json={"name": "warm-up"}, headers={"Authorization": f"Bearer {token()}"})
                deadline = time.monotonic() + 60
                while warm.json()["id"] not in arrivals and time.monotonic() < deadline:
                    time.sleep(0.05)
                committed = asyncio.run(write_at_rate(base, args.rate, args.seconds))
                deadline = time.monotonic() + 60
                while not committed.keys() <= arrivals.keys() and time.monotonic() < deadline:
                    time.sleep(0.1)
        finally:
            httpx.delete(f"{base}/api/v1/crm/webhooks/{endpoint}", headers={"Authorization": f"Bearer {token('crm.admin')}"})
    latencies = sorted((arrivals[a] - t) * 1000 for a, t in committed.items() if a in arrivals)
    missing = len(committed) - len(latencies)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(
        f"commit-to-webhook over {len(latencies)} deliveries at {args.rate:g} writes/s: "
        f"p50 {statistics.median(latencies):.0f} ms, p99 {p99:.0f} ms, max {latencies[-1]:.0f} ms"
        + (f"; {missing} not delivered within 60 s" if missing else "")
    )


if __name__ == "__main__":
    main()
