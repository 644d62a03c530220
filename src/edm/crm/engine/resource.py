"""A resource is a declaration; the record engine serves every one the same way.

    WIDGETS = Resource(
        name="widgets", noun="widget", title="Widget", id_prefix="wgt", sdk_group="customer",
        description="Things customers own.",
        own_fields=(text("label", "What it is called.", required=True, nullable=False, sortable=True),),
    )

gives ``/api/v1/crm/widgets`` with list, get, create, update, delete, restore
and purge; scopes ``crm.widgets.read`` / ``crm.widgets.write``; ids
``wgt_<ULID>``; the system fields of ``fields.py`` around its own; a table
``widgets``; and its place in the OpenAPI document, the manifest and the SDK
once it is in the registry (``edm.crm.registry``).  Rules of its own are
``Hooks`` on the shared pipeline (accounts: ``edm.crm.accounts.hierarchy``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from edm.crm.engine.fields import SYSTEM_FIELDS_TAIL, Field, system_fields_head

if TYPE_CHECKING:
    from edm.crm.engine.list_sql import ListSQL
    from edm.crm.engine.listing import Filter
    from edm.crm.engine.repository import Repository
    from edm.kit.auth import Caller
    from edm.kit.db import Connection

__all__ = ["Resource", "Hooks", "Index", "API_PREFIX", "ADMIN_SCOPE"]

API_PREFIX = "/api/v1/crm"
ADMIN_SCOPE = "crm.admin"


@dataclass(frozen=True)
class Index:
    """An index of a resource's table on PostgreSQL, as its migrations build it.

    Migrations are frozen snapshots, so they spell each index out; the
    declaration says which ones the resource's queries rely on, and
    ``tests/crm/test_schema.py`` checks the migrated database against it.
    ``"search"`` in ``columns`` is the searched text (``q``) with trigram ops.
    """

    name: str
    columns: tuple[str, ...]  # every one leads with tenant_id, except the search index (trigrams first)
    live_only: bool = False  # partial: WHERE NOT is_deleted
    gin: bool = False


class Hooks:
    """A resource's own rules, run by the engine at fixed points of every write
    and list; the defaults do nothing.  Each runs inside the request's
    transaction, so raising rolls the whole write back."""

    # Filter operators beyond the field kind's, by field name (accounts: parent_account_id "under").
    extra_operators: Mapping[str, tuple[str, ...]] = {}
    # How the API reference words those operators.
    operator_words: Mapping[str, str] = {}

    def operator_schema(self, field: Field, op: str) -> dict[str, Any]:
        """The JSON Schema of the value of one of ``extra_operators``."""
        raise NotImplementedError(op)

    def parse_operator(self, field: Field, op: str, raw: str) -> Any:
        """The value of one of ``extra_operators`` (raise ``ValueError`` for a 400)."""
        raise NotImplementedError(op)

    def predicate(self, sql: ListSQL, f: Filter, tenant_id: str) -> sa.ColumnElement[bool]:
        """The SQL of one of ``extra_operators``."""
        raise NotImplementedError(f.op)

    async def before_create(self, repo: Repository, conn: Connection, caller: Caller, values: dict[str, Any]) -> None:
        """Check or complete a new record's values before the INSERT."""

    async def before_update(
        self, repo: Repository, conn: Connection, caller: Caller, record_id: str, values: dict[str, Any]
    ) -> None:
        """Check a patch's values (only the fields it names) before the UPDATE."""

    async def before_purge(self, repo: Repository, conn: Connection, caller: Caller, record_id: str) -> None:
        """Take the locks of the records ``after_purge`` will write (``edm.crm.engine.events.lock_records``):
        on PostgreSQL a transaction must hold every record's lock before its first write."""

    async def after_purge(self, repo: Repository, conn: Connection, caller: Caller, record_id: str, now: datetime) -> None:
        """Clean up what pointed at an erased record (through the repository, so each write has its event)."""


@dataclass(frozen=True, eq=False)
class Resource:
    """Everything the engine needs to serve one kind of record."""

    name: str  # plural: the path segment, the table, the SDK attribute
    noun: str  # singular, lower case: "account"
    title: str  # singular, for schema names: "Account"
    id_prefix: str
    sdk_group: str  # client.<sdk_group>.<name>
    description: str
    own_fields: tuple[Field, ...]  # between the system fields (``fields.py``)
    hooks: Hooks = field(default_factory=Hooks)
    # Triggers keep <noun>_counts per tenant, app and deletion state (unfiltered include_total).
    counted: bool = False
    # SQLite serves `q` from an FTS5 trigram table <name>_search kept by triggers (else LIKE).
    sqlite_search_table: bool = False
    # Examples for the API reference.
    create_example: Mapping[str, Any] = field(default_factory=dict)
    patch_example: Mapping[str, Any] = field(default_factory=dict)
    # The indexes its migrations build (PostgreSQL), beside the primary key (tenant_id, id).
    indexes: tuple[Index, ...] = ()

    def __post_init__(self) -> None:
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.name}: a field is declared twice")

    def __repr__(self) -> str:
        return f"Resource({self.name!r})"

    # -- derived: the field table and its views --------------------------------

    @cached_property
    def fields(self) -> tuple[Field, ...]:
        return (*system_fields_head(self.id_prefix, self.noun), *self.own_fields, *SYSTEM_FIELDS_TAIL)

    @cached_property
    def by_name(self) -> dict[str, Field]:
        return {f.name: f for f in self.fields}

    @cached_property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    @cached_property
    def client_fields(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.client_writable)

    @cached_property
    def server_fields(self) -> frozenset[str]:
        return frozenset(f.name for f in self.fields if not f.client_writable)

    @cached_property
    def filterable(self) -> dict[str, Field]:
        """Fields taking ``filter[FIELD]`` with their kind's operators (tags and custom fields have their own)."""
        return {f.name: f for f in self.fields if f.filterable}

    @cached_property
    def sortable(self) -> dict[str, Field]:
        return {f.name: f for f in self.fields if f.sortable}

    @cached_property
    def searched(self) -> tuple[str, ...]:
        """The fields ``q`` looks in, in the order of the searched text."""
        return tuple(f.name for f in sorted((f for f in self.fields if f.searchable), key=lambda f: f.searchable))

    @cached_property
    def datetime_fields(self) -> frozenset[str]:
        return frozenset(f.name for f in self.fields if f.kind == "date-time")

    # -- derived: names --------------------------------------------------------

    @property
    def path(self) -> str:
        return f"{API_PREFIX}/{self.name}"

    @property
    def id_parameter(self) -> str:
        """The path parameter of one record: ``account_id``."""
        return f"{self.noun}_id"

    @property
    def item_path(self) -> str:
        return f"{self.path}/{{{self.id_parameter}}}"

    @property
    def read_scope(self) -> str:
        return f"crm.{self.name}.read"

    @property
    def write_scope(self) -> str:
        return f"crm.{self.name}.write"

    @property
    def sdk(self) -> str:
        return f"client.{self.sdk_group}.{self.name}"

    @property
    def counts_table_name(self) -> str:
        return f"{self.noun}_counts"
