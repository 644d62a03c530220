"""``client.webhooks``: subscribe URLs to change events, and read and replay their delivery log.

Hand-written (webhooks are not records of the engine, so the generator does not
write them), in the shape of the generated resources: ids positional,
everything else keyword-only, ``extra_headers=`` and ``timeout=`` on every call,
requests built by ``edm.sdk.resources._resource``::

    endpoint = client.webhooks.create(url="https://example.com/hooks", events=["account.created"])
    save(endpoint.secret)  # shown this once: verify deliveries with edm.webhooks.verify
    for delivery in client.webhooks.deliveries(endpoint.id):
        print(delivery.event_type, delivery.status)
    client.webhooks.update(endpoint.id, enabled=True)  # re-enable a disabled endpoint

Every call needs a token with the ``crm.admin`` scope (docs/webhooks.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Optional

from edm.sdk._types import NOT_GIVEN, NotGiven, Timeout
from edm.sdk.pagination import AsyncPaginator, SyncPage
from edm.sdk.resources._resource import AsyncAPIResource, SyncAPIResource, build_path
from edm.sdk.types.webhook import WebhookDelivery, WebhookEndpoint

__all__ = ["Webhooks", "AsyncWebhooks", "PATH", "ITEM_PATH"]

PATH = "/api/v1/crm/webhooks"
ITEM_PATH = PATH + "/{endpoint_id}"
DELIVERIES_PATH = ITEM_PATH + "/deliveries"
REPLAY_PATH = DELIVERIES_PATH + "/{delivery_id}/replay"
# The record lists' options, which these lists do not take.
_NO_RECORD_OPTIONS: dict[str, Any] = dict.fromkeys(("sort", "filter", "q", "fields", "include_deleted", "include_total"))


def _subscription(url: Any, events: Any, description: Any, enabled: Any = NOT_GIVEN) -> dict[str, Any]:
    events = events if isinstance(events, NotGiven) else list(events)
    return {"url": url, "events": events, "description": description, "enabled": enabled}


class Webhooks(SyncAPIResource):
    """Webhook endpoints (``/api/v1/crm/webhooks``): ``client.webhooks``."""

    def create(
        self,
        *,
        url: str,
        events: Sequence[str],
        description: Optional[str] | NotGiven = NOT_GIVEN,
        idempotency_key: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,
    ) -> WebhookEndpoint:
        """Subscribe ``url`` (``https``, on a public host) to ``events`` (``["account.created", …]`` or
        ``["*"]``); the answer's ``secret`` is shown this once."""
        return self._post(
            PATH,
            cast_to=WebhookEndpoint,
            body=_subscription(url, events, description),
            idempotency_key=idempotency_key,
            extra_headers=extra_headers,
            timeout=timeout,
        )

    def list(
        self,
        *,
        limit: int | None = None,
        cursor: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,
    ) -> SyncPage[WebhookEndpoint]:
        """The endpoints, oldest first (without secrets); iterate the result to walk every page."""
        params = {"limit": limit, **_NO_RECORD_OPTIONS}
        return self._get_api_list(
            PATH, model=WebhookEndpoint, params=params, cursor=cursor, extra_headers=extra_headers, timeout=timeout
        )

    def get(
        self,
        endpoint_id: str,
        *,
        extra_headers: Mapping[str, str] | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,
    ) -> WebhookEndpoint:
        """One endpoint: ``status`` and ``disabled_reason`` say whether it still receives events."""
        path = build_path(ITEM_PATH, endpoint_id=endpoint_id)
        return self._get(path, cast_to=WebhookEndpoint, extra_headers=extra_headers, timeout=timeout)

    def update(
        self,
        endpoint_id: str,
        *,
        url: str | NotGiven = NOT_GIVEN,
        events: Sequence[str] | NotGiven = NOT_GIVEN,
        description: Optional[str] | NotGiven = NOT_GIVEN,
        enabled: bool | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,
    ) -> WebhookEndpoint:
        """Change what is given; ``enabled=True`` re-enables a disabled endpoint, ``False`` pauses it."""
        return self._patch(
            build_path(ITEM_PATH, endpoint_id=endpoint_id),
            cast_to=WebhookEndpoint,
            body=_subscription(url, events, description, enabled),
            extra_headers=extra_headers,
            timeout=timeout,
        )

    def delete(
        self,
        endpoint_id: str,
        *,
        extra_headers: Mapping[str, str] | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,
    ) -> None:
        """Delete the endpoint and its delivery log."""
        self._delete(build_path(ITEM_PATH, endpoint_id=endpoint_id), extra_headers=extra_headers, timeout=timeout)

    def deliveries(
        self,
        endpoint_id: str,
        *,
        limit: int | None = None,
        cursor: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,
    ) -> SyncPage[WebhookDelivery]:
        """The endpoint's delivery log, newest first; iterate the result to walk every page."""
        return self._get_api_list(
            build_path(DELIVERIES_PATH, endpoint_id=endpoint_id),
            model=WebhookDelivery,
            params={"limit": limit, **_NO_RECORD_OPTIONS},
            cursor=cursor,
            extra_headers=extra_headers,
            timeout=timeout,
        )

    def replay(
        self,
        endpoint_id: str,
        delivery_id: str,
        *,
        extra_headers: Mapping[str, str] | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,
    ) -> WebhookDelivery:
        """Send the delivery again soon, with the same ``webhook-id`` (``ConflictError`` if the endpoint is disabled)."""
        return self._post(
            build_path(REPLAY_PATH, endpoint_id=endpoint_id, delivery_id=delivery_id),
            cast_to=WebhookDelivery,
            extra_headers=extra_headers,
            timeout=timeout,
        )


