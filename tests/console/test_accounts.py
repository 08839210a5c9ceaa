"""The accounts view, the account drill-in and the burn-rate chart."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Static, TabbedContent

from asbb_core.analytics.burnrate import BurnRate, DaySpend, Health, account_burn_rate
from asbb_core.ledger import Ledger
from asbb_core.store import queries
from asbb_core.values.context import Context
from asbb_core.values.money import format_money
from asbb_tui.console import AsbbConsole
from asbb_tui.console import app as console_app
from asbb_tui.console.account import AccountScreen, parse_journal_filter
from asbb_tui.console.accounts import AccountsScreen
from asbb_tui.console.chart import (
    BurnRateChart,
    burn_rate_plot,
    caption_lines,
    cumulative_spend,
)
from tests.conftest import Clock


@pytest.fixture(autouse=True)
def only_this_view(monkeypatch: pytest.MonkeyPatch) -> None:
    """Mount only this view, so another view's module being mid-edit cannot break these."""
    views = [v for v in console_app.VIEWS if v.name == "accounts"]
    monkeypatch.setattr(console_app, "available_views", lambda: views)


async def settle(pilot: Pilot[None]) -> None:
    for _ in range(2):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


def seed(ledger: Ledger, ctx: Context, clock: Clock) -> None:
    """Three accounts; ml-proj spent over a few days and still holds one job."""
    start = clock.now
    clock.now = start - timedelta(days=20)
    ledger.create_account(
        "ml-proj",
        ctx=ctx,
        limit="1000",
        start_date=date(2026, 1, 1),
        end_date=date(2026, 6, 30),
        partition_limits={"gpu-aws": "400"},
    )
    ledger.create_account("ml-vision", ctx=ctx, limit="500")
    ledger.create_account("physics", ctx=ctx, limit="2000")
    for n in range(3):
        clock.now = start - timedelta(days=10 - 3 * n)
        hold = ledger.create_hold("ml-proj", "40", ctx=ctx, job_id=f"70{n}", partition="gpu-aws")
        ledger.post_hold(hold.hold_id, "35.50", ctx=ctx)
    clock.now = start
    ledger.create_hold("ml-proj", "25", ctx=ctx, job_id="9001", user_name="ann")


def names(table: DataTable[object]) -> set[str]:
    return {str(key.value) for key in table.rows}


async def test_filter_sort_and_clear(ledger: Ledger, ctx: Context, clock: Clock) -> None:
    seed(ledger, ctx, clock)
    app = AsbbConsole(ledger, start_view="accounts", actor="alice")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, AccountsScreen)
        table = app.screen.query_one("#accounts", DataTable)
        everything = queries.list_accounts(ledger.db).items
        assert names(table) == {a.name for a in everything}
        health = str(table.get_row("ml-proj")[6])
        assert health in ("healthy", "concern", "warning", "critical")

        await pilot.press("slash", "m", "l")
        await settle(pilot)
        wanted = queries.list_accounts(ledger.db, prefix="ml").items
        assert names(table) == {a.name for a in wanted} == {"ml-proj", "ml-vision"}
        assert "filter: ml*" in str(app.screen.query_one("#pager", Static).render())

        await pilot.press("escape")
        await settle(pilot)
        assert names(table) == {a.name for a in everything}
        assert isinstance(app.screen, AccountsScreen)  # the first Esc only cleared the filter

        await pilot.press("A")  # sort by available, most first
        await settle(pilot)
        ordered = queries.list_accounts(ledger.db, sort="available", descending=True).items
        assert [str(table.get_row_at(i)[0]) for i in range(table.row_count)] == [
            a.name for a in ordered
        ]


