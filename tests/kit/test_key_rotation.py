"""Rotating secrets (docs/keys.md): several HS256 secrets at once, cursors signed with their own key.

A rotation is a restart with new settings: each step here is a new server on the
same database and data directory, reached over real TCP.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from edm.kit.settings import CURSOR_SECRET_FILE, Settings, SettingsError, load_settings
from tests.conftest import ACCOUNTS, assert_problem, base_settings, make_token

OLD = "old-hs256-secret-that-is-long-enough-000"
NEW = "new-hs256-secret-that-is-long-enough-111"
OTHER = "someone-elses-secret-that-is-long-enough"
OLD_CURSOR = "old-cursor-secret-that-is-long-enough-22"
NEW_CURSOR = "new-cursor-secret-that-is-long-enough-33"


@pytest.fixture
def start(serve_for_test: Any, database_urls: dict[str, str], backend: str, tmp_path: Path) -> Any:
    """``start(**settings)``: a server on this backend's database and one data directory shared by the test's servers."""

    def start(**overrides: Any) -> str:
        return serve_for_test(base_settings(database_urls[backend], tmp_path / "data", **overrides))

    return start


@pytest.fixture(scope="module")
def http() -> Any:
    with httpx.Client(timeout=30) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def list_page(http: httpx.Client, url: str, token: str, cursor: str | None = None) -> httpx.Response:
    params = {"limit": "1", "sort": "name", **({"cursor": cursor} if cursor else {})}
    return http.get(url + ACCOUNTS, params=params, headers=bearer(token))


def seed(http: httpx.Client, url: str, token: str) -> None:
    for name in ("Alpha", "Bravo", "Charlie"):
        assert http.post(url + ACCOUNTS, json={"name": name}, headers=bearer(token)).status_code == 201


def names(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [record["name"] for record in response.json()["data"]]


# --------------------------------------------------------------------------- HS256 secrets


class TestSeveralJwtSecrets:
    def test_tokens_signed_with_any_listed_secret_verify(self, http: httpx.Client, start: Any, tenant: str) -> None:
        url = start(jwt_secret=f"{NEW}, {OLD}")
        for secret in (NEW, OLD):
            token = make_token(tenant, secret=secret)
            created = http.post(url + ACCOUNTS, json={"name": "Acme"}, headers=bearer(token))
            assert created.status_code == 201, created.text
            assert created.json()["tenant_id"] == tenant
        other = http.get(url + ACCOUNTS, headers=bearer(make_token(tenant, secret=OTHER)))
        assert_problem(other, 401, "unauthorized")

    def test_once_the_old_secret_is_dropped_its_tokens_are_refused(
        self, http: httpx.Client, start: Any, tenant: str
    ) -> None:
        old_token, new_token = make_token(tenant, secret=OLD), make_token(tenant, secret=NEW)
        during = start(jwt_secret=f"{NEW}\n{OLD}")
        assert list_page(http, during, old_token).status_code == 200
        assert list_page(http, during, new_token).status_code == 200

        after = start(jwt_secret=NEW)
        response = list_page(http, after, old_token)
        assert_problem(response, 401, "unauthorized")
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert list_page(http, after, new_token).status_code == 200

    def test_an_expired_token_signed_with_the_second_secret_is_told_expired(
        self, http: httpx.Client, start: Any, tenant: str
    ) -> None:
        url = start(jwt_secret=f"{NEW},{OLD}")
        body = assert_problem(list_page(http, url, make_token(tenant, secret=OLD, ttl=-3600)), 401, "unauthorized")
        assert "expired" in body["detail"]


# --------------------------------------------------------------------------- cursors


class TestCursorKeys:
    def test_a_cursor_survives_a_jwt_secret_rotation(
        self, http: httpx.Client, start: Any, tenant: str, tmp_path: Path
    ) -> None:
        before = start(jwt_secret=OLD)
        seed(http, before, make_token(tenant, secret=OLD))
        first = list_page(http, before, make_token(tenant, secret=OLD))
        assert names(first) == ["Alpha"]

        after = start(jwt_secret=NEW)  # the JWT secret rotated; the data directory is the same
        second = list_page(http, after, make_token(tenant, secret=NEW), first.json()["next_cursor"])
        assert names(second) == ["Bravo"]
        stored = (tmp_path / "data" / CURSOR_SECRET_FILE).read_text().strip()
        assert len(stored) >= 32 and stored not in (OLD, NEW)

    def test_a_cursor_signed_with_an_old_cursor_secret_works_while_listed_second(
        self, http: httpx.Client, start: Any, tenant: str
    ) -> None:
        token = make_token(tenant)
        old = start(cursor_secret=OLD_CURSOR)
        seed(http, old, token)
        old_cursor = list_page(http, old, token).json()["next_cursor"]

        rotated = start(cursor_secret=f"{NEW_CURSOR},{OLD_CURSOR}")
        page = list_page(http, rotated, token, old_cursor)
        assert names(page) == ["Bravo"]
        new_cursor = page.json()["next_cursor"]  # signed with the first secret

        retired = start(cursor_secret=NEW_CURSOR)
        assert names(list_page(http, retired, token, new_cursor)) == ["Charlie"]
        assert_problem(list_page(http, retired, token, old_cursor), 400, "invalid_parameter", "cursor")


# --------------------------------------------------------------------------- settings


class TestSecretSettings:
    def test_several_secrets_are_separated_by_commas_or_whitespace(self) -> None:
        settings = load_settings(
            {"EDM_JWT_SECRET": f" {NEW},{OLD}\n", "EDM_CURSOR_SECRET": f"{NEW_CURSOR} {OLD_CURSOR}"}
        )
        assert settings.jwt_secrets == (NEW, OLD)
        assert settings.cursor_secrets == (NEW_CURSOR, OLD_CURSOR)

    @pytest.mark.parametrize("name", ["jwt_secret", "cursor_secret"])
    @pytest.mark.parametrize("value", [f"{NEW},short", f"short {NEW}", f"{NEW},{'x' * 31}"])
    def test_every_secret_must_be_32_bytes(self, tmp_path: Path, name: str, value: str) -> None:
        settings = replace(Settings(data_dir=tmp_path, jwt_secret=NEW, cursor_secret=NEW_CURSOR), **{name: value})
        with pytest.raises(SettingsError, match="at least 32 bytes"):
            settings.validate()

    def test_the_cursor_secret_is_generated_never_the_jwt_secret(self, tmp_path: Path) -> None:
        settings = Settings(data_dir=tmp_path, jwt_secret=NEW).with_secret()
        assert settings.cursor_secrets and NEW not in settings.cursor_secrets
        assert settings.cursor_secrets == Settings(data_dir=tmp_path, jwt_secret=OLD).with_secret().cursor_secrets

    def test_reading_secrets_without_generating_writes_nothing(self, tmp_path: Path) -> None:
        settings = Settings(data_dir=tmp_path / "data").with_secret(generate=False)
        assert settings.jwt_secrets == () and settings.cursor_secrets == ()
        assert not (tmp_path / "data").exists()
