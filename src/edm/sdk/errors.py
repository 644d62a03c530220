"""The SDK's exceptions: one family, keyed on HTTP status.

Every error the SDK raises derives from ``EDMError``::

    EDMError                              bad configuration (no base URL, no token)
    └── APIError                          anything that went wrong talking to the API
        ├── APIConnectionError            no HTTP response: refused, reset, DNS, TLS …
        │   └── APITimeoutError           the request timed out
        └── APIStatusError                the API answered 4xx/5xx (problem+json)
            ├── BadRequestError           400
            ├── AuthenticationError       401
            ├── PermissionDeniedError     403
            ├── NotFoundError             404
            ├── ConflictError             409
            ├── PreconditionFailedError   412
            ├── UnprocessableEntityError  422
            ├── PreconditionRequiredError 428
            ├── RateLimitError            429
            └── InternalServerError       5xx

Other statuses (405, 413, 415 …) raise ``APIStatusError`` itself.  An
``APIStatusError`` carries what the server's RFC 9457 body says::

    try:
        client.customer.accounts.update(account_id, name="Globex", if_version=3)
    except edm.PreconditionFailedError as e:
        print(e.status_code, e.code, e.request_id, e.current_version)
    except edm.UnprocessableEntityError as e:
        for error in e.errors:
            print(error.field, error.message)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

__all__ = [
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
    "make_status_error",
]


class EDMError(Exception):
    """The root of every exception the SDK raises."""


class APIError(EDMError):
    """A request failed; ``request`` is the ``httpx.Request`` that was sent."""

    message: str
    request: httpx.Request

    def __init__(self, message: str, request: httpx.Request) -> None:
        super().__init__(message)
        self.message = message
        self.request = request


class APIConnectionError(APIError):
    """No HTTP response arrived (after all retries)."""

    def __init__(self, request: httpx.Request, message: str = "Connection error.") -> None:
        super().__init__(message, request)


class APITimeoutError(APIConnectionError):
    """The request timed out (after all retries)."""

    def __init__(self, request: httpx.Request) -> None:
        super().__init__(request, "Request timed out.")


@dataclass(frozen=True, slots=True)
class ErrorDetail:
    """One entry of a problem's ``errors``: which field, and what is wrong with it."""

    field: str
    message: str


class APIStatusError(APIError):
    """The API answered with a 4xx or 5xx status.

    Attributes: ``status_code``, ``request_id`` (the ``X-Request-Id`` to quote
    in a support request), ``code`` (the stable machine code, e.g.
    ``"not_found"``), ``detail``, ``errors`` (a list of ``ErrorDetail``),
    ``current_version`` (on version conflicts), ``body`` (the decoded body,
    or its text when it was not JSON) and ``response``.
    """

    status_code: int
    request_id: str | None
    code: str | None
    detail: str | None
    errors: list[ErrorDetail]
    current_version: int | None
    body: Any
    response: httpx.Response

    def __init__(self, message: str, *, response: httpx.Response, body: Any) -> None:
        super().__init__(message, response.request)
        self.response = response
        self.status_code = response.status_code
        self.body = body
        problem = body if isinstance(body, dict) else {}
        self.request_id = problem.get("request_id") or response.headers.get("x-request-id")
        self.code = problem.get("code")
        self.detail = problem.get("detail")
        self.errors = [
            ErrorDetail(str(e.get("field", "")), str(e.get("message", "")))
            for e in problem.get("errors") or ()
            if isinstance(e, dict)
        ]
        current = problem.get("current_version")
        self.current_version = current if isinstance(current, int) else None


class BadRequestError(APIStatusError):
    """400: a malformed request or query parameter (``errors`` names it)."""


class AuthenticationError(APIStatusError):
    """401: the token is missing, malformed, expired or badly signed."""


class PermissionDeniedError(APIStatusError):
    """403: the token lacks the scope this operation needs."""


class NotFoundError(APIStatusError):
    """404: no such record visible to this caller (another tenant's or app's looks the same)."""


class ConflictError(APIStatusError):
    """409: a body ``version`` conflict, a restore of a live record, an idempotent request in flight."""


class PreconditionFailedError(APIStatusError):
    """412: ``if_version`` did not match; ``current_version`` says what the record is at."""


class UnprocessableEntityError(APIStatusError):
    """422: the body failed validation; ``errors`` names every bad field."""


class PreconditionRequiredError(APIStatusError):
    """428: the server requires ``if_version`` on this write."""


class RateLimitError(APIStatusError):
    """429: too many requests (raised once the retries are spent)."""


class InternalServerError(APIStatusError):
    """5xx: the server failed or is unavailable (raised once retries are spent, for 502/503/504)."""


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    412: PreconditionFailedError,
    422: UnprocessableEntityError,
    428: PreconditionRequiredError,
    429: RateLimitError,
}


def make_status_error(response: httpx.Response) -> APIStatusError:
    """The exception for an error response (its body already read)."""
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text or None
    status = response.status_code
    cls = _BY_STATUS.get(status) or (InternalServerError if status >= 500 else APIStatusError)
    message = f"Error code: {status}"
    if isinstance(body, dict):
        summary = " - ".join(str(body[k]) for k in ("code", "detail") if body.get(k))
        if summary:
            message += f" - {summary}"
        request_id = body.get("request_id") or response.headers.get("x-request-id")
    else:
        if body:
            message += f" - {str(body)[:200]}"
        request_id = response.headers.get("x-request-id")
    if request_id:
        message += f" (request_id: {request_id})"
    return cls(message, response=response, body=body)
