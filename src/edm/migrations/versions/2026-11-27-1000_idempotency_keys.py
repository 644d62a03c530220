"""idempotency keys

Revision ID: 2026_11_27_1000
Revises: 2026_11_27_0900
Create Date: 2026-11-27 10:00:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB


# A frozen copy of edm.kit.types.UTCDateTime's storage: timestamptz on
# PostgreSQL, fixed-width text ``YYYY-MM-DDTHH:MM:SS.mmmZ`` on SQLite.
def UTCDateTime() -> sa.types.TypeEngine:  # noqa: N802
    return sa.DateTime(timezone=True).with_variant(sa.String(24), "sqlite")

revision = "2026_11_27_1000"
down_revision = "2026_11_27_0900"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("app_key", sa.Text(), nullable=False),
        sa.Column("method", sa.Text(), nullable=False),
        sa.Column("route", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.Text(), nullable=False),
        sa.Column("status", sa.Integer()),
        sa.Column("body", sa.Text()),
        sa.Column("headers", sa.JSON().with_variant(JSONB(), "postgresql")),
        sa.Column("resource_id", sa.Text()),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "app_key", "method", "route", "key", name="idempotency_keys_pkey"),
    )
    op.create_index("idempotency_keys_expires_at", "idempotency_keys", ["expires_at"])
    op.create_index("idempotency_keys_tenant_resource", "idempotency_keys", ["tenant_id", "resource_id"])


def downgrade() -> None:
    op.drop_table("idempotency_keys")
