"""create accounts

Revision ID: 2026_11_27_0700
Revises:
Create Date: 2026-11-27 07:00:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB


# A frozen copy of edm.kit.types.UTCDateTime's storage: timestamptz on
# PostgreSQL, fixed-width text ``YYYY-MM-DDTHH:MM:SS.mmmZ`` on SQLite.
def UTCDateTime() -> sa.types.TypeEngine:  # noqa: N802
    return sa.DateTime(timezone=True).with_variant(sa.String(24), "sqlite")

revision = "2026_11_27_0700"
down_revision = None
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("app_id", sa.Text()),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("updated_by", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("source_type", sa.Text(), nullable=False),
        sa.Column("is_deleted", sa.Boolean(), nullable=False),
        sa.Column("deleted_at", UTCDateTime()),
        sa.Column("deleted_by", sa.Text()),
        sa.Column("schema_version", sa.BigInteger(), nullable=False),
        sa.Column("owner_id", sa.Text()),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("legal_name", sa.Text()),
        sa.Column("industry", sa.Text()),
        sa.Column("sub_industry", sa.Text()),
        sa.Column("lifecycle_stage", sa.Text()),
        sa.Column("lead_source", sa.Text()),
        sa.Column("health_score", sa.Text()),
        sa.Column("website", sa.Text()),
        sa.Column("domain", sa.Text()),
        sa.Column("phone", sa.Text()),
        sa.Column("addresses", JSON, nullable=False),
        sa.Column("annual_revenue", sa.Double()),
        sa.Column("employee_count", sa.BigInteger()),
        sa.Column("parent_account_id", sa.Text()),
        sa.Column("description", sa.Text()),
        sa.Column("last_activity_at", UTCDateTime()),
        sa.Column("first_contacted_at", UTCDateTime()),
        sa.Column("custom_fields", JSON, nullable=False),
        sa.Column("tags", JSON, nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="accounts_pkey"),
    )
    # Children of an account (hierarchy walks, "under" filters).
    op.create_index("accounts_tenant_parent", "accounts", ["tenant_id", "parent_account_id"])


def downgrade() -> None:
    op.drop_table("accounts")
