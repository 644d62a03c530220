"""Small shared types: the ``NOT_GIVEN`` sentinel, timeouts, headers.

``NOT_GIVEN`` tells "leave this alone" apart from ``None`` ("clear it")::

    client.customer.accounts.update("acc_…", industry=None)  # clears industry
    client.customer.accounts.update("acc_…")                 # touches nothing but version
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Final, Literal, TypeVar

import httpx

__all__ = ["NotGiven", "NOT_GIVEN", "Timeout", "Headers", "DateTimeInput", "T"]

T = TypeVar("T")


class NotGiven:
    """The type of ``NOT_GIVEN``: a keyword argument the caller left out.

    It is falsy and has one instance, so ``value is NOT_GIVEN`` is the test.
    """

    _instance: NotGiven | None = None

    def __new__(cls) -> NotGiven:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> Literal[False]:
        return False

    def __repr__(self) -> str:
        return "NOT_GIVEN"

    def __reduce__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN: Final = NotGiven()

# A number of seconds, an ``httpx.Timeout`` for connect/read/write/pool, or None for no limit.
Timeout = float | httpx.Timeout | None
Headers = Mapping[str, str]

# A datetime to send: an aware ``datetime`` (a naive one is refused) or an RFC 3339 string.
DateTimeInput = datetime | str
