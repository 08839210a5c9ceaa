"""Money over time: allocation schedules, grants with budget periods, alerts, calibration.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22

Mirrors the models in ``asbb_core.store.models`` exactly (tests/test_migrations.py compares them).
``holds.calibration`` is added with a server default so existing holds read as uncalibrated
(1; stored scaled by 10^4 on SQLite, like all money).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from asbb_core.store.sqltypes import SCALE, Money, UTCDateTime

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _money(name: str) -> sa.Column[object]:
    return sa.Column(name, Money(), nullable=False)


def upgrade() -> None:
    # Spend over time reads only this index (an index-only scan on PostgreSQL); it starts
    # with the columns of the index it replaces, so it serves that one's queries too.
    op.create_index(
        "ix_journal_account_spend",
        "journal",
        ["account_id", "created_at", "used_delta", "partition", "user_name"],
    )
    op.drop_index("ix_journal_account_created", table_name="journal")
    one = str(10**SCALE) if op.get_bind().dialect.name == "sqlite" else "1"
    with op.batch_alter_table("holds") as batch:
        batch.add_column(
            sa.Column("calibration", Money(), nullable=False, server_default=sa.text(one))
        )

    op.create_table(
        "allocation_schedules",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("account_id", BigId, sa.ForeignKey("accounts.id"), nullable=False),
        _money("amount"),
        _money("total"),
        sa.Column("frequency", sa.String(16), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("instalments", sa.Integer(), nullable=False),
        sa.Column("unspent", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("memo", sa.String(500), nullable=False),
        sa.Column("next_period", sa.Integer(), nullable=False),
        sa.Column("paused_at", UTCDateTime(), nullable=True),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_allocation_schedules_account_id", "allocation_schedules", ["account_id"])
    op.create_index("ix_allocation_schedules_status", "allocation_schedules", ["status"])

    op.create_table(
        "allocation_credits",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("schedule_id", BigId, sa.ForeignKey("allocation_schedules.id"), nullable=False),
        sa.Column("period", sa.Integer(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        _money("amount"),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("entry_id", BigId, sa.ForeignKey("journal.id"), nullable=True),
        _money("expired_amount"),
        sa.Column("expiry_entry_id", BigId, sa.ForeignKey("journal.id"), nullable=True),
        sa.Column("expired_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("schedule_id", "period"),
    )

    op.create_table(
        "grants",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("number", sa.String(64), nullable=False),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("agency", sa.String(200), nullable=False),
        sa.Column("program", sa.String(200), nullable=False),
        sa.Column("pi", sa.String(200), nullable=False),
        sa.Column("co_pis", sa.JSON(), nullable=False),
        sa.Column("institution", sa.String(200), nullable=False),
        sa.Column("department", sa.String(200), nullable=False),
        sa.Column("cfda", sa.String(16), nullable=False),
        _money("total_award"),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        _money("indirect_rate"),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_grants_number", "grants", ["number"], unique=True)

    op.create_table(
        "grant_periods",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("grant_id", BigId, sa.ForeignKey("grants.id"), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        _money("budget"),
        sa.UniqueConstraint("grant_id", "number"),
    )
    op.create_index("ix_grant_periods_grant_id", "grant_periods", ["grant_id"])

    op.create_table(
        "grant_accounts",
        sa.Column("account_id", BigId, sa.ForeignKey("accounts.id"), primary_key=True),
        sa.Column("grant_id", BigId, sa.ForeignKey("grants.id"), nullable=False),
        sa.Column("linked_by", sa.String(128), nullable=False),
        sa.Column("linked_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_grant_accounts_grant_id", "grant_accounts", ["grant_id"])

    op.create_table(
        "grant_draws",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("grant_id", BigId, sa.ForeignKey("grants.id"), nullable=False),
        sa.Column("period_id", BigId, sa.ForeignKey("grant_periods.id"), nullable=False),
        sa.Column("account_id", BigId, sa.ForeignKey("accounts.id"), nullable=False),
        _money("amount"),
        sa.Column("entry_id", BigId, sa.ForeignKey("journal.id"), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_grant_draws_grant_id", "grant_draws", ["grant_id"])

    op.create_table(
        "alerts",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("dedup_key", sa.String(200), nullable=False),
        sa.Column("active_key", sa.String(200), nullable=True, unique=True),
        sa.Column("account_id", BigId, sa.ForeignKey("accounts.id"), nullable=True),
        sa.Column("grant_id", BigId, sa.ForeignKey("grants.id"), nullable=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("message", sa.String(1000), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("opened_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=False),
        sa.Column("acknowledged_by", sa.String(128), nullable=True),
        sa.Column("acknowledged_at", UTCDateTime(), nullable=True),
        sa.Column("resolved_by", sa.String(128), nullable=True),
        sa.Column("resolved_at", UTCDateTime(), nullable=True),
        sa.Column("resolution", sa.String(500), nullable=False),
    )
    op.create_index("ix_alerts_dedup_key", "alerts", ["dedup_key"])
    op.create_index("ix_alerts_status_opened", "alerts", ["status", "opened_at"])

    op.create_table(
        "alert_deliveries",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("alert_id", BigId, sa.ForeignKey("alerts.id"), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("last_error", sa.String(1000), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_alert_deliveries_alert_id", "alert_deliveries", ["alert_id"])
    op.create_index("ix_alert_deliveries_due", "alert_deliveries", ["status", "next_attempt_at"])


def downgrade() -> None:
    for table in (
        "alert_deliveries",
        "alerts",
        "grant_draws",
        "grant_accounts",
        "grant_periods",
        "grants",
        "allocation_credits",
        "allocation_schedules",
    ):
        op.drop_table(table)
    with op.batch_alter_table("holds") as batch:
        batch.drop_column("calibration")
    op.create_index("ix_journal_account_created", "journal", ["account_id", "created_at"])
    op.drop_index("ix_journal_account_spend", table_name="journal")
