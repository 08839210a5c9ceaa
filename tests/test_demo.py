"""Demo data: seeded through the Ledger only, consistent, deterministic; and the console on it."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func
from sqlmodel import Session, col, select
from textual.widgets import DataTable

from asbb_core.demo import ACCOUNTS, HISTORY_DAYS, DemoClock, _plan_jobs, seed_demo
from asbb_core.ledger import Ledger
from asbb_core.ledger.verify import verify_ledger
from asbb_core.settings import Settings
from asbb_core.store.database import Database
from asbb_core.store.models import (
    AccountStatus,
    Alert,
    AllocationCredit,
    Hold,
    HoldState,
    JournalEntry,
    PartitionLimit,
)
from asbb_core.values.context import Context
from asbb_core.values.errors import ConflictError
from asbb_core.values.money import format_money
from asbb_tui.console import AsbbConsole

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def hold_states(db: Database) -> dict[str, int]:
    def query(s: Session) -> dict[str, int]:
        rows = s.exec(select(Hold.state, func.count()).group_by(col(Hold.state)))
        return {str(state): int(n) for state, n in rows}

    return db.read(query)


def test_summary_matches_what_the_ledger_holds(db: Database, ledger: Ledger) -> None:
    original_clock = ledger.clock
    progress: list[tuple[int, int]] = []
    summary = seed_demo(
        ledger, now=NOW, on_progress=lambda done, total: progress.append((done, total))
    )

    # The ledger's own clock is back in place; the demo only borrowed it.
    assert ledger.clock is original_clock

    accounts = ledger.list_accounts()
    assert summary.accounts == len(accounts) == len(ACCOUNTS) == 8
    assert {a.name for a in accounts} == {spec.name for spec in ACCOUNTS}
    assert summary.suspended == 1
    assert [a.name for a in accounts if a.status == AccountStatus.SUSPENDED] == ["neuro-imaging"]
    assert all(Decimal(2000) <= Decimal(spec.limit) <= Decimal(50000) for spec in ACCOUNTS)

    # Money: the totals tallied while seeding equal the ledger's cached totals.
    assert summary.total_limit == sum((a.limit_amount for a in accounts), Decimal(0))
    assert summary.total_used == sum((a.used_amount for a in accounts), Decimal(0))
    assert summary.total_held == sum((a.held_amount for a in accounts), Decimal(0))
    assert summary.total_available == sum((a.available for a in accounts), Decimal(0))
    for value in (summary.total_limit, summary.total_used, summary.total_held):
        assert isinstance(value, Decimal)
    assert summary.total_used > 0
    assert summary.total_held > 0

    # Holds: every outcome is there, and the counts agree with the holds table.
    states = hold_states(db)
    assert summary.holds == sum(states.values())
    assert summary.posted == states.get(HoldState.POSTED, 0)
    assert summary.voided == states.get(HoldState.VOIDED, 0)
    assert summary.expired == states.get(HoldState.EXPIRED, 0) == 1
    assert summary.open_holds == states.get(HoldState.OPEN, 0)
    assert summary.open_holds >= 3
    assert summary.voided >= 3
    assert summary.overruns >= 3
    assert summary.jobs == summary.holds + summary.rejected
    assert 200 <= summary.jobs <= 500
    assert summary.overruns == db.read(
        lambda s: s.exec(
            select(func.count()).select_from(JournalEntry).where(col(JournalEntry.overrun))
        ).one()
    )
    caps = db.read(lambda s: s.exec(select(func.count()).select_from(PartitionLimit)).one())
    assert summary.partition_limits == caps >= 3
    assert summary.adjustments == 1
    assert summary.transfers == 1

    # Money over time: a monthly top-up paid each month of the history, a grant that funds
    # two accounts and drew once, and the alerts the final evaluation opened.
    credits = db.read(lambda s: s.exec(select(func.count()).select_from(AllocationCredit)).one())
    assert summary.schedules == 1
    assert summary.instalments == credits >= 3
    assert summary.grants == 1
    assert summary.grant_draws == 1
    alerts = db.read(lambda s: s.exec(select(func.count()).select_from(Alert)).one())
    assert summary.alerts == alerts >= 1

    # The journal and the cached totals agree, and the row count matches the tally.
    report = verify_ledger(db)
    assert report.ok, report.problems
    assert report.journal_rows == summary.journal_rows
    assert report.holds == summary.holds

    # Time was simulated: the history spans the window and ends at `now`.
    first, last = db.read(
        lambda s: s.exec(
            select(func.min(JournalEntry.created_at), func.max(JournalEntry.created_at))
        ).one()
    )
    assert first <= NOW - timedelta(days=HISTORY_DAYS)
    assert last <= NOW
    assert last >= NOW - timedelta(days=1)

    # Partitions: only the budgeted ones get holds.
    partitions = db.read(lambda s: set(s.exec(select(Hold.partition).distinct())))
    assert partitions <= {"aws-cpu", "gpu-aws"}

    # Progress was reported, in order, ending complete.
    assert progress
    assert progress[-1][0] == progress[-1][1]
    assert [done for done, _ in progress] == sorted(done for done, _ in progress)

    data = summary.to_dict()
    assert data["total_limit"] == f"{summary.total_limit:.2f}"
    assert data["accounts"] == 8


def test_refuses_a_database_that_has_accounts(ledger: Ledger, ctx: Context) -> None:
    ledger.create_account("real-account", ctx=ctx, limit="100")
    with pytest.raises(ConflictError, match="already has 1 account"):
        seed_demo(ledger, now=NOW)
    assert [a.name for a in ledger.list_accounts()] == ["real-account"]


def test_the_plan_is_deterministic() -> None:
    start = NOW - timedelta(days=HISTORY_DAYS)
    first = _plan_jobs(random.Random(7), NOW, start)
    second = _plan_jobs(random.Random(7), NOW, start)
    assert first == second
    other = _plan_jobs(random.Random(8), NOW, start)
    assert first != other
    for job in first:
        assert isinstance(job.estimate, Decimal)
        assert isinstance(job.cost, Decimal)
        assert start <= job.submit < NOW


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_console_lists_every_seeded_account(db: Database, settings: Settings) -> None:
    clock = DemoClock(NOW)
    ledger = Ledger(db, settings, clock=clock)
    summary = seed_demo(ledger, now=NOW)
    assert ledger.clock is clock  # a ledger built on a DemoClock keeps it
    assert clock.now == NOW
    app = AsbbConsole(ledger, read_only=True, database_label="test", start_view="accounts")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        table = app.screen.query_one("#accounts", DataTable)
        assert table.row_count == summary.accounts == 8
        names = {str(table.get_row(key)[0]) for key in table.rows}
        assert names == {a.name for a in ledger.list_accounts()}
        row = table.get_row("ml-proj")
        account = ledger.get_account("ml-proj")
        assert str(row[1]) == format_money(account.limit_amount)
        assert row[1].justify == "right"
        assert app.screen.query_one("#badge").display is True
        await pilot.press("r")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        assert table.row_count == 8
        await pilot.press("q")
    assert app.return_code == 0


async def test_console_without_read_only_has_no_badge(
    db: Database, ledger: Ledger, ctx: Context
) -> None:
    ledger.create_account("only-one", ctx=ctx, limit="10")
    app = AsbbConsole(ledger, start_view="accounts")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        assert app.screen.query_one("#accounts", DataTable).row_count == 1
        assert not app.screen.query("#badge")
