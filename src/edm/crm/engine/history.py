"""Reading change events: a record's history, the change feed, and the record as it was (``as_of``).

The feed is gap-free (docs/changes.md).  On SQLite writes are serial, so
``seq`` order is commit order.  On PostgreSQL a later ``seq`` can commit
first, so the feed orders by the writing transaction's id, then ``seq``, and
shows only events of transactions below ``pg_snapshot_xmin`` (every one of
those has ended: nothing can still appear behind a cursor taken there).  Two
writers of one record take its lock before their first write
(``edm.crm.engine.events``), so their transaction ids follow their commits:
a record's events come in version order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import RowMapping

from edm.crm.engine.events import changes, event_type, op_of, record_events
from edm.crm.engine.formats import format_datetime
from edm.crm.engine.resource import Resource
from edm.kit.auth import Caller
from edm.kit.cursor import CursorSigner
from edm.kit.db import Connection
from edm.kit.errors import FieldError, InvalidParameter, NotFound
from edm.kit.events import BELOW_HORIZON, event_document

__all__ = ["ChangeLog", "EventPage", "parse_instant"]

_E = record_events.c
# Below the oldest transaction still running: every event there is committed or never will be.
# (The transaction id goes out as text, under another name: ORDER BY must not sort that text.)
_PG_FEED = f"""
SELECT txid::text AS position, seq, id, type, record_id, version, at, by, data
FROM record_events
WHERE tenant_id = :tenant_id AND resource = :resource {{app}}
  AND {BELOW_HORIZON}
  AND (txid, seq) > (CAST(CAST(:after_txid AS text) AS xid8), :after_seq)
