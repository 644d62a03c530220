"""Fan-out: change events, in feed order across every tenant, into one delivery per matching endpoint.

The position in ``record_events`` lives in ``webhook_position`` and moves in
the same transaction that inserts the deliveries, so an event is fanned out
once even when the worker stops half-way (a delivery is unique per endpoint
and event, too).  Feed order is the change feed's: on SQLite writes are
serialized, so ``seq`` order is commit order; on PostgreSQL events are read in
``(txid, seq)`` order and only below the horizon of the oldest transaction
still running, so an event that commits later can never land behind the
position (docs/webhooks.md, "Delivery guarantees").
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from edm.crm.engine.events import record_events
from edm.crm.webhooks.service import DELIVERY_PREFIX
from edm.crm.webhooks.tables import deliveries, endpoints, position
from edm.kit.db import Connection, Database, among, execute_many
from edm.kit.events import BELOW_HORIZON
from edm.kit.ids import new_id

__all__ = ["fan_out", "outbox_lag"]

_EVENT_COLUMNS = "seq, id, tenant_id, app_id, resource, record_id, version, type, at, by"
_PG_EVENTS = sa.text(
    f"SELECT txid::text AS txid, {_EVENT_COLUMNS} FROM record_events"
    f" WHERE {BELOW_HORIZON}"
    " AND (txid, seq) > (CAST(:txid AS xid8), :seq) ORDER BY txid, seq LIMIT :limit"
).columns(at=record_events.c.at.type)
_PG_BEHIND = sa.text(
    "SELECT count(*) AS behind, min(at) AS oldest FROM (SELECT at FROM record_events"
    " WHERE (txid, seq) > (CAST(:txid AS xid8), :seq) ORDER BY txid, seq LIMIT 10000) AS waiting"
).columns(oldest=record_events.c.at.type)


def _insert_delivery(dialect: str) -> Any:
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(deliveries)
    columns = ("tenant_id", "id", "endpoint_id", "event_id", "event_type", "status", "attempts", "created_at", "next_attempt_at", "attempt_log")
    return insert.values({name: sa.bindparam(name, type_=deliveries.c[name].type) for name in columns}).on_conflict_do_nothing()


def _matches(endpoint: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    if endpoint["app_id"] is not None and endpoint["app_id"] != event["app_id"]:
        return False
    return "*" in endpoint["events"] or event["type"] in endpoint["events"]


async def _events_after(conn: Connection, dialect: str, txid: str, seq: int, limit: int) -> Sequence[Any]:
    if dialect == "postgresql":
        return (await conn.execute(_PG_EVENTS.bindparams(txid=txid, seq=seq, limit=limit))).mappings().all()
    columns = [record_events.c[name] for name in _EVENT_COLUMNS.split(", ")]
    statement = sa.select(*columns).where(record_events.c.seq > seq).order_by(record_events.c.seq).limit(limit)
    return (await conn.execute(statement)).mappings().all()


async def fan_out(db: Database, *, limit: int = 500) -> int:
    """Fan out the next ``limit`` events at most; how many were read."""
    if db.dialect == "sqlite":
        # A write transaction takes SQLite's one write lock: look first, without it.
        async with db.read(None) as conn:
            (seq,) = (await conn.execute(sa.select(position.c.seq))).one()
            newer = sa.select(record_events.c.seq).where(record_events.c.seq > seq).limit(1)
            if (await conn.execute(newer)).first() is None:
                return 0
    async with db.write(None) as conn:
        where_position = position.c.name == "fanout"
        statement = sa.select(position.c.txid, position.c.seq).where(where_position)
        if db.dialect == "postgresql":
            statement = statement.with_for_update()  # one worker fans out at a time
        txid, seq = (await conn.execute(statement)).one()
        events = await _events_after(conn, db.dialect, txid, seq, limit)
        if not events:
            return 0
        tenants = sorted({event["tenant_id"] for event in events})
        rows = (
            await conn.execute(
                sa.select(endpoints.c.tenant_id, endpoints.c.id, endpoints.c.app_id, endpoints.c.events).where(
                    among([endpoints.c.tenant_id], tenants, "tenants", db.dialect), endpoints.c.status == "enabled"
                )
            )
        ).mappings().all()
        by_tenant: dict[str, list[Any]] = {}
        for row in rows:
            by_tenant.setdefault(row["tenant_id"], []).append(row)
        now = datetime.now(UTC)
        values = [
            {
                "tenant_id": event["tenant_id"],
                "id": new_id(DELIVERY_PREFIX),
                "endpoint_id": endpoint["id"],
                "event_id": event["id"],
                "event_type": event["type"],
                "status": "pending",
                "attempts": 0,
                "created_at": now,
                "next_attempt_at": now,
                "attempt_log": [],
            }
            for event in events
            for endpoint in by_tenant.get(event["tenant_id"], ())
            if _matches(endpoint, event)
        ]
        await execute_many(conn, "webhooks.fan_out", values, lambda: _insert_delivery(db.dialect))
        last = events[-1]
        await conn.execute(
            position.update().where(where_position).values(txid=last.get("txid") or "0", seq=last["seq"])
        )
        return len(events)


async def outbox_lag(db: Database) -> tuple[int, float]:
    """(events not yet fanned out, up to 10000; age in seconds of the oldest of them)."""
    async with db.read(None) as conn:
        txid, seq = (await conn.execute(sa.select(position.c.txid, position.c.seq))).one()
        if db.dialect == "postgresql":
            row = (await conn.execute(_PG_BEHIND.bindparams(txid=txid, seq=seq))).mappings().one()
        else:
            waiting = (
                sa.select(record_events.c.at).where(record_events.c.seq > seq).order_by(record_events.c.seq).limit(10000)
            ).subquery()
            statement = sa.select(sa.func.count().label("behind"), sa.func.min(waiting.c.at).label("oldest"))
            row = (await conn.execute(statement)).mappings().one()
    oldest = row["oldest"]
    if isinstance(oldest, str):  # SQLite's min() of the text column
        oldest = datetime.fromisoformat(oldest.replace("Z", "+00:00"))
    age = max(0.0, time.time() - oldest.timestamp()) if oldest is not None else 0.0
    return int(row["behind"]), age
