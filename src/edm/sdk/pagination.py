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
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from typing import Any, Generic, TypeVar

__all__ = ["SyncPage", "AsyncPage", "AsyncPaginator"]

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
