"""Where the buckets live: Redis when configured and reachable, this process otherwise."""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog
from redis.exceptions import RedisError

from edm.kit.ratelimit.memory import MemoryBuckets
from edm.kit.ratelimit.redis_buckets import RedisBuckets
from edm.kit.settings import Settings

__all__ = ["REDIS_RETRY_SECONDS", "RateLimiter"]

log = structlog.get_logger("edm.ratelimit")

# After a failure, how long requests skip Redis before one tries it again:
# a Redis that is down costs one timeout per worker per interval, not one per request.
REDIS_RETRY_SECONDS = 1.0
# Refused, reset, timed out, an error reply, or a reply that is not the script's.
_REDIS_FAILURES = (RedisError, OSError, TimeoutError, ValueError, TypeError)


class RateLimiter:
    """Takes one token from a key's bucket.

    With a Redis URL, the bucket is the one every process shares; when Redis
    fails (refused, timed out, an error), the request is decided by this
    process's own buckets instead, ``on_fallback`` is called, a warning is
    logged once per outage, and Redis is tried again after
    ``REDIS_RETRY_SECONDS``.  The request is served either way: a rate limiter
    in trouble must not take the API down with it.
    """

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        redis_url: str | None = None,
        redis_prefix: str = "edm:",
        redis_timeout: float = 0.1,
        on_fallback: Callable[[], None] = lambda: None,
    ) -> None:
        self.rate = rate
        self.burst = burst
        self._memory = MemoryBuckets(rate, burst)
        self._redis_url = redis_url
        self._redis_prefix = redis_prefix + "ratelimit:"
        self._redis_timeout = redis_timeout  # how long a request may wait for Redis
        self._redis: RedisBuckets | None = None
        self._redis_down_until = 0.0  # monotonic time; 0: up
        self._on_fallback = on_fallback

    @classmethod
    def from_settings(
        cls, settings: Settings, on_fallback: Callable[[], None] = lambda: None
    ) -> RateLimiter:
        return cls(
            settings.rate_limit_per_s,
            settings.rate_limit_burst,
            redis_url=settings.redis_url,
            redis_prefix=settings.redis_key_prefix,
            redis_timeout=settings.redis_timeout_ms / 1000,
            on_fallback=on_fallback,
        )

    async def start(self) -> None:
        """Connect to Redis (inside the serving event loop) and say so if it does not answer."""
        if self._redis_url is None:
            return
        self._redis = RedisBuckets(
            self._redis_url,
            rate=self.rate,
            burst=self.burst,
            prefix=self._redis_prefix,
            timeout=self._redis_timeout,
        )
        try:
            await self._redis.ping()
        except _REDIS_FAILURES as exc:
            self._redis_failed(exc)

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.close()

    async def take(self, key: str) -> tuple[bool, float]:
        """(taken, tokens left) for ``key``'s bucket."""
        redis = self._redis
        if redis is not None:
            if self._redis_usable():
                try:
                    result = await redis.take(key)
                except _REDIS_FAILURES as exc:
                    self._redis_failed(exc)
                else:
                    if self._redis_down_until:
                        self._redis_down_until = 0.0
                        log.warning("Redis answers again: rate limits are shared again")
                    return result
            self._on_fallback()
        return self._memory.take(key)

    def _redis_usable(self) -> bool:
        """Up, or down long enough that this request may probe it (the others meanwhile keep to memory)."""
        if not self._redis_down_until:
            return True
        now = time.monotonic()
        if now < self._redis_down_until:
            return False
        self._redis_down_until = now + REDIS_RETRY_SECONDS
        return True

    def _redis_failed(self, exc: BaseException) -> None:
        if not self._redis_down_until:
            log.warning(
                "Redis is unreachable: rate limits are kept per process until it answers",
                error=f"{type(exc).__name__}: {exc}",
            )
        self._redis_down_until = time.monotonic() + REDIS_RETRY_SECONDS
