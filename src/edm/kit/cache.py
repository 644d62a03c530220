"""Caches bounded by what they hold, not only by how many entries they have.

Caches keyed by a statement's shape grow with the variety of requests clients
send, and one entry can weigh a kilobyte or several megabytes (a compiled
statement holds its SQLAlchemy tree and cache key, about 3 KiB per bind
parameter).  A count bound alone let a worker grow from 180 MiB to 1.5 GiB
on a few dozen large list queries.  ``SizedCache`` bounds the total bytes,
evicts the least recently used entries first, and does not keep an entry
larger than its per-entry bound at all (the caller uses it once).
"""

from __future__ import annotations

import sys
from collections import OrderedDict
from collections.abc import Callable, Iterator, MutableMapping
from typing import Any, Generic, TypeVar

__all__ = ["SizedCache", "compiled_bytes", "compiled_statement_cache"]

K = TypeVar("K")
V = TypeVar("V")

# Measured with tracemalloc on SQLAlchemy 2.1 (a compiled statement with its
# cache key, the statement itself dropped): 16–48 bytes per character of SQL
# and about 2.8 KiB per bind parameter, besides the values of the first call,
# which the compiled statement keeps.
_BYTES_PER_SQL_CHARACTER = 16
_BYTES_PER_PARAMETER = 3072

# A worker's cache of compiled statement shapes (SQLite or PostgreSQL): about
# a hundred list shapes (10-45 KiB each).  A shape over the entry bound (a list
# query with several long in-lists) is compiled for each call instead, which
# costs a few milliseconds and keeps nothing.
_COMPILED_MAX_BYTES = 4 << 20
_COMPILED_MAX_ENTRY_BYTES = 64 << 10


def compiled_bytes(compiled: Any) -> int:
    """About how much memory a SQLAlchemy ``Compiled`` keeps alive in a cache."""
    if compiled.cache_key is not None:
        parameters = compiled.cache_key.bindparams
    else:
        parameters = list({id(p): p for p in compiled.binds.values()}.values())
    return (
        _BYTES_PER_SQL_CHARACTER * len(compiled.string)
        + _BYTES_PER_PARAMETER * len(parameters)
        + sum(_value_bytes(p.value) for p in parameters)
    )


def _value_bytes(value: Any) -> int:
    size = sys.getsizeof(value)
    if isinstance(value, list | tuple | set | frozenset):
        size += sum(_value_bytes(item) for item in value)
    elif isinstance(value, dict):
        size += sum(_value_bytes(k) + _value_bytes(v) for k, v in value.items())
    return size


class SizedCache(MutableMapping[K, V], Generic[K, V]):
    """A least-recently-used mapping whose values weigh at most ``max_bytes`` together.

    ``size_of(value)`` is the weight of a value; a value heavier than
    ``max_entry_bytes`` is not stored (a later ``get`` misses).  It is a
    ``MutableMapping``, so SQLAlchemy takes it as a ``compiled_cache``.
    """

    def __init__(
        self, max_bytes: int, *, max_entry_bytes: int, size_of: Callable[[V], int]
    ) -> None:
        if not 0 < max_entry_bytes <= max_bytes:
            raise ValueError("need 0 < max_entry_bytes <= max_bytes")
        self.max_bytes = max_bytes
        self.max_entry_bytes = max_entry_bytes
        self._size_of = size_of
        self._entries: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self.nbytes = 0

    def get(self, key: K, default: Any = None) -> Any:
        found = self._entries.get(key)
        if found is None:
            return default
        self._entries.move_to_end(key)
        return found[0]

    def __getitem__(self, key: K) -> V:
        found = self._entries[key]
        self._entries.move_to_end(key)
        return found[0]

    def __setitem__(self, key: K, value: V) -> None:
        size = self._size_of(value)
        self.pop(key, None)
        if size > self.max_entry_bytes:
            return
        while self.nbytes + size > self.max_bytes:
            _, (_, evicted) = self._entries.popitem(last=False)
            self.nbytes -= evicted
        self._entries[key] = (value, size)
        self.nbytes += size

    def __delitem__(self, key: K) -> None:
        _, size = self._entries.pop(key)
        self.nbytes -= size

    def __iter__(self) -> Iterator[K]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()
        self.nbytes = 0


def compiled_statement_cache(
    size_of: Callable[[Any], int] = compiled_bytes,
) -> SizedCache[Any, Any]:
    """A worker's compiled statement shapes: 4 MiB, none over 64 KiB (``size_of`` weighs an entry)."""
    return SizedCache(
        _COMPILED_MAX_BYTES, max_entry_bytes=_COMPILED_MAX_ENTRY_BYTES, size_of=size_of
    )
