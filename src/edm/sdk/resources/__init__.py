"""API resources, hung off the client as lazy cached properties."""

from __future__ import annotations

from edm.sdk.resources.customer import AsyncCustomer, Customer

__all__ = ["Customer", "AsyncCustomer"]
