"""The invariant checker: recompute every cached total from the journal and compare.

It reports, it never fixes: a difference means a bug or a hand edit, and somebody must look.
Every figure is computed in SQL (GROUP BY), so it runs over millions of rows in seconds.

Invariants checked:
1. account  -- limit, used, held == SUM(limit_delta), SUM(used_delta), SUM(held_delta).
2. partition -- a partition cap's used, held == the journal's sums for that partition.
3. holds    -- an account's held == SUM(remaining) over its open holds.
4. hold     -- each hold's remaining == SUM(held_delta) of its rows; charged == SUM(used_delta);
               a resolved hold holds nothing.
5. transfer -- the rows of each transfer (one correlation id) sum to zero.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from asbb_core.store.database import Database
from asbb_core.store.models import Account, EntryKind, Hold, HoldState, JournalEntry, PartitionLimit


@dataclass(frozen=True)
class Discrepancy:
    check: str
    subject: str
    field: str
    journal: str
    cached: str

    def __str__(self) -> str:
        return (
            f"{self.check}: {self.subject} {self.field}: journal says {self.journal}, "
            f"cached {self.cached}"
        )


@dataclass
class VerifyReport:
    accounts: int = 0
    holds: int = 0
    journal_rows: int = 0
    problems: list[Discrepancy] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "accounts": self.accounts,
            "holds": self.holds,
            "journal_rows": self.journal_rows,
            "problems": [asdict(p) for p in self.problems],
        }


def _zero(value: Any) -> Decimal:
    return Decimal(value) if value is not None else Decimal(0)


def verify_ledger(db: Database) -> VerifyReport:
    """Check every invariant in one read-only transaction (a consistent snapshot on PostgreSQL)."""
    return db.read(_verify)


def _verify(session: Session) -> VerifyReport:
    report = VerifyReport()
    problems = report.problems
    report.journal_rows = session.exec(select(func.count()).select_from(JournalEntry)).one()
    report.holds = session.exec(select(func.count()).select_from(Hold)).one()

    sums = {
        row[0]: row[1:]
        for row in session.exec(
            select(
                JournalEntry.account_id,
                func.sum(JournalEntry.limit_delta),
                func.sum(JournalEntry.used_delta),
                func.sum(JournalEntry.held_delta),
            ).group_by(col(JournalEntry.account_id))
        )
    }
    open_held = {
        row[0]: row[1]
        for row in session.exec(
            select(Hold.account_id, func.sum(Hold.remaining))
            .where(Hold.state == HoldState.OPEN)
            .group_by(col(Hold.account_id))
        )
    }
    names: dict[int, str] = {}
    for account in session.exec(select(Account).order_by(col(Account.id))):
        report.accounts += 1
        assert account.id is not None
        names[account.id] = account.name
        limit, used, held = (_zero(v) for v in sums.get(account.id, (0, 0, 0)))
        for name, journal, cached in (
            ("limit", limit, account.limit_amount),
            ("used", used, account.used_amount),
            ("held", held, account.held_amount),
        ):
            if journal != cached:
                problems.append(
                    Discrepancy("account", account.name, name, str(journal), str(cached))
                )
        holds_sum = _zero(open_held.get(account.id))
        if holds_sum != account.held_amount:
            problems.append(
                Discrepancy("holds", account.name, "held", str(holds_sum), str(account.held_amount))
            )

    partition_sums = {
        (row[0], row[1]): row[2:]
        for row in session.exec(
            select(
                JournalEntry.account_id,
                JournalEntry.partition,
                func.sum(JournalEntry.used_delta),
                func.sum(JournalEntry.held_delta),
            )
            .where(col(JournalEntry.partition).is_not(None))
            .group_by(col(JournalEntry.account_id), col(JournalEntry.partition))
        )
    }
    for cap in session.exec(select(PartitionLimit)):
        used, held = (_zero(v) for v in partition_sums.get((cap.account_id, cap.partition), (0, 0)))
        subject = f"{names.get(cap.account_id, cap.account_id)}/{cap.partition}"
        if used != cap.used_amount:
            problems.append(
                Discrepancy("partition", subject, "used", str(used), str(cap.used_amount))
            )
        if held != cap.held_amount:
            problems.append(
                Discrepancy("partition", subject, "held", str(held), str(cap.held_amount))
            )

    # A plain SQLAlchemy select: sqlmodel's typed select() stops at four columns.
    hold_sums = session.execute(
        sa_select(
            col(Hold.id),
            col(Hold.state),
            col(Hold.remaining),
            col(Hold.charged),
            func.sum(JournalEntry.held_delta),
            func.sum(JournalEntry.used_delta),
        )
        .join(JournalEntry, col(JournalEntry.hold_id) == col(Hold.id), isouter=True)
        .group_by(col(Hold.id), col(Hold.state), col(Hold.remaining), col(Hold.charged))
    )
    for hold_id, state, remaining, charged, held_sum, used_sum in hold_sums:
        if _zero(held_sum) != remaining:
            problems.append(
                Discrepancy("hold", hold_id, "remaining", str(_zero(held_sum)), str(remaining))
            )
        if _zero(used_sum) != charged:
            problems.append(
                Discrepancy("hold", hold_id, "charged", str(_zero(used_sum)), str(charged))
            )
        if state != HoldState.OPEN and remaining != 0:
            problems.append(Discrepancy("hold", hold_id, "remaining", "0", str(remaining)))

    unbalanced = session.exec(
        select(JournalEntry.correlation_id, func.sum(JournalEntry.limit_delta))
        .where(JournalEntry.kind == EntryKind.TRANSFER)
        .group_by(col(JournalEntry.correlation_id))
        .having(func.sum(JournalEntry.limit_delta) != 0)
    )
    for correlation_id, total in unbalanced:
        problems.append(Discrepancy("transfer", correlation_id, "limit", "0", str(total)))
    return report
