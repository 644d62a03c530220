"""The suite's PostgreSQL connection budget, watched.

PostgreSQL allows a fixed number of connections (100 by default) to everyone
sharing it.  While the run's database exists, a thread counts the connections
to it (and to the scratch databases named after it) every 100 ms; the run
fails at the end if it ever held more than ``BUDGET`` (``EDM_TEST_PG_BUDGET``
overrides it), naming the test that was running.  Where the connections go:
docs/development.md.
"""

from __future__ import annotations

import asyncio
import os
import threading

import asyncpg
import sqlalchemy as sa

BUDGET = int(os.environ.get("EDM_TEST_PG_BUDGET") or 20)
POLL_S = 0.1
_COUNT = "SELECT count(*) FROM pg_stat_activity WHERE left(datname, length($1)) = $1"


class _Watch(threading.Thread):
    def __init__(self, admin_url: str, database: str) -> None:
        super().__init__(name="edm-test-connections", daemon=True)
        self._admin = sa.make_url(admin_url)
        self._database = database
        self._stopping = threading.Event()
        self.peak = 0
        self.peak_test = ""
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._poll())
        except Exception as error:  # noqa: BLE001 -- reported in the summary: a blind watch must not pass as a clean one
            self.error = error

    async def _poll(self) -> None:
        conn = await asyncpg.connect(
            host=self._admin.host or "127.0.0.1",
            port=self._admin.port or 5432,
            user=self._admin.username or "postgres",
            password=self._admin.password,
            database=self._admin.database or "postgres",
        )
        try:
            while not self._stopping.is_set():
                count = await conn.fetchval(_COUNT, self._database)
                if count > self.peak:
                    self.peak, self.peak_test = count, _current_test
                await asyncio.sleep(POLL_S)
        finally:
            await conn.close()

    def stop(self) -> None:
        self._stopping.set()
        self.join(timeout=5)


_current_test = "(before the first test)"
_watch: _Watch | None = None


def note_test(nodeid: str) -> None:
    global _current_test
    _current_test = nodeid


def watch(admin_url: str, database: str) -> None:
    global _watch
    _watch = _Watch(admin_url, database)
    _watch.start()


def stop() -> None:
    if _watch is not None:
        _watch.stop()


def over_budget() -> bool:
    return _watch is not None and (_watch.peak > BUDGET or _watch.error is not None)


def summary() -> list[str]:
    if _watch is None:
        return []
    if _watch.error is not None:
        return [f"PostgreSQL connections: the watch failed ({_watch.error!r}); failing the run"]
    line = f"PostgreSQL connections: at most {_watch.peak} at once (budget {BUDGET}), first during {_watch.peak_test}"
    if _watch.peak > BUDGET:
        return [line, "PostgreSQL connections: OVER BUDGET; failing the run (see docs/development.md)"]
    return [line]