ORDER BY record_events.txid, record_events.seq
LIMIT :limit
"""


@dataclass(frozen=True, slots=True)
class EventPage:
    data: bytes  # the page's items, encoded and joined by commas
    has_more: bool
    next_cursor: str | None


def parse_instant(raw: str, name: str) -> datetime:
    """An RFC 3339 date-time with an offset (or ``Z``); anything else is a 400 naming ``name``."""
    try:
        value = datetime.fromisoformat(raw.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        value = None
    if value is None or value.tzinfo is None or "T" not in raw.upper():
        message = "must be an RFC 3339 date-time with an offset, such as 2026-01-31T09:30:00Z"
        raise InvalidParameter(f"{name}: {message}", errors=[FieldError(name, message)])
    return value


class ChangeLog:
    """History, feed and point-in-time reads of one resource."""

    def __init__(self, resource: Resource, records: sa.Table) -> None:
        self.resource = resource
        self.records = records
        self.name = resource.name
        self.id_key = resource.id_parameter  # "account_id"
        self._created = event_type(resource.noun, "create")

    def _scope(self, caller: Caller) -> list[sa.ColumnElement[bool]]:
        where = [_E.tenant_id == caller.tenant_id, _E.resource == self.name]
        if caller.app_id is not None:
            where.append(_E.app_id == caller.app_id)
        return where

    def _not_found(self) -> NotFound:
        return NotFound(f"no {self.resource.noun} has this id")

    # -- history ------------------------------------------------------------------

    async def history(
        self, conn: Connection, caller: Caller, record_id: str, *, limit: int, cursor: str | None, signer: CursorSigner
    ) -> EventPage:
        """Newest first; 404 for a record the caller cannot see, or a purged one."""
        fingerprint = f"history:{caller.tenant_id}:{caller.app_id}:{self.name}:{record_id}"
        where = [*self._scope(caller), _E.record_id == record_id]
        if cursor is not None:
            (before,) = signer.decode(cursor, fingerprint)
            if not isinstance(before, int):
                message = "is not a cursor this service issued"
                raise InvalidParameter(f"cursor: {message}", errors=[FieldError("cursor", message)])
            where.append(_E.version < before)
        statement = (
            sa.select(_E.version, _E.type, _E.at, _E.by, _E.actor_app_id, _E.changes, sa.case((_E.type == self._created, _E.data)).label("data"))
            .where(*where)
            .order_by(_E.version.desc())
            .limit(limit + 1)
        )
        rows = list((await conn.execute(statement)).mappings().all())
        if cursor is None and (not rows or rows[0]["type"].endswith(".purged")):
            # No history: purged, never there, another tenant's or app's, or written before history began.
            if not rows and await self._exists(conn, caller, record_id):
                return EventPage(b"", False, None)
            raise self._not_found()
        has_more = len(rows) > limit
        rows = rows[:limit]
        items = [
            {
                "version": row["version"],
                "op": op_of(row["type"]),
                "at": format_datetime(row["at"]),
                "by": row["by"],
                "app_id": row["actor_app_id"],
                "changes": _changes(row),
            }
            for row in rows
        ]
        next_cursor = signer.encode(fingerprint, [rows[-1]["version"]]) if has_more else None
        return EventPage(b",".join(orjson.dumps(item) for item in items), has_more, next_cursor)

    async def _exists(self, conn: Connection, caller: Caller, record_id: str) -> bool:
        table = self.records
        where = [table.c.tenant_id == caller.tenant_id, table.c.id == record_id]
        if caller.app_id is not None:
            where.append(table.c.app_id == caller.app_id)
        return (await conn.execute(sa.select(table.c.id).where(*where))).first() is not None

    # -- the change feed ----------------------------------------------------------

    async def feed(
        self, conn: Connection, caller: Caller, *, after: str | None, limit: int, signer: CursorSigner
    ) -> EventPage:
        """Events after the cursor in commit order; ``next_cursor`` always says where the reader stands."""
        postgres = conn.dialect.name == "postgresql"
        fingerprint = f"feed:{caller.tenant_id}:{caller.app_id}:{self.name}:{'pg' if postgres else 'sqlite'}"
        position: list[Any] = ["0", 0] if postgres else [0]
        if after is not None:
            try:
                decoded = signer.decode(after, fingerprint)
            except InvalidParameter as exc:
                raise _bad_after(exc.detail.removeprefix("cursor: ")) from None
            position = _checked_position(decoded, postgres)
        if postgres:
            app = "AND app_id = :app_id" if caller.app_id is not None else ""
            params = {
                "tenant_id": caller.tenant_id, "resource": self.name,
                "after_txid": position[0], "after_seq": position[1], "limit": limit + 1,
            }  # fmt: skip
            if caller.app_id is not None:
                params["app_id"] = caller.app_id
            statement: Any = sa.text(_PG_FEED.format(app=app)).bindparams(**params)
        else:
            statement = (
                sa.select(_E.seq, _E.id, _E.type, _E.record_id, _E.version, _E.at, _E.by, _E.data)
                .where(*self._scope(caller), _E.seq > position[0])
                .order_by(_E.seq)
                .limit(limit + 1)
            )
        rows = list((await conn.execute(statement)).mappings().all())
        has_more = len(rows) > limit
        rows = rows[:limit]
        if rows:
            last = rows[-1]
            position = [last["position"], last["seq"]] if postgres else [last["seq"]]
        items = [
            event_document(
                id=row["id"], type=row["type"], record_id=row["record_id"], version=row["version"],
                at=row["at"], by=row["by"], data=row["data"],
            )
            for row in rows
        ]  # fmt: skip
        return EventPage(b",".join(orjson.dumps(item) for item in items), has_more, signer.encode(fingerprint, position))

    # -- as_of --------------------------------------------------------------------

    async def as_of(
        self, conn: Connection, caller: Caller, record_id: str, instant: datetime, *, include_deleted: bool
    ) -> tuple[int, dict[str, Any]]:
        """(version, document) of the record at ``instant``, from its last event at or before it."""
        statement = (
            sa.select(_E.type, _E.version, _E.data)
            .where(*self._scope(caller), _E.record_id == record_id, _E.at <= instant)
            .order_by(_E.version.desc())
            .limit(1)
        )
        row = (await conn.execute(statement)).mappings().first()
        if row is None or row["data"] is None:
            raise self._not_found()
        data = row["data"]
        if data.get("is_deleted") and not include_deleted:
            raise self._not_found()
        return row["version"], data


def _changes(row: RowMapping) -> dict[str, Any] | None:
    """An entry's ``changes``: as stored, or, for a create (which stores none), every field it set."""
    if row["changes"] is not None or row["data"] is None:
        return row["changes"]  # type: ignore[no-any-return]
    return changes(None, row["data"])


def _checked_position(values: list[Any], postgres: bool) -> list[Any]:
    valid = (
        len(values) == 2 and isinstance(values[0], str) and values[0].isdigit() and isinstance(values[1], int)
        if postgres
        else len(values) == 1 and isinstance(values[0], int)
    )
    if not valid:
        raise _bad_after("is not a cursor this service issued")
    return values


def _bad_after(message: str) -> InvalidParameter:
    return InvalidParameter(f"after: {message}", errors=[FieldError("after", message)])
