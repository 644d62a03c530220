"""Reading the change feed in tests: on PostgreSQL an event is in the feed once every transaction
of the cluster that began before its own has ended (docs/changes.md, "Guarantees": latency), so a test that
has just written may have to read again — other test runs on the same cluster hold it back."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def settled(read: Callable[[], T], done: Callable[[T], bool], within_s: float = 15) -> T:
    """``read()`` until ``done`` holds of its result (or ``within_s`` passes: then its last result)."""
    deadline = time.monotonic() + within_s
    while True:
        result = read()
        if done(result) or time.monotonic() > deadline:
            return result
        time.sleep(0.05)
