"""A rate-limit policy: what its headers say, and the 429 that refuses a request.

The fields follow draft-ietf-httpapi-ratelimit-headers-11 (Structured Field
lists of one item each, named after the policy):

* ``RateLimit-Policy: "tenant";q=200;w=2``: the bucket holds ``q`` requests
  and refills completely in ``w`` seconds (``burst / rate``, rounded up).
* ``RateLimit: "tenant";r=157;t=1``: ``r`` requests are left now; the bucket is
  full again in ``t`` seconds (rounded up).  On a 429, ``r`` is 0
  and ``t`` equals ``Retry-After``: the seconds (at least 1) until the bucket
  holds a token again.
"""

from __future__ import annotations

import math

from edm.kit.errors import RateLimited

__all__ = ["LIMIT_HEADER", "POLICY_HEADER", "Policy"]

POLICY_HEADER = b"ratelimit-policy"
LIMIT_HEADER = b"ratelimit"


class Policy:
    """One named bucket kind (``tenant``, ``app`` or ``address``) at ``rate``/s holding ``burst``."""

    __slots__ = ("burst", "name", "policy_value", "rate")

    def __init__(self, name: str, rate: float, burst: int) -> None:
        self.name = name
        self.rate = rate
        self.burst = burst
        window = max(1, math.ceil(burst / rate))
        self.policy_value = f'"{name}";q={burst};w={window}'

    def headers(self, tokens: float) -> list[tuple[bytes, bytes]]:
        """The response headers of a request that took a token and left ``tokens``."""
        full_in = math.ceil((self.burst - tokens) / self.rate)
        limit = f'"{self.name}";r={int(tokens)};t={full_in}'
        return [
            (POLICY_HEADER, self.policy_value.encode()),
            (LIMIT_HEADER, limit.encode()),
        ]

    def refusal(self, tokens: float) -> RateLimited:
        """The 429 for a request that found only ``tokens`` (less than one) in the bucket."""
        wait = max(1, math.ceil((1.0 - tokens) / self.rate))
        return RateLimited(
            f"too many requests for this {self.name}: at most {self.burst} at once, "
            f"refilled at {self.rate:g} a second; retry in {wait} s",
            headers={
                "Retry-After": str(wait),
                "RateLimit-Policy": self.policy_value,
                "RateLimit": f'"{self.name}";r=0;t={wait}',
            },
        )
