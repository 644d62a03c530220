"""The README's tour runs verbatim against a live ``edm serve``.

Its ```sh blocks run in order in one bash session (``set -euo pipefail``),
its ```python blocks after them in one Python process started from that
session, exactly as a reader would paste them, in a scratch directory where
``edm serve`` runs on SQLite (so ``./.edm`` holds its secret, as in the
README). Two things differ from a reader's machine, and only these:

* the server listens on a free port, and every ``http://127.0.0.1:8000`` in
  the blocks is replaced by its URL;
* ``.venv`` in the scratch directory is a link to the virtual environment
  running the tests, so ``.venv/bin/edm`` and ``.venv/bin/python`` are ours.

A block preceded by ``<!-- test_readme: not run (REASON) -->`` is skipped
(the install commands). After the blocks, this test reads the records the
tour left behind through the API and checks they are what the tour says.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.processes import EDM, clean_env, edm_serve

README = Path(__file__).resolve().parents[1] / "README.md"
README_URL = "http://127.0.0.1:8000"
SKIP_MARK = "<!-- test_readme: not run"
VENV = Path(sys.executable).parent.parent
ACCOUNTS = "/api/v1/crm/accounts"

_BLOCK = re.compile(
    r"^(?P<mark><!-- test_readme: not run[^\n]*-->\n)?```(?P<lang>sh|python)\n(?P<code>.*?)^```$",
    re.MULTILINE | re.DOTALL,
)


def readme_blocks(text: str) -> list[tuple[str, str]]:
    """(language, code) of every ```sh and ```python block meant to run, in order."""
    return [(m["lang"], m["code"]) for m in _BLOCK.finditer(text) if not m["mark"]]


def tour_script(text: str, url: str) -> str:
    """One bash script: the sh blocks, then the python blocks in one ``.venv/bin/python``."""
    blocks = [
        (lang, code.replace(README_URL, url)) for lang, code in readme_blocks(text)
    ]
    shell = [code for lang, code in blocks if lang == "sh"]
    python = "\n".join(code for lang, code in blocks if lang == "python")
    assert "TOUR_PY" not in python
    return "\n".join(
        [
            "set -euo pipefail",
            *(f"echo '### sh block {n}'\n{code}" for n, code in enumerate(shell, 1)),
            "echo '### python'",
            f".venv/bin/python - <<'TOUR_PY'\n{python}TOUR_PY",
            'echo "### id $ID"',
        ]
    )


def _run_tour(script: str, workdir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", script], check=False, cwd=workdir, env=clean_env(), capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """``edm serve`` as the README starts it, in an empty directory."""
    (tmp_path / ".venv").symlink_to(VENV, target_is_directory=True)
    with edm_serve(EDM, cwd=tmp_path) as (url, _):
        yield url, tmp_path


def test_the_readme_has_a_tour_in_both_languages() -> None:
    blocks = readme_blocks(README.read_text())
    assert {lang for lang, _ in blocks} == {"sh", "python"}
    skipped = README.read_text().count(SKIP_MARK)
    assert skipped == 2, "only the two install commands are left out of the tour"


def test_the_readme_tour_runs_verbatim(served: tuple[str, Path]) -> None:
    url, workdir = served
    script = tour_script(README.read_text(), url)
    result = _run_tour(script, workdir)
    output = result.stdout
    assert result.returncode == 0, (
        f"a README example failed:\n{output[-4000:]}\n{result.stderr[-4000:]}"
    )
    assert "README_URL" not in output and README_URL not in script

    globex_id = re.search(r"^### id (acc_\w{26})$", output, re.MULTILINE)
    assert globex_id, output
    token = subprocess.run(
        [str(EDM), "token", "--tenant", "acme", "--sub", "usr-1"],
        cwd=workdir,
        env=clean_env(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"})

    # the curl tour: Globex created, patched once (the second, stale patch refused), deleted and restored
    globex = client.get(f"{ACCOUNTS}/{globex_id[1]}").json()
    assert (globex["name"], globex["industry"], globex["custom_fields"]) == (
        "Globex",
        "Manufacturing",
        {"tier": "gold"},
    )
    assert (
        globex["is_deleted"] is False and globex["version"] == 4
    )  # create, patch, delete, restore
    shell, python = output.split("### python\n")
    python = python[: python.index("### id ")]
    assert '"code":"precondition_failed"' in shell and '"current_version":2' in shell
    assert shell.lower().count("idempotent-replayed: true") == 1
    assert (
        '"total":2' in shell and globex_id[1] in shell and '"is_deleted":true' in shell
    )

    # the Python tour: Acme updated, the stale update refused, one Hooli, a walk over pages, delete and restore
    assert python.splitlines()[:3] == [
        "Acme",
        "stale write refused; the account is at version 2",
        "True",
    ]
    assert python.splitlines()[-2:] == ["True", "False"]
    names = sorted(
        a["name"] for a in client.get(ACCOUNTS, params={"limit": 200}).json()["data"]
    )
    assert names == ["Acme", "Globex", "Hooli", "Initech"]
    acme = client.get(ACCOUNTS, params={"filter[name]": "Acme"}).json()["data"][0]
    assert (acme["industry"], acme["is_deleted"], acme["version"]) == (
        "Retail",
        False,
        4,
    )


def test_a_broken_example_fails_the_tour(served: tuple[str, Path]) -> None:
    """The tour is a real check: an example that fails stops it."""
    url, workdir = served
    broken = README.read_text().replace("| field id)", "| field identifier)", 1)
    assert broken != README.read_text()
    result = _run_tour(tour_script(broken, url), workdir)
    assert result.returncode != 0 and "### python" not in result.stdout
