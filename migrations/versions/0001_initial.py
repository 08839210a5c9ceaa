"""Initial schema: accounts, partition limits, holds, the journal and idempotency keys.

Revision ID: 0001
Revises:
Create Date: 2026-11-22

Mirrors asbb_core/store/models.py exactly (tests/test_migrations.py compares the two). Constraints are
unnamed, as in the models, so each backend names them itself (e.g. ``accounts_pkey`` and
``holds_account_id_fkey`` on PostgreSQL); indexes carry the models' names.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from asbb_core.store.sqltypes import Money, UTCDateTime

# Revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# BIGINT on PostgreSQL, INTEGER (the rowid alias) on SQLite, as in asbb_core.store.models.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("description", sa.String(500), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=True),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("limit_amount", Money(), nullable=False),
        sa.Column("used_amount", Money(), nullable=False),
        sa.Column("held_amount", Money(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_accounts_name", "accounts", ["name"], unique=True)

    op.create_table(
        "partition_limits",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("account_id", BigId, sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("partition", sa.String(64), nullable=False),
        sa.Column("limit_amount", Money(), nullable=False),
        sa.Column("used_amount", Money(), nullable=False),
        sa.Column("held_amount", Money(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("account_id", "partition"),
    )
    op.create_index("ix_partition_limits_account_id", "partition_limits", ["account_id"])

    op.create_table(
        "holds",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("account_id", BigId, sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("partition", sa.String(64), nullable=True),
        sa.Column("user_name", sa.String(64), nullable=True),
        sa.Column("job_id", sa.String(64), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("estimate", Money(), nullable=False),
        sa.Column("buffer", Money(), nullable=False),
        sa.Column("amount", Money(), nullable=False),
        sa.Column("remaining", Money(), nullable=False),
        sa.Column("charged", Money(), nullable=False),
        sa.Column("released", Money(), nullable=False),
        sa.Column("task_count", sa.Integer(), nullable=False),
        sa.Column("tasks_posted", sa.Integer(), nullable=False),
        sa.Column("estimate_source", sa.String(32), nullable=False),
        sa.Column("job_metadata", sa.JSON(), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("correlation_id", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("resolved_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_holds_state_expires", "holds", ["state", "expires_at"])
    op.create_index("ix_holds_account_state", "holds", ["account_id", "state"])
    op.create_index("ix_holds_job_id", "holds", ["job_id"])

    op.create_table(
        "journal",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("account_id", BigId, sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("amount", Money(), nullable=False),
        sa.Column("limit_delta", Money(), nullable=False),
        sa.Column("used_delta", Money(), nullable=False),
        sa.Column("held_delta", Money(), nullable=False),
        sa.Column("partition", sa.String(64), nullable=True),
        sa.Column("hold_id", sa.String(40), sa.ForeignKey("holds.id"), nullable=True),
        sa.Column("job_id", sa.String(64), nullable=True),
        sa.Column("user_name", sa.String(64), nullable=True),
        sa.Column("counterparty_account_id", BigId, sa.ForeignKey("accounts.id"), nullable=True),
        sa.Column("overrun", sa.Boolean(), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("correlation_id", sa.String(64), nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=True),
        sa.Column("memo", sa.String(500), nullable=False),
        sa.Column("job_metadata", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_journal_account_created", "journal", ["account_id", "created_at"])
    op.create_index("ix_journal_created", "journal", ["created_at"])
    op.create_index("ix_journal_hold_id", "journal", ["hold_id"])
    op.create_index("ix_journal_job_id", "journal", ["job_id"])
    op.create_index("ix_journal_correlation_id", "journal", ["correlation_id"])

    op.create_table(
        "idempotency_keys",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("operation", sa.String(32), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    # Each table's indexes go with it (MySQL refuses to drop one a foreign key needs first).
    op.drop_table("idempotency_keys")
    op.drop_table("journal")
    op.drop_table("holds")
    op.drop_table("partition_limits")
    op.drop_table("accounts")
