"""Alembic, configured from our settings (no alembic.ini needed at run time)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from edm.kit.settings import Settings

__all__ = ["alembic_config", "upgrade"]

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(settings: Settings) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("file_template", "%%(year)d-%%(month).2d-%%(day).2d-%%(hour).2d%%(minute).2d_%%(slug)s")
    config.attributes["database_url"] = settings.resolved_database_url
    config.attributes["app_role"] = settings.db_app_role  # the role the 1600 migration grants to
    return config


def upgrade(settings: Settings, revision: str = "head") -> list[str]:
    """Bring the database to ``revision``; safe to run from several processes at once.

    Answers the revisions applied, oldest first (none: it was up to date)."""
    from edm.kit.db import Database

    Database(settings)  # creates the SQLite data directory when needed
    applied: list[str] = []
    config = alembic_config(settings)
    config.attributes["on_version_apply"] = lambda *, step, **_: applied.append(step.up_revision_id)
    command.upgrade(config, revision)
    return applied
