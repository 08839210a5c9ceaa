"""The console's shell on the demo data: switching views, help, the command palette, keys
rebound from the settings, 80x24 without scrolling, and the chart in 16 colours."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from asbb_core.demo import DemoClock
from asbb_core.funding.approvals import Approvals
from asbb_core.ledger import Ledger
from asbb_core.settings import Settings
from asbb_core.store.database import Database
from asbb_core.store.models import AdjustmentStatus
from asbb_tui.console import AsbbConsole
from asbb_tui.console.account import AccountScreen
from asbb_tui.console.app import VIEWS, HelpScreen, ViewSwitcher
from asbb_tui.console.chart import BurnRateChart
from asbb_tui.console.grants import GrantScreen
from tests.conftest import DEMO_NOW

NOW = DEMO_NOW


@pytest.fixture
def demo_file(demo_sqlite: Path) -> Path:
    return demo_sqlite


def demo_ledger(demo_file: Path, tmp_path: Path, **settings: Any) -> Ledger:
    path = tmp_path / "demo.sqlite3"
    if not path.exists():
        shutil.copy(demo_file, path)
    url = f"sqlite:///{path}"
    return Ledger(Database(url), Settings(database={"url": url}, **settings), clock=DemoClock(NOW))


@pytest.fixture
def ledger(demo_file: Path, tmp_path: Path) -> Iterator[Ledger]:
    ledger = demo_ledger(demo_file, tmp_path)
    yield ledger
    ledger.db.dispose()


async def settle(pilot: Pilot[None]) -> None:
    for _ in range(2):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


async def test_colon_switches_views_and_digits_jump(ledger: Ledger) -> None:
    app = AsbbConsole(ledger, actor="console:admin")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert app.sub_title == "Dashboard"
        await pilot.press("colon")
        await pilot.pause()
        assert isinstance(app.screen, ViewSwitcher)
        await pilot.press(*"alerts", "enter")
        await settle(pilot)
        assert app.current_mode == "alerts"
        assert app.sub_title == "Alerts"
        for view in VIEWS:
            await pilot.press(view.key)
            await settle(pilot)
            assert app.current_mode == view.name
            assert app.sub_title == view.title


async def test_help_lists_the_keys_here_with_their_ids(ledger: Ledger) -> None:
    app = AsbbConsole(ledger, start_view="approvals", actor="console:admin")
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = app.screen.text
        for words in ("Approve", "approvals-approve", "Reject", "approvals-reject"):
            assert words in text
        assert "[console] keys" in text
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)


@pytest.mark.parametrize("read_only", [False, True])
async def test_palette_lists_views_and_the_actions_that_apply(
    ledger: Ledger, read_only: bool
) -> None:
    app = AsbbConsole(ledger, start_view="approvals", actor="console:admin", read_only=read_only)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert {f"View: {v.title}" for v in VIEWS} <= set(titles)
        assert any(t.startswith("Status filter") for t in titles)
        # Writes are not offered at all in read-only mode.
        assert any(t.startswith("Approve") for t in titles) is not read_only
        assert any(t.startswith("New request") for t in titles) is not read_only


async def test_keys_rebound_in_the_settings(demo_file: Path, tmp_path: Path) -> None:
    ledger = demo_ledger(
        demo_file,
        tmp_path,
        console={"keys": {"approvals-approve": "A", "view-alerts": "f4", "no-such": "z"}},
    )
    pending = Approvals(ledger.db, ledger, ledger.settings, ledger.clock).list(status="pending")
    small = next(r for r in pending if r.kind == "transfer")  # 750: no name to type
    app = AsbbConsole(ledger, start_view="approvals", actor="console:admin")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        # An unknown id is reported, not ignored.
        assert any("no-such" in n.message for n in app._notifications)
        table = app.screen.query_one("#requests", DataTable)
        table.move_cursor(row=table.get_row_index(str(small.id)))
        await pilot.press("a")  # the old key does nothing now
        await settle(pilot)
        row = Approvals(ledger.db, ledger, ledger.settings, ledger.clock).get(small.id)
        assert row.status == AdjustmentStatus.PENDING
        await pilot.press("A")
        await settle(pilot)
        await pilot.press("enter")  # the reason prompt: none
        await settle(pilot)
        row = Approvals(ledger.db, ledger, ledger.settings, ledger.clock).get(small.id)
        assert row.status == AdjustmentStatus.APPROVED
        assert row.decided_by == "console:admin"
        await pilot.press("f4")
        await settle(pilot)
        assert app.current_mode == "alerts"
    ledger.db.dispose()


async def test_every_screen_fits_80x24_without_scrolling(ledger: Ledger) -> None:
    app = AsbbConsole(ledger, actor="console:admin")
    async with app.run_test(size=(80, 24)) as pilot:
        for view in VIEWS:
            await pilot.press(view.key)
            await settle(pilot)
            assert app.screen.max_scroll_y == 0, view.name
        await pilot.press("2")
        app.push_screen(AccountScreen("ml-proj"))
        await settle(pilot)
        for tab in "ohjc":
            await pilot.press(tab)
            await settle(pilot)
            assert app.screen.max_scroll_y == 0, tab
        chart = app.screen.query_one(BurnRateChart)
        lines = chart.text.splitlines()
        assert len(lines) <= chart.content_size.height  # the whole chart is on screen
        assert lines[-1].startswith("━ spent") or lines[-2].startswith("━ spent")
        await pilot.press("5")
        app.push_screen(GrantScreen("NSF-2231907"))
        await settle(pilot)
        await pilot.press("c")
        await settle(pilot)
        assert app.screen.max_scroll_y == 0
        assert "NSF-2231907" in app.screen.query_one(BurnRateChart).text


async def test_sixteen_colours_draw_a_plain_chart(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    import textual.constants

    monkeypatch.setattr(textual.constants, "COLOR_SYSTEM", "standard")
    app = AsbbConsole(ledger, start_view="accounts", actor="console:admin")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.console.color_system == "standard"
        app.push_screen(AccountScreen("ml-proj"))
        await settle(pilot)
        await pilot.press("c")
        await settle(pilot)
        chart = app.screen.query_one(BurnRateChart)
        assert "limit $" in chart.text
        spans = chart.render().spans  # type: ignore[union-attr]
        assert not spans  # no plotext colours: lines told apart by their markers
        summary = app.screen.query_one("#summary", Static)
        assert "ml-proj" in str(summary.render())


async def test_alerts_filter_is_answered_by_the_database(ledger: Ledger) -> None:
    from asbb_core.alerts.conditions import AlertService

    expected = AlertService(ledger.db, ledger.settings, ledger.clock).list_alerts(search="physics")
    assert expected
    app = AsbbConsole(ledger, start_view="alerts", actor="console:admin")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#alerts", DataTable)
        assert table.row_count > len(expected)
        await pilot.press("slash", *"physics")
        await settle(pilot)
        assert sorted(str(k.value) for k in table.rows) == sorted(str(r.id) for r in expected)
        assert "filter: physics" in str(app.screen.query_one("#status-line", Static).render())
        await pilot.press("escape")  # clears the filter: every alert again
        await settle(pilot)
        assert table.row_count > len(expected)


@pytest.mark.parametrize("required", [True, False])
async def test_the_header_says_when_no_second_approval_is_required(
    demo_file: Path, tmp_path: Path, required: bool
) -> None:
    ledger = demo_ledger(demo_file, tmp_path, approvals={"require_approval": required})
    app = AsbbConsole(ledger, start_view="accounts", actor="admin")
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            badges = pilot.app.screen.query("#no-approval")
            assert len(badges) == (0 if required else 1)
            if not required:
                assert "NO SECOND APPROVAL" in str(badges.first(Static).render())
    finally:
        ledger.db.dispose()
