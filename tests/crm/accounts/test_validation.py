"""Validation of every client field (docs/accounts.md) and the request body rules (docs/errors.md).

Every rule is exercised on create (POST) and on update (PATCH) through the
``writer`` fixture.  A rejected write is checked twice: the problem names the
field, and nothing was written (create: the tenant has no row in the database;
update: the record reads back exactly as it was).
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import Iterator, Mapping
from contextlib import closing
from typing import Any

import asyncpg
import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import ACCOUNTS, Api, assert_problem

MIB = 1024 * 1024
OWNER = uuid.UUID("3f2c8a9e-1b4d-4c6e-9a7b-2d5e8f0a1c3b")
MISSING_ACCOUNT = "acc_01ARZ3NDEKTSV4RRFFQ69G5FAV"
ADDRESS_KEYS = ("type", "line1", "line2", "city", "region", "postal_code", "country")
SOURCE_TYPES = ("frontend", "backend", "server", "system", "api")
ADDRESS_TYPES = ("billing", "shipping", "office", "other")
STRING_255 = ("legal_name", "industry", "sub_industry", "lifecycle_stage", "lead_source", "health_score")
STRING_FIELDS = (
    "name",
    *STRING_255,
    "source",
    "owner_id",
    "website",
    "domain",
    "phone",
    "parent_account_id",
    "description",
    "last_activity_at",
    "first_contacted_at",
)
SERVER_WRITTEN = {
    "id": "acc_01ARZ3NDEKTSV4RRFFQ69G5FAV",
    "tenant_id": "tenant-other",
    "app_id": "app-1",
    "created_at": "2024-01-01T00:00:00.000Z",
    "updated_at": "2024-01-01T00:00:00.000Z",
    "created_by": "someone",
    "updated_by": "someone",
    "is_deleted": False,
    "deleted_at": None,
    "deleted_by": None,
    "schema_version": 1,
    "version": 1,
}
# The record every update test starts from: most fields set, so a stray write shows.
BASELINE: dict[str, Any] = {
    "name": "Baseline Inc",
    "legal_name": "Baseline Incorporated",
    "owner_id": f"usr-{OWNER}",
    "industry": "Retail",
    "website": "https://baseline.example/",
    "domain": "baseline.example",
    "phone": "+1 555 0100",
    "addresses": [{"type": "office", "city": "Springfield", "country": "US"}],
    "annual_revenue": 10.5,
    "employee_count": 5,
    "description": "the baseline",
    "last_activity_at": "2024-05-01T12:00:00Z",
    "first_contacted_at": "2023-05-01T12:00:00Z",
    "custom_fields": {"k": 1},
    "tags": ["base"],
    "source": "seed",
    "source_type": "backend",
}
WRITE_STAMPS = {"updated_at", "updated_by", "version", "schema_version"}

LONG_URL = "https://example.com/" + "p" * (2048 - len("https://example.com/"))
DOMAIN_253 = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])
DOMAIN_254 = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 62])


def address(**values: Any) -> dict[str, Any]:
    return {key: None for key in ADDRESS_KEYS} | values


# --------------------------------------------------------------------------- fixtures


class RowCounter:
    """Counts a tenant's rows straight in the database, to prove a rejected create stored nothing."""

    def __init__(self, urls: Mapping[str, str]) -> None:
        self._urls = urls
        self._loop = asyncio.new_event_loop()
        self._pg: asyncpg.Connection | None = None  # connected by the first PostgreSQL count

    def __call__(self, backend: str, tenant: str) -> int:
        if backend == "sqlite":
            with closing(sqlite3.connect(sa.make_url(self._urls["sqlite"]).database)) as db:
                return db.execute("SELECT count(*) FROM accounts WHERE tenant_id = ?", (tenant,)).fetchone()[0]
        query = "SELECT count(*) FROM accounts WHERE tenant_id = $1"
        return self._loop.run_until_complete(self._postgres().fetchval(query, tenant))

    def _postgres(self) -> asyncpg.Connection:
        if self._pg is None:
            pg = sa.make_url(self._urls["postgresql"])
            self._pg = self._loop.run_until_complete(
                asyncpg.connect(
                    host=pg.host or "127.0.0.1",
                    port=pg.port or 5432,
                    user=pg.username or "postgres",
                    password=pg.password,
                    database=pg.database,
                )
            )
        return self._pg

    def close(self) -> None:
        if self._pg is not None:
            self._loop.run_until_complete(self._pg.close())
        self._loop.close()


@pytest.fixture(scope="module")
def count_rows(database_urls: dict[str, str]) -> Iterator[RowCounter]:
    counter = RowCounter(database_urls)
    yield counter
    counter.close()


