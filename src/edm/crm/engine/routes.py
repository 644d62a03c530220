"""HTTP for a resource: parse, call the service in one transaction, answer.

``resource_routes(engine)`` declares the seven operations of any resource
(list, create, get, update, delete/purge, restore) with what the API
reference says of each: parameters, body, responses and the errors they
raise.  Business rules live in the ``Service``; SQL in the ``Repository``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from edm.crm.engine.events import record_lock_key
from edm.crm.engine.formats import with_article
from edm.crm.engine.history import parse_instant
from edm.crm.engine.listing import DEFAULT_LIMIT, MAX_LIMIT
from edm.crm.engine.openapi import list_limits_note, list_parameters
from edm.crm.engine.patterns import ETAG_LIST
from edm.crm.engine.render import page_json
from edm.crm.engine.resource import ADMIN_SCOPE
from edm.kit.auth import Caller
from edm.kit.db import Connection
from edm.kit.errors import (
    Conflict,
    FieldError,
    InvalidParameter,
    NotFound,
    PayloadTooLarge,
    PreconditionFailed,
    PreconditionRequired,
    UnsupportedMediaType,
    ValidationFailed,
    VersionConflict,
)
from edm.kit.idempotency import MAX_KEY_LENGTH, IdempotencyConflict, IdempotencyInFlight
from edm.kit.jsonbody import JSON, JSON_OR_MERGE_PATCH, read_json_object
from edm.kit.preconditions import etag, parse_condition
from edm.kit.web.idempotent import run_idempotent
from edm.kit.web.openapi import header_parameter, json_response, query_parameter, response_headers
from edm.kit.web.request import cursor_signer, database, settings
from edm.kit.web.routing import ClientMethod, Doc, Route

if TYPE_CHECKING:
    from edm.crm.engine.engine import RecordEngine

__all__ = ["resource_routes"]

_REQUEST_ID = header_parameter(
    "X-Request-Id",
    {"type": "string"},
    "A trace id to carry: kept when it matches `[A-Za-z0-9._:-]{1,128}`, otherwise replaced.",
)
_IF_MATCH = header_parameter(
    "If-Match",
    {"type": "string", "pattern": ETAG_LIST},
    'Apply only at this version: `"<version>"` (the ETag), a list of them, or `*`; otherwise 412.',
)
_IF_NONE_MATCH = header_parameter(
    "If-None-Match", {"type": "string", "pattern": ETAG_LIST}, "304 Not Modified when the ETag matches."
)
_IDEMPOTENCY_KEY = header_parameter(
    "Idempotency-Key",
    {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH, "pattern": f"^[!-~]{{1,{MAX_KEY_LENGTH}}}$"},
    "Replays the first response (status, body, headers, `Idempotent-Replayed: true`) for 24 h when the same "
    "key comes with the same request; a different request is a 422, one still running a 409.",
)
_BODY_ERRORS = (PayloadTooLarge, UnsupportedMediaType, ValidationFailed)


def _flag(request: Request, name: str) -> bool:
    """The one boolean query parameter an operation takes (``purge`` on delete,
    ``include_deleted`` on get), false when absent; any other parameter is a 400."""
    for given, value in request.query_params.multi_items():
        if given != name or value not in ("true", "false") or len(request.query_params.getlist(name)) > 1:
            message = f"only {name}=true|false is accepted" if given == name else "is not a known query parameter"
            raise InvalidParameter(f"{given}: {message}", errors=[FieldError(given, message)])
    return request.query_params.get(name) == "true"


def _query(request: Request, allowed: tuple[str, ...]) -> dict[str, str]:
    """The query parameters, each at most once and among ``allowed``; anything else is a 400 naming it."""
    out: dict[str, str] = {}
    for name, value in request.query_params.multi_items():
        if name not in allowed or name in out:
            message = "is not a known query parameter" if name not in allowed else "may be given only once"
            raise InvalidParameter(f"{name}: {message}", errors=[FieldError(name, message)])
        out[name] = value
    return out


def _boolean(params: dict[str, str], name: str) -> bool:
    value = params.get(name, "false")
    if value not in ("true", "false"):
        raise InvalidParameter(f"{name}: only {name}=true|false is accepted", errors=[FieldError(name, "only true or false")])
    return value == "true"


def _limit(params: dict[str, str]) -> int:
    raw = params.get("limit", str(DEFAULT_LIMIT))
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        message = f"must be an integer from 1 to {MAX_LIMIT}"
        raise InvalidParameter(f"limit: {message}", errors=[FieldError("limit", message)])
    return int(raw)


def resource_routes(engine: RecordEngine) -> tuple[Route, ...]:
    """The routes of one resource, handlers and documentation together."""
    resource, service, render, changes = engine.resource, engine.service, engine.render, engine.changes
    noun, title, path, item = resource.noun, resource.title, resource.path, resource.item_path
    read, write = resource.read_scope, resource.write_scope
    idempotency_scope = {"create": f"POST {path}", "restore": f"POST {item.replace(resource.id_parameter, 'id')}/restore"}

    def lock(caller: Caller, raw_id: str) -> str:
        """The record's advisory lock, which its write transaction takes before anything else (``edm.crm.engine.events``)."""
        return record_lock_key(caller.tenant_id, service.canonical_id(raw_id))

    def record(row: Any, status: int = 200, **headers: str) -> Response:
        return Response(
            render.record_json(row),
            status_code=status,
            media_type="application/json",
            headers={"ETag": etag(row["version"]), **headers},
        )

    async def list_records(request: Request, caller: Caller) -> Response:
        query = engine.grammar.parse_query_string(request.scope["query_string"])
        async with database(request).read(caller.tenant_id) as conn:
            page = await service.list(conn, caller, query, cursor_signer(request))
        body = render.page_json(page.rows, page.has_more, page.next_cursor, page.total, query.fields)
        return Response(body, media_type="application/json")

    async def create_record(request: Request, caller: Caller) -> Response:
        body = await read_json_object(request, JSON)

        async def effect(conn: Connection) -> tuple[Response, str]:
            row = await service.create(conn, caller, body)
            return record(row, 201, Location=f"{path}/{row['id']}"), row["id"]

        return await run_idempotent(request, caller, idempotency_scope["create"], body, effect)

    async def get_record(request: Request, caller: Caller, **ids: str) -> Response:
        (record_id,) = ids.values()
        params = _query(request, ("include_deleted", "as_of")) if request.scope["query_string"] else {}
        include_deleted = _boolean(params, "include_deleted")
        if_none_match = parse_condition(request.headers.get("if-none-match"), "If-None-Match")
        if "as_of" in params:
            instant = parse_instant(params["as_of"], "as_of")
            async with database(request).read(caller.tenant_id) as conn:
                version, document = await changes.as_of(
                    conn, caller, service.canonical_id(record_id), instant, include_deleted=include_deleted
                )
            return Response(orjson.dumps(document), media_type="application/json", headers={"ETag": etag(version)})
        async with database(request).read(caller.tenant_id) as conn:
            row = await service.get(conn, caller, record_id, include_deleted=include_deleted)
        if if_none_match is not None and if_none_match.matches_weak(row["version"]):
            return Response(status_code=304, headers={"ETag": etag(row["version"])})
        return record(row)

    async def update_record(request: Request, caller: Caller, **ids: str) -> Response:
        (record_id,) = ids.values()
        if_match = parse_condition(request.headers.get("if-match"), "If-Match")
        body = await read_json_object(request, JSON_OR_MERGE_PATCH)
        async with database(request).write(caller.tenant_id, lock=lock(caller, record_id)) as conn:
            row = await service.update(
                conn, caller, record_id, body, if_match=if_match, require_precondition=settings(request).require_if_match
            )
        return record(row)

    async def delete_record(request: Request, caller: Caller, **ids: str) -> Response:
        (record_id,) = ids.values()
        purge = _flag(request, "purge")
        caller.require(ADMIN_SCOPE if purge else write)
        if_match = parse_condition(request.headers.get("if-match"), "If-Match")
        operation = service.purge if purge else service.delete
        async with database(request).write(caller.tenant_id, lock=lock(caller, record_id)) as conn:
            await operation(
                conn, caller, record_id, if_match=if_match, require_precondition=settings(request).require_if_match
            )
        return Response(status_code=204)

    async def restore_record(request: Request, caller: Caller, **ids: str) -> Response:
        (record_id,) = ids.values()
        if_match = parse_condition(request.headers.get("if-match"), "If-Match")

        async def effect(conn: Connection) -> tuple[Response, str]:
            row = await service.restore(
                conn, caller, record_id, if_match=if_match, require_precondition=settings(request).require_if_match
            )
            return record(row), row["id"]

        return await run_idempotent(request, caller, idempotency_scope["restore"], None, effect, lock=lock(caller, record_id))

    async def record_history(request: Request, caller: Caller, **ids: str) -> Response:
        (record_id,) = ids.values()
        params = _query(request, ("limit", "cursor"))
        async with database(request).read(caller.tenant_id) as conn:
            page = await changes.history(
                conn, caller, service.canonical_id(record_id),
                limit=_limit(params), cursor=params.get("cursor"), signer=cursor_signer(request),
            )  # fmt: skip
        return Response(page_json(page.data, page.has_more, page.next_cursor, None), media_type="application/json")

    async def change_feed(request: Request, caller: Caller) -> Response:
        params = _query(request, ("after", "limit"))
        async with database(request).read(caller.tenant_id) as conn:
            page = await changes.feed(conn, caller, after=params.get("after"), limit=_limit(params), signer=cursor_signer(request))
        return Response(page_json(page.data, page.has_more, page.next_cursor, None), media_type="application/json")

    # ------------------------------------------------------------------- the API reference

    sdk = resource.sdk
    id_param = {
        "name": resource.id_parameter,
        "in": "path",
        "required": True,
        "description": f"`{resource.id_prefix}_<ULID>` (or the same 128 bits as `{resource.id_prefix}-<uuid>`); anything else is a 404.",
        "schema": {"type": "string", "pattern": resource.by_name["id"].format.input_schema["pattern"]},  # type: ignore[union-attr]
    }
    ops = {
        "list": f"list{resource.name.capitalize()}",
        "create": f"create{title}",
        "get": f"get{title}",
        "update": f"update{title}",
        "delete": f"delete{title}",
        "restore": f"restore{title}",
        "history": f"get{title}History",
        "events": f"list{title}Events",
    }

    def links(source: str, *targets: str) -> dict[str, Any]:
        """What a response's record leads to: the operations on the same record."""
        value = f"$request.path.{resource.id_parameter}" if source == "path" else "$response.body#/id"
        out: dict[str, Any] = {}
        for target in targets:
            parameters = {resource.id_parameter: value}
            if target in (ops["update"], ops["delete"]) and source == "body":
                parameters["header.If-Match"] = "$response.header.ETag"
            out[target] = {"operationId": target, "parameters": parameters}
        return out

    def scopes_note(scopes: tuple[str, ...], purge: bool = False) -> str:
        return (
            f"\n\nScopes: a token with a `scope` claim needs `{'` or `'.join(scopes)}`"
            + (f" (`{ADMIN_SCOPE}` with `purge=true`)" if purge else "")
            + "; a token without one (a human session) may read and write"
            + (", but not purge." if purge else ".")
        )

    def doc(name: str, summary: str, description: str, scopes: tuple[str, ...], responses: dict[str, Any], **kw: Any) -> Doc:
        purge = name == "delete"
        methods = [ClientMethod(f"{sdk}.{name}", summary, scopes)]
        if purge:
            methods.append(ClientMethod(f"{sdk}.purge", f"Erase {with_article(noun)} for good", (ADMIN_SCOPE,), {"purge": "true"}))
        return Doc(
            operation_id=ops[name],
            summary=summary,
            description=description + scopes_note(scopes, purge),
            tag=resource.name,
            responses=responses,
            methods=tuple(methods),
            **kw,
        )

    def body(ref: str, example: Any, *media_types: str) -> dict[str, Any]:
        media = {"schema": {"$ref": f"#/components/schemas/{ref}"}, "example": dict(example)}
        return {"required": True, "content": {media_type: media for media_type in media_types}}

    return (
        Route(
            "GET",
            path,
            list_records,
            (read,),
            doc=doc(
                "list",
                f"List {resource.name}",
                f"One page of the caller's {resource.name}, newest first unless `sort` says otherwise. "
                f"Any other query parameter is a 400 naming it. {list_limits_note()}",
                (read,),
                {"200": json_response(f"{title}List", f"A page of {resource.name}.")},
                parameters=(*list_parameters(resource, engine.grammar), _REQUEST_ID),
            ),
        ),
        Route(
            "POST",
            path,
            create_record,
            (write,),
            doc=doc(
                "create",
                f"Create {with_article(noun)}",
                f"Create {with_article(noun)} from its client-writable fields.",
                (write,),
                {
                    "201": json_response(title, "Created.", "Location", "ETag", "Idempotent-Replayed")
                    | {"links": links("body", ops["get"], ops["update"], ops["delete"])}
                },
                errors=(*_BODY_ERRORS, IdempotencyInFlight, IdempotencyConflict),
                parameters=(_IDEMPOTENCY_KEY, _REQUEST_ID),
                request_body=body(f"{title}Create", resource.create_example, "application/json"),
            ),
        ),
        # Before the routes of one record: `events` is not an id, but the router tries routes in order.
        Route(
            "GET",
            path + "/events",
            change_feed,
            (read,),
            doc=doc(
                "events",
                f"Follow the {noun} change feed",
                f"Every change to the caller's {resource.name} (its tenant's, or its app's), in commit order, "
                "from the first: pass the page's `next_cursor` as `after` to read on. A consumer that does so sees "
                "every committed change exactly once, even while many writers commit concurrently. `next_cursor` is "
                "always present, also on an empty page: it is where the reader stands. Any other query parameter "
                "is a 400 naming it (docs/changes.md).",
                (read,),
                {"200": json_response(f"{title}EventList", "A page of events.")},
                parameters=(
                    query_parameter(
                        "after",
                        {"type": "string", "minLength": 1, "maxLength": 4096},
                        "The `next_cursor` of the previous page (absent: from the first event). "
                        "A cursor altered or issued to another caller is a 400.",
                    ),
                    query_parameter(
                        "limit",
                        {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
                        "How many to return.",
                    ),
                    _REQUEST_ID,
                ),
            ),
        ),
        Route(
            "GET",
            item,
            get_record,
            (read,),
            doc=doc(
                "get",
                f"Get {with_article(noun)}",
                f"One {noun}. Soft-deleted {resource.name} are a 404 unless `include_deleted=true`. "
                "Any other query parameter is a 400 naming it.",
                (read,),
                {
                    "200": json_response(title, f"The {noun}.", "ETag"),
                    "304": {
                        "description": "Not modified: If-None-Match names the current version.",
                        "headers": response_headers("ETag"),
                    },
                },
                errors=(NotFound,),
                parameters=(
                    query_parameter(
                        "include_deleted",
                        {"type": "boolean", "default": False},
                        f"`true` also finds the {noun} when it is soft-deleted.",
                    ),
                    query_parameter(
                        "as_of",
                        {"type": "string", "format": "date-time"},
                        f"An RFC 3339 instant: the {noun} as it was then, rebuilt from its history "
                        "(404 if it did not exist then, was soft-deleted then without `include_deleted=true`, "
                        "or its history does not reach back that far: it starts at the upgrade that added it).",
                    ),
                    _IF_NONE_MATCH,
                    _REQUEST_ID,
                ),
                path_parameters=(id_param,),
            ),
        ),
        Route(
            "PATCH",
            item,
            update_record,
            (write,),
            doc=doc(
                "update",
                f"Update {with_article(noun)} (JSON Merge Patch)",
                "Apply a JSON Merge Patch. `version` in the body (409) or If-Match (412) makes it conditional.",
                (write,),
                {
                    "200": json_response(title, f"The updated {noun}.", "ETag")
                    | {"links": links("body", ops["get"], ops["delete"])}
                },
                errors=(NotFound, VersionConflict, PreconditionFailed, *_BODY_ERRORS, PreconditionRequired),
                parameters=(_IF_MATCH, _REQUEST_ID),
                path_parameters=(id_param,),
                request_body=body(f"{title}Patch", resource.patch_example, "application/json", "application/merge-patch+json"),
            ),
        ),
        Route(
            "DELETE",
            item,
            delete_record,  # write, or admin for a purge: it checks
            doc=doc(
                "delete",
                f"Delete {with_article(noun)} (soft)",
                f"Soft-delete the {noun} (it drops out of list and get; `restore` brings it back). "
                "With `purge=true`, erase it and its history for good, live or deleted.",
                (write,),
                {
                    "204": {
                        "description": "Deleted.",
                        "headers": response_headers(),
                        "links": links("path", ops["restore"], ops["get"]),
                    }
                },
                errors=(NotFound, PreconditionFailed, PreconditionRequired),
                parameters=(
                    query_parameter(
                        "purge",
                        {"type": "boolean", "default": False},
                        f"`true` erases the {noun} and its history for good (needs `{ADMIN_SCOPE}`); "
                        "no other query parameter is taken.",
                    ),
                    _IF_MATCH,
                    _REQUEST_ID,
                ),
                path_parameters=(id_param,),
            ),
        ),
        Route(
            "POST",
            item + "/restore",
            restore_record,
            (write,),
            doc=doc(
                "restore",
                f"Restore a deleted {noun}",
                f"Bring back a soft-deleted {noun} (409 `conflict` when it is not deleted).",
                (write,),
                {
                    "200": json_response(title, f"The restored {noun}.", "ETag", "Idempotent-Replayed")
                    | {"links": links("body", ops["get"], ops["update"], ops["delete"])}
                },
                errors=(NotFound, Conflict, PreconditionFailed, ValidationFailed, PreconditionRequired),
                parameters=(_IF_MATCH, _IDEMPOTENCY_KEY, _REQUEST_ID),
                path_parameters=(id_param,),
            ),
        ),
        Route(
            "GET",
            item + "/history",
            record_history,
            (read,),
            doc=doc(
                "history",
                f"Get the history of {with_article(noun)}",
                f"Every version of the {noun} since history began, newest first: which operation made it, when, "
                "by whom (`by`, and `app_id` for an app's key) and what it changed. A purged "
                f"{noun} has no history (404). Any other query parameter is a 400 naming it.",
                (read,),
                {"200": json_response(f"{title}History", "A page of versions, newest first.")},
                errors=(NotFound,),
                parameters=(
                    query_parameter(
                        "cursor",
                        {"type": "string", "minLength": 1, "maxLength": 4096},
                        "The `next_cursor` of the previous page; a forged or foreign cursor is a 400.",
                    ),
                    query_parameter(
                        "limit",
                        {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
                        "How many to return.",
                    ),
                    _REQUEST_ID,
                ),
                path_parameters=(id_param,),
            ),
        ),
    )
