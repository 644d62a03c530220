"""Token buckets in Redis, shared by every process and host that uses the same Redis and prefix.

One ``EVALSHA`` per request: the script refills, takes and stores the bucket
atomically with Redis's own clock (hosts' clocks may disagree), and lets the
key expire once the bucket would be full again (a missing key is a full
bucket), so idle tenants leave nothing behind.  A Redis that has not seen the
script yet (a restart, a failover) gets it once with ``EVAL``.
"""

from __future__ import annotations

import hashlib

from redis.exceptions import ResponseError

from edm.kit.ratelimit.resp import RedisConnection, bulk, command

__all__ = ["TAKE_SCRIPT", "RedisBuckets"]

# KEYS[1]: the bucket; ARGV: rate per second, burst.  Returns {taken (0/1), tokens left × 1000}.
TAKE_SCRIPT = b"""
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
_SHA = hashlib.sha1(TAKE_SCRIPT).hexdigest().encode()


class RedisBuckets:
    """The same buckets as ``MemoryBuckets``, kept in Redis under ``prefix``."""

    def __init__(
        self, url: str, *, rate: float, burst: int, prefix: str, timeout: float
    ) -> None:
        self._redis = RedisConnection(url, timeout=timeout)
        self._prefix = prefix.encode()
        # Everything but the key is the same on every call: encoded once.
        self._evalsha = b"*6\r\n" + bulk(b"EVALSHA") + bulk(_SHA) + bulk(b"1")
        self._eval = b"*6\r\n" + bulk(b"EVAL") + bulk(TAKE_SCRIPT) + bulk(b"1")
        self._args = bulk(repr(float(rate)).encode()) + bulk(str(burst).encode())

    async def take(self, key: str) -> tuple[bool, float]:
        """(taken, tokens left) for ``key``'s bucket."""
        bucket = bulk(self._prefix + key.encode())
        try:
            taken, millitokens = await self._redis.call(
                self._evalsha + bucket + self._args
            )
        except ResponseError as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
            taken, millitokens = await self._redis.call(
                self._eval + bucket + self._args
            )
        return taken == 1, millitokens / 1000

    async def ping(self) -> None:
        await self._redis.call(command(b"PING"))

    async def close(self) -> None:
        await self._redis.close()