class Writer:
    """One write under test: a create, or a merge patch of a fresh BASELINE record."""

    def __init__(self, api: Api, op: str, count_rows: RowCounter) -> None:
        self.api = api
        self.op = op
        self._count_rows = count_rows
        self.before: dict[str, Any] | None = api.created(BASELINE) if op == "update" else None

    @property
    def creating(self) -> bool:
        return self.op == "create"

    @property
    def method(self) -> str:
        return "POST" if self.creating else "PATCH"

    @property
    def path(self) -> str:
        return ACCOUNTS if self.creating else f"{ACCOUNTS}/{self.before['id']}"  # type: ignore[index]

    def rows(self) -> int:
        return self._count_rows(self.api.backend, self.api.tenant)

    def send(self, fragment: dict[str, Any]) -> httpx.Response:
        """Create ``{"name": "Acme", **fragment}``, or patch the baseline with ``fragment``."""
        if self.creating:
            return self.api.create({"name": "Acme", **fragment})
        return self.api.patch(self.before["id"], fragment)  # type: ignore[index]

    def send_raw(self, content: Any, content_type: str | None = "application/json") -> httpx.Response:
        headers = {"Content-Type": content_type} if content_type else {}
        return self.api.request(self.method, self.path, content=content, headers=headers)

    def raw_object(self, member: bytes) -> bytes:
        """A raw JSON object holding ``member`` (and a name on create, unless the member is the name)."""
        if self.creating and not member.startswith(b'"name"'):
            return b'{"name":"Acme",' + member + b"}"
        return b"{" + member + b"}"

    def assert_nothing_written(self) -> None:
        if self.creating:
            assert self.rows() == 0, "a rejected create stored a row"
            return
        assert self.rows() == 1
        after = self.api.get(self.before["id"])  # type: ignore[index]
        assert after.status_code == 200, after.text
        assert after.json() == self.before, "a rejected update changed the record"

    def rejected(
        self, response: httpx.Response, field: str | None, status: int = 422, code: str | None = "validation_error"
    ) -> dict[str, Any]:
        body = assert_problem(response, status, code, field)
        self.assert_nothing_written()
        return body

    def accepted(self, response: httpx.Response, fragment: dict[str, Any], expected: dict[str, Any]) -> dict[str, Any]:
        """The write succeeded with ``expected`` values; on update, every field ``fragment`` does not name is untouched."""
        assert response.status_code == (201 if self.creating else 200), response.text
        record = response.json()
        expected = dict(expected)
        if isinstance(fragment.get("custom_fields"), dict):
            start = {} if self.creating else dict(self.before["custom_fields"])  # type: ignore[index]
            for key, value in fragment["custom_fields"].items():
                if value is None:
                    start.pop(key, None)
                else:
                    start[key] = value
            expected["custom_fields"] = start
        for key, value in expected.items():
            assert record[key] == value, f"{key}: {record[key]!r} != {value!r}"
        assert self.api.get(record["id"]).json() == record
        if self.creating:
            assert self.rows() == 1
        else:
            assert record["version"] == self.before["version"] + 1  # type: ignore[index]
            for key, value in self.before.items():  # type: ignore[union-attr]
                if key not in fragment and key not in WRITE_STAMPS:
                    assert record[key] == value, f"{key} changed though the patch did not name it"
        return record


@pytest.fixture(params=["create", "update"])
def writer(request: pytest.FixtureRequest, api: Api, count_rows: RowCounter) -> Writer:
    return Writer(api, request.param, count_rows)


# --------------------------------------------------------------------------- values at the limit: accepted

ACCEPTED = [
    pytest.param({"name": "n" * 255}, {"name": "n" * 255}, id="name-255"),
    pytest.param({"name": "  " + "n" * 255 + "\t\n"}, {"name": "n" * 255}, id="name-255-after-trimming"),
    pytest.param({"name": "é" * 255}, {"name": "é" * 255}, id="name-255-non-ascii-chars"),
    pytest.param({"name": "  x  "}, {"name": "x"}, id="name-1-after-trimming"),
    *[pytest.param({f: "x" * 255}, {f: "x" * 255}, id=f"{f}-255") for f in STRING_255],
    pytest.param({"source": "s" * 64}, {"source": "s" * 64}, id="source-64"),
    *[pytest.param({"source_type": t}, {"source_type": t}, id=f"source_type-{t}") for t in SOURCE_TYPES],
    pytest.param({"website": LONG_URL}, {"website": LONG_URL}, id="website-2048"),
    pytest.param(
        {"website": "http://example.com:8080/a/b?q=1#frag"},
        {"website": "http://example.com:8080/a/b?q=1#frag"},
        id="website-http-port-query-fragment",
    ),
    pytest.param({"website": "HTTPS://Example.COM/x"}, {}, id="website-upper-case-scheme"),
    pytest.param({"domain": DOMAIN_253}, {"domain": DOMAIN_253}, id="domain-253"),
    pytest.param({"domain": "a" * 63 + ".com"}, {"domain": "a" * 63 + ".com"}, id="domain-63-char-label"),
    pytest.param({"domain": "WWW.Example.COM."}, {"domain": "www.example.com"}, id="domain-upper-case-trailing-dot"),
    pytest.param({"domain": DOMAIN_253.upper() + "."}, {"domain": DOMAIN_253}, id="domain-253-plus-trailing-dot"),
    pytest.param({"domain": "BÜcher.Example"}, {"domain": "xn--bcher-kva.example"}, id="domain-idn-to-punycode"),
    pytest.param({"domain": "xn--bcher-kva.example"}, {"domain": "xn--bcher-kva.example"}, id="domain-punycode"),
    pytest.param({"domain": "a-b.c0.example"}, {"domain": "a-b.c0.example"}, id="domain-hyphen-digit"),
    pytest.param({"phone": "1" * 64}, {"phone": "1" * 64}, id="phone-64"),
    pytest.param({"phone": "+1 (555) 010-2000 x12"}, {"phone": "+1 (555) 010-2000 x12"}, id="phone-all-chars"),
    pytest.param({"phone": "555.010.2000"}, {"phone": "555.010.2000"}, id="phone-dots"),
    pytest.param({"description": "d" * 65536}, {"description": "d" * 65536}, id="description-65536"),
    pytest.param({"description": "é" * 65536}, {"description": "é" * 65536}, id="description-65536-non-ascii"),
    pytest.param({"owner_id": f"usr-{str(OWNER).upper()}"}, {"owner_id": f"usr-{OWNER}"}, id="owner_id-lower-cased"),
    pytest.param({"owner_id": f"usr-{OWNER}"}, {"owner_id": f"usr-{OWNER}"}, id="owner_id"),
    *[
        pytest.param({"addresses": [{"type": t}]}, {"addresses": [address(type=t)]}, id=f"address-type-{t}")
        for t in ADDRESS_TYPES
    ],
    pytest.param(
        {"addresses": [{"city": f"c{i}", "country": "de"} for i in range(20)]},
        {"addresses": [address(city=f"c{i}", country="DE") for i in range(20)]},
        id="addresses-20-country-upper-cased",
    ),
    pytest.param({"addresses": [{}]}, {"addresses": [address()]}, id="address-empty-object"),
    pytest.param(
        {"addresses": [dict.fromkeys(ADDRESS_KEYS)]}, {"addresses": [address()]}, id="address-all-null"
    ),
    pytest.param({"annual_revenue": 0}, {"annual_revenue": 0}, id="annual_revenue-0"),
    pytest.param({"annual_revenue": 100}, {"annual_revenue": 100}, id="annual_revenue-json-integer"),
    pytest.param({"annual_revenue": 1e308}, {"annual_revenue": 1e308}, id="annual_revenue-1e308"),
    pytest.param({"employee_count": 0}, {"employee_count": 0}, id="employee_count-0"),
    pytest.param({"employee_count": 2**63 - 1}, {"employee_count": 2**63 - 1}, id="employee_count-int64-max"),
    pytest.param(
        {"last_activity_at": "2024-05-01t12:00:00z"},
        {"last_activity_at": "2024-05-01T12:00:00.000Z"},
        id="date-time-lower-case-t-z",
    ),
    pytest.param(
        {"first_contacted_at": "2024-05-01T23:30:00.5-05:30"},
        {"first_contacted_at": "2024-05-02T05:00:00.500Z"},
        id="date-time-negative-offset-to-utc",
    ),
    pytest.param(
        {"last_activity_at": "2024-02-29T12:00:00+00:00"},
        {"last_activity_at": "2024-02-29T12:00:00.000Z"},
        id="date-time-leap-day",
    ),
    pytest.param(
        {"last_activity_at": "0001-01-01T01:00:00+01:00"},
        {"last_activity_at": "0001-01-01T00:00:00.000Z"},
        id="date-time-year-1-in-utc",
    ),
    pytest.param(
        {"first_contacted_at": "9999-12-31T23:59:59.999Z"},
        {"first_contacted_at": "9999-12-31T23:59:59.999Z"},
        id="date-time-year-9999",
    ),
    pytest.param(
        {"custom_fields": {key: i for i, key in enumerate(["k", *(f"k{i}" for i in range(99))])}},
        {},
        id="custom_fields-100-keys",
    ),
    pytest.param(
        {"custom_fields": {"gone": None, **{key: i for i, key in enumerate(["k", *(f"k{i}" for i in range(99))])}}},
        {},
        id="custom_fields-100-keys-plus-a-null",
    ),
    pytest.param({"custom_fields": {"a" * 64: 1}}, {}, id="custom_fields-64-char-key"),
    pytest.param({"custom_fields": {"a": 1, "a1_b": 2, "z9": 3}}, {}, id="custom_fields-key-shapes"),
    # '{"k":"' + value + '"}' is exactly 16 KiB of compact JSON
    pytest.param({"custom_fields": {"k": "v" * (16384 - 8)}}, {}, id="custom_fields-16KiB"),
    pytest.param({"custom_fields": {"big": 2**63 - 1, "small": -(2**63)}}, {}, id="custom_fields-int64-range"),
    pytest.param({"custom_fields": {"mix": ["a", 1, 2.5, True, None], "empty": []}}, {}, id="custom_fields-scalar-arrays"),
    pytest.param({"tags": [f"t{i}" for i in range(100)]}, {"tags": [f"t{i}" for i in range(100)]}, id="tags-100"),
    pytest.param(
        {"tags": ["t99", "t0", "t99", *(f"t{i}" for i in range(100)), "t0", "t50"]},
        {"tags": ["t99", "t0", *(f"t{i}" for i in range(1, 99))]},
        id="tags-100-distinct-plus-duplicates",
    ),
    pytest.param({"tags": ["t" * 64, "x"]}, {"tags": ["t" * 64, "x"]}, id="tags-64-chars"),
]


