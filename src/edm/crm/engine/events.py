"""The change-event table every resource of the record engine writes to.

One row per write (create, update, delete, restore, purge), inserted by the
write's own statement on PostgreSQL (a data-modifying CTE, no round trip
more) or right after it on SQLite, in the same transaction either way
(migration 1700 has the table; docs/changes.md what users get from it).

Ordering on PostgreSQL rests on two things done here and in ``edm.kit.pg``:
every write transaction takes an advisory lock on its record
(``record_lock_key``) before its first write, so two writers of one record
get their transaction ids in the order they commit; and the feed reads only
below the oldest running transaction (``edm.crm.engine.history``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from edm.kit.db import Connection
from edm.kit.types import JSONDocument, UTCDateTime

__all__ = ["record_events", "metadata", "NOT_CHANGES", "OPS", "EVENT_TYPES", "changes", "record_lock_key", "event_type", "op_of", "lock_records"]

metadata = sa.MetaData()
record_events = sa.Table(
    "record_events",
    metadata,
    # PostgreSQL also has txid (xid8, the writing transaction), set by its default and read by the feed.
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("id", sa.Text(), nullable=False, unique=True),
    sa.Column("tenant_id", sa.Text(), nullable=False),
    sa.Column("app_id", sa.Text()),
    sa.Column("actor_app_id", sa.Text()),
    sa.Column("resource", sa.Text(), nullable=False),
    sa.Column("record_id", sa.Text(), nullable=False),
    sa.Column("version", sa.BigInteger(), nullable=False),
    sa.Column("type", sa.Text(), nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("by", sa.Text(), nullable=False),
    sa.Column("changes", JSONDocument),
    sa.Column("data", JSONDocument),
)

# history's op → the event type's verb
OPS = {"create": "created", "update": "updated", "delete": "deleted", "restore": "restored", "purge": "purged"}
EVENT_TYPES = tuple(OPS.values())
_OP_OF_VERB = {verb: op for op, verb in OPS.items()}

# Fields an entry states on its own (version, at, by) or that never change after a create.
NOT_CHANGES = frozenset({"id", "tenant_id", "version", "created_at", "created_by", "updated_at", "updated_by", "schema_version"})


def event_type(noun: str, op: str) -> str:
    """``account.updated`` for ("account", "update")."""
    return f"{noun}.{OPS[op]}"


def op_of(type_: str) -> str:
    """``update`` for ``account.updated``."""
    return _OP_OF_VERB[type_.rsplit(".", 1)[1]]


def changes(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> dict[str, list[Any]]:
    """``{field: [old, new]}`` between two documents of a record.

    A create (``old`` None) lists every field it set (not null, empty or
    false): a create's event stores no ``changes``, and history derives them
    from its ``data`` with this.  An update's are computed by its write: here
    on SQLite, in the statement on PostgreSQL (``Repository._changes_sql``).
    """
    if old is None:
        return {key: [None, value] for key, value in new.items() if key not in NOT_CHANGES and not _unset(value)}
    return {
        key: [old.get(key), value] for key, value in new.items() if key not in NOT_CHANGES and old.get(key) != value
    }


def _unset(value: Any) -> bool:
    return value is None or value is False or value == [] or value == {}


def record_lock_key(tenant_id: str, record_id: str, kind: str = "record") -> str:
    """The text whose hash names a record's advisory lock (``pg_advisory_xact_lock(hashtextextended(key, 0))``).

    ``kind`` "record": held by every write of the record.  "children": held
    (exclusive) by a purge of the record, which writes to the records that
    point at it, and (shared) by a write that makes a record point at it.
    (A record id's prefix names its resource.)
    """
    return f"edm.{kind}:{tenant_id}:{record_id}"


async def lock_records(
    conn: Connection, tenant_id: str, record_ids: list[str], *, kind: str = "record", shared: bool = False
) -> None:
    """Take advisory locks of records (PostgreSQL; before the transaction's first write).

    In key order, so two transactions locking overlapping sets cannot deadlock
    on them.  ``shared``: a lock that only excludes the exclusive one.
    """
    if conn.dialect.name != "postgresql" or not record_ids:
        return
    function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
    keys = sorted(record_lock_key(tenant_id, record_id, kind) for record_id in record_ids)
    statement = sa.text(
        f"SELECT {function}(hashtextextended(k, 0)) FROM (SELECT k FROM unnest(CAST(:keys AS text[])) AS k ORDER BY k) AS s"
    ).bindparams(keys=keys)
    await conn.execute(statement)
