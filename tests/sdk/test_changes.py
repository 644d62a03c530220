"""``history()``, ``events()`` and ``get(as_of=)`` of the SDK against the real servers (docs/sdk.md, docs/changes.md)."""

from __future__ import annotations

import threading
import time
from datetime import datetime

import pytest

import edm
from edm.sdk.pagination import AsyncEventStream, EventPage, EventStream
from edm.sdk.types import AccountEvent, AccountHistoryEntry
from tests.sdk.conftest import run


def test_history_walks_every_version_newest_first_and_as_of_reads_the_past(client: edm.Client) -> None:
    accounts = client.customer.accounts
    first = accounts.create(name="v1")
    for n in range(2, 6):
        accounts.update(first.id, name=f"v{n}")
    history = accounts.history(first.id, limit=2)
    assert len(history.data) == 2 and history.has_more
    entries = list(history)  # every page
    assert all(isinstance(entry, AccountHistoryEntry) for entry in entries)
    assert [entry.version for entry in entries] == [5, 4, 3, 2, 1]
    assert [entry.op for entry in entries] == ["update"] * 4 + ["create"]
    assert entries[0].changes == {"name": ["v4", "v5"]} and isinstance(entries[0].at, datetime)
    assert entries[0].by and entries[0].app_id is None
    assert first.updated_at is not None
    then = accounts.get(first.id, as_of=first.updated_at)
    assert (then.name, then.version) == ("v1", 1)
    assert accounts.get(first.id, as_of=entries[1].at.isoformat()).name == "v4"
    with pytest.raises(ValueError, match="no timezone"):
        accounts.get(first.id, as_of=datetime(2026, 1, 1))
    with pytest.raises(edm.BadRequestError) as bad:
        accounts.get(first.id, as_of="yesterday")
    assert [detail.field for detail in bad.value.errors] == ["as_of"]


def test_events_read_to_the_end_then_resume_from_the_cursor(client: edm.Client) -> None:
    accounts = client.customer.accounts
    made = [accounts.create(name=f"e{n}") for n in range(3)]
    events = accounts.events(limit=2)
    assert isinstance(events, EventStream) and events.cursor is None
    seen = list(events)
    assert all(isinstance(event, AccountEvent) for event in seen)
    assert [(e.type, e.account_id, e.version) for e in seen] == [("account.created", a.id, 1) for a in made]
    assert seen[0].data is not None and seen[0].data.name == "e0" and seen[0].id.startswith("evt_")
    saved = events.cursor
    assert saved
    assert list(accounts.events(after=saved)) == []
    accounts.delete(made[1].id)
    after = accounts.events(after=saved)
    assert [(e.type, e.account_id, e.version) for e in after] == [("account.deleted", made[1].id, 2)]
    assert after.cursor != saved and list(accounts.events(after=after.cursor)) == []
    with pytest.raises(edm.BadRequestError) as bad:
        list(accounts.events(after=saved + "x"))
    assert [detail.field for detail in bad.value.errors] == ["after"]


def test_the_cursor_moves_to_a_pages_end_with_its_last_event(client: edm.Client) -> None:
    accounts = client.customer.accounts
    for n in range(3):
        accounts.create(name=f"c{n}")
    events = accounts.events(limit=2)
    cursors = []
    for _ in events:
        cursors.append(events.cursor)
    first_page_end = cursors[1]
    assert cursors[0] is None and first_page_end is not None  # mid page: where the page began
    assert [e.account_id for e in accounts.events(after=first_page_end)] == [
        e.account_id for e in list(accounts.events())[2:]
    ]
    pages = list(accounts.events(limit=2).iter_pages())
    assert [len(page.data) for page in pages] == [2, 1] and all(isinstance(p, EventPage) for p in pages)
    assert pages[-1].has_more is False and pages[-1].next_cursor


def test_following_waits_for_new_events(client: edm.Client) -> None:
    accounts = client.customer.accounts
    record = accounts.create(name="f")
    following = accounts.events(follow=True, interval=0.05)
    seen: list[tuple[str, int]] = []

    def consume() -> None:
        for event in following:
            seen.append((event.type, event.version))
            if event.version == 3:
                return

    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()
    time.sleep(0.3)  # the consumer is past the end of the feed, polling
    accounts.update(record.id, name="f2")
    accounts.update(record.id, name="f3")
    consumer.join(timeout=20)
    assert not consumer.is_alive(), seen
    assert seen == [("account.created", 1), ("account.updated", 2), ("account.updated", 3)]
    assert list(accounts.events(after=following.cursor)) == []
    with pytest.raises(ValueError, match="interval"):
        accounts.events(interval=-1)


def test_the_async_client_has_them_too(base_url: str, token: str) -> None:
    async def main() -> None:
        async with edm.AsyncClient(base_url, token) as aclient:
            accounts = aclient.customer.accounts
            record = await accounts.create(name="a1")
            await accounts.update(record.id, name="a2")
            assert [entry.version async for entry in accounts.history(record.id, limit=1)] == [2, 1]
            assert (await accounts.get(record.id, as_of=record.updated_at)).name == "a1"
            events = accounts.events(limit=1)
            assert isinstance(events, AsyncEventStream)
            assert [(e.type, e.version) async for e in events] == [("account.created", 1), ("account.updated", 2)]
            saved = events.cursor
            following = accounts.events(after=saved, follow=True, interval=0.05)
            await accounts.delete(record.id)
            async for event in following:
                assert (event.type, event.version) == ("account.deleted", 3)
                break
            assert following.cursor != saved
            pages = [page async for page in accounts.events(after=saved).iter_pages()]
            assert [len(page.data) for page in pages] == [1]

    run(main())
