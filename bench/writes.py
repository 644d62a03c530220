"""Write benchmark (issue 4): ``python -m bench.writes [--seconds 8] [--rounds 2]``.

* create: ``POST /api/v1/crm/accounts`` with a realistic body.
* patch: ``PATCH`` with ``If-Match`` over 2,000 records, each wrk thread owning
  its own records and tracking their versions from the ``ETag`` it gets back.

pgbench runs the same INSERT and UPDATE, each with its change event in the
same statement (compiled from the same repository code), at the same
concurrency, ``synchronous_commit`` on, one statement per transaction.  The
pgbench UPDATE keeps the version predicate's shape (``version > 0``) since
pgbench cannot track versions.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from pathlib import Path

import httpx

from bench.common import (
    SECRET,
    Result,
    ensure_database,
    ensure_tools,
    environment,
    inline_sql,
    load_arguments,
    pgbench,
    report,
    server,
    wrk,
)
from bench.list import token
from edm.crm.engine import service
from edm.crm.registry import REGISTRY
from edm.kit.auth import TokenVerifier
from edm.kit.settings import Settings

ENGINE = REGISTRY["accounts"]
PATH = "/api/v1/crm/accounts"
TENANT = "bench-writes"
RECORDS = 2000
BODY = {
    "name": "Globex Corporation",
    "domain": "globex.example",
    "website": "https://globex.example",
    "industry": "Manufacturing",
    "lifecycle_stage": "customer",
    "annual_revenue": 125000000.0,
    "employee_count": 5400,
    "tags": ["enterprise", "emea"],
    "custom_fields": {"tier": "gold", "seats": 250},
}
PATCH = {"industry": "Software", "custom_fields": {"seats": 300}}

CREATE_LUA = """
wrk.method = "POST"
wrk.body = [[%s]]
wrk.headers["Content-Type"] = "application/json"
"""

PATCH_LUA = """
local ids = {%s}
local start_versions = {%s}
local counter = 0
local versions = {}
local first, last
function setup(thread)
  thread:set("part", __NEXT_PART)
  __NEXT_PART = __NEXT_PART + 1
