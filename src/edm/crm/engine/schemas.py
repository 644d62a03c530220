"""Request validation, generated from a resource's field table.

``Validator.create`` and ``Validator.patch`` turn a decoded JSON object into
the values to store, or raise one ``ValidationFailed`` naming every bad
field at once.  The pydantic models are built from the fields; the checks a
model cannot express per field (custom field keys, tag de-duplication) follow
in plain code with the same error shape.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import orjson
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, ValidationError, create_model
from pydantic import Field as PydanticField

from edm.crm.engine import formats
from edm.crm.engine.fields import (
    ADDRESS_TYPES,
    CUSTOM_FIELD_KEY_PATTERN,
    MAX_ADDRESSES,
    MAX_CUSTOM_FIELDS,
    MAX_CUSTOM_FIELDS_BYTES,
    MAX_INTEGER,
    MAX_TAG_LENGTH,
    MAX_TAGS,
    Field,
)
from edm.crm.engine.resource import Resource
from edm.kit.errors import FieldError, ValidationFailed

__all__ = ["Validator", "check_custom_fields_total", "Address"]

_KEY = re.compile(CUSTOM_FIELD_KEY_PATTERN)


def _whole_float_to_int(value: Any) -> Any:
    """JSON does not tell 3 from 3.0 (JSON Schema calls both integers): take both."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    return value


def _integer(minimum: int) -> Any:
    return Annotated[int, BeforeValidator(_whole_float_to_int), PydanticField(ge=minimum, le=MAX_INTEGER)]


def _text(max_length: int, *checks: Any) -> Any:
    return Annotated[
        str,
        PydanticField(max_length=max_length),
        AfterValidator(formats.plain_text),
        *(AfterValidator(check) for check in checks),
    ]


