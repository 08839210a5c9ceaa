"""Burn rates against hand computations (asbb_core.analytics.burnrate), on both backends."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from asbb_core.analytics.burnrate import (
    BANDS,
    account_burn_rate,
    band_of,
    grant_burn_rate,
    health_score,
    project,
    window_start,
)
from asbb_core.funding.allocations import Instalment
from asbb_core.ledger import Ledger
from asbb_core.settings import BurnRateSettings, Settings
from asbb_core.store.database import Database
from asbb_core.store.models import AllocationSchedule, Grant, GrantAccount, GrantPeriod
from asbb_core.values.context import Context
from asbb_core.values.errors import NotFoundError, ValidationError
from asbb_core.values.periods import Frequency
from tests.conftest import Clock

D = Decimal


def at(day: str, hour: int = 12) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


def charge(
    ledger: Ledger, clock: Clock, ctx: Context, when: str, account: str, cost: str, **kw: str
) -> None:
    clock.now = at(when)
    hold = ledger.create_hold(account, cost, ctx=ctx, buffer=1, **kw)
    ledger.post_hold(hold.hold_id, cost, ctx=ctx)


@pytest.fixture
def year_account(ledger: Ledger, clock: Clock, ctx: Context) -> str:
    """$3,000 for 2026; $300 spent in March (30-day window ending 30 March)."""
    clock.now = at("2026-01-01", 0)
    ledger.create_account(
        "burn", ctx=ctx, limit="3000", start_date=date(2026, 1, 1), end_date=date(2026, 12, 31)
    )
    charge(ledger, clock, ctx, "2026-02-27", "burn", "40.00", partition="aws-cpu")  # outside
    charge(ledger, clock, ctx, "2026-03-01", "burn", "100.00", partition="aws-cpu", user_name="ann")
    charge(ledger, clock, ctx, "2026-03-15", "burn", "50.50", partition="gpu-aws", user_name="bob")
    charge(ledger, clock, ctx, "2026-03-30", "burn", "149.50", partition="aws-cpu", user_name="ann")
    return "burn"


def test_account_burn_rate_matches_a_hand_computation(
    db: Database, settings: Settings, year_account: str
) -> None:
    br = account_burn_rate(db, settings, year_account, window="30d", today=date(2026, 3, 30))
    assert (br.since, br.until, br.days) == (date(2026, 3, 1), date(2026, 3, 30), 30)
    assert br.spent == D("300.00")
    assert br.actual_daily == D("10.00")  # 300 / 30
    assert br.expected_basis == "linear"
    assert br.expected_daily == D("8.22")  # 3000 / 365 = 8.2191...
    assert br.variance_percent == D("21.7")  # (10 - 8.2191) / 8.2191 = 21.666..%
    assert br.available == D("2660.00")  # 3000 - 40 - 300
    # 2660 / 10 = 266 days after 30 March.
    assert br.projected_exhaustion == date(2026, 3, 30) + timedelta(days=266)
    assert br.projected_balance_at_end == D("2660") - D(10) * 276  # 276 days to 31 Dec
    # score = 100 - 21.7 / 2 - 50 x (10 days short / 276 days left) = 87.34 -> 87
    assert br.health.score == 87
    assert br.health.band == "healthy"
    assert br.by_partition == [("aws-cpu", D("249.50")), ("gpu-aws", D("50.50"))]
    assert br.by_user == [("ann", D("249.50")), ("bob", D("50.50"))]
    assert len(br.daily) == 30
    assert br.daily[0].actual == D("100.00")
    assert br.daily[1].actual == 0
    assert sum(d.actual for d in br.daily) == D("300.00")
    assert br.daily[0].expected is not None
    assert br.daily[0].expected.quantize(D("0.01")) == D("8.22")


def test_windows_and_whole_period(db: Database, settings: Settings, year_account: str) -> None:
    week = account_burn_rate(db, settings, year_account, window="7d", today=date(2026, 3, 30))
    assert (week.since, week.spent, week.actual_daily) == (
        date(2026, 3, 24),
        D("149.50"),
        D("21.36"),
    )
    whole = account_burn_rate(db, settings, year_account, window="period", today=date(2026, 3, 30))
    assert whole.since == date(2026, 1, 1)
    assert whole.days == 89
    assert whole.spent == D("340.00")
    assert whole.actual_daily == D("3.82")
    year = account_burn_rate(db, settings, year_account, window="1y", today=date(2026, 3, 30))
    assert year.since == date(2026, 1, 1)  # never before the account's period starts
    half = account_burn_rate(db, settings, year_account, window="6m", today=date(2026, 8, 15))
    assert half.since == date(2026, 2, 16)


def test_health_band_follows_the_configured_thresholds(
    db: Database, settings: Settings, year_account: str
) -> None:
    today = date(2026, 3, 30)
    assert account_burn_rate(db, settings, year_account, today=today).health.band == "healthy"
    stricter = settings.model_copy(
        update={"burn_rate": BurnRateSettings(healthy_from=88, concern_from=87, warning_from=20)}
    )
    br = account_burn_rate(db, stricter, year_account, today=today)
    assert (br.health.score, br.health.band) == (87, "concern")
    strictest = settings.model_copy(
        update={"burn_rate": BurnRateSettings(healthy_from=99, concern_from=98, warning_from=88)}
    )
    assert account_burn_rate(db, strictest, year_account, today=today).health.band == "critical"


def test_band_edges() -> None:
    bands = BurnRateSettings()
    assert [band_of(s, bands) for s in (100, 75, 74, 50, 49, 25, 24, 0)] == [
        "healthy",
        "healthy",
        "concern",
        "concern",
        "warning",
        "warning",
        "critical",
        "critical",
    ]
    assert set(BANDS) == {"healthy", "concern", "warning", "critical"}
    with pytest.raises(ValueError, match="bands must descend"):
        BurnRateSettings(healthy_from=50, concern_from=50)


def test_score_components() -> None:
    today = date(2026, 1, 1)
    # On plan, money lasts past the end: perfect.
    assert (
        health_score(
            today=today, available=D(10), variance=D(0), exhaustion=None, end_date=date(2026, 2, 1)
        )
        == 100
    )
    # Underspending is not penalised.
    assert (
        health_score(today=today, available=D(10), variance=D(-80), exhaustion=None, end_date=None)
        == 100
    )
    # Overspend penalty is capped at 50; runway penalty at 50.
    assert (
        health_score(
            today=today,
            available=D(10),
            variance=D(400),
            exhaustion=today,
            end_date=date(2026, 12, 31),
        )
        == 0
    )
    # Nothing left: 0 whatever else.
    assert (
        health_score(today=today, available=D(0), variance=None, exhaustion=None, end_date=None)
        == 0
    )
    # No end date: exhaustion 15 days out costs half of 50.
    assert (
        health_score(
            today=today,
            available=D(10),
            variance=None,
            exhaustion=today + timedelta(days=15),
            end_date=None,
        )
        == 75
    )


def test_projection_adds_instalments_still_to_come() -> None:
    today = date(2026, 1, 10)
    coming = [Instalment(1, date(2026, 2, 1), D(100)), Instalment(2, date(2026, 3, 1), D(100))]
    # 50 lasts 5 days at 10/day: gone on 15 January, before the first instalment arrives.
    assert project(today=today, available=D(50), daily=D(10), end_date=None, incoming=coming) == (
        date(2026, 1, 15),
        None,
    )
    # 250 lasts to 4 Feb (22 days -> 30 left), +100 = 130 lasts 13 more days: 14 February.
    exhaust, at_end = project(
        today=today, available=D(250), daily=D(10), end_date=date(2026, 3, 31), incoming=coming
    )
    assert exhaust == date(2026, 2, 14)
    assert at_end == D(250) + D(200) - D(10) * 80
    assert project(today=today, available=D(5), daily=D(0), end_date=None) == (None, None)
    # A trickle that would last past the year 9999 projects no exhaustion (no overflow).
    assert project(today=today, available=D(10**9), daily=D("0.01"), end_date=None) == (
        None,
        None,
    )


def test_schedule_based_expectation(
    db: Database, settings: Settings, ledger: Ledger, clock: Clock, ctx: Context
) -> None:
    clock.now = at("2026-01-01", 0)
    acct = ledger.create_account("sched", ctx=ctx, limit="300")
    assert acct.id is not None

    def add(s):  # type: ignore[no-untyped-def]
        s.add(
            AllocationSchedule(
                account_id=acct.id,
                amount=D(100),
                total=D(1200),
                frequency=Frequency.MONTHLY,
                start_date=date(2026, 1, 1),
                instalments=12,
                next_period=3,
                created_by="t",
                created_at=clock.now,
                updated_at=clock.now,
            )
        )
        s.commit()

    db.run(add)
    charge(ledger, clock, ctx, "2026-03-10", "sched", "62.00")
    br = account_burn_rate(db, settings, "sched", window="30d", today=date(2026, 3, 31))
    assert br.expected_basis == "schedule"
    # The window 2 March .. 31 March lies inside the March instalment: 100 / 31 a day.
    assert br.expected_daily == D("3.23")
    assert br.actual_daily == D("2.07")  # 62 / 30
    assert br.end_date == date(2026, 12, 31)  # the schedule's last period ends the budget
    # 238 left at 62/30 a day, +100 on each first of the month from April to December.
    assert br.projected_balance_at_end == (D(238) + D(900) - D(62) / 30 * 275).quantize(D("0.01"))
    # Straddling two instalments: 1..28 Feb at 100/28 a day, 1..2 Mar at 100/31.
    feb = account_burn_rate(db, settings, "sched", window="30d", today=date(2026, 3, 2))
    assert feb.since == date(2026, 2, 1)
    expected = (D(100) + D(100) / 31 * 2) / 30
    assert feb.expected_daily == expected.quantize(D("0.01"))


def test_grant_burn_rate_is_total_cost_of_the_current_period(
    db: Database, settings: Settings, ledger: Ledger, clock: Clock, ctx: Context
) -> None:
    clock.now = at("2026-01-01", 0)
    a = ledger.create_account("lab-a", ctx=ctx, limit="5000")
    b = ledger.create_account("lab-b", ctx=ctx, limit="5000")
    charge(ledger, clock, ctx, "2026-07-05", "lab-a", "200.00")  # period 2, before the link

    def add(s):  # type: ignore[no-untyped-def]
        g = Grant(
            number="NSF-1",
            total_award=D(36000),
            start_date=date(2025, 7, 1),
            end_date=date(2028, 6, 30),
            indirect_rate=D("0.30"),
            created_by="t",
            created_at=clock.now,
            updated_at=clock.now,
        )
        s.add(g)
        s.flush()
        for n, (start, end) in enumerate(
            [(date(2025, 7, 1), date(2026, 6, 30)), (date(2026, 7, 1), date(2027, 6, 30))], 1
        ):
            s.add(
                GrantPeriod(
                    grant_id=g.id, number=n, start_date=start, end_date=end, budget=D(12000)
                )
            )
        for acct in (a, b):
            s.add(
                GrantAccount(
                    account_id=acct.id, grant_id=g.id, linked_by="t", linked_at=at("2026-07-10", 0)
                )
            )
        s.commit()

    db.run(add)
    charge(ledger, clock, ctx, "2026-06-20", "lab-b", "999.00")  # period 1
    charge(ledger, clock, ctx, "2026-07-20", "lab-a", "600.00", partition="aws-cpu")
    charge(ledger, clock, ctx, "2026-08-09", "lab-b", "400.00", partition="gpu-aws")
    br = grant_burn_rate(db, settings, "NSF-1", today=date(2026, 8, 9))
    assert br.subject == "grant"
    assert br.indirect_rate == D("0.30")
    assert (br.since, br.until, br.days) == (date(2026, 7, 1), date(2026, 8, 9), 40)
    assert br.spent == D("1300.00")  # (600 + 400) x 1.3; the 200 before linking is not counted
    assert br.spent_to_date == D("1300.00")
    assert br.available == D("10700.00")
    assert br.actual_daily == D("32.50")  # 1300 / 40
    assert br.expected_daily == D("32.88")  # 12000 / 365
    assert br.by_partition == [("aws-cpu", D("780.00")), ("gpu-aws", D("520.00"))]
    with pytest.raises(NotFoundError):
        grant_burn_rate(db, settings, "NOPE", today=date(2026, 8, 9))

    # A chosen period: the current one by number is the same; a past one is its whole span,
    # and counts nothing from before the accounts were linked (the 999 of June).
    assert grant_burn_rate(db, settings, "NSF-1", today=date(2026, 8, 9), period_number=2) == br
    first = grant_burn_rate(db, settings, "NSF-1", today=date(2026, 8, 9), period_number=1)
    assert (first.since, first.until, first.budget) == (
        date(2025, 7, 1),
        date(2026, 6, 30),
        D(12000),
    )
    assert first.spent == D(0)
    assert first.available == D(12000)
    with pytest.raises(NotFoundError) as err:
        grant_burn_rate(db, settings, "NSF-1", today=date(2026, 8, 9), period_number=3)
    assert err.value.field == "period"
    assert "1..2" in err.value.message


def test_bad_window_and_unknown_account(db: Database, settings: Settings) -> None:
    with pytest.raises(ValidationError) as err:
        account_burn_rate(db, settings, "x", window="2w")
    assert err.value.field == "window"
    with pytest.raises(NotFoundError):
        account_burn_rate(db, settings, "nobody")
    assert window_start("period", date(2026, 5, 1), date(2026, 1, 1)) == date(2026, 1, 1)
