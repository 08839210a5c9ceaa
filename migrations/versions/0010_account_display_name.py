"""An account's display name, beside its Slurm account name.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-10

Mirrors ``asbb_core.store.models.Account.display_name`` (tests/test_migrations.py compares
them). The original tool named an account twice: ``slurm_account`` for Slurm and ``name`` for
people ("ML Research Project"); asbb's ``name`` stays the Slurm account's, and this column
keeps the other. Existing rows get an empty display name. A plain column with a server
default, so the same revision runs on every backend.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "accounts",
        sa.Column("display_name", sa.String(200), nullable=False, server_default=""),
    )


def downgrade() -> None:
    op.drop_column("accounts", "display_name")
