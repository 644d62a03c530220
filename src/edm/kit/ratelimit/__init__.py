"""Rate limits (docs/operating.md, "Rate limits"): a token bucket per tenant, per app, or per client address.

Every request under ``/api/v1/crm/`` takes one token from one bucket before
anything else runs (``RateLimitGate``): the tenant's for a human session, the
app's for a token with ``app_id``, the client address's without a valid
token.  A bucket holds at most ``EDM_RATE_LIMIT_BURST`` tokens and refills at
``EDM_RATE_LIMIT_PER_S`` a second.  With ``EDM_REDIS_URL`` the buckets live
in Redis (one script call per request), shared by every worker and host;
without it, or while Redis is unreachable, in this process (``RateLimiter``).
Answers carry ``RateLimit-Policy`` and ``RateLimit``
(draft-ietf-httpapi-ratelimit-headers-11); a request over the limit is a 429
with ``Retry-After``.
"""

from edm.kit.ratelimit.gate import RateLimitGate
from edm.kit.ratelimit.limiter import RateLimiter
from edm.kit.ratelimit.policy import Policy

__all__ = ["Policy", "RateLimitGate", "RateLimiter"]