@pytest.mark.parametrize(("fragment", "expected"), ACCEPTED)
def test_value_at_the_limit_is_accepted(writer: Writer, fragment: dict[str, Any], expected: dict[str, Any]) -> None:
    writer.accepted(writer.send(fragment), fragment, expected)


# --------------------------------------------------------------------------- invalid values: 422 naming the field


def _wrong_types() -> list[Any]:
    cases = []
    for field in STRING_FIELDS:
        for label, value in (("number", 123), ("float", 1.5), ("bool", True), ("list", ["x"]), ("object", {"v": "x"})):
            cases.append(pytest.param({field: value}, field, id=f"{field}-{label}"))
    for label, value in (("number", 1), ("bool", True), ("list", ["api"]), ("object", {})):
        cases.append(pytest.param({"source_type": value}, "source_type", id=f"source_type-{label}"))
    for label, value in (("string", "100"), ("bool", True), ("list", [1]), ("object", {"usd": 1})):
        cases.append(pytest.param({"annual_revenue": value}, "annual_revenue", id=f"annual_revenue-{label}"))
    for label, value in (("string", "5"), ("bool", True), ("bool-false", False), ("float", 1.5), ("list", [1])):
        cases.append(pytest.param({"employee_count": value}, "employee_count", id=f"employee_count-{label}"))
    for label, value in (("object", {}), ("string", "x"), ("number", 1), ("bool", True)):
        cases.append(pytest.param({"addresses": value}, "addresses", id=f"addresses-{label}"))
        cases.append(pytest.param({"tags": value}, "tags", id=f"tags-{label}"))
    for label, value in (("list", []), ("list-of-object", [{"a": 1}]), ("string", "x"), ("number", 1), ("bool", True)):
        cases.append(pytest.param({"custom_fields": value}, "custom_fields", id=f"custom_fields-{label}"))
    return cases


def _over_the_limit() -> list[Any]:
    return [
        pytest.param({"name": "n" * 256}, "name", id="name-256"),
        pytest.param({"name": " " + "n" * 256 + " "}, "name", id="name-256-after-trimming"),
        pytest.param({"name": ""}, "name", id="name-empty"),
        pytest.param({"name": " \t\n "}, "name", id="name-only-white-space"),
        pytest.param({"name": None}, "name", id="name-null"),
        *[pytest.param({f: "x" * 256}, f, id=f"{f}-256") for f in STRING_255],
        pytest.param({"source": "s" * 65}, "source", id="source-65"),
        pytest.param({"website": LONG_URL + "p"}, "website", id="website-2049"),
        pytest.param({"domain": DOMAIN_254}, "domain", id="domain-254"),
        pytest.param({"domain": "a" * 64 + ".com"}, "domain", id="domain-64-char-label"),
        pytest.param({"domain": "ü" * 60 + ".example"}, "domain", id="domain-idn-label-over-63-as-punycode"),
        pytest.param({"phone": "1" * 65}, "phone", id="phone-65"),
        pytest.param({"description": "d" * 65537}, "description", id="description-65537"),
        pytest.param({"addresses": [{"city": f"c{i}"} for i in range(21)]}, "addresses", id="addresses-21"),
        pytest.param({"tags": [f"t{i}" for i in range(101)]}, "tags", id="tags-101-distinct"),
        pytest.param({"custom_fields": {f"k{i}": i for i in range(101)}}, "custom_fields", id="custom_fields-101-keys"),
        pytest.param({"custom_fields": {"k": "v" * (16384 - 7)}}, "custom_fields", id="custom_fields-16KiB-plus-1"),
        pytest.param(
            {"custom_fields": {f"k{i}": "v" * 1000 for i in range(17)}}, "custom_fields", id="custom_fields-17KiB-spread"
        ),
    ]


