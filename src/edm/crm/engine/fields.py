"""Fields: what one attribute of a record is, and the system fields every resource shares.

A resource's field table (``Resource.fields``) is the system fields written
here once, around the resource's own fields.  Request validation, the table's
columns, the list filters and sorts, the rendering, the OpenAPI schemas, the
manifest and the SDK's generated models all read it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from edm.crm.engine import formats
from edm.crm.engine.formats import Format

__all__ = [
    "Field",
    "Kind",
    "text",
    "system_fields_head",
    "SYSTEM_FIELDS_TAIL",
    "SOURCE_TYPES",
    "ADDRESS_TYPES",
    "ADDRESS_KEYS",
    "MAX_ADDRESSES",
    "MAX_TAGS",
    "MAX_TAG_LENGTH",
    "MAX_CUSTOM_FIELDS",
    "MAX_CUSTOM_FIELDS_BYTES",
    "CUSTOM_FIELD_KEY_PATTERN",
    "MAX_INTEGER",
]

Kind = Literal[
    "id",  # <prefix>_<ULID>
    "string",
    "enum",
    "boolean",
    "integer",
    "number",
    "date-time",
    "addresses",
    "custom_fields",
    "tags",
]

SOURCE_TYPES = ("frontend", "backend", "server", "system", "api")
ADDRESS_TYPES = ("billing", "shipping", "office", "other")
ADDRESS_KEYS = ("type", "line1", "line2", "city", "region", "postal_code", "country")

# Limits that are not a single field's max_length.
MAX_ADDRESSES = 20
MAX_TAGS = 100
MAX_TAG_LENGTH = 64
MAX_CUSTOM_FIELDS = 100
MAX_CUSTOM_FIELDS_BYTES = 16 * 1024
CUSTOM_FIELD_KEY_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
MAX_INTEGER = 2**63 - 1  # the database's BIGINT


@dataclass(frozen=True, slots=True)
class Field:
    """One field.  ``stamped`` fields are written by the server on every row."""

    name: str
    kind: Kind
    writer: Literal["server", "client"]
    description: str
    max_length: int | None = None
    format: Format | None = None
    enum: tuple[str, ...] | None = None
    required: bool = False  # required on create
    nullable: bool = True  # may a client set it to null?
    default: Any = None  # what create stores when the client leaves it out
    stamped: bool = False
    filterable: bool = False
    sortable: bool = False
    # `q` looks for the term in it: its place (1, 2, …) in the searched text, which
    # a resource's search index is built on; 0: not searched.
    searchable: int = 0
    minimum: int | float | None = None  # integers and numbers
    # Sorted by a hidden key column (``<name>_key``) holding this function of
    # the value, compared byte-wise on every database (``sort=name`` ignores case).
    sort_key: Callable[[str], str] | None = None

    @property
    def client_writable(self) -> bool:
        return self.writer == "client"

    @property
    def never_null(self) -> bool:
        """Every row holds a value: stamped, required, or defaulted."""
        return self.stamped or self.required or self.default is not None

    @property
    def sort_column(self) -> str:
        """The column ``sort=`` and cursors compare."""
        return f"{self.name}_key" if self.sort_key else self.name

    @property
    def bounds(self) -> tuple[int | float, int | None]:
        """(minimum, maximum) of an integer or number field."""
        low = 0 if self.minimum is None else self.minimum
        return low, MAX_INTEGER if self.kind == "integer" else None


def text(name: str, description: str, max_length: int = 255, **kw: Any) -> Field:
    """A client-writable, filterable string field."""
    return Field(name, "string", "client", description, max_length=max_length, filterable=True, **kw)


def system_fields_head(id_prefix: str, noun: str) -> tuple[Field, ...]:
    """The system fields that open every record: ids, scope, audit stamps, source, soft delete, owner."""
    stamped = {"writer": "server", "stamped": True, "filterable": True}
    server = {"writer": "server", "filterable": True}
    return (
        Field("id", "id", description="`" + id_prefix + "_` + 26-character ULID, time-ordered.", format=formats.record_id(id_prefix, noun), **stamped),  # type: ignore[arg-type]
        Field("tenant_id", "string", description="The tenant that owns the record (from the caller's token).", **stamped),  # type: ignore[arg-type]
        Field("app_id", "string", description="The integration app that created the record; null for human sessions.", **server),  # type: ignore[arg-type]
        Field("created_at", "date-time", description="When the record was created.", sortable=True, **stamped),  # type: ignore[arg-type]
        Field("updated_at", "date-time", description="When the record was last written.", sortable=True, **stamped),  # type: ignore[arg-type]
        Field("created_by", "string", description="The `sub` of the creator.", **stamped),  # type: ignore[arg-type]
        Field("updated_by", "string", description="The `sub` of the last writer.", **stamped),  # type: ignore[arg-type]
        Field("source", "string", "client", "The system the record came from.", max_length=64, default="edm", filterable=True),
        Field("source_type", "enum", "client", "The kind of system the record came from.", enum=SOURCE_TYPES, default="api", filterable=True),
        Field("is_deleted", "boolean", description="True once the record is soft-deleted.", **stamped),  # type: ignore[arg-type]
        Field("deleted_at", "date-time", description="When the record was soft-deleted.", **server),  # type: ignore[arg-type]
        Field("deleted_by", "string", description="The `sub` of the caller who deleted the record.", **server),  # type: ignore[arg-type]
        Field("schema_version", "integer", description="The document schema version the record was written with.", **stamped),  # type: ignore[arg-type]
        text("owner_id", "The owning user, `usr-<uuid>`.", max_length=40, format=formats.USER_ID),
    )


SYSTEM_FIELDS_TAIL: tuple[Field, ...] = (
    Field("custom_fields", "custom_fields", "client", "Tenant-defined fields: up to 100 keys, scalar or array-of-scalar values, ≤ 16 KiB.", default={}),
    Field("tags", "tags", "client", "Up to 100 distinct labels of 1–64 characters.", default=()),
    Field("version", "integer", "server", "Starts at 1 and rises by 1 on every write.", stamped=True, filterable=True, minimum=1),
)
