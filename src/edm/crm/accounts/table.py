"""The ``accounts`` table, derived from the field table.

The migrations create it; ``tests/crm/accounts/test_schema.py`` checks that
the migrated database has exactly these columns.
"""

from __future__ import annotations

import sqlalchemy as sa

from edm.crm.accounts.fields import FIELDS, Field
from edm.kit.types import JSONDocument, UTCDateTime

__all__ = ["metadata", "accounts", "account_counts", "COLUMNS", "name_key"]

# Server fields that every row has from its first write.
_ALWAYS_SET = {"id", "tenant_id", "created_at", "updated_at", "created_by", "updated_by", "is_deleted", "schema_version", "version"}


def _type(field: Field) -> sa.types.TypeEngine:
    return {
        "id": sa.Text(),
        "string": sa.Text(),
        "enum": sa.Text(),
        "boolean": sa.Boolean(),
        "integer": sa.BigInteger(),
        "number": sa.Double(),
        "date-time": UTCDateTime(),
        "addresses": JSONDocument,
        "custom_fields": JSONDocument,
        "tags": JSONDocument,
    }[field.kind]


def _column(field: Field) -> sa.Column:
    not_null = field.name in _ALWAYS_SET or field.required or field.default is not None
    return sa.Column(field.name, _type(field), nullable=not not_null)


metadata = sa.MetaData()
accounts = sa.Table(
    "accounts",
    metadata,
    *(_column(f) for f in FIELDS),
    # Internal, never rendered: the case-folded name that sort=name orders by,
    # compared byte-wise on both databases.
    sa.Column("name_key", sa.Text().with_variant(sa.Text(collation="C"), "postgresql"), nullable=False),
    sa.PrimaryKeyConstraint("tenant_id", "id", name="accounts_pkey"),
)
COLUMNS = tuple(accounts.c[f.name] for f in FIELDS)

# How many rows each tenant and app has, live and deleted: written only by the
# triggers of migration 2026-11-27-1200, read by unfiltered include_total.
account_counts = sa.Table(
    "account_counts",
    metadata,
    sa.Column("tenant_id", sa.Text(), nullable=False),
    sa.Column("app_key", sa.Text(), nullable=False),  # the app id, or "" for rows written by human callers
    sa.Column("is_deleted", sa.Boolean(), nullable=False),
    sa.Column("shard", sa.SmallInteger(), nullable=False),
    sa.Column("n", sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint("tenant_id", "app_key", "is_deleted", "shard", name="account_counts_pkey"),
)


def name_key(name: str) -> str:
    """What ``sort=name`` compares: case-insensitive, the same on every database."""
    return name.casefold()
