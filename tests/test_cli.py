"""The ``edm`` command as a new user runs it: no configuration at all."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ACCOUNTS
from tests.processes import EDM, clean_env, edm_serve, free_port

NEW_SECRET = "new-hs256-secret-that-is-long-enough-111"
OLD_SECRET = "old-hs256-secret-that-is-long-enough-000"


def _edm(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EDM, *args], cwd=cwd, env=env or clean_env(), capture_output=True, text=True, timeout=60)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    with edm_serve(EDM, "--workers", "2", cwd=tmp_path) as (url, _):
        yield url, tmp_path


def test_serve_and_token_work_with_no_setup(served: tuple[str, Path]) -> None:
    url, workdir = served
    assert (workdir / ".edm" / "edm.sqlite3").exists()
    stored = {name: (workdir / ".edm" / name).read_text().strip() for name in ("jwt-secret", "cursor-secret")}
    assert all(len(secret) >= 32 for secret in stored.values()) and stored["jwt-secret"] != stored["cursor-secret"]
    token = _edm("token", "--tenant", "acme", "--sub", "usr-1", cwd=workdir)
    assert token.returncode == 0, token.stderr
    assert token.stdout.count("\n") == 1 and token.stdout.count(".") == 2
    client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token.stdout.strip()}"})
    created = client.post(ACCOUNTS, json={"name": "Acme"})
    assert created.status_code == 201
    account_id = created.json()["id"]
    assert client.get(f"{ACCOUNTS}/{account_id}").json()["tenant_id"] == "acme"
    assert client.patch(f"{ACCOUNTS}/{account_id}", json={"industry": "Retail"}).json()["version"] == 2
    assert client.delete(f"{ACCOUNTS}/{account_id}").status_code == 204
    assert client.get(f"{ACCOUNTS}/{account_id}").status_code == 404


def test_token_claims_follow_the_options(tmp_path: Path) -> None:
    import jwt

    data_dir = tmp_path / "server-data"  # what `edm serve` generated, and rotated by hand: the first signs
    data_dir.mkdir()
    (data_dir / "jwt-secret").write_text(f"{NEW_SECRET}\n{OLD_SECRET}\n")
    options = ["--tenant", "t", "--sub", "s", "--app", "a", "--scope", "crm.accounts.read", "--ttl", "60"]
    result = _edm("token", *options, cwd=tmp_path, env=clean_env(EDM_DATA_DIR=str(data_dir)))
    assert result.returncode == 0, result.stderr
    claims = jwt.decode(result.stdout.strip(), NEW_SECRET, algorithms=["HS256"])
    assert (claims["tenant_id"], claims["sub"], claims["app_id"], claims["scope"]) == ("t", "s", "a", "crm.accounts.read")
    assert 55 <= claims["exp"] - time.time() <= 61


def test_token_signs_with_the_first_of_several_secrets(tmp_path: Path) -> None:
    import jwt

    env = clean_env(EDM_JWT_SECRET=f"{NEW_SECRET}, {OLD_SECRET}")
    result = _edm("token", "--tenant", "t", "--sub", "s", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert jwt.decode(result.stdout.strip(), NEW_SECRET, algorithms=["HS256"])["tenant_id"] == "t"
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(result.stdout.strip(), OLD_SECRET, algorithms=["HS256"])
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("data_dir", [None, "elsewhere/data"])
def test_token_without_a_secret_fails_clearly_and_creates_nothing(tmp_path: Path, data_dir: str | None) -> None:
    env = clean_env(**({"EDM_DATA_DIR": data_dir} if data_dir else {}))
    result = _edm("token", "--tenant", "t", "--sub", "s", cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert result.stdout == ""
    looked_at = (tmp_path / (data_dir or ".edm") / "jwt-secret").resolve()
    assert str(looked_at) in result.stderr
    assert "EDM_JWT_SECRET" in result.stderr and "EDM_DATA_DIR" in result.stderr
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_migrate_creates_no_secret(tmp_path: Path) -> None:
    result = _edm("migrate", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(path.name for path in (tmp_path / ".edm").iterdir()) == ["edm.sqlite3"]


def test_short_secret_refuses_to_start(tmp_path: Path) -> None:
    result = _edm("serve", "--port", str(free_port()), cwd=tmp_path, env=clean_env(EDM_JWT_SECRET="too-short"))
    assert result.returncode == 2
    assert "at least 32 bytes" in result.stderr


def test_migrate_on_postgresql_is_repeatable(tmp_path: Path, postgres_url: str) -> None:
    env = clean_env(EDM_DATABASE_URL=postgres_url)
    for _ in range(2):
        result = _edm("migrate", cwd=tmp_path, env=env)
        assert result.returncode == 0, result.stderr


def test_unreachable_database_is_a_clear_error(tmp_path: Path) -> None:
    result = _edm("migrate", cwd=tmp_path, env=clean_env(EDM_DATABASE_URL="postgresql://postgres@127.0.0.1:1/x"))
    assert result.returncode == 1
    first, second = result.stderr.splitlines()[:2]
    assert first == "edm: database postgresql://postgres@127.0.0.1:1/x"
    assert second.startswith("edm: cannot migrate the database") and "Traceback" not in result.stderr


def test_version_prints_the_package_version(tmp_path: Path) -> None:
    from edm import __version__

    result = _edm("--version", cwd=tmp_path)
    assert result.returncode == 0 and result.stdout == f"edm {__version__}\n"


@pytest.mark.parametrize("option", [["--port", "99999"], ["--port", "0"], ["--host", "no-such-host.invalid"]])
def test_serve_refuses_a_bad_port_or_host_at_once(tmp_path: Path, option: list[str]) -> None:
    began = time.monotonic()
    result = _edm("serve", *option, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert option[0] in result.stderr and "running on" not in result.stderr.lower()
    assert time.monotonic() - began < 10
    assert list(tmp_path.iterdir()) == []  # nothing created, nothing listening


def test_migrate_names_the_database_and_the_revisions_it_applied(tmp_path: Path) -> None:
    from edm.kit.migrate import MIGRATIONS

    revisions = sorted(path.name.split("_")[0] for path in (MIGRATIONS / "versions").glob("*.py"))
    first = _edm("migrate", "--database-url", "sqlite:///chosen.sqlite3", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert f"database SQLite {tmp_path.resolve() / 'chosen.sqlite3'}" in first.stderr
    assert f"applied {len(revisions)} migration(s)" in first.stderr and "2026_11_27_0700" in first.stderr
    again = _edm("migrate", "--database-url", "sqlite:///chosen.sqlite3", cwd=tmp_path)
    assert again.returncode == 0 and "already up to date; nothing applied" in again.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["chosen.sqlite3"]


def test_serve_says_where_the_data_and_the_docs_are(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [EDM, "serve", "--port", str(port)], cwd=tmp_path, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                    break
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.1)
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0].decode()
    assert f"database SQLite {tmp_path.resolve() / '.edm' / 'edm.sqlite3'}" in output
    assert f"data directory {tmp_path.resolve() / '.edm'}" in output
    assert f"http://localhost:{port}/docs" in output and "edm token --tenant" in output
