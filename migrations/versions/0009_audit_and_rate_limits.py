"""The audit trail of every change that is not money, and rate limits shared by all daemons.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02

Mirrors ``asbb_core.store.models.AuditEvent`` and ``RateBucket`` exactly
(tests/test_migrations.py compares them). ``audit_log`` is append-only like the journal:
UPDATE and DELETE are refused by triggers on every backend (TRUNCATE too on PostgreSQL).
``rate_buckets`` holds one token bucket per caller, so every process and replica on the
database counts a token's requests together.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from asbb_core.store.sqltypes import FLOAT8, UTCDateTime

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MESSAGE = "audit_log is append-only"

POSTGRESQL_APPEND_ONLY = [
    f"""
    CREATE FUNCTION audit_log_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'restrict_violation';
    END;
    $$
    """,
    """
    CREATE TRIGGER audit_log_append_only
    BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()
    """,
    """
    CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()
    """,
]
SQLITE_APPEND_ONLY = [
    f"""
    CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    BEGIN
        SELECT RAISE(ABORT, '{MESSAGE}');
    END
    """,
    f"""
    CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    BEGIN
        SELECT RAISE(ABORT, '{MESSAGE}');
    END
    """,
]
MYSQL_APPEND_ONLY = [
    f"""
    CREATE TRIGGER audit_log_no_{event.lower()} BEFORE {event} ON audit_log FOR EACH ROW
    SIGNAL SQLSTATE '23000' SET MESSAGE_TEXT = '{MESSAGE}'
    """
    for event in ("UPDATE", "DELETE")
]


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("correlation_id", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("before", sa.JSON(), nullable=False),
        sa.Column("after", sa.JSON(), nullable=False),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_actor", "audit_log", ["actor"])
    op.create_index("ix_audit_subject", "audit_log", ["subject", "id"])
    op.create_table(
        "rate_buckets",
        sa.Column("caller", sa.String(200), primary_key=True),
        sa.Column("tokens", FLOAT8, nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    dialect = op.get_bind().dialect.name
    triggers = {"sqlite": SQLITE_APPEND_ONLY, "mysql": MYSQL_APPEND_ONLY}
    for statement in triggers.get(dialect, POSTGRESQL_APPEND_ONLY):
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name in ("sqlite", "mysql"):
        op.execute("DROP TRIGGER audit_log_no_delete")
        op.execute("DROP TRIGGER audit_log_no_update")
    else:
        op.execute("DROP TRIGGER audit_log_no_truncate ON audit_log")
        op.execute("DROP TRIGGER audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION audit_log_append_only()")
    op.drop_table("rate_buckets")
    op.drop_table("audit_log")  # its indexes with it
