"""JWKS keys (docs/keys.md): RS256, ES256, EdDSA picked by ``kid``, rotation without restart.

Every test starts (or reuses) extra servers on both databases with custom settings,
and talks to them over real TCP.  JWKS URLs are served by a tiny local HTTP server.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from edm.kit.jwks import FETCH_TIMEOUT_SECONDS
from edm.kit.settings import Settings, SettingsError, load_settings
from edm.server.app import create_app
from tests.conftest import ACCOUNTS, SECRET, assert_problem, base_settings, make_token

ISSUER = "https://issuer.example/"
AUDIENCE = "edm-api"


# --------------------------------------------------------------------------- keys


@dataclass
class Key:
    kid: str
    alg: str
    private: Any

    @property
    def public(self) -> Any:
        return self.private.public_key()

    def jwk(self) -> dict[str, Any]:
        to_jwk = {"RS256": RSAAlgorithm, "ES256": ECAlgorithm, "EdDSA": OKPAlgorithm}[self.alg].to_jwk
        return {**to_jwk(self.public, as_dict=True), "kid": self.kid, "use": "sig"}

    def sign(self, payload: dict[str, Any], *, alg: str | None = None, kid: str | None | object = ...) -> str:
        headers = {} if kid is None else {"kid": self.kid if kid is ... else kid}
        return jwt.encode(payload, self.private, algorithm=alg or self.alg, headers=headers)


def sign_raw(header: dict[str, Any], payload: Any, key: Key) -> str:
    """Sign anything, bypassing PyJWT's checks on what a header or payload may hold."""
    algorithm = jwt.algorithms.get_default_algorithms()[header["alg"]]
    signing_input = f"{b64url(header)}.{b64url(payload)}"
    return f"{signing_input}.{b64url(algorithm.sign(signing_input.encode(), key.private))}"


def new_key(alg: str, kid: str | None = None) -> Key:
    kid = kid or f"{alg.lower()}-{uuid.uuid4().hex[:8]}"
    if alg == "RS256":
        return Key(kid, alg, rsa.generate_private_key(public_exponent=65537, key_size=2048))
    if alg == "ES256":
        return Key(kid, alg, ec.generate_private_key(ec.SECP256R1()))
    return Key(kid, alg, ed25519.Ed25519PrivateKey.generate())


def jwks(*keys: Key) -> dict[str, Any]:
    return {"keys": [k.jwk() for k in keys]}


def write_jwks(path: Path, *keys: Key) -> None:
    """Write the key set and make sure its mtime moves forward, however coarse the clock."""
    before = path.stat().st_mtime if path.exists() else 0.0
    path.write_text(json.dumps(jwks(*keys)))
    later = max(before + 2.0, time.time())
    os.utime(path, (later, later))


def claims(tenant: str, **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"sub": "user-1", "tenant_id": tenant, "iat": now, "exp": now + 600, **extra}


def b64url(data: bytes | dict[str, Any]) -> str:
    if isinstance(data, dict):
        data = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256_by_hand(header: dict[str, Any], payload: dict[str, Any], secret: bytes) -> str:
    """HS256 signed with any bytes (PyJWT refuses PEM keys as HMAC secrets, rightly)."""
    signing_input = f"{b64url(header)}.{b64url(payload)}"
    return f"{signing_input}.{b64url(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())}"


@pytest.fixture(scope="module")
def keys() -> dict[str, Key]:
    return {alg: new_key(alg) for alg in ("RS256", "ES256", "EdDSA")}


@pytest.fixture(scope="module")
def jwks_path(tmp_path_factory: pytest.TempPathFactory, keys: dict[str, Key]) -> Path:
    path = tmp_path_factory.mktemp("jwks") / "jwks.json"
    write_jwks(path, *keys.values())
    return path


# --------------------------------------------------------------------------- servers and calls


