"""record_changes(): dropped; writes compute an event's changes in their own statement

An update's ``changes`` is now built from the old and new values of the
columns it writes, in plain expressions of the write statement; a create's
event stores none (history derives them from ``data``).  The function, planned
on every call, cost about a third of a write's throughput.  Events written
before keep the ``changes`` it computed.

Revision ID: 2026_11_29_1900
Revises: 2026_11_28_1200
Create Date: 2026-11-29 19:00:00
"""

from alembic import op

revision = "2026_11_29_1900"
down_revision = "2026_11_28_1200"
branch_labels = None
depends_on = None

_NOT_CHANGES = "'id', 'tenant_id', 'version', 'created_at', 'created_by', 'updated_at', 'updated_by', 'schema_version'"
_FUNCTION = f"""
CREATE FUNCTION record_changes(old jsonb, new jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(jsonb_object_agg(n.key, jsonb_build_array(coalesce(old -> n.key, 'null'), n.value)), '{{}}')
  FROM jsonb_each(new) AS n
  WHERE n.key NOT IN ({_NOT_CHANGES})
    AND CASE WHEN old = '{{}}' THEN n.value NOT IN ('null', '[]', '{{}}', 'false')
             ELSE n.value IS DISTINCT FROM coalesce(old -> n.key, 'null') END
$$"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION record_changes(jsonb, jsonb)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_FUNCTION)
