"""The dashboard's figures (asbb_core.analytics.overview) against a ledger seeded and summed by
hand.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlmodel import Session

from asbb_core.analytics.burnrate import BANDS, account_burn_rate
from asbb_core.analytics.overview import Overview, overview
from asbb_core.funding.approvals import Approvals
from asbb_core.ledger import Ledger
from asbb_core.settings import Settings
from asbb_core.store.database import Database
from asbb_core.store.models import Alert, AlertSeverity, AlertStatus
from asbb_core.values.context import Context, Source
from asbb_core.values.errors import ValidationError
from tests.conftest import Clock

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def _at(clock: Clock, when: datetime) -> None:
    clock.now = when


def _charge(ledger: Ledger, ctx: Context, account: str, cost: str) -> None:
    hold = ledger.create_hold(account, cost, ctx=ctx, buffer=1)
    ledger.post_hold(hold.hold_id, cost, ctx=ctx)


def add_alert(
    db: Database, n: int, status: AlertStatus, severity: AlertSeverity, now: datetime
) -> None:
    def write(s: Session) -> None:
        s.add(
            Alert(
                kind="test",
                severity=severity,
                dedup_key=f"test:{n}",
                active_key=None if status == AlertStatus.RESOLVED else f"test:{n}",
                title=f"alert {n}",
                status=status,
                opened_at=now,
                last_seen_at=now,
            )
        )

    db.run(write)


def seed(ledger: Ledger, db: Database, clock: Clock, ctx: Context) -> None:
    """Four accounts, spend on known days, an open hold, alerts and approvals.

    By hand (now = 10 March 2026, 12:00 UTC):
    limit 1000 + 500 + 200 + 100 = 1800.00; used alpha 50 + 20 + 12.50 + 2.50 - 1 = 84.00,
    beta 30 + 7.25 = 37.25, gamma 40 -> 161.25; held 10.00 (beta's open hold);
    available 1800 - 161.25 - 10 = 1628.75.
    Today 40 + 2.50 - 1 = 41.50; March 30 + 19.75 + 41.50 = 91.25.
    Last 7 days (4-10 March): gamma 40.00, alpha 14.00, beta 7.25; delta nothing.
    """
    _at(clock, datetime(2026, 2, 1, 9, 0, tzinfo=UTC))
    for name, limit in (("alpha", "1000"), ("beta", "500"), ("gamma", "200"), ("delta", "100")):
        ledger.create_account(name, ctx=ctx, limit=limit)
    _at(clock, datetime(2026, 2, 5, 9, 0, tzinfo=UTC))  # before the 30-day window
    _charge(ledger, ctx, "alpha", "50.00")
    _at(clock, datetime(2026, 2, 20, 10, 0, tzinfo=UTC))  # in the window, not this month
    _charge(ledger, ctx, "alpha", "20.00")
    _at(clock, datetime(2026, 3, 1, 0, 30, tzinfo=UTC))  # this month, not the last 7 days
    _charge(ledger, ctx, "beta", "30.00")
    _at(clock, datetime(2026, 3, 5, 9, 0, tzinfo=UTC))
    _charge(ledger, ctx, "alpha", "12.50")
    _charge(ledger, ctx, "beta", "7.25")
    _at(clock, datetime(2026, 3, 10, 8, 0, tzinfo=UTC))
    _charge(ledger, ctx, "gamma", "40.00")
    _charge(ledger, ctx, "alpha", "2.50")
    _at(clock, datetime(2026, 3, 10, 9, 0, tzinfo=UTC))
    ledger.adjust("alpha", "-1.00", ctx=ctx, reason="refund", target="used")
    ledger.update_account("gamma", ctx=ctx, status="suspended")
    _at(clock, datetime(2026, 3, 10, 10, 0, tzinfo=UTC))
    ledger.create_hold("beta", "10.00", ctx=Context("slurm", Source.PLUGIN), buffer=1)
    _at(clock, NOW)

    add_alert(db, 1, AlertStatus.OPEN, AlertSeverity.WARNING, NOW)
    add_alert(db, 2, AlertStatus.OPEN, AlertSeverity.CRITICAL, NOW)
    add_alert(db, 3, AlertStatus.ACKNOWLEDGED, AlertSeverity.CRITICAL, NOW)
    add_alert(db, 4, AlertStatus.RESOLVED, AlertSeverity.CRITICAL, NOW)

    approvals = Approvals(db, ledger, ledger.settings, clock)
    approvals.request("credit", "alpha", "100", requested_by="ann", reason="more")
    approvals.request("debit", "beta", "5", requested_by="ann", reason="less")
    done = approvals.request("credit", "delta", "1", requested_by="ann", reason="x")
    assert done.id is not None
    approvals.reject(done.id, approver="bob", reason="no")


def test_overview_figures_match_the_hand_sums(
    ledger: Ledger, db: Database, settings: Settings, clock: Clock, ctx: Context
) -> None:
    seed(ledger, db, clock, ctx)
    view = overview(db, settings, now=NOW)

    assert isinstance(view, Overview)
    assert view.today == date(2026, 3, 10)
    assert (view.accounts, view.active_accounts, view.suspended_accounts) == (4, 3, 1)
    assert view.limit == Decimal("1800.00")
    assert view.used == Decimal("161.25")
    assert view.held == Decimal("10.00")
    assert view.available == Decimal("1628.75")
    for value in (view.limit, view.used, view.held, view.spent_today, view.spent_month):
        assert isinstance(value, Decimal)
    assert view.spent_today == Decimal("41.50")
    assert view.spent_month == Decimal("91.25")

    # 30 days, oldest first, zero-filled; 5 February is outside, 20 February inside.
    assert len(view.daily) == 30
    assert view.daily[0][0] == date(2026, 2, 9)
    assert view.daily[-1] == (date(2026, 3, 10), Decimal("41.50"))
    spent = {d: v for d, v in view.daily if v}
    assert spent == {
        date(2026, 2, 20): Decimal("20.00"),
        date(2026, 3, 1): Decimal("30.00"),
        date(2026, 3, 5): Decimal("19.75"),
        date(2026, 3, 10): Decimal("41.50"),
    }

    assert [(b.account, b.spent) for b in view.top_burners] == [
        ("gamma", Decimal("40.00")),
        ("alpha", Decimal("14.00")),
        ("beta", Decimal("7.25")),
    ]
    beta = view.top_burners[2]
    assert (beta.limit, beta.used, beta.held, beta.available) == (
        Decimal("500.00"),
        Decimal("37.25"),
        Decimal("10.00"),
        Decimal("452.75"),
    )
    assert view.top_burners[0].status == "suspended"
    for burner in view.top_burners:
        assert burner.health is not None
        assert burner.health.band in BANDS
        expected = account_burn_rate(db, settings, burner.account, window="30d", today=NOW.date())
        assert burner.health == expected.health

    assert (view.alerts_open, view.alerts_acknowledged, view.alerts_critical) == (2, 1, 2)
    assert view.alerts_unresolved == 3
    assert view.pending_approvals == 2

    # Newest journal row first: beta's open hold.
    assert len(view.recent) == 10
    first = view.recent[0]
    assert (first.account, first.kind, first.amount, first.actor, first.source) == (
        "beta",
        "hold",
        Decimal("10.00"),
        "slurm",
        "plugin",
    )
    assert first.created_at == datetime(2026, 3, 10, 10, 0, tzinfo=UTC)
    ids = [row.id for row in view.recent]
    assert ids == sorted(ids, reverse=True)


def test_overview_limits_burners_and_recent_rows(
    ledger: Ledger, db: Database, settings: Settings, clock: Clock, ctx: Context
) -> None:
    seed(ledger, db, clock, ctx)
    view = overview(db, settings, now=NOW, days=7, burners=2, recent=3)
    assert [b.account for b in view.top_burners] == ["gamma", "alpha"]
    assert len(view.recent) == 3
    assert [d for d, _ in view.daily] == [date(2026, 3, 4) + timedelta(days=n) for n in range(7)]
    # The month is still the whole month, whatever the window.
    assert view.spent_month == Decimal("91.25")


def test_overview_of_an_empty_ledger_is_all_zero(db: Database, settings: Settings) -> None:
    view = overview(db, settings, now=NOW)
    assert (view.accounts, view.limit, view.used, view.held, view.available) == (0, 0, 0, 0, 0)
    assert isinstance(view.limit, Decimal)
    assert view.spent_today == view.spent_month == Decimal(0)
    assert len(view.daily) == 30
    assert all(v == 0 for _, v in view.daily)
    assert view.top_burners == []
    assert view.recent == []
    assert view.alerts_unresolved == view.pending_approvals == 0


@pytest.mark.parametrize("backend", ["sqlite"])
def test_overview_refuses_bad_arguments(db: Database, settings: Settings) -> None:
    with pytest.raises(ValidationError, match="days"):
        overview(db, settings, now=NOW, days=0)
    with pytest.raises(ValidationError, match="burners"):
        overview(db, settings, now=NOW, burners=500)
    with pytest.raises(ValidationError, match="now"):
        overview(db, settings, now=NOW.replace(tzinfo=None))
