"""The OpenAPI 3.1 document, built once at start-up from the field table."""

from __future__ import annotations

from typing import Any

from edm.crm.accounts.fields import (
    ADDRESS_KEYS,
    ADDRESS_TYPES,
    CLIENT_FIELDS,
    CUSTOM_FIELD_KEY_PATTERN,
    FIELDS,
    MAX_ADDRESSES,
    MAX_CUSTOM_FIELDS,
    MAX_TAG_LENGTH,
    MAX_TAGS,
    Field,
)
from edm.crm.accounts.routes import PREFIX

__all__ = ["build_openapi", "field_schema"]

_SCALAR = {"type": ["string", "number", "integer", "boolean", "null"]}


def field_schema(field: Field) -> dict[str, Any]:
    """The JSON Schema of one field's value (without nullability)."""
    schema: dict[str, Any]
    if field.kind in ("string", "id"):
        schema = {"type": "string"}
        if field.max_length:
            schema["maxLength"] = field.max_length
        if field.kind == "id":
            schema["pattern"] = "^acc[_-]"
        schema |= {
            "url": {"format": "uri"},
            "hostname": {"format": "hostname"},
            "phone": {"pattern": r"^[0-9 +\-().x]*$"},
            "user_id": {"pattern": "^usr-[0-9a-fA-F-]{36}$"},
        }.get(field.format or "", {})
    elif field.kind == "enum":
        schema = {"type": "string", "enum": list(field.enum or ())}
    elif field.kind == "boolean":
        schema = {"type": "boolean"}
    elif field.kind == "integer":
        schema = {"type": "integer", "minimum": 0}
    elif field.kind == "number":
        schema = {"type": "number", "minimum": 0}
    elif field.kind == "date-time":
        schema = {"type": "string", "format": "date-time"}
    elif field.kind == "addresses":
        schema = {"type": "array", "maxItems": MAX_ADDRESSES, "items": {"$ref": "#/components/schemas/Address"}}
    elif field.kind == "tags":
        schema = {"type": "array", "maxItems": MAX_TAGS, "items": {"type": "string", "minLength": 1, "maxLength": MAX_TAG_LENGTH}}
    else:
        schema = {
            "type": "object",
            "maxProperties": MAX_CUSTOM_FIELDS,
            "propertyNames": {"pattern": CUSTOM_FIELD_KEY_PATTERN},
            "additionalProperties": {"anyOf": [_SCALAR, {"type": "array", "items": _SCALAR}]},
        }
    if field.name == "name":
        schema["minLength"] = 1
    return {**schema, "description": field.description}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    kind = schema.get("type")
    if isinstance(kind, str):
        return {**schema, "type": [kind, "null"]}
    return {"anyOf": [schema, {"type": "null"}], "description": schema.get("description", "")}


def _schemas() -> dict[str, Any]:
    account = {
        "type": "object",
        "required": [f.name for f in FIELDS],
        "properties": {f.name: field_schema(f) if f.name in ("name", "id") else _nullable(field_schema(f)) for f in FIELDS},
    }
    create = {
        "type": "object",
        "additionalProperties": False,
        "required": [f.name for f in CLIENT_FIELDS if f.required],
        "properties": {f.name: field_schema(f) if f.required else _nullable(field_schema(f)) for f in CLIENT_FIELDS},
    }
    patch = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            **{f.name: field_schema(f) if not f.nullable else _nullable(field_schema(f)) for f in CLIENT_FIELDS},
            "version": {"type": "integer", "minimum": 1, "description": "Apply only at this version (else 409)."},
        },
    }
    address = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            key: {"type": ["string", "null"], "enum": [*ADDRESS_TYPES, None]} if key == "type" else {"type": ["string", "null"]}
            for key in ADDRESS_KEYS
        },
    }
    problem = {
        "type": "object",
        "required": ["type", "title", "status", "detail", "code", "request_id", "errors"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "code": {"type": "string"},
            "request_id": {"type": ["string", "null"]},
            "errors": {
                "type": "array",
                "items": {"type": "object", "properties": {"field": {"type": "string"}, "message": {"type": "string"}}},
            },
            "current_version": {"type": "integer"},
        },
    }
    return {"Account": account, "AccountCreate": create, "AccountPatch": patch, "Address": address, "Problem": problem}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}


def _ok(status_description: str, with_body: bool = True) -> dict[str, Any]:
    response: dict[str, Any] = {"description": status_description}
    if with_body:
        response["content"] = {"application/json": {"schema": {"$ref": "#/components/schemas/Account"}}}
    return response


_ERRORS = {"401": _problem("Missing or invalid token"), "403": _problem("Missing scope")}
_ID = {"name": "account_id", "in": "path", "required": True, "schema": {"type": "string"}}
_IF_MATCH = {"name": "If-Match", "in": "header", "required": False, "schema": {"type": "string"}}


def build_openapi() -> dict[str, Any]:
    body = lambda ref, media: {"required": True, "content": {m: {"schema": {"$ref": f"#/components/schemas/{ref}"}} for m in media}}  # noqa: E731
    return {
        "openapi": "3.1.0",
        "info": {"title": "EDM CRM API", "version": "1.0.0"},
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
        "security": [{"bearer": []}],
        "paths": {
            PREFIX: {
                "post": {
                    "operationId": "createAccount",
                    "requestBody": body("AccountCreate", ["application/json"]),
                    "responses": {"201": _ok("Created"), **_ERRORS, "413": _problem("Body too large"), "415": _problem("Not JSON"), "422": _problem("Invalid fields")},
                }
            },
            PREFIX + "/{account_id}": {
                "parameters": [_ID],
                "get": {
                    "operationId": "getAccount",
                    "parameters": [{"name": "If-None-Match", "in": "header", "required": False, "schema": {"type": "string"}}],
                    "responses": {"200": _ok("The account"), "304": {"description": "Not modified"}, **_ERRORS, "404": _problem("No such account")},
                },
                "patch": {
                    "operationId": "updateAccount",
                    "parameters": [_IF_MATCH],
                    "requestBody": body("AccountPatch", ["application/json", "application/merge-patch+json"]),
                    "responses": {
                        "200": _ok("Updated"), **_ERRORS, "404": _problem("No such account"), "409": _problem("Version conflict"),
                        "412": _problem("If-Match failed"), "422": _problem("Invalid fields"), "428": _problem("Precondition required"),
                    },
                },
                "delete": {
                    "operationId": "deleteAccount",
                    "parameters": [_IF_MATCH],
                    "responses": {"204": _ok("Deleted", with_body=False), **_ERRORS, "404": _problem("No such account"), "412": _problem("If-Match failed")},
                },
            },
        },
    }