async def test_drill_in_chart_window_and_back(ledger: Ledger, ctx: Context, clock: Clock) -> None:
    seed(ledger, ctx, clock)
    app = AsbbConsole(ledger, start_view="accounts", actor="alice")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("slash", "m", "l", "-", "p", "enter")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, AccountScreen)
        account = ledger.get_account("ml-proj")
        summary = str(screen.query_one("#summary", Static).render())
        for amount in (account.limit_amount, account.used_amount, account.held_amount):
            assert format_money(amount) in summary
        assert format_money(account.available) in summary
        assert "ml-proj" in app.sub_title

        partitions = screen.query_one("#partitions", DataTable)
        assert partitions.row_count == 1
        assert str(partitions.get_row("gpu-aws")[2]) == format_money(Decimal("106.50"))
        holds = screen.query_one("#holds-table", DataTable)
        open_holds = queries.list_holds(ledger.db, account="ml-proj").items
        assert [str(holds.get_row_at(0)[1])] == [h.hold.job_id for h in open_holds] == ["9001"]

        journal = screen.query_one("#journal-table", DataTable)
        entries = queries.list_entries(ledger.db, account="ml-proj").items
        assert journal.row_count == len(entries)
        await pilot.press("slash")
        await pilot.press(*"701", "enter")
        await settle(pilot)
        only = queries.list_entries(ledger.db, account="ml-proj", job_id="701").items
        assert 0 < journal.row_count == len(only) < len(entries)

        await pilot.press("c")
        await settle(pilot)
        chart = screen.query_one("#burn-chart", BurnRateChart)
        assert f"limit {format_money(account.limit_amount)}" in chart.text
        assert "30d" in chart.text
        await pilot.press("w")
        await settle(pilot)
        assert screen.chart_window == "90d"
        assert "90d" in chart.text
        assert screen.query_one(TabbedContent).active == "chart"
        await pilot.press("W", "W")
        await settle(pilot)
        assert screen.chart_window == "7d"
        assert "7d" in chart.text

        await pilot.press("escape")  # clears the journal filter first
        await settle(pilot)
        assert journal.row_count == len(entries)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, AccountsScreen)


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_read_only_drill_in_at_80x24(ledger: Ledger, ctx: Context, clock: Clock) -> None:
    seed(ledger, ctx, clock)
    app = AsbbConsole(ledger, start_view="accounts", read_only=True, actor="alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("enter")  # the first row: ml-proj
        await settle(pilot)
        assert isinstance(app.screen, AccountScreen)
        await pilot.press("c")
        await settle(pilot)
        chart = app.screen.query_one("#burn-chart", BurnRateChart)
        assert "limit" in chart.text


def test_journal_filter_terms() -> None:
    assert parse_journal_filter("charge").kind == "charge"
    assert parse_journal_filter("12345").job_id == "12345"
    flt = parse_journal_filter("kind:hold job:9 since:2026-01-01 until:2026-02-01")
    assert (flt.kind, flt.job_id, flt.since, flt.until) == ("hold", "9", "2026-01-01", "2026-02-01")
    assert parse_journal_filter("").empty


def make_rate(**changes: object) -> BurnRate:
    days = [date(2026, 2, 1) + timedelta(days=n) for n in range(10)]
    values: dict[str, object] = {
        "subject": "account",
        "name": "demo",
        "window": "30d",
        "since": days[0],
        "until": days[-1],
        "days": 10,
        "period_start": days[0],
        "end_date": date(2026, 2, 28),
        "budget": Decimal("1000.00"),
        "spent": Decimal("300.00"),
        "spent_to_date": Decimal("500.00"),
        "available": Decimal("500.00"),
        "actual_daily": Decimal("30.00"),
        "expected_daily": Decimal("20.00"),
        "expected_basis": "linear",
        "variance_percent": Decimal("50.0"),
        "projected_exhaustion": date(2026, 2, 27),
        "projected_balance_at_end": Decimal("-40.00"),
        "health": Health(60, "concern"),
        "daily": [DaySpend(d, Decimal(30), Decimal(20)) for d in days],
    }
    values.update(changes)
    return BurnRate(**values)  # type: ignore[arg-type]


def test_chart_draws_labelled_lines_and_projection() -> None:
    rate = make_rate()
    assert cumulative_spend(rate)[0] == Decimal("230.00")
    assert cumulative_spend(rate)[-1] == rate.spent_to_date
    plain = burn_rate_plot(rate, 70, 18, colour=False)
    assert "\x1b[" not in plain.replace("\x1b[0m", "")  # no colours in 16-colour mode
    for label in ("limit $1,000.00", "80% $800.00", "spent", "expected", "projection"):
        assert label in plain, label
    # 500 spent, then 30 a day, drawn one window (10 days) ahead...
    assert "projection $800.00 by 2026-02-20" in plain
    # ...or to the period's end when that comes first.
    short = burn_rate_plot(make_rate(end_date=date(2026, 2, 15)), 70, 18, colour=False)
    assert "projection $650.00 by 2026-02-15" in short
    lines = plain.splitlines()
    assert len(lines) <= 18
    assert max(len(line) for line in lines) <= 70 + 10

    coloured = burn_rate_plot(rate, 70, 18, colour=True)
    assert "\x1b[38;" in coloured
    tiny = burn_rate_plot(make_rate(daily=[], end_date=None), 10, 3, colour=False)
    assert "limit $1,000.00" in tiny


def test_chart_caption_wraps_to_two_lines_on_a_narrow_chart() -> None:
    drawn = burn_rate_plot(make_rate(), 50, 16, colour=False).splitlines()
    assert len(drawn) <= 16
    assert drawn[-2].startswith("━ spent  · expected $20.00/day")
    assert drawn[-1] == "+ projection $800.00 by 2026-02-20  runs out 2026-02-27"[:50]
    assert caption_lines(["aaaa", "bbbb", "cccc"], 9) == ["aaaa", "bbbb  ccc"]
    assert caption_lines(["aaaa", "bbbb"], 20) == ["aaaa  bbbb"]


def test_chart_from_a_real_burn_rate(ledger: Ledger, ctx: Context, clock: Clock) -> None:
    seed(ledger, ctx, clock)
    rate = account_burn_rate(
        ledger.db, ledger.settings, "ml-proj", window="30d", today=clock.now.date()
    )
    assert cumulative_spend(rate)[-1] == ledger.get_account("ml-proj").used_amount
    text = burn_rate_plot(rate, 80, 16, colour=False)
    assert "limit $1,000.00" in text
    assert clock.now == datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
