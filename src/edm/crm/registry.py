"""The registry: every resource the service serves, in the order the API lists them.

The app's router, the OpenAPI document, the manifest, the SDK generator and
the contract tests iterate ``REGISTRY``; adding a resource is a declaration
(``edm.crm.<resource>.resource``), a migration for its table, and a line here.
"""

from __future__ import annotations

from collections.abc import Iterator

import sqlalchemy as sa

from edm.crm.accounts.resource import ACCOUNTS
from edm.crm.engine.engine import RecordEngine
from edm.crm.engine.resource import Resource
from edm.crm.engine.table import metadata
from edm.kit.web.routing import Route

__all__ = ["Registry", "REGISTRY"]


class Registry:
    """Resources by name, each bound to its engine; their tables live in ``meta``."""

    def __init__(self, resources: tuple[Resource, ...], meta: sa.MetaData = metadata) -> None:
        self._engines = {resource.name: RecordEngine(resource, meta) for resource in resources}

    def __iter__(self) -> Iterator[RecordEngine]:
        return iter(self._engines.values())

    def __getitem__(self, name: str) -> RecordEngine:
        return self._engines[name]

    @property
    def routes(self) -> tuple[Route, ...]:
        return tuple(route for engine in self for route in engine.routes)


REGISTRY = Registry((ACCOUNTS,))
