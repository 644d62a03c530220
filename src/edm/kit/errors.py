"""Every error the API can answer with, as one exception family.

Services and routes raise these; ``edm.server.problems`` renders them once as
``application/problem+json`` (RFC 9457)::

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
    └── ServiceUnavailable          503   service_unavailable
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
    "ServiceUnavailable",
]


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    message: str


class APIError(Exception):
    status: int = 500
    code: str = "internal_error"
    title: str = "Internal server error"

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


class MalformedJSON(BadRequest):
    code, title = "malformed_json", "Malformed JSON"


class InvalidParameter(BadRequest):
    code, title = "invalid_parameter", "Invalid query parameter"


class Unauthorized(APIError):
    status, code, title = 401, "unauthorized", "Unauthorized"

    def __init__(self, detail: str | None = None, **kw: Any) -> None:
        super().__init__(detail, **kw)
        # header values are Latin-1 on the wire: keep the description plain ASCII
        description = self.detail.encode("ascii", "replace").decode().replace('"', "'")
        self.headers.setdefault(
            "WWW-Authenticate", f'Bearer error="invalid_token", error_description="{description}"'
        )


class Forbidden(APIError):
    status, code, title = 403, "forbidden", "Forbidden"


class NotFound(APIError):
    status, code, title = 404, "not_found", "Not found"


class MethodNotAllowed(APIError):
    status, code, title = 405, "method_not_allowed", "Method not allowed"


class VersionConflict(APIError):
    """The body's ``version`` is not the record's; ``current_version`` says what is."""

    status, code, title = 409, "version_conflict", "Version conflict"


class Conflict(APIError):
    status, code, title = 409, "conflict", "Conflict"


class PreconditionFailed(APIError):
    status, code, title = 412, "precondition_failed", "Precondition failed"


class PayloadTooLarge(APIError):
    status, code, title = 413, "payload_too_large", "Payload too large"


class UnsupportedMediaType(APIError):
    status, code, title = 415, "unsupported_media_type", "Unsupported media type"


class ValidationFailed(APIError):
    status, code, title = 422, "validation_error", "Validation failed"


class PreconditionRequired(APIError):
    status, code, title = 428, "precondition_required", "Precondition required"


class ServiceUnavailable(APIError):
    status, code, title = 503, "service_unavailable", "Service unavailable"
