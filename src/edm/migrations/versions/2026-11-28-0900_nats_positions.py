"""The NATS publisher's place in the change feed

One row per JetStream stream the events are published to: the position
(transaction id on PostgreSQL, ``seq``) just after the last event JetStream
acked (docs/nats.md).  Not a tenant table: only the publisher, which runs as
the owner across tenants, reads and writes it, so the app role gets nothing.

Revision ID: 2026_11_28_0900
Revises: 2026_11_27_1700
Create Date: 2026-11-28 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "2026_11_28_0900"
down_revision = "2026_11_27_1700"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "nats_positions",
        sa.Column("stream", sa.Text(), primary_key=True),
        sa.Column("txid", sa.BigInteger(), nullable=True),  # PostgreSQL's xid8 as a number; NULL on SQLite
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("nats_positions")
