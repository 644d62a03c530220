"""Every tenant's change events in feed order, and the publisher's place in them.

The events are the rows of ``record_events`` (docs/nats.md).  On SQLite writes
are serialized, so ``seq`` order is commit order.  On PostgreSQL a later
``seq`` can commit first, so the feed is read in ``(txid, seq)`` order and only
below the horizon of the oldest transaction still running: every transaction
below it has finished, so nothing can later appear behind a position taken
there.  This reader sees all tenants, so it runs as the user in
``EDM_DATABASE_URL`` (the table owner), not as the role requests run as.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from edm.kit.events import BELOW_HORIZON, event_document

__all__ = ["Event", "EventFeed", "Position", "START"]


@dataclass(frozen=True, order=True)
class Position:
    """Just after one event: (its transaction id, its seq); the transaction is 0 on SQLite."""

    txid: int
    seq: int


START = Position(0, 0)

_PG_AFTER = sa.text(
    f"""SELECT txid::text AS txid, seq, id, tenant_id, resource, type, record_id, version, at, "by", data::text AS data
FROM record_events
WHERE {BELOW_HORIZON}
  AND (txid, seq) > (CAST(CAST(:txid AS text) AS xid8), :seq)
ORDER BY txid, seq
LIMIT :limit"""
)
_SQLITE_AFTER = sa.text(
    """SELECT 0 AS txid, seq, id, tenant_id, resource, type, record_id, version, at, "by", data
FROM record_events WHERE seq > :seq ORDER BY seq LIMIT :limit"""
)
_LOAD = sa.text("SELECT txid, seq FROM nats_positions WHERE stream = :stream")
_SAVE = sa.text(
    """INSERT INTO nats_positions (stream, txid, seq, updated_at) VALUES (:stream, :txid, :seq, CURRENT_TIMESTAMP)
ON CONFLICT (stream) DO UPDATE SET txid = excluded.txid, seq = excluded.seq, updated_at = excluded.updated_at"""
)


@dataclass(frozen=True)
class Event:
    position: Position
    id: str
    tenant_id: str
    resource: str
    type: str
    at: datetime | str
    payload: bytes  # the public event JSON: {"id","type","<noun>_id","version","at","by","data"}

    def age_seconds(self, now: datetime) -> float:
        at = self.at if isinstance(self.at, datetime) else datetime.fromisoformat(self.at.replace("Z", "+00:00"))
        return max(0.0, (now - at).total_seconds())


def _event(row: Any) -> Event:
    document = event_document(
        id=row.id, type=row.type, record_id=row.record_id, version=row.version, at=row.at, by=row.by,
        # the stored JSON text as it is: no parse and re-serialize per event
        data=None if row.data is None else orjson.Fragment(row.data),
    )
    return Event(
        Position(int(row.txid), row.seq), row.id, row.tenant_id, row.resource, row.type, row.at, orjson.dumps(document)
    )


class EventFeed:
    """Reads events after a position, across tenants, and keeps a named position."""

    def __init__(self, database_url: str) -> None:
        # Its own small engine as the URL's user: the server's pool runs as the
        # app role, which row-level security confines to one tenant.
        self.engine: AsyncEngine = create_async_engine(database_url, pool_size=1, max_overflow=0, pool_pre_ping=True)
        self.postgres = self.engine.dialect.name == "postgresql"

    async def after(self, position: Position, limit: int) -> list[Event]:
        statement = _PG_AFTER if self.postgres else _SQLITE_AFTER
        params = {"txid": str(position.txid), "seq": position.seq, "limit": limit}
        if not self.postgres:
            del params["txid"]
        async with self.engine.connect() as conn:
            rows = (await conn.execute(statement, params)).all()
        return [_event(row) for row in rows]

    async def load(self, name: str) -> Position:
        async with self.engine.connect() as conn:
            row = (await conn.execute(_LOAD, {"stream": name})).first()
        return START if row is None else Position(row.txid or 0, row.seq)

    async def save(self, name: str, position: Position) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(_SAVE, {"stream": name, "txid": position.txid, "seq": position.seq})

    async def close(self) -> None:
        await self.engine.dispose()


def utcnow() -> datetime:
    return datetime.now(UTC)
