"""The customer domain: ``client.customer.accounts`` (and, later, contacts …)."""

from __future__ import annotations

from functools import cached_property

from edm.sdk.resources._resource import AsyncAPIResource, SyncAPIResource
from edm.sdk.resources.customer.accounts import Accounts, AsyncAccounts

__all__ = ["Customer", "AsyncCustomer", "Accounts", "AsyncAccounts"]


class Customer(SyncAPIResource):
    """``client.customer``: customer organizations and the records around them."""

    @cached_property
    def accounts(self) -> Accounts:
        return Accounts(self._client)


class AsyncCustomer(AsyncAPIResource):
    """``client.customer`` of an ``AsyncClient``."""

    @cached_property
    def accounts(self) -> AsyncAccounts:
        return AsyncAccounts(self._client)
