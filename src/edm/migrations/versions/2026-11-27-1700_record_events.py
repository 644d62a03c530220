"""record_events: every change to every record, written in the change's transaction

One row per write (create, update, delete, restore, purge) of any resource of
the record engine.  History (``GET …/{id}/history``), the change feed
(``GET …/events``), point-in-time reads (``?as_of=``), webhooks and NATS
publishing all read it (docs/changes.md).

* ``seq``: insertion number.  On SQLite writes are serial, so ``seq`` order
  is commit order.  On PostgreSQL it is not (a later number can commit
  first): the feed orders by ``(txid, seq)``, ``txid`` being the writing
  transaction's id, and reads only below the oldest running transaction.
* ``changes``: ``{field: [old, new]}``; ``data``: the record's document after
  the change.  A purge sets both to NULL on the record's earlier rows (the
  rows stay, so feed cursors and exactly-once hold) and adds a ``.purged`` row.
* ``record_changes(old, new)`` (PostgreSQL) computes ``changes`` from two
  documents inside the write statement; ``edm.crm.engine.events.changes``
  is the same rule in Python for SQLite.
* Row-level security like every tenant table (migration 1600), with grants
  for the app role: no DELETE (rows are only redacted).  One more policy lets
  the table's owner (the migration user, not the app role) read every
  tenant's events: the webhook and NATS workers follow the whole feed.

History starts here: records written before this migration have no events.

Revision ID: 2026_11_27_1700
Revises: 2026_11_27_1620
Create Date: 2026-11-27 17:00:00
"""

import re

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects.postgresql import JSONB

revision = "2026_11_27_1700"
down_revision = "2026_11_27_1620"
branch_labels = None
depends_on = None

TENANT = "NULLIF(current_setting('edm.tenant_id', true), '')"
# Fields an entry states on its own (version, at, by) or that never change after a create.
_NOT_CHANGES = "'id', 'tenant_id', 'version', 'created_at', 'created_by', 'updated_at', 'updated_by', 'schema_version'"
_PG_CHANGES_FUNCTION = f"""
CREATE FUNCTION record_changes(old jsonb, new jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(jsonb_object_agg(n.key, jsonb_build_array(coalesce(old -> n.key, 'null'), n.value)), '{{}}')
  FROM jsonb_each(new) AS n
  WHERE n.key NOT IN ({_NOT_CHANGES})
    AND CASE WHEN old = '{{}}' THEN n.value NOT IN ('null', '[]', '{{}}', 'false')
             ELSE n.value IS DISTINCT FROM coalesce(old -> n.key, 'null') END
$$"""


# A frozen copy of edm.kit.types.UTCDateTime's storage.
def UTCDateTime() -> sa.types.TypeEngine:  # noqa: N802
    return sa.DateTime(timezone=True).with_variant(sa.String(24), "sqlite")


def _json() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(JSONB(), "postgresql")


def _role() -> str:
    role = context.config.attributes.get("app_role", "edm_app")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", role):
        raise ValueError(f"not a plain role name: {role!r}")
    return role


def _common_columns() -> list[sa.Column]:
    return [
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("app_id", sa.Text()),
        sa.Column("actor_app_id", sa.Text()),
        sa.Column("resource", sa.Text(), nullable=False),
        sa.Column("record_id", sa.Text(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("by", sa.Text(), nullable=False),
        sa.Column("changes", _json()),
        sa.Column("data", _json()),
    ]


def _upgrade_postgresql() -> None:
    op.execute(
        "CREATE TABLE record_events ("
        " seq bigint GENERATED ALWAYS AS IDENTITY,"
        " txid xid8 NOT NULL DEFAULT pg_current_xact_id(),"
        " id text NOT NULL, tenant_id text NOT NULL, app_id text, actor_app_id text,"
        " resource text NOT NULL, record_id text NOT NULL, version bigint NOT NULL, type text NOT NULL,"
        " at timestamptz NOT NULL, by text NOT NULL, changes jsonb, data jsonb,"
        " CONSTRAINT record_events_pkey PRIMARY KEY (seq),"
        " CONSTRAINT record_events_id_key UNIQUE (id))"
    )
    # The tenant's feed, a record's history (and as_of), the all-tenant feed of the workers.
    op.execute("CREATE INDEX record_events_feed ON record_events (tenant_id, resource, txid, seq)")
    op.execute("CREATE INDEX record_events_record ON record_events (tenant_id, resource, record_id, version)")
    op.execute("CREATE INDEX record_events_all ON record_events (txid, seq)")
    op.execute(_PG_CHANGES_FUNCTION)
    role = _role()
    op.execute(f'GRANT SELECT, INSERT, UPDATE ON record_events TO "{role}"')
    op.execute("ALTER TABLE record_events ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE record_events FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY record_events_tenant ON record_events USING (tenant_id = {TENANT}) WITH CHECK (tenant_id = {TENANT})"
    )
    op.execute("CREATE POLICY record_events_owner_reads ON record_events FOR SELECT TO CURRENT_USER USING (true)")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _upgrade_postgresql()
        return
    op.create_table(
        "record_events",
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=True),
        *_common_columns(),
        sa.UniqueConstraint("id", name="record_events_id_key"),
        sqlite_autoincrement=True,
    )
    op.create_index("record_events_feed", "record_events", ["tenant_id", "resource", "seq"])
    op.create_index("record_events_record", "record_events", ["tenant_id", "resource", "record_id", "version"])


def downgrade() -> None:
    op.drop_table("record_events")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION record_changes(jsonb, jsonb)")
