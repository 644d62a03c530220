"""GET /api/v1/crm/accounts (docs/listing.md), checked against a Python oracle.

One fresh tenant per database is seeded once for the module with varied
accounts (ties, nulls, mixed case, non-ASCII names, a parent tree four levels
deep, app-owned and soft-deleted records, custom fields of every JSON type).
Each case then computes the expected ids in Python from the documented
semantics (docs/listing.md and the ``list_sql`` module docstring) and compares them,
in order, with what the API returns when every page is walked at a small
limit through ``next_cursor``, with ``include_total=true`` on every page.

The oracle deliberately does not import the server's code.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import random
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from ulid import ULID

from tests.conftest import ACCOUNTS, BACKENDS, Api, assert_problem, make_token

PAGE = 7  # small, so that almost every case spans several pages
Params = list[tuple[str, str]]

U1 = "usr-11111111-1111-4111-8111-111111111111"
U2 = "usr-22222222-2222-4222-8222-222222222222"
U3 = "usr-aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
U3_UPPER = "usr-AAAAAAAA-BBBB-4CCC-8DDD-EEEEEEEEEEEE"
APPS = ("app-alpha", "app-beta")

# --------------------------------------------------------------------------- the field kinds (docs/accounts.md)

KINDS: dict[str, str] = {
    "id": "id",
    "parent_account_id": "id",
    "source_type": "enum",
    "is_deleted": "boolean",
    "schema_version": "integer",
    "employee_count": "integer",
    "version": "integer",
    "annual_revenue": "number",
    **{f: "date-time" for f in ("created_at", "updated_at", "deleted_at", "last_activity_at", "first_contacted_at")},
    **{
        f: "string"
        for f in (
            "app_id", "created_by", "updated_by", "source", "deleted_by", "owner_id", "name", "legal_name",
            "industry", "sub_industry", "lifecycle_stage", "lead_source", "health_score", "website", "domain",
            "phone", "description",
        )
    },
}
SORTABLE = ("name", "created_at", "updated_at", "annual_revenue", "employee_count", "last_activity_at", "first_contacted_at")
SEARCHED = ("name", "legal_name", "domain", "website", "description")

# --------------------------------------------------------------------------- the seed


def _specs() -> list[tuple[str, str, dict[str, Any]]]:
    """(label, caller, body): caller is a JWT sub or an app id; ``parent`` names another label."""
    specs: list[tuple[str, str, dict[str, Any]]] = [
        ("root", "user-1", {
            "name": "Root Holdings", "legal_name": "Root Holdings Group plc", "industry": "Finance",
            "lifecycle_stage": "customer", "owner_id": U1, "domain": "root-holdings.com",
            "website": "https://root-holdings.com", "description": "Parent of the main tree",
            "annual_revenue": 1e9, "employee_count": 5000, "last_activity_at": "2024-05-01T12:00:00Z",
            "first_contacted_at": "2020-01-15T09:00:00Z", "source_type": "backend", "source": "salesforce",
            "tags": ["vip", "partner"], "custom_fields": {"tier": "gold", "score": 100, "active": True, "region": "emea"},
        }),
        ("child_a", "user-1", {
            "name": "Child Alpha", "parent": "root", "industry": "Software", "lifecycle_stage": "customer",
            "owner_id": U2, "annual_revenue": 2500000.5, "employee_count": 250,
            "last_activity_at": "2024-05-01T14:00:00+02:00", "source_type": "frontend", "tags": ["vip"],
            "custom_fields": {"tier": ["gold", "platinum"], "score": 9.5, "active": "true"},
        }),
        ("child_b", "user-2", {
            "name": "child beta", "parent": "root", "industry": "software", "lifecycle_stage": "lead",
            "annual_revenue": 1e6, "employee_count": 10, "source_type": "server", "tags": ["beta"],
            "custom_fields": {"tier": "Gold", "score": "10", "active": 1},
        }),
        ("grand_a1", "user-1", {
            "name": "Grandchild One", "parent": "child_a", "industry": "Retail", "annual_revenue": 1e6,
            "employee_count": 10, "last_activity_at": "2023-12-31T23:59:59.999Z", "tags": ["beta", "partner", "VIP"],
            "custom_fields": {"score": 10, "region": ["emea", "amer"]},
        }),
        ("grand_a2", "user-1", {
            "name": "Grandchild Two", "parent": "child_a", "owner_id": U3_UPPER,
            "custom_fields": {"score": [1, 2, 3], "region": "EMEA"},
        }),
        ("grand_b1", "user-2", {
            "name": "Grandchild Three", "parent": "child_b", "lifecycle_stage": "churned", "employee_count": 0,
            "custom_fields": {"score": -3, "active": False},
        }),
        ("great", "user-1", {
            "name": "Great Grandchild", "parent": "grand_a1", "annual_revenue": 42.0,
            "first_contacted_at": "2021-03-03T03:03:03.003Z",
            "custom_fields": {"score": 9007199254740993, "tier": "silver"},
        }),
        ("gone_leaf", "user-1", {
            "name": "Deleted Leaf", "parent": "child_b", "tags": ["vip"], "annual_revenue": 5e6,
            "custom_fields": {"tier": "gold"},
        }),
        ("other_root", "user-2", {"name": "Other Root", "industry": "Finance", "employee_count": 5000}),
        ("other_child", "user-2", {"name": "Other Child", "parent": "other_root", "tags": ["partner"]}),
        ("acme1", "user-1", {
            "name": "acme", "domain": "ACME.com", "website": "https://www.acme.com/about",
            "employee_count": 9007199254740992, "source_type": "system", "tags": ["vip", "beta"],
        }),
        ("acme2", "user-1", {
            "name": "Acme", "legal_name": "Acme Corporation", "employee_count": 9223372036854775807,
            "annual_revenue": 250000.0, "owner_id": U1,
        }),
        ("acme3", "user-2", {"name": "ACME", "description": "The ACME of perfection", "annual_revenue": 250000.0}),
        ("acme_gone", "user-1", {"name": "acme (deleted)", "domain": "gone.acme.com"}),
        ("strasse1", "user-1", {"name": "Straße Logistik", "industry": "Logistics", "employee_count": 42}),
        ("strasse2", "user-1", {"name": "STRASSE LOGISTIK", "industry": "Logistics", "employee_count": 42}),
        ("aerzte", "user-1", {"name": "Ärzte Verbund", "industry": "Health", "description": "Ärzte und Kliniken"}),
        ("eclair", "user-1", {"name": "éclair bakery", "industry": "Food"}),
        ("zeta", "user-1", {"name": "zeta", "annual_revenue": 7.0, "employee_count": 7}),
        ("zulu", "user-2", {"name": "Zulu Systems", "last_activity_at": "2024-06-30T00:00:00.5Z"}),
        ("span", "user-1", {"name": "Spanning Alpha", "legal_name": "Beta Spanning Ltd", "domain": "span.io"}),
        ("percent", "user-1", {"name": "100% Natural", "legal_name": "Grew 50% Ltd", "description": "Grew 50% year over year"}),
        ("seats", "user-1", {"name": "Seat Co", "legal_name": "500 Seats Ltd", "description": "Added 500 seats"}),
        ("underscore", "user-1", {"name": "under_score inc", "description": "snake_case naming"}),
        ("harbor", "user-1", {"name": "Harbor Systems", "industry": "Shipping"}),
        ("webby", "user-1", {
            "name": "Webby", "domain": "webby.example.org", "website": "http://webby.example.org/Path?q=1",
        }),
        ("mixed", "user-1", {"name": "MiXeD CaSe Ltd", "legal_name": "mixed case limited", "lifecycle_stage": "prospect"}),
        ("quokka", "user-2", {"name": "Plain", "description": "somewhere a QUOKKA hides"}),
        ("padded", "user-1", {"name": "  Padded Name  ", "source_type": "frontend"}),
        ("codes_a", "user-1", {"name": "Codes A", "custom_fields": {"code": "a_b", "region": ["x", None, 5], "tier": "silver"}}),
        ("codes_b", "user-1", {"name": "Codes B", "custom_fields": {"code": "a%b", "score": 2.5}}),
        ("codes_c", "user-1", {"name": "Codes C", "custom_fields": {"code": "abc", "score": "abc"}}),
        ("flags", "user-1", {"name": "Flags", "custom_fields": {"active": "false", "score": 0, "region": "apac"}}),
        ("zero", "user-1", {"name": "Zero Co", "annual_revenue": 0, "employee_count": 0, "tags": ["partner"]}),
        ("big", "user-1", {"name": "Big Revenue", "annual_revenue": 1e12, "last_activity_at": "2024-01-15T08:30:00-05:00"}),
        ("small", "user-2", {"name": "small", "annual_revenue": 99.99, "employee_count": 1, "custom_fields": {"score": True, "active": 0}}),
        ("app_a1", "app-alpha", {"name": "Alpha App One", "tags": ["vip"], "custom_fields": {"tier": "gold"}, "source_type": "backend"}),
        ("app_a2", "app-alpha", {"name": "alpha app two", "annual_revenue": 1e6, "employee_count": 10}),
        ("app_a3", "app-alpha", {"name": "Alpha App Three", "tags": ["vip"]}),
        ("app_b1", "app-beta", {"name": "Beta App One", "tags": ["vip"]}),
        ("app_b2", "app-beta", {"name": "Beta App Two", "annual_revenue": 1e6}),
    ]
    rng = random.Random(20241127)
    choice = rng.choice
    for i in range(18):
        body: dict[str, Any] = {
            "name": f"Filler {i:02d} {choice(['North', 'south', 'East', 'west'])}",
            "industry": choice(["Software", "software", "Retail", "Finance", "Health", None]),
            "lifecycle_stage": choice(["lead", "customer", "churned", "prospect", None]),
            "owner_id": choice([U1, U2, U3, None]),
            "annual_revenue": choice([None, 0, 1e6, 250000.0, 99.99, 1234567.25, 1e6, None]),
            "employee_count": choice([None, 0, 10, 250, 5000, 10, 42]),
            "last_activity_at": choice([
                None, "2024-05-01T12:00:00Z", "2023-12-31T23:59:59.999Z", "2024-01-15T08:30:00-05:00",
                "2024-06-30T00:00:00.5Z", None,
            ]),
            "first_contacted_at": choice([None, "2019-07-04T00:00:00Z", "2021-03-03T03:03:03.003Z", None]),
            "source_type": choice(["frontend", "backend", "server", "system", "api"]),
            "tags": choice([[], ["vip"], ["beta"], ["vip", "beta"], ["partner"], ["beta", "partner", "VIP"], []]),
        }
        if i % 3 == 0:
            body["domain"] = f"filler{i}.example.com"
        if i % 4 == 0:
            body["website"] = f"https://filler{i}.example.com/home"
        if i % 5 == 0:
            body["legal_name"] = f"Filler Holdings {i}"
        if i % 2 == 0:
            body["description"] = choice(["ordinary business", "wholesale partner", "Regional distributor", None])
        custom: dict[str, Any] = {}
        for key, values in (
            ("tier", ["gold", "silver", "bronze", "Gold", ["gold", "platinum"]]),
            ("score", [10, 9.5, "10", 0, -3, [1, 2, 3], True, 100, 2.5]),
            ("active", [True, False, "true", "false", 1, 0]),
            ("region", ["emea", "apac", ["emea", "amer"], "EMEA"]),
        ):
            if rng.random() < 0.6:
                custom[key] = choice(values)
        body["custom_fields"] = custom
        specs.append((f"filler_{i:02d}", "user-1" if i % 2 else "user-2", {k: v for k, v in body.items() if v is not None}))
    return specs


PATCHES: list[tuple[str, dict[str, Any]]] = [  # by user-3, after every create
    ("child_b", {"description": "moved to the beta programme"}),
    ("zeta", {"annual_revenue": 1e6}),
    ("acme3", {"tags": ["beta"]}),
    ("filler_03", {"lifecycle_stage": "customer"}),
    ("root", {"custom_fields": {"score": 101}}),
]
DELETED = ("gone_leaf", "acme_gone", "app_a3", "filler_00")


@dataclass
class Seed:
    backend: str
    tenant: str
    callers: dict[str | None, Api]  # None: the human user-1; else an app id
    records: dict[str, dict[str, Any]] = field(default_factory=dict)  # id → current record (deleted too)
    ids: dict[str, str] = field(default_factory=dict)  # label → id
    labels: dict[str, str] = field(default_factory=dict)  # id → label
    before_delete: dict[str, dict[str, Any]] = field(default_factory=dict)

    def id(self, label: str) -> str:
        return self.ids[label]

    def rec(self, label: str) -> dict[str, Any]:
        return self.records[self.ids[label]]

    def names(self, ids: list[str]) -> list[str]:
        return [self.labels.get(i, i) for i in ids]


def _alias(account_id: str) -> str:
    """The same id spelled ``acc-<uuid>``."""
    return f"acc-{ULID.from_str(account_id[4:]).to_uuid()}"


@pytest.fixture(scope="module", params=BACKENDS)
def seed(request: pytest.FixtureRequest, http_clients: dict[str, httpx.Client]) -> Seed:
    backend = request.param
    tenant = f"tenant-list-{uuid.uuid4().hex[:12]}"
    human = Api(http_clients[backend], backend, tenant, make_token(tenant))
    s = Seed(backend, tenant, {None: human, **{app: human.as_(app=app) for app in APPS}})
    for label, caller, body in _specs():
        body = dict(body)
        if "parent" in body:
            body["parent_account_id"] = s.id(body.pop("parent"))
        api = s.callers[caller] if caller in APPS else human.as_(sub=caller)
        record = api.created(body)
        s.ids[label], s.labels[record["id"]] = record["id"], label
        s.records[record["id"]] = record
    time.sleep(0.005)  # so that updated_at of the patches is later than every created_at
    writer = human.as_(sub="user-3")
    for label, patch in PATCHES:
        response = writer.patch(s.id(label), patch)
        assert response.status_code == 200, response.text
        s.records[s.id(label)] = response.json()
    for label in DELETED:
        record = s.rec(label)
        deleter = s.callers[record["app_id"]] if record["app_id"] else human.as_(sub="user-3")
        assert deleter.delete(record["id"]).status_code == 204
        s.before_delete[record["id"]] = dict(record)
    # DELETE answers 204 without a body: read the delete stamps back once.
    response = human.request(
        "GET", ACCOUNTS, params={"include_deleted": "true", "filter[is_deleted]": "true", "limit": "200"}
    )
    assert response.status_code == 200, response.text
    for row in response.json()["data"]:
        if row["id"] in s.before_delete:
            s.records[row["id"]] = row
    return s


# --------------------------------------------------------------------------- the oracle

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_FILTER = re.compile(r"filter\[([^\[\]]+)\](?:\[([^\[\]]+)\])?")


def _fold(text: str) -> str:
    return text.translate(_ASCII_LOWER)


def _dt(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00")).astimezone(UTC)


def _canonical_id(raw: str) -> str:
    if raw.startswith("acc-"):
        return f"acc_{ULID.from_uuid(uuid.UUID(raw[4:]))}"
    return "acc_" + raw[4:].upper()


def _typed(name: str, raw: str) -> Any:
    kind = KINDS[name]
    if kind == "integer":
        return int(raw)
    if kind == "number":
        return float(raw)
    if kind == "date-time":
        return _dt(raw)
    if kind == "boolean":
        return raw == "true"
    if kind == "id":
        return _canonical_id(raw)
    if name == "domain":
        return raw.lower()
    if name == "owner_id" and raw.startswith("usr-"):
        return raw.lower()
    return raw


def _stored(record: dict[str, Any], name: str) -> Any:
    value = record[name]
    return _dt(value) if value is not None and KINDS[name] == "date-time" else value


def _compare(op: str, value: Any, other: Any) -> bool:
    return {"gt": value > other, "gte": value >= other, "lt": value < other, "lte": value <= other}[op]


def _plain_match(value: Any, op: str, x: Any) -> bool:
    if op == "exists":
        return (value is not None) == x
    if op == "ne":
        return value is None or value != x
    if op == "nin":
        return value is None or value not in x
    if value is None:
        return False
    if op == "eq":
        return value == x
    if op == "in":
        return value in x
    if op == "contains":
        return _fold(x) in _fold(value)
    if op == "starts_with":
        return _fold(value).startswith(_fold(x))
    return _compare(op, value, x)


def _as_number(raw: str) -> int | float | None:
    if re.fullmatch(r"-?\d+", raw):
        return int(raw)
    if re.fullmatch(r"-?\d+\.\d+", raw):
        return float(raw)
    return None


def _candidates(raw: str) -> list[Any]:
    out: list[Any] = [raw]
    number = _as_number(raw)
    if number is not None:
        out.append(number)
    if raw in ("true", "false"):
        out.append(raw == "true")
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _same(stored: Any, candidate: Any) -> bool:
    if isinstance(candidate, bool):
        return isinstance(stored, bool) and stored is candidate
    if isinstance(candidate, str):
        return isinstance(stored, str) and stored == candidate
    return _is_number(stored) and stored == candidate


def _custom_match(custom: dict[str, Any], key: str, op: str, raws: list[str]) -> bool:
    if op == "exists":
        return (key in custom) == (raws[0] == "true")
    value = custom.get(key)
    if op in ("eq", "in", "ne", "nin"):
        elements = value if isinstance(value, list) else [value]
        hit = key in custom and any(_same(e, c) for e in elements for raw in raws for c in _candidates(raw))
        return hit if op in ("eq", "in") else not hit
    if op in ("contains", "starts_with"):
        if not isinstance(value, str):
            return False
        return _fold(raws[0]) in _fold(value) if op == "contains" else _fold(value).startswith(_fold(raws[0]))
    number = _as_number(raws[0])
    if number is not None:
        return _is_number(value) and _compare(op, value, number)
    return isinstance(value, str) and _compare(op, value, raws[0])


def _descendants(records: list[dict[str, Any]], root: str) -> set[str]:
    below: set[str] = set()
    frontier = {root}
    while frontier:
        frontier = {r["id"] for r in records if r["parent_account_id"] in frontier} - below
        below |= frontier
    return below


def oracle(s: Seed, params: Params, app: str | None = None) -> list[str]:
    """The expected ids, in order, for ``params`` (without limit/cursor) as the documented semantics say."""
    plain = {k: v for k, v in params if not k.startswith("filter[")}
    groups: dict[tuple[str, str], list[str]] = {}
    for key, value in params:
        match = _FILTER.fullmatch(key)
        if match:
            groups.setdefault((match.group(1), match.group(2) or ("has" if match.group(1) == "tags" else "eq")), []).append(value)

    everything = list(s.records.values())
    rows = [r for r in everything if app is None or r["app_id"] == app]
    if plain.get("include_deleted") != "true":
        rows = [r for r in rows if not r["is_deleted"]]
    for (name, op), raws in groups.items():
        items = [part for raw in raws for part in raw.split(",")]
        if name == "tags":
            wanted = set(items)
            test = {"has": wanted.issubset, "all": wanted.issubset, "any": lambda t, w=wanted: bool(w & t)}[op]
            rows = [r for r in rows if test(set(r["tags"]))]
        elif name.startswith("custom_fields."):
            key = name.removeprefix("custom_fields.")
            values = items if op in ("in", "nin") else raws
            rows = [r for r in rows if _custom_match(r["custom_fields"], key, op, values)]
        elif op == "under":
            below = _descendants(everything, _canonical_id(raws[0]))
            rows = [r for r in rows if r["id"] in below]
        else:
            if op == "exists":
                x: Any = raws[0] == "true"
            elif op in ("in", "nin"):
                x = [_typed(name, item) for item in items]
            elif op in ("contains", "starts_with"):
                x = raws[0]
            else:
                x = _typed(name, raws[0])
            rows = [r for r in rows if _plain_match(_stored(r, name), op, x)]
    q = plain.get("q", "").strip()
    if q:
        rows = [r for r in rows if any(r[f] is not None and _fold(q) in _fold(r[f]) for f in SEARCHED)]
    return [r["id"] for r in sort_records(rows, plain.get("sort", "-created_at"))]


def sort_records(rows: list[dict[str, Any]], sort: str) -> list[dict[str, Any]]:
    keys = [(part.removeprefix("-"), part.startswith("-")) for part in sort.split(",")]

    def value(record: dict[str, Any], name: str) -> Any:
        return record["name"].casefold() if name == "name" else _stored(record, name)

    def cmp(a: dict[str, Any], b: dict[str, Any]) -> int:
        for name, descending in keys:
            x, y = value(a, name), value(b, name)
            if x is None and y is None:
                continue
            if x is None or y is None:
                return 1 if x is None else -1  # nulls last, both directions
            if x != y:
                return (-1 if x < y else 1) * (-1 if descending else 1)
        order = -1 if a["id"] < b["id"] else 1
        return order * (-1 if keys[0][1] else 1)

    return sorted(rows, key=functools.cmp_to_key(cmp))


# --------------------------------------------------------------------------- walking pages


@dataclass
class Walk:
    ids: list[str]
    pages: list[dict[str, Any]]

    @property
    def totals(self) -> list[Any]:
        return [p.get("total", "<absent>") for p in self.pages]

    @property
    def data(self) -> list[dict[str, Any]]:
        return [item for p in self.pages for item in p["data"]]


def walk(api: Api, params: Params, limit: int | None = PAGE) -> Walk:
    """Every page of the list, following next_cursor; checks the envelope of each page."""
    pages: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = [*params, *([("limit", str(limit))] if limit is not None else []), *([("cursor", cursor)] if cursor else [])]
        response = api.request("GET", ACCOUNTS, params=query)
        assert response.status_code == 200, (query, response.text)
        assert response.headers["content-type"].startswith("application/json")
        page = response.json()
        assert page["object"] == "list" and isinstance(page["data"], list)
        assert page["has_more"] is (page["next_cursor"] is not None), page
        assert len(page["data"]) <= (limit or 50)
        pages.append(page)
        if not page["has_more"]:
            return Walk([item["id"] for p in pages for item in p["data"]], pages)
        assert len(page["data"]) == (limit or 50), "a page followed by more is a full page"
        assert len(pages) < 100, "pagination does not end"
        cursor = page["next_cursor"]


def check_case(s: Seed, params: Params, app: str | None = None, *, empty_ok: bool = False) -> None:
    expected = oracle(s, params, app)
    if not empty_ok:
        assert expected, "the seed should give this case something to find"
    got = walk(s.callers[app], [*params, ("include_total", "true")])
    assert s.names(got.ids) == s.names(expected), params
    assert got.totals == [len(expected)] * len(got.pages), params


# --------------------------------------------------------------------------- cases

P = Callable[[Seed], Params]


@dataclass
class Case:
    name: str
    params: Params | P
    app: str | None = None
    empty_ok: bool = False

    def resolve(self, s: Seed) -> Params:
        return self.params(s) if callable(self.params) else list(self.params)


def F(name: str, op: str | None, value: str) -> tuple[str, str]:
    return (f"filter[{name}]" + (f"[{op}]" if op else ""), value)


def _ops(name: str, field_name: str, values: dict[str, str | P]) -> list[Case]:
    """One case per operator: values maps op → raw value (or a function of the seed)."""
    cases = []
    for op, value in values.items():
        if callable(value):

            def seeded(s: Any, op: str = op, value: Any = value) -> Params:
                return [F(field_name, op, value(s))]

            params: Params | P = seeded
        else:
            params = [F(field_name, None if op == "" else op, value)]
        cases.append(Case(f"{name}-{op or 'implicit-eq'}", params))
    return cases


FILTER_CASES: list[Case] = [
    # ---- string
    *_ops("industry", "industry", {
        "": "Software", "eq": "software", "ne": "Software", "gt": "Retail", "gte": "Retail", "lt": "Retail",
        "lte": "Retail", "in": "Software,Retail", "nin": "Software,Retail", "contains": "OFTW",
        "starts_with": "soft", "exists": "true",
    }),
    Case("industry-exists-false", [F("industry", "exists", "false")]),
    Case("industry-in-repeated", [F("industry", "in", "Software"), F("industry", "in", "Retail")]),
    Case("industry-nin-repeated", [F("industry", "nin", "Software"), F("industry", "nin", "Retail")]),
    Case("industry-in-mixed-list-and-repeat", [F("industry", "in", "Software,Finance"), F("industry", "in", "Health")]),
    Case("name-gt-lowercase-a-code-points", [F("name", "gt", "a")]),
    Case("name-lt-B-code-points", [F("name", "lt", "B")]),
    Case("name-gte-acme", [F("name", "gte", "acme")]),
    Case("name-lte-Zulu-Systems", [F("name", "lte", "Zulu Systems")]),
    Case("name-gt-z-non-ascii-above", [F("name", "gt", "z")]),
    Case("name-eq-exact-case", [F("name", None, "Acme")]),
    Case("name-contains-any-case", [F("name", "contains", "aCmE")]),
    Case("name-contains-underscore-literal", [F("name", "contains", "r_s")]),
    Case("name-contains-percent-literal", [F("name", "contains", "0%")]),
    Case("name-starts-with-any-case", [F("name", "starts_with", "GRAND")]),
    Case("name-starts-with-no-infix", [F("name", "starts_with", "child")]),
    Case("legal-name-contains-percent", [F("legal_name", "contains", "50%")]),
    Case("legal-name-contains-backslash-none", [F("legal_name", "contains", "\\")], empty_ok=True),
    Case("legal-name-starts-with-percent-none", [F("legal_name", "starts_with", "%")], empty_ok=True),
    Case("legal-name-contains", [F("legal_name", "contains", "CORP")]),
    Case("website-starts-with-upper-scheme", [F("website", "starts_with", "HTTPS://")]),
    Case("website-ne-includes-nulls", [F("website", "ne", "https://root-holdings.com")]),
    Case("domain-eq-normalised-to-lower-case", [F("domain", None, "ACME.COM")]),
    Case("domain-in-normalised", [F("domain", "in", "ACME.com,Span.IO")]),
    Case("owner-eq", [F("owner_id", None, U1)]),
    Case("owner-eq-upper-case-uuid", [F("owner_id", None, U3_UPPER)]),
    Case("owner-nin-includes-nulls", [F("owner_id", "nin", f"{U1},{U2}")]),
    Case("owner-exists-false", [F("owner_id", "exists", "false")]),
    Case("lifecycle-in", [F("lifecycle_stage", "in", "lead,customer")]),
    Case("lifecycle-ne", [F("lifecycle_stage", "ne", "customer")]),
    Case("app-id-eq", [F("app_id", None, "app-alpha")]),
    Case("app-id-exists-false", [F("app_id", "exists", "false")]),
    Case("app-id-ne-includes-nulls", [F("app_id", "ne", "app-alpha")]),
    Case("created-by-eq", [F("created_by", None, "user-2")]),
    Case("updated-by-eq", [F("updated_by", None, "user-3")]),
    Case("source-eq", [F("source", None, "salesforce")]),
    Case("source-ne", [F("source", "ne", "edm")]),
    # ---- enum
    *_ops("source-type", "source_type", {
        "": "backend", "eq": "frontend", "ne": "api", "in": "frontend,server", "nin": "api,system", "exists": "true",
    }),
    Case("source-type-in-repeated", [F("source_type", "in", "frontend"), F("source_type", "in", "server")]),
    Case("source-type-nin-repeated", [F("source_type", "nin", "api"), F("source_type", "nin", "system")]),
    # ---- id
    Case("id-eq", lambda s: [F("id", None, s.id("zeta"))]),
    Case("id-eq-uuid-alias", lambda s: [F("id", "eq", _alias(s.id("zeta")))]),
    Case("id-eq-lower-case-ulid", lambda s: [F("id", "eq", "acc_" + s.id("zeta")[4:].lower())]),
    Case("id-ne", lambda s: [F("id", "ne", s.id("zeta"))]),
    Case("id-in", lambda s: [F("id", "in", f"{s.id('zeta')},{_alias(s.id('acme1'))},{s.id('gone_leaf')}")]),
    Case("id-in-repeated", lambda s: [F("id", "in", s.id("zeta")), F("id", "in", s.id("acme2"))]),
    Case("id-nin", lambda s: [F("id", "nin", f"{s.id('zeta')},{s.id('acme1')}")]),
    Case("id-exists-true", [F("id", "exists", "true")]),
    Case("parent-eq-direct-children-only", lambda s: [F("parent_account_id", None, s.id("root"))]),
    Case("parent-ne-includes-nulls", lambda s: [F("parent_account_id", "ne", s.id("root"))]),
    Case("parent-in", lambda s: [F("parent_account_id", "in", f"{s.id('child_a')},{_alias(s.id('child_b'))}")]),
    Case("parent-in-repeated", lambda s: [F("parent_account_id", "in", s.id("child_a")), F("parent_account_id", "in", s.id("other_root"))]),
    Case("parent-nin", lambda s: [F("parent_account_id", "nin", f"{s.id('root')},{s.id('child_a')}")]),
    Case("parent-exists-true", [F("parent_account_id", "exists", "true")]),
    Case("parent-exists-false", [F("parent_account_id", "exists", "false")]),
    # ---- under
    Case("under-root-every-depth", lambda s: [F("parent_account_id", "under", s.id("root"))]),
    Case("under-root-uuid-alias", lambda s: [F("parent_account_id", "under", _alias(s.id("root")))]),
    Case("under-child-a", lambda s: [F("parent_account_id", "under", s.id("child_a"))]),
    Case("under-grandchild", lambda s: [F("parent_account_id", "under", s.id("grand_a1"))]),
    Case("under-leaf-is-empty", lambda s: [F("parent_account_id", "under", s.id("great"))], empty_ok=True),
    Case("under-other-tree", lambda s: [F("parent_account_id", "under", s.id("other_root"))]),
    Case("under-root-with-deleted", lambda s: [F("parent_account_id", "under", s.id("root")), ("include_deleted", "true")]),
    Case("under-root-and-tag", lambda s: [F("parent_account_id", "under", s.id("root")), F("tags", None, "vip")]),
    Case("under-unknown-id-is-empty", [F("parent_account_id", "under", "acc_01ARZ3NDEKTSV4RRFFQ69G5FAV")], empty_ok=True),
    # ---- boolean
    Case("is-deleted-eq-false", [F("is_deleted", None, "false")]),
    Case("is-deleted-ne-true", [F("is_deleted", "ne", "true")]),
    Case("is-deleted-exists", [F("is_deleted", "exists", "true")]),
    Case("is-deleted-true-without-include-deleted", [F("is_deleted", None, "true")], empty_ok=True),
    Case("include-deleted-adds-deleted", [("include_deleted", "true")]),
    Case("include-deleted-false-is-default", [("include_deleted", "false")]),
    Case("include-deleted-only-deleted", [("include_deleted", "true"), F("is_deleted", None, "true")]),
    Case("include-deleted-ne-true", [("include_deleted", "true"), F("is_deleted", "ne", "true")]),
    Case("include-deleted-eq-false", [("include_deleted", "true"), F("is_deleted", "eq", "false")]),
    # ---- integer
    *_ops("employees", "employee_count", {
        "": "10", "eq": "10", "ne": "10", "gt": "250", "gte": "250", "lt": "250", "lte": "250",
        "in": "0,10", "nin": "0,10", "exists": "false",
    }),
    Case("employees-exists-true", [F("employee_count", "exists", "true")]),
    Case("employees-eq-beyond-double-precision", [F("employee_count", None, "9007199254740993")], empty_ok=True),
    Case("employees-eq-2-pow-53", [F("employee_count", None, "9007199254740992")]),
    Case("employees-gt-2-pow-53", [F("employee_count", "gt", "9007199254740992")]),
    Case("employees-eq-int64-max", [F("employee_count", None, "9223372036854775807")]),
    Case("employees-lt-negative", [F("employee_count", "lt", "-1")], empty_ok=True),
    Case("employees-in-repeated", [F("employee_count", "in", "0"), F("employee_count", "in", "42")]),
    Case("version-gt-1", [F("version", "gt", "1")]),
    Case("version-gt-1-with-deleted", [F("version", "gt", "1"), ("include_deleted", "true")]),
    Case("schema-version-exists", [F("schema_version", "exists", "true")]),
    # ---- number
    *_ops("revenue", "annual_revenue", {
        "": "1000000", "eq": "1e6", "ne": "1000000", "gt": "1000000", "gte": "1000000", "lt": "99.99",
        "lte": "99.99", "in": "0,1000000", "nin": "0,1000000", "exists": "false",
    }),
    Case("revenue-eq-fraction", [F("annual_revenue", None, "2500000.5")]),
    Case("revenue-eq-zero-as-float", [F("annual_revenue", None, "0.0")]),
    Case("revenue-gt-between", [F("annual_revenue", "gt", "99.98"), F("annual_revenue", "lt", "250000")]),
    Case("revenue-in-repeated", [F("annual_revenue", "in", "7"), F("annual_revenue", "in", "250000.0")]),
    # ---- date-time
    *_ops("last-activity", "last_activity_at", {
        "": "2024-05-01T12:00:00Z", "eq": "2024-05-01T14:00:00+02:00", "ne": "2024-05-01T12:00:00.000Z",
        "gt": "2024-01-15T13:30:00Z", "gte": "2024-01-15T08:30:00-05:00", "lt": "2024-01-15T13:30:00Z",
        "lte": "2024-01-15T13:30:00.000Z", "in": "2023-12-31T23:59:59.999Z,2024-06-30T00:00:00.500Z",
        "nin": "2024-05-01T12:00:00Z", "exists": "true",
    }),
    Case("last-activity-exists-false", [F("last_activity_at", "exists", "false")]),
    Case("last-activity-in-repeated-with-offsets", [
        F("last_activity_at", "in", "2024-05-01T05:00:00-07:00"), F("last_activity_at", "in", "2024-06-30T02:00:00.5+02:00"),
    ]),
    Case("last-activity-lowercase-z", [F("last_activity_at", "gte", "2024-05-01t12:00:00z")]),
    Case("first-contacted-gt", [F("first_contacted_at", "gt", "2020-01-15T09:00:00Z")]),
    Case("first-contacted-lte", [F("first_contacted_at", "lte", "2020-01-15T10:00:00+01:00")]),
    Case("created-at-gt", lambda s: [F("created_at", "gt", s.rec("span")["created_at"])]),
    Case("created-at-lte", lambda s: [F("created_at", "lte", s.rec("span")["created_at"])]),
    Case("created-at-eq", lambda s: [F("created_at", None, s.rec("span")["created_at"])]),
    Case("updated-at-gt-last-create", lambda s: [F("updated_at", "gt", s.rec("filler_17")["created_at"])]),
    Case("deleted-at-exists", [("include_deleted", "true"), F("deleted_at", "exists", "true")]),
    Case("deleted-at-lte-first-delete", lambda s: [
        ("include_deleted", "true"), F("deleted_at", "lte", s.rec(DELETED[0])["deleted_at"]),
    ]),
    Case("deleted-by-eq", [("include_deleted", "true"), F("deleted_by", None, "user-3")]),
    # ---- custom fields: strings
    *_ops("cf-tier", "custom_fields.tier", {
        "": "gold", "eq": "Gold", "ne": "gold", "gt": "gold", "gte": "gold", "lt": "silver", "lte": "Gold",
        "in": "gold,silver", "nin": "gold,silver", "contains": "OL", "starts_with": "G", "exists": "true",
    }),
    Case("cf-tier-exists-false", [F("custom_fields.tier", "exists", "false")]),
    Case("cf-tier-eq-array-element", [F("custom_fields.tier", None, "platinum")]),
    Case("cf-tier-in-repeated", [F("custom_fields.tier", "in", "platinum"), F("custom_fields.tier", "in", "bronze")]),
    Case("cf-tier-nin-repeated", [F("custom_fields.tier", "nin", "gold"), F("custom_fields.tier", "nin", "Gold")]),
    Case("cf-region-eq-any-array-element", [F("custom_fields.region", None, "amer")]),
    Case("cf-region-eq-number-in-array", [F("custom_fields.region", None, "5")]),
    Case("cf-region-ne-array", [F("custom_fields.region", "ne", "emea")]),
    Case("cf-region-contains-strings-not-arrays", [F("custom_fields.region", "contains", "em")]),
    Case("cf-region-gt-text", [F("custom_fields.region", "gt", "EMEA")]),
    Case("cf-code-eq-underscore", [F("custom_fields.code", None, "a_b")]),
    Case("cf-code-contains-underscore-literal", [F("custom_fields.code", "contains", "_")]),
    Case("cf-code-contains-percent-literal", [F("custom_fields.code", "contains", "%")]),
    Case("cf-code-starts-with-escaped", [F("custom_fields.code", "starts_with", "A_")]),
    Case("cf-code-gt-code-points", [F("custom_fields.code", "gt", "a%b")]),
    Case("cf-code-lt-code-points", [F("custom_fields.code", "lt", "abc")]),
    # ---- custom fields: numbers
    *_ops("cf-score", "custom_fields.score", {
        "": "10", "eq": "-3", "ne": "10", "gt": "9", "gte": "9.5", "lt": "0", "lte": "0", "in": "2,100",
        "nin": "10,100", "contains": "ab", "starts_with": "1", "exists": "false",
    }),
    Case("cf-score-eq-float-spelling", [F("custom_fields.score", None, "10.0")]),
    Case("cf-score-eq-float", [F("custom_fields.score", None, "2.5")]),
    Case("cf-score-eq-array-element", [F("custom_fields.score", None, "2")]),
    Case("cf-score-eq-beyond-double", [F("custom_fields.score", None, "9007199254740993")]),
    Case("cf-score-eq-not-double-neighbour", [F("custom_fields.score", None, "9007199254740992")], empty_ok=True),
    Case("cf-score-gt-2-pow-53", [F("custom_fields.score", "gt", "9007199254740992")]),
    Case("cf-score-eq-beyond-int64", [F("custom_fields.score", None, "99999999999999999999")], empty_ok=True),
    Case("cf-score-lt-beyond-int64", [F("custom_fields.score", "lt", "99999999999999999999")]),
    Case("cf-score-gt-text", [F("custom_fields.score", "gt", "a")]),
    Case("cf-score-lt-text", [F("custom_fields.score", "lt", "2")]),
    Case("cf-score-eq-true-bool-and-string", [F("custom_fields.score", None, "true")]),
    Case("cf-score-between", [F("custom_fields.score", "gte", "0"), F("custom_fields.score", "lt", "10")]),
    # ---- custom fields: booleans
    Case("cf-active-eq-true", [F("custom_fields.active", None, "true")]),
    Case("cf-active-eq-false", [F("custom_fields.active", "eq", "false")]),
    Case("cf-active-eq-1-not-true", [F("custom_fields.active", None, "1")]),
    Case("cf-active-eq-0-not-false", [F("custom_fields.active", None, "0")]),
    Case("cf-active-ne-true", [F("custom_fields.active", "ne", "true")]),
    Case("cf-active-in-true-1", [F("custom_fields.active", "in", "true,1")]),
    Case("cf-active-nin-true-false", [F("custom_fields.active", "nin", "true,false")]),
    Case("cf-active-exists", [F("custom_fields.active", "exists", "true")]),
    Case("cf-active-gt-number-skips-booleans", [F("custom_fields.active", "gt", "0")]),
    # ---- custom fields: a key nobody has
    Case("cf-missing-eq", [F("custom_fields.nokey", None, "x")], empty_ok=True),
    Case("cf-missing-ne", [F("custom_fields.nokey", "ne", "x")]),
    Case("cf-missing-nin", [F("custom_fields.nokey", "nin", "x,1,true")]),
    Case("cf-missing-exists-false", [F("custom_fields.nokey", "exists", "false")]),
    Case("cf-two-keys", [F("custom_fields.tier", None, "gold"), F("custom_fields.score", "gte", "10")]),
    # ---- tags
    Case("tags-has", [F("tags", None, "vip")]),
    Case("tags-has-case-sensitive", [F("tags", None, "VIP")]),
    Case("tags-has-nobody", [F("tags", None, "nobody")], empty_ok=True),
    Case("tags-any", [F("tags", "any", "VIP,partner")]),
    Case("tags-any-repeated", [F("tags", "any", "VIP"), F("tags", "any", "partner")]),
    Case("tags-all", [F("tags", "all", "vip,beta")]),
    Case("tags-all-three", [F("tags", "all", "beta,partner,VIP")]),
    Case("tags-all-repeated", [F("tags", "all", "vip"), F("tags", "all", "partner")]),
    Case("tags-has-and-any", [F("tags", None, "beta"), F("tags", "any", "partner,vip")]),
    # ---- q
    Case("q-any-case-over-all-fields", [("q", "aCmE")]),
    Case("q-legal-name", [("q", "ACME CORP")]),
    Case("q-description", [("q", "quokka")]),
    Case("q-domain-website", [("q", "webby.example")]),
    Case("q-website-path", [("q", "/path?q")]),
    Case("q-padded-is-trimmed", [("q", "  acme  ")]),
    Case("q-spanning-two-fields-with-space", [("q", "Alpha Beta")], empty_ok=True),
    Case("q-spanning-two-fields-joined", [("q", "alphabeta")], empty_ok=True),
    Case("q-spanning-domain-website", [("q", "orghttp")], empty_ok=True),
    Case("q-percent-literal", [("q", "50%")]),
    Case("q-percent-alone", [("q", "%")]),
    Case("q-underscore-literal", [("q", "r_s")]),
    Case("q-underscore-alone", [("q", "_")]),
    Case("q-short", [("q", "ze")]),
    Case("q-non-ascii-same-case", [("q", "Ärzte")]),
    Case("q-ss", [("q", "strasse")]),
    Case("q-with-deleted", [("q", "acme"), ("include_deleted", "true")]),
    Case("q-and-filter", [("q", "filler"), F("tags", None, "vip")]),
    Case("q-and-sort", [("q", "a"), ("sort", "name")]),
    Case("q-nothing", [("q", "no such text anywhere")], empty_ok=True),
    # ---- apps and filters combined
    Case("app-alpha-sees-its-own", [], app="app-alpha"),
    Case("app-alpha-with-deleted", [("include_deleted", "true")], app="app-alpha"),
    Case("app-alpha-tag", [F("tags", None, "vip")], app="app-alpha"),
    Case("app-alpha-sorted", [("sort", "name")], app="app-alpha"),
    Case("app-beta-sees-its-own", [("sort", "-annual_revenue")], app="app-beta"),
    Case("app-beta-q", [("q", "app")], app="app-beta"),
    Case("app-alpha-filtering-other-app-is-empty", [F("app_id", None, "app-beta")], app="app-alpha", empty_ok=True),
    Case("app-alpha-under-human-tree-is-empty", lambda s: [F("parent_account_id", "under", s.id("root"))], app="app-alpha", empty_ok=True),
    Case("many-filters-together", lambda s: [
        F("industry", "ne", "Finance"), F("employee_count", "gte", "0"), F("tags", "any", "vip,beta,partner"),
        ("sort", "-employee_count,name"),
    ]),
]

SORT_CASES: list[Case] = [
    *[Case(f"sort-{name}-asc", [("sort", name)]) for name in SORTABLE],
    *[Case(f"sort-{name}-desc", [("sort", f"-{name}")]) for name in SORTABLE],
    Case("sort-default-is-newest-first", []),
    Case("sort-explicit-created-at-desc", [("sort", "-created_at")]),
    Case("sort-revenue-desc-then-name", [("sort", "-annual_revenue,name")]),
    Case("sort-revenue-asc-then-name-desc", [("sort", "annual_revenue,-name")]),
    Case("sort-employees-then-activity-desc", [("sort", "employee_count,-last_activity_at")]),
    Case("sort-activity-desc-revenue-employees", [("sort", "-last_activity_at,annual_revenue,-employee_count")]),
    Case("sort-name-then-created-desc", [("sort", "name,-created_at")]),
    Case("sort-first-contacted-then-revenue", [("sort", "-first_contacted_at,-annual_revenue")]),
    Case("sort-four-keys", [("sort", "employee_count,-annual_revenue,last_activity_at,-name")]),
    Case("sort-updated-with-deleted", [("sort", "-updated_at"), ("include_deleted", "true")]),
    Case("sort-name-filtered", [("sort", "-name"), F("tags", "any", "vip,beta")]),
    Case("sort-revenue-filtered-nulls", [("sort", "annual_revenue"), F("industry", "exists", "false")]),
]


@pytest.mark.parametrize("case", FILTER_CASES, ids=lambda c: c.name)
def test_filters_match_the_oracle(seed: Seed, case: Case) -> None:
    check_case(seed, case.resolve(seed), case.app, empty_ok=case.empty_ok)


@pytest.mark.parametrize("case", SORT_CASES, ids=lambda c: c.name)
def test_sorts_match_the_oracle(seed: Seed, case: Case) -> None:
    check_case(seed, case.resolve(seed), case.app, empty_ok=case.empty_ok)


# --------------------------------------------------------------------------- the seed itself, records, envelope


def test_the_seed_is_varied_enough(seed: Seed) -> None:
    live = [r for r in seed.records.values() if not r["is_deleted"]]
    assert len(live) > 50 and len(seed.records) - len(live) == len(DELETED)
    for name in ("annual_revenue", "employee_count", "last_activity_at", "first_contacted_at"):
        values = [r[name] for r in live]
        assert None in values and len([v for v in values if v is not None]) > len(set(v for v in values if v is not None))


def test_listed_records_equal_the_stored_records(seed: Seed) -> None:
    got = walk(seed.callers[None], [("include_deleted", "true")], limit=200)
    assert len(got.pages) == 1
    assert {item["id"]: item for item in got.data} == seed.records


def test_soft_deleted_records_carry_their_delete_stamp(seed: Seed) -> None:
    for account_id, before in seed.before_delete.items():
        after = seed.records[account_id]
        assert after["is_deleted"] is True and after["deleted_at"] is not None
        assert after["version"] == before["version"] + 1 and after["updated_at"] >= before["updated_at"]
        assert after["deleted_by"] == ("user-1" if before["app_id"] else "user-3")
        unchanged = {k for k in before if k not in ("is_deleted", "deleted_at", "deleted_by", "version", "updated_at", "updated_by")}
        assert {k: after[k] for k in unchanged} == {k: before[k] for k in unchanged}


def test_limit_defaults_to_50(seed: Seed) -> None:
    response = seed.callers[None].request("GET", ACCOUNTS)
    assert response.status_code == 200, response.text
    body = response.json()
    expected = oracle(seed, [])
    assert len(expected) > 50
    assert seed.names([item["id"] for item in body["data"]]) == seed.names(expected[:50])
    assert body["has_more"] is True and isinstance(body["next_cursor"], str)
    assert "total" not in body


@pytest.mark.parametrize("limit", [1, 2, 50, 199, 200])
def test_limit_bounds_are_accepted(seed: Seed, limit: int) -> None:
    expected = oracle(seed, [("sort", "name")])
    got = walk(seed.callers[None], [("sort", "name")], limit=limit)
    assert seed.names(got.ids) == seed.names(expected)
    assert len(got.pages) == -(-len(expected) // limit)


def test_include_total_counts_every_match_on_every_page(seed: Seed) -> None:
    params: Params = [F("tags", "any", "vip,beta"), ("include_total", "true")]
    expected = len(oracle(seed, params))
    got = walk(seed.callers[None], params, limit=2)
    assert len(got.pages) > 2 and got.totals == [expected] * len(got.pages)
    one = seed.callers[None].request("GET", ACCOUNTS, params=[*params, ("limit", "1")]).json()
    assert one["total"] == expected and len(one["data"]) == 1


def test_without_include_total_there_is_no_total(seed: Seed) -> None:
    for params in ([], [("include_total", "false")], [F("tags", None, "vip")]):
        got = walk(seed.callers[None], params, limit=20)
        assert got.totals == ["<absent>"] * len(got.pages)
        assert seed.names(got.ids) == seed.names(oracle(seed, params))


@pytest.mark.parametrize(
    "fields, keys",
    [
        ("name,annual_revenue", ["id", "name", "annual_revenue"]),
        ("id", ["id"]),
        ("name,name", ["id", "name"]),
        ("tags,custom_fields,parent_account_id,last_activity_at", ["id", "tags", "custom_fields", "parent_account_id", "last_activity_at"]),
        ("id,tenant_id,is_deleted,version", ["id", "tenant_id", "is_deleted", "version"]),
    ],
)
def test_fields_returns_only_those_keys_plus_id(seed: Seed, fields: str, keys: list[str]) -> None:
    params: Params = [("fields", fields), ("sort", "-annual_revenue,name"), F("employee_count", "exists", "true")]
    got = walk(seed.callers[None], params)
    assert seed.names(got.ids) == seed.names(oracle(seed, params))
    for item in got.data:
        assert set(item) == set(keys), item
        assert item == {k: seed.records[item["id"]][k] for k in keys}


def test_another_tenant_sees_nothing(seed: Seed) -> None:
    other = seed.callers[None].as_(tenant=f"tenant-other-{uuid.uuid4().hex[:12]}")
    for params in ([], [("include_deleted", "true")], [F("id", None, seed.id("root"))], [("q", "acme")]):
        got = walk(other, [*params, ("include_total", "true")])
        assert got.ids == [] and got.totals == [0]


def test_app_caller_sees_exactly_its_records(seed: Seed) -> None:
    for app in APPS:
        got = walk(seed.callers[app], [("include_deleted", "true")])
        mine = {i for i, r in seed.records.items() if r["app_id"] == app}
        assert set(got.ids) == mine and len(got.ids) == len(mine)
        assert all(item["app_id"] == app for item in got.data)


def test_a_cursor_page_can_be_read_again(seed: Seed) -> None:
    api = seed.callers[None]
    params: Params = [("sort", "-annual_revenue,name"), ("limit", "5")]
    first = api.request("GET", ACCOUNTS, params=params).json()
    cursor = first["next_cursor"]
    again = [api.request("GET", ACCOUNTS, params=[*params, ("cursor", cursor)]).json() for _ in range(2)]
    assert again[0] == again[1]
    assert seed.names([i["id"] for i in again[0]["data"]]) == seed.names(oracle(seed, params[:1])[5:10])


# --------------------------------------------------------------------------- errors


def _bad_params(s: Seed) -> list[tuple[str, Params, str]]:
    return [
        # unknown parameters and fields
        ("unknown-parameter", [("foo", "1")], "foo"),
        ("unknown-parameter-filter-bare", [("filter", "x")], "filter"),
        ("unknown-parameter-page", [("page", "2")], "page"),
        ("unknown-filter-field", [("filter[nope]", "1")], "filter[nope]"),
        ("unfilterable-addresses", [("filter[addresses]", "x")], "filter[addresses]"),
        ("unknown-operator", [("filter[name][like]", "x")], "filter[name][like]"),
        ("bad-custom-key", [("filter[custom_fields.Bad]", "x")], "filter[custom_fields.Bad]"),
        ("empty-custom-key", [("filter[custom_fields.]", "x")], "filter[custom_fields.]"),
        # operators the field kind does not allow
        ("contains-on-number", [("filter[annual_revenue][contains]", "1")], "filter[annual_revenue][contains]"),
        ("starts-with-on-integer", [("filter[employee_count][starts_with]", "1")], "filter[employee_count][starts_with]"),
        ("contains-on-date-time", [("filter[created_at][contains]", "2024")], "filter[created_at][contains]"),
        ("gt-on-boolean", [("filter[is_deleted][gt]", "false")], "filter[is_deleted][gt]"),
        ("lt-on-boolean", [("filter[is_deleted][lt]", "true")], "filter[is_deleted][lt]"),
        ("in-on-boolean", [("filter[is_deleted][in]", "true,false")], "filter[is_deleted][in]"),
        ("contains-on-boolean", [("filter[is_deleted][contains]", "t")], "filter[is_deleted][contains]"),
        ("under-on-name", [("filter[name][under]", s.id("root"))], "filter[name][under]"),
        ("under-on-id", [("filter[id][under]", s.id("root"))], "filter[id][under]"),
        ("tags-eq", [("filter[tags][eq]", "vip")], "filter[tags][eq]"),
        ("tags-contains", [("filter[tags][contains]", "vip")], "filter[tags][contains]"),
        ("custom-any", [("filter[custom_fields.tier][any]", "gold")], "filter[custom_fields.tier][any]"),
        ("custom-under", [("filter[custom_fields.tier][under]", s.id("root"))], "filter[custom_fields.tier][under]"),
        # values that do not fit the type
        ("integer-abc", [("filter[employee_count]", "abc")], "filter[employee_count]"),
        ("integer-fraction", [("filter[employee_count][gt]", "1.5")], "filter[employee_count][gt]"),
        ("integer-in-list-item", [("filter[employee_count][in]", "1,x")], "filter[employee_count][in]"),
        ("integer-beyond-int64", [("filter[employee_count]", "99999999999999999999")], "filter[employee_count]"),
        ("integer-empty", [("filter[version]", "")], "filter[version]"),
        ("number-abc", [("filter[annual_revenue]", "abc")], "filter[annual_revenue]"),
        ("number-infinite", [("filter[annual_revenue][lt]", "inf")], "filter[annual_revenue][lt]"),
        ("number-nan", [("filter[annual_revenue]", "nan")], "filter[annual_revenue]"),
        ("number-overflow", [("filter[annual_revenue][gt]", "1e400")], "filter[annual_revenue][gt]"),
        ("date-time-yesterday", [("filter[last_activity_at]", "yesterday")], "filter[last_activity_at]"),
        ("date-time-date-only", [("filter[created_at][gt]", "2024-05-01")], "filter[created_at][gt]"),
        ("date-time-no-offset", [("filter[created_at][gt]", "2024-05-01T12:00:00")], "filter[created_at][gt]"),
        ("date-time-month-13", [("filter[last_activity_at][lt]", "2024-13-01T00:00:00Z")], "filter[last_activity_at][lt]"),
        ("date-time-in-list-item", [("filter[updated_at][in]", "2024-05-01T12:00:00Z,soon")], "filter[updated_at][in]"),
        ("enum-not-in-list", [("filter[source_type]", "web")], "filter[source_type]"),
        ("enum-wrong-case", [("filter[source_type]", "API")], "filter[source_type]"),
        ("enum-in-list-item", [("filter[source_type][in]", "api,web")], "filter[source_type][in]"),
        ("bad-parent-id", [("filter[parent_account_id]", "123")], "filter[parent_account_id]"),
        ("bad-under-id", [("filter[parent_account_id][under]", "nope")], "filter[parent_account_id][under]"),
        ("bad-id", [("filter[id]", "acc_bad")], "filter[id]"),
        ("foreign-id-prefix", [("filter[id]", "usr_01ARZ3NDEKTSV4RRFFQ69G5FAV")], "filter[id]"),
        ("boolean-maybe", [("filter[is_deleted]", "maybe")], "filter[is_deleted]"),
        ("boolean-one", [("filter[is_deleted]", "1")], "filter[is_deleted]"),
        ("exists-maybe", [("filter[name][exists]", "maybe")], "filter[name][exists]"),
        ("exists-on-custom-yes", [("filter[custom_fields.tier][exists]", "yes")], "filter[custom_fields.tier][exists]"),
        ("tags-any-empty", [("filter[tags][any]", "")], "filter[tags][any]"),
        ("contains-empty", [("filter[name][contains]", "")], "filter[name][contains]"),
        ("one-value-given-twice", [("filter[name]", "a"), ("filter[name]", "b")], "filter[name]"),
        # sort
        ("sort-unknown", [("sort", "foo")], "sort"),
        ("sort-not-sortable", [("sort", "id")], "sort"),
        ("sort-custom-field", [("sort", "custom_fields.tier")], "sort"),
        ("sort-duplicated", [("sort", "name,name")], "sort"),
        ("sort-duplicated-other-direction", [("sort", "name,-name")], "sort"),
        ("sort-empty", [("sort", "")], "sort"),
        ("sort-dash-only", [("sort", "-")], "sort"),
        ("sort-trailing-comma", [("sort", "name,")], "sort"),
        ("sort-given-twice", [("sort", "name"), ("sort", "-name")], "sort"),
        # fields
        ("fields-unknown", [("fields", "nope")], "fields"),
        ("fields-one-unknown", [("fields", "name,nope")], "fields"),
        ("fields-custom-key", [("fields", "custom_fields.tier")], "fields"),
        # limit and flags
        ("limit-zero", [("limit", "0")], "limit"),
        ("limit-201", [("limit", "201")], "limit"),
        ("limit-x", [("limit", "x")], "limit"),
        ("limit-negative", [("limit", "-1")], "limit"),
        ("limit-fraction", [("limit", "1.5")], "limit"),
        ("limit-empty", [("limit", "")], "limit"),
        ("limit-huge", [("limit", "99999999999999999999")], "limit"),
        ("limit-given-twice", [("limit", "5"), ("limit", "5")], "limit"),
        ("include-deleted-yes", [("include_deleted", "yes")], "include_deleted"),
        ("include-total-1", [("include_total", "1")], "include_total"),
        # NUL and other control characters
        ("nul-in-filter", [("filter[name]", "a\x00b")], "filter[name]"),
        ("nul-in-contains", [("filter[name][contains]", "\x00")], "filter[name][contains]"),
        ("nul-in-custom", [("filter[custom_fields.tier]", "gold\x00")], "filter[custom_fields.tier]"),
        ("nul-in-custom-in", [("filter[custom_fields.tier][in]", "gold,\x00")], "filter[custom_fields.tier][in]"),
        ("nul-in-tags", [("filter[tags]", "vip\x00")], "filter[tags]"),
        ("nul-in-q", [("q", "acme\x00")], "q"),
        ("nul-in-sort", [("sort", "name\x00")], "sort"),
        ("nul-in-fields", [("fields", "name\x00")], "fields"),
        ("nul-in-limit", [("limit", "5\x00")], "limit"),
        ("nul-in-cursor", [("cursor", "abc\x00.def")], "cursor"),
        ("nul-in-integer", [("filter[employee_count]", "1\x00")], "filter[employee_count]"),
        # cursors that were never issued
        ("cursor-garbage", [("cursor", "garbage")], "cursor"),
        ("cursor-two-dots", [("cursor", "a.b.c")], "cursor"),
        ("cursor-non-ascii", [("cursor", "é.é")], "cursor"),
        ("cursor-json", [("cursor", '{"f":"x","v":[1]}')], "cursor"),
        ("cursor-forged", [("cursor", _forged_cursor())], "cursor"),
    ]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _forged_cursor(fingerprint: str = "0" * 32, values: list[Any] | None = None) -> str:
    payload = json.dumps({"f": fingerprint, "v": values or ["2024-01-01T00:00:00+00:00", "acc_01ARZ3NDEKTSV4RRFFQ69G5FAV"]}).encode()
    key = hashlib.sha256(uuid.uuid4().bytes).digest()
    return f"{_b64(payload)}.{_b64(hmac.new(key, payload, hashlib.sha256).digest()[:16])}"


_BAD_NAMES = [name for name, _, _ in _bad_params(Seed("", "", {}, ids={"root": "acc_01ARZ3NDEKTSV4RRFFQ69G5FAV"}))]


@pytest.mark.parametrize("name", _BAD_NAMES)
def test_bad_parameters_are_400_naming_the_parameter(seed: Seed, name: str) -> None:
    _, params, parameter = next(case for case in _bad_params(seed) if case[0] == name)
    response = seed.callers[None].request("GET", ACCOUNTS, params=params)
    body = assert_problem(response, 400, "invalid_parameter", parameter)
    assert "Traceback" not in response.text and "SELECT" not in response.text.upper()
    assert body["errors"] and all(set(e) >= {"field", "message"} for e in body["errors"])


# --------------------------------------------------------------------------- cursors


def _first_cursor(api: Api, params: Params, limit: int = 3) -> str:
    response = api.request("GET", ACCOUNTS, params=[*params, ("limit", str(limit))])
    assert response.status_code == 200, response.text
    cursor = response.json()["next_cursor"]
    assert cursor
    return cursor


def _with_cursor(api: Api, params: Params, cursor: str) -> httpx.Response:
    return api.request("GET", ACCOUNTS, params=[*params, ("limit", "3"), ("cursor", cursor)])


def _tamper(cursor: str) -> list[tuple[str, str]]:
    body, mac = cursor.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload["v"][-1] = "acc_00000000000000000000000000"
    rewritten = _b64(json.dumps(payload, separators=(",", ":")).encode())
    middle = len(body) // 2
    flipped_body = body[:middle] + ("A" if body[middle] != "A" else "B") + body[middle + 1 :]
    flipped_mac = ("A" if mac[0] != "A" else "B") + mac[1:]
    return [
        ("truncated-end", cursor[:-3]),
        ("truncated-half", cursor[: len(cursor) // 2]),
        ("payload-only", body),
        ("payload-and-dot", body + "."),
        ("mac-only", "." + mac),
        ("payload-rewritten", f"{rewritten}.{mac}"),
        ("payload-char-flipped", f"{flipped_body}.{mac}"),
        ("mac-char-flipped", f"{body}.{flipped_mac}"),
        ("mac-extended", f"{cursor}AA"),
        ("fingerprint-kept-mac-forged", _forged_cursor(payload["f"], payload["v"])),
    ]


def test_altered_or_truncated_cursors_are_400(seed: Seed) -> None:
    api = seed.callers[None]
    params: Params = [("sort", "-annual_revenue,name")]
    cursor = _first_cursor(api, params)
    assert _with_cursor(api, params, cursor).status_code == 200
    failures = []
    for label, bad in _tamper(cursor):
        response = _with_cursor(api, params, bad)
        if response.status_code != 400 or "cursor" not in [e.get("field") for e in response.json().get("errors", [])]:
            failures.append((label, response.status_code, response.text[:200]))
        else:
            assert_problem(response, 400, "invalid_parameter", "cursor")
    assert failures == []


@pytest.mark.parametrize(
    "issued, reused",
    [
        ([("sort", "name")], [("sort", "-name")]),
        ([("sort", "name")], []),
        ([], [("sort", "name")]),
        ([("sort", "-annual_revenue,name")], [("sort", "-annual_revenue,-name")]),
        ([("sort", "-annual_revenue,name")], [("sort", "-annual_revenue")]),
        ([F("tags", None, "vip")], [F("tags", None, "beta")]),
        ([F("tags", None, "vip")], []),
        ([], [F("tags", None, "vip")]),
        ([F("employee_count", "gte", "0")], [F("employee_count", "gte", "1")]),
        ([F("employee_count", "gte", "0")], [F("employee_count", "gt", "0")]),
        ([F("custom_fields.tier", "ne", "x")], [F("custom_fields.region", "ne", "x")]),
        ([("q", "a")], [("q", "e")]),
        ([], [("q", "a")]),
        ([], [("include_deleted", "true")]),
        ([("include_deleted", "true")], []),
    ],
    ids=lambda p: "&".join(f"{k}={v}" for k, v in p) or "(none)",
)
def test_a_cursor_is_bound_to_its_sort_and_filters(seed: Seed, issued: Params, reused: Params) -> None:
    api = seed.callers[None]
    cursor = _first_cursor(api, issued)
    assert _with_cursor(api, issued, cursor).status_code == 200
    assert_problem(_with_cursor(api, reused, cursor), 400, "invalid_parameter", "cursor")


def test_a_cursor_is_bound_to_its_caller(seed: Seed) -> None:
    human, alpha = seed.callers[None], seed.callers["app-alpha"]
    other_tenant = human.as_(tenant=f"tenant-other-{uuid.uuid4().hex[:12]}")
    human_cursor = _first_cursor(human, [])
    for stranger in (other_tenant, alpha, seed.callers["app-beta"]):
        assert_problem(_with_cursor(stranger, [], human_cursor), 400, "invalid_parameter", "cursor")
    alpha_cursor = _first_cursor(alpha, [("include_deleted", "true"), ("sort", "name")], limit=1)
    for stranger in (human, seed.callers["app-beta"], other_tenant.as_(app="app-alpha")):
        response = _with_cursor(stranger, [("include_deleted", "true"), ("sort", "name")], alpha_cursor)
        assert_problem(response, 400, "invalid_parameter", "cursor")


def test_the_limit_may_change_between_pages(seed: Seed) -> None:
    api = seed.callers[None]
    params: Params = [("sort", "employee_count,-last_activity_at")]
    cursor = _first_cursor(api, params)  # after 3 rows
    response = api.request("GET", ACCOUNTS, params=[*params, ("limit", "10"), ("cursor", cursor)])
    assert response.status_code == 200, response.text
    assert seed.names([i["id"] for i in response.json()["data"]]) == seed.names(oracle(seed, params)[3:13])


# --------------------------------------------------------------------------- pages while records are written


@pytest.mark.parametrize("sort", ["-created_at", "name", "-annual_revenue,name"])
def test_pages_neither_repeat_nor_skip_while_records_are_written(
    backend: str, http_clients: dict[str, httpx.Client], sort: str
) -> None:
    tenant = f"tenant-list-w-{uuid.uuid4().hex[:12]}"
    api = Api(http_clients[backend], backend, tenant, make_token(tenant))
    original = [api.created({"name": f"m{i:02d}", "annual_revenue": [None, 5.0, 1.0][i % 3]}) for i in range(12)]
    params: Params = [("sort", sort), ("limit", "4")]
    first = api.request("GET", ACCOUNTS, params=params).json()
    seen = [item["id"] for item in first["data"]]
    cursor = first["next_cursor"]
    time.sleep(0.005)
    early = api.created({"name": "a-early", "annual_revenue": 99.0})  # sorts before the cursor in every order
    late = api.created({"name": "z-late"})  # after it, except for -created_at
    doomed = next(r for r in original if r["id"] not in seen)
    assert api.delete(doomed["id"]).status_code == 204
    while cursor:
        page = api.request("GET", ACCOUNTS, params=[*params, ("cursor", cursor)])
        assert page.status_code == 200, page.text
        seen += [item["id"] for item in page.json()["data"]]
        cursor = page.json()["next_cursor"]
        time.sleep(0.002)
        api.created({"name": "a-between", "annual_revenue": 100.0})  # always before the cursor
    assert len(seen) == len(set(seen)), "a record was listed twice"
    assert set(seen) - {late["id"]} == {r["id"] for r in original} - {doomed["id"]}
    assert early["id"] not in seen
    assert (late["id"] in seen) == (sort != "-created_at")


@pytest.mark.parametrize("op", [None, "ne", "gt", "lte", "in"])
def test_a_custom_field_value_past_a_doubles_range_is_text_not_a_500(api: Api, op: str | None) -> None:
    """309+ digits overflow a double: such a value matches as text only."""
    huge = "9" * 400
    text = api.created({"name": "text", "custom_fields": {"n": huge}})
    number = api.created({"name": "number", "custom_fields": {"n": 5}})
    name = "filter[custom_fields.n]" + (f"[{op}]" if op else "")
    response = api.request("GET", ACCOUNTS, params={name: huge})
    assert response.status_code == 200, response.text
    found = {item["id"] for item in response.json()["data"]}
    expected = {
        None: {text["id"]},
        "in": {text["id"]},
        "ne": {number["id"]},
        "gt": set(),  # compared as text with text values only: equal is not greater
        "lte": {text["id"]},
    }[op]
    assert found == expected


@pytest.mark.parametrize("op", ["in", "nin"])
def test_a_custom_field_list_is_one_parameter_of_the_statement(
    api: Api, op: str, statements: list[tuple[str, Any]]
) -> None:
    """Each value had been up to six parameters on PostgreSQL and three options on SQLite, so
    the statement (and its compiled shape in the cache) grew with the list."""
    matching = api.created({"name": "listed", "custom_fields": {"code": 42}})
    values = ",".join(["42", *(f"v{n}" for n in range(98)), "true"])
    statements.clear()
    response = api.request("GET", ACCOUNTS, params={f"filter[custom_fields.code][{op}]": values})
    assert response.status_code == 200, response.text
    assert (matching["id"] in {r["id"] for r in response.json()["data"]}) == (op == "in")
    (listed,) = [args for sql, args in statements if "FROM accounts" in sql and "ORDER BY" in sql]
    assert len(listed) <= 10, len(listed)