def _enums_and_formats() -> list[Any]:
    cases = []
    for value in ("API", "web", "", " api"):
        cases.append(pytest.param({"source_type": value}, "source_type", id=f"source_type-{value!r}"))
    websites = {
        "ftp": "ftp://example.com/file",
        "no-scheme": "example.com",
        "relative-path": "/about",
        "scheme-relative": "//example.com/x",
        "no-host": "https://",
        "no-host-with-path": "https:///path",
        "opaque": "http:example.com",
        "space-in-host": "https://exa mple.com",
        "space-in-path": "https://example.com/a b",
        "leading-space": " https://example.com",
        "newline": "https://example.com/\n",
        "port-too-big": "https://example.com:99999/",
        "port-not-a-number": "https://example.com:port/",
        "port-negative": "https://example.com:-1/",
        "javascript": "javascript:alert(1)",
        "mailto": "mailto:sales@example.com",
        "empty": "",
    }
    cases += [pytest.param({"website": v}, "website", id=f"website-{k}") for k, v in websites.items()]
    domains = {
        "scheme": "https://example.com",
        "path": "example.com/path",
        "port": "example.com:443",
        "userinfo": "sales@example.com",
        "query": "example.com?x=1",
        "fragment": "example.com#top",
        "ipv4": "192.168.0.1",
        "ipv4-trailing-dot": "10.0.0.1.",
        "ipv6": "[::1]",
        "ipv6-bare": "::1",
        "space": "exa mple.com",
        "leading-hyphen": "-example.com",
        "trailing-hyphen": "example-.com",
        "empty-label": "example..com",
        "leading-dot": ".example.com",
        "wildcard": "*.example.com",
        "only-dot": ".",
        "empty": "",
    }
    cases += [pytest.param({"domain": v}, "domain", id=f"domain-{k}") for k, v in domains.items()]
    phones = {
        "letters": "555-CALL-NOW",
        "word": "abc",
        "empty": "",
        "space-only": " ",
        "no-digit": "+-() .x",
        "hash": "555#1234",
        "comma": "555,1234",
        "tab": "555\t1234",
        "newline": "555\n1234",
        "fullwidth-digits": "５５５１２３４",
        "ext-word": "555 1234 ext 1",
    }
    cases += [pytest.param({"phone": v}, "phone", id=f"phone-{k}") for k, v in phones.items()]
    owners = {
        "short": "usr-123",
        "wrong-prefix": f"user-{OWNER}",
        "bare-uuid": str(OWNER),
        "underscore": f"usr_{OWNER}",
        "trailing-junk": f"usr-{OWNER}x",
        "braces": f"usr-{{{OWNER}}}",
        "not-hex": "usr-zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz",
        "account-id": f"acc-{OWNER}",
        "empty": "",
    }
    cases += [pytest.param({"owner_id": v}, "owner_id", id=f"owner_id-{k}") for k, v in owners.items()]
    parents = {
        "short": "acc_123",
        "not-an-id": "not-an-id",
        "bad-uuid": "acc-not-a-uuid",
        "bad-crockford-letter": "acc_01ARZ3NDEKTSV4RRFFQ69G5FAU",
        "ulid-overflow": "acc_81ARZ3NDEKTSV4RRFFQ69G5FAV",
        "user-id": f"usr-{OWNER}",
        "empty": "",
        "missing-ulid": MISSING_ACCOUNT,
        "missing-uuid": f"acc-{uuid.UUID(int=12345)}",
    }
    cases += [pytest.param({"parent_account_id": v}, "parent_account_id", id=f"parent-{k}") for k, v in parents.items()]
    dates = {
        "no-offset": "2024-05-01T12:00:00",
        "date-only": "2024-05-01",
        "time-only": "12:00:00Z",
        "feb-30": "2024-02-30T00:00:00Z",
        "feb-29-non-leap-year": "2023-02-29T00:00:00Z",
        "month-13": "2024-13-01T00:00:00Z",
        "month-0": "2024-00-10T00:00:00Z",
        "hour-24": "2024-05-01T24:00:00Z",
        "minute-60": "2024-05-01T12:60:00Z",
        "leap-second": "2016-12-31T23:59:60Z",
        "year-1-plus-offset": "0001-01-01T00:00:00+01:00",
        "year-9999-minus-offset": "9999-12-31T23:00:00-01:00",
        "year-0": "0000-01-01T00:00:00Z",
        "offset-24h": "2024-05-01T12:00:00+24:00",
        "offset-no-minutes": "2024-05-01T12:00:00+05",
        "empty-fraction": "2024-05-01T12:00:00.Z",
        "basic-format": "20240501T120000Z",
        "no-seconds": "2024-05-01T12:00Z",
        "non-ascii-digits": "٢٠٢٤-٠٥-٠١T١٢:٠٠:٠٠Z",
        "trailing-newline": "2024-05-01T12:00:00Z\n",
        "trailing-junk": "2024-05-01T12:00:00Zjunk",
        "empty": "",
    }
    cases += [pytest.param({"last_activity_at": v}, "last_activity_at", id=f"last_activity_at-{k}") for k, v in dates.items()]
    for key in ("no-offset", "feb-30", "leap-second", "year-1-plus-offset"):
        cases.append(pytest.param({"first_contacted_at": dates[key]}, "first_contacted_at", id=f"first_contacted_at-{key}"))
    cases += [
        pytest.param({"annual_revenue": -1}, "annual_revenue", id="annual_revenue-negative"),
        pytest.param({"annual_revenue": -0.01}, "annual_revenue", id="annual_revenue-negative-fraction"),
        pytest.param({"employee_count": -1}, "employee_count", id="employee_count-negative"),
        pytest.param({"employee_count": 2**63}, "employee_count", id="employee_count-2**63"),
        pytest.param({"employee_count": 2**64}, "employee_count", id="employee_count-2**64"),
    ]
    return cases


