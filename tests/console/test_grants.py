"""The grants view: the list, the drill-in's periods with the direct/indirect split and burn
status, and exporting the current period's report."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Static, TabbedContent

from asbb_core.funding.grants import Grants
from asbb_core.ledger import Ledger
from asbb_core.values.context import Context
from asbb_core.values.money import format_money
from asbb_tui.console import AsbbConsole
from asbb_tui.console import app as console_app
from asbb_tui.console.chart import BurnRateChart
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
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#grants", DataTable)
        row = cells(table, NUMBER)
        assert row[0] == NUMBER
        assert row[6] == "Cloud bursting"
        assert row[3] == format_money(grants.get_grant(NUMBER).grant.total_award)
        assert row[5] == format_money(grants.get_grant(NUMBER).drawn) == format_money(status.drawn)

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

        # Read-only: an export writes a file, so it is not offered at all.
        for key in ("e", "m", "F"):
            await pilot.press(key)
            await settle(pilot)
            assert isinstance(app.screen, GrantScreen)  # no dialog

        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, GrantsScreen)
    assert list(out.iterdir()) == []


async def export_to(pilot: Any, app: AsbbConsole, key: str, path: Path | None) -> str:
    """Press an export key, answer its dialog with ``path`` (None: keep the offered name),
    and return the name the dialog offered."""
    from textual.widgets import Input

    from asbb_tui.console.dialogs import TextPrompt

    await pilot.press(key)
    await settle(pilot)
    assert isinstance(app.screen, TextPrompt)
    box = app.screen.query_one(Input)
    offered = box.value
    if path is not None:
        box.value = str(path)
    await pilot.press("enter")
    await settle(pilot)
    return offered


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_export_writes_where_asked_and_never_over_a_file(
    ledger: Ledger, ctx: Context, clock: Clock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeded(ledger, ctx, clock)
    tmp_path = tmp_path / "out"  # the exports' folder alone
    tmp_path.mkdir()
    monkeypatch.chdir(tmp_path)
    app = AsbbConsole(ledger, start_view="grants", actor="alice")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        app.push_screen(GrantScreen(NUMBER))
        await settle(pilot)
        chosen = tmp_path / "finance" / "p2.csv"
        chosen.parent.mkdir()
        offered = await export_to(pilot, app, "e", chosen)
        assert offered == str(tmp_path / f"{NUMBER}-report.csv")  # the name it suggests
        assert NUMBER in chosen.read_text()
        kept = chosen.read_bytes()
        await export_to(pilot, app, "m", chosen)  # the same path again: refused
        assert any("already exists" in n.message for n in app._notifications)
        assert chosen.read_bytes() == kept
        await export_to(pilot, app, "F", None)  # the agency report, under the offered name
        assert any("report written to" in n.message for n in app._notifications)
    pdf = tmp_path / f"{NUMBER}-agency-report.pdf"
    assert pdf.read_bytes().startswith(b"%PDF")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["finance", pdf.name])


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
        await export_to(pilot, app, "e", None)
        assert any("no budget period" in n.message for n in app._notifications)
        assert app.screen.query_one("#periods", DataTable).row_count == 3
    assert list(out.iterdir()) == []


async def test_chart_draws_a_chosen_budget_period(
    ledger: Ledger, ctx: Context, clock: Clock
) -> None:
    grants = seeded(ledger, ctx, clock)
    app = AsbbConsole(ledger, start_view="grants", actor="alice", read_only=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        app.push_screen(GrantScreen(NUMBER))
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, GrantScreen)

        await pilot.press("c")  # the current period (2), whole period: 1,300 total cost
        await settle(pilot)
        chart = screen.query_one("#grant-chart", BurnRateChart)
        assert chart.rate is not None
        consumed = grants.period_status(NUMBER, 2).consumed
        assert chart.rate.spent_to_date == consumed == 1300
        assert format_money(chart.rate.budget) in chart.text  # the limit line's label
        assert f"spent {format_money(chart.rate.spent)}" in chart.text
        tab = screen.query_one(TabbedContent)
        assert tab.active == "chart"
        assert str(tab.get_tab("chart").label).endswith("current period")

        await pilot.press("w")  # the next window, still period 2
        await settle(pilot)
        assert chart.rate.window == "7d"
        assert str(tab.get_tab("chart").label).endswith("current period, last 7d")

        # Back to the table; Enter on period 1 charts period 1 (nothing spent then).
        await pilot.press("t")
        await settle(pilot)
        periods = screen.query_one("#periods", DataTable)
        assert app.focused is periods
        periods.move_cursor(row=periods.get_row_index("1"))
        await pilot.press("enter")
        await settle(pilot)
        assert tab.active == "chart"
        assert screen.chart_period == 1
        assert chart.rate.period_start == grants.get_grant(NUMBER).periods[0].start_date
        assert chart.rate.spent_to_date == grants.period_status(NUMBER, 1).consumed
        assert str(tab.get_tab("chart").label).endswith("period 1, last 7d")


async def test_periods_fit_80_columns_and_an_upcoming_period_has_no_chart(
    ledger: Ledger, ctx: Context, clock: Clock
) -> None:
    seeded(ledger, ctx, clock)
    app = AsbbConsole(ledger, start_view="grants", actor="alice", read_only=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.push_screen(GrantScreen(NUMBER))
        await settle(pilot)
        screen = app.screen
        assert app.sub_title == f"Grants > Grant {NUMBER}"
        periods = screen.query_one("#periods", DataTable)
        assert [str(c.label) for c in periods.columns.values()][:2] == ["#", "Starts"]
        assert periods.virtual_size.width <= 80  # every column on screen, no scrolling
        assert cells(periods, "2")[0] == "▶2"  # the current period, without a State column
        assert cells(periods, "3")[1] == "2027-01-01"

        periods.move_cursor(row=periods.get_row_index("3"))
        await pilot.press("enter")
        await settle(pilot)
        chart = screen.query_one("#grant-chart", BurnRateChart)
        assert chart.rate is None
        assert chart.text == "this budget period starts 2027-01-01: no spend yet"

        await pilot.resize_terminal(120, 30)  # wide again: the full columns come back
        await settle(pilot)
        assert "State" in [str(c.label) for c in periods.columns.values()]
        assert cells(periods, "2")[2] == "current"