class AsyncWebhooks(AsyncAPIResource):
    """``client.webhooks`` of an ``AsyncClient``: the same methods, awaited (lists: ``async for``)."""

    async def create(
        self,
        *,
        url: str,
        events: Sequence[str],
        description: Optional[str] | NotGiven = NOT_GIVEN,
        idempotency_key: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,
    ) -> WebhookEndpoint:
        """See ``Webhooks.create``."""
        return await self._post(
            PATH,
            cast_to=WebhookEndpoint,
            body=_subscription(url, events, description),
            idempotency_key=idempotency_key,
            extra_headers=extra_headers,
            timeout=timeout,
        )

    def list(
        self,
        *,
        limit: int | None = None,
        cursor: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,
    ) -> AsyncPaginator[WebhookEndpoint]:
        """See ``Webhooks.list``."""
        params = {"limit": limit, **_NO_RECORD_OPTIONS}
        return self._get_api_list(
            PATH, model=WebhookEndpoint, params=params, cursor=cursor, extra_headers=extra_headers, timeout=timeout
        )

    async def get(
        self,
        endpoint_id: str,
        *,
        extra_headers: Mapping[str, str] | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,
    ) -> WebhookEndpoint:
        """See ``Webhooks.get``."""
        path = build_path(ITEM_PATH, endpoint_id=endpoint_id)
        return await self._get(path, cast_to=WebhookEndpoint, extra_headers=extra_headers, timeout=timeout)

    async def update(
        self,
        endpoint_id: str,
        *,
        url: str | NotGiven = NOT_GIVEN,
        events: Sequence[str] | NotGiven = NOT_GIVEN,
        description: Optional[str] | NotGiven = NOT_GIVEN,
        enabled: bool | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,
    ) -> WebhookEndpoint:
        """See ``Webhooks.update``."""
        return await self._patch(
            build_path(ITEM_PATH, endpoint_id=endpoint_id),
            cast_to=WebhookEndpoint,
            body=_subscription(url, events, description, enabled),
            extra_headers=extra_headers,
            timeout=timeout,
        )

    async def delete(
        self,
        endpoint_id: str,
        *,
        extra_headers: Mapping[str, str] | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,
    ) -> None:
        """See ``Webhooks.delete``."""
        await self._delete(build_path(ITEM_PATH, endpoint_id=endpoint_id), extra_headers=extra_headers, timeout=timeout)

    def deliveries(
        self,
        endpoint_id: str,
        *,
        limit: int | None = None,
        cursor: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,
    ) -> AsyncPaginator[WebhookDelivery]:
        """See ``Webhooks.deliveries``."""
        return self._get_api_list(
            build_path(DELIVERIES_PATH, endpoint_id=endpoint_id),
            model=WebhookDelivery,
            params={"limit": limit, **_NO_RECORD_OPTIONS},
            cursor=cursor,
            extra_headers=extra_headers,
            timeout=timeout,
        )

    async def replay(
        self,
        endpoint_id: str,
        delivery_id: str,
        *,
        extra_headers: Mapping[str, str] | None = None,
        timeout: Timeout | NotGiven = NOT_GIVEN,
    ) -> WebhookDelivery:
        """See ``Webhooks.replay``."""
        return await self._post(
            build_path(REPLAY_PATH, endpoint_id=endpoint_id, delivery_id=delivery_id),
            cast_to=WebhookDelivery,
            extra_headers=extra_headers,
            timeout=timeout,
        )
