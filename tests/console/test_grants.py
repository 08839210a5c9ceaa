"""The grants view: the list, the drill-in's periods with the direct/indirect split and burn
status, and exporting the current period's report."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from asbb_core.context import Context
from asbb_core.grants import Grants
from asbb_core.ledger import Ledger
from asbb_core.money import format_money
from asbb_tui.console import AsbbConsole
from asbb_tui.console import app as console_app
from asbb_tui.console.grants import GrantScreen, GrantsScreen
from tests.conftest import Clock

NUMBER = "NSF-2312345"


@pytest.fixture(autouse=True)
def only_this_view(monkeypatch: pytest.MonkeyPatch) -> None:
    """Mount only this view, so another view's module being mid-edit cannot break these."""
    views = [v for v in console_app.VIEWS if v.name == "grants"]
    monkeypatch.setattr(console_app, "available_views", lambda: views)


async def settle(pilot: Pilot[None]) -> None:
    for _ in range(2):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


def seeded(ledger: Ledger, ctx: Context, clock: Clock) -> Grants:
    """A 3-year, 30% indirect grant; in period 2 (2026) 1,500 drawn and 1,000 spent."""
    clock.now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    grants = Grants(ledger)
    grants.create_grant(
        NUMBER,
        total_award="300000",
        start_date=date(2025, 1, 1),
        end_date=date(2027, 12, 31),
        indirect_rate="0.30",
        ctx=ctx,
        title="Cloud bursting",
        agency="NSF",
        pi="Ada Lovelace",
    )
    ledger.create_account("lab", ctx=ctx)
    grants.link_account(NUMBER, "lab", ctx=ctx)
    grants.fund_account(NUMBER, "lab", "1500", ctx=ctx)
    hold = ledger.create_hold("lab", "1000", ctx=ctx, buffer=1)
    ledger.post_hold(hold.hold_id, "1000", ctx=ctx)
    return grants


def cells(table: DataTable[object], key: str) -> list[str]:
    return [str(c).strip() for c in table.get_row(key)]


async def test_list_and_detail_show_the_figures(
    ledger: Ledger, ctx: Context, clock: Clock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    grants = seeded(ledger, ctx, clock)
    status = grants.period_status(NUMBER, 2)
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.chdir(out)

    app = AsbbConsole(ledger, start_view="grants", actor="alice", read_only=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#grants", DataTable)
        row = cells(table, NUMBER)
        assert row[0] == NUMBER
        assert row[1] == "Cloud bursting"
        assert row[4] == format_money(grants.get_grant(NUMBER).grant.total_award)
        assert row[6] == format_money(grants.get_grant(NUMBER).drawn) == format_money(status.drawn)

        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, GrantScreen)
        periods = app.screen.query_one("#periods", DataTable)
        assert periods.row_count == 3
        two = cells(periods, "2")
        assert two[2] == "current"
        assert two[3:8] == [
            format_money(status.budget),
            format_money(status.direct),
            format_money(status.indirect),
            format_money(status.consumed),
            format_money(status.remaining),
        ]
        # The figures themselves: 1,000 direct + 30% = 1,300 consumed of 100,000.
        assert (status.direct, status.indirect, status.consumed) == (1000, 300, 1300)
        assert cells(periods, "1")[6] == format_money(grants.period_status(NUMBER, 1).consumed)
        burn = str(app.screen.query_one("#burn", Static).render())
        assert "burn rate" in burn
        assert "score" in burn
        header = str(app.screen.query_one("#header", Static).render())
        assert "accounts: lab" in header
        assert "30" in header

        # Export works in read-only mode too (it writes a file, not the database).
        await pilot.press("e")
        await settle(pilot)
        await pilot.press("m")
        await settle(pilot)
        assert any("report written to" in n.message for n in app._notifications)

        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, GrantsScreen)
    assert sorted(p.name for p in out.iterdir()) == [
        f"{NUMBER}-period2.csv",
        f"{NUMBER}-period2.md",
    ]
    assert NUMBER in (out / f"{NUMBER}-period2.csv").read_text()
    assert NUMBER in (out / f"{NUMBER}-period2.md").read_text()


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_export_without_a_current_period_is_a_notification(
    ledger: Ledger, ctx: Context, clock: Clock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeded(ledger, ctx, clock)
    clock.now = datetime(2030, 1, 1, tzinfo=UTC)  # after the grant ended
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.chdir(out)
    app = AsbbConsole(ledger, start_view="grants", actor="alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.push_screen(GrantScreen(NUMBER))
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
        assert any("no budget period" in n.message for n in app._notifications)
        assert app.screen.query_one("#periods", DataTable).row_count == 3
    assert list(out.iterdir()) == []
