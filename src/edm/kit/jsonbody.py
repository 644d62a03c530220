"""Reading a JSON object from a request body: 415, 413 and 400 rules of docs/errors.md (and no repeated keys)."""

from __future__ import annotations

import json
import re
from typing import Any

import orjson
from starlette.requests import Request

from edm.kit.errors import FieldError, MalformedJSON, UnsupportedMediaType

__all__ = ["MAX_BODY_BYTES", "read_json_object", "decode_json_object"]

MAX_BODY_BYTES = 1024 * 1024
_LONG_DIGITS = re.compile(rb"\d{19}")
JSON = ("application/json",)
JSON_OR_MERGE_PATCH = ("application/json", "application/merge-patch+json")


async def read_json_object(request: Request, media_types: tuple[str, ...] = JSON) -> dict[str, Any]:
    content_type = request.headers.get("content-type", "")
    if content_type.split(";", 1)[0].strip().lower() not in media_types:
        # RFC 5789: a 415 to a PATCH says which patch documents the resource takes
        headers = {"Accept-Patch": ", ".join(media_types)} if request.method == "PATCH" else None
        raise UnsupportedMediaType(f"Content-Type must be {' or '.join(media_types)}", headers=headers)
    # the body-size middleware stops a body over MAX_BODY_BYTES with a 413
    return decode_json_object(await request.body())


def decode_json_object(body: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        value = _decode_strictly_but_slowly(body)
    else:
        # orjson reads integers past 64 bits as doubles, silently losing
        # digits; re-read exactly so validation can refuse them.  It also keeps
        # the last of a repeated key silently: the standard library's scanner
        # (C, about 5 µs for a 1 KiB body) reads it again to refuse that.
        strict = _decode_strictly_but_slowly(body)
        if _LONG_DIGITS.search(body):
            value = strict
    if not isinstance(value, dict):
        raise MalformedJSON("the body must be a JSON object")
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


class _RepeatedKey(Exception):
    pass


def _object_of_unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) != len(pairs):
        raise _RepeatedKey
    return value


_STRICT = json.JSONDecoder(object_pairs_hook=_object_of_unique_keys, parse_constant=_reject_constant)


def _decode_strictly_but_slowly(body: bytes) -> Any:
    """The standard library's decoder: refuses repeated keys, and reads what orjson refuses but is still JSON.

    orjson rejects lone-surrogate escapes (``"\\ud800"``) and numbers beyond a
    double; both are valid JSON syntax, so they should reach validation and get
    a 422 naming the field rather than a 400.
    """
    try:
        text = body.decode("utf-8")
        return _STRICT.decode(text)
    except _RepeatedKey:
        raise _repeated_key_error(text) from None
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise MalformedJSON("the body is not valid JSON") from None


def _repeated_key_error(text: str) -> MalformedJSON:
    """The 400 naming where a key repeats (an error path: it may be slow)."""
    try:
        path = _find_repeated_key(json.loads(text, object_pairs_hook=_Pairs))
    except RecursionError:
        path = None
    if path is None:
        return MalformedJSON("the body repeats a key within one object")
    return MalformedJSON(f"duplicate key: {path}", errors=[FieldError(path, "appears more than once in its object")])


class _Pairs(list[tuple[str, Any]]):
    """A JSON object as read, repeated keys and all."""


def _find_repeated_key(value: Any, path: str = "") -> str | None:
    """Where the first repeated key is (``custom_fields.tier``, ``addresses[0].city``), in document order."""
    if isinstance(value, _Pairs):
        seen: set[str] = set()
        for key, item in value:
            here = f"{path}.{key}" if path else key
            if key in seen:
                return here
            seen.add(key)
            found = _find_repeated_key(item, here)
            if found:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _find_repeated_key(item, f"{path}[{index}]")
            if found:
                return found
    return None
