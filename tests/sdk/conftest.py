"""SDK fixtures: an ``edm.Client`` per database, talking to the real test servers.

Async tests run their coroutine with ``asyncio.run`` inside a plain test
function (the project has no async pytest plugin), and build their
``edm.AsyncClient`` inside it, on that loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import pytest

import edm
from tests.conftest import make_token

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


@pytest.fixture
def base_url(backend: str, servers: dict[str, str]) -> str:
    return servers[backend]


@pytest.fixture
def token(tenant: str) -> str:
    return make_token(tenant)


@pytest.fixture
def client(base_url: str, token: str) -> Iterator[edm.Client]:
    with edm.Client(base_url, token) as client:
        yield client
