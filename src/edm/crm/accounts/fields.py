"""The Account field table: the one source of truth for SPEC §1.

Request validation (``schemas.py``), the database columns (``table.py``), the
list filters and sorts, the OpenAPI schemas and the manifest all derive from
``FIELDS``.  Adding a field is one line here plus a migration; the test
``test_schema_matches_field_table`` fails until both exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "Field",
    "FIELDS",
    "BY_NAME",
    "CLIENT_FIELDS",
    "SERVER_FIELDS",
    "SOURCE_TYPES",
    "ADDRESS_TYPES",
    "ADDRESS_KEYS",
]

Kind = Literal[
    "id",  # acc_<ULID>
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
# Extra checks a string field gets on top of its length limit.
Format = Literal["url", "hostname", "phone", "user_id", "account_id", None]

SOURCE_TYPES = ("frontend", "backend", "server", "system", "api")
ADDRESS_TYPES = ("billing", "shipping", "office", "other")
ADDRESS_KEYS = ("type", "line1", "line2", "city", "region", "postal_code", "country")


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    kind: Kind
    writer: Literal["server", "client"]
    description: str
    max_length: int | None = None
    format: Format = None
    enum: tuple[str, ...] | None = None
    required: bool = False  # required on create
    nullable: bool = True  # may a client set it to null?
    default: Any = None  # what create stores when the client leaves it out
    filterable: bool = False
    sortable: bool = False

    @property
    def client_writable(self) -> bool:
        return self.writer == "client"


def _s(name: str, description: str, max_length: int = 255, **kw: Any) -> Field:
    return Field(name, "string", "client", description, max_length=max_length, filterable=True, **kw)


FIELDS: tuple[Field, ...] = (
    Field("id", "id", "server", "`acc_` + 26-character ULID, time-ordered.", filterable=True),
    Field("tenant_id", "string", "server", "The tenant that owns the record (from the caller's token).", filterable=True),
    Field("app_id", "string", "server", "The integration app that created the record; null for human sessions.", filterable=True),
    Field("created_at", "date-time", "server", "When the record was created.", filterable=True, sortable=True),
    Field("updated_at", "date-time", "server", "When the record was last written.", filterable=True, sortable=True),
    Field("created_by", "string", "server", "The `sub` of the creator.", filterable=True),
    Field("updated_by", "string", "server", "The `sub` of the last writer.", filterable=True),
    Field("source", "string", "client", "The system the record came from.", max_length=64, default="edm", nullable=True, filterable=True),
    Field("source_type", "enum", "client", "The kind of system the record came from.", enum=SOURCE_TYPES, default="api", filterable=True),
    Field("is_deleted", "boolean", "server", "True once the record is soft-deleted.", filterable=True),
    Field("deleted_at", "date-time", "server", "When the record was soft-deleted.", filterable=True),
    Field("deleted_by", "string", "server", "The `sub` of the caller who deleted the record.", filterable=True),
    Field("schema_version", "integer", "server", "The document schema version the record was written with.", filterable=True),
    _s("owner_id", "The owning user, `usr-<uuid>`.", max_length=40, format="user_id"),
    _s("name", "The organization's display name (1–255 characters after trimming).", required=True, nullable=False, sortable=True),
    _s("legal_name", "The registered legal name."),
    _s("industry", "Industry."),
    _s("sub_industry", "Sub-industry."),
    _s("lifecycle_stage", "Lifecycle stage, e.g. lead, customer."),
    _s("lead_source", "Where the lead came from."),
    _s("health_score", "Customer health score."),
    _s("website", "Absolute http(s) URL.", max_length=2048, format="url"),
    _s("domain", "Hostname, stored lower-case, without scheme, path or port.", max_length=253, format="hostname"),
    _s("phone", "Digits, spaces and `+-().x`.", max_length=64, format="phone"),
    Field("addresses", "addresses", "client", "Up to 20 postal addresses.", default=()),
    Field("annual_revenue", "number", "client", "Annual revenue in USD (finite, ≥ 0).", filterable=True, sortable=True),
    Field("employee_count", "integer", "client", "Number of employees (≥ 0).", filterable=True, sortable=True),
    Field("parent_account_id", "id", "client", "The parent account: same tenant, not itself, never a cycle.", format="account_id", filterable=True),
    Field("description", "string", "client", "Free text.", max_length=65536, filterable=True),
    Field("last_activity_at", "date-time", "client", "RFC 3339 with offset; stored in UTC.", filterable=True, sortable=True),
    Field("first_contacted_at", "date-time", "client", "RFC 3339 with offset; stored in UTC.", filterable=True, sortable=True),
    Field("custom_fields", "custom_fields", "client", "Tenant-defined fields: up to 100 keys, scalar or array-of-scalar values, ≤ 16 KiB.", default={}),
    Field("tags", "tags", "client", "Up to 100 distinct labels of 1–64 characters.", default=()),
    Field("version", "integer", "server", "Starts at 1 and rises by 1 on every write.", filterable=True),
)

BY_NAME: dict[str, Field] = {f.name: f for f in FIELDS}
CLIENT_FIELDS: tuple[Field, ...] = tuple(f for f in FIELDS if f.client_writable)
SERVER_FIELDS: frozenset[str] = frozenset(f.name for f in FIELDS if not f.client_writable)

# Limits that are not a single field's max_length.
MAX_ADDRESSES = 20
MAX_TAGS = 100
MAX_TAG_LENGTH = 64
MAX_CUSTOM_FIELDS = 100
MAX_CUSTOM_FIELDS_BYTES = 16 * 1024
CUSTOM_FIELD_KEY_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
MAX_EMPLOYEE_COUNT = 2**63 - 1  # the database's BIGINT
