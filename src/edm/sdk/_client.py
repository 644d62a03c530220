"""``Client`` and ``AsyncClient``: configuration plus the resource tree.

    import edm

    with edm.Client("http://127.0.0.1:8000", token) as client:   # or EDM_BASE_URL / EDM_TOKEN
        account = client.customer.accounts.create(name="Globex")

    async with edm.AsyncClient() as client:
        account = await client.customer.accounts.get("acc_01J…")
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from types import TracebackType

import httpx

from edm.sdk._base_client import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT, AsyncAPIClient, SyncAPIClient
from edm.sdk._types import NOT_GIVEN, NotGiven, Timeout
from edm.sdk.resources.customer import AsyncCustomer, Customer
from edm.sdk.resources.webhooks import AsyncWebhooks, Webhooks

__all__ = ["Client", "AsyncClient"]


class Client(SyncAPIClient):
    """A synchronous EDM API client.

    ``base_url`` is the server's root (``http://127.0.0.1:8000``) and
    ``token`` a bearer JWT; each falls back to ``EDM_BASE_URL`` /
    ``EDM_TOKEN``.  ``timeout`` (seconds or an ``httpx.Timeout``) and
    ``max_retries`` apply to every call; ``http_client`` lets you bring your
    own ``httpx.Client`` (proxies, custom transports, mTLS); it stays yours
    to close.  ``default_headers`` are sent with every request.

        client = edm.Client(token=token, max_retries=5)
        for account in client.customer.accounts.list(q="acme"):
            ...
    """

    def __init__(
        self,
        base_url: str | None = None,
        token: str | None = None,
        *,
        timeout: Timeout = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        http_client: httpx.Client | None = None,
        default_headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(
            base_url,
            token,
            timeout=timeout,
            max_retries=max_retries,
            http_client=http_client,
            default_headers=default_headers,
        )

    @cached_property
    def customer(self) -> Customer:
        """The customer domain: ``client.customer.accounts``."""
        return Customer(self)

    @cached_property
    def webhooks(self) -> Webhooks:
        """Webhook endpoints and their delivery log: ``client.webhooks`` (the ``crm.admin`` scope)."""
        return Webhooks(self)

    def with_options(
        self,
        *,
        token: str | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,
        max_retries: int | None = None,
        default_headers: Mapping[str, str] | None = None,
    ) -> Client:
        """A copy with some settings changed, sharing this client's connection pool::

            client.with_options(max_retries=0).customer.accounts.get(account_id)
        """
        return Client(
            self.base_url,
            token or self.token,
            timeout=self.timeout if isinstance(timeout, NotGiven) else timeout,
            max_retries=self.max_retries if max_retries is None else max_retries,
            http_client=self._client,
            default_headers={**self._custom_headers, **(default_headers or {})},
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client(base_url={self.base_url!r})"


class AsyncClient(AsyncAPIClient):
    """The asynchronous twin of ``Client``: the same arguments and resources, awaited.

        async with edm.AsyncClient(base_url, token) as client:
            account = await client.customer.accounts.create(name="Globex")
            async for account in client.customer.accounts.list():
                ...
    """

    def __init__(
        self,
        base_url: str | None = None,
        token: str | None = None,
        *,
        timeout: Timeout = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        http_client: httpx.AsyncClient | None = None,
        default_headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(
            base_url,
            token,
            timeout=timeout,
            max_retries=max_retries,
            http_client=http_client,
            default_headers=default_headers,
        )

    @cached_property
    def customer(self) -> AsyncCustomer:
        """The customer domain: ``client.customer.accounts``."""
        return AsyncCustomer(self)

    @cached_property
    def webhooks(self) -> AsyncWebhooks:
        """Webhook endpoints and their delivery log: ``client.webhooks`` (the ``crm.admin`` scope)."""
        return AsyncWebhooks(self)

    def with_options(
        self,
        *,
        token: str | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,
        max_retries: int | None = None,
        default_headers: Mapping[str, str] | None = None,
    ) -> AsyncClient:
        """A copy with some settings changed, sharing this client's connection pool."""
        return AsyncClient(
            self.base_url,
            token or self.token,
            timeout=self.timeout if isinstance(timeout, NotGiven) else timeout,
            max_retries=self.max_retries if max_retries is None else max_retries,
            http_client=self._client,
            default_headers={**self._custom_headers, **(default_headers or {})},
        )

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"AsyncClient(base_url={self.base_url!r})"
