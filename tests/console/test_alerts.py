"""The alerts inbox: acknowledge and resolve with a note (who = the console's actor), jump to
the account, read-only hides the writes."""

from __future__ import annotations

from typing import ClassVar

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from asbb_core.alerts.conditions import AlertService
from asbb_core.ledger import Ledger
from asbb_core.settings import Settings
from asbb_core.store.models import AlertStatus
from asbb_core.values.context import Context
from asbb_tui.console import AsbbConsole
from asbb_tui.console import alerts as alerts_view
from asbb_tui.console import app as console_app
from asbb_tui.console.base import ConsoleScreen
from asbb_tui.console.dialogs import TextPrompt
from tests.conftest import Clock


class AccountScreen(ConsoleScreen):
    """A stand-in for the accounts helper's drill-in (its module may be mid-edit)."""

    VIEW_TITLE = "Account"
    opened: ClassVar[list[str]] = []

    def __init__(self, name: str) -> None:
        super().__init__()
        self.opened.append(name)


@pytest.fixture(autouse=True)
def only_this_view(monkeypatch: pytest.MonkeyPatch) -> None:
    """Mount only this view, so another view's module being mid-edit cannot break these."""
    views = [v for v in console_app.VIEWS if v.name == "alerts"]
    monkeypatch.setattr(console_app, "available_views", lambda: views)
    monkeypatch.setattr(alerts_view, "ACCOUNT_SCREEN", __name__)


async def settle(pilot: Pilot[None]) -> None:
    for _ in range(2):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


def usage_alert(ledger: Ledger, ctx: Context, settings: Settings, clock: Clock) -> int:
    """An account 90% used, and the alert that says so."""
    ledger.create_account("lab", ctx=ctx, limit="100")
    hold = ledger.create_hold("lab", "90", ctx=ctx, buffer=1)
    ledger.post_hold(hold.hold_id, "90", ctx=ctx)
    summary = AlertService(ledger.db, settings, clock).evaluate()
    [opened] = summary.opened
    return opened


async def test_acknowledge_then_resolve_with_notes(
    ledger: Ledger, ctx: Context, settings: Settings, clock: Clock
) -> None:
    aid = usage_alert(ledger, ctx, settings, clock)
    service = AlertService(ledger.db, settings, clock)

    app = AsbbConsole(ledger, start_view="alerts", actor="carol")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#alerts", DataTable)
        assert table.row_count == 1
        row = [str(c) for c in table.get_row(str(aid))]
        assert row[2] == "open"
        assert row[4] == "lab"
        assert row[1] in {"warning", "critical"}

        await pilot.press("k")
        await pilot.pause()
        assert isinstance(app.screen, TextPrompt)
        await pilot.press(*"on it", "enter")
        await settle(pilot)
        assert str(table.get_row(str(aid))[2]) == "acknowledged"
        assert "acknowledged by carol: on it" in str(
            app.screen.query_one("#detail", Static).render()
        )
        alert = service.get_alert(aid).alert
        assert (alert.status, alert.acknowledged_by) == (AlertStatus.ACKNOWLEDGED, "carol")
        assert alert.details["note"] == "on it"

        # Acknowledging twice: the core's refusal is shown, nothing changes.
        await pilot.press("k", "enter")
        await settle(pilot)
        assert "already acknowledged by carol" in str(
            app.screen.query_one("#detail", Static).render()
        )

        await pilot.press("x", "enter")  # a note is required to resolve
        await pilot.pause()
        assert isinstance(app.screen, TextPrompt)
        await pilot.press(*"limit raised", "enter")
        await settle(pilot)
        assert str(table.get_row(str(aid))[2]) == "resolved"
    alert = service.get_alert(aid).alert
    assert (alert.status, alert.resolved_by, alert.resolution) == (
        AlertStatus.RESOLVED,
        "carol",
        "limit raised",
    )


async def test_status_filter_and_jump_to_the_account(
    ledger: Ledger, ctx: Context, settings: Settings, clock: Clock
) -> None:
    aid = usage_alert(ledger, ctx, settings, clock)
    AlertService(ledger.db, settings, clock).acknowledge(aid, "dave")
    AccountScreen.opened.clear()

    app = AsbbConsole(ledger, start_view="alerts", actor="carol")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#alerts", DataTable)
        assert table.row_count == 1
        await pilot.press("f")  # open only
        await settle(pilot)
        assert table.row_count == 0
        await pilot.press("f")  # acknowledged
        await settle(pilot)
        assert table.row_count == 1
        await pilot.press("g")
        await pilot.pause()
        assert isinstance(app.screen, AccountScreen)
        assert AccountScreen.opened == ["lab"]
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, alerts_view.AlertsScreen)


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_read_only_hides_acknowledge_and_resolve(
    ledger: Ledger, ctx: Context, settings: Settings, clock: Clock
) -> None:
    aid = usage_alert(ledger, ctx, settings, clock)
    app = AsbbConsole(ledger, start_view="alerts", actor="carol", read_only=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert app.screen.query_one("#alerts", DataTable).row_count == 1
        enabled = {b.action for _, b, on, _ in app.active_bindings.values() if on}
        assert "goto_account" in enabled
        assert not enabled & {"acknowledge", "resolve"}
        await pilot.press("k")
        await pilot.pause()
        assert not isinstance(app.screen, TextPrompt)
    alert = AlertService(ledger.db, settings, clock).get_alert(aid).alert
    assert alert.status == AlertStatus.OPEN
