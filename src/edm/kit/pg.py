"""PostgreSQL through asyncpg directly: SQLAlchemy Core builds and compiles the
statements, asyncpg runs them.

SQLAlchemy's async execution layer (pool checkout through greenlets, result
processing, row objects) cost about three times the database round trip on
a point read here (bench/README.md has the figures), so on PostgreSQL the
service keeps SQLAlchemy as the statement builder and runs the SQL itself:

* ``PgConnection.execute(statement)`` compiles a statement once per shape
  (SQLAlchemy's own cache key) and runs it as a prepared statement (asyncpg's
  per-connection statement cache).  Both caches are bounded by size (the
  compiled shapes by their estimated bytes, ``edm.kit.cache``; asyncpg's by
  statement count and SQL length).  Results answer the small part of the
  SQLAlchemy ``Result`` API this service uses.
* ``PgConnection.fetch_first(key, params, build)`` is for the hot statements:
  the caller names the statement's shape, so not even the statement is built
  after the first call.  Every parameter must be a named ``bindparam`` whose
  value is in ``params``; a statement with anonymous parameters is refused,
  because their first values would be frozen into every later call.

Values go to asyncpg as they are: the column types used here need no bind
processing on PostgreSQL (``UTCDateTime`` passes aware datetimes through),
and JSON goes through the codec installed on every connection.

Every checkout is bound to one tenant (or to none) before its first
statement: row-level security shows a statement only the rows of the tenant
in ``edm.tenant_id`` (docs/database.md).  Writes set it for their
transaction, in the same message as BEGIN (``tenant_transaction``); reads,
which run without BEGIN, set it for the session, and only when the pooled
connection was last bound to another tenant (``TenantSession``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Hashable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql import ClauseElement

from edm.kit.cache import SizedCache, compiled_bytes, compiled_statement_cache

__all__ = [
    "PgConnection", "PgResult", "TenantSession", "create_pool", "tenant_transaction", "json_text", "DIALECT",
    "TENANT_SETTING", "SWEEP_SETTING", "leaky_index_functions",
]  # fmt: skip

DIALECT = postgresql.asyncpg.dialect()  # type: ignore[attr-defined]
_NAMED_MAX_BYTES, _NAMED_MAX_ENTRY_BYTES = 2 << 20, 64 << 10
# asyncpg keeps, per connection, the 100 most recently prepared statements of
# at most 8 KiB of SQL each, for at most 5 minutes; a longer one is prepared
# for its call only.
_PREPARED_PER_CONNECTION, _PREPARED_MAX_SQL_BYTES, _PREPARED_LIFETIME_SECONDS = 100, 8 << 10, 300
# What the row-level security policies read (migration 1600).
TENANT_SETTING = "edm.tenant_id"
SWEEP_SETTING = "edm.sweep_expired"
_BIND_SESSION_TENANT = f"SELECT set_config('{TENANT_SETTING}', $1, false)"
# The operators of the GIN plans (q, custom fields, tags), which row security
# uses for index conditions only when they are LEAKPROOF (migrations 1600, 1620).
INDEX_FUNCTIONS = (
    "texticlike(text,text)", "textcat(text,text)", "jsonb_contains(jsonb,jsonb)", "jsonb_exists_any(jsonb,text[])",
    "jsonb_path_exists_opr(jsonb,jsonpath)",
)  # fmt: skip


class PgResult:
    """Rows (asyncpg records: ``row["name"]``, ``row[0]``) and the affected-row count."""

    __slots__ = ("rows", "rowcount")

    def __init__(self, rows: list[asyncpg.Record], rowcount: int) -> None:
        self.rows = rows
        self.rowcount = rowcount

    def mappings(self) -> PgResult:
        return self

    def __iter__(self) -> Iterator[asyncpg.Record]:
        return iter(self.rows)

    def first(self) -> asyncpg.Record | None:
        return self.rows[0] if self.rows else None

    def one(self) -> asyncpg.Record:
        if len(self.rows) != 1:
            raise LookupError(f"expected one row, got {len(self.rows)}")
        return self.rows[0]

    def all(self) -> list[asyncpg.Record]:
        return self.rows

    def scalar(self) -> Any:
        return self.rows[0][0] if self.rows else None

    def scalar_one(self) -> Any:
        return self.one()[0]

    def scalars(self) -> Iterator[Any]:
        return (row[0] for row in self.rows)


class _Compiled:
    __slots__ = ("sql", "names", "returns_rows")

    def __init__(self, sql: str, names: list[str], returns_rows: bool) -> None:
        self.sql = sql
        self.names = names
        self.returns_rows = returns_rows

    def approximate_bytes(self) -> int:
        return 200 + 2 * len(self.sql) + 100 * len(self.names)


def _compile(statement: ClauseElement, **kw: Any) -> tuple[Any, _Compiled]:
    compiled = statement.compile(dialect=DIALECT, **kw)
    writes = compiled.isinsert or compiled.isupdate or compiled.isdelete  # type: ignore[attr-defined]
    returns_rows = not writes or bool(compiled.effective_returning)  # type: ignore[attr-defined]
    positions = list(compiled.positiontup or [])  # type: ignore[attr-defined]
    return compiled, _Compiled(compiled.string, positions, returns_rows)


class StatementCache:
    """Compiled SQL by statement shape, shared by a worker's connections."""

    def __init__(self) -> None:
        self._by_cache_key = compiled_statement_cache(size_of=lambda found: compiled_bytes(found[0]))
        self._by_name: SizedCache[Hashable, _Compiled] = SizedCache(
            _NAMED_MAX_BYTES, max_entry_bytes=_NAMED_MAX_ENTRY_BYTES, size_of=_Compiled.approximate_bytes
        )

    def for_statement(self, statement: ClauseElement) -> tuple[str, list[Any], bool]:
        cache_key = statement._generate_cache_key()
        found = None if cache_key is None else self._by_cache_key.get(cache_key.key)
        if cache_key is not None and found is None:
            found = _compile(statement, cache_key=cache_key)
            self._by_cache_key[cache_key.key] = found
        if found is None or found[0].post_compile_params or found[0].literal_execute_params:
            # not cacheable, or with IN lists and the like: rendered for this call
            compiled, entry = _compile(statement, compile_kwargs={"render_postcompile": True})
            params = compiled.construct_params()
        else:
            compiled, entry = found
            params = compiled.construct_params(extracted_parameters=cache_key.bindparams)  # type: ignore[union-attr]
        return entry.sql, [params[n] for n in entry.names], entry.returns_rows

    def named(self, key: Hashable, params: Mapping[str, Any], build: Callable[[], ClauseElement]) -> _Compiled:
        entry = self._by_name.get(key)
        if entry is None:
            compiled, entry = _compile(build())
            unnamed = set(entry.names) - set(params)
            if unnamed or compiled.post_compile_params:
                raise RuntimeError(f"statement {key!r} has parameters that are not passed by name: {sorted(unnamed)}")
            self._by_name[key] = entry
        return entry


