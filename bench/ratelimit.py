"""What the rate limit costs a request: ``python -m bench.ratelimit [--redis-url URL] [--rounds 3]``.

The gate (``edm.kit.ratelimit.RateLimitGate``) runs alone in one event loop
(uvloop), as it runs before every request under ``/api/v1/crm/``: the
token check (cached), the bucket, the headers.  Buckets are kept in process,
then in Redis through the service's pipelined connection, and, for the
record, through redis-py's asyncio client running the same script (the
alternative the lean connection replaced).  Each is measured one request at a
time (wall time: with Redis, a round trip) and 32 at a time (CPU of this
process per request, ``time.process_time``, which the machine's noise
disturbs less).  The budget is never spent.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import jwt
import uvloop
from redis.asyncio import Redis

from bench.common import SECRET
from edm.kit.auth import TokenVerifier
from edm.kit.ratelimit import RateLimiter, RateLimitGate
from edm.kit.ratelimit.redis_buckets import TAKE_SCRIPT
from edm.kit.settings import Settings

CALLS = 20_000
CONCURRENCY = 32


def _scope() -> dict[str, Any]:
    token = jwt.encode(
        {"sub": "bench", "tenant_id": "bench-rate", "exp": int(time.time()) + 3600},
        SECRET,
        algorithm="HS256",
    )
    return {
        "type": "http",
        "path": "/api/v1/crm/accounts/acc_01ARZ3NDEKTSV4RRFFQ69G5FAV",
        "headers": [
            (b"host", b"bench"),
            (b"authorization", f"Bearer {token}".encode()),
        ],
        "client": ("127.0.0.1", 40000),
        "state": {},
    }


async def _measure(
    call: Callable[[], Awaitable[Any]], calls: int
) -> tuple[float, float]:
    """(µs of wall time per call one at a time, µs of CPU per call 32 at a time)."""
    for _ in range(500):
        await call()
    started = time.perf_counter()
    for _ in range(calls // 4):
        await call()
    sequential = (time.perf_counter() - started) / (calls // 4) * 1e6

    async def worker() -> None:
        for _ in range(calls // CONCURRENCY):
            await call()

    cpu = time.process_time()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return sequential, (time.process_time() - cpu) / calls * 1e6


async def _gate(redis_url: str | None) -> tuple[float, float]:
    settings = Settings(
        jwt_secret=SECRET,
        rate_limit_per_s=1e9,
        rate_limit_burst=10**9,
        redis_url=redis_url,
        redis_key_prefix=f"bench-{uuid.uuid4().hex[:8]}:",
    )
    limiter = RateLimiter.from_settings(settings)
    await limiter.start()
    gate, scope = RateLimitGate(limiter, TokenVerifier(settings)), _scope()
    try:
        return await _measure(lambda: gate(scope), CALLS)
    finally:
        await limiter.close()


async def _redis_py(redis_url: str) -> tuple[float, float]:
    client = Redis.from_url(redis_url)
    script = client.register_script(TAKE_SCRIPT)
    key = [f"bench-{uuid.uuid4().hex[:8]}:ratelimit:tenant:bench-rate"]
    try:
        return await _measure(lambda: script(keys=key, args=["1e9", str(10**9)]), CALLS)
    finally:
        await client.aclose()


async def _round(redis_url: str) -> dict[str, tuple[float, float]]:
    return {
        "gate, in process": await _gate(None),
        "gate, Redis (lean connection)": await _gate(redis_url),
        "the script alone, redis-py client": await _redis_py(redis_url),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rounds = [uvloop.run(_round(args.redis_url)) for _ in range(args.rounds)]
    print(
        f"{'':36s} {'one at a time (µs wall)':>24s} {f'{CONCURRENCY} at a time (µs CPU)':>24s}"
    )
    for name in rounds[0]:
        wall = statistics.median(r[name][0] for r in rounds)
        cpu = statistics.median(r[name][1] for r in rounds)
        print(f"{name:36s} {wall:24.1f} {cpu:24.1f}")


if __name__ == "__main__":
    main()
