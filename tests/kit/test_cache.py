"""Caches bounded by bytes (``edm.kit.cache``), and the worker caches built on them."""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Self

import sqlalchemy as sa

from edm.kit.cache import SizedCache
from edm.kit.db import Database
from edm.kit.pg import StatementCache
from tests.conftest import base_settings

MiB = 1 << 20
COMPILED_BUDGET = 4 * MiB  # what the kit's compiled statement caches promise
SLACK = 2 * MiB  # interpreter noise: free lists, SQLAlchemy's small internal caches

_t = sa.table("t", sa.column("id"), sa.column("name"))


def _distinct_shapes(count: int, width: int) -> Iterator[sa.Select[Any]]:
    """``count`` statements of ``width`` bound parameters, each a shape of its own (its label)."""
    for n in range(count):
        where = sa.or_(
            *(_t.c.name == sa.bindparam(f"p{j}", f"v{j}") for j in range(width))
        )
        yield sa.select(_t.c.id.label(f"id_{n}")).where(where)


class _Retained:
    """Bytes still allocated at the end of the block (after a collection), by tracemalloc."""

    bytes = 0

    def __enter__(self) -> Self:
        gc.collect()
        tracemalloc.start()
        self._before = tracemalloc.take_snapshot()
        return self

    def __exit__(self, *exc: object) -> None:
        gc.collect()
        after = tracemalloc.take_snapshot()
        tracemalloc.stop()
        self.bytes = sum(
            stat.size_diff for stat in after.compare_to(self._before, "filename")
        )


def test_the_least_recently_used_entries_go_first_when_the_bytes_run_out() -> None:
    cache: SizedCache[str, str] = SizedCache(100, max_entry_bytes=60, size_of=len)
    cache["a"], cache["b"] = "a" * 40, "b" * 40
    assert cache.get("a") == "a" * 40  # now b is the least recently used
    cache["c"] = "c" * 40
    assert list(cache) == ["a", "c"] and cache.nbytes == 80
    assert cache.get("b") is None


def test_an_entry_heavier_than_the_entry_bound_is_not_kept() -> None:
    cache: SizedCache[str, str] = SizedCache(100, max_entry_bytes=60, size_of=len)
    cache["small"] = "s" * 10
    cache["big"] = "b" * 61
    assert "big" not in cache and list(cache) == ["small"] and cache.nbytes == 10


def test_a_replaced_entry_weighs_its_new_value_only() -> None:
    cache: SizedCache[str, str] = SizedCache(100, max_entry_bytes=60, size_of=len)
    cache["a"] = "a" * 50
    cache["a"] = "a" * 5
    del cache["a"]
    assert cache.nbytes == 0 and len(cache) == 0


def test_the_postgresql_statement_cache_stays_within_its_bytes() -> None:
    """300 distinct shapes of 15 parameters hold about 10 MiB compiled; the cache keeps 4."""
    cache = StatementCache()
    with _Retained() as retained:
        for statement in _distinct_shapes(300, width=15):
            cache.for_statement(statement)
    assert retained.bytes < COMPILED_BUDGET + SLACK


def test_a_statement_heavier_than_an_entry_is_compiled_but_not_kept() -> None:
    cache = StatementCache()
    with _Retained() as retained:
        sql, args, _ = cache.for_statement(
            next(_distinct_shapes(1, width=2000))
        )  # about 5 MiB compiled
    assert len(args) == 2000 and "$2000" in sql
    assert retained.bytes < SLACK


def test_the_sqlite_compiled_cache_stays_within_its_bytes(
    database_urls: dict[str, str], tmp_path: Path
) -> None:
    """SQLAlchemy's own cache bounds entries only (500): 300 shapes of 15 parameters stayed in it."""

    async def run(db: Database, shapes: range) -> None:
        async with db.read() as conn:
            for n in shapes:
                where = sa.or_(
                    *(
                        sa.literal_column("1") == sa.bindparam(f"p{j}", j)
                        for j in range(15)
                    )
                )
                await conn.execute(
                    sa.select(sa.literal_column("1").label(f"one_{n}")).where(where)
                )

    async def main() -> int:
        db = Database(base_settings(database_urls["sqlite"], tmp_path))
        try:
            await run(
                db, range(5)
            )  # the pool, the connection, the dialect's first-use state
            with _Retained() as retained:
                await run(db, range(5, 305))
            return retained.bytes
        finally:
            await db.dispose()

    assert asyncio.run(main()) < COMPILED_BUDGET + SLACK
