"""The approvals view: request as one person, approve as another; maker-checker; large
amounts need the account name typed; read-only hides the writes."""

from __future__ import annotations

from decimal import Decimal

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from asbb_core.funding.approvals import Approvals
from asbb_core.ledger import Ledger
from asbb_core.settings import Settings
from asbb_core.store.models import AdjustmentStatus
from asbb_core.values.context import Context
from asbb_tui.console import AsbbConsole
from asbb_tui.console import app as console_app
from asbb_tui.console.dialogs import ConfirmName, TextPrompt
from tests.conftest import Clock


@pytest.fixture(autouse=True)
def only_this_view(monkeypatch: pytest.MonkeyPatch) -> None:
    """Mount only this view, so another view's module being mid-edit cannot break these."""
    views = [v for v in console_app.VIEWS if v.name == "approvals"]
    monkeypatch.setattr(console_app, "available_views", lambda: views)


async def settle(pilot: Pilot[None]) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def detail(app: AsbbConsole) -> str:
    return str(app.screen.query_one("#detail", Static).render())


def result(app: AsbbConsole) -> str:
    """The last decision (or refusal) shown under the table."""
    return str(app.screen.query_one("#result", Static).render())


def approvals(ledger: Ledger, settings: Settings, clock: Clock) -> Approvals:
    return Approvals(ledger.db, ledger, settings, clock)


async def test_request_as_alice_approve_as_bob_changes_the_limit(
    ledger: Ledger, ctx: Context, settings: Settings, clock: Clock
) -> None:
    ledger.create_account("lab", ctx=ctx, limit="500")
    core = approvals(ledger, settings, clock)

    alice = AsbbConsole(ledger, start_view="approvals", actor="alice")
    async with alice.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await pilot.pause()
        await pilot.press(*"lab", "enter", *"250", "enter", *"more compute", "enter")
        await settle(pilot)
        [row] = core.list()
        assert (row.kind, row.account, row.amount, row.requested_by, row.status) == (
            "credit",
            "lab",
            Decimal("250.00"),
            "alice",
            AdjustmentStatus.PENDING,
        )
        table = alice.screen.query_one("#requests", DataTable)
        assert table.row_count == 1
        assert "alice" in [str(c) for c in table.get_row(str(row.id))]

        # Maker-checker: alice may not approve her own request; nothing changes.
        await pilot.press("a")
        await pilot.pause()
        assert isinstance(alice.screen, TextPrompt)
        await pilot.press("enter")
        await settle(pilot)
        assert "may not approve" in result(alice)
        assert any("may not approve" in n.message for n in alice._notifications)
    assert core.get(row.id or 0).status == AdjustmentStatus.PENDING
    assert ledger.get_account("lab").limit_amount == Decimal("500.00")

    bob = AsbbConsole(ledger, start_view="approvals", actor="bob")
    async with bob.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("a")
        await pilot.pause()
        await pilot.press(*"checked", "enter")
        await settle(pilot)
        text = result(bob)
        assert "requested by alice" in text
        assert "approved by bob: checked" in text
        table = bob.screen.query_one("#requests", DataTable)
        assert table.row_count == 0  # the default filter shows pending requests only
        await pilot.press("f")  # every status
        await settle(pilot)
        assert table.row_count == 1
        assert "approved" in str(table.get_row(str(row.id))[1])
    done = core.get(row.id or 0)
    assert (done.status, done.decided_by, done.decision_reason) == (
        AdjustmentStatus.APPROVED,
        "bob",
        "checked",
    )
    assert ledger.get_account("lab").limit_amount == Decimal("750.00")


async def test_a_large_amount_needs_the_account_name_typed(
    ledger: Ledger, ctx: Context, settings: Settings, clock: Clock
) -> None:
    ledger.create_account("lab", ctx=ctx, limit="500")
    core = approvals(ledger, settings, clock)
    big = core.request("credit", "lab", "5000", requested_by="alice", reason="new award")
    assert big.needs_confirmation

    bob = AsbbConsole(ledger, start_view="approvals", actor="bob")
    async with bob.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert "needs the account name typed" in detail(bob)
        await pilot.press("a")
        await pilot.pause()
        await pilot.press("enter")  # no reason
        await pilot.pause()
        assert isinstance(bob.screen, ConfirmName)
        await pilot.press(*"lap", "enter")  # a typo: refused on the spot
        await pilot.pause()
        assert isinstance(bob.screen, ConfirmName)
        assert "not lab" in str(bob.screen.query_one("#error", Static).render())
        assert core.get(big.id or 0).status == AdjustmentStatus.PENDING
        await pilot.press("escape")  # cancelled: nothing happens
        await settle(pilot)
        assert core.get(big.id or 0).status == AdjustmentStatus.PENDING

        await pilot.press("a")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press(*"lab", "enter")
        await settle(pilot)
        assert "approved by bob" in result(bob)
    assert core.get(big.id or 0).status == AdjustmentStatus.APPROVED
    assert ledger.get_account("lab").limit_amount == Decimal("5500.00")


async def test_reject_with_a_reason(
    ledger: Ledger, ctx: Context, settings: Settings, clock: Clock
) -> None:
    ledger.create_account("lab", ctx=ctx, limit="500")
    core = approvals(ledger, settings, clock)
    req = core.request("limit", "lab", "100", requested_by="alice", reason="shrink")

    bob = AsbbConsole(ledger, start_view="approvals", actor="bob")
    async with bob.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("x")
        await pilot.pause()
        await pilot.press("enter")  # a reason is required
        await pilot.pause()
        assert isinstance(bob.screen, TextPrompt)
        await pilot.press(*"too low", "enter")
        await settle(pilot)
        assert "rejected by bob: too low" in result(bob)
    done = core.get(req.id or 0)
    assert (done.status, done.decided_by) == (AdjustmentStatus.REJECTED, "bob")
    assert ledger.get_account("lab").limit_amount == Decimal("500.00")


async def test_read_only_hides_approve_and_refuses_it(
    ledger: Ledger, ctx: Context, settings: Settings, clock: Clock
) -> None:
    ledger.create_account("lab", ctx=ctx, limit="500")
    core = approvals(ledger, settings, clock)
    req = core.request("credit", "lab", "10", requested_by="alice", reason="x")

    app = AsbbConsole(ledger, start_view="approvals", actor="bob", read_only=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert app.screen.query_one("#requests", DataTable).row_count == 1
        shown = {b.action for _, b, enabled, _ in app.active_bindings.values() if enabled}
        assert not shown & {"approve", "reject", "new_request", "cancel_request"}
        await pilot.press("a", "n")
        await pilot.pause()
        assert not isinstance(app.screen, TextPrompt)
    assert core.get(req.id or 0).status == AdjustmentStatus.PENDING
