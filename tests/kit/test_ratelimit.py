"""Rate limits (docs/operating.md, "Rate limits"), against real servers and a real Redis.

Each test uses fresh tenants, so buckets never carry over between tests; the
Redis keys of a run live under their own random prefix and are deleted at its
end.  Most servers here get small budgets with slow refills (``limited``), so
"the burst is spent" takes a handful of requests and no refill can sneak in
between two of them; the production defaults (100 a second, a burst of 200)
are served as they are and proven against a burst of 1,500 requests.

Redis is ``EDM_TEST_REDIS_URL`` or, by default, ``redis://127.0.0.1:6379/0``.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from edm.kit.ratelimit.limiter import REDIS_RETRY_SECONDS
from edm.kit.ratelimit.redis_buckets import TAKE_SCRIPT
from edm.kit.settings import Settings, SettingsError, load_settings
from edm.server.app import create_app
from tests import services
from tests.conftest import (
    ACCOUNTS,
    ServerThread,
    assert_problem,
    base_settings,
    make_token,
)
from tests.processes import free_port

MISSING = ACCOUNTS + "/acc_01ARZ3NDEKTSV4RRFFQ69G5FAV"
LIMIT = re.compile(r'"(tenant|app|address)";r=([0-9]+);t=([0-9]+)')
# Where a test checks that Redis was used, a slow answer on a loaded machine must
# not become a fallback; the default (100 ms) is what the silent-Redis test bounds.
PATIENT = {"redis_timeout_ms": 2000}
PRODUCTION = {
    "rate_limit_per_s": Settings.rate_limit_per_s,
    "rate_limit_burst": Settings.rate_limit_burst,
}


def remaining(response: httpx.Response) -> int:
    match = LIMIT.fullmatch(response.headers["ratelimit"])
    assert match, response.headers["ratelimit"]
    return int(match.group(2))


def bearer(tenant: str, **token_args: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(tenant, **token_args)}"}


def spend(
    http: httpx.Client, url: str, headers: dict[str, str] | None = None, most: int = 50
) -> list[httpx.Response]:
    """GET ``url`` until the first 429 (at most ``most`` times): every answer, the 429 last."""
    answers = []
    for _ in range(most):
        answers.append(http.get(url, headers=headers))
        if answers[-1].status_code == 429:
            return answers
    raise AssertionError(f"no 429 in {most} requests")


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The shared Redis (a test taking it is marked ``redis``: skipped when it does not answer)."""
    return services.redis_url()


@pytest.fixture(scope="session")
def redis_prefix(redis_url: str) -> Iterator[str]:
    """This run's key prefix; its keys are deleted afterwards (never FLUSHALL: the Redis is shared)."""
    prefix = f"edm-test-{uuid.uuid4().hex[:12]}:"
    yield prefix
    with redis.Redis.from_url(redis_url) as client:
        for key in client.scan_iter(match=prefix + "*"):
            client.delete(key)


@pytest.fixture(scope="module")
def limited(
    database_urls: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., str]]:
    """``limited(backend, name, **settings)``: a server per (backend, name), started
    once and stopped with the module.  One database connection each: the
    PostgreSQL server is shared by the whole suite (and more)."""
    started: dict[tuple[str, str], ServerThread] = {}

    def get(backend: str, name: str, **settings: Any) -> str:
        if (backend, name) not in started:
            data_dir = tmp_path_factory.mktemp(f"rate-{name}-{backend}")
            url = database_urls[backend]
            app = create_app(base_settings(url, data_dir, db_pool_size=1, **settings))
            started[(backend, name)] = ServerThread(app).__enter__()
        return started[(backend, name)].url

    yield get
    for server in started.values():
        server.__exit__(None, None, None)


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as client:
        yield client


