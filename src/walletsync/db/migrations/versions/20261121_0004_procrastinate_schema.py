"""Procrastinate's job queue schema (tables, types, functions, triggers), from the installed package.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21

Upgrades of Procrastinate itself ship their own SQL migrations; a later walletsync revision applies
them (see docs/operations.md, "Upgrading Procrastinate").
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op
from procrastinate import schema as procrastinate_schema

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DROP_ALL = """
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = current_schema() AND c.relkind = 'r' AND c.relname LIKE 'procrastinate\\_%'
    LOOP
        EXECUTE format('DROP TABLE IF EXISTS %I CASCADE', r.relname);
    END LOOP;
    FOR r IN SELECT p.oid::regprocedure AS sig FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
             WHERE n.nspname = current_schema() AND p.proname LIKE 'procrastinate\\_%'
    LOOP
        EXECUTE format('DROP ROUTINE IF EXISTS %s CASCADE', r.sig);
    END LOOP;
    FOR r IN SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
             WHERE n.nspname = current_schema() AND t.typname LIKE 'procrastinate\\_%' AND t.typtype IN ('e', 'c')
    LOOP
        EXECUTE format('DROP TYPE IF EXISTS %I CASCADE', r.typname);
    END LOOP;
END $$;
"""


def _execute_script(sql: str) -> None:
    # The raw psycopg connection runs a multi-statement script as is (no bind-parameter parsing).
    driver_connection = op.get_bind().connection.driver_connection
    assert driver_connection is not None
    driver_connection.execute(sql)


def upgrade() -> None:
    _execute_script(procrastinate_schema.SchemaManager.get_schema())


def downgrade() -> None:
    _execute_script(_DROP_ALL)
