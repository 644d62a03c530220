"""List pages that walk every page for you.

Iterating a page yields the records of that page *and every page after it*,
fetching each next page only when the previous one is used up::

    for account in client.customer.accounts.list(filter={"industry": "Software"}):
        print(account.name)

    async for account in async_client.customer.accounts.list(limit=100):
        ...

One page at a time: ``.data``, ``.has_more``, ``.next_cursor``, ``.total``
(with ``include_total=True``), ``.get_next_page()`` and ``.iter_pages()``::

    for page in client.customer.accounts.list(limit=200).iter_pages():
        save(page.data)

The async ``list()`` returns an ``AsyncPaginator``: ``await`` it for the first
``AsyncPage``, or ``async for`` over it for every record.

A change feed (``events()``) is an ``EventStream`` (``AsyncEventStream``):
iterating it yields every event after ``after``, page by page; ``.cursor`` is
where to resume; with ``follow=True`` it does not stop at the end of the feed
but asks again every ``interval`` seconds::

    events = client.customer.accounts.events(after=saved, follow=True)
    for event in events:
        apply(event)
        save(events.cursor)
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from typing import Any, Generic, TypeVar

import anyio

__all__ = ["SyncPage", "AsyncPage", "AsyncPaginator", "EventPage", "EventStream", "AsyncEventStream"]

T = TypeVar("T")


class _PageBase(Generic[T]):
    data: list[T]
    has_more: bool
    next_cursor: str | None
    total: int | None

    def __init__(self, *, data: list[T], has_more: bool, next_cursor: str | None, total: int | None = None) -> None:
        self.data = data
        self.has_more = has_more
        self.next_cursor = next_cursor
        self.total = total

    def has_next_page(self) -> bool:
        return self.has_more and self.next_cursor is not None

    def _next_cursor(self) -> str:
        if not self.has_next_page():
            raise RuntimeError("this is the last page; check has_next_page() first")
        assert self.next_cursor is not None
        return self.next_cursor

    def __repr__(self) -> str:
        total = "" if self.total is None else f", total={self.total}"
        return f"{type(self).__name__}(data=<{len(self.data)} records>, has_more={self.has_more}{total})"


class SyncPage(_PageBase[T]):
    """One page of a list; iterating it walks all the pages from here on."""

    def __init__(self, *, fetch: Callable[[str], SyncPage[T]], **page: Any) -> None:
        super().__init__(**page)
        self._fetch = fetch

    def get_next_page(self) -> SyncPage[T]:
        """The page after this one (``RuntimeError`` on the last page)."""
        return self._fetch(self._next_cursor())

    def iter_pages(self) -> Iterator[SyncPage[T]]:
        """This page, then each following page, fetched lazily."""
        page = self
        yield page
        while page.has_next_page():
            page = page.get_next_page()
            yield page

    def __iter__(self) -> Iterator[T]:
        for page in self.iter_pages():
            yield from page.data


class AsyncPage(_PageBase[T]):
    """One page of a list; ``async for`` over it walks all the pages from here on."""

    def __init__(self, *, fetch: Callable[[str], Awaitable[AsyncPage[T]]], **page: Any) -> None:
        super().__init__(**page)
        self._fetch = fetch

    async def get_next_page(self) -> AsyncPage[T]:
        """The page after this one (``RuntimeError`` on the last page)."""
        return await self._fetch(self._next_cursor())

    async def iter_pages(self) -> AsyncIterator[AsyncPage[T]]:
        """This page, then each following page, fetched lazily."""
        page = self
        yield page
        while page.has_next_page():
            page = await page.get_next_page()
            yield page

    async def __aiter__(self) -> AsyncIterator[T]:
        async for page in self.iter_pages():
            for item in page.data:
                yield item


class AsyncPaginator(Generic[T]):
    """What the async ``list()`` returns: ``await`` it for the first page, or ``async for`` every record.

    Nothing is sent until it is awaited or iterated; each ``await`` or
    iteration starts again from the first page.
    """

    def __init__(self, first_page: Callable[[], Awaitable[AsyncPage[T]]]) -> None:
        self._first_page = first_page

    def __await__(self) -> Generator[Any, None, AsyncPage[T]]:
        return self._first_page().__await__()

    async def iter_pages(self) -> AsyncIterator[AsyncPage[T]]:
        page = await self
        async for each in page.iter_pages():
            yield each

    async def __aiter__(self) -> AsyncIterator[T]:
        page = await self
        async for item in page:
            yield item


class EventPage(Generic[T]):
    """One page of a change feed: ``data``, ``has_more`` and ``next_cursor`` (always a string: where it ends)."""

    def __init__(self, *, data: list[T], has_more: bool, next_cursor: str) -> None:
        self.data = data
        self.has_more = has_more
        self.next_cursor = next_cursor

    def __repr__(self) -> str:
        return f"EventPage(data=<{len(self.data)} events>, has_more={self.has_more})"


class _StreamBase(Generic[T]):
    def __init__(self, *, after: str | None, follow: bool, interval: float) -> None:
        if interval < 0:
            raise ValueError(f"interval must be a number of seconds >= 0, not {interval!r}")
        self.cursor = after
        self.follow = follow
        self.interval = interval

    def _advance(self, page: EventPage[T]) -> None:
        self.cursor = page.next_cursor

    def _wait_after(self, page: EventPage[T]) -> bool | None:
        """None: stop; False: read on at once; True: wait ``interval`` first (the feed is caught up)."""
        if page.has_more:
            return False
        return True if self.follow else None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(cursor={self.cursor!r}, follow={self.follow})"


class EventStream(_StreamBase[T]):
    """A change feed to iterate: every event after ``after``, in commit order, fetched page by page.

    ``cursor`` is where to resume (pass it as ``after`` later): ``None`` before
    the first page, then the ``next_cursor`` of the last page read.  It moves
    to a page's end as that page's last event is yielded, so saving it after
    applying each event never skips one (resuming from a cursor saved in the
    middle of a page repeats that page's earlier events: apply by ``version``).
    Without ``follow`` the iteration ends where the feed ends; with it, the
    stream waits ``interval`` seconds and asks again, until you ``break``.
    """

    def __init__(
        self, *, fetch: Callable[[str | None], EventPage[T]], after: str | None, follow: bool, interval: float
    ) -> None:
        super().__init__(after=after, follow=follow, interval=interval)
        self._fetch = fetch

    def iter_pages(self) -> Iterator[EventPage[T]]:
        """Each page from ``cursor`` on (empty ones too when following); ``cursor`` moves as each is yielded."""
        while True:
            page = self._fetch(self.cursor)
            self._advance(page)
            yield page
            wait = self._wait_after(page)
            if wait is None:
                return
            if wait:
                time.sleep(self.interval)

    def __iter__(self) -> Iterator[T]:
        while True:
            page = self._fetch(self.cursor)
            for index, event in enumerate(page.data):
                if index == len(page.data) - 1:
                    self._advance(page)
                yield event
            self._advance(page)
            wait = self._wait_after(page)
            if wait is None:
                return
            if wait:
                time.sleep(self.interval)


class AsyncEventStream(_StreamBase[T]):
    """The async ``EventStream``: ``async for event in stream``; ``cursor``, ``follow`` and ``interval`` alike."""

    def __init__(
        self,
        *,
        fetch: Callable[[str | None], Awaitable[EventPage[T]]],
        after: str | None,
        follow: bool,
        interval: float,
    ) -> None:
        super().__init__(after=after, follow=follow, interval=interval)
        self._fetch = fetch

    async def iter_pages(self) -> AsyncIterator[EventPage[T]]:
        """Each page from ``cursor`` on (empty ones too when following); ``cursor`` moves as each is yielded."""
        while True:
            page = await self._fetch(self.cursor)
            self._advance(page)
            yield page
            wait = self._wait_after(page)
            if wait is None:
                return
            if wait:
                await anyio.sleep(self.interval)

    async def __aiter__(self) -> AsyncIterator[T]:
        while True:
            page = await self._fetch(self.cursor)
            for index, event in enumerate(page.data):
                if index == len(page.data) - 1:
                    self._advance(page)
                yield event
            self._advance(page)
            wait = self._wait_after(page)
            if wait is None:
                return
            if wait:
                await anyio.sleep(self.interval)
