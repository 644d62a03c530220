"""The ``edm`` command: ``serve``, ``worker``, ``migrate``, ``token`` and ``events tail``."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import sys
import time
from pathlib import Path
from typing import NoReturn

import jwt
import typer

from edm.kit.settings import SECRET_FILE, Settings, SettingsError, load_settings

app = typer.Typer(add_completion=False, no_args_is_help=True, help="EDM: the multi-tenant CRM data service.")


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"edm {version('edm')}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """EDM: the multi-tenant CRM data service."""


def _fail(message: str) -> NoReturn:
    typer.echo(f"edm: {message}", err=True)
    raise typer.Exit(2)


def _settings(*, generate_secrets: bool = False, to_sign_tokens: bool = False) -> Settings:
    """The validated settings.  Only ``edm serve`` may generate the data directory's
    secrets; ``edm token`` must find an HS256 secret the server shares, not invent one."""
    try:
        settings = load_settings().with_secret(generate=generate_secrets)
        if to_sign_tokens and not settings.jwt_secrets:
            _fail(_no_secret_message(settings))
        settings.validate()
    except SettingsError as exc:
        _fail(str(exc))
    return settings


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, min=1, max=65535, help="Port to listen on (1–65535)."),
    workers: int = typer.Option(1, min=1, help="Worker processes (one per core is a good start)."),
    database_url: str | None = typer.Option(None, help="Overrides EDM_DATABASE_URL."),
) -> None:
    """Apply migrations, then serve the API (SIGTERM: finish requests in flight, up to 30 s, then exit 0)."""
    from edm.server import serving

    _check_host(host)
    if database_url:
        os.environ["EDM_DATABASE_URL"] = database_url  # the workers read the same settings
    settings = _settings(generate_secrets=True)
    _banner(settings, host, port)
    if not settings.migrate_on_start and not _migrate(settings, wait=True):
        # The workers bring the schema up to date once the database answers.
        os.environ["EDM_MIGRATE_ON_START"] = "true"
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # The workers share one metrics directory, so /metrics answers for all of them.
        metrics_dir = settings.data_dir.resolve() / f"metrics-{port}"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    serving.run(
        serving.server_config(
            "edm.server.app:create_app", factory=True, host=host, port=port, workers=workers, log_level=settings.log_level
        )
    )


@app.command()
def worker(
    database_url: str | None = typer.Option(None, help="Overrides EDM_DATABASE_URL."),
    metrics_port: int | None = typer.Option(None, help="Serve the webhook metrics at /metrics on this port."),
    metrics_host: str = typer.Option("127.0.0.1", help="The address --metrics-port listens on."),
) -> None:
    """Deliver webhooks (fan change events out to endpoints and send them) and, with EDM_NATS_URL,
    publish every event to NATS JetStream (SIGTERM/Ctrl-C: stop)."""
    import asyncio

    from edm.server.observability import configure_logging
    from edm.server.worker import run_worker

    if database_url:
        os.environ["EDM_DATABASE_URL"] = database_url
    try:
        settings = load_settings()
        settings.validate_database()
    except SettingsError as exc:
        _fail(str(exc))
    configure_logging(settings.log_level)
    nats = f", publishing to NATS at {settings.nats_url}" if settings.nats_url else ""
    typer.echo(f"edm: worker (webhooks{nats}) on database {_shown_database(settings)}", err=True)
    if metrics_port is not None:
        from prometheus_client import start_http_server

        start_http_server(metrics_port, addr=metrics_host)
    import signal

    async def until_stopped() -> None:
        # SIGTERM cancels the worker as Ctrl-C does: it records what it has sent, and leases cover sends cut short.
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        await run_worker(settings)

    with contextlib.suppress(KeyboardInterrupt, asyncio.CancelledError):
        asyncio.run(until_stopped())


def _check_host(host: str) -> None:
    try:
        socket.getaddrinfo(host, None)
    except (OSError, UnicodeError):
        _fail(f"--host {host!r} is not an address or a name this machine can resolve")


def _banner(settings: Settings, host: str, port: int) -> None:
    shown = "localhost" if host in ("127.0.0.1", "0.0.0.0", "::", "::1") else host
    lines = [
        f"edm: database {_shown_database(settings)}",
        f"edm: data directory {settings.data_dir.resolve()}",
        f"edm: API reference http://{shown}:{port}/docs",
        "edm: a token for trying it: edm token --tenant acme --sub me   (in this directory, or with the same EDM_DATA_DIR)",
    ]
    typer.echo("\n".join(lines), err=True)


def _shown_database(settings: Settings) -> str:
    import sqlalchemy as sa

    if settings.is_sqlite:
        return f"SQLite {Path(sa.make_url(settings.resolved_database_url).database or '').resolve()}"
    return sa.make_url(settings.resolved_database_url).set(drivername="postgresql").render_as_string(hide_password=True)


@app.command()
def migrate(
    database_url: str | None = typer.Option(None, help="Overrides EDM_DATABASE_URL."),
) -> None:
    """Bring the database schema up to date, naming the database and the revisions applied."""
    try:
        settings = load_settings({**os.environ, **({"EDM_DATABASE_URL": database_url} if database_url else {})})
        settings.validate_database()
    except SettingsError as exc:
        _fail(str(exc))
    typer.echo(f"edm: database {_shown_database(settings)}", err=True)
    _migrate(settings)


def _migrate(settings, *, wait: bool = False) -> bool:  # type: ignore[no-untyped-def]
    """Apply pending migrations and say which.  Unreachable with ``wait``: say so and answer False."""
    from edm.kit.migrate import upgrade
    from edm.kit.web.problems import DATABASE_UNAVAILABLE

    try:
        applied = upgrade(settings)
    except Exception as exc:  # a clear line for the operator, not a traceback
        if wait and isinstance(exc, DATABASE_UNAVAILABLE):
            typer.echo(
                f"edm: the database is not reachable yet ({type(exc).__name__}); serving anyway: "
                "requests and /readyz answer 503 until it is, then the schema is brought up to date",
                err=True,
            )
            return False
        typer.echo(f"edm: cannot migrate the database: {type(exc).__name__}: {exc}", err=True)
        raise typer.Exit(1) from None
    if applied:
        typer.echo(f"edm: applied {len(applied)} migration(s): {', '.join(applied)}; the schema is up to date", err=True)
    else:
        typer.echo("edm: the schema was already up to date; nothing applied", err=True)
    return True


@app.command()
def token(
    tenant: str = typer.Option(..., help="The tenant_id claim."),
    sub: str = typer.Option(..., help="The sub claim (who is calling)."),
    app_id: str | None = typer.Option(None, "--app", help="The app_id claim, for integration keys."),
    scope: str | None = typer.Option(None, help="Space-separated scopes; none means a human session."),
    ttl: int = typer.Option(3600, min=1, help="Seconds until the token expires."),
) -> None:
    """Print a token signed with the server's HS256 secret (EDM_JWT_SECRET, else EDM_DATA_DIR/jwt-secret)."""
    settings = _settings(to_sign_tokens=True)
    now = int(time.time())
    claims = {"sub": sub, "tenant_id": tenant, "iat": now, "exp": now + ttl}
    if app_id:
        claims["app_id"] = app_id
    if scope is not None:
        claims["scope"] = scope
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience[0]
    sys.stdout.write(jwt.encode(claims, settings.jwt_secrets[0], algorithm="HS256") + "\n")


