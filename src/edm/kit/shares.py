"""Each tenant's share of a worker's database connections.

Without it, one tenant's burst of heavy requests holds every pooled
connection and everybody else's point reads queue behind it.  A tenant may
hold at most ``share`` connections at once; its further requests wait (within
the request's database deadline) while other tenants go straight to the pool.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

__all__ = ["TenantShares"]


class _Share:
    __slots__ = ("slots", "users")

    def __init__(self, size: int) -> None:
        self.slots = asyncio.Semaphore(size)
        self.users = 0


class TenantShares:
    def __init__(self, share: int) -> None:
        self._size = share
        self._by_tenant: dict[str, _Share] = {}  # only tenants with requests in flight

    @asynccontextmanager
    async def hold(self, tenant: str) -> AsyncIterator[None]:
        share = self._by_tenant.get(tenant)
        if share is None:
            share = self._by_tenant[tenant] = _Share(self._size)
        share.users += 1
        try:
            async with share.slots:
                yield
        finally:
            share.users -= 1
            if not share.users:
                del self._by_tenant[tenant]

    def in_use(self) -> int:
        """Tenants with requests holding or waiting for connections."""
        return len(self._by_tenant)
