"""account_counts: TRUNCATE accounts empties the counters too

``TRUNCATE`` fires no row or DELETE triggers, so without this the counters
of migration 1200 would outlive the rows.  SQLite has no TRUNCATE (a DELETE
without WHERE fires the row triggers).

Revision ID: 2026_11_27_1400
Revises: 2026_11_27_1300
Create Date: 2026-11-27 14:00:00
"""

from alembic import op

revision = "2026_11_27_1400"
down_revision = "2026_11_27_1300"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION account_counts_truncated() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN DELETE FROM account_counts; RETURN NULL; END $$"
        )
        op.execute(
            "CREATE TRIGGER account_counts_truncated AFTER TRUNCATE ON accounts "
            "FOR EACH STATEMENT EXECUTE FUNCTION account_counts_truncated()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS account_counts_truncated ON accounts")
        op.execute("DROP FUNCTION IF EXISTS account_counts_truncated()")
