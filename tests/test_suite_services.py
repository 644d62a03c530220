"""The suite itself on a machine without PostgreSQL (docs/development.md): its
PostgreSQL tests are skipped with one reason, unless EDM_TEST_REQUIRE says
PostgreSQL must be there.  Each case runs pytest on tests/kit/test_pg.py (three
PostgreSQL tests, six on both databases) in a subprocess, with PostgreSQL at a
closed port; the last one runs it on the real PostgreSQL with a budget of one
connection."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import services
from tests.processes import free_port

ROOT = Path(__file__).resolve().parent.parent


def _pytest(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    closed = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"
    environment = {**os.environ, "EDM_TEST_DATABASE_URL": closed, "EDM_TEST_REQUIRE": "", **env}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/kit/test_pg.py", *args]
    return subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120, check=False)


def test_without_postgresql_its_tests_are_skipped_with_one_line() -> None:
    run = _pytest()
    assert run.returncode == 0, run.stdout + run.stderr
    skipped = [line for line in run.stdout.splitlines() if line.startswith("SKIPPED")]
    assert len(skipped) == 1, run.stdout
    assert skipped[0].startswith("SKIPPED [6] ") and "PostgreSQL at 127.0.0.1:" in skipped[0], skipped
    assert "unreachable" in skipped[0] and "EDM_TEST_DATABASE_URL" in skipped[0], skipped
    assert "3 passed, 6 skipped" in run.stdout
    assert "ConnectionRefusedError" not in run.stdout.replace("unreachable (ConnectionRefusedError)", "")


def test_required_postgresql_that_is_missing_fails_the_run_at_once() -> None:
    run = _pytest(EDM_TEST_REQUIRE="redis,postgres")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "EDM_TEST_REQUIRE=postgres: PostgreSQL at 127.0.0.1:" in run.stdout + run.stderr
    assert "passed" not in run.stdout


def test_a_misspelt_service_is_an_error_not_a_silent_skip() -> None:
    run = _pytest(EDM_TEST_REQUIRE="postgresql")
    assert run.returncode != 0
    assert "EDM_TEST_REQUIRE names postgresql; known: all, postgres, redis, redis_server, chromium, nats" in run.stderr


def test_not_postgres_selects_the_sqlite_tests_without_touching_postgresql() -> None:
    run = _pytest("-m", "not postgres", EDM_TEST_REQUIRE="postgres")  # required, yet never needed
    assert run.returncode == 0, run.stdout + run.stderr
    assert "3 passed, 6 deselected" in run.stdout


@pytest.mark.postgres
def test_more_postgresql_connections_than_the_budget_fail_the_run() -> None:
    run = _pytest("-k", "extreme and postgresql", EDM_TEST_DATABASE_URL=services.pg_admin_url(), EDM_TEST_PG_BUDGET="1")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "3 passed" in run.stdout  # on the main PostgreSQL server, which holds 4 connections
    assert "(budget 1), first during tests/kit/test_pg.py::" in run.stdout
    assert "PostgreSQL connections: OVER BUDGET; failing the run" in run.stdout
