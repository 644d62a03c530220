"""The OpenAPI 3.1 document, generated from route declarations and the error tree.

Each documented ``Route`` carries a ``Doc``; ``build_document`` turns them
into ``paths`` (operations grouped by path template, in declaration order),
adds the error responses every route may answer, and generates the
``components.responses`` from the ``APIError`` classes (status, code,
description, headers), so a new error class or route shows up here without
a hand edit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from edm.kit.errors import APIError
from edm.kit.web.routing import Route

__all__ = [
    "HEADERS",
    "response_headers",
    "json_response",
    "header_parameter",
    "query_parameter",
    "problem_schema",
    "error_classes",
    "build_document",
    "ALWAYS",
]

# Errors any route under /api/v1/crm/ may answer (bad headers, token, scope, rate limit, bugs, the database).
ALWAYS = (400, 401, 403, 429, 500, 503)
# Headers on every answer under /api/v1/crm/, success or error (kit.ratelimit).
RATE_LIMIT_HEADERS = ("RateLimit-Policy", "RateLimit")

HEADERS: dict[str, dict[str, Any]] = {
    "X-Request-Id": {
        "description": "This request's id (the client's when sane).",
        "required": True,
        "schema": {"type": "string", "minLength": 1},
    },
    "ETag": {
        "description": 'The record\'s version as a strong tag: `"<version>"`.',
        "required": True,
        "schema": {"type": "string", "pattern": '^"[0-9]+"$'},
    },
    "Location": {
        "description": "The new record's URL.",
        "required": True,
        "schema": {"type": "string", "pattern": "^/api/v1/crm/[a-z_]+/[a-z]+_[0-7][0-9A-HJKMNP-TV-Z]{25}$"},
    },
    "Idempotent-Replayed": {
        "description": "Present on a replayed response.",
        "required": False,
        "schema": {"type": "string", "enum": ["true"]},
    },
    "WWW-Authenticate": {
        "description": "`Bearer` with `error` and `error_description`.",
        "required": True,
        "schema": {"type": "string", "pattern": "^Bearer"},
    },
    "WWW-Authenticate-Scope": {
        "description": '`Bearer error="insufficient_scope", scope="…"` when a scope is missing.',
        "required": False,
        "schema": {"type": "string", "pattern": "^Bearer"},
    },
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "required": False,
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    },
    "RateLimit-Policy": {
        "description": "On every answer under `/api/v1/crm/` (draft-ietf-httpapi-ratelimit-headers): the caller's "
        "bucket (`tenant`, `app` or `address`) holds `q` requests and refills completely in `w` seconds.",
        "required": False,
        "schema": {"type": "string", "pattern": '^"(tenant|app|address)";q=[0-9]+;w=[0-9]+$'},
    },
    "RateLimit": {
        "description": "On every answer under `/api/v1/crm/`: `r` requests left in the caller's bucket, "
        "full again in `t` seconds (on a 429: `r=0` and `t` is `Retry-After`).",
        "required": False,
        "schema": {"type": "string", "pattern": '^"(tenant|app|address)";r=[0-9]+;t=[0-9]+$'},
    },
    "Allow": {"description": "The methods this path takes.", "required": True, "schema": {"type": "string"}},
    "Accept-Patch": {
        "description": "On a 415 to a PATCH: the media types an update takes.",
        "required": False,
        "schema": {"type": "string"},
    },
    "Cache-Control": {
        "description": "`no-store` on every answer of an authenticated route (tenant data, or an error about it).",
        "required": False,
        "schema": {"type": "string", "enum": ["no-store"]},
    },
}

# The component name of the error responses, by status.
_RESPONSE_NAMES = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    412: "PreconditionFailed",
    413: "PayloadTooLarge",
    415: "UnsupportedMediaType",
    422: "UnprocessableContent",
    428: "PreconditionRequired",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
}


def response_headers(*names: str) -> dict[str, Any]:
    """References to the documented response headers (``X-Request-Id`` always)."""
    out = {"X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}}
    for name in names:
        wire = "WWW-Authenticate" if name == "WWW-Authenticate-Scope" else name
        out[wire] = {"$ref": f"#/components/headers/{name}"}
    return out


def json_response(ref: str, description: str, *headers: str) -> dict[str, Any]:
    return {
        "description": description,
        "headers": response_headers(*headers),
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}},
    }


def header_parameter(name: str, schema: Mapping[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "header", "required": False, "description": description, "schema": dict(schema)}


def query_parameter(name: str, schema: Mapping[str, Any], description: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": dict(schema), **extra}


def error_classes() -> list[type[APIError]]:
    """Every error the API can answer with, the root (500) first, in tree order."""
    found: list[type[APIError]] = []

    def walk(cls: type[APIError]) -> None:
        found.append(cls)
        for sub in cls.__subclasses__():
            walk(sub)

    walk(APIError)
    return found


def problem_schema(extra_properties: Mapping[str, Any] | None = None) -> dict[str, Any]:
    codes = ", ".join(dict.fromkeys(cls.code for cls in sorted(error_classes(), key=lambda c: (c.status == 500, c.status))))
    return {
        "type": "object",
        "description": f"An RFC 9457 problem. `code` is stable and machine-readable: {codes}.",
        "required": ["type", "title", "status", "detail", "code", "request_id", "errors"],
        "properties": {
            "type": {"type": "string", "description": "`urn:edm:problem:<code>`."},
            "title": {"type": "string"},
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "detail": {"type": "string"},
            "code": {"type": "string"},
            "request_id": {"type": ["string", "null"], "description": "The `X-Request-Id` of the response."},
            "errors": {
                "type": "array",
                "description": "One entry per bad field, parameter or header.",
                "items": {
                    "type": "object",
                    "required": ["field", "message"],
                    "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                },
            },
            "current_version": {"type": "integer", "description": "On 409 and 412: the record's current version."},
            **(extra_properties or {}),
        },
    }


def _error_responses() -> dict[str, Any]:
    by_status: dict[int, list[type[APIError]]] = {}
    for cls in error_classes():
        by_status.setdefault(cls.status, []).append(cls)
    responses = {}
    for status in sorted(by_status):
        classes = by_status[status]
        headers = dict.fromkeys(h for cls in classes for h in cls.documented_headers)
        if len(classes) == 1:
            description = f"`{classes[0].code}`: {classes[0].description}."
        else:
            described = [f"`{cls.code}` ({cls.description})" for cls in classes]
            description = ", ".join(described[:-1]) + " or " + described[-1] + "."
        responses[_RESPONSE_NAMES[status]] = {
            "description": description,
            "headers": response_headers(*headers, "Cache-Control", *RATE_LIMIT_HEADERS),
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
    return responses


def _errors(route: Route) -> dict[str, Any]:
    assert route.doc is not None
    statuses = {*ALWAYS, *(cls.status for cls in route.doc.errors)}
    return {str(s): {"$ref": f"#/components/responses/{_RESPONSE_NAMES[s]}"} for s in sorted(statuses)}


def _operation(route: Route) -> dict[str, Any]:
    doc = route.doc
    assert doc is not None
    scopes = doc.methods[0].scopes if doc.methods else route.scopes
    operation: dict[str, Any] = {
        "operationId": doc.operation_id,
        "tags": [doc.tag],
        "summary": doc.summary,
        "description": doc.description,
        "security": [] if route.public else [{"bearer": list(scopes)}],
    }
    if doc.methods:
        operation["x-sdk-methods"] = [m.sdk for m in doc.methods]
        operation["x-scopes"] = sorted({s for m in doc.methods for s in m.scopes})
    if doc.parameters:
        operation["parameters"] = [dict(p) for p in doc.parameters]
    if doc.request_body is not None:
        operation["requestBody"] = dict(doc.request_body)
    responses = {status: dict(response) for status, response in doc.responses.items()}
    if not route.public:
        for response in responses.values():
            response["headers"] = {
                **response.get("headers", {}),
                **response_headers("Cache-Control", *RATE_LIMIT_HEADERS),
            }
    if route.public:
        responses["500"] = {"$ref": "#/components/responses/InternalError"}
    else:
        responses |= _errors(route)
    operation["responses"] = responses
    return operation


def _paths(routes: Iterable[Route]) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for route in routes:
        if route.doc is None:
            continue
        item = paths.setdefault(route.path, {})
        if route.doc.path_parameters and "parameters" not in item:
            item["parameters"] = [dict(p) for p in route.doc.path_parameters]
        item[route.method.lower()] = _operation(route)
    return paths


def build_document(
    routes: Sequence[Route],
    *,
    info: Mapping[str, Any],
    tags: Sequence[Mapping[str, Any]],
    schemas: Mapping[str, Any],
    security_scheme: Mapping[str, Any],
) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": dict(info),
        "servers": [{"url": "/", "description": "The server that serves this document"}],
        "tags": [dict(t) for t in tags],
        "security": [{"bearer": []}],
        "paths": _paths(routes),
        "components": {
            "schemas": {**schemas, "Problem": problem_schema()},
            "headers": HEADERS,
            "responses": _error_responses(),
            "securitySchemes": {"bearer": dict(security_scheme)},
        },
    }
