"""PostgreSQL: custom-field in/nin lists keep their GIN index under row security

Custom-field ``in``/``nin`` lists are one jsonpath condition
(``custom_fields @? '$."key" ? (@ == v1 || …)'``), which the GIN index answers
in one scan.  Under row-level security (migration 1600) that is an index
condition only when ``jsonb_path_exists_opr`` is LEAKPROOF; like the
functions 1600 marks, it raises no error that reveals a row's value for any
path this service builds.  A superuser marks it; anyone else gets a notice
(and the server's start-up warning names it, ``edm.kit.pg.INDEX_FUNCTIONS``).

Revision ID: 2026_11_27_1620
Revises: 2026_11_27_1610
Create Date: 2026-11-27 16:20:00
"""

from alembic import op

revision = "2026_11_27_1620"
down_revision = "2026_11_27_1610"
branch_labels = None
depends_on = None

FUNCTION = "jsonb_path_exists_opr(jsonb, jsonpath)"


def _leakproof(on: bool) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"""
DO $do$
BEGIN
  IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    ALTER FUNCTION pg_catalog.{FUNCTION} {'' if on else 'NOT '}LEAKPROOF;
  ELSE
    RAISE NOTICE 'not a superuser: custom-field in/nin lists cannot use their GIN index under row level security (docs/database.md)';
  END IF;
END
$do$""")


def upgrade() -> None:
    _leakproof(True)


def downgrade() -> None:
    _leakproof(False)
