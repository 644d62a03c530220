"""Settings, read once from ``EDM_*`` environment variables.

The README's settings table lists each one; keep the two in step.
"""

from __future__ import annotations

import math
import os
import re
import secrets
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

__all__ = ["Settings", "SettingsError", "load_settings", "database_url_for_driver"]

MIN_SECRET_BYTES = 32
SECRET_FILE = "jwt-secret"
CURSOR_SECRET_FILE = "cursor-secret"
DEFAULT_DB_APP_ROLE = "edm_app"
# A plain identifier, so that it reads the same quoted or not (PostgreSQL's limit is 63 bytes).
_ROLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
# A JetStream stream name, and a subject token, that need no escaping anywhere.
_NATS_NAME = re.compile(r"[A-Za-z0-9_-]{1,32}")


class SettingsError(ValueError):
    """A setting is missing or wrong; the service refuses to start."""


def _bool(value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"not a boolean: {value!r}")


def _list(value: str | None) -> tuple[str, ...]:
    return tuple(part for part in (value or "").replace(",", " ").split() if part)


def _create_secret_file(path: Path) -> None:
    """Write a new random secret to ``path`` unless one is there; no reader sees it half-written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, draft = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")  # mode 0600
    try:
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(48) + "\n")
        os.link(draft, path)  # atomic, and refuses to replace one another process made first
    except FileExistsError:
        pass
    finally:
        os.unlink(draft)


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path(".edm")
    database_url: str = ""  # empty: SQLite inside data_dir
    # Several secrets may be given, separated by commas or whitespace: the first signs, all verify.
    jwt_secret: str | None = None
    cursor_secret: str | None = None
    jwks_url: str | None = None
    jwks_file: str | None = None
    jwt_algorithms: tuple[str, ...] = ()  # empty: derived from the keys configured
    jwt_issuer: str | None = None
    jwt_audience: tuple[str, ...] = ()
    jwt_leeway_seconds: int = 60
    jwks_min_refresh_seconds: float = 30.0
    jwks_refresh_seconds: float = 30.0
    jwks_max_stale_seconds: float = 3600.0
    require_if_match: bool = False
    db_pool_size: int = 4
    db_tenant_share: int = 0  # 0: half the pool, rounded up
    db_deadline_ms: int = 4_500
    statement_timeout_ms: int = 4_000
    migrate_on_start: bool = False
    db_app_role: str = DEFAULT_DB_APP_ROLE  # the PostgreSQL role requests run as (docs/database.md)
    log_level: str = "info"
    redis_url: str | None = None  # rate-limit buckets shared through Redis; None: in process
    redis_key_prefix: str = "edm:"
    redis_timeout_ms: int = 100
    rate_limit_per_s: float = 100.0
    rate_limit_burst: int = 200
    # Events are published to NATS JetStream when set (docs/nats.md).
    nats_url: str | None = None
    nats_stream: str = "EDM"
    nats_subject_prefix: str = "edm"
    # Webhooks (docs/webhooks.md)
    webhooks_allow_private: bool = False  # http and private addresses too: development and tests only
    webhooks_retry_base_s: float = 10.0  # a failed delivery waits base·2ⁿ s (±25 %, at most 6 h)
    webhooks_retry_for_s: float = 3 * 86_400.0  # retried this long; an endpoint failing this long is disabled
    webhooks_in_process: bool | None = None  # None: the worker runs inside `edm serve` on SQLite only

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "edm.sqlite3"

    @property
    def resolved_database_url(self) -> str:
        return database_url_for_driver(self.database_url or f"sqlite:///{self.sqlite_path}")

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def webhooks_worker_in_serve(self) -> bool:
        """Whether ``edm serve`` runs the webhook worker itself (always on the embedded SQLite default)."""
        return self.is_sqlite if self.webhooks_in_process is None else self.webhooks_in_process

    @property
    def tenant_share(self) -> int:
        """Connections one tenant may hold at once in a worker."""
        return min(self.db_tenant_share or (self.db_pool_size + 1) // 2, self.db_pool_size)

    @property
    def jwt_secrets(self) -> tuple[str, ...]:
        return _list(self.jwt_secret)

    @property
    def cursor_secrets(self) -> tuple[str, ...]:
        return _list(self.cursor_secret)

    @property
    def algorithms(self) -> tuple[str, ...]:
        if self.jwt_algorithms:
            return self.jwt_algorithms
        algs: list[str] = []
        if self.jwt_secrets:
            algs.append("HS256")
        if self.jwks_url or self.jwks_file:
            algs += ["RS256", "ES256", "EdDSA"]
        return tuple(algs)

    def with_secret(self, *, generate: bool = True) -> Settings:
        """These settings with the secrets they lack read from the data directory.

        JWT secrets come from ``EDM_JWT_SECRET``, else the ``jwt-secret`` file; cursor
        secrets from ``EDM_CURSOR_SECRET``, else the ``cursor-secret`` file, never from
        the JWT secrets (rotating those must not void open cursors). With ``generate``
        (``edm serve``) a missing file is created, the JWT one only when no key set is
        configured; without it (``edm token``, ``edm migrate``) nothing is written.
        """
        settings = self
        if not self.jwt_secrets:
            generate_jwt = generate and not (self.jwks_url or self.jwks_file)
            settings = replace(settings, jwt_secret=self._data_dir_secret(SECRET_FILE, generate=generate_jwt))
        if not self.cursor_secrets:
            settings = replace(settings, cursor_secret=self._data_dir_secret(CURSOR_SECRET_FILE, generate=generate))
        return settings

    def _data_dir_secret(self, name: str, *, generate: bool) -> str | None:
        path = self.data_dir / name
        if generate and not path.exists():
            _create_secret_file(path)
        try:
            return path.read_text().strip() or None
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise SettingsError(f"cannot read {path}: {exc.strerror}") from None

    def validate(self) -> None:
        for setting, file, values in (
            ("EDM_JWT_SECRET", SECRET_FILE, self.jwt_secrets),
            ("EDM_CURSOR_SECRET", CURSOR_SECRET_FILE, self.cursor_secrets),
        ):
            if any(len(value.encode()) < MIN_SECRET_BYTES for value in values):
                raise SettingsError(
                    f"every secret in {setting} (or EDM_DATA_DIR/{file}) must be at least {MIN_SECRET_BYTES} bytes;"
                    " separate several with commas or whitespace"
                )
        for setting, seconds in (
            ("EDM_JWKS_REFRESH_SECONDS", self.jwks_refresh_seconds),
            ("EDM_JWKS_MAX_STALE_SECONDS", self.jwks_max_stale_seconds),
        ):
            if not (math.isfinite(seconds) and seconds > 0):
                raise SettingsError(f"{setting} must be a positive number of seconds")
        unknown = set(self.algorithms) - {"HS256", "RS256", "ES256", "EdDSA"}
        if unknown or "none" in {a.lower() for a in self.algorithms}:
            raise SettingsError(f"EDM_JWT_ALGORITHMS has unsupported values: {sorted(unknown)}")
        if "HS256" in self.algorithms and not self.jwt_secrets:
            raise SettingsError("HS256 is enabled but EDM_JWT_SECRET is not set")
        if set(self.algorithms) - {"HS256"} and not (self.jwks_url or self.jwks_file):
            raise SettingsError("asymmetric algorithms need EDM_JWKS_URL or EDM_JWKS_FILE")
        if not self.algorithms:
            raise SettingsError("no JWT keys configured: set EDM_JWT_SECRET or EDM_JWKS_URL/EDM_JWKS_FILE")
        self.validate_database()

    def validate_database(self) -> None:
        if self.db_pool_size < 1 or self.db_tenant_share < 0:
            raise SettingsError("EDM_DB_POOL_SIZE must be at least 1 and EDM_DB_TENANT_SHARE at least 0")
        if not 0 < self.statement_timeout_ms <= self.db_deadline_ms:
            raise SettingsError("EDM_STATEMENT_TIMEOUT_MS must be positive and at most EDM_DB_DEADLINE_MS")
        if not self.resolved_database_url.startswith(("sqlite+aiosqlite", "postgresql+asyncpg")):
            raise SettingsError("EDM_DATABASE_URL must be sqlite:///PATH or postgresql://…")
        if not _ROLE_NAME.fullmatch(self.db_app_role):
            raise SettingsError("EDM_DB_APP_ROLE must be a role name of letters, digits and _ (not starting with a digit)")
        if not (0 < self.rate_limit_per_s < float("inf")):
            raise SettingsError("EDM_RATE_LIMIT_PER_S must be a positive number")
        if self.redis_timeout_ms < 1:
            raise SettingsError("EDM_REDIS_TIMEOUT_MS must be at least 1")
        if self.rate_limit_burst < 1:
            raise SettingsError("EDM_RATE_LIMIT_BURST must be at least 1")
        if not (0 < self.webhooks_retry_base_s < float("inf") and 0 < self.webhooks_retry_for_s < float("inf")):
            raise SettingsError("EDM_WEBHOOKS_RETRY_BASE_S and EDM_WEBHOOKS_RETRY_FOR_S must be positive numbers of seconds")
        if self.redis_url and not self.redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise SettingsError("EDM_REDIS_URL must be redis://…, rediss://… or unix://…")
        self.validate_nats()

    def validate_nats(self) -> None:
        if self.nats_url and not all(
            url.strip().startswith(("nats://", "tls://", "ws://", "wss://")) for url in self.nats_url.split(",")
        ):
            raise SettingsError("EDM_NATS_URL must be nats://host:port (or tls://, ws://, wss://), several with commas")
        if not _NATS_NAME.fullmatch(self.nats_stream):
            raise SettingsError("EDM_NATS_STREAM must be letters, digits, - and _ (at most 32)")
        if not _NATS_NAME.fullmatch(self.nats_subject_prefix):
            raise SettingsError("EDM_NATS_SUBJECT_PREFIX must be letters, digits, - and _ (at most 32)")


def database_url_for_driver(url: str) -> str:
    """Point plain ``sqlite://`` and ``postgresql://`` URLs at the async drivers."""
    for plain, driver in (
        ("sqlite://", "sqlite+aiosqlite://"),
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgres://", "postgresql+asyncpg://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    return url


def load_settings(env: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ if env is None else env)
    get = env.get
    try:
        return Settings(
            data_dir=Path(get("EDM_DATA_DIR") or ".edm"),
            database_url=get("EDM_DATABASE_URL") or "",
            jwt_secret=get("EDM_JWT_SECRET") or None,
            cursor_secret=get("EDM_CURSOR_SECRET") or None,
            jwks_url=get("EDM_JWKS_URL") or None,
            jwks_file=get("EDM_JWKS_FILE") or None,
            jwt_algorithms=_list(get("EDM_JWT_ALGORITHMS")),
            jwt_issuer=get("EDM_JWT_ISSUER") or None,
            jwt_audience=_list(get("EDM_JWT_AUDIENCE")),
            jwt_leeway_seconds=int(get("EDM_JWT_LEEWAY_SECONDS") or 60),
            jwks_min_refresh_seconds=float(get("EDM_JWKS_MIN_REFRESH_SECONDS") or 30),
            jwks_refresh_seconds=float(get("EDM_JWKS_REFRESH_SECONDS") or 30),
            jwks_max_stale_seconds=float(get("EDM_JWKS_MAX_STALE_SECONDS") or 3600),
            require_if_match=_bool(get("EDM_REQUIRE_IF_MATCH")),
            db_pool_size=int(get("EDM_DB_POOL_SIZE") or 4),
            db_tenant_share=int(get("EDM_DB_TENANT_SHARE") or 0),
            db_deadline_ms=int(get("EDM_DB_DEADLINE_MS") or 4_500),
            statement_timeout_ms=int(get("EDM_STATEMENT_TIMEOUT_MS") or 4_000),
            migrate_on_start=_bool(get("EDM_MIGRATE_ON_START")),
            db_app_role=get("EDM_DB_APP_ROLE") or DEFAULT_DB_APP_ROLE,
            log_level=get("EDM_LOG_LEVEL") or "info",
            redis_url=get("EDM_REDIS_URL") or None,
            redis_key_prefix=get("EDM_REDIS_KEY_PREFIX") or "edm:",
            redis_timeout_ms=int(get("EDM_REDIS_TIMEOUT_MS") or 100),
            rate_limit_per_s=float(get("EDM_RATE_LIMIT_PER_S") or 100),
            rate_limit_burst=int(get("EDM_RATE_LIMIT_BURST") or 200),
            nats_url=get("EDM_NATS_URL") or None,
            nats_stream=get("EDM_NATS_STREAM") or "EDM",
            nats_subject_prefix=get("EDM_NATS_SUBJECT_PREFIX") or "edm",
            webhooks_allow_private=_bool(get("EDM_WEBHOOKS_ALLOW_PRIVATE")),
            webhooks_retry_base_s=float(get("EDM_WEBHOOKS_RETRY_BASE_S") or 10),
            webhooks_retry_for_s=float(get("EDM_WEBHOOKS_RETRY_FOR_S") or 3 * 86_400),
            webhooks_in_process=_bool(get("EDM_WEBHOOKS_IN_PROCESS")) if get("EDM_WEBHOOKS_IN_PROCESS") else None,
        )
    except ValueError as exc:
        raise SettingsError(str(exc)) from exc
