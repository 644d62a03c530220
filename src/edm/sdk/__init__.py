"""The EDM Python SDK: a typed client for the CRM API.

    import edm

    client = edm.Client("http://127.0.0.1:8000", token)      # or EDM_BASE_URL / EDM_TOKEN
    account = client.customer.accounts.create(name="Globex", tags=["b2b"])
    account = client.customer.accounts.update(account.id, industry=None, if_version=account.version)
    for a in client.customer.accounts.list(filter={"tags": "b2b"}, sort="name"):
        print(a.id, a.name)

Layout: ``_client`` (Client, AsyncClient) → ``resources/customer/accounts``
(the methods) → ``resources/_resource`` (request building) → ``_base_client``
(requests, retries) → ``errors``; ``types`` (the models) and ``pagination``
are what calls return.  ``types/`` and ``resources/`` are generated from the
API manifest by ``python -m edm.codegen``; the SDK imports nothing of the server.
"""

from __future__ import annotations

from edm.sdk import webhooks
from edm.sdk._client import AsyncClient, Client
from edm.sdk._types import NOT_GIVEN, NotGiven
from edm.sdk.errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    EDMError,
    ErrorDetail,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    PreconditionFailedError,
    PreconditionRequiredError,
    RateLimitError,
    UnprocessableEntityError,
)
from edm.sdk.pagination import AsyncEventStream, AsyncPage, AsyncPaginator, EventStream, SyncPage
from edm.sdk.types import Account, AccountEvent, AccountHistoryEntry, Address
from edm.sdk.types.webhook import WebhookAttempt, WebhookDelivery, WebhookEndpoint

__all__ = [
    "Client",
    "AsyncClient",
    "NOT_GIVEN",
    "NotGiven",
    "Account",
    "AccountEvent",
    "AccountHistoryEntry",
    "Address",
    "WebhookEndpoint",
    "WebhookDelivery",
    "WebhookAttempt",
    "SyncPage",
    "AsyncPage",
    "AsyncPaginator",
    "EventStream",
    "AsyncEventStream",
    "EDMError",
    "APIError",
    "APIConnectionError",
    "APITimeoutError",
    "APIStatusError",
    "BadRequestError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "ConflictError",
    "PreconditionFailedError",
    "UnprocessableEntityError",
    "PreconditionRequiredError",
    "RateLimitError",
    "InternalServerError",
    "ErrorDetail",
    "webhooks",
]