def _no_secret_message(settings: Settings) -> str:
    stored = settings.data_dir.resolve() / SECRET_FILE
    found = "holds no secret" if stored.exists() else "does not exist"
    message = (
        f"no HS256 secret to sign with: EDM_JWT_SECRET is not set and {stored} {found}.\n"
        "A token must be signed with a secret the server accepts: set EDM_JWT_SECRET to the server's,"
        " or EDM_DATA_DIR to the server's data directory (where `edm serve` keeps jwt-secret)."
    )
    if settings.jwks_url or settings.jwks_file:
        message += "\nA server with only a JWKS takes tokens from its identity provider, not from edm token."
    return message


events_app = typer.Typer(no_args_is_help=True, help="Follow the change feed.")
app.add_typer(events_app, name="events")


@events_app.command("tail")
def events_tail(
    resource: str = typer.Option("accounts", help="The resource whose feed to follow."),
    url: str = typer.Option(None, "--url", envvar="EDM_BASE_URL", help="The API's base URL (EDM_BASE_URL)."),
    token: str = typer.Option(None, "--token", envvar="EDM_TOKEN", help="A bearer token (EDM_TOKEN)."),
    after: str | None = typer.Option(None, "--after", help="Resume after this cursor (default: the first event)."),
    interval: float = typer.Option(1.0, min=0.05, help="Seconds between polls once caught up."),
) -> None:
    """Print the feed's events, one JSON line each, and keep following until Ctrl-C (docs/nats.md)."""
    import httpx

    if not url or not token:
        _fail("edm events tail needs --url and --token (or EDM_BASE_URL and EDM_TOKEN)")
    path = f"/api/v1/crm/{resource}/events"
    wait = interval
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
        try:
            while True:
                try:
                    response = http.get(path, params={"after": after} if after else {})
                except httpx.TransportError as exc:
                    typer.echo(f"edm: {url} did not answer ({type(exc).__name__}); retrying in {wait:.0f} s", err=True)
                    time.sleep(wait)
                    wait = min(wait * 2, 30)
                    continue
                if response.status_code >= 400:
                    _fail(f"GET {path} answered {response.status_code}: {response.text[:300]}")
                wait = interval
                page = response.json()
                for event in page["data"]:
                    sys.stdout.write(json.dumps(event, separators=(",", ":")) + "\n")
                sys.stdout.flush()
                after = page.get("next_cursor") or after
                if not page["data"]:
                    time.sleep(interval)
        except KeyboardInterrupt:
            if after:
                typer.echo(f"edm: stopped; resume with --after {after}", err=True)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