class Address(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    type: Literal[ADDRESS_TYPES] | None = None  # type: ignore[valid-type]
    line1: _text(255) | None = None  # type: ignore[valid-type]
    line2: _text(255) | None = None  # type: ignore[valid-type]
    city: _text(255) | None = None  # type: ignore[valid-type]
    region: _text(255) | None = None  # type: ignore[valid-type]
    postal_code: _text(64) | None = None  # type: ignore[valid-type]
    country: _text(2, formats.country) | None = None  # type: ignore[valid-type]


def _annotation(field: Field) -> Any:
    """The pydantic type of one client-writable field."""
    if field.kind in ("string", "id"):
        if field.format is None:
            return _text(field.max_length or 255)
        return _text(field.format.input_max_length or field.max_length or 255, field.format.check)
    if field.kind == "enum":
        assert field.enum
        return Literal[field.enum]  # type: ignore[valid-type]
    if field.kind == "integer":
        return _integer(int(field.bounds[0]))
    if field.kind == "number":
        return Annotated[float, PydanticField(ge=field.bounds[0], allow_inf_nan=False)]
    if field.kind == "date-time":
        return Annotated[str, PydanticField(max_length=64), AfterValidator(formats.rfc3339)]
    if field.kind == "addresses":
        return Annotated[list[Address], PydanticField(max_length=MAX_ADDRESSES)]
    if field.kind in _CHECKED_OUTSIDE:
        return Any  # see _CHECKED_OUTSIDE
    raise AssertionError(f"no validation for field kind {field.kind}")


# Checked in plain code (naming each tag and key), also when other fields fail.
_CHECKED_OUTSIDE = ("tags", "custom_fields")


def _model(name: str, client_fields: tuple[Field, ...], *, create: bool) -> type[BaseModel]:
    definitions: dict[str, Any] = {}
    for field in client_fields:
        annotation = _annotation(field)
        if create and field.required:
            definitions[field.name] = (annotation, ...)
        else:
            definitions[field.name] = (annotation | None, None)
    if not create:
        definitions["version"] = (_integer(1) | None, None)
    return create_model(name, __config__=ConfigDict(extra="forbid", strict=True), **definitions)


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not isinstance(part, str) or part in ("function-after", "list", "literal") or "[" in part:
            continue  # pydantic's own step names inside a location
        else:
            out += f".{part}" if out else part
    return out


def _message(error: Mapping[str, Any]) -> str:
    if error["type"] == "missing":
        return "is required"
    if error["type"] == "extra_forbidden":
        return "is not a known field"
    if error["type"] == "string_unicode":
        return "must not contain unpaired surrogates"
    msg = str(error["msg"])
    return msg.removeprefix("Value error, ")


def _run_model(model: type[BaseModel], body: dict[str, Any], errors: list[FieldError]) -> dict[str, Any]:
    outside = {k: body[k] for k in _CHECKED_OUTSIDE if k in body}
    try:
        validated = model.model_validate({k: v for k, v in body.items() if k not in outside})
    except ValidationError as exc:
        for error in exc.errors(include_url=False, include_input=False):
            errors.append(FieldError(_path(error["loc"]) or "body", _message(error)))
        return outside
    out: dict[str, Any] = dict(outside)
    for key in validated.model_fields_set:
        value = getattr(validated, key)
        if key == "addresses" and value is not None:
            value = [address.model_dump() for address in value]
        out[key] = value
    return out


def _check_tags(value: Any, errors: list[FieldError]) -> list[str] | None:
    if not isinstance(value, list):
        errors.append(FieldError("tags", "must be an array of strings"))
        return None
    seen: dict[str, None] = {}
    for index, tag in enumerate(value):
        if not isinstance(tag, str) or not 1 <= len(tag) <= MAX_TAG_LENGTH:
            errors.append(FieldError(f"tags[{index}]", f"must be a string of 1–{MAX_TAG_LENGTH} characters"))
            return None
        problem = formats.text_problem(tag)
        if problem:
            errors.append(FieldError(f"tags[{index}]", problem))
            return None
        seen.setdefault(tag, None)
    if len(seen) > MAX_TAGS:
        errors.append(FieldError("tags", f"must hold at most {MAX_TAGS} distinct tags"))
        return None
    return list(seen)


def _check_custom_fields(value: Any, errors: list[FieldError], *, patch: bool) -> dict[str, Any]:
    """Per-key checks.  In a patch a null value removes the key; in a create it is left out."""
    if not isinstance(value, dict):
        errors.append(FieldError("custom_fields", "must be an object"))
        return {}
    out: dict[str, Any] = {}
    before = len(errors)
    for key, item in value.items():
        where = f"custom_fields.{key}"
        if not _KEY.fullmatch(key):
            errors.append(FieldError(where, "keys must match ^[a-z][a-z0-9_]{0,63}$"))
            continue
        if item is None:
            if patch:
                out[key] = None
            continue
        problem = (
            next((p for p in map(formats.json_scalar, item) if p), None)
            if isinstance(item, list)
            else formats.json_scalar(item)
        )
        if problem:
            errors.append(FieldError(where, problem + " (values are JSON scalars or arrays of scalars)"))
            continue
        out[key] = item
    if len(errors) == before:
        check_custom_fields_total(out if not patch else {k: v for k, v in out.items() if v is not None}, errors)
    return out


def check_custom_fields_total(value: dict[str, Any], errors: list[FieldError]) -> None:
    """The limits on a whole custom_fields object (also checked after a merge)."""
    if len(value) > MAX_CUSTOM_FIELDS:
        errors.append(FieldError("custom_fields", f"must hold at most {MAX_CUSTOM_FIELDS} keys"))
    elif len(orjson.dumps(value)) > MAX_CUSTOM_FIELDS_BYTES:
        errors.append(FieldError("custom_fields", f"must serialize to at most {MAX_CUSTOM_FIELDS_BYTES} bytes"))


def _finish(values: dict[str, Any], errors: list[FieldError], *, patch: bool) -> dict[str, Any]:
    if values.get("tags") is not None:
        values["tags"] = _check_tags(values["tags"], errors)
    if values.get("custom_fields") is not None:
        values["custom_fields"] = _check_custom_fields(values["custom_fields"], errors, patch=patch)
    if errors:
        names = ", ".join(dict.fromkeys(e.field for e in errors))
        raise ValidationFailed(f"invalid fields: {names}", errors=errors)
    return values


class Validator:
    """Validation of one resource's create bodies and merge patches."""

    def __init__(self, resource: Resource) -> None:
        self._by_name = resource.by_name
        self._server_fields = resource.server_fields
        self._client_fields = resource.client_fields
        self.create_model = _model(f"{resource.title}Create", self._client_fields, create=True)
        self.patch_model = _model(f"{resource.title}Patch", self._client_fields, create=False)

    def _split_known(self, body: dict[str, Any], *, allow_version: bool) -> tuple[dict[str, Any], list[FieldError]]:
        """Drop the keys a client may not send, with an error for each."""
        errors: list[FieldError] = []
        clean: dict[str, Any] = {}
        for key, value in body.items():
            if key == "version" and allow_version:
                clean[key] = value
            elif key in self._server_fields:
                errors.append(FieldError(key, "is written by the server and cannot be set"))
            elif key not in self._by_name:
                errors.append(FieldError(key, "is not a known field"))
            else:
                clean[key] = value
        return clean, errors

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        """Every client field's stored value on a new record (defaults filled in)."""
        clean, errors = self._split_known(body, allow_version=False)
        values = _run_model(self.create_model, clean, errors)
        values = _finish(values, errors, patch=False)
        for field in self._client_fields:
            if values.get(field.name) is None:
                values[field.name] = _default(field)
        return values

    def patch(self, body: dict[str, Any]) -> dict[str, Any]:
        """Only the fields the patch names; null means "clear" (back to the default)."""
        by_name = self._by_name
        clean, errors = self._split_known(body, allow_version=True)
        for key, value in clean.items():
            if value is None and key in by_name and not by_name[key].nullable and by_name[key].default is None:
                errors.append(FieldError(key, "cannot be null"))
        values = _run_model(self.patch_model, {k: v for k, v in clean.items() if v is not None}, errors)
        for key, value in clean.items():
            if value is None and key in by_name:
                values[key] = None
        values = _finish(values, errors, patch=True)
        for key, value in list(values.items()):
            if value is None and key in by_name and key != "custom_fields":
                values[key] = _default(by_name[key])
        return values


def _default(field: Field) -> Any:
    if isinstance(field.default, tuple):
        return list(field.default)
    if isinstance(field.default, dict):
        return dict(field.default)
    return field.default