end
__NEXT_PART = 0
function init(args)
  local half = math.floor(#ids / 2)
  first = part * half + 1
  last = first + half - 1
  for i = first, last do versions[ids[i]] = start_versions[i] end
end
function request()
  local id = ids[first + counter %% (last - first + 1)]
  counter = counter + 1
  local headers = {}
  for name, value in pairs(wrk.headers) do headers[name] = value end
  headers["Content-Type"] = "application/json"
  headers["If-Match"] = '"' .. versions[id] .. '"'
  return wrk.format("PATCH", "%s/" .. id, headers, [[%s]])
end
function response(status, headers, body)
  local id = string.match(body, '"id"%%s*:%%s*"(acc_[%%w]+)"')
  if id and headers["etag"] then versions[id] = tonumber(string.match(headers["etag"], "%%d+")) end
end
"""


def _caller():  # type: ignore[no-untyped-def]
    return asyncio.run(TokenVerifier(Settings(jwt_secret=SECRET)).verify(token(TENANT)))


def _insert_sql() -> str:
    """The service's INSERT with its change event (``Repository._with_event``), values written in."""
    values = ENGINE.validator.create(dict(BODY))
    now = service._now()
    values.update(
        name_key=values["name"].casefold(), id="__ID__", created_at=now, updated_at=now, created_by="bench", updated_by="bench",
        is_deleted=False, schema_version=1, version=1, tenant_id=TENANT, app_id=None,
    )  # fmt: skip
    repo = ENGINE.repository
    statement = repo._with_event(repo.insert_statement(values, "postgresql"), "create", before=None)
    params = {**values, "event_id": "__EVENT__", "actor_app_id": None, "event_by": "bench"}
    return _with_ids(inline_sql(statement, params).replace("'__ID__'", "('acc_' || md5(random()::text))"))


def _update_sql() -> str:
    """The service's UPDATE with its change event; the version predicate keeps its shape (``version IN (…)``
    with any version: pgbench cannot track versions)."""
    caller = _caller()
    repo = ENGINE.repository
    now = service._now()
    changes = {"industry": "Software", "schema_version": 1}
    update = repo.update_statement(
        caller, "__ID__", changes, custom_fields_patch={"seats": 300}, allowed_versions=None, now=now, dialect="postgresql"
    )
    update = update.where(repo.table.c.version > 0)
    statement = repo._with_event(update, "update", before=repo._row(caller, "__ID__"), written_columns=[*changes, "custom_fields"])
    params = {
        "tenant_id": TENANT, "app_id": None, "record_id": "__ID__", "event_id": "__EVENT__", "actor_app_id": None,
        "event_by": "bench", "set_industry": "Software", "set_schema_version": 1, "custom_fields_patch": {"seats": 300}, "now": now,
    }  # fmt: skip
    sql = inline_sql(statement, params).replace("'__ID__'", "('bench-pg-' || :n)")
    return f"\\set n random(1, {RECORDS})\n" + _with_ids(sql)


def _with_ids(sql: str) -> str:
    return sql.replace("'__EVENT__'", "('evt_' || md5(random()::text))")


def _versions(base: str, ids: list[str]) -> list[int]:
    """The current version of each record, so a fresh wrk run sends matching If-Match."""
    headers = {"Authorization": f"Bearer {token(TENANT)}"}
    found: dict[str, int] = {}
    with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
        cursor = None
        while True:
            params = {"limit": "200", "fields": "version", **({"cursor": cursor} if cursor else {})}
            page = client.get(PATH, params=params).json()
            found.update((r["id"], r["version"]) for r in page["data"])
            if not page["has_more"]:
                return [found[i] for i in ids]
            cursor = page["next_cursor"]


def _patch_script(path: Path, base: str, ids: list[str]) -> Path:
    versions = _versions(base, ids)
    path.write_text(PATCH_LUA % (",".join(f'"{i}"' for i in ids), ",".join(map(str, versions)), PATH, json.dumps(PATCH)))
    return path


def _seed_records(base: str) -> list[str]:
    headers = {"Authorization": f"Bearer {token(TENANT)}"}
    with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
        return [client.post(PATH, json={**BODY, "name": f"Patch target {n}"}).json()["id"] for n in range(RECORDS)]


async def _seed_pgbench_rows(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute("DELETE FROM accounts WHERE tenant_id = $1 AND id LIKE 'bench-pg-%'", TENANT)
        await conn.execute(
            """INSERT INTO accounts (id, tenant_id, created_at, updated_at, created_by, updated_by, source, source_type,
                   is_deleted, schema_version, name, name_key, addresses, custom_fields, tags, version)
               SELECT 'bench-pg-' || n, $1, now(), now(), 'bench', 'bench', 'edm', 'api', false, 1,
                   'pg target ' || n, 'pg target ' || n, '[]', '{"seats": 1}', '[]', 1
               FROM generate_series(1, $2) n""",
            TENANT,
            RECORDS,
        )
    finally:
        await conn.close()


def main() -> None:
    parser = load_arguments(argparse.ArgumentParser(description=__doc__), pool_size=4)
    args = parser.parse_args()
    ensure_tools()
    ensure_database(args.database_url)
    asyncio.run(_seed_pgbench_rows(args.database_url))
    headers = {"Authorization": f"Bearer {token(TENANT)}"}
    scripts = Path(tempfile.mkdtemp(prefix="edm-wrk-"))
    results = []
    with server(args.database_url, workers=args.workers, pool_size=args.pool_size) as base:
        create_lua = scripts / "create.lua"
        create_lua.write_text(CREATE_LUA % json.dumps(BODY))
        ids = _seed_records(base)
        patch_lua = scripts / "patch.lua"
        for name, sql in (("create", _insert_sql()), ("patch with If-Match", _update_sql())):
            result = Result(name)

            def script(name: str = name) -> Path:
                return create_lua if name == "create" else _patch_script(patch_lua, base, ids)

            wrk(base + PATH, headers, connections=args.connections, seconds=2, script=script())  # warm-up
            for _ in range(args.rounds):
                result.api.append(wrk(base + PATH, headers, connections=args.connections, seconds=args.seconds, script=script()))
                result.pgbench_tps.append(pgbench(args.database_url, sql, clients=args.connections, seconds=args.seconds))
            results.append(result)
            print(result.row(), flush=True)
    report("writes benchmark", results, environment(vars(args)))


if __name__ == "__main__":
    main()
