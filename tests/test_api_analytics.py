"""Burn rates and cost ratios over real HTTP, with reader scoping."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import httpx
import pytest

from asbb_core.access.tokens import Tokens
from asbb_core.ledger import Ledger
from asbb_core.store.models import Grant, GrantAccount, GrantPeriod
from asbb_core.values.context import Context
from tests.conftest import Clock, LiveDaemon


@pytest.fixture
def history(ledger: Ledger, clock: Clock, ctx: Context) -> Ledger:
    clock.now = datetime(2026, 1, 1, tzinfo=UTC)
    ledger.create_account(
        "burn", ctx=ctx, limit="3000", start_date=date(2026, 1, 1), end_date=date(2026, 12, 31)
    )
    ledger.create_account("hidden", ctx=ctx, limit="100")
    for day, cost, part in (("2026-03-01", "100.00", "aws-cpu"), ("2026-03-30", "200.00", None)):
        clock.now = datetime.fromisoformat(day).replace(hour=9, tzinfo=UTC)
        hold = ledger.create_hold("burn", cost, ctx=ctx, buffer=1, partition=part)
        ledger.post_hold(hold.hold_id, cost, ctx=ctx)
    clock.now = datetime(2026, 3, 30, 18, tzinfo=UTC)
    return ledger


def test_account_burn_rate(live_daemon: LiveDaemon, history: Ledger) -> None:
    with live_daemon.client("reader") as client:
        body = client.get("/api/v1/accounts/burn/burn-rate").json()
    assert body["window"] == "30d"
    assert body["until"] == "2026-03-30"  # the daemon's clock
    assert body["spent"] == "300.00"
    assert body["actual_daily"] == "10.00"
    assert body["expected_daily"] == "8.22"
    assert body["variance_percent"] == "21.7"
    assert body["health"]["band"] == "healthy"
    assert body["by_partition"] == [
        {"key": "aws-cpu", "spent": "100.00"},
        {"key": None, "spent": "200.00"},
    ]
    assert len(body["daily"]) == 30
    assert body["daily"][0] == {"day": "2026-03-01", "actual": "100.00", "expected": "8.22"}


def test_windows_today_and_errors(live_daemon: LiveDaemon, history: Ledger) -> None:
    with live_daemon.client("reader") as client:
        week = client.get(
            "/api/v1/accounts/burn/burn-rate", params={"window": "7d", "today": "2026-03-05"}
        ).json()
        assert (week["since"], week["spent"]) == ("2026-02-27", "100.00")
        bad = client.get("/api/v1/accounts/burn/burn-rate", params={"window": "2w"})
        assert bad.status_code == 422
        bad_day = client.get("/api/v1/accounts/burn/burn-rate", params={"today": "yesterday"})
        assert bad_day.status_code == 422
        assert bad_day.json()["error"]["field"] == "today"
        assert client.get("/api/v1/accounts/nobody/burn-rate").status_code == 404


def test_scoped_reader_sees_only_its_accounts(
    live_daemon: LiveDaemon, history: Ledger, clock: Clock
) -> None:
    db = live_daemon.services.db

    def add(s):  # type: ignore[no-untyped-def]
        grant = Grant(
            number="G-1",
            total_award=Decimal(1000),
            start_date=date(2026, 1, 1),
            end_date=date(2026, 12, 31),
            indirect_rate=Decimal("0.5"),
            created_by="t",
            created_at=clock.now,
            updated_at=clock.now,
        )
        s.add(grant)
        s.flush()
        s.add(
            GrantPeriod(
                grant_id=grant.id,
                number=1,
                start_date=grant.start_date,
                end_date=grant.end_date,
                budget=Decimal(1000),
            )
        )
        s.add(
            GrantAccount(
                account_id=1,
                grant_id=grant.id,
                linked_by="t",
                linked_at=datetime(2026, 1, 1, tzinfo=UTC),
            )
        )
        s.commit()

    db.run(add)
    secret = (
        Tokens(db, clock=clock).create("scoped", "reader", accounts=["hidden"], actor="t").secret
    )
    with httpx.Client(
        base_url=live_daemon.url, headers={"Authorization": f"Bearer {secret}"}
    ) as client:
        assert client.get("/api/v1/accounts/burn/burn-rate").status_code == 403
        assert client.get("/api/v1/accounts/hidden/burn-rate").status_code == 200
        assert client.get("/api/v1/grants/G-1/burn-rate").status_code == 403
    with live_daemon.client("reader") as client:
        grant = client.get("/api/v1/grants/G-1/burn-rate").json()
        assert grant["spent"] == "450.00"  # 300 direct x 1.5
        assert grant["accounts"] == ["burn"]
        assert client.get("/api/v1/grants/NOPE/burn-rate").status_code == 404
        chosen = client.get("/api/v1/grants/G-1/burn-rate", params={"period": 1}).json()
        assert chosen["spent"] == grant["spent"]  # G-1 has one period: the current one
        missing = client.get("/api/v1/grants/G-1/burn-rate", params={"period": 2})
        assert missing.status_code == 404
        assert missing.json()["error"]["field"] == "period"
        assert client.get("/api/v1/grants/G-1/burn-rate", params={"period": 0}).status_code == 422


def test_calibration_report(live_daemon: LiveDaemon, ledger: Ledger, ctx: Context) -> None:
    ledger.create_account("lab", ctx=ctx, limit="100")
    hold = ledger.create_hold("lab", "10", ctx=ctx, partition="aws-cpu")
    ledger.post_hold(hold.hold_id, "9", ctx=ctx)
    with live_daemon.client("reader") as client:
        body = client.get("/api/v1/calibration").json()
    assert body["enabled"] is False
    assert body["ratios"] == [
        {
            "account": "lab",
            "partition": "aws-cpu",
            "jobs": 1,
            "estimated": "10.00",
            "actual": "9.00",
            "ratio": "0.9000",
            "factor": "1",
        }
    ]