class PgConnection:
    """One pooled asyncpg connection, answering ``execute`` like SQLAlchemy's."""

    __slots__ = ("raw", "_statements")
    dialect = DIALECT

    def __init__(self, raw: asyncpg.Connection, statements: StatementCache) -> None:
        self.raw = raw
        self._statements = statements

    async def execute(self, statement: ClauseElement) -> PgResult:
        sql, args, returns_rows = self._statements.for_statement(statement)
        if returns_rows:
            rows = await self.raw.fetch(sql, *args)
            return PgResult(rows, len(rows))
        status = await self.raw.execute(sql, *args)
        return PgResult([], _affected(status))

    async def fetch_first(
        self, key: Hashable, params: Mapping[str, Any], build: Callable[[], ClauseElement]
    ) -> asyncpg.Record | None:
        entry = self._statements.named(key, params, build)
        return await self.raw.fetchrow(entry.sql, *[params[n] for n in entry.names])

    async def execute_many(
        self, key: Hashable, rows: Sequence[Mapping[str, Any]], build: Callable[[], ClauseElement]
    ) -> None:
        """One write statement run once for each of ``rows``, pipelined (asyncpg's ``executemany``)."""
        entry = self._statements.named(key, rows[0], build)
        await self.raw.executemany(entry.sql, [[row[n] for n in entry.names] for row in rows])


async def leaky_index_functions(conn: PgConnection) -> list[str]:
    """Those of ``INDEX_FUNCTIONS`` not marked LEAKPROOF in this database (docs/database.md)."""
    rows = await conn.raw.fetch(
        "SELECT f FROM unnest($1::text[]) AS f WHERE NOT (SELECT proleakproof FROM pg_proc WHERE oid = f::regprocedure)",
        list(INDEX_FUNCTIONS),
    )
    return [row[0] for row in rows]


