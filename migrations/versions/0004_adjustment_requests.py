"""Adjustment requests: manual movements asked for by one person, applied when another approves.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23

Mirrors ``asbb_core.store.models.AdjustmentRequest`` exactly (tests/test_migrations.py compares them).
The account columns reference ``accounts.name`` (unique), so a request reads without a join.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from asbb_core.store.sqltypes import Money, UTCDateTime

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "adjustment_requests",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("account", sa.String(64), sa.ForeignKey("accounts.name"), nullable=False),
        sa.Column("amount", Money(), nullable=False),
        sa.Column("target_account", sa.String(64), sa.ForeignKey("accounts.name"), nullable=True),
        sa.Column("hold_id", sa.String(40), sa.ForeignKey("holds.id"), nullable=True),
        sa.Column("partition", sa.String(64), nullable=True),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("requested_by", sa.String(128), nullable=False),
        sa.Column("requested_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("decided_by", sa.String(128), nullable=True),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("decision_reason", sa.String(500), nullable=False),
        sa.Column("correlation_id", sa.String(64), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("needs_confirmation", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_adjustment_requests_account", "adjustment_requests", ["account"])
    op.create_index("ix_adjustment_requests_status", "adjustment_requests", ["status"])


def downgrade() -> None:
    # Each table's indexes go with it (MySQL refuses to drop one a foreign key needs first).
    op.drop_table("adjustment_requests")
