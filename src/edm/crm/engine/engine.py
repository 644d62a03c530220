"""One resource declaration, bound to the parts of the record engine that serve it."""

from __future__ import annotations

from functools import cached_property

import sqlalchemy as sa

from edm.crm.engine.history import ChangeLog
from edm.crm.engine.list_sql import ListSQL
from edm.crm.engine.listing import ListGrammar
from edm.crm.engine.render import Renderer
from edm.crm.engine.repository import Repository
from edm.crm.engine.resource import Resource
from edm.crm.engine.schemas import Validator
from edm.crm.engine.service import Service
from edm.crm.engine.table import Tables, metadata
from edm.kit.web.routing import Route

__all__ = ["RecordEngine"]


class RecordEngine:
    """``resource`` → its tables, validator, list grammar and SQL, renderer, repository, service and routes."""

    def __init__(self, resource: Resource, meta: sa.MetaData = metadata) -> None:
        self.resource = resource
        self.tables = Tables(resource, meta)
        self.validator = Validator(resource)
        self.grammar = ListGrammar(resource)
        self.sql = ListSQL(resource, self.tables)
        self.render = Renderer(resource, self.tables)
        self.repository = Repository(resource, self.tables, self.sql, self.render)
        self.service = Service(self.repository, self.validator)
        self.changes = ChangeLog(resource, self.tables.records)

    @cached_property
    def routes(self) -> tuple[Route, ...]:
        from edm.crm.engine.routes import resource_routes

        return resource_routes(self)
