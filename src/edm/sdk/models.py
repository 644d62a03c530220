"""Typed records, generated from the field table (``edm.crm.accounts.fields``).

``Account`` has one attribute per entry of ``FIELDS``, so a field added there
appears here too.  Every attribute is optional: a sparse list
(``fields=["name"]``) leaves the others ``None``; ``account.model_fields_set``
tells which keys the server actually sent.  Keys the server sends that this
SDK does not know yet are kept (``account.model_extra``), never an error.

Enum fields (``source_type``, an address's ``type``) are typed ``str`` rather
than a ``Literal`` so a server that learns a new value does not break older
clients; the allowed values are in each field's description.

    account = client.customer.accounts.get("acc_01J…")
    account.created_at      # datetime.datetime, UTC
    account.addresses[0].city
    account.model_dump(mode="json")
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Annotated, Any, Literal, Optional, TypedDict, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, create_model
from pydantic import Field as PydanticField

from edm.crm.accounts.fields import ADDRESS_KEYS, ADDRESS_TYPES, FIELDS, SOURCE_TYPES, Field

__all__ = ["BaseRecord", "Address", "Account", "AddressParam", "SourceType", "AddressType", "ACCOUNT_FIELD_TYPES"]


class BaseRecord(BaseModel):
    """Base of the SDK's models: unknown keys from the server are kept, not refused."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, protected_namespaces=())

    def __repr_args__(self) -> Any:  # hide the unset (sparse) attributes in repr()
        return [(k, v) for k, v in super().__repr_args__() if k in self.model_fields_set]


class Address(BaseRecord):
    """A postal address.  ``type`` is one of ``billing shipping office other``; ``country`` ISO 3166-1 alpha-2."""

    type: Optional[str] = PydanticField(default=None, description=f"One of: {', '.join(ADDRESS_TYPES)}.")
    line1: Optional[str] = None
    line2: Optional[str] = None
    city: Optional[str] = None
    region: Optional[str] = None
    postal_code: Optional[str] = None
    country: Optional[str] = None


assert tuple(Address.model_fields) == ADDRESS_KEYS, "Address drifted from fields.ADDRESS_KEYS"

# Input types, spelled out for IDE help; tests check them against the field table.
SourceType = Literal["frontend", "backend", "server", "system", "api"]
AddressType = Literal["billing", "shipping", "office", "other"]


class AddressParam(TypedDict, total=False):
    """An address to send: a plain dict with any of these keys (or pass an ``Address``)."""

    type: Optional[AddressType]
    line1: Optional[str]
    line2: Optional[str]
    city: Optional[str]
    region: Optional[str]
    postal_code: Optional[str]
    country: Optional[str]


assert tuple(AddressParam.__annotations__) == ADDRESS_KEYS, "AddressParam drifted from fields.ADDRESS_KEYS"
assert get_args(SourceType) == SOURCE_TYPES and get_args(AddressType) == ADDRESS_TYPES


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


UTCDateTime = Annotated[datetime, AfterValidator(_utc)]

# The Python type of each field kind, as the SDK returns it.
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


def _description(field: Field) -> str:
    if field.enum:
        return f"{field.description} One of: {', '.join(field.enum)}."
    return field.description


def _account_model() -> type[BaseRecord]:
    definitions: dict[str, Any] = {
        field.name: (Optional[ACCOUNT_FIELD_TYPES[field.kind]], PydanticField(default=None, description=_description(field)))
        for field in FIELDS
    }
    model = create_model("Account", __base__=BaseRecord, __module__=__name__, **definitions)
    model.__doc__ = (
        "A customer organization (SPEC §1), one attribute per field of the field table.\n\n"
        "Datetimes are timezone-aware UTC ``datetime`` objects; ``addresses`` are ``Address`` models."
    )
    return model


if TYPE_CHECKING:
    # Static checkers see a real class whose attributes are ``Any``; at runtime
    # the attributes come from the field table.

    class Account(BaseRecord):
        def __getattr__(self, name: str) -> Any: ...

else:
    Account = _account_model()
