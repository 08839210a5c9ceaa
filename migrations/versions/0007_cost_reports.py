"""Cost reports and performance feedback from aws-slurm-burst.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01

Mirrors ``asbb_core.store.models.CostReport`` and ``PerformanceFeedback`` exactly
(tests/test_migrations.py compares them). Every report received is kept, applied or not.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from asbb_core.store.sqltypes import Money, UTCDateTime

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "cost_reports",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("job_id", sa.String(64), nullable=False),
        sa.Column("account", sa.String(64), nullable=True),
        sa.Column("hold_id", sa.String(40), nullable=True),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("file_name", sa.String(255), nullable=True),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(1000), nullable=False),
        sa.Column("actual_cost", Money(), nullable=True),
        sa.Column("estimate", Money(), nullable=True),
        sa.Column("previous_charge", Money(), nullable=True),
        sa.Column("delta", Money(), nullable=True),
        sa.Column("record", sa.JSON(), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_cost_reports_job_id", "cost_reports", ["job_id"])
    op.create_index("ix_cost_reports_digest", "cost_reports", ["digest"])
    op.create_index("ix_cost_reports_received", "cost_reports", ["received_at"])
    op.create_table(
        "performance_feedback",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("job_id", sa.String(64), nullable=False),
        sa.Column("account", sa.String(64), nullable=True),
        sa.Column("partition", sa.String(64), nullable=True),
        sa.Column("cpu_efficiency", Money(), nullable=True),
        sa.Column("memory_efficiency", Money(), nullable=True),
        sa.Column("gpu_efficiency", Money(), nullable=True),
        sa.Column("actual_vs_estimated", Money(), nullable=True),
        sa.Column("profile", sa.String(64), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_performance_feedback_job_id", "performance_feedback", ["job_id"])


def downgrade() -> None:
    # Each table's indexes go with it (MySQL refuses to drop one a foreign key needs first).
    op.drop_table("performance_feedback")
    op.drop_table("cost_reports")