class PrivateRedis:
    """A redis-server of the test's own, with a password, a unix socket and a TLS
    port (a self-signed certificate for 127.0.0.1), that can be stopped and started."""

    PASSWORD = "private-redis-password"

    def __init__(self, directory: Path) -> None:
        server = shutil.which("redis-server")
        assert server, (
            "the rate-limit tests need redis-server (Debian: apt-get install redis-server)"
        )
        self.port, self.tls_port = free_port(), free_port()
        self.socket = directory / "redis.sock"
        self.certificate, key = directory / "cert.pem", directory / "key.pem"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
             "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
             "-keyout", str(key), "-out", str(self.certificate)],
            check=True, capture_output=True,
        )  # fmt: skip
        self.command = [
            server, "--port", str(self.port), "--bind", "127.0.0.1", "--unixsocket", str(self.socket),
            "--tls-port", str(self.tls_port), "--tls-cert-file", str(self.certificate),
            "--tls-key-file", str(key), "--tls-ca-cert-file", str(self.certificate), "--tls-auth-clients", "no",
            "--requirepass", self.PASSWORD, "--save", "", "--appendonly", "no", "--dir", str(directory),
        ]  # fmt: skip
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(self.command, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                self.client().ping()
                return
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def client(self, db: int = 0) -> redis.Redis:
        return redis.Redis(
            port=self.port, db=db, password=self.PASSWORD, socket_timeout=2
        )

    def keys(self, db: int) -> list[str]:
        with self.client(db) as client:
            return [key.decode() for key in client.scan_iter()]


@pytest.fixture
def private_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def closed_port() -> int:
    return free_port()


# --------------------------------------------------------------------------- settings


def test_the_defaults_are_100_a_second_with_a_burst_of_200() -> None:
    for settings in (Settings(), load_settings({})):
        assert (
            settings.rate_limit_per_s,
            settings.rate_limit_burst,
            settings.redis_url,
            settings.redis_timeout_ms,
        ) == (100.0, 200, None, 100)
    settings = load_settings(
        {
            "EDM_RATE_LIMIT_PER_S": "2.5",
            "EDM_RATE_LIMIT_BURST": "10",
            "EDM_REDIS_URL": "redis://cache:6379/1",
        }
    )
    assert (
        settings.rate_limit_per_s,
        settings.rate_limit_burst,
        settings.redis_url,
    ) == (2.5, 10, "redis://cache:6379/1")


@pytest.mark.parametrize(
    "env",
    [
        {"EDM_RATE_LIMIT_PER_S": "0"},
        {"EDM_RATE_LIMIT_PER_S": "-1"},
        {"EDM_RATE_LIMIT_PER_S": "nan"},
        {"EDM_RATE_LIMIT_PER_S": "lots"},
        {"EDM_RATE_LIMIT_BURST": "0"},
        {"EDM_RATE_LIMIT_BURST": "1.5"},
        {"EDM_REDIS_URL": "http://127.0.0.1:6379"},
        {"EDM_REDIS_TIMEOUT_MS": "0"},
    ],
)
def test_bad_rate_limit_settings_refuse_to_start(env: dict[str, str]) -> None:
    with pytest.raises(SettingsError):
        replace(load_settings(env), jwt_secret="x" * 32).validate()


# --------------------------------------------------------------------------- headers


def test_every_crm_answer_carries_the_headers_counting_down(
    limited: Callable[..., str], http: httpx.Client, backend: str
) -> None:
    base = limited(backend, "slow", rate_limit_per_s=0.1, rate_limit_burst=50)
    headers = bearer(f"tenant-{uuid.uuid4().hex[:12]}")
    record = http.post(base + ACCOUNTS, json={"name": "Acme"}, headers=headers)
    answers = [
        record,
        http.get(f"{base}{ACCOUNTS}/{record.json()['id']}", headers=headers),
        http.get(base + ACCOUNTS, headers=headers),
        http.get(base + MISSING, headers=headers),  # 404
        http.post(base + ACCOUNTS, json={"name": ""}, headers=headers),  # 422
        http.put(base + ACCOUNTS, json={}, headers=headers),  # 405
        http.get(base + "/api/v1/crm/nothing", headers=headers),  # 404, no route
        http.post(base + ACCOUNTS, content=b" " * 1_048_577, headers=headers),  # 413
        http.get(base + ACCOUNTS, headers=bearer(uuid.uuid4().hex, scope="x")),  # 403
    ]
    statuses = [201, 200, 200, 404, 422, 405, 404, 413, 403]
    assert [a.status_code for a in answers] == statuses
    for answer in answers:
        assert answer.headers["ratelimit-policy"] == '"tenant";q=50;w=500', answer
        full_in = LIMIT.fullmatch(answer.headers["ratelimit"]).group(3)  # type: ignore[union-attr]
        assert 1 <= int(full_in) <= 500
    # one token each (the 403 is another tenant's); at 0.1 a second none comes back
    assert [remaining(a) for a in answers[:-1]] == list(range(49, 41, -1))


def test_the_production_policy_is_200_refilled_in_2_seconds(
    limited: Callable[..., str], http: httpx.Client, backend: str
) -> None:
    base = limited(backend, "production", **PRODUCTION)
    answer = http.get(
        base + ACCOUNTS, headers=bearer(f"tenant-{uuid.uuid4().hex[:12]}")
    )
    assert answer.status_code == 200
    assert answer.headers["ratelimit-policy"] == '"tenant";q=200;w=2'
    assert answer.headers["ratelimit"] == '"tenant";r=199;t=1'


def test_no_headers_and_no_limit_outside_the_crm_api(
    limited: Callable[..., str], http: httpx.Client
) -> None:
    base = limited("sqlite", "tiny", rate_limit_per_s=0.1, rate_limit_burst=2)
    spend(http, base + ACCOUNTS)  # this address's budget is gone
    for path in (
        "/healthz",
        "/readyz",
        "/api/v1/openapi.json",
        "/api/v1/manifest",
        "/metrics",
        "/docs",
    ):
        answer = http.get(base + path)
        assert answer.status_code == 200, path
        assert not {"ratelimit", "ratelimit-policy"} & answer.headers.keys(), path


# --------------------------------------------------------------------------- spending and refilling


def test_a_spent_burst_is_a_429_problem_with_retry_after(
    limited: Callable[..., str], http: httpx.Client, backend: str
) -> None:
    base = limited(backend, "small", rate_limit_per_s=0.5, rate_limit_burst=3)
    tenant = f"tenant-{uuid.uuid4().hex[:12]}"
    answers = spend(http, base + ACCOUNTS, bearer(tenant))
    assert len(answers) == 4 and [a.status_code for a in answers[:3]] == [200, 200, 200]
    refused = answers[-1]
    body = assert_problem(refused, 429, "rate_limited")
    assert body["type"] == "urn:edm:problem:rate_limited" and "tenant" in body["detail"]
    retry_after = refused.headers["retry-after"]
    # a token comes back every 2 seconds
    assert retry_after.isdigit() and 1 <= int(retry_after) <= 2
    assert refused.headers["ratelimit-policy"] == '"tenant";q=3;w=6'
    assert refused.headers["ratelimit"] == f'"tenant";r=0;t={retry_after}'
    assert refused.headers["cache-control"] == "no-store"
    # a refused write does nothing
    create = http.post(
        base + ACCOUNTS, json={"name": "Refused"}, headers=bearer(tenant)
    )
    assert_problem(create, 429, "rate_limited")
    time.sleep(int(create.headers["retry-after"]))
    assert http.get(base + ACCOUNTS, headers=bearer(tenant)).json()["data"] == []


def test_the_bucket_refills_after_retry_after(
    limited: Callable[..., str], http: httpx.Client, backend: str
) -> None:
    base = limited(backend, "quick", rate_limit_per_s=2, rate_limit_burst=2)
    headers = bearer(f"tenant-{uuid.uuid4().hex[:12]}")
    refused = spend(http, base + ACCOUNTS, headers)[-1]
    assert refused.headers["retry-after"] == "1"
    time.sleep(1)
    again = http.get(base + ACCOUNTS, headers=headers)
    # two tokens back, one taken
    assert again.status_code == 200 and remaining(again) == 1


def test_a_burst_of_1500_gets_the_production_budget_and_no_more(
    limited: Callable[..., str], http: httpx.Client, backend: str
) -> None:
    base = limited(backend, "production", **PRODUCTION)
    headers = bearer(f"tenant-{uuid.uuid4().hex[:12]}")
    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        statuses = list(
            pool.map(
                lambda _: http.get(base + ACCOUNTS, headers=headers).status_code,
                range(1500),
            )
        )
    elapsed = time.monotonic() - started
    served, refused = statuses.count(200), statuses.count(429)
    assert served + refused == 1500
    # the full burst, plus what 100 a second refilled while the burst lasted
    assert 200 <= served <= 200 + 100 * elapsed + 1, (served, elapsed)
    assert refused > 0, elapsed


# --------------------------------------------------------------------------- whose bucket


def test_tenants_and_apps_have_their_own_buckets(
    limited: Callable[..., str], http: httpx.Client, backend: str
) -> None:
    base = limited(backend, "tiny", rate_limit_per_s=0.1, rate_limit_burst=2)
    one, two = (f"tenant-{uuid.uuid4().hex[:12]}" for _ in range(2))

    def status(tenant: str, **token_args: Any) -> int:
        return http.get(
            base + ACCOUNTS, headers=bearer(tenant, **token_args)
        ).status_code

    spend(http, base + ACCOUNTS, bearer(one))
    assert status(two) == 200  # another tenant
    # an app of the spent tenant has its own bucket
    app_answer = http.get(base + ACCOUNTS, headers=bearer(one, app="crm-sync"))
    assert app_answer.status_code == 200
    assert app_answer.headers["ratelimit-policy"] == '"app";q=2;w=20'
    assert app_answer.headers["ratelimit"].startswith('"app";r=1;')
    spend(http, base + ACCOUNTS, bearer(one, app="crm-sync"))
    assert status(one, app="billing") == 200  # another app
    assert status(two, app="crm-sync") == 200  # the same app in another tenant
    # ("a:b", app "c") and ("a", app "b:c") are two buckets
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    spend(http, base + ACCOUNTS, bearer(f"{tenant}:b", app="c"))
    assert status(tenant, app="b:c") == 200


def test_requests_without_a_valid_token_are_limited_per_address(
    limited: Callable[..., str], http: httpx.Client
) -> None:
    base = limited("sqlite", "addresses", rate_limit_per_s=0.1, rate_limit_burst=3)
    victim = f"tenant-{uuid.uuid4().hex[:12]}"
    forged = bearer(victim, secret="another-secret-that-is-long-enough-for-hs256")
    answers = [http.get(base + ACCOUNTS), http.get(base + ACCOUNTS, headers=forged)]
    assert [a.status_code for a in answers] == [401, 401]
    assert answers[0].headers["ratelimit-policy"] == '"address";q=3;w=30'
    assert [remaining(a) for a in answers] == [2, 1]
    refused = spend(http, base + ACCOUNTS, {"Authorization": "Bearer not-a-jwt"})[-1]
    assert_problem(refused, 429, "rate_limited")
    assert refused.headers["ratelimit"].startswith('"address";r=0;')
    # the forged token spent its sender's budget, not the tenant it names
    served = http.get(base + ACCOUNTS, headers=bearer(victim))
    assert served.status_code == 200 and remaining(served) == 2
    # another address has its own budget
    transport = httpx.HTTPTransport(local_address="127.0.0.2")
    with httpx.Client(transport=transport, timeout=30) as elsewhere:
        answer = elsewhere.get(base + ACCOUNTS)
    assert answer.status_code == 401 and remaining(answer) == 2


def test_refusals_are_counted_for_prometheus(
    limited: Callable[..., str], http: httpx.Client
) -> None:
    base = limited("sqlite", "tiny", rate_limit_per_s=0.1, rate_limit_burst=2)

    def refused(policy: str) -> float:
        text = http.get(base + "/metrics").text
        match = re.search(
            rf'^edm_rate_limited_total\{{policy="{policy}"\}} (\S+)$',
            text,
            re.MULTILINE,
        )
        return float(match.group(1)) if match else 0.0

    before = refused("app")
    spend(
        http, base + ACCOUNTS, bearer(f"tenant-{uuid.uuid4().hex[:12]}", app="metered")
    )
    spend(
        http, base + ACCOUNTS, bearer(f"tenant-{uuid.uuid4().hex[:12]}", app="metered")
    )
    assert refused("app") == before + 2


# --------------------------------------------------------------------------- Redis


@pytest.mark.postgres
def test_two_servers_on_one_redis_share_the_bucket(
    limited: Callable[..., str], http: httpx.Client, redis_url: str, redis_prefix: str
) -> None:
    shared = {
        "rate_limit_per_s": 0.1,
        "rate_limit_burst": 4,
        "redis_url": redis_url,
        "redis_key_prefix": redis_prefix,
        **PATIENT,
    }
    one, two = (
        limited("sqlite", "shared-1", **shared),
        limited("postgresql", "shared-2", **shared),
    )
    tenant = f"tenant-{uuid.uuid4().hex[:12]}"
    answers = [
        http.get(base + ACCOUNTS, headers=bearer(tenant))
        for base in (one, two, one, two)
    ]
    assert [a.status_code for a in answers] == [200] * 4
    assert [remaining(a) for a in answers] == [3, 2, 1, 0]
    for base in (one, two):
        assert_problem(
            http.get(base + ACCOUNTS, headers=bearer(tenant)), 429, "rate_limited"
        )
    # the bucket is a key of this run's prefix that expires on its own, once it would be full again
    with redis.Redis.from_url(redis_url) as client:
        keys = [k.decode() for k in client.scan_iter(match=f"{redis_prefix}*{tenant}")]
        assert keys == [f"{redis_prefix}ratelimit:tenant:{tenant}"]
        # 4 tokens at 0.1 a second, and a second to spare
        assert 30_000 < client.pttl(keys[0]) <= 41_000


def test_without_redis_each_process_keeps_its_own_buckets(
    limited: Callable[..., str], http: httpx.Client
) -> None:
    one = limited("sqlite", "alone-1", rate_limit_per_s=0.1, rate_limit_burst=2)
    two = limited("sqlite", "alone-2", rate_limit_per_s=0.1, rate_limit_burst=2)
    headers = bearer(f"tenant-{uuid.uuid4().hex[:12]}")
    spend(http, one + ACCOUNTS, headers)
    answer = http.get(two + ACCOUNTS, headers=headers)
    assert answer.status_code == 200 and remaining(answer) == 1


def test_with_redis_down_requests_are_served_and_limited_in_process(
    limited: Callable[..., str], http: httpx.Client, closed_port: int
) -> None:
    base = limited(
        "sqlite",
        "redis-down",
        rate_limit_per_s=0.1,
        rate_limit_burst=3,
        redis_url=f"redis://127.0.0.1:{closed_port}/0",
    )
    headers = bearer(f"tenant-{uuid.uuid4().hex[:12]}")
    started = time.monotonic()
    answers = spend(http, base + ACCOUNTS, headers)
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [remaining(a) for a in answers] == [2, 1, 0, 0]
    # a refused connection costs nothing, and nothing retries it
    assert time.monotonic() - started < 2
    fallbacks = re.search(
        r"^edm_rate_limit_fallbacks_total (\S+)$",
        http.get(base + "/metrics").text,
        re.MULTILINE,
    )
    assert fallbacks and float(fallbacks.group(1)) >= 4


def test_a_redis_that_never_answers_costs_at_most_its_timeout(
    limited: Callable[..., str], http: httpx.Client
) -> None:
    # it accepts connections (the kernel's backlog) and never answers
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        base = limited(
            "sqlite",
            "redis-silent",
            redis_url=f"redis://127.0.0.1:{silent.getsockname()[1]}/0",
        )
        headers = bearer(f"tenant-{uuid.uuid4().hex[:12]}")
        slowest = 0.0
        for _ in range(15):
            started = time.monotonic()
            answer = http.get(base + ACCOUNTS, headers=headers)
            slowest = max(slowest, time.monotonic() - started)
            assert answer.status_code == 200 and "ratelimit" in answer.headers
            time.sleep(0.1)  # past the one-second pause, a request probes Redis again
        assert slowest < 1.0, slowest


def test_a_redis_error_is_served_in_process(
    limited: Callable[..., str], http: httpx.Client, redis_url: str, redis_prefix: str
) -> None:
    base = limited(
        "sqlite",
        "redis-error",
        rate_limit_per_s=0.1,
        rate_limit_burst=5,
        redis_url=redis_url,
        redis_key_prefix=redis_prefix,
    )
    tenant = f"tenant-{uuid.uuid4().hex[:12]}"
    with redis.Redis.from_url(redis_url) as client:
        # the script meets a string where a hash should be: WRONGTYPE
        client.set(f"{redis_prefix}ratelimit:tenant:{tenant}", "not a bucket", ex=60)
    answer = http.get(base + ACCOUNTS, headers=bearer(tenant))
    assert answer.status_code == 200 and remaining(answer) == 4  # this process's bucket


def test_a_redis_with_a_password_a_database_and_no_script_yet(
    limited: Callable[..., str], http: httpx.Client, private_redis: PrivateRedis
) -> None:
    url = f"redis://:{PrivateRedis.PASSWORD}@127.0.0.1:{private_redis.port}/3"
    base = limited(
        "sqlite", "redis-password", redis_url=url, redis_key_prefix="p:", **PATIENT
    )
    tenant = f"tenant-{uuid.uuid4().hex[:12]}"
    for _ in range(2):
        assert http.get(base + ACCOUNTS, headers=bearer(tenant)).status_code == 200
    assert private_redis.keys(3) == [f"p:ratelimit:tenant:{tenant}"]
    # a fresh Redis answered the first EVALSHA with NOSCRIPT: the script was sent once
    sha = hashlib.sha1(TAKE_SCRIPT).hexdigest()
    with private_redis.client() as client:
        assert client.script_exists(sha) == [True]


def test_a_redis_on_a_unix_socket(
    limited: Callable[..., str], http: httpx.Client, private_redis: PrivateRedis
) -> None:
    url = f"unix://{private_redis.socket}?db=2&password={PrivateRedis.PASSWORD}"
    base = limited(
        "sqlite", "redis-unix", redis_url=url, redis_key_prefix="u:", **PATIENT
    )
    tenant = f"tenant-{uuid.uuid4().hex[:12]}"
    assert http.get(base + ACCOUNTS, headers=bearer(tenant)).status_code == 200
    assert private_redis.keys(2) == [f"u:ratelimit:tenant:{tenant}"]


def test_a_redis_over_tls(
    limited: Callable[..., str], http: httpx.Client, private_redis: PrivateRedis
) -> None:
    password, port = PrivateRedis.PASSWORD, private_redis.tls_port
    verified = f"rediss://:{password}@127.0.0.1:{port}/4?ssl_ca_certs={private_redis.certificate}"
    unverified = f"rediss://:{password}@127.0.0.1:{port}/5?ssl_cert_reqs=none"
    untrusted = (
        f"rediss://:{password}@127.0.0.1:{port}/6"  # the system's CAs do not know it
    )
    for name, url in (
        ("verified", verified),
        ("unverified", unverified),
        ("untrusted", untrusted),
    ):
        base = limited(
            "sqlite",
            f"redis-tls-{name}",
            redis_url=url,
            redis_key_prefix="t:",
            **PATIENT,
        )
        assert (
            http.get(base + ACCOUNTS, headers=bearer(f"tenant-{name}")).status_code
            == 200
        )
    assert private_redis.keys(4) == ["t:ratelimit:tenant:tenant-verified"]
    assert private_redis.keys(5) == ["t:ratelimit:tenant:tenant-unverified"]
    assert private_redis.keys(6) == []  # refused by the client, limited in process


def test_redis_going_away_and_coming_back(
    limited: Callable[..., str], http: httpx.Client, private_redis: PrivateRedis
) -> None:
    url = f"redis://:{PrivateRedis.PASSWORD}@127.0.0.1:{private_redis.port}/0"
    base = limited(
        "sqlite", "redis-restarts", redis_url=url, redis_key_prefix="r:", **PATIENT
    )

    def get(tenant: str) -> httpx.Response:
        return http.get(base + ACCOUNTS, headers=bearer(tenant))

    before, during, after = (f"tenant-{uuid.uuid4().hex[:12]}" for _ in range(3))
    assert get(before).status_code == 200
    private_redis.stop()
    assert all(get(during).status_code == 200 for _ in range(5))  # decided in process
    private_redis.start()  # empty: the buckets kept in Redis are gone with it
    time.sleep(REDIS_RETRY_SECONDS + 0.2)
    assert get(after).status_code == 200
    assert private_redis.keys(0) == [f"r:ratelimit:tenant:{after}"]  # shared again
