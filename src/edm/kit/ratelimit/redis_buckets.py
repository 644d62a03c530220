"""Token buckets in Redis, shared by every process and host that uses the same Redis and prefix.

One ``EVALSHA`` per request: the script refills, takes and stores the bucket
atomically with Redis's own clock (hosts' clocks may disagree), and lets the
key expire once the bucket would be full again (a missing key is a full
bucket), so idle tenants leave nothing behind.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

__all__ = ["TAKE_SCRIPT", "RedisBuckets"]

# KEYS[1]: the bucket; ARGV: rate per second, burst.  Returns {taken (0/1), tokens left × 1000}.
TAKE_SCRIPT = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local bucket = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(bucket[1]) or burst
local at = tonumber(bucket[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local taken = 0
if tokens >= 1 then
  tokens = tokens - 1
  taken = 1
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens), 'at', string.format('%.6f', now))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000) + 1000)
return {taken, math.floor(tokens * 1000)}
"""


class RedisBuckets:
    """The same buckets as ``MemoryBuckets``, kept in Redis under ``prefix``."""

    def __init__(
        self, url: str, *, rate: float, burst: int, prefix: str, timeout: float
    ) -> None:
        # No retries and a short timeout: a Redis in trouble must cost a request
        # at most ``timeout`` before the caller falls back, never a hang.
        self._client: Redis = Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
        )
        self._script: Any = self._client.register_script(TAKE_SCRIPT)
        self._args = (repr(float(rate)), str(burst))
        self._prefix = prefix

    async def take(self, key: str) -> tuple[bool, float]:
        taken, millitokens = await self._script(
            keys=[self._prefix + key], args=self._args
        )
        return taken == 1, millitokens / 1000

    async def ping(self) -> None:
        await self._client.ping()

    async def close(self) -> None:
        await self._client.aclose()
