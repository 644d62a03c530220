"""webhooks: endpoints, deliveries, and the worker's position in the event table

* ``webhook_endpoints``: a tenant's subscriptions (URL, event types, the
  signing secret, enabled or disabled with a reason).
* ``webhook_deliveries``: one row per (endpoint, event), its state, the next
  attempt, the lease of the worker sending it, and a log of attempts.
* ``webhook_position``: where the fan-out stands in ``record_events``
  (PostgreSQL: the transaction id and seq; SQLite: seq).

PostgreSQL: row-level security ENABLEd and FORCEd on the tenant tables with
the usual tenant policy, so requests (the app role) see their tenant's rows
only; one more policy lets the tables' owner (the migration user, as which the
worker logs in) read and write across tenants.

Revision ID: 2026_11_28_1200
Revises: 2026_11_28_0900
Create Date: 2026-11-28 12:00:00
"""

import re

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects.postgresql import JSONB


# A frozen copy of edm.kit.types.UTCDateTime's storage.
def UTCDateTime() -> sa.types.TypeEngine:  # noqa: N802
    return sa.DateTime(timezone=True).with_variant(sa.String(24), "sqlite")


def JSONDocument() -> sa.types.TypeEngine:  # noqa: N802
    return sa.JSON().with_variant(JSONB(), "postgresql")


revision = "2026_11_28_1200"
down_revision = "2026_11_28_0900"
branch_labels = None
depends_on = None

TENANT = "NULLIF(current_setting('edm.tenant_id', true), '')"
TABLES = {
    "webhook_endpoints": "SELECT, INSERT, UPDATE, DELETE",
    "webhook_deliveries": "SELECT, INSERT, UPDATE, DELETE",
}


def _role() -> str:
    role = context.config.attributes.get("app_role", "edm_app")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", role):
        raise ValueError(f"not a plain role name: {role!r}")
    return role


def upgrade() -> None:
    op.create_table(
        "webhook_endpoints",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("app_id", sa.Text()),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("events", JSONDocument(), nullable=False),
        sa.Column("description", sa.Text()),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("disabled_reason", sa.Text()),
        sa.Column("disabled_at", UTCDateTime()),
        sa.Column("failing_since", UTCDateTime()),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="webhook_endpoints_pkey"),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("endpoint_id", sa.Text(), nullable=False),
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime()),
        sa.Column("leased_until", UTCDateTime()),
        sa.Column("last_attempt_at", UTCDateTime()),
        sa.Column("response_status", sa.Integer()),
        sa.Column("latency_ms", sa.Integer()),
        sa.Column("response_excerpt", sa.Text()),
        sa.Column("error", sa.Text()),
        sa.Column("attempt_log", JSONDocument(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="webhook_deliveries_pkey"),
        sa.UniqueConstraint("tenant_id", "endpoint_id", "event_id", name="webhook_deliveries_once"),
    )
    op.create_index("webhook_deliveries_due", "webhook_deliveries", ["next_attempt_at"])
    op.create_index("webhook_deliveries_log", "webhook_deliveries", ["tenant_id", "endpoint_id", "id"])
    op.create_table(
        "webhook_position",
        sa.Column("name", sa.Text(), primary_key=True),
        sa.Column("txid", sa.Text(), nullable=False),  # xid8 as text on PostgreSQL; '0' on SQLite
        sa.Column("seq", sa.BigInteger(), nullable=False),
    )
    op.execute("INSERT INTO webhook_position (name, txid, seq) VALUES ('fanout', '0', 0)")
    if op.get_bind().dialect.name != "postgresql":
        return
    role = _role()
    for table, privileges in TABLES.items():
        op.execute(f'GRANT {privileges} ON {table} TO "{role}"')
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY {table}_tenant ON {table} USING (tenant_id = {TENANT}) WITH CHECK (tenant_id = {TENANT})"
        )
        op.execute(f"CREATE POLICY {table}_owner ON {table} TO CURRENT_USER USING (true) WITH CHECK (true)")


def downgrade() -> None:
    op.drop_table("webhook_position")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_endpoints")
