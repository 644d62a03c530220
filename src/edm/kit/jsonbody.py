"""Reading a JSON object from a request body: 415, 413 and 400 rules of SPEC §3."""

from __future__ import annotations

import json
import re
from typing import Any

import orjson
from starlette.requests import Request

from edm.kit.errors import MalformedJSON, UnsupportedMediaType

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
        if _LONG_DIGITS.search(body):
            # orjson reads integers past 64 bits as doubles, silently losing
            # digits; re-read exactly so validation can refuse them.
            value = _decode_strictly_but_slowly(body)
    if not isinstance(value, dict):
        raise MalformedJSON("the body must be a JSON object")
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _decode_strictly_but_slowly(body: bytes) -> Any:
    """The standard library's decoder, for what orjson refuses but is still JSON.

    orjson rejects lone-surrogate escapes (``"\\ud800"``) and numbers beyond a
    double; both are valid JSON syntax, so they should reach validation and get
    a 422 naming the field rather than a 400.
    """
    try:
        return json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise MalformedJSON("the body is not valid JSON") from None
