"""The dashboard view (Pilot): the figures on screen are the database's, and they stay live."""

from __future__ import annotations

import importlib.util
from datetime import timedelta
from decimal import Decimal

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Sparkline, Static

from asbb_core.ledger import Ledger
from asbb_core.store.database import Database
from asbb_core.store.models import AccountStatus
from asbb_core.values.context import Context
from asbb_core.values.money import format_money
from asbb_tui.console import AsbbConsole
from asbb_tui.console.dashboard import ACCOUNT_SCREEN, DashboardScreen
from tests.conftest import Clock
from tests.test_overview import NOW, seed


async def settle(pilot: Pilot[None]) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def figure(app: AsbbConsole, key: str) -> str:
    return str(app.screen.query_one(f"#{key}", Static).content)


def keys(table: DataTable[object]) -> list[str]:
    return [str(row.key.value) for row in table.ordered_rows]


async def test_dashboard_shows_the_databases_totals_and_counts(
    ledger: Ledger, db: Database, clock: Clock, ctx: Context
) -> None:
    seed(ledger, db, clock, ctx)
    accounts = ledger.list_accounts()
    limit = sum((a.limit_amount for a in accounts), Decimal(0))
    used = sum((a.used_amount for a in accounts), Decimal(0))
    held = sum((a.held_amount for a in accounts), Decimal(0))

    app = AsbbConsole(ledger, start_view="dashboard", actor="alice")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        assert app.sub_title == "Dashboard"
        # Money across all accounts: the ledger's cached totals, and the hand sums.
        assert format_money(limit) in figure(app, "limit")
        assert "$1,800.00" in figure(app, "limit")
        assert format_money(used) in figure(app, "used")
        assert "$161.25" in figure(app, "used")
        assert format_money(held) in figure(app, "held")
        assert "$1,628.75" in figure(app, "available")
        assert "$41.50" in figure(app, "today")
        assert "$91.25" in figure(app, "month")
        assert "3 (2 critical)" in figure(app, "alerts")
        assert figure(app, "approvals").endswith("2")

        spark = screen.query_one("#spend", Sparkline)
        assert spark.data is not None
        assert len(spark.data) == 30
        assert spark.data[-1] == 4150  # today, in cents
        assert "peak $41.50" in str(screen.query_one("#spend-label", Static).content)

        burners = screen.query_one("#burners", DataTable)
        assert keys(burners) == ["gamma", "alpha", "beta"]
        assert burners.get_cell("gamma", "spent").plain == "$40.00"
        assert burners.get_cell("gamma", "health").plain in {
            "healthy",
            "concern",
            "warning",
            "critical",
        }

        recent = screen.query_one("#recent", DataTable)
        journal = ledger.journal(limit=10)  # newest first, straight from the database
        newest = journal[0]
        assert keys(recent) == [str(e.id) for e in journal]
        assert recent.get_cell(str(newest.id), "kind") == "hold"
        assert recent.get_cell(str(newest.id), "amount").plain == "$10.00"
        assert recent.get_cell(str(newest.id), "actor") == "slurm"

        # A new charge in the database shows after a refresh, updated in place.
        burners.move_cursor(row=1)  # on alpha
        hold = ledger.create_hold("delta", "60.00", ctx=ctx, buffer=1)
        ledger.post_hold(hold.hold_id, "60.00", ctx=ctx)
        await pilot.press("r")
        await settle(pilot)
        assert "$221.25" in figure(app, "used")
        assert "$101.50" in figure(app, "today")
        assert keys(burners) == ["delta", "gamma", "alpha", "beta"]
        assert keys(burners)[burners.cursor_row] == "alpha"  # the cursor stayed on its row
        assert ledger.get_account("delta").used_amount == Decimal("60.00")


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_dashboard_refreshes_itself_without_piling_up(
    ledger: Ledger, db: Database, clock: Clock, ctx: Context
) -> None:
    clock.now = NOW
    ledger.create_account("solo", ctx=ctx, limit="100")
    app = AsbbConsole(ledger, start_view="dashboard", actor="alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        assert "$0.00" in figure(app, "used")
        assert screen.query_one("#burners", DataTable).row_count == 0

        fetches: list[int] = []
        original = screen.refresh_data

        def counted() -> None:
            fetches.append(1)
            original()

        screen.refresh_data = counted  # type: ignore[method-assign]
        screen.refresh_seconds = 0.05
        screen._schedule_next()
        hold = ledger.create_hold("solo", "7.00", ctx=ctx, buffer=1)
        ledger.post_hold(hold.hold_id, "7.00", ctx=ctx)
        for _ in range(40):
            await pilot.pause(0.05)
            await pilot.app.workers.wait_for_complete()
            if "$7.00" in figure(app, "used"):
                break
        await pilot.pause()
        assert "$7.00" in figure(app, "used")
        assert screen.query_one("#burners", DataTable).row_count == 1
        # One timer at a time: never more than one refresh pending.
        assert screen._timer is not None
        assert len(fetches) >= 1
        screen.refresh_seconds = 3600  # stop the loop before the app closes


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_dashboard_fits_80x24_and_enter_opens_a_burner(
    ledger: Ledger, db: Database, clock: Clock, ctx: Context
) -> None:
    clock.now = NOW - timedelta(days=1)
    ledger.create_account("hot", ctx=ctx, limit="100")
    hold = ledger.create_hold("hot", "5.00", ctx=ctx, buffer=1)
    ledger.post_hold(hold.hold_id, "5.00", ctx=ctx)
    ledger.update_account("hot", ctx=ctx, status=AccountStatus.ACTIVE)
    clock.now = NOW
    app = AsbbConsole(ledger, start_view="dashboard", actor="alice", read_only=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        for name in ("#limit", "#approvals", "#spend", "#burners", "#recent"):
            region = screen.query_one(name).region
            assert region.height >= 1, name
            assert region.bottom <= 24, name
            assert region.right <= 80, name
        burners = screen.query_one("#burners", DataTable)
        assert keys(burners) == ["hot"]
        burners.focus()
        await pilot.press("enter")
        await settle(pilot)
        if importlib.util.find_spec(ACCOUNT_SCREEN) is None:
            assert app.screen is screen  # nothing to open yet: a notice, no crash
        else:
            assert type(app.screen).__name__ == "AccountScreen"
            await pilot.press("escape")
            await settle(pilot)
            assert app.screen is screen
