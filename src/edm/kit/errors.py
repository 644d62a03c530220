"""Every error the API can answer with, as one exception family.

Services and routes raise these; ``edm.kit.web.problems`` renders them once as
``application/problem+json`` (RFC 9457).  Each class describes itself
(``description``, the ``headers`` it may carry), and routes declare the
classes they raise, so the OpenAPI responses are generated from this tree::

    APIError                      status  code
    ├── BadRequest                  400   bad_request
    │   ├── MalformedJSON           400   malformed_json
    │   └── InvalidParameter        400   invalid_parameter
    ├── Unauthorized                401   unauthorized
    ├── Forbidden                   403   forbidden
    ├── NotFound                    404   not_found
    ├── MethodNotAllowed            405   method_not_allowed
    ├── VersionConflict             409   version_conflict
    ├── Conflict                    409   conflict
    ├── PreconditionFailed          412   precondition_failed
    ├── PayloadTooLarge             413   payload_too_large
    ├── UnsupportedMediaType        415   unsupported_media_type
    ├── ValidationFailed            422   validation_error
    ├── PreconditionRequired        428   precondition_required
    ├── RateLimited                 429   rate_limited
    └── ServiceUnavailable          503   service_unavailable
        └── DatabaseUnavailable     503   database_unavailable
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "FieldError",
    "APIError",
    "BadRequest",
    "MalformedJSON",
    "InvalidParameter",
    "Unauthorized",
    "Forbidden",
    "NotFound",
    "MethodNotAllowed",
    "VersionConflict",
    "Conflict",
    "PreconditionFailed",
    "PayloadTooLarge",
    "UnsupportedMediaType",
    "ValidationFailed",
    "PreconditionRequired",
    "RateLimited",
    "ServiceUnavailable",
    "DatabaseUnavailable",
]


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    message: str


class APIError(Exception):
    status: int = 500
    code: str = "internal_error"
    title: str = "Internal server error"
    description: str = "a bug; the body carries only the request id"  # for the API reference
    documented_headers: tuple[str, ...] = ()  # response headers it carries, by their documented name

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.detail = detail or self.title
        self.errors = errors or []
        self.headers = headers or {}
        self.extra = extra or {}
        super().__init__(self.detail)


class BadRequest(APIError):
    status, code, title = 400, "bad_request", "Bad request"
    description = "a bad header, such as If-Match or Idempotency-Key"


class MalformedJSON(BadRequest):
    code, title = "malformed_json", "Malformed JSON"
    description = "the body is not JSON, not an object, or repeats a key within an object"


class InvalidParameter(BadRequest):
    code, title = "invalid_parameter", "Invalid query parameter"
    description = "an unknown or bad query parameter"


class Unauthorized(APIError):
    status, code, title = 401, "unauthorized", "Unauthorized"
    description = "the token is missing, malformed, badly signed, expired or not yet valid"
    documented_headers = ("WWW-Authenticate",)

    def __init__(self, detail: str | None = None, **kw: Any) -> None:
        super().__init__(detail, **kw)
        # header values are Latin-1 on the wire: keep the description plain ASCII
        description = self.detail.encode("ascii", "replace").decode().replace('"', "'")
        self.headers.setdefault(
            "WWW-Authenticate", f'Bearer error="invalid_token", error_description="{description}"'
        )


class Forbidden(APIError):
    status, code, title = 403, "forbidden", "Forbidden"
    description = "the token lacks a scope this operation needs"
    documented_headers = ("WWW-Authenticate-Scope",)


class NotFound(APIError):
    status, code, title = 404, "not_found", "Not found"
    description = "no such record for this caller; another tenant's or app's answers the same"


class MethodNotAllowed(APIError):
    status, code, title = 405, "method_not_allowed", "Method not allowed"
    description = "the path does not take this method"
    documented_headers = ("Allow",)


class VersionConflict(APIError):
    """The body's ``version`` is not the record's; ``current_version`` says what is."""

    status, code, title = 409, "version_conflict", "Version conflict"
    description = "the body's `version` is not the record's; `current_version` says which"


class Conflict(APIError):
    status, code, title = 409, "conflict", "Conflict"
    description = "restoring a live record"


class PreconditionFailed(APIError):
    status, code, title = 412, "precondition_failed", "Precondition failed"
    description = "If-Match names another version; `current_version` says which"


class PayloadTooLarge(APIError):
    status, code, title = 413, "payload_too_large", "Payload too large"
    description = "the body is over 1048576 bytes"


class UnsupportedMediaType(APIError):
    status, code, title = 415, "unsupported_media_type", "Unsupported media type"
    description = "the body is not JSON"
    documented_headers = ("Accept-Patch",)


class ValidationFailed(APIError):
    status, code, title = 422, "validation_error", "Validation failed"
    description = "names every bad field in `errors`"


class PreconditionRequired(APIError):
    status, code, title = 428, "precondition_required", "Precondition required"
    description = "this server requires If-Match: EDM_REQUIRE_IF_MATCH"


class RateLimited(APIError):
    status, code, title = 429, "rate_limited", "Too many requests"
    description = "the tenant's (an app token's: the app's; without a valid token: the address's) requests are over the rate limit; retry after `Retry-After` seconds"
    documented_headers = ("Retry-After", "RateLimit", "RateLimit-Policy")


class ServiceUnavailable(APIError):
    status, code, title = 503, "service_unavailable", "Service unavailable"
    description = "the key set is unreachable, or the server is stopping; retry"
    documented_headers = ("Retry-After",)


class DatabaseUnavailable(ServiceUnavailable):
    code, title = "database_unavailable", "Database unavailable"
    description = "the database did not answer within the request's deadline (down, frozen, busy or this tenant's share of connections is in use); retry after `Retry-After`"