def _affected(status: str) -> int:
    """The row count of a command tag such as ``UPDATE 3``."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


_PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def _encode_timestamptz(value: datetime) -> tuple[int]:
    delta = value - _PG_EPOCH
    return ((delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds,)


def _decode_timestamptz(value: tuple[int]) -> datetime:
    return _PG_EPOCH + timedelta(microseconds=value[0])


def json_text(value: Any) -> str:
    """JSON as the database takes it (the same encoder on SQLite and PostgreSQL)."""
    return orjson.dumps(value).decode()


async def _init_connection(conn: asyncpg.Connection) -> None:
    for name in ("json", "jsonb"):
        await conn.set_type_codec(name, schema="pg_catalog", encoder=json_text, decoder=orjson.loads, format="text")
    # asyncpg's own codec turns 0001-01-01T00:00:00Z into -infinity; these
    # keep every instant the instant it is.
    await conn.set_type_codec(
        "timestamptz", schema="pg_catalog", encoder=_encode_timestamptz, decoder=_decode_timestamptz, format="tuple"
    )


_UNKNOWN = object()  # a session whose tenant is not known for sure


class TenantSession(asyncpg.Connection):  # type: ignore[misc]
    """A pooled connection that remembers which tenant its session is bound to.

    Reads run without BEGIN, so their tenant is a session setting.  Each read
    checkout calls ``bind`` before its first statement, which overwrites
    whatever an earlier checkout left: a round trip when the tenant changes,
    none when this connection served the same tenant last.  What is
    remembered is only what the server confirmed; while a change is on its way
    it is "unknown", so a call cancelled half-way makes the next one set it
    again.  A new session starts "unknown" too (a role or database default
    could have set one).
    """

    __slots__ = ("_session_tenant",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._session_tenant: object = _UNKNOWN

    async def bind(self, tenant: str | None) -> None:
        """Bind the session to ``tenant``; None: to no tenant (no rows)."""
        if self._session_tenant == tenant:
            return
        self._session_tenant = _UNKNOWN
        await self.fetchval(_BIND_SESSION_TENANT, tenant or "")
        self._session_tenant = tenant


@asynccontextmanager
async def tenant_transaction(raw: asyncpg.Connection, tenant: str | None, lock: str | None = None) -> AsyncIterator[None]:
    """A transaction bound to ``tenant`` (None: to no tenant), at no round trip more than BEGIN.

    BEGIN and a transaction-local ``set_config`` go as one simple query (which
    takes no parameters, hence the literal).  The local value overrides the
    session's for this transaction only and is gone at COMMIT or ROLLBACK.
    ``lock`` names a transaction-scoped advisory lock taken in the same
    message, before any write (the record engine's per-record lock: a writer
    gets its transaction id only once it holds it).

    Inside it, prepared statements may use generic plans (``plan_cache_mode``
    auto; sessions force custom plans for the lists' sake): a write's
    statements find rows by key, and re-planning the record engine's write
    with its change event on every call halved its throughput in pgbench.
    """
    begin = (
        f"BEGIN; SELECT set_config('{TENANT_SETTING}', {_text_literal(tenant or '')}, true);"
        " SET LOCAL plan_cache_mode = auto"
    )
    if lock is not None:
        begin += f"; SELECT pg_advisory_xact_lock(hashtextextended({_text_literal(lock)}, 0))"
    await raw.execute(begin)
    try:
        yield
    except asyncio.CancelledError:
        # Cut off, perhaps mid-statement: a ROLLBACK would wait on a server that
        # may not answer.  The connection is dropped (edm.kit.db) or rolled back
        # by the pool's release, and either ends the transaction.
        raise
    except BaseException:
        with suppress(Exception):  # a ROLLBACK that fails leaves the same to the pool
            if not raw.is_closed():
                await raw.execute("ROLLBACK")
        raise
    await raw.execute("COMMIT")


def _text_literal(value: str) -> str:
    """``value`` as an SQL string constant; E'' escapes read the same whatever standard_conforming_strings says."""
    if "\x00" in value:
        raise ValueError("a text value cannot hold NUL")
    return "E'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Released connections skip asyncpg's reset query (a round trip per request).

    The service changes no session state but the tenant of reads, which the
    next checkout sets (or finds already right, ``TenantSession``): no other
    SET, no LISTEN, cursors or session-level advisory locks (the hierarchy
    lock is transaction-scoped), and asyncpg still rolls back a transaction
    left open.
    """


async def create_pool(dsn: str, *, size: int, server_settings: dict[str, str], timeout: float) -> asyncpg.Pool:
    return await asyncpg.create_pool(
        dsn,
        timeout=timeout,
        min_size=size,
        max_size=size,
        server_settings=server_settings,
        init=_init_connection,
        reset=_keep_session,
        connection_class=TenantSession,
        statement_cache_size=_PREPARED_PER_CONNECTION,
        max_cacheable_statement_size=_PREPARED_MAX_SQL_BYTES,
        max_cached_statement_lifetime=_PREPARED_LIFETIME_SECONDS,
    )
