"""Make the journal append-only: any UPDATE or DELETE of a journal row is refused.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22

Every backend raises "journal is append-only" as an integrity error (SQLAlchemy
``IntegrityError``): SQLite's RAISE(ABORT) is a constraint failure, the PostgreSQL function
raises SQLSTATE 23001 (restrict_violation), and MySQL's triggers SIGNAL SQLSTATE 23000 (which
``asbb_core.store.database`` raises as ``IntegrityError``). On PostgreSQL a statement trigger
refuses TRUNCATE too (row triggers do not fire for it); SQLite has no TRUNCATE, and MySQL's
needs the DROP privilege, which asbb's database user must not have (docs/admin-guide.md); the
foreign keys that reference the journal refuse it there as well. DROP TABLE is a schema change
and is left to migrations.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

# Revision identifiers, used by Alembic.
revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MESSAGE = "journal is append-only"

POSTGRESQL_UPGRADE = [
    f"""
    CREATE FUNCTION journal_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'restrict_violation';
    END;
    $$
    """,
    """
    CREATE TRIGGER journal_append_only
    BEFORE UPDATE OR DELETE ON journal
    FOR EACH ROW EXECUTE FUNCTION journal_append_only()
    """,
    """
    CREATE TRIGGER journal_no_truncate
    BEFORE TRUNCATE ON journal
    FOR EACH STATEMENT EXECUTE FUNCTION journal_append_only()
    """,
]
POSTGRESQL_DOWNGRADE = [
    "DROP TRIGGER journal_no_truncate ON journal",
    "DROP TRIGGER journal_append_only ON journal",
    "DROP FUNCTION journal_append_only()",
]

SQLITE_UPGRADE = [
    f"""
    CREATE TRIGGER journal_no_update BEFORE UPDATE ON journal
    BEGIN
        SELECT RAISE(ABORT, '{MESSAGE}');
    END
    """,
    f"""
    CREATE TRIGGER journal_no_delete BEFORE DELETE ON journal
    BEGIN
        SELECT RAISE(ABORT, '{MESSAGE}');
    END
    """,
]
SQLITE_DOWNGRADE = [
    "DROP TRIGGER journal_no_delete",
    "DROP TRIGGER journal_no_update",
]


MYSQL_UPGRADE = [
    f"""
    CREATE TRIGGER journal_no_update BEFORE UPDATE ON journal FOR EACH ROW
    SIGNAL SQLSTATE '23000' SET MESSAGE_TEXT = '{MESSAGE}'
    """,
    f"""
    CREATE TRIGGER journal_no_delete BEFORE DELETE ON journal FOR EACH ROW
    SIGNAL SQLSTATE '23000' SET MESSAGE_TEXT = '{MESSAGE}'
    """,
]
MYSQL_DOWNGRADE = SQLITE_DOWNGRADE


def _statements(postgresql: list[str], sqlite: list[str], mysql: list[str]) -> list[str]:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql
    if dialect == "sqlite":
        return sqlite
    if dialect == "mysql":
        return mysql
    raise NotImplementedError(f"no append-only journal triggers for {dialect}")


def upgrade() -> None:
    for statement in _statements(POSTGRESQL_UPGRADE, SQLITE_UPGRADE, MYSQL_UPGRADE):
        op.execute(statement)


def downgrade() -> None:
    for statement in _statements(POSTGRESQL_DOWNGRADE, SQLITE_DOWNGRADE, MYSQL_DOWNGRADE):
        op.execute(statement)