def _addresses() -> list[Any]:
    one = {
        "unknown-key": ({"street": "1 Main St"}, "addresses[0].street"),
        "type-home": ({"type": "home"}, "addresses[0].type"),
        "type-capitalized": ({"type": "Billing"}, "addresses[0].type"),
        "type-number": ({"type": 1}, "addresses[0].type"),
        "country-XX": ({"country": "XX"}, "addresses[0].country"),
        "country-alpha-3": ({"country": "USA"}, "addresses[0].country"),
        "country-one-letter": ({"country": "U"}, "addresses[0].country"),
        "country-number": ({"country": 1}, "addresses[0].country"),
        "city-number": ({"city": 1}, "addresses[0].city"),
        "line1-list": ({"line1": ["x"]}, "addresses[0].line1"),
    }
    cases = [pytest.param({"addresses": [a]}, field, id=f"address-{k}") for k, (a, field) in one.items()]
    for label, item in (("string", "x"), ("number", 1), ("null", None), ("list", [["type", "billing"]]), ("bool", True)):
        cases.append(pytest.param({"addresses": [item]}, "addresses[0]", id=f"address-item-{label}"))
    cases.append(pytest.param({"addresses": [{}, {"country": "XX"}]}, "addresses[1].country", id="address-second-item"))
    return cases


def _custom_fields() -> list[Any]:
    cases = []
    bad_keys = {
        "uppercase": "Tier",
        "leading-digit": "1tier",
        "65-chars": "a" * 65,
        "empty": "",
        "leading-underscore": "_tier",
        "hyphen": "ti-er",
        "space": "tier ",
        "newline": "tier\n",
        "non-ascii": "tïer",
        "dot": "a.b",
    }
    for label, key in bad_keys.items():
        cases.append(pytest.param({"custom_fields": {key: 1}}, f"custom_fields.{key}", id=f"custom_fields-key-{label}"))
    bad_values = {
        "object": {"a": 1},
        "empty-object": {},
        "array-of-objects": [{"a": 1}],
        "nested-array": [[1]],
        "2**64": 2**64,
        "2**64-in-array": [1, 2**64],
        "below-int64": -(2**63) - 1,
    }
    for label, value in bad_values.items():
        cases.append(pytest.param({"custom_fields": {"x": value}}, "custom_fields.x", id=f"custom_fields-value-{label}"))
    return cases


def _tags() -> list[Any]:
    cases = []
    for label, item in (("empty", ""), ("65-chars", "t" * 65), ("number", 1), ("null", None), ("bool", True), ("list", ["a"]), ("object", {})):
        cases.append(pytest.param({"tags": [item]}, "tags[0]", id=f"tags-item-{label}"))
    cases.append(pytest.param({"tags": ["a", "b", "c", ""]}, "tags[3]", id="tags-fourth-empty"))
    return cases


def _nul() -> list[Any]:
    top = {f: "a\x00b" for f in ("name", "legal_name", "industry", "health_score", "description", "source")}
    top |= {
        "source_type": "api\x00",
        "website": "https://example.com/\x00",
        "domain": "exa\x00mple.com",
        "phone": "555\x000100",
        "owner_id": f"usr-{OWNER}\x00",
        "parent_account_id": MISSING_ACCOUNT + "\x00",
        "last_activity_at": "2024-05-01T12:00:00Z\x00",
    }
    cases = [pytest.param({f: v}, f, id=f"nul-{f}") for f, v in top.items()]
    cases += [
        pytest.param({"tags": ["ok", "a\x00"]}, "tags[1]", id="nul-tag"),
        pytest.param({"addresses": [{"line1": "1 Main\x00St"}]}, "addresses[0].line1", id="nul-address-line1"),
        pytest.param({"addresses": [{"country": "U\x00"}]}, "addresses[0].country", id="nul-address-country"),
        pytest.param({"custom_fields": {"x": "a\x00"}}, "custom_fields.x", id="nul-custom-field-value"),
        pytest.param({"custom_fields": {"x": ["ok", "a\x00"]}}, "custom_fields.x", id="nul-custom-field-array-item"),
        pytest.param({"custom_fields": {"a\x00b": 1}}, "custom_fields.a\x00b", id="nul-custom-field-key"),
    ]
    return cases


REJECTED = [*_wrong_types(), *_over_the_limit(), *_enums_and_formats(), *_addresses(), *_custom_fields(), *_tags(), *_nul()]


@pytest.mark.parametrize(("fragment", "field"), REJECTED)
def test_invalid_value_is_422_naming_the_field(writer: Writer, fragment: dict[str, Any], field: str) -> None:
    writer.rejected(writer.send(fragment), field)


# Bodies the standard JSON encoder cannot produce: sent as raw bytes.
RAW_REJECTED = [
    pytest.param(b'"annual_revenue":1e400', "annual_revenue", id="annual_revenue-1e400"),
    pytest.param(b'"annual_revenue":-1e400', "annual_revenue", id="annual_revenue-minus-1e400"),
    pytest.param(b'"annual_revenue":1' + b"0" * 400, "annual_revenue", id="annual_revenue-401-digit-integer"),
    pytest.param(b'"employee_count":1' + b"0" * 400, "employee_count", id="employee_count-401-digit-integer"),
    pytest.param(b'"custom_fields":{"x":1e400}', "custom_fields.x", id="custom_fields-1e400"),
    pytest.param(b'"custom_fields":{"x":[1,-1e400]}', "custom_fields.x", id="custom_fields-array-minus-1e400"),
    pytest.param(b'"name":"a\\ud800"', "name", id="surrogate-name"),
    pytest.param(b'"name":"\\udc00\\ud800"', "name", id="surrogate-name-reversed-pair"),
    pytest.param(b'"legal_name":"\\ud800"', "legal_name", id="surrogate-legal_name"),
    pytest.param(b'"description":"x\\udfff"', "description", id="surrogate-description"),
    pytest.param(b'"source_type":"\\ud800"', "source_type", id="surrogate-source_type"),
    pytest.param(b'"website":"https://example.com/\\ud800"', "website", id="surrogate-website"),
    pytest.param(b'"domain":"\\ud800.com"', "domain", id="surrogate-domain"),
    pytest.param(b'"phone":"555\\ud800"', "phone", id="surrogate-phone"),
    pytest.param(b'"last_activity_at":"2024-05-01T12:00:00Z\\ud800"', "last_activity_at", id="surrogate-date-time"),
    pytest.param(b'"tags":["ok","\\ud800"]', "tags[1]", id="surrogate-tag"),
    pytest.param(b'"addresses":[{"city":"\\ud800"}]', "addresses[0].city", id="surrogate-address-city"),
    pytest.param(b'"custom_fields":{"x":"\\ud800"}', "custom_fields.x", id="surrogate-custom-field-value"),
    pytest.param(b'"custom_fields":{"x":["ok","\\udc00"]}', "custom_fields.x", id="surrogate-custom-field-array-item"),
]


