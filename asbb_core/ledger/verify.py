"""The invariant checker: prove from the journal that every cached figure and rule holds.

It reports, it never fixes: a difference means a bug or a hand edit, and somebody must look.
It reads in one snapshot (``Database.read``: REPEATABLE READ READ ONLY on PostgreSQL), so a
ledger busy with holds never shows a difference that is not there; every sum is computed in
SQL (GROUP BY), so it runs over millions of rows in seconds.

Invariants checked (docs/ledger.md says why each holds):

account    limit, used, held, carry == SUM(limit_delta), SUM(used_delta), SUM(held_delta),
           SUM(carry_delta) of its rows; the carry (what exact costs exceed whole-cent
           charges) stays within half a cent; held == SUM(remaining) of its open holds.
partition  a partition cap's used and held == the journal's sums for that partition.
hold       remaining == SUM(held_delta) of its rows; charged == SUM(used_delta) of its
           ``charge`` rows; amount == remaining + released + consumed (consumed: what its
           charges took from it); tasks_posted == its task charges <= task_count; a resolved
           hold holds nothing and gets no hold, charge or release row after it resolved.
row        each journal row moves only what its kind may move, its amount is the size of
           that movement, and all money but the carry is in whole cents.
transfer   the rows of each transfer (a pair sharing one correlation id) sum to zero.
grant      each draw is an ``allocation`` row of its account for its amount.
allocation each credited instalment is an ``allocation`` row of its schedule's account for
           its amount; each expiry an ``expiry`` row for the amount it took back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, or_, text
from sqlalchemy import select as sa_select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from asbb_core.store.constraints import CHECKS
from asbb_core.store.database import Database
from asbb_core.store.models import (
    Account,
    AllocationCredit,
    AllocationSchedule,
    EntryKind,
    GrantDraw,
    Hold,
    HoldState,
    JournalEntry,
    PartitionLimit,
)
from asbb_core.values.money import ZERO

HALF_CENT = Decimal("0.005")


@dataclass(frozen=True)
class Discrepancy:
    check: str
    subject: str
    field: str
    journal: str
    """What the journal (or the rule) says the value must be."""
    cached: str
    """What the database holds."""

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


def _zero(value: Any) -> Decimal:
    return Decimal(value) if value is not None else ZERO


def verify_ledger(db: Database) -> VerifyReport:
    """Check every invariant in one read-only snapshot."""
    return db.read(_verify)


Check = Callable[[Session, dict[int, str]], Iterator[Discrepancy]]


def _verify(session: Session) -> VerifyReport:
    report = VerifyReport()
    report.journal_rows = session.exec(select(func.count()).select_from(JournalEntry)).one()
    report.holds = session.exec(select(func.count()).select_from(Hold)).one()
    names = {
        account_id: name
        for account_id, name in session.exec(select(Account.id, Account.name))
        if account_id is not None
    }
    report.accounts = len(names)
    checks: tuple[Check, ...] = (
        _accounts,
        _partitions,
        _holds,
        _rows,
        _transfers,
        _grant_draws,
        _allocation_credits,
    )
    for check in checks:
        report.problems.extend(check(session, names))
    return report


def _accounts(session: Session, names: dict[int, str]) -> Iterator[Discrepancy]:
    sums = {
        row[0]: row[1:]
        for row in session.execute(
            sa_select(
                col(JournalEntry.account_id),
                func.sum(JournalEntry.limit_delta),
                func.sum(JournalEntry.used_delta),
                func.sum(JournalEntry.held_delta),
                func.sum(JournalEntry.carry_delta),
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
    for account in session.exec(select(Account).order_by(col(Account.id))):
        assert account.id is not None
        limit, used, held, carry = (_zero(v) for v in sums.get(account.id, (0, 0, 0, 0)))
        for name, journal, cached in (
            ("limit", limit, account.limit_amount),
            ("used", used, account.used_amount),
            ("held", held, account.held_amount),
            ("carry", carry, account.carry_amount),
        ):
            if journal != cached:
                yield Discrepancy("account", account.name, name, str(journal), str(cached))
        if abs(account.carry_amount) > HALF_CENT:
            yield Discrepancy(
                "account", account.name, "carry", f"within +-{HALF_CENT}", str(account.carry_amount)
            )
        holds_sum = _zero(open_held.get(account.id))
        if holds_sum != account.held_amount:
            yield Discrepancy(
                "holds", account.name, "held", str(holds_sum), str(account.held_amount)
            )


def _partitions(session: Session, names: dict[int, str]) -> Iterator[Discrepancy]:
    sums = {
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
        used, held = (_zero(v) for v in sums.get((cap.account_id, cap.partition), (0, 0)))
        subject = f"{names.get(cap.account_id, cap.account_id)}/{cap.partition}"
        if used != cap.used_amount:
            yield Discrepancy("partition", subject, "used", str(used), str(cap.used_amount))
        if held != cap.held_amount:
            yield Discrepancy("partition", subject, "held", str(held), str(cap.held_amount))


def _sum_where(column: Any, condition: ColumnElement[bool]) -> Any:
    """SUM(column) over the rows meeting ``condition`` (0 when none do)."""
    return func.coalesce(func.sum(func.coalesce(column, 0)).filter(condition), 0)


def _holds(session: Session, names: dict[int, str]) -> Iterator[Discrepancy]:
    entry = JournalEntry
    is_charge = col(entry.kind) == EntryKind.CHARGE
    task_charge = and_(is_charge, col(entry.overrun).is_(False))
    lifecycle = col(entry.kind).in_((EntryKind.HOLD, EntryKind.CHARGE, EntryKind.RELEASE))
    after_resolution = and_(
        lifecycle, col(Hold.resolved_at).is_not(None), col(entry.created_at) > Hold.resolved_at
    )
    # A plain SQLAlchemy select: sqlmodel's typed select() stops at four columns.
    rows = session.execute(
        sa_select(
            col(Hold.id),
            col(Hold.state),
            col(Hold.amount),
            col(Hold.remaining),
            col(Hold.charged),
            col(Hold.released),
            col(Hold.task_count),
            col(Hold.tasks_posted),
            func.coalesce(func.sum(entry.held_delta), 0),
            _sum_where(entry.used_delta, is_charge),
            -_sum_where(entry.held_delta, is_charge),
            -_sum_where(entry.held_delta, col(entry.kind) == EntryKind.RELEASE),
            _sum_where(entry.held_delta, col(entry.kind) == EntryKind.HOLD),
            func.count(col(entry.id)).filter(task_charge),
            func.count(col(entry.id)).filter(after_resolution),
        )
        .join(entry, col(entry.hold_id) == col(Hold.id), isouter=True)
        .group_by(col(Hold.id))
    )
    for (
        hold_id,
        state,
        amount,
        remaining,
        charged,
        released,
        task_count,
        tasks_posted,
        held_sum,
        charged_sum,
        consumed,
        released_sum,
        reserved,
        task_charges,
        late_rows,
    ) in rows:
        for name, journal, cached in (
            ("remaining", _zero(held_sum), remaining),
            ("charged", _zero(charged_sum), charged),
            ("released", _zero(released_sum), released),
            ("amount", _zero(reserved), amount),
            ("amount", remaining + released + _zero(consumed), amount),
        ):
            if journal != cached:
                yield Discrepancy("hold", hold_id, name, str(journal), str(cached))
        if task_charges != tasks_posted:
            yield Discrepancy("hold", hold_id, "tasks_posted", str(task_charges), str(tasks_posted))
        if tasks_posted > task_count:
            yield Discrepancy(
                "hold", hold_id, "tasks_posted", f"at most {task_count}", str(tasks_posted)
            )
        if state != HoldState.OPEN and remaining != 0:
            yield Discrepancy("hold", hold_id, "remaining", "0", str(remaining))
        if late_rows:
            yield Discrepancy(
                "hold", hold_id, "state", f"final once {state}", f"{late_rows} rows after"
            )


def _whole_cents(session: Session, column: str) -> str:
    """SQL that is true when ``column`` holds a fraction of a cent, on either backend."""
    if session.get_bind().dialect.name == "sqlite":
        return f"({column} % 100) <> 0"  # money is stored in 1/10000 dollars there
    # abs(): MariaDB's mod() of a negative whole-cent amount is a "-0.0000" unequal to 0.
    return f"mod(abs({column}), 0.01) <> 0"


def _rows(session: Session, names: dict[int, str]) -> Iterator[Discrepancy]:
    """Per-row rules. The database's CHECK constraints enforce the same on every write; this
    proves it of rows written before them, or by hand with the constraints off."""
    rules = {
        "kind": CHECKS["journal"]["ck_journal_kind"],
        "deltas": CHECKS["journal"]["ck_journal_deltas"],
        "carry": CHECKS["journal"]["ck_journal_carry"],
        "cents": "NOT ("
        + " OR ".join(
            _whole_cents(session, c) for c in ("amount", "limit_delta", "used_delta", "held_delta")
        )
        + ")",
    }
    for rule, sql in rules.items():
        broken = session.execute(
            sa_select(col(JournalEntry.id), col(JournalEntry.kind), col(JournalEntry.account_id))
            .where(text(f"NOT ({sql})"))
            .order_by(col(JournalEntry.id))
            .limit(100)
        )
        for entry_id, kind, account_id in broken:
            subject = f"#{entry_id} ({kind}, {names.get(account_id, account_id)})"
            yield Discrepancy("row", subject, rule, _RULE_TEXT[rule], "broken")


_RULE_TEXT = {
    "kind": "a known kind",
    "deltas": "amount = the deltas its kind may move",
    "carry": "a carry only on a charge, late charge or correction",
    "cents": "whole cents in amount and deltas",
}


def _transfers(session: Session, names: dict[int, str]) -> Iterator[Discrepancy]:
    total = func.sum(JournalEntry.limit_delta)
    unbalanced = session.exec(
        select(JournalEntry.correlation_id, total, func.count())
        .where(JournalEntry.kind == EntryKind.TRANSFER)
        .group_by(col(JournalEntry.correlation_id))
        .having(or_(total != 0, func.count() % 2 != 0))
    )
    for correlation_id, limit, rows in unbalanced:
        yield Discrepancy(
            "transfer", correlation_id, "limit", "0 over pairs of rows", f"{limit} over {rows}"
        )


def _rows_match(
    check: str, noun: str, rows: Any, names: dict[int, str], kind: EntryKind
) -> Iterator[Discrepancy]:
    """Each (id, account, amount) record against the journal row it names."""
    for record_id, account_id, amount, entry_kind, entry_account, limit_delta in rows:
        subject = f"{noun} #{record_id}"
        expected = amount if kind == EntryKind.ALLOCATION else -amount
        if entry_kind is None:
            yield Discrepancy(check, subject, "entry", f"a {kind} row", "none")
        elif entry_kind != kind or entry_account != account_id or limit_delta != expected:
            found = f"{entry_kind} of {names.get(entry_account, entry_account)} for {limit_delta}"
            wanted = f"{kind} of {names.get(account_id, account_id)} for {expected}"
            yield Discrepancy(check, subject, "entry", wanted, found)


def _grant_draws(session: Session, names: dict[int, str]) -> Iterator[Discrepancy]:
    rows = session.execute(
        sa_select(
            col(GrantDraw.id),
            col(GrantDraw.account_id),
            col(GrantDraw.amount),
            col(JournalEntry.kind),
            col(JournalEntry.account_id),
            col(JournalEntry.limit_delta),
        ).join(JournalEntry, col(JournalEntry.id) == col(GrantDraw.entry_id), isouter=True)
    )
    yield from _rows_match("grant", "draw", rows, names, EntryKind.ALLOCATION)


def _allocation_credits(session: Session, names: dict[int, str]) -> Iterator[Discrepancy]:
    for entry_column, amount_column, kind in (
        (AllocationCredit.entry_id, AllocationCredit.amount, EntryKind.ALLOCATION),
        (AllocationCredit.expiry_entry_id, AllocationCredit.expired_amount, EntryKind.EXPIRY),
    ):
        rows = session.execute(
            sa_select(
                col(AllocationCredit.id),
                col(AllocationSchedule.account_id),
                col(amount_column),
                col(JournalEntry.kind),
                col(JournalEntry.account_id),
                col(JournalEntry.limit_delta),
            )
            .join(AllocationSchedule, col(AllocationSchedule.id) == AllocationCredit.schedule_id)
            .join(JournalEntry, col(JournalEntry.id) == col(entry_column))
            .where(col(entry_column).is_not(None))
        )
        yield from _rows_match("allocation", "credit", rows, names, kind)
