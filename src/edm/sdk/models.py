"""The SDK's models, re-exported here for compatibility.

``Account``, ``Address`` and the argument types are generated from the API
manifest into ``edm.sdk.types`` (``python -m edm.codegen``); ``BaseRecord``
and ``UTCDateTime`` are hand-written in ``edm.sdk._models``.

    account = client.customer.accounts.get("acc_01J…")
    account.created_at      # datetime.datetime, UTC
    account.addresses[0].city
    account.model_dump(mode="json")
"""

from __future__ import annotations

from typing import Any

from edm.sdk._models import BaseRecord, UTCDateTime
from edm.sdk.types import Account, Address, AddressParam, AddressType, SourceType

__all__ = ["BaseRecord", "Address", "Account", "AddressParam", "SourceType", "AddressType", "ACCOUNT_FIELD_TYPES"]

# The Python type of each field kind of the manifest, as the SDK's models hold it
# (``edm.codegen.sdk.KINDS`` writes them; a test keeps the two in step).
ACCOUNT_FIELD_TYPES: dict[str, Any] = {
    "id": str,
    "string": str,
    "enum": str,
    "boolean": bool,
    "integer": int,
    "number": float,
    "date-time": UTCDateTime,
    "addresses": list[Address],
    "custom_fields": dict[str, Any],
    "tags": list[str],
}
