"""The rules of accounts: validation, hierarchy, versions and preconditions.

Functions run inside the transaction their route opened and never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy.engine import RowMapping

from edm.kit.db import Connection
from edm.crm.accounts import list_sql, repository
from edm.crm.accounts.listing import ListQuery
from edm.crm.accounts.table import name_key
from edm.crm.accounts.schemas import check_custom_fields_total, validate_create, validate_patch
from edm.kit.auth import Caller
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
from edm.kit.cursor import CursorSigner
from edm.kit.idempotency import forget_resource
from edm.kit.ids import new_id, parse_id
from edm.kit.preconditions import ETagCondition

__all__ = ["SCHEMA_VERSION", "Page", "list_accounts", "create", "get", "update", "delete", "restore", "purge", "canonical_id"]

SCHEMA_VERSION = 1


def _now() -> datetime:
    now = datetime.now(timezone.utc)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def canonical_id(raw: str) -> str:
    """The canonical id for a path segment; anything that is not an id is a 404."""
    account_id = parse_id("acc", raw)
    if account_id is None:
        raise NotFound("no account has this id")
    return account_id


def _not_found() -> NotFound:
    return NotFound("no account has this id")


@dataclass(frozen=True, slots=True)
class Page:
    rows: list[RowMapping]
    has_more: bool
    next_cursor: str | None
    total: int | None


async def list_accounts(conn: Connection, caller: Caller, query: ListQuery, signer: CursorSigner) -> Page:
    fingerprint = query.fingerprint(caller.tenant_id, caller.app_id)
    cursor_values = None
    if query.cursor is not None:
        cursor_values = signer.decode(query.cursor, fingerprint)
        if len(cursor_values) != len(query.sort) + 1:
            raise InvalidParameter("cursor: belongs to a different query", errors=[FieldError("cursor", "belongs to a different query")])
    rows = await repository.list_page(conn, caller, query, cursor_values)
    has_more = len(rows) > query.limit
    rows = rows[: query.limit]
    next_cursor = signer.encode(fingerprint, list_sql.sort_values(query.sort, rows[-1])) if has_more else None
    total = None
    if query.include_total:
        # A first page that holds every match is its own count.
        complete = cursor_values is None and not has_more
        total = len(rows) if complete else await repository.count(conn, caller, query)
    return Page(rows, has_more, next_cursor, total)


async def create(conn: Connection, caller: Caller, body: dict[str, Any]) -> RowMapping:
    values = validate_create(body)
    if values["parent_account_id"] is not None:
        await _check_parent(conn, caller, None, values["parent_account_id"])
    now = _now()
    values.update(
        name_key=name_key(values["name"]),
        id=new_id("acc"),
        created_at=now,
        updated_at=now,
        created_by=caller.sub,
        updated_by=caller.sub,
        is_deleted=False,
        schema_version=SCHEMA_VERSION,
        version=1,
    )
    return await repository.insert(conn, caller, values)


async def get(conn: Connection, caller: Caller, raw_id: str) -> RowMapping:
    row = await repository.get(conn, caller, canonical_id(raw_id))
    if row is None:
        raise _not_found()
    return row


async def update(
    conn: Connection,
    caller: Caller,
    raw_id: str,
    body: dict[str, Any],
    *,
    if_match: ETagCondition | None,
    require_precondition: bool,
) -> RowMapping:
    account_id = canonical_id(raw_id)
    values = validate_patch(body)
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
    if values.get("parent_account_id") is not None:
        if await repository.state(conn, caller, account_id) is None:
            raise _not_found()
        await _check_parent(conn, caller, account_id, values["parent_account_id"])
    values["schema_version"] = SCHEMA_VERSION
    if "name" in values:
        values["name_key"] = name_key(values["name"])

    allowed = _allowed_versions(if_match, body_version)
    row = None
    if allowed is None or allowed:
        row = await repository.update(
            conn,
            caller,
            account_id,
            values,
            custom_fields_patch=custom_fields_patch,
            allowed_versions=allowed,
            now=_now(),
        )
    if row is None:
        await _explain_miss(conn, caller, account_id, if_match, body_version)
        raise _not_found()  # the record changed between the two statements and is gone
    if custom_fields_patch:
        errors: list[FieldError] = []
        check_custom_fields_total(row["custom_fields"], errors)
        if errors:  # raising rolls the update back
            raise ValidationFailed("custom_fields would exceed its limits after this merge", errors=errors)
    return row


async def delete(
    conn: Connection,
    caller: Caller,
    raw_id: str,
    *,
    if_match: ETagCondition | None,
    require_precondition: bool,
) -> RowMapping:
    account_id = canonical_id(raw_id)
    allowed = _required_versions(if_match, require_precondition, "deletes")
    row = None
    if allowed is None or allowed:
        row = await repository.soft_delete(conn, caller, account_id, allowed_versions=allowed, now=_now())
    if row is None:
        await _explain_miss(conn, caller, account_id, if_match, None)
        raise _not_found()
    return row


async def restore(
    conn: Connection,
    caller: Caller,
    raw_id: str,
    *,
    if_match: ETagCondition | None,
    require_precondition: bool,
) -> RowMapping:
    account_id = canonical_id(raw_id)
    allowed = _required_versions(if_match, require_precondition, "restores")
    row = None
    if allowed is None or allowed:
        row = await repository.restore(conn, caller, account_id, allowed_versions=allowed, now=_now())
    if row is None:
        current = await _current_version_or_404(conn, caller, account_id)
        if await repository.state(conn, caller, account_id, deleted=True) is None:
            raise Conflict("the account is not deleted", extra={"current_version": current})
        raise _if_match_failed(current)
    return row


async def purge(
    conn: Connection,
    caller: Caller,
    raw_id: str,
    *,
    if_match: ETagCondition | None,
    require_precondition: bool,
) -> None:
    """Erase the record, live or deleted, and every trace this service keeps of it."""
    account_id = canonical_id(raw_id)
    allowed = _required_versions(if_match, require_precondition, "deletes")
    if (allowed is None or allowed) and await repository.purge(conn, caller, account_id, allowed_versions=allowed):
        await repository.detach_children(conn, caller, account_id, now=_now())
        await forget_resource(conn, caller, account_id)
        return
    raise _if_match_failed(await _current_version_or_404(conn, caller, account_id))


def _required_versions(if_match: ETagCondition | None, require_precondition: bool, what: str) -> frozenset[int] | None:
    """The versions a delete, restore or purge may find; 428 when a precondition is required and missing."""
    if require_precondition and if_match is None:
        raise PreconditionRequired(f"this service requires If-Match on {what}")
    return _allowed_versions(if_match, None)


async def _current_version_or_404(conn: Connection, caller: Caller, account_id: str) -> int:
    current = await repository.state(conn, caller, account_id, deleted=None)
    if current is None:
        raise _not_found()
    return current


def _if_match_failed(current: int) -> PreconditionFailed:
    return PreconditionFailed(
        f"the account is at version {current}, which If-Match does not name", extra={"current_version": current}
    )


def _allowed_versions(if_match: ETagCondition | None, body_version: int | None) -> frozenset[int] | None:
    """The versions the write may find (None: any; empty: no version can satisfy both)."""
    allowed: frozenset[int] | None = None
    if if_match is not None and not if_match.any:
        allowed = if_match.strong
    if body_version is not None:
        allowed = frozenset({body_version}) if allowed is None else allowed & {body_version}
    return allowed


async def _explain_miss(
    conn: Connection,
    caller: Caller,
    account_id: str,
    if_match: ETagCondition | None,
    body_version: int | None,
) -> None:
    """Raise the error that says why a write matched no row."""
    current = await repository.state(conn, caller, account_id)
    if current is None:
        raise _not_found()
    if if_match is not None and not if_match.matches_strong(current):
        raise _if_match_failed(current)
    if body_version is not None and body_version != current:
        raise VersionConflict(
            f"the account is at version {current}, not {body_version}",
            extra={"current_version": current},
        )


async def _check_parent(conn: Connection, caller: Caller, account_id: str | None, parent_id: str) -> None:
    def fail(message: str) -> ValidationFailed:
        return ValidationFailed(message, errors=[FieldError("parent_account_id", message)])

    if parent_id == account_id:
        raise fail("an account cannot be its own parent")
    if account_id is not None:
        await repository.lock_hierarchy(conn, caller)
    if not await repository.exists(conn, caller, parent_id):
        raise fail("no account with this id exists")
    if account_id is not None and account_id in await repository.ancestors(conn, caller, parent_id):
        raise fail("this parent would make the hierarchy a cycle")
