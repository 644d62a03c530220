"""The record engine's rules: validation, versions, preconditions, and the resource's hooks.

``Service`` runs inside the transaction its route opened and never commits.
Every resource gets the same pipeline; what differs is its declaration (the
fields ``Validator`` checks) and its ``Hooks`` (accounts: the hierarchy).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import RowMapping

from edm.crm.engine.listing import ListQuery
from edm.crm.engine.repository import Repository
from edm.crm.engine.schemas import Validator, check_custom_fields_total
from edm.kit.auth import Caller
from edm.kit.cursor import CursorSigner
from edm.kit.db import Connection
from edm.kit.errors import (
    Conflict,
    FieldError,
    InvalidParameter,
    NotFound,
    PreconditionFailed,
    PreconditionRequired,
    ValidationFailed,
    VersionConflict,
)
from edm.kit.idempotency import forget_resource
from edm.kit.ids import new_id, parse_id
from edm.kit.preconditions import ETagCondition

__all__ = ["SCHEMA_VERSION", "Page", "Service"]

SCHEMA_VERSION = 1


def _now() -> datetime:
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


@dataclass(frozen=True, slots=True)
class Page:
    rows: list[RowMapping]
    has_more: bool
    next_cursor: str | None
    total: int | None


class Service:
    """list, create, get, update, delete, restore and purge for one resource."""

    def __init__(self, repo: Repository, validator: Validator) -> None:
        self.repo = repo
        self.validator = validator
        self.hooks = repo.resource.hooks
        self.noun = repo.resource.noun
        self.prefix = repo.resource.id_prefix
        self._sort_keys = tuple((f.sort_column, f.name, f.sort_key) for f in repo.resource.fields if f.sort_key)

    def canonical_id(self, raw: str) -> str:
        """The canonical id for a path segment; anything that is not an id is a 404."""
        record_id = parse_id(self.prefix, raw)
        if record_id is None:
            raise self._not_found()
        return record_id

    def _not_found(self) -> NotFound:
        return NotFound(f"no {self.noun} has this id")

    def _stamp_sort_keys(self, values: dict[str, Any]) -> None:
        for column, name, key in self._sort_keys:
            if name in values:
                value = values[name]
                values[column] = None if value is None else key(value)

    async def list(self, conn: Connection, caller: Caller, query: ListQuery, signer: CursorSigner) -> Page:
        fingerprint = query.fingerprint(caller.tenant_id, caller.app_id)
        cursor_values = None
        if query.cursor is not None:
            cursor_values = signer.decode(query.cursor, fingerprint)
            if len(cursor_values) != len(query.sort) + 1:
                raise InvalidParameter("cursor: belongs to a different query", errors=[FieldError("cursor", "belongs to a different query")])
        rows = await self.repo.list_page(conn, caller, query, cursor_values)
        has_more = len(rows) > query.limit
        rows = rows[: query.limit]
        next_cursor = signer.encode(fingerprint, self.repo.sql.sort_values(query.sort, rows[-1])) if has_more else None
        total = None
        if query.include_total:
            # A first page that holds every match is its own count.
            complete = cursor_values is None and not has_more
            total = len(rows) if complete else await self.repo.count(conn, caller, query)
        return Page(rows, has_more, next_cursor, total)

    async def create(self, conn: Connection, caller: Caller, body: dict[str, Any]) -> RowMapping:
        values = self.validator.create(body)
        await self.hooks.before_create(self.repo, conn, caller, values)
        self._stamp_sort_keys(values)
        now = _now()
        values.update(
            id=new_id(self.prefix),
            created_at=now,
            updated_at=now,
            created_by=caller.sub,
            updated_by=caller.sub,
            is_deleted=False,
            schema_version=SCHEMA_VERSION,
            version=1,
        )
        return await self.repo.insert(conn, caller, values)

    async def get(self, conn: Connection, caller: Caller, raw_id: str, *, include_deleted: bool = False) -> RowMapping:
        row = await self.repo.get(conn, caller, self.canonical_id(raw_id), include_deleted=include_deleted)
        if row is None:
            raise self._not_found()
        return row

    async def update(
        self,
        conn: Connection,
        caller: Caller,
        raw_id: str,
        body: dict[str, Any],
        *,
        if_match: ETagCondition | None,
        require_precondition: bool,
    ) -> RowMapping:
        record_id = self.canonical_id(raw_id)
        values = self.validator.patch(body)
        body_version: int | None = values.pop("version", None)
        if require_precondition and if_match is None and body_version is None:
            raise PreconditionRequired("this service requires If-Match (or version in the body) on updates")
        custom_fields_patch = None
        if "custom_fields" in values:
            patch = values.pop("custom_fields")
            if patch is None:
                values["custom_fields"] = {}
            else:
                custom_fields_patch = patch
        await self.hooks.before_update(self.repo, conn, caller, record_id, values)
        values["schema_version"] = SCHEMA_VERSION
        self._stamp_sort_keys(values)

        allowed = _allowed_versions(if_match, body_version)
        row = None
        if allowed is None or allowed:
            row = await self.repo.update(
                conn,
                caller,
                record_id,
                values,
                custom_fields_patch=custom_fields_patch,
                allowed_versions=allowed,
                now=_now(),
            )
        if row is None:
            await self._explain_miss(conn, caller, record_id, if_match, body_version)
            raise self._not_found()  # the record changed between the two statements and is gone
        if custom_fields_patch:
            errors: list[FieldError] = []
            check_custom_fields_total(row["custom_fields"], errors)
            if errors:  # raising rolls the update back
                raise ValidationFailed("custom_fields would exceed its limits after this merge", errors=errors)
        return row

    async def delete(
        self,
        conn: Connection,
        caller: Caller,
        raw_id: str,
        *,
        if_match: ETagCondition | None,
        require_precondition: bool,
    ) -> RowMapping:
        record_id = self.canonical_id(raw_id)
        allowed = _required_versions(if_match, require_precondition, "deletes")
        row = None
        if allowed is None or allowed:
            row = await self.repo.soft_delete(conn, caller, record_id, allowed_versions=allowed, now=_now())
        if row is None:
            await self._explain_miss(conn, caller, record_id, if_match, None)
            raise self._not_found()
        return row

    async def restore(
        self,
        conn: Connection,
        caller: Caller,
        raw_id: str,
        *,
        if_match: ETagCondition | None,
        require_precondition: bool,
    ) -> RowMapping:
        record_id = self.canonical_id(raw_id)
        allowed = _required_versions(if_match, require_precondition, "restores")
        row = None
        if allowed is None or allowed:
            row = await self.repo.restore(conn, caller, record_id, allowed_versions=allowed, now=_now())
        if row is None:
            current = await self._current_version_or_404(conn, caller, record_id)
            if await self.repo.state(conn, caller, record_id, deleted=True) is None:
                raise Conflict(f"the {self.noun} is not deleted", extra={"current_version": current})
            raise self._if_match_failed(current)
        return row

    async def purge(
        self,
        conn: Connection,
        caller: Caller,
        raw_id: str,
        *,
        if_match: ETagCondition | None,
        require_precondition: bool,
    ) -> None:
        """Erase the record, live or deleted, and every trace this service keeps of it."""
        record_id = self.canonical_id(raw_id)
        allowed = _required_versions(if_match, require_precondition, "deletes")
        if allowed is None or allowed:
            await self.hooks.before_purge(self.repo, conn, caller, record_id)
        now = _now()
        if (allowed is None or allowed) and await self.repo.purge(conn, caller, record_id, allowed_versions=allowed, now=now):
            await self.hooks.after_purge(self.repo, conn, caller, record_id, now)
            await forget_resource(conn, caller, record_id)
            return
        raise self._if_match_failed(await self._current_version_or_404(conn, caller, record_id))

    async def _current_version_or_404(self, conn: Connection, caller: Caller, record_id: str) -> int:
        current = await self.repo.state(conn, caller, record_id, deleted=None)
        if current is None:
            raise self._not_found()
        return current

    def _if_match_failed(self, current: int) -> PreconditionFailed:
        return PreconditionFailed(
            f"the {self.noun} is at version {current}, which If-Match does not name", extra={"current_version": current}
        )

    async def _explain_miss(
        self,
        conn: Connection,
        caller: Caller,
        record_id: str,
        if_match: ETagCondition | None,
        body_version: int | None,
    ) -> None:
        """Raise the error that says why a write matched no row."""
        current = await self.repo.state(conn, caller, record_id)
        if current is None:
            raise self._not_found()
        if if_match is not None and not if_match.matches_strong(current):
            raise self._if_match_failed(current)
        if body_version is not None and body_version != current:
            raise VersionConflict(
                f"the {self.noun} is at version {current}, not {body_version}",
                extra={"current_version": current},
            )

def _required_versions(if_match: ETagCondition | None, require_precondition: bool, what: str) -> frozenset[int] | None:
    """The versions a delete, restore or purge may find; 428 when a precondition is required and missing."""
    if require_precondition and if_match is None:
        raise PreconditionRequired(f"this service requires If-Match on {what}")
    return _allowed_versions(if_match, None)


def _allowed_versions(if_match: ETagCondition | None, body_version: int | None) -> frozenset[int] | None:
    """The versions the write may find (None: any; empty: no version can satisfy both)."""
    allowed: frozenset[int] | None = None
    if if_match is not None and not if_match.any:
        allowed = if_match.strong
    if body_version is not None:
        allowed = frozenset({body_version}) if allowed is None else allowed & {body_version}
    return allowed