@pytest.mark.parametrize(("member", "field"), RAW_REJECTED)
def test_raw_invalid_value_is_422_naming_the_field(writer: Writer, member: bytes, field: str) -> None:
    writer.rejected(writer.send_raw(writer.raw_object(member)), field)


@pytest.mark.parametrize(
    ("member", "prefix"),
    [
        pytest.param(b'"custom_fields":{"k\\ud800":1}', "custom_fields", id="custom-field-key"),
        pytest.param(b'"x\\ud800":1', "x", id="unknown-top-level-key"),
        pytest.param(b'"addresses":[{"c\\ud800":"x"}]', "addresses[0]", id="unknown-address-key"),
    ],
)
def test_lone_surrogate_in_a_key_is_422_naming_it(writer: Writer, member: bytes, prefix: str) -> None:
    body = writer.rejected(writer.send_raw(writer.raw_object(member)), None)
    assert any(e["field"].startswith(prefix) for e in body["errors"]), body


def test_a_valid_surrogate_pair_is_accepted(writer: Writer) -> None:
    response = writer.send_raw(writer.raw_object(b'"name":"\\ud83d\\ude00 x","tags":["\\ud83d\\ude00"]'))
    writer.accepted(response, {"name": 1, "tags": 1}, {"name": "😀 x", "tags": ["😀"]})


# --------------------------------------------------------------------------- server-written and unknown fields


@pytest.mark.parametrize("field", list(SERVER_WRITTEN))
def test_server_written_field_in_a_create_is_422_naming_it(api: Api, count_rows: RowCounter, field: str) -> None:
    writer = Writer(api, "create", count_rows)
    writer.rejected(writer.send({field: SERVER_WRITTEN[field]}), field)


@pytest.mark.parametrize("field", [f for f in SERVER_WRITTEN if f != "version"])
def test_server_written_field_in_an_update_is_422_naming_it(api: Api, count_rows: RowCounter, field: str) -> None:
    writer = Writer(api, "update", count_rows)
    writer.rejected(writer.send({field: SERVER_WRITTEN[field]}), field)
    # the record's own current value is just as forbidden
    writer.rejected(writer.send({field: writer.before[field]}), field)  # type: ignore[index]


@pytest.mark.parametrize("field", ["id", "is_deleted", "app_id"])
def test_server_written_field_set_to_null_is_still_422(writer: Writer, field: str) -> None:
    writer.rejected(writer.send({field: None}), field)


@pytest.mark.parametrize("field", ["foo", "Name", "NAME", "custom_fields.tier", "tags[0]", "", "accountName"])
def test_unknown_field_is_422_naming_it(writer: Writer, field: str) -> None:
    writer.rejected(writer.send({field: "x"}), field)


def test_unknown_field_with_null_is_422(writer: Writer) -> None:
    writer.rejected(writer.send({"foo": None}), "foo")


def test_create_without_name_is_422_naming_it(api: Api, count_rows: RowCounter) -> None:
    writer = Writer(api, "create", count_rows)
    writer.rejected(api.create({"industry": "Retail"}), "name")
    writer.rejected(api.create({}), "name")


def test_several_errors_are_reported_together(writer: Writer) -> None:
    fragment = {
        "name": "",
        "website": "ftp://x.example",
        "employee_count": -1,
        "annual_revenue": "1",
        "source_type": "web",
        "addresses": [{"country": "XX"}],
        "last_activity_at": "2024-05-01T12:00:00",
        "foo": 1,
        "id": "acc_x",
    }
    body = writer.rejected(writer.send(fragment), None)
    reported = {e["field"] for e in body["errors"]}
    expected = {"name", "website", "employee_count", "annual_revenue", "source_type", "addresses[0].country", "last_activity_at", "foo", "id"}
    assert expected <= reported, reported


def test_tag_and_custom_field_errors_are_reported_with_the_others(writer: Writer) -> None:
    fragment = {"website": "ftp://x.example", "employee_count": -1, "tags": ["ok", ""], "custom_fields": {"Bad": 1}}
    body = writer.rejected(writer.send(fragment), None)
    reported = {e["field"] for e in body["errors"]}
    assert {"website", "employee_count", "tags[1]", "custom_fields.Bad"} <= reported, reported


def test_tag_and_custom_field_errors_are_reported_together(writer: Writer) -> None:
    body = writer.rejected(writer.send({"tags": [""], "custom_fields": {"Bad": 1}}), None)
    reported = {e["field"] for e in body["errors"]}
    assert {"tags[0]", "custom_fields.Bad"} <= reported, reported


# --------------------------------------------------------------------------- update-only rules


@pytest.mark.parametrize("version", [1, None], ids=["version-1", "no-version"])
def test_version_in_an_update_body_is_allowed(api: Api, count_rows: RowCounter, version: int | None) -> None:
    writer = Writer(api, "update", count_rows)
    fragment: dict[str, Any] = {"industry": "Mining"}
    if version is not None:
        fragment["version"] = version
    writer.accepted(writer.send(fragment), fragment | {"version": 1}, {"industry": "Mining", "version": 2})


