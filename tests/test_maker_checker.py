"""Maker-checker on every movement of money or limits a person makes, over real HTTP and the
real CLI, on SQLite and PostgreSQL.

With ``approvals.require_approval`` on (the default) a deposit, a new limit (also an opening
one), a one-off allocation or a hold void moves nothing: it becomes a pending request that
only another person can approve. Tests marked ``single_admin`` elsewhere show the same paths
moving at once when a site turns approval off.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner, Result

from asbb_core.access.tokens import Tokens
from asbb_core.ledger import Ledger
from asbb_core.store.database import Database
from asbb_core.store.models import AdjustmentRequest, HoldState
from asbb_core.values.context import Context
from asbb_tui.cli import app
from tests.wire import D, loads

MAKER = "daemon"
CHECKER = "bin"


def requests_of(db: Database) -> list[AdjustmentRequest]:
    from sqlmodel import select

    return db.read(lambda s: list(s.exec(select(AdjustmentRequest))))


def journal_size(ledger: Ledger) -> int:
    return len(ledger.journal(limit=1000))


# ------------------------------------------------------------------------------ the API


@pytest.fixture
def second_admin(live_daemon: Any, db: Database, clock: Any) -> httpx.Client:
    secret = Tokens(db, clock=clock).create("second-admin", "admin", actor="tests").secret
    return httpx.Client(base_url=live_daemon.url, headers={"Authorization": f"Bearer {secret}"})


def test_an_api_deposit_is_a_request_until_another_admin_approves(
    live_daemon: Any, ledger: Ledger, ctx: Context, db: Database, second_admin: httpx.Client
) -> None:
    ledger.create_account("physics", ctx=ctx, limit="100")
    rows = journal_size(ledger)
    with live_daemon.client("admin") as admin:
        asked = admin.post(
            "/api/v1/accounts/physics/deposits",
            json={"amount": "250.00", "memo": "grant 17"},
            headers={"Idempotency-Key": "dep-1"},
        )
        assert asked.status_code == 202, asked.text
        request = asked.json()
        assert request["status"] == "pending"
        assert request["kind"] == "credit"
        assert request["amount"] == D("250.00")
        assert request["requested_by"] == "test-admin"
        # The reply was lost and the client retries: the same request, not a second one.
        again = admin.post(
            "/api/v1/accounts/physics/deposits",
            json={"amount": "250.00", "memo": "grant 17"},
            headers={"Idempotency-Key": "dep-1"},
        )
        assert again.status_code == 202
        assert again.json()["id"] == request["id"]
        assert len(requests_of(db)) == 1
        assert ledger.get_account("physics").limit_amount == Decimal("100")
        assert journal_size(ledger) == rows
        # The maker cannot approve it; another admin can.
        own = admin.post(f"/api/v1/adjustments/{request['id']}/approve", json={"reason": "ok"})
        assert own.status_code == 403
        assert own.json()["error"]["code"] == "self_approval"
    approved = second_admin.post(
        f"/api/v1/adjustments/{request['id']}/approve", json={"reason": "ok"}
    )
    assert approved.status_code == 200, approved.text
    assert ledger.get_account("physics").limit_amount == Decimal("350")


def test_api_limits_allocations_and_voids_are_requests(
    live_daemon: Any, ledger: Ledger, ctx: Context, db: Database
) -> None:
    ledger.create_account("physics", ctx=ctx, limit="100")
    hold = ledger.create_hold("physics", "10", ctx=ctx, partition="aws-cpu")
    with live_daemon.client("admin") as admin:
        opened = admin.post("/api/v1/accounts", json={"name": "chem", "limit": "500"})
        assert opened.status_code == 201, opened.text
        assert opened.json()["limit"] == D("0.00")
        limit_request = int(opened.headers["Asbb-Adjustment-Request"])

        changed = admin.patch(
            "/api/v1/accounts/physics",
            json={"limit": "900", "reason": "renewal", "description": "x"},
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["description"] == "x"  # the details change at once
        assert changed.json()["limit"] == D("100.00")  # the limit waits
        change_request = int(changed.headers["Asbb-Adjustment-Request"])

        unchanged = admin.patch("/api/v1/accounts/physics", json={"limit": "100", "reason": "same"})
        assert unchanged.status_code == 200
        assert "Asbb-Adjustment-Request" not in unchanged.headers

        once = admin.post("/api/v1/accounts/physics/allocations", json={"amount": "40"})
        assert once.status_code == 202, once.text
        assert once.json()["kind"] == "credit"

        voided = admin.post(f"/api/v1/holds/{hold.hold_id}/void", json={"reason": "job cancelled"})
        assert voided.status_code == 202, voided.text
        assert voided.json()["kind"] == "hold_release"
        assert voided.json()["hold_id"] == hold.hold_id

    kinds = {r.id: (str(r.kind), r.account, r.amount) for r in requests_of(db)}
    assert kinds[limit_request] == ("limit", "chem", Decimal("500"))
    assert kinds[change_request] == ("limit", "physics", Decimal("900"))
    assert len(kinds) == 4
    assert ledger.get_account("physics").limit_amount == Decimal("100")
    assert ledger.get_account("chem").limit_amount == Decimal("0")
    assert ledger.get_hold(hold.hold_id).state == HoldState.OPEN


def test_a_refused_movement_asks_nothing(
    live_daemon: Any, ledger: Ledger, ctx: Context, db: Database
) -> None:
    ledger.create_account("physics", ctx=ctx, limit="100")
    with live_daemon.client("admin") as admin:
        assert (
            admin.post("/api/v1/accounts/physics/deposits", json={"amount": "-5"}).status_code
            == 422
        )
        assert (
            admin.post("/api/v1/accounts/nowhere/deposits", json={"amount": "5"}).status_code == 404
        )
        assert admin.post("/api/v1/holds/h-missing/void", json={}).status_code == 404
    assert requests_of(db) == []


# ------------------------------------------------------------------------------ the CLI


@pytest.fixture
def asbb(
    migrated_url: str, cli_environment: Path, act_as: Callable[[str], None]
) -> Callable[..., Result]:
    def run(*args: str, actor: str = MAKER) -> Result:
        act_as(actor)
        return CliRunner().invoke(app, ["--database", migrated_url, *args])

    return run


def ok(result: Result) -> Result:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result


def test_cli_movements_are_requests_the_same_person_cannot_approve(
    asbb: Callable[..., Result], ledger: Ledger, ctx: Context, db: Database
) -> None:
    ledger.create_account("physics", ctx=ctx, limit="100")
    hold = ledger.create_hold("physics", "10", ctx=ctx, partition="aws-cpu")

    created = ok(asbb("account", "create", "chem", "--limit", "500", "--json"))
    assert loads(created.stdout)["limit"] == D("0.00")
    assert '"limit": 0.00,' in created.stdout  # a number, to the cent
    assert "approval required" in created.stderr

    updated = ok(asbb("account", "update", "physics", "--limit", "900", "--reason", "renewal"))
    assert "asbb adjust approve" in updated.stderr

    once = loads(ok(asbb("allocations", "once", "physics", "40", "--json")).stdout)
    assert (once["status"], once["kind"], once["requested_by"]) == ("pending", "credit", MAKER)
    assert once["amount"] == D("40.00")

    voided = ok(asbb("holds", "void", hold.hold_id, "--reason", "cancelled"))
    assert f"voiding hold {hold.hold_id} is adjustment request" in voided.stdout

    assert ledger.get_account("physics").limit_amount == Decimal("100")
    assert ledger.get_account("chem").limit_amount == Decimal("0")
    assert ledger.get_hold(hold.hold_id).state == HoldState.OPEN
    pending = {str(r.kind): r for r in requests_of(db)}
    assert set(pending) == {"limit", "credit", "hold_release"}
    assert {r.requested_by for r in requests_of(db)} == {MAKER}

    # The maker is refused in the CLI and (same identity) would be in the console; another
    # login approves.
    credit = pending["credit"].id
    refused = asbb("adjust", "approve", str(credit), "--reason", "mine")
    assert refused.exit_code != 0
    assert "may not approve" in refused.stderr or "self" in refused.stderr
    ok(asbb("adjust", "approve", str(credit), "--reason", "checked", actor=CHECKER))
    assert ledger.get_account("physics").limit_amount == Decimal("140")
