"""Bearer JWTs with the HS256 secret (docs/operating.md, "Tokens and scopes"): every attack answers 401, scopes answer 403.

Everything runs against the ``api`` fixture's real servers (SQLite and PostgreSQL),
hitting the account endpoints over TCP.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import warnings
from typing import Any

import httpx
import jwt
import pytest

from tests.conftest import ACCOUNTS, SECRET, Api, assert_problem

_DROP = object()  # a claim value meaning "leave this claim out"


# --------------------------------------------------------------------------- helpers


def b64url(data: bytes | dict[str, Any]) -> str:
    if isinstance(data, dict):
        data = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(tenant: str, **overrides: Any) -> dict[str, Any]:
    """A valid claim set for ``tenant``; ``claim=_DROP`` leaves a claim out."""
    now = int(time.time())
    payload: dict[str, Any] = {"sub": "user-1", "tenant_id": tenant, "iat": now, "exp": now + 600}
    payload.update(overrides)
    return {k: v for k, v in payload.items() if v is not _DROP}


def hs(payload: dict[str, Any], *, secret: str | bytes = SECRET, alg: str = "HS256", **headers: Any) -> str:
    return jwt.encode(payload, secret, algorithm=alg, headers=headers or None)


def hand_signed(header: dict[str, Any], payload: dict[str, Any], secret: bytes, digest: Any = hashlib.sha256) -> str:
    signing_input = f"{b64url(header)}.{b64url(payload)}"
    signature = hmac.new(secret, signing_input.encode(), digest).digest()
    return f"{signing_input}.{b64url(signature)}"


def call(api: Api, method: str, path: str, authorization: str | None, **kw: Any) -> httpx.Response:
    headers = {} if authorization is None else {"Authorization": authorization}
    return api.http.request(method, path, headers=headers, **kw)


def assert_unauthorized(response: httpx.Response) -> None:
    assert_problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"].startswith("Bearer"), response.headers


def assert_rejected_everywhere(api: Api, authorization: str | None) -> None:
    """The header gets 401 on every account operation, and changes nothing."""
    record = api.created({"name": "Target"})
    path = f"{ACCOUNTS}/{record['id']}"
    assert_unauthorized(call(api, "GET", path, authorization))
    assert_unauthorized(call(api, "POST", ACCOUNTS, authorization, json={"name": "Intruder"}))
    assert_unauthorized(call(api, "PATCH", path, authorization, json={"name": "Hacked"}))
    assert_unauthorized(call(api, "DELETE", path, authorization))
    after = api.get(record["id"])
    assert after.status_code == 200
    assert after.json()["name"] == "Target" and after.json()["version"] == 1


def assert_accepted(api: Api, token: str) -> None:
    """The token can create and read an account of the tenant it names."""
    headers = {"Authorization": f"Bearer {token}"}
    created = api.http.post(ACCOUNTS, json={"name": "Accepted"}, headers=headers)
    assert created.status_code == 201, created.text
    record = created.json()
    assert record["tenant_id"] == api.tenant
    fetched = api.http.get(f"{ACCOUNTS}/{record['id']}", headers=headers)
    assert fetched.status_code == 200, fetched.text


def assert_token_rejected(api: Api, token: str) -> None:
    record = api.created({"name": "Target"})
    headers = {"Authorization": f"Bearer {token}"}
    assert_unauthorized(api.http.get(f"{ACCOUNTS}/{record['id']}", headers=headers))
    assert_unauthorized(api.http.post(ACCOUNTS, json={"name": "Intruder"}, headers=headers))


# --------------------------------------------------------------------------- the Authorization header


class TestHeader:
    def test_no_header(self, api: Api) -> None:
        assert_rejected_everywhere(api, None)

    @pytest.mark.parametrize(
        "authorization",
        [
            "Basic dXNlcjpwYXNzd29yZA==",
            "Digest username=user-1",
            "Bearer",
            "Bearer,",
            "",
        ],
    )
    def test_wrong_scheme_or_empty(self, api: Api, authorization: str) -> None:
        assert_rejected_everywhere(api, authorization)

    def test_valid_token_under_another_scheme(self, api: Api) -> None:
        assert_rejected_everywhere(api, f"Token {api.token}")
        assert_rejected_everywhere(api, f"Basic {api.token}")

    @pytest.mark.parametrize(
        "token",
        [
            "garbage",
            "not.a.jwt",
            "a.b.c.d",
            "....",
            "eyJhbGciOiJIUzI1NiJ9",
            "eyJhbGciOiJIUzI1NiJ9.!!!.???",
            "%%%.%%%.%%%",
        ],
    )
    def test_garbage_token(self, api: Api, token: str) -> None:
        assert_rejected_everywhere(api, f"Bearer {token}")

    def test_header_not_json(self, api: Api) -> None:
        token = f"{b64url(b'not json')}.{b64url(claims(api.tenant))}.{b64url(b'sig')}"
        assert_rejected_everywhere(api, f"Bearer {token}")

    def test_payload_not_json_with_valid_signature(self, api: Api) -> None:
        signing_input = f"{b64url({'alg': 'HS256', 'typ': 'JWT'})}.{b64url(b'[1, 2')}"
        signature = hmac.new(SECRET.encode(), signing_input.encode(), hashlib.sha256).digest()
        assert_rejected_everywhere(api, f"Bearer {signing_input}.{b64url(signature)}")

    def test_payload_json_array_with_valid_signature(self, api: Api) -> None:
        signing_input = f"{b64url({'alg': 'HS256', 'typ': 'JWT'})}.{b64url(b'[1, 2]')}"
        signature = hmac.new(SECRET.encode(), signing_input.encode(), hashlib.sha256).digest()
        assert_rejected_everywhere(api, f"Bearer {signing_input}.{b64url(signature)}")

    def test_lowercase_bearer_scheme_is_accepted(self, api: Api) -> None:
        # RFC 7235: the auth scheme is case-insensitive.
        response = api.http.post(ACCOUNTS, json={"name": "Acme"}, headers={"Authorization": f"bearer {api.token}"})
        assert response.status_code == 201, response.text


# --------------------------------------------------------------------------- signatures and algorithms


class TestSignature:
    @pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
    @pytest.mark.parametrize("trailing_dot", [True, False])
    def test_alg_none(self, api: Api, alg: str, trailing_dot: bool) -> None:
        token = f"{b64url({'alg': alg, 'typ': 'JWT'})}.{b64url(claims(api.tenant))}"
        if trailing_dot:
            token += "."
        assert_rejected_everywhere(api, f"Bearer {token}")

    def test_alg_none_with_a_real_signature_attached(self, api: Api) -> None:
        valid = api.token.split(".")
        token = f"{b64url({'alg': 'none', 'typ': 'JWT'})}.{valid[1]}.{valid[2]}"
        assert_rejected_everywhere(api, f"Bearer {token}")

    def test_missing_alg(self, api: Api) -> None:
        token = hand_signed({"typ": "JWT"}, claims(api.tenant), SECRET.encode())
        assert_rejected_everywhere(api, f"Bearer {token}")

    @pytest.mark.parametrize("alg", [["HS256"], 256, None, ""])
    def test_alg_not_a_string(self, api: Api, alg: Any) -> None:
        token = hand_signed({"alg": alg, "typ": "JWT"}, claims(api.tenant), SECRET.encode())
        assert_rejected_everywhere(api, f"Bearer {token}")

    def test_signed_with_another_secret(self, api: Api) -> None:
        token = hs(claims(api.tenant), secret="another-secret-that-is-also-long-enough-x")
        assert_rejected_everywhere(api, f"Bearer {token}")

    def test_signed_with_a_prefix_of_the_secret(self, api: Api) -> None:
        token = hand_signed({"alg": "HS256", "typ": "JWT"}, claims(api.tenant), SECRET[:-1].encode())
        assert_rejected_everywhere(api, f"Bearer {token}")

    def test_signed_with_empty_secret(self, api: Api) -> None:
        token = hand_signed({"alg": "HS256", "typ": "JWT"}, claims(api.tenant), b"")
        assert_rejected_everywhere(api, f"Bearer {token}")

    def test_signature_stripped(self, api: Api) -> None:
        header, payload, _ = api.token.split(".")
        assert_rejected_everywhere(api, f"Bearer {header}.{payload}.")
        assert_rejected_everywhere(api, f"Bearer {header}.{payload}")

    def test_signature_corrupted(self, api: Api) -> None:
        header, payload, signature = api.token.split(".")
        flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
        assert_rejected_everywhere(api, f"Bearer {header}.{payload}.{flipped}")

    def test_tampered_tenant_keeps_old_signature(self, api: Api) -> None:
        now = int(time.time())
        victim = f"{api.tenant}-victim"
        secret_record = api.as_(victim).created({"name": "Victim secret"})
        original = hs({"sub": "user-1", "tenant_id": api.tenant, "iat": now, "exp": now + 600})
        header, _, signature = original.split(".")
        forged_payload = b64url({"sub": "user-1", "tenant_id": victim, "iat": now, "exp": now + 600})
        forged = f"{header}.{forged_payload}.{signature}"
        assert_rejected_everywhere(api, f"Bearer {forged}")
        response = api.http.get(f"{ACCOUNTS}/{secret_record['id']}", headers={"Authorization": f"Bearer {forged}"})
        assert_unauthorized(response)
        assert "Victim" not in response.text

    def test_tampered_scope_keeps_old_signature(self, api: Api) -> None:
        now = int(time.time())
        base = {"sub": "user-1", "tenant_id": api.tenant, "iat": now, "exp": now + 600}
        header, _, signature = hs({**base, "scope": "crm.accounts.read"}).split(".")
        forged = f"{header}.{b64url(base)}.{signature}"  # scope removed: would be a full human session
        assert_rejected_everywhere(api, f"Bearer {forged}")

    def test_tampered_header_keeps_old_signature(self, api: Api) -> None:
        _, payload, signature = api.token.split(".")
        forged = f"{b64url({'alg': 'HS256', 'typ': 'JWT', 'kid': 'x'})}.{payload}.{signature}"
        assert_rejected_everywhere(api, f"Bearer {forged}")

    @pytest.mark.parametrize(("alg", "digest"), [("HS384", hashlib.sha384), ("HS512", hashlib.sha512)])
    def test_other_hmac_algorithms_with_the_right_secret(self, api: Api, alg: str, digest: Any) -> None:
        token = hand_signed({"alg": alg, "typ": "JWT"}, claims(api.tenant), SECRET.encode(), digest)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PyJWT finds the 41-byte secret short for SHA-384/512
            assert jwt.decode(token, SECRET, algorithms=[alg])["tenant_id"] == api.tenant  # really well signed
        assert_rejected_everywhere(api, f"Bearer {token}")

    def test_asymmetric_token_on_a_secret_only_server(self, api: Api) -> None:
        from cryptography.hazmat.primitives.asymmetric import ec

        key = ec.generate_private_key(ec.SECP256R1())
        token = jwt.encode(claims(api.tenant), key, algorithm="ES256", headers={"kid": "k1"})
        assert_rejected_everywhere(api, f"Bearer {token}")

    def test_hs256_with_kid_and_extra_header_fields_is_still_fine(self, api: Api) -> None:
        assert_accepted(api, hs(claims(api.tenant), kid="whatever", cty="JWT"))


# --------------------------------------------------------------------------- time claims


class TestTime:
    def test_expired_beyond_leeway(self, api: Api) -> None:
        now = int(time.time())
        assert_rejected_everywhere(api, f"Bearer {hs(claims(api.tenant, iat=now - 700, exp=now - 120))}")
        assert_rejected_everywhere(api, f"Bearer {hs(claims(api.tenant, iat=now - 90_000, exp=now - 86_400))}")

    def test_expired_within_leeway_is_accepted(self, api: Api) -> None:
        now = int(time.time())
        assert_accepted(api, hs(claims(api.tenant, iat=now - 600, exp=now - 30)))

    def test_nbf_beyond_leeway_is_rejected(self, api: Api) -> None:
        now = int(time.time())
        assert_rejected_everywhere(api, f"Bearer {hs(claims(api.tenant, nbf=now + 300))}")

    def test_nbf_within_leeway_is_accepted(self, api: Api) -> None:
        now = int(time.time())
        assert_accepted(api, hs(claims(api.tenant, nbf=now + 30)))

    def test_nbf_in_the_past_is_accepted(self, api: Api) -> None:
        now = int(time.time())
        assert_accepted(api, hs(claims(api.tenant, nbf=now - 3600)))

    def test_iat_missing_or_old_is_accepted(self, api: Api) -> None:
        now = int(time.time())
        assert_accepted(api, hs(claims(api.tenant, iat=_DROP)))
        assert_accepted(api, hs(claims(api.tenant, iat=now - 365 * 86_400)))  # iat is no max-age
        assert_accepted(api, hs(claims(api.tenant, iat=now + 30)))  # small clock skew

    def test_iat_far_in_the_future_is_rejected(self, api: Api) -> None:
        now = int(time.time())
        assert_rejected_everywhere(api, f"Bearer {hs(claims(api.tenant, iat=now + 300))}")

    @pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
    @pytest.mark.parametrize("value", ["tomorrow", [1], {"t": 1}])
    def test_time_claims_that_are_not_numbers(self, api: Api, claim: str, value: Any) -> None:
        assert_rejected_everywhere(api, f"Bearer {hs(claims(api.tenant, **{claim: value}))}")


# --------------------------------------------------------------------------- identity claims


BAD_TEXT = [
    pytest.param(123, id="int"),
    pytest.param(0, id="zero"),
    pytest.param(True, id="bool"),
    pytest.param(["tenant-a"], id="list"),
    pytest.param({"id": "x"}, id="object"),
    pytest.param("", id="empty"),
    pytest.param("x" * 256, id="256-chars"),
    pytest.param("a\x00b", id="nul"),
    pytest.param("a\nb", id="newline"),
    pytest.param("a\tb", id="tab"),
    pytest.param("a\x1bb", id="escape"),
    pytest.param("a\x7fb", id="del"),
    pytest.param("a\ud800b", id="lone-surrogate"),
    pytest.param("a\x85b", id="c1-control"),
    pytest.param("a\u202eb", id="bidi-override"),
    pytest.param("\u200b\u200b", id="zero-width-only"),
]


class TestClaims:
    @pytest.mark.parametrize("claim", ["sub", "tenant_id", "exp"])
    def test_required_claim_missing(self, api: Api, claim: str) -> None:
        assert_rejected_everywhere(api, f"Bearer {hs(claims(api.tenant, **{claim: _DROP}))}")

    @pytest.mark.parametrize("claim", ["sub", "tenant_id"])
    def test_required_claim_null(self, api: Api, claim: str) -> None:
        assert_rejected_everywhere(api, f"Bearer {hs(claims(api.tenant, **{claim: None}))}")

    @pytest.mark.parametrize("value", BAD_TEXT)
    @pytest.mark.parametrize("claim", ["sub", "tenant_id", "app_id"])
    def test_identity_claim_not_a_sane_string(self, api: Api, claim: str, value: Any) -> None:
        assert_rejected_everywhere(api, f"Bearer {hs(claims(api.tenant, **{claim: value}))}")

    @pytest.mark.parametrize("value", [1, ["crm.accounts.read"], {"crm.accounts.read": True}, True])
    def test_scope_not_a_string(self, api: Api, value: Any) -> None:
        assert_rejected_everywhere(api, f"Bearer {hs(claims(api.tenant, scope=value))}")

    def test_255_character_claims_are_accepted(self, api: Api) -> None:
        tenant = api.tenant + "t" * (255 - len(api.tenant))
        long_api = Api(api.http, api.backend, tenant, hs(claims(tenant, sub="s" * 255)))
        assert_accepted(long_api, long_api.token)

    def test_sub_is_recorded_as_the_author(self, api: Api) -> None:
        token = hs(claims(api.tenant, sub="alice@example.com"))
        response = api.http.post(ACCOUNTS, json={"name": "Acme"}, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 201, response.text
        assert response.json()["created_by"] == "alice@example.com"

    def test_string_app_id_is_accepted_and_stamped(self, api: Api) -> None:
        token = hs(claims(api.tenant, app_id="app-1"))
        response = api.http.post(ACCOUNTS, json={"name": "Acme"}, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 201, response.text
        assert response.json()["app_id"] == "app-1"

    def test_unknown_extra_claims_are_ignored(self, api: Api) -> None:
        assert_accepted(api, hs(claims(api.tenant, role="admin", email="x@example.com", jti="abc")))


# --------------------------------------------------------------------------- scopes


def assert_forbidden(response: httpx.Response) -> None:
    assert_problem(response, 403, "forbidden")


class TestScopes:
    def _token(self, api: Api, scope: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {hs(claims(api.tenant, scope=scope))}"}

    def test_read_scope_reads_but_cannot_write(self, api: Api) -> None:
        record = api.created({"name": "Acme"})
        path = f"{ACCOUNTS}/{record['id']}"
        headers = self._token(api, "crm.accounts.read")
        got = api.http.get(path, headers=headers)
        assert got.status_code == 200, got.text
        assert got.json()["id"] == record["id"]
        assert_forbidden(api.http.post(ACCOUNTS, json={"name": "New"}, headers=headers))
        assert_forbidden(api.http.patch(path, json={"name": "Changed"}, headers=headers))
        assert_forbidden(api.http.delete(path, headers=headers))
        after = api.get(record["id"]).json()
        assert after["name"] == "Acme" and after["version"] == 1 and after["is_deleted"] is False

    def test_write_scope_writes_but_cannot_read(self, api: Api) -> None:
        headers = self._token(api, "crm.accounts.write")
        created = api.http.post(ACCOUNTS, json={"name": "New"}, headers=headers)
        assert created.status_code == 201, created.text
        path = f"{ACCOUNTS}/{created.json()['id']}"
        assert_forbidden(api.http.get(path, headers=headers))
        patched = api.http.patch(path, json={"name": "Changed"}, headers=headers)
        assert patched.status_code == 200, patched.text
        assert patched.json()["name"] == "Changed"
        deleted = api.http.delete(path, headers=headers)
        assert deleted.status_code == 204, deleted.text
        assert api.get(created.json()["id"]).status_code == 404

    @pytest.mark.parametrize("scope", ["", " ", "crm.admin", "crm.accounts", "CRM.ACCOUNTS.READ CRM.ACCOUNTS.WRITE", "openid profile"])
    def test_scope_without_account_scopes_is_forbidden_everything(self, api: Api, scope: str) -> None:
        record = api.created({"name": "Acme"})
        path = f"{ACCOUNTS}/{record['id']}"
        headers = self._token(api, scope)
        assert_forbidden(api.http.get(path, headers=headers))
        assert_forbidden(api.http.post(ACCOUNTS, json={"name": "New"}, headers=headers))
        assert_forbidden(api.http.patch(path, json={"name": "Changed"}, headers=headers))
        assert_forbidden(api.http.delete(path, headers=headers))
        after = api.get(record["id"]).json()
        assert after["name"] == "Acme" and after["version"] == 1

    def test_forbidden_comes_before_not_found(self, api: Api) -> None:
        missing = f"{ACCOUNTS}/acc_01ARZ3NDEKTSV4RRFFQ69G5FAV"
        assert_forbidden(api.http.get(missing, headers=self._token(api, "crm.accounts.write")))
        assert_forbidden(api.http.delete(missing, headers=self._token(api, "crm.accounts.read")))

    @pytest.mark.parametrize("scope", ["crm.accounts.read crm.accounts.write", "  crm.accounts.write   openid crm.accounts.read "])
    def test_both_scopes_can_do_everything(self, api: Api, scope: str) -> None:
        self._crud(api, self._token(api, scope))

    def test_no_scope_claim_is_a_human_with_read_and_write(self, api: Api) -> None:
        self._crud(api, {"Authorization": f"Bearer {hs(claims(api.tenant))}"})

    def _crud(self, api: Api, headers: dict[str, str]) -> None:
        created = api.http.post(ACCOUNTS, json={"name": "New"}, headers=headers)
        assert created.status_code == 201, created.text
        path = f"{ACCOUNTS}/{created.json()['id']}"
        assert api.http.get(path, headers=headers).status_code == 200
        patched = api.http.patch(path, json={"name": "Changed"}, headers=headers)
        assert patched.status_code == 200, patched.text
        assert api.http.delete(path, headers=headers).status_code == 204
        assert api.http.get(path, headers=headers).status_code == 404

    def test_bad_token_with_scope_is_401_not_403(self, api: Api) -> None:
        token = hs(claims(api.tenant, scope="crm.accounts.read"), secret="another-secret-that-is-also-long-enough-x")
        assert_unauthorized(api.http.post(ACCOUNTS, json={"name": "x"}, headers={"Authorization": f"Bearer {token}"}))