@pytest.mark.parametrize("version", ["1", True, 1.5, [1], {"v": 1}, 0, -1, 2**64])
def test_a_malformed_version_in_an_update_is_422(api: Api, count_rows: RowCounter, version: Any) -> None:
    writer = Writer(api, "update", count_rows)
    writer.rejected(writer.send({"industry": "Mining", "version": version}), "version")


def test_null_clears_every_nullable_field(api: Api, count_rows: RowCounter) -> None:
    writer = Writer(api, "update", count_rows)
    nullable = (
        "legal_name",
        "owner_id",
        "industry",
        "website",
        "domain",
        "phone",
        "annual_revenue",
        "employee_count",
        "description",
        "last_activity_at",
        "first_contacted_at",
    )
    fragment = dict.fromkeys(nullable)
    writer.accepted(writer.send(fragment), fragment, fragment)


def test_null_resets_every_defaulted_field(api: Api, count_rows: RowCounter) -> None:
    writer = Writer(api, "update", count_rows)
    fragment = dict.fromkeys(("source", "source_type", "addresses", "tags", "custom_fields"))
    expected = {"source": "edm", "source_type": "api", "addresses": [], "tags": [], "custom_fields": {}}
    writer.accepted(writer.send(fragment), fragment, expected)


def test_merge_that_pushes_custom_fields_over_100_keys_is_422(api: Api, count_rows: RowCounter) -> None:
    writer = Writer(api, "update", count_rows)  # the baseline holds one key
    writer.rejected(writer.send({"custom_fields": {f"n{i}": i for i in range(100)}}), "custom_fields")


def test_merge_that_pushes_custom_fields_over_16_kib_is_422(api: Api, count_rows: RowCounter) -> None:
    writer = Writer(api, "update", count_rows)
    first = writer.send({"custom_fields": {"a": "v" * 10_000}})
    assert first.status_code == 200, first.text
    writer.before = first.json()
    writer.rejected(writer.send({"custom_fields": {"b": "v" * 10_000}}), "custom_fields")


def test_merge_that_removes_as_many_keys_as_it_adds_stays_within_100(api: Api, count_rows: RowCounter) -> None:
    writer = Writer(api, "update", count_rows)
    fragment = {"custom_fields": {"k": None, **{f"n{i}": i for i in range(100)}}}
    record = writer.accepted(writer.send(fragment), fragment, {})
    assert len(record["custom_fields"]) == 100 and "k" not in record["custom_fields"]


# --------------------------------------------------------------------------- parent_account_id


class TestParent:
    @pytest.mark.parametrize("spelling", ["canonical", "lower-case", "uuid"])
    def test_an_existing_parent_is_stored_canonically(self, writer: Writer, spelling: str) -> None:
        from ulid import ULID

        parent = writer.api.created({"name": "Parent"})["id"]
        given = {
            "canonical": parent,
            "lower-case": "acc_" + parent[4:].lower(),
            "uuid": f"acc-{ULID.from_str(parent[4:]).to_uuid()}",
        }[spelling]
        fragment = {"parent_account_id": given}
        response = writer.send(fragment)
        assert response.status_code == (201 if writer.creating else 200), response.text
        assert response.json()["parent_account_id"] == parent
        assert writer.api.get(response.json()["id"]).json()["parent_account_id"] == parent

    def test_another_tenants_account_is_not_a_parent(self, writer: Writer) -> None:
        foreign = writer.api.as_(f"tenant-{uuid.uuid4().hex[:12]}").created({"name": "Foreign"})["id"]
        writer.rejected(writer.send({"parent_account_id": foreign}), "parent_account_id")

    def test_a_deleted_account_is_not_a_parent(self, api: Api, count_rows: RowCounter) -> None:
        for op in ("create", "update"):
            writer = Writer(api, op, count_rows)
            parent = api.created({"name": "Gone"})["id"]
            assert api.delete(parent).status_code == 204
            rows = writer.rows()
            response = writer.send({"parent_account_id": parent})
            assert_problem(response, 422, "validation_error", "parent_account_id")
            assert writer.rows() == rows
            if writer.before is not None:
                assert api.get(writer.before["id"]).json() == writer.before

    def test_another_apps_account_is_not_a_parent_for_an_app(self, api: Api, count_rows: RowCounter) -> None:
        other_app = api.as_(app="app-other").created({"name": "Other app"})["id"]
        app = api.as_(app="app-mine")
        assert_problem(app.create({"name": "Child", "parent_account_id": other_app}), 422, "validation_error", "parent_account_id")
        mine = app.created({"name": "Mine"})
        response = app.patch(mine["id"], {"parent_account_id": other_app})
        assert_problem(response, 422, "validation_error", "parent_account_id")
        assert app.get(mine["id"]).json() == mine
        assert count_rows(api.backend, api.tenant) == 2

    def test_an_account_is_not_its_own_parent(self, api: Api, count_rows: RowCounter) -> None:
        from ulid import ULID

        writer = Writer(api, "update", count_rows)
        own = writer.before["id"]  # type: ignore[index]
        writer.rejected(writer.send({"parent_account_id": own}), "parent_account_id")
        writer.rejected(writer.send({"parent_account_id": f"acc-{ULID.from_str(own[4:]).to_uuid()}"}), "parent_account_id")

    def test_a_cycle_is_rejected(self, api: Api, count_rows: RowCounter) -> None:
        writer = Writer(api, "update", count_rows)
        top = writer.before["id"]  # type: ignore[index]
        middle = api.created({"name": "Middle", "parent_account_id": top})["id"]
        bottom = api.created({"name": "Bottom", "parent_account_id": middle})["id"]
        for descendant in (middle, bottom):
            response = writer.send({"parent_account_id": descendant})
            assert_problem(response, 422, "validation_error", "parent_account_id")
            assert api.get(top).json() == writer.before
        assert api.get(middle).json()["parent_account_id"] == top


# --------------------------------------------------------------------------- body rules: 415, 400, 413


