"""Commit-to-webhook latency on PostgreSQL: ``edm serve`` + ``edm worker``, a receiver on this machine.

Creates accounts at a steady ``--rate`` (default 200 writes a second) for
``--seconds`` through the API, each with its own request, while one endpoint
subscribed to ``account.created`` receives them on 127.0.0.1. The latency of
one event is from the moment its write's 201 came back (the commit) to the
moment the receiver got the delivery; reports p50, p99 and max (the issue's
target: p99 under 1 s).

    .venv/bin/python -m bench.webhooks [--rate 200] [--seconds 20] [--database-url …]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt

from bench.common import SECRET, ensure_database, server

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/edm_bench_webhooks"
TENANT = "bench-webhooks"


@contextmanager
def receiver(arrivals: dict[str, float]) -> Iterator[str]:
    """An HTTP receiver on 127.0.0.1 noting when each account's delivery arrived."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            arrivals.setdefault(json.loads(body)["account_id"], time.perf_counter())
            self.send_response(204)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/hook"
    finally:
        httpd.shutdown()


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
    """Create ``rate·seconds`` accounts, one every 1/rate s; when each one's 201 came back."""
    committed: dict[str, float] = {}
    limits = httpx.Limits(max_connections=64)
    headers = {"Authorization": f"Bearer {token()}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=30) as client:

        async def one(n: int) -> None:
            response = await client.post("/api/v1/crm/accounts", json={"name": f"Bench {n}"})
            response.raise_for_status()
            committed[response.json()["id"]] = time.perf_counter()

        start, tasks = time.perf_counter(), []
        for n in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, start + n / rate - time.perf_counter()))
            tasks.append(asyncio.create_task(one(n)))
        await asyncio.gather(*tasks)
        achieved = len(committed) / (time.perf_counter() - start)
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
