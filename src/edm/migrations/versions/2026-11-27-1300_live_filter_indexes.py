"""PostgreSQL: the equality-filter indexes cover live rows only

A filtered ``include_total`` (``filter[lifecycle_stage]=customer`` on a
1M-row tenant, about 200,000 matches) walked the partial index of live rows
and checked each row's stage in the heap: 407 ms and 59,599 pages.  With
``(tenant_id, lifecycle_stage) WHERE NOT is_deleted`` it is an index-only
scan: 18 ms and no heap fetches.  Live rows are what every list reads unless
it asks for ``include_deleted``, which then filters through the other
tenant-leading indexes.  SQLite keeps its full indexes.

Revision ID: 2026_11_27_1300
Revises: 2026_11_27_1200
Create Date: 2026-11-27 13:00:00
"""

from alembic import op

revision = "2026_11_27_1300"
down_revision = "2026_11_27_1200"
branch_labels = None
depends_on = None

COLUMNS = ("lifecycle_stage", "industry", "domain")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for column in COLUMNS:
        op.execute(f"CREATE INDEX accounts_tenant_{column}_live ON accounts (tenant_id, {column}) WHERE NOT is_deleted")
        op.drop_index(f"accounts_tenant_{column}", "accounts")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for column in COLUMNS:
        op.create_index(f"accounts_tenant_{column}", "accounts", ["tenant_id", column])
        op.drop_index(f"accounts_tenant_{column}_live", "accounts")