@pytest.mark.parametrize(
    ("content_type", "content"),
    [
        pytest.param("text/plain", b'{"name":"Acme"}', id="text-plain"),
        pytest.param("application/x-www-form-urlencoded", b"name=Acme", id="form-urlencoded"),
        pytest.param(None, b'{"name":"Acme"}', id="no-content-type"),
        pytest.param("application/xml", b"<account><name>Acme</name></account>", id="xml"),
    ],
)
def test_a_body_that_is_not_json_is_415(writer: Writer, content_type: str | None, content: bytes) -> None:
    writer.rejected(writer.send_raw(content, content_type), None, status=415, code=None)


def test_json_patch_is_not_merge_patch(api: Api, count_rows: RowCounter) -> None:
    writer = Writer(api, "update", count_rows)
    content = b'[{"op":"replace","path":"/industry","value":"Mining"}]'
    writer.rejected(writer.send_raw(content, "application/json-patch+json"), None, status=415, code=None)


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "Application/JSON"])
def test_json_media_type_parameters_and_case_are_accepted(writer: Writer, content_type: str) -> None:
    response = writer.send_raw(writer.raw_object(b'"industry":"Mining"'), content_type)
    writer.accepted(response, {"industry": 1}, {"industry": "Mining"})


@pytest.mark.parametrize("content_type", ["application/merge-patch+json", "application/merge-patch+json; charset=utf-8"])
def test_update_accepts_merge_patch_json(api: Api, count_rows: RowCounter, content_type: str) -> None:
    writer = Writer(api, "update", count_rows)
    response = writer.send_raw(b'{"industry":"Mining","legal_name":null}', content_type)
    writer.accepted(response, {"industry": 1, "legal_name": 1}, {"industry": "Mining", "legal_name": None})


MALFORMED = [
    pytest.param(b'{"name":', id="truncated"),
    pytest.param(b"", id="empty-body"),
    pytest.param(b"   ", id="white-space-only"),
    pytest.param(b"[]", id="empty-array"),
    pytest.param(b'[{"name":"Acme"}]', id="array-of-object"),
    pytest.param(b'"Acme"', id="string"),
    pytest.param(b"null", id="null"),
    pytest.param(b"42", id="number"),
    pytest.param(b"true", id="boolean"),
    pytest.param(b'{"name":"\xff"}', id="invalid-utf8"),
    pytest.param(b'{"name":"\xc0\xaf"}', id="overlong-utf8"),
    pytest.param(b'{"name":"\xed\xa0\x80"}', id="utf8-encoded-surrogate"),
    pytest.param(b'{"name":"Acme"} x', id="trailing-garbage"),
    pytest.param(b'{"name":"Acme"}{}', id="two-objects"),
    pytest.param(b"{'name':'Acme'}", id="single-quotes"),
    pytest.param(b'{"name":"Acme",}', id="trailing-comma"),
    pytest.param(b'{"name":"Acme","annual_revenue":NaN}', id="nan"),
    pytest.param(b'{"name":"Acme","annual_revenue":Infinity}', id="infinity"),
    pytest.param(b"[" * 100_000 + b"]" * 100_000, id="deeply-nested-array"),
]


@pytest.mark.parametrize("content", MALFORMED)
def test_malformed_json_is_400(writer: Writer, content: bytes) -> None:
    writer.rejected(writer.send_raw(content), None, status=400, code="malformed_json")


REPEATED_KEYS = [
    pytest.param(b'"name":"a","name":"b"', "name", id="top-level"),
    pytest.param(b'"industry":"a","industr\\u0079":"b"', "industry", id="spelled-with-an-escape"),
    pytest.param(b'"custom_fields":{"tier":"gold","tier":"silver"}', "custom_fields.tier", id="in-custom-fields"),
    pytest.param(
        b'"addresses":[{"type":"billing","city":"A"},{"type":"office","city":"B","city":"C"}]',
        "addresses[1].city",
        id="in-an-address",
    ),
    pytest.param(b'"custom_fields":{"n":123456789012345678901,"n":1}', "custom_fields.n", id="beside-a-long-number"),
    pytest.param(b'"description":"\\ud800","description":"x"', "description", id="beside-a-lone-surrogate"),
]


@pytest.mark.parametrize(("member", "path"), REPEATED_KEYS)
def test_a_repeated_key_is_400_naming_it(writer: Writer, member: bytes, path: str) -> None:
    body = writer.rejected(writer.send_raw(writer.raw_object(member)), path, status=400, code="malformed_json")
    assert path in body["detail"]
    if writer.op == "update":
        patch = writer.send_raw(writer.raw_object(member), "application/merge-patch+json")
        writer.rejected(patch, path, status=400, code="malformed_json")
    # The same key in two objects is no repetition.
    response = writer.send_raw(writer.raw_object(b'"industry":"a","custom_fields":{"industry":"b"}'))
    assert response.status_code in (200, 201), response.text


def _big_member(total: int, writer: Writer) -> bytes:
    """A raw JSON object of exactly ``total`` bytes, padded in its description."""
    shell = writer.raw_object(b'"description":""')
    return writer.raw_object(b'"description":"' + b"x" * (total - len(shell)) + b'"')


def test_a_body_over_1_mib_is_413(writer: Writer) -> None:
    content = _big_member(MIB + 1, writer)
    assert len(content) == MIB + 1
    writer.rejected(writer.send_raw(content), None, status=413, code="payload_too_large")


def test_a_body_of_exactly_1_mib_is_read(writer: Writer) -> None:
    content = _big_member(MIB, writer)
    assert len(content) == MIB
    writer.rejected(writer.send_raw(content), "description")  # too long a description, but not too large a body


def test_a_chunked_body_over_1_mib_is_413(writer: Writer) -> None:
    head = writer.raw_object(b'"description":"')[:-1]

    def chunks() -> Iterator[bytes]:
        yield head
        for _ in range(40):  # 1.25 MiB
            yield b"x" * 32768
        yield b'"}'

    writer.rejected(writer.send_raw(chunks()), None, status=413, code="payload_too_large")


def test_a_small_chunked_body_is_read(writer: Writer) -> None:
    def chunks() -> Iterator[bytes]:
        yield writer.raw_object(b'"industry":')[:-1]
        yield b'"Min'
        yield b'ing"}'

    writer.accepted(writer.send_raw(chunks()), {"industry": 1}, {"industry": "Mining"})
