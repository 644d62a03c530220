"""Token buckets in this process's memory."""

from __future__ import annotations

import time

__all__ = ["MemoryBuckets"]


class MemoryBuckets:
    """One token bucket per key: ``burst`` tokens at most, ``rate`` more a second."""

    def __init__(self, rate: float, burst: int, *, max_keys: int = 100_000) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.max_keys = max_keys
        # key → [tokens, monotonic time of the last take]
        self._buckets: dict[str, list[float]] = {}

    def take(self, key: str) -> tuple[bool, float]:
        """Take a token if there is one: (taken, tokens left)."""
        now = time.monotonic()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._forget_full(now)
            bucket = self._buckets[key] = [self.burst, now]
        tokens = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
        taken = tokens >= 1.0
        if taken:
            tokens -= 1.0
        bucket[0] = tokens
        bucket[1] = now
        return taken, tokens

    def _forget_full(self, now: float) -> None:
        """Drop the buckets that have refilled: a full bucket is what a new key gets anyway.

        If most are still in use (a flood of addresses), start afresh rather
        than sweep again on every new key.
        """
        rate, burst = self.rate, self.burst
        self._buckets = {
            k: b for k, b in self._buckets.items() if b[0] + (now - b[1]) * rate < burst
        }
        if len(self._buckets) > self.max_keys * 3 // 4:
            self._buckets.clear()

    def __len__(self) -> int:
        return len(self._buckets)
