"""The gate every request under ``/api/v1/crm/`` passes first: whose bucket, and one token from it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from edm.kit.auth import TokenVerifier
from edm.kit.errors import APIError
from edm.kit.ratelimit.limiter import RateLimiter
from edm.kit.ratelimit.policy import Policy

__all__ = ["CRM_PREFIX", "RateLimitGate"]

CRM_PREFIX = "/api/v1/crm/"


class RateLimitGate:
    """Called by the request-context middleware before the router: returns the
    ``RateLimit-Policy`` and ``RateLimit`` headers every answer carries, or
    raises ``RateLimited`` (429) when the bucket is empty.

    The bucket is the tenant's for a human session, the app's (within its
    tenant) for a token with ``app_id``, and the client address's for a
    request without a valid token, so a forged or expired token can only spend
    its sender's budget, never the tenant's it names.  The token is verified
    here once and the caller left in the request's state for the route; an
    invalid one is verified again, and refused, by the route.
    """

    def __init__(
        self,
        limiter: RateLimiter,
        verifier: TokenVerifier,
        *,
        prefix: str = CRM_PREFIX,
        on_limited: Callable[[str], None] = lambda policy: None,
    ) -> None:
        self._limiter = limiter
        self._verifier = verifier
        self._prefix = prefix
        self._on_limited = on_limited
        self._tenant, self._app, self._address = (
            Policy(name, limiter.rate, limiter.burst)
            for name in ("tenant", "app", "address")
        )

    async def __call__(self, scope: dict[str, Any]) -> Sequence[tuple[bytes, bytes]]:
        if not scope["path"].startswith(self._prefix):
            return ()
        policy, key = await self._partition(scope)
        taken, tokens = await self._limiter.take(key)
        if taken:
            return policy.headers(tokens)
        self._on_limited(policy.name)
        raise policy.refusal(tokens)

    async def _partition(self, scope: dict[str, Any]) -> tuple[Policy, str]:
        """The policy and the bucket key of this request."""
        for name, value in scope["headers"]:
            if name == b"authorization":
                try:
                    caller = await self._verifier.authenticate(value.decode("latin-1"))
                except APIError:
                    # the route answers 401 (or 503); the request counts against its address
                    break
                tenant = caller.tenant_id
                state = scope.setdefault("state", {})
                state["caller"] = caller  # the route's authenticate takes it from here
                state["tenant_id"] = tenant  # the log line names the tenant, a 429's too
                if caller.app_id is None:
                    return self._tenant, f"tenant:{tenant}"
                # the tenant's length keeps ("a:b", "c") and ("a", "b:c") apart
                return self._app, f"app:{len(tenant)}:{tenant}:{caller.app_id}"
        client = scope.get("client")
        return self._address, f"address:{client[0] if client else '-'}"
