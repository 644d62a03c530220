"""The ``edm`` command's entry point (also ``python -m edm``).

``pip install edm`` is the SDK alone, without the server's packages (typer,
SQLAlchemy, uvicorn…) that ``edm.cli`` imports.  There ``edm --version``
still answers, and ``edm serve|migrate|token`` say in one line how to get the
server instead of printing an ``ImportError`` traceback.  With the server
installed, everything is ``edm.cli``'s.
"""

from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError, version

SERVER_NEEDED = "this needs the server: pip install 'edm[server]'"
USAGE = """Usage: edm [--version] COMMAND

EDM: the multi-tenant CRM data service.  This is a client-only install (the Python SDK).

Commands (need the server: pip install 'edm[server]'):
  serve    Apply migrations, then serve the API.
  migrate  Bring the database schema up to date.
  token    Print a token signed with the server's HS256 secret."""


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    try:
        from edm import cli
    except ModuleNotFoundError as missing:
        if _is_ours(missing):
            raise  # a bug in the package, not a missing extra
        sys.exit(_client_only(args, missing))
    try:
        cli.main()
    except ModuleNotFoundError as missing:  # a command's own lazy import (e.g. edm.server's uvicorn)
        if _is_ours(missing):
            raise
        sys.exit(_needs_server(args, missing))


def _client_only(args: list[str], missing: ModuleNotFoundError) -> int:
    if args in ([], ["--help"], ["-h"]):
        print(USAGE)
        return 0 if args else 2
    if args == ["--version"]:
        print(f"edm {_version()}")
        return 0
    return _needs_server(args, missing)


def _needs_server(args: list[str], missing: ModuleNotFoundError) -> int:
    command = next((arg for arg in args if not arg.startswith("-")), "")
    where = f"edm {command}" if command else "edm"
    print(f"{where}: {SERVER_NEEDED} ({missing.name} is not installed)", file=sys.stderr)
    return 2


def _is_ours(error: ModuleNotFoundError) -> bool:
    return (error.name or "").split(".")[0] == "edm"


def _version() -> str:
    try:
        return version("edm")
    except PackageNotFoundError:  # run from a source tree that is not installed
        from edm import __version__

        return __version__


if __name__ == "__main__":
    main()