@pytest.fixture(scope="module")
def server(
    serve: Any, database_urls: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Callable[..., str]:
    """``server(backend, name, **settings)``: a server per (backend, name), started once."""
    cache: dict[tuple[str, str], str] = {}

    def get(backend: str, name: str, **overrides: Any) -> str:
        if (backend, name) not in cache:
            data_dir = tmp_path_factory.mktemp(f"data-{name}-{backend}")
            cache[(backend, name)] = serve(base_settings(database_urls[backend], data_dir, **overrides))
        return cache[(backend, name)]

    return get


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as client:
        yield client


@pytest.fixture
def jwks_only(backend: str, server: Callable[..., str], jwks_path: Path) -> str:
    return server(backend, "jwks-only", jwt_secret=None, jwks_file=str(jwks_path))


@pytest.fixture
def mixed(backend: str, server: Callable[..., str], jwks_path: Path) -> str:
    return server(backend, "mixed", jwt_secret=SECRET, jwks_file=str(jwks_path))


@pytest.fixture
def iss_aud(backend: str, server: Callable[..., str], jwks_path: Path) -> str:
    return server(
        backend, "iss-aud", jwt_secret=SECRET, jwks_file=str(jwks_path), jwt_issuer=ISSUER, jwt_audience=(AUDIENCE,)
    )


@pytest.fixture
def tenant() -> str:
    return f"tenant-{uuid.uuid4().hex[:12]}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_accepted(http: httpx.Client, url: str, token: str, tenant: str) -> None:
    """The token creates an account in its tenant and reads it back."""
    created = http.post(url + ACCOUNTS, json={"name": "Acme"}, headers=bearer(token))
    assert created.status_code == 201, created.text
    record = created.json()
    assert record["tenant_id"] == tenant
    fetched = http.get(f"{url}{ACCOUNTS}/{record['id']}", headers=bearer(token))
    assert fetched.status_code == 200, fetched.text
    assert fetched.json()["id"] == record["id"]


def assert_unauthorized(response: httpx.Response) -> None:
    assert_problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"].startswith("Bearer"), response.headers


def assert_rejected(http: httpx.Client, url: str, token: str) -> None:
    assert_unauthorized(http.post(url + ACCOUNTS, json={"name": "Intruder"}, headers=bearer(token)))
    assert_unauthorized(http.get(f"{url}{ACCOUNTS}/acc_01ARZ3NDEKTSV4RRFFQ69G5FAV", headers=bearer(token)))


def list_status(http: httpx.Client, url: str, token: str) -> int:
    """The status of a one-record list with the token: 200 or 401, never anything else."""
    response = http.get(url + ACCOUNTS, params={"limit": "1"}, headers=bearer(token))
    if response.status_code != 200:
        assert_unauthorized(response)
    return response.status_code


def wait_for_status(http: httpx.Client, url: str, token: str, status: int, within: float) -> float:
    """Poll with the token until a list answers ``status``; the seconds it took."""
    start = time.monotonic()
    while list_status(http, url, token) != status:
        assert time.monotonic() - start < within, f"no {status} within {within} s"
        time.sleep(0.05)
    return time.monotonic() - start


def assert_status_throughout(http: httpx.Client, url: str, token: str, status: int, seconds: float) -> None:
    """Every list with the token answers ``status``, promptly, for ``seconds``."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        started = time.monotonic()
        assert list_status(http, url, token) == status
        assert time.monotonic() - started < 0.5, "a request waited for the key set"
        time.sleep(0.05)


# --------------------------------------------------------------------------- algorithms and kids


class TestKeys:
    @pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
    def test_each_algorithm_with_its_kid_is_accepted(
        self, http: httpx.Client, jwks_only: str, keys: dict[str, Key], tenant: str, alg: str
    ) -> None:
        assert_accepted(http, jwks_only, keys[alg].sign(claims(tenant)), tenant)

    def test_the_same_tenant_is_one_tenant_whatever_the_key(
        self, http: httpx.Client, jwks_only: str, keys: dict[str, Key], tenant: str
    ) -> None:
        created = http.post(jwks_only + ACCOUNTS, json={"name": "Acme"}, headers=bearer(keys["RS256"].sign(claims(tenant))))
        assert created.status_code == 201, created.text
        path = f"{jwks_only}{ACCOUNTS}/{created.json()['id']}"
        assert http.get(path, headers=bearer(keys["EdDSA"].sign(claims(tenant)))).status_code == 200
        other = keys["ES256"].sign(claims(tenant + "-other"))
        assert_problem(http.get(path, headers=bearer(other)), 404, "not_found")

    @pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
    def test_unknown_kid(self, http: httpx.Client, jwks_only: str, keys: dict[str, Key], tenant: str, alg: str) -> None:
        assert_rejected(http, jwks_only, keys[alg].sign(claims(tenant), kid="no-such-kid"))

    @pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
    def test_foreign_key_claiming_a_known_kid(
        self, http: httpx.Client, jwks_only: str, keys: dict[str, Key], tenant: str, alg: str
    ) -> None:
        impostor = new_key(alg, kid=keys[alg].kid)
        assert_rejected(http, jwks_only, impostor.sign(claims(tenant)))

    @pytest.mark.parametrize(
        ("signer", "claimed_kid_of"),
        [("ES256", "RS256"), ("RS256", "ES256"), ("EdDSA", "RS256"), ("ES256", "EdDSA"), ("RS256", "EdDSA")],
    )
    def test_algorithm_does_not_match_the_kids_key(
        self, http: httpx.Client, jwks_only: str, keys: dict[str, Key], tenant: str, signer: str, claimed_kid_of: str
    ) -> None:
        token = keys[signer].sign(claims(tenant), kid=keys[claimed_kid_of].kid)
        assert_rejected(http, jwks_only, token)

    def test_kidless_token_with_several_keys(
        self, http: httpx.Client, jwks_only: str, keys: dict[str, Key], tenant: str
    ) -> None:
        assert_rejected(http, jwks_only, keys["RS256"].sign(claims(tenant), kid=None))

    @pytest.mark.parametrize("kid", [123, ["x"], {"kid": "x"}])
    def test_kid_not_a_string(
        self, http: httpx.Client, jwks_only: str, keys: dict[str, Key], tenant: str, kid: Any
    ) -> None:
        token = sign_raw({"alg": "RS256", "typ": "JWT", "kid": kid}, claims(tenant), keys["RS256"])
        assert_rejected(http, jwks_only, token)

    @pytest.mark.parametrize("alg", ["RS384", "RS512", "PS256", "ES384", "HS256", "none"])
    def test_algorithms_not_configured(
        self, http: httpx.Client, jwks_only: str, keys: dict[str, Key], tenant: str, alg: str
    ) -> None:
        key = keys["RS256"]
        if alg in ("RS384", "RS512", "PS256"):
            token = key.sign(claims(tenant), alg=alg)
        elif alg == "ES384":
            token = jwt.encode(claims(tenant), ec.generate_private_key(ec.SECP384R1()), algorithm="ES384", headers={"kid": key.kid})
        elif alg == "HS256":
            token = make_token(tenant)  # the conftest secret; this server has none
        else:
            token = f"{b64url({'alg': 'none', 'kid': key.kid})}.{b64url(claims(tenant))}."
        assert_rejected(http, jwks_only, token)

    def test_no_token_and_bad_claims_still_401(
        self, http: httpx.Client, jwks_only: str, keys: dict[str, Key], tenant: str
    ) -> None:
        assert_unauthorized(http.post(jwks_only + ACCOUNTS, json={"name": "x"}))
        now = int(time.time())
        assert_rejected(http, jwks_only, keys["ES256"].sign({**claims(tenant), "exp": now - 120}))
        assert_rejected(http, jwks_only, keys["ES256"].sign({"sub": "user-1", "exp": now + 600}))
        assert_rejected(http, jwks_only, keys["EdDSA"].sign(claims(tenant, sub=7)))

    def test_scopes_apply_to_jwks_tokens(
        self, http: httpx.Client, jwks_only: str, keys: dict[str, Key], tenant: str
    ) -> None:
        reader = keys["RS256"].sign(claims(tenant, scope="crm.accounts.read"))
        assert_problem(http.post(jwks_only + ACCOUNTS, json={"name": "x"}, headers=bearer(reader)), 403, "forbidden")


# --------------------------------------------------------------------------- key confusion


def public_key_secrets(key: Key) -> dict[str, bytes]:
    """Every public form of the RSA key an attacker could try as an HMAC secret."""
    public = key.public
    return {
        "spki-pem": public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
        "pkcs1-pem": public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1),
        "spki-der": public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo),
        "openssh": public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH),
        "jwk-json": json.dumps(key.jwk()).encode(),
    }


class TestKeyConfusion:
    @pytest.mark.parametrize("form", ["spki-pem", "pkcs1-pem", "spki-der", "openssh", "jwk-json"])
    @pytest.mark.parametrize("with_kid", [True, False])
    def test_hs256_signed_with_the_public_key_on_a_jwks_only_server(
        self, http: httpx.Client, jwks_only: str, keys: dict[str, Key], tenant: str, form: str, with_kid: bool
    ) -> None:
        rsa_key = keys["RS256"]
        header = {"alg": "HS256", "typ": "JWT", **({"kid": rsa_key.kid} if with_kid else {})}
        token = hs256_by_hand(header, claims(tenant), public_key_secrets(rsa_key)[form])
        assert_rejected(http, jwks_only, token)

    @pytest.mark.parametrize("form", ["spki-pem", "pkcs1-pem", "spki-der", "openssh", "jwk-json"])
    @pytest.mark.parametrize("with_kid", [True, False])
    def test_hs256_signed_with_the_public_key_on_a_secret_and_jwks_server(
        self, http: httpx.Client, mixed: str, keys: dict[str, Key], tenant: str, form: str, with_kid: bool
    ) -> None:
        rsa_key = keys["RS256"]
        header = {"alg": "HS256", "typ": "JWT", **({"kid": rsa_key.kid} if with_kid else {})}
        token = hs256_by_hand(header, claims(tenant), public_key_secrets(rsa_key)[form])
        assert_rejected(http, mixed, token)

    def test_mixed_server_accepts_both_kinds_of_real_token(
        self, http: httpx.Client, mixed: str, keys: dict[str, Key], tenant: str
    ) -> None:
        assert_accepted(http, mixed, make_token(tenant), tenant)
        for key in keys.values():
            assert_accepted(http, mixed, key.sign(claims(tenant)), tenant)

    def test_mixed_server_does_not_verify_rs256_with_the_secret(
        self, http: httpx.Client, mixed: str, keys: dict[str, Key], tenant: str
    ) -> None:
        # An "RS256" token whose signature is an HMAC with the shared secret.
        token = hs256_by_hand({"alg": "RS256", "kid": keys["RS256"].kid}, claims(tenant), SECRET.encode())
        assert_rejected(http, mixed, token)
        token = hs256_by_hand({"alg": "RS256"}, claims(tenant), SECRET.encode())
        assert_rejected(http, mixed, token)


# --------------------------------------------------------------------------- issuer and audience


class TestIssuerAudience:
    def test_right_issuer_and_audience_accepted(
        self, http: httpx.Client, iss_aud: str, keys: dict[str, Key], tenant: str
    ) -> None:
        assert_accepted(http, iss_aud, keys["RS256"].sign(claims(tenant, iss=ISSUER, aud=AUDIENCE)), tenant)
        assert_accepted(http, iss_aud, keys["ES256"].sign(claims(tenant, iss=ISSUER, aud=["other", AUDIENCE])), tenant)
        assert_accepted(http, iss_aud, make_token(tenant, iss=ISSUER, aud=AUDIENCE), tenant)

    @pytest.mark.parametrize(
        "extra",
        [
            pytest.param({"aud": AUDIENCE}, id="missing-iss"),
            pytest.param({"iss": ISSUER}, id="missing-aud"),
            pytest.param({}, id="missing-both"),
            pytest.param({"iss": "https://evil.example/", "aud": AUDIENCE}, id="wrong-iss"),
            pytest.param({"iss": ISSUER.rstrip("/"), "aud": AUDIENCE}, id="iss-without-slash"),
            pytest.param({"iss": [ISSUER], "aud": AUDIENCE}, id="iss-list"),
            pytest.param({"iss": ISSUER, "aud": "other-api"}, id="wrong-aud"),
            pytest.param({"iss": ISSUER, "aud": ["other-api", "third"]}, id="aud-list-without-ours"),
            pytest.param({"iss": ISSUER, "aud": "EDM-API"}, id="aud-case"),
            pytest.param({"iss": ISSUER, "aud": ""}, id="aud-empty"),
            pytest.param({"iss": ISSUER, "aud": []}, id="aud-empty-list"),
        ],
    )
    @pytest.mark.parametrize("signer", ["RS256", "HS256"])
    def test_wrong_or_missing_issuer_or_audience(
        self, http: httpx.Client, iss_aud: str, keys: dict[str, Key], tenant: str, extra: dict[str, Any], signer: str
    ) -> None:
        if signer == "RS256":
            token = sign_raw({"alg": "RS256", "kid": keys["RS256"].kid}, claims(tenant, **extra), keys["RS256"])
        else:
            token = hs256_by_hand({"alg": "HS256"}, claims(tenant, **extra), SECRET.encode())
        assert_rejected(http, iss_aud, token)

    def test_unconfigured_server_ignores_issuer(
        self, http: httpx.Client, jwks_only: str, keys: dict[str, Key], tenant: str
    ) -> None:
        assert_accepted(http, jwks_only, keys["RS256"].sign(claims(tenant, iss="https://anyone.example/")), tenant)


# --------------------------------------------------------------------------- rotation: file


class TestFileRotation:
    def test_new_key_written_to_the_file_is_picked_up_without_restart(
        self, http: httpx.Client, backend: str, serve_for_test: Any, database_urls: dict[str, str], tmp_path: Path, tenant: str
    ) -> None:
        old, new = new_key("RS256"), new_key("ES256")
        path = tmp_path / "jwks.json"
        write_jwks(path, old)
        url = serve_for_test(base_settings(database_urls[backend], tmp_path / "data", jwt_secret=None, jwks_file=str(path)))
        assert_accepted(http, url, old.sign(claims(tenant)), tenant)
        assert_rejected(http, url, new.sign(claims(tenant)))  # not published yet

        write_jwks(path, old, new)
        assert_accepted(http, url, new.sign(claims(tenant)), tenant)
        assert_accepted(http, url, old.sign(claims(tenant)), tenant)

        newest = new_key("EdDSA")
        write_jwks(path, new, newest)  # the old key is retired
        assert_accepted(http, url, newest.sign(claims(tenant)), tenant)
        assert_rejected(http, url, old.sign(claims(tenant)))
        assert_accepted(http, url, new.sign(claims(tenant)), tenant)

    def test_broken_file_keeps_the_keys_it_had(
        self, http: httpx.Client, backend: str, serve_for_test: Any, database_urls: dict[str, str], tmp_path: Path, tenant: str
    ) -> None:
        key = new_key("EdDSA")
        path = tmp_path / "jwks.json"
        write_jwks(path, key)
        url = serve_for_test(base_settings(database_urls[backend], tmp_path / "data", jwt_secret=None, jwks_file=str(path)))
        assert_accepted(http, url, key.sign(claims(tenant)), tenant)
        before = path.stat().st_mtime
        path.write_text('{"keys": [')  # a half-written rotation
        os.utime(path, (before + 2, before + 2))
        assert_rejected(http, url, new_key("RS256").sign(claims(tenant)))  # unknown kid: reload fails
        assert_accepted(http, url, key.sign(claims(tenant)), tenant)

    def test_a_removed_key_stops_verifying_within_the_refresh_interval(
        self,
        http: httpx.Client,
        backend: str,
        serve_for_test: Any,
        database_urls: dict[str, str],
        tmp_path: Path,
        tenant: str,
    ) -> None:
        kept, removed = new_key("ES256"), new_key("RS256")
        path = tmp_path / "jwks.json"
        write_jwks(path, kept, removed)
        settings = base_settings(
            database_urls[backend], tmp_path / "data", jwt_secret=None, jwks_file=str(path), jwks_refresh_seconds=0.5
        )
        url = serve_for_test(settings)
        token = removed.sign(claims(tenant))
        assert_accepted(http, url, token, tenant)  # verified, and remembered

        write_jwks(path, kept)  # no unknown kid is ever presented: only the refresh can notice
        wait_for_status(http, url, token, 401, within=3.0)
        assert_rejected(http, url, removed.sign(claims(tenant)))
        assert_accepted(http, url, kept.sign(claims(tenant)), tenant)

    @pytest.mark.parametrize("breakage", ["half-written", "deleted"])
    @pytest.mark.slow
    def test_a_broken_file_keeps_the_last_set_for_a_bounded_time(
        self,
        http: httpx.Client,
        backend: str,
        serve_for_test: Any,
        database_urls: dict[str, str],
        tmp_path: Path,
        tenant: str,
        breakage: str,
    ) -> None:
        key = new_key("EdDSA")
        path = tmp_path / "jwks.json"
        write_jwks(path, key)
        settings = base_settings(
            database_urls[backend],
            tmp_path / "data",
            jwt_secret=None,
            jwks_file=str(path),
            jwks_refresh_seconds=0.5,
            jwks_max_stale_seconds=3.0,
        )
        url = serve_for_test(settings)
        token = key.sign(claims(tenant))
        assert list_status(http, url, token) == 200

        if breakage == "deleted":
            path.unlink()
        else:
            path.write_text('{"keys": [')
        # last confirmed at most 0.5 s before the breakage, so trusted for 2.5 s at least
        assert_status_throughout(http, url, token, 200, seconds=1.5)
        wait_for_status(http, url, token, 401, within=5.0)  # until it is too old to trust

        write_jwks(path, key)
        wait_for_status(http, url, token, 200, within=3.0)


# --------------------------------------------------------------------------- rotation: URL


class JwksHttpServer:
    """A key set served over HTTP on 127.0.0.1, counting the GETs it answers."""

    def __init__(self, *keys: Key) -> None:
        self.document: dict[str, Any] = jwks(*keys)
        self.requests = 0
        self.delay = 0.0  # seconds each answer takes
        self.failure: str | None = None  # see fail()
        self._released = threading.Event()
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                with outer._lock:
                    outer.requests += 1
                    body = json.dumps(outer.document).encode()
                    failure = outer.failure
                time.sleep(outer.delay)
                status = 200
                if failure == "hangs":
                    outer._released.wait(60)
                elif failure == "http-500":
                    status, body = 500, b"internal error"
                elif failure == "not-a-jwks":
                    body = b"<html>maintenance</html>"
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                """Keep the test output quiet."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/.well-known/jwks.json"

    def publish(self, *keys: Key) -> None:
        with self._lock:
            self.document = jwks(*keys)

    def fail(self, failure: str | None) -> None:
        """Answer every GET with ``"http-500"``, ``"not-a-jwks"`` or never (``"hangs"``); None recovers."""
        with self._lock:
            self.failure = failure
            if failure == "hangs":
                self._released.clear()
            else:
                self._released.set()

    def close(self) -> None:
        self._released.set()
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def jwks_http() -> Iterator[Callable[..., JwksHttpServer]]:
    started: list[JwksHttpServer] = []

    def start(*keys: Key) -> JwksHttpServer:
        server = JwksHttpServer(*keys)
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()


class TestUrlRotation:
    def test_new_kid_accepted_after_the_refresh_interval(
        self,
        http: httpx.Client,
        backend: str,
        serve_for_test: Any,
        database_urls: dict[str, str],
        tmp_path: Path,
        tenant: str,
        jwks_http: Callable[..., JwksHttpServer],
    ) -> None:
        old, new = new_key("RS256"), new_key("EdDSA")
        keyset = jwks_http(old)
        url = serve_for_test(
            base_settings(
                database_urls[backend], tmp_path, jwt_secret=None, jwks_url=keyset.url, jwks_min_refresh_seconds=0.5
            )
        )
        assert_accepted(http, url, old.sign(claims(tenant)), tenant)
        assert keyset.requests == 1

        keyset.publish(new)  # rotated: the old key is gone
        time.sleep(0.6)
        assert_accepted(http, url, new.sign(claims(tenant)), tenant)
        assert keyset.requests == 2
        time.sleep(0.6)
        assert_rejected(http, url, old.sign(claims(tenant)))
        assert_accepted(http, url, new.sign(claims(tenant)), tenant)

    def test_a_removed_key_stops_verifying_within_the_refresh_interval(
        self,
        http: httpx.Client,
        backend: str,
        serve_for_test: Any,
        database_urls: dict[str, str],
        tmp_path: Path,
        tenant: str,
        jwks_http: Callable[..., JwksHttpServer],
    ) -> None:
        kept, removed = new_key("EdDSA"), new_key("ES256")
        keyset = jwks_http(kept, removed)
        settings = base_settings(
            database_urls[backend], tmp_path, jwt_secret=None, jwks_url=keyset.url, jwks_refresh_seconds=0.5
        )
        url = serve_for_test(settings)
        token = removed.sign(claims(tenant))
        assert_accepted(http, url, token, tenant)  # verified, and remembered

        keyset.publish(kept)  # no unknown kid is ever presented: only the refresh can notice
        wait_for_status(http, url, token, 401, within=3.0)
        assert_rejected(http, url, removed.sign(claims(tenant)))
        assert_accepted(http, url, kept.sign(claims(tenant)), tenant)

    @pytest.mark.parametrize("failure", ["http-500", "not-a-jwks", "hangs"])
    @pytest.mark.slow
    def test_a_failing_url_keeps_the_last_set_for_a_bounded_time(
        self,
        http: httpx.Client,
        backend: str,
        serve_for_test: Any,
        database_urls: dict[str, str],
        tmp_path: Path,
        tenant: str,
        jwks_http: Callable[..., JwksHttpServer],
        failure: str,
    ) -> None:
        key = new_key("RS256")
        keyset = jwks_http(key)
        settings = base_settings(
            database_urls[backend],
            tmp_path,
            jwt_secret=None,
            jwks_url=keyset.url,
            jwks_refresh_seconds=1.0,  # and a fetch times out after as long
            jwks_max_stale_seconds=4.0,
        )
        url = serve_for_test(settings)
        token = key.sign(claims(tenant))
        assert list_status(http, url, token) == 200

        keyset.fail(failure)
        # Last confirmed at most 1 s before the failure, so trusted for 3 s at least;
        # and no request waits for the failing fetches.
        assert_status_throughout(http, url, token, 200, seconds=2.0)
        wait_for_status(http, url, token, 401, within=8.0)  # until it is too old to trust

        keyset.fail(None)
        wait_for_status(http, url, token, 200, within=5.0)

    def test_burst_of_unknown_kids_refetches_at_most_once(
        self,
        http: httpx.Client,
        backend: str,
        serve_for_test: Any,
        database_urls: dict[str, str],
        tmp_path: Path,
        tenant: str,
        jwks_http: Callable[..., JwksHttpServer],
    ) -> None:
        known = new_key("ES256")
        keyset = jwks_http(known)
        url = serve_for_test(base_settings(database_urls[backend], tmp_path, jwt_secret=None, jwks_url=keyset.url))
        assert_accepted(http, url, known.sign(claims(tenant)), tenant)
        assert keyset.requests == 1

        keyset.publish(known, new_key("RS256"))
        attackers = [new_key("ES256").sign(claims(tenant), kid=f"unknown-{i}") for i in range(5)]
        responses = concurrently(url, attackers)
        for response in responses:
            assert_unauthorized(response)
        for token in attackers:  # and again, one after another
            assert_unauthorized(http.post(url + ACCOUNTS, json={"name": "x"}, headers=bearer(token)))
        assert keyset.requests - 1 <= 1
        assert_accepted(http, url, known.sign(claims(tenant)), tenant)
        assert keyset.requests <= 2

    def test_burst_of_a_newly_rotated_kid_shares_one_refetch(
        self,
        http: httpx.Client,
        backend: str,
        serve_for_test: Any,
        database_urls: dict[str, str],
        tmp_path: Path,
        tenant: str,
        jwks_http: Callable[..., JwksHttpServer],
    ) -> None:
        """Right after a rotation, every request with the new kid gets in, on one refetch."""
        old, new = new_key("EdDSA"), new_key("ES256")
        keyset = jwks_http(old)
        url = serve_for_test(
            base_settings(
                database_urls[backend], tmp_path, jwt_secret=None, jwks_url=keyset.url, jwks_min_refresh_seconds=0.5
            )
        )
        assert_accepted(http, url, old.sign(claims(tenant)), tenant)
        keyset.publish(old, new)
        keyset.delay = 0.3
        time.sleep(0.6)
        responses = concurrently(url, [new.sign(claims(tenant)) for _ in range(5)])
        assert [r.status_code for r in responses] == [201] * 5, [r.text for r in responses]
        assert keyset.requests == 2

    @pytest.mark.parametrize("kind", ["unknown-kids", "valid-tokens"])
    def test_burst_on_a_cold_server_waits_for_one_fetch(
        self,
        backend: str,
        serve_for_test: Any,
        database_urls: dict[str, str],
        tmp_path: Path,
        tenant: str,
        jwks_http: Callable[..., JwksHttpServer],
        kind: str,
    ) -> None:
        """Requests arriving while the first fetch is under way wait for it (no 503), and share it."""
        known = new_key("RS256")
        keyset = jwks_http(known)
        keyset.delay = 0.3  # the key set is slow to answer
        url = serve_for_test(base_settings(database_urls[backend], tmp_path, jwt_secret=None, jwks_url=keyset.url))
        kids = [f"unknown-{i}" if kind == "unknown-kids" else known.kid for i in range(5)]
        responses = concurrently(url, [known.sign(claims(tenant), kid=kid) for kid in kids])
        if kind == "unknown-kids":
            for response in responses:
                assert_unauthorized(response)
        else:
            assert [r.status_code for r in responses] == [201] * 5, [r.text for r in responses]
        assert keyset.requests == 1


def concurrently(url: str, tokens: list[str]) -> list[httpx.Response]:
    """POST an account with each token, all at once."""
    responses: list[httpx.Response] = []
    barrier = threading.Barrier(len(tokens))

    def hit(token: str) -> None:
        with httpx.Client(timeout=30) as client:
            barrier.wait()
            responses.append(client.post(url + ACCOUNTS, json={"name": "x"}, headers=bearer(token)))

    threads = [threading.Thread(target=hit, args=(t,)) for t in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(responses) == len(tokens)
    return responses


# --------------------------------------------------------------------------- settings


class TestSettings:
    @pytest.mark.parametrize("secret", ["short", "x" * 31, "é" * 15])
    def test_short_secret_refuses_to_start(self, tmp_path: Path, secret: str) -> None:
        settings = Settings(data_dir=tmp_path, jwt_secret=secret)
        with pytest.raises(SettingsError):
            settings.validate()
        with pytest.raises(SettingsError):
            create_app(settings)

    def test_32_byte_secret_is_enough(self, tmp_path: Path) -> None:
        Settings(data_dir=tmp_path, jwt_secret="x" * 32).validate()
        Settings(data_dir=tmp_path, jwt_secret="é" * 16).validate()  # bytes, not characters
        assert create_app(Settings(data_dir=tmp_path, jwt_secret="x" * 32)) is not None

    @pytest.mark.parametrize("algorithms", [("none",), ("HS256", "none"), ("HS384",), ("RS256", "PS256")])
    def test_unsupported_algorithms_refuse_to_start(self, tmp_path: Path, jwks_path: Path, algorithms: tuple[str, ...]) -> None:
        settings = Settings(data_dir=tmp_path, jwt_secret=SECRET, jwks_file=str(jwks_path), jwt_algorithms=algorithms)
        with pytest.raises(SettingsError):
            settings.validate()
        with pytest.raises(SettingsError):
            create_app(settings)

    def test_by_default_a_removed_key_stops_verifying_within_60_seconds(self) -> None:
        settings = load_settings({"EDM_JWKS_URL": "https://issuer.example/jwks.json"})
        assert settings.jwks_refresh_seconds + FETCH_TIMEOUT_SECONDS <= 60
        assert load_settings({"EDM_JWKS_REFRESH_SECONDS": "0.5"}).jwks_refresh_seconds == 0.5
        assert load_settings({"EDM_JWKS_MAX_STALE_SECONDS": "90"}).jwks_max_stale_seconds == 90

    @pytest.mark.parametrize("name", ["jwks_refresh_seconds", "jwks_max_stale_seconds"])
    @pytest.mark.parametrize("value", [0.0, -1.0, float("nan"), float("inf")])
    def test_jwks_timings_must_be_positive_and_finite(
        self, tmp_path: Path, jwks_path: Path, name: str, value: float
    ) -> None:
        settings = Settings(data_dir=tmp_path, jwks_file=str(jwks_path), **{name: value})
        with pytest.raises(SettingsError):
            settings.validate()

    def test_asymmetric_algorithms_need_a_key_set(self, tmp_path: Path) -> None:
        with pytest.raises(SettingsError):
            Settings(data_dir=tmp_path, jwt_secret=SECRET, jwt_algorithms=("RS256",)).validate()
