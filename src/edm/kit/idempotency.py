"""Idempotency keys for POST requests (docs/idempotency.md).

A key is scoped by tenant, app, method and route template, and fingerprinted
by the concrete path and the request body.  Everything happens in the
request's one write transaction:

1. ``claim`` takes the key.  On PostgreSQL a transaction-scoped advisory lock
   on the key says whether another request holds it right now (409
   ``idempotency_in_flight``, without waiting); SQLite runs write
   transactions one at a time, so a duplicate simply comes after the first.
   A finished request under the key is replayed, a different fingerprint is
   a 422.
2. The route runs its effect, and ``complete`` stores the response in the
   same transaction, so the claim, the effect and the stored response commit
   or vanish together.  A request that fails for any reason — validation, a
   lost connection, a database that died mid-request — leaves nothing
   behind, and a retry with the same key runs at once.

Records live 24 hours; ``delete_expired`` runs from a background task (on
PostgreSQL through row-level security policies of its own).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from edm.kit.auth import Caller
from edm.kit.db import Connection, Database
from edm.kit.errors import APIError, BadRequest, Conflict, FieldError
from edm.kit.pg import SWEEP_SETTING
from edm.kit.types import JSONDocument, UTCDateTime

__all__ = ["IdempotencyKey", "StoredResponse", "idempotency_keys", "parse_key", "claim", "complete", "delete_expired", "forget_resource"]

TTL = timedelta(hours=24)
MAX_KEY_LENGTH = 255
_KEY = re.compile(r"[\x21-\x7e]{1,255}")
REPLAYED_HEADERS = ("location", "etag", "content-type")

metadata = sa.MetaData()
idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("tenant_id", sa.Text, nullable=False),
    sa.Column("app_key", sa.Text, nullable=False),  # the app id, or "" for human callers
    sa.Column("method", sa.Text, nullable=False),
    sa.Column("route", sa.Text, nullable=False),
    sa.Column("key", sa.Text, nullable=False),
    sa.Column("fingerprint", sa.Text, nullable=False),
    sa.Column("status", sa.Integer),  # null while in flight
    sa.Column("body", sa.Text),
    sa.Column("headers", JSONDocument),
    sa.Column("resource_id", sa.Text),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint("tenant_id", "app_key", "method", "route", "key", name="idempotency_keys_pkey"),
)
_k = idempotency_keys.c


class IdempotencyConflict(APIError):
    status, code, title = 422, "idempotency_conflict", "Idempotency key reused"
    description = "the Idempotency-Key was used with another request"


class IdempotencyInFlight(Conflict):
    code, title = "idempotency_in_flight", "Request in progress"
    description = "the same Idempotency-Key is still running"
    documented_headers = ("Retry-After",)


@dataclass(frozen=True, slots=True)
class IdempotencyKey:
    tenant_id: str
    app_key: str
    method: str
    route: str
    key: str
    fingerprint: str

    def lock_name(self) -> str:
        return "\x1f".join((self.tenant_id, self.app_key, self.method, self.route, self.key))

    def where(self) -> list[sa.ColumnElement[bool]]:
        return [_k.tenant_id == self.tenant_id, _k.app_key == self.app_key, _k.method == self.method, _k.route == self.route, _k.key == self.key]


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status: int
    body: bytes
    headers: dict[str, str]


def parse_key(header: str | None, caller: Caller, method: str, route: str, path: str, body: Any) -> IdempotencyKey | None:
    """The key of this request, or None without an ``Idempotency-Key`` header."""
    if header is None:
        return None
    if not _KEY.fullmatch(header):
        message = f"must be 1–{MAX_KEY_LENGTH} printable ASCII characters"
        raise BadRequest(f"Idempotency-Key {message}", errors=[FieldError("Idempotency-Key", message)])
    digest = hashlib.sha256(f"{method} {path}\n".encode() + _canonical(body)).hexdigest()
    return IdempotencyKey(caller.tenant_id, caller.app_id or "", method, route, header, digest)


def _canonical(body: Any) -> bytes:
    """The body as sorted-key JSON bytes, for any body the JSON reader accepted.

    orjson refuses integers past 64 bits and lone surrogates; those bodies are
    still keyed (validation answers them with a 422 naming the field), through
    the standard library with every non-ASCII character escaped.
    """
    try:
        return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(body, sort_keys=True, ensure_ascii=True, separators=(",", ":")).encode()


def _now() -> datetime:
    return datetime.now(UTC)


def _insert(dialect: str) -> Any:
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(idempotency_keys)


async def claim(conn: Connection, key: IdempotencyKey) -> StoredResponse | None:
    """Take the key for this transaction (None), or return the response to replay, or raise 409/422."""
    if conn.dialect.name == "postgresql":
        lock = sa.func.hashtextextended(sa.literal("edm.idempotency:") + key.lock_name(), 0)
        if not (await conn.execute(sa.select(sa.func.pg_try_advisory_xact_lock(lock)))).scalar():
            raise IdempotencyInFlight(
                "a request with this Idempotency-Key is still in progress; retry shortly", headers={"Retry-After": "1"}
            )
    now = _now()
    taken = (
        _insert(conn.dialect.name)
        .values(
            tenant_id=key.tenant_id, app_key=key.app_key, method=key.method, route=key.route, key=key.key,
            fingerprint=key.fingerprint, created_at=now, expires_at=now + TTL,
        )  # fmt: skip
        .on_conflict_do_nothing()
        .returning(_k.key)
    )
    if (await conn.execute(taken)).first() is not None:
        return None
    row = (await conn.execute(sa.select(idempotency_keys).where(*key.where()))).mappings().first()
    if row is None:  # expired and swept between the two statements: take it now
        await conn.execute(taken)
        return None
    # A stored row always holds a response (claims commit only with one); an
    # in-flight row can only be a leftover of an older release of EDM.
    if row["expires_at"] <= now or row["status"] is None:
        await conn.execute(
            sa.update(idempotency_keys)
            .where(*key.where())
            .values(fingerprint=key.fingerprint, status=None, body=None, headers=None, resource_id=None, created_at=now, expires_at=now + TTL)
        )
        return None
    if row["fingerprint"] != key.fingerprint:
        raise IdempotencyConflict("this Idempotency-Key was used with a different request; use a new key")
    return StoredResponse(row["status"], row["body"].encode(), dict(row["headers"] or {}))


async def complete(conn: Connection, key: IdempotencyKey, response: StoredResponse, resource_id: str | None) -> None:
    """Store the response, inside the transaction that made it."""
    await conn.execute(
        sa.update(idempotency_keys)
        .where(*key.where())
        .values(status=response.status, body=response.body.decode(), headers=response.headers, resource_id=resource_id)
    )


async def forget_resource(conn: Connection, caller: Caller, resource_id: str) -> None:
    """Erase stored responses that carry a record (purge)."""
    await conn.execute(sa.delete(idempotency_keys).where(_k.tenant_id == caller.tenant_id, _k.resource_id == resource_id))


async def delete_expired(db: Database) -> int:
    """Delete every tenant's expired keys.

    Bound to no tenant, the sweep's transaction sees no rows but those a
    policy shows to a transaction that sets ``edm.sweep_expired``: expired
    keys, to read and delete (migration 1600).
    """
    async with db.write(None) as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(sa.select(sa.func.set_config(SWEEP_SETTING, "on", True)))
        result = await conn.execute(sa.delete(idempotency_keys).where(_k.expires_at <= _now()))
        return result.rowcount or 0
