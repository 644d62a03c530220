"""Record ids: ``<prefix>_`` + a 26-character Crockford ULID.

The same 128 bits may also be spelled ``<prefix>-<uuid>`` on input; output is
always the canonical ULID form.
"""

from __future__ import annotations

import re
import uuid

from ulid import ULID

__all__ = ["new_id", "parse_id", "parse_user_id"]

_ULID_BODY = re.compile(r"[0-7][0-9A-HJKMNP-TV-Z]{25}")


def new_id(prefix: str) -> str:
    return f"{prefix}_{ULID()}"


def parse_id(prefix: str, value: object) -> str | None:
    """The canonical id for ``value``, or None when it is not an id of this kind."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    if value.startswith(prefix + "_"):
        body = value[len(prefix) + 1 :].upper()
        return f"{prefix}_{body}" if _ULID_BODY.fullmatch(body) else None
    if value.startswith(prefix + "-"):
        try:
            as_uuid = uuid.UUID(value[len(prefix) + 1 :])
        except ValueError:
            return None
        return f"{prefix}_{ULID.from_uuid(as_uuid)}"
    return None


_USER_ID = re.compile(r"usr-([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})")


def parse_user_id(value: str) -> str | None:
    """``usr-<uuid>`` in its canonical lower-case form, or None."""
    match = _USER_ID.fullmatch(value)
    return f"usr-{match.group(1).lower()}" if match else None
