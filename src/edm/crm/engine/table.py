"""A resource's tables, derived from its declaration.

The migrations create them (frozen snapshots, not this code);
``tests/crm/test_schema.py`` checks that the migrated database has exactly
these columns for every registered resource.
"""

from __future__ import annotations

import sqlalchemy as sa

from edm.crm.engine.fields import Field
from edm.crm.engine.resource import Resource
from edm.kit.types import JSONDocument, UTCDateTime

__all__ = ["Tables", "metadata"]

metadata = sa.MetaData()

_TYPES: dict[str, sa.types.TypeEngine] = {
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
}
# Sort keys compare byte-wise on both databases.
_KEY_TYPE = sa.Text().with_variant(sa.Text(collation="C"), "postgresql")


def _column(field: Field) -> sa.Column:
    return sa.Column(field.name, _TYPES[field.kind], nullable=not field.never_null)


class Tables:
    """The records table of a resource (primary key ``(tenant_id, id)``) and its counters."""

    def __init__(self, resource: Resource, meta: sa.MetaData = metadata) -> None:
        self.records = sa.Table(
            resource.name,
            meta,
            *(_column(f) for f in resource.fields),
            # Internal, never rendered: what sort=<field> orders by when the field has a sort key.
            *(sa.Column(f.sort_column, _KEY_TYPE, nullable=not f.never_null) for f in resource.fields if f.sort_key),
            sa.PrimaryKeyConstraint("tenant_id", "id", name=f"{resource.name}_pkey"),
        )
        self.columns = tuple(self.records.c[f.name] for f in resource.fields)
        # How many rows each tenant and app has, live and deleted: written only
        # by database triggers (see the migrations), read by unfiltered include_total.
        self.counts = (
            sa.Table(
                resource.counts_table_name,
                meta,
                sa.Column("tenant_id", sa.Text(), nullable=False),
                sa.Column("app_key", sa.Text(), nullable=False),  # the app id, or "" for rows of human callers
                sa.Column("is_deleted", sa.Boolean(), nullable=False),
                sa.Column("shard", sa.SmallInteger(), nullable=False),
                sa.Column("n", sa.BigInteger(), nullable=False),
                sa.PrimaryKeyConstraint(
                    "tenant_id", "app_key", "is_deleted", "shard", name=f"{resource.counts_table_name}_pkey"
                ),
            )
            if resource.counted
            else None
        )
