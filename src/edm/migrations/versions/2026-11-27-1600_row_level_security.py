"""PostgreSQL: row-level security on every tenant table, and the role requests run as

The second lock on the tenant door (docs/database.md).  Every statement the
repository sends already names its tenant; with this, a statement that
forgot to still sees only the rows of the tenant its transaction is bound to.

* The app role (``EDM_DB_APP_ROLE``, default ``edm_app``): NOLOGIN, not a
  superuser, not an owner, no BYPASSRLS.  The server switches every
  connection to it; migrations keep running as the owner.  It is created when
  missing and the migration user may create roles.  Roles are cluster-wide
  and several databases may migrate at once (test runs do), so "it exists
  already" counts as done.  The migration user joins it, so that a server
  logging in as that user may switch to it.
* It gets what requests need and nothing else: USAGE on the schema, rows of
  the tenant tables (the counters: no DELETE; their triggers only upsert),
  and SELECT on ``alembic_version``, so that ``edm serve`` logging in as a
  member of the role finds its start-up migration has nothing to do.
* Each tenant table: row level security ENABLEd and FORCEd (the owner is
  confined too; only superusers and BYPASSRLS roles are not), and one policy:
  rows whose ``tenant_id`` is ``edm.tenant_id``.  No tenant set (unset or
  empty) means no rows and no writes.
* ``idempotency_keys``: the sweep of expired keys reads and deletes them
  across tenants, only in a transaction with ``edm.sweep_expired = 'on'``
  (``edm.kit.idempotency.delete_expired`` alone sets it).  A DELETE whose
  WHERE reads columns needs a SELECT policy too, hence two policies.
* ``account_counts_truncated`` empties the counters with TRUNCATE, which row
  security does not filter (its DELETE, run by a non-superuser owner, would
  now see no rows).
* Index plans: under row security PostgreSQL lets a predicate be an index
  condition only when its functions are LEAKPROOF (nothing about a row can
  escape before the policy has filtered it), and the operators of the GIN
  indexes are not marked so (``ILIKE`` and ``||`` of ``q``; ``@>`` and
  ``?|`` of custom fields and tags).  Measured on a 20,000-row tenant, a
  selective ``q`` went from a 1 ms bitmap scan to a 25 ms walk of the
  tenant.  Run by a superuser, the migration marks those four functions
  LEAKPROOF in this database.  What that gives up is a defence against SQL
  that would use them to leak other rows through their errors (``ILIKE``
  raises on some patterns); all of EDM's SQL is its own and names its
  tenant, and the policy is there for the predicate it forgot.  Without a
  superuser a NOTICE says so, and docs/database.md has the statements for an
  administrator.  (Migration 1610 takes COALESCE, which PostgreSQL always
  counts as leaky, out of the search expression.)

Revision ID: 2026_11_27_1600
Revises: 2026_11_27_1500
Create Date: 2026-11-27 16:00:00
"""

import re

from alembic import context, op

revision = "2026_11_27_1600"
down_revision = "2026_11_27_1500"
branch_labels = None
depends_on = None

DEFAULT_ROLE = "edm_app"
TENANT = "NULLIF(current_setting('edm.tenant_id', true), '')"
SWEEP = "current_setting('edm.sweep_expired', true) = 'on' AND expires_at <= now()"
# What requests do to each tenant table.
TABLES = {
    "accounts": "SELECT, INSERT, UPDATE, DELETE",
    "account_counts": "SELECT, INSERT, UPDATE",
    "idempotency_keys": "SELECT, INSERT, UPDATE, DELETE",
}
LEAKPROOF = (
    "texticlike(text, text)",
    "textcat(text, text)",
    "jsonb_contains(jsonb, jsonb)",
    "jsonb_exists_any(jsonb, text[])",
)


def _role() -> str:
    role = context.config.attributes.get("app_role", DEFAULT_ROLE)
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", role):
        raise ValueError(f"not a plain role name: {role!r}")
    return role


def _ensure_role(role: str) -> None:
    op.execute(f"""
DO $do$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN
    BEGIN
      CREATE ROLE "{role}" NOLOGIN;
    EXCEPTION
      WHEN duplicate_object OR unique_violation THEN NULL;  -- another database's migration made it meanwhile
      WHEN insufficient_privilege THEN
        RAISE EXCEPTION 'role "{role}" does not exist and % may not create roles', current_user
          USING HINT = 'an administrator creates it (docs/database.md, "Setting up"), then the migration runs again';
    END;
  END IF;
  IF NOT pg_has_role(current_user, '{role}', 'MEMBER') THEN
    BEGIN
      EXECUTE format('GRANT "{role}" TO %I', current_user);
    EXCEPTION WHEN insufficient_privilege THEN
      RAISE NOTICE '% is not a member of role "{role}": a server logging in as % cannot switch to it', current_user, current_user;
    END;
  END IF;
  IF NOT has_schema_privilege('{role}', current_schema(), 'USAGE') THEN
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO "{role}"', current_schema());
  END IF;
END
$do$""")


def _leakproof(on: bool) -> None:
    alter = " ".join(
        f"ALTER FUNCTION pg_catalog.{f} {'' if on else 'NOT '}LEAKPROOF;"
        for f in LEAKPROOF
    )
    op.execute(f"""
DO $do$
BEGIN
  IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    {alter}
  ELSE
    RAISE NOTICE 'not a superuser: search, tag and custom-field filters cannot use their GIN indexes under row level security (docs/database.md)';
  END IF;
END
$do$""")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    role = _role()
    _ensure_role(role)
    for table, privileges in TABLES.items():
        op.execute(f'GRANT {privileges} ON {table} TO "{role}"')
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY {table}_tenant ON {table} USING (tenant_id = {TENANT}) WITH CHECK (tenant_id = {TENANT})"
        )
    op.execute(
        f"CREATE POLICY idempotency_keys_sweep_read ON idempotency_keys FOR SELECT USING ({SWEEP})"
    )
    op.execute(
        f"CREATE POLICY idempotency_keys_sweep ON idempotency_keys FOR DELETE USING ({SWEEP})"
    )
    op.execute(f'GRANT SELECT ON alembic_version TO "{role}"')
    op.execute(
        "CREATE OR REPLACE FUNCTION account_counts_truncated() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN TRUNCATE account_counts; RETURN NULL; END $$"
    )
    _leakproof(True)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    role = _role()
    _leakproof(False)
    op.execute(
        "CREATE OR REPLACE FUNCTION account_counts_truncated() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN DELETE FROM account_counts; RETURN NULL; END $$"
    )
    op.execute(f'REVOKE SELECT ON alembic_version FROM "{role}"')
    op.execute("DROP POLICY idempotency_keys_sweep ON idempotency_keys")
    op.execute("DROP POLICY idempotency_keys_sweep_read ON idempotency_keys")
    for table, privileges in TABLES.items():
        op.execute(f"DROP POLICY {table}_tenant ON {table}")
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
        op.execute(f'REVOKE {privileges} ON {table} FROM "{role}"')
    # The role stays: roles are cluster-wide, and other databases may use it.
