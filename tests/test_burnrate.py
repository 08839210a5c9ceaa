"""Burn rates against hand computations (asbb_core.analytics.burnrate), on both backends."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from asbb_core.analytics.burnrate import (
    BANDS,
    FACTORS,
    ON_TRACK,
    OVERSPENDING,
    UNDERSPENDING,
    UNKNOWN,
    account_burn_rate,
    band_of,
    burn_rate_status,
    grant_burn_rate,
    health_factors,
    health_score,
    health_scores,
    project,
    recommendations,
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


# ---------------------------------------------------------------- status, rolling, cumulative


def test_status_boundaries_are_the_originals_twenty_percent() -> None:
    cases = {
        "20.0": ON_TRACK,
        "20.1": OVERSPENDING,
        "-20.0": ON_TRACK,
        "-20.1": UNDERSPENDING,
        "0": ON_TRACK,
        "400": OVERSPENDING,
        "-100": UNDERSPENDING,
    }
    assert {v: burn_rate_status(D(v)) for v in cases} == cases
    assert burn_rate_status(None) == UNKNOWN


@pytest.fixture
def open_account(ledger: Ledger, clock: Clock, ctx: Context) -> str:
    clock.now = at("2026-01-01", 0)
    ledger.create_account("open", ctx=ctx, limit="100")
    return "open"


def test_status_of_a_burn_rate(
    db: Database, settings: Settings, year_account: str, open_account: str
) -> None:
    # 10.00 a day against 8.2191: +21.7 %, over the original's 20 %.
    month = account_burn_rate(db, settings, year_account, window="30d", today=date(2026, 3, 30))
    assert (month.variance_percent, month.burn_rate_status) == (D("21.7"), OVERSPENDING)
    # The whole period: 340 over 89 days = 3.82 a day, -53.5 %.
    whole = account_burn_rate(db, settings, year_account, window="period", today=date(2026, 3, 30))
    assert whole.burn_rate_status == UNDERSPENDING
    # No end date and no schedule: nothing to compare against.
    unknown = account_burn_rate(db, settings, open_account, today=date(2026, 3, 30))
    assert (unknown.variance_percent, unknown.burn_rate_status) == (None, UNKNOWN)


@pytest.mark.parametrize("window", ["7d", "30d", "90d", "period"])
def test_rolling_averages_do_not_depend_on_the_window(
    db: Database, settings: Settings, year_account: str, window: str
) -> None:
    br = account_burn_rate(db, settings, year_account, window=window, today=date(2026, 3, 30))
    assert br.rolling_7d_daily == D("21.36")  # 149.50 over 24..30 March
    assert br.rolling_30d_daily == D("10.00")  # 300 over 1..30 March (the 40 of 27 Feb is out)
    week = account_burn_rate(db, settings, year_account, window="7d", today=date(2026, 3, 30))
    assert br.rolling_7d_daily == week.actual_daily


def test_rolling_averages_start_with_the_period(
    db: Database, settings: Settings, ledger: Ledger, clock: Clock, ctx: Context
) -> None:
    clock.now = at("2026-01-01", 0)
    ledger.create_account(
        "young", ctx=ctx, limit="1000", start_date=date(2026, 1, 1), end_date=date(2026, 12, 31)
    )
    charge(ledger, clock, ctx, "2026-01-02", "young", "50.00")
    br = account_burn_rate(db, settings, "young", window="7d", today=date(2026, 1, 5))
    # 5 days of period so far: 50 / 5 either way, not 50 / 7 or 50 / 30.
    assert (br.rolling_7d_daily, br.rolling_30d_daily) == (D("10.00"), D("10.00"))
    early = account_burn_rate(db, settings, "young", window="7d", today=date(2025, 12, 1))
    assert (early.rolling_7d_daily, early.rolling_30d_daily, early.days) == (D(0), D(0), 0)


def test_cumulative_variance_runs_from_the_period_start(
    db: Database, settings: Settings, year_account: str
) -> None:
    rate = D(3000) / 365
    br = account_burn_rate(db, settings, year_account, window="30d", today=date(2026, 3, 30))
    assert br.cumulative_spend == D("340.00")  # the 40 of February counts: it is in the period
    assert br.cumulative_expected == (rate * 89).quantize(D("0.01")) == D("731.51")
    exact = (D(340) - rate * 89) / (rate * 89) * 100
    assert br.cumulative_variance_percent == exact.quantize(D("0.1")) == D("-53.5")
    # The daily series carries the running totals from 1 January.
    first, last = br.daily[0], br.daily[-1]
    assert first.day == date(2026, 3, 1)
    assert first.cumulative_actual == D("140.0000")  # 40 in February + 100 on 1 March
    assert first.cumulative_expected == (rate * 60).quantize(D("0.0001"))  # 31 + 28 + 1 days
    assert last.cumulative_actual == br.cumulative_spend
    assert last.cumulative_expected == (rate * 89).quantize(D("0.0001"))
    # The same whichever window shows it.
    week = account_burn_rate(db, settings, year_account, window="7d", today=date(2026, 3, 30))
    assert (week.cumulative_spend, week.cumulative_expected) == (
        br.cumulative_spend,
        br.cumulative_expected,
    )
    assert week.daily[-1].cumulative_actual == br.cumulative_spend


def test_projection_figures_and_time_remaining(
    db: Database, settings: Settings, year_account: str
) -> None:
    br = account_burn_rate(db, settings, year_account, window="30d", today=date(2026, 3, 30))
    assert br.time_remaining_days == 276
    assert br.projected_balance_at_end == D("-100.00")  # 2660 - 276 x 10
    assert br.projected_spend_at_end == D("3100.00")  # 340 spent + 2760 to come
    assert (br.projected_overrun, br.projected_underrun) == (D("100.00"), D(0))
    assert br.remaining_percent == D("88.7")  # 2660 / 3000
    calm = account_burn_rate(db, settings, year_account, window="period", today=date(2026, 3, 30))
    assert calm.projected_overrun == 0
    assert calm.projected_underrun == calm.projected_balance_at_end
    assert calm.projected_underrun is not None
    assert calm.projected_underrun > 0
    after = account_burn_rate(db, settings, year_account, today=date(2027, 2, 1))
    assert (after.until, after.time_remaining_days) == (date(2026, 12, 31), 0)


def test_health_factors_add_up_to_the_score(
    db: Database, settings: Settings, year_account: str
) -> None:
    br = account_burn_rate(db, settings, year_account, window="30d", today=date(2026, 3, 30))
    factors = {f.name: f for f in br.health.factors}
    assert tuple(factors) == FACTORS
    assert factors["overspend"].penalty == D("10.85")  # 21.7 / 2
    assert factors["overspend"].value == D("21.7")
    assert factors["runway"].value == 10  # exhaustion 21 Dec, 10 days before 31 Dec
    assert factors["runway"].penalty == (D(50) * 10 / 276).quantize(D("0.0001")) == D("1.8116")
    assert factors["funds"].penalty == 0
    assert factors["funds"].value == D("2660.00")
    total = sum(f.penalty for f in br.health.factors)
    assert br.health.score == int((100 - total).to_integral_value()) == 87


def test_health_factors_each_case() -> None:
    today = date(2026, 1, 1)
    empty = health_factors(
        today=today, available=D(0), variance=D(10), exhaustion=today, end_date=None
    )
    assert [f.penalty for f in empty][2] == 100
    assert (
        health_score(today=today, available=D(0), variance=D(10), exhaustion=today, end_date=None)
        == 0
    )
    capped = health_factors(
        today=today, available=D(5), variance=D(300), exhaustion=None, end_date=None
    )
    assert capped[0].penalty == 50
    assert capped[1].value is None  # no end date, no exhaustion in sight
    under = health_factors(
        today=today, available=D(5), variance=D(-60), exhaustion=None, end_date=date(2026, 6, 1)
    )
    assert (under[0].penalty, under[1].penalty, under[1].value) == (0, 0, 0)
    assert "below" in under[0].description


def test_schedule_cumulative_expectation_is_the_instalments(
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
    br = account_burn_rate(db, settings, "sched", window="7d", today=date(2026, 3, 31))
    # January, February and March spread over their own days: exactly 300 by 31 March.
    assert br.cumulative_expected == D("300.00")
    assert br.cumulative_spend == D("62.00")
    assert br.cumulative_variance_percent == D("-79.3")  # (62 - 300) / 300
    assert br.daily[-1].cumulative_expected == D("300.0000")


def test_grant_rolling_and_cumulative_figures(
    db: Database, settings: Settings, ledger: Ledger, clock: Clock, ctx: Context
) -> None:
    clock.now = at("2026-01-01", 0)
    lab = ledger.create_account("lab-a", ctx=ctx, limit="5000")

    def add(s):  # type: ignore[no-untyped-def]
        g = Grant(
            number="NSF-2",
            total_award=D(12000),
            start_date=date(2026, 7, 1),
            end_date=date(2027, 6, 30),
            indirect_rate=D("0.30"),
            created_by="t",
            created_at=clock.now,
            updated_at=clock.now,
        )
        s.add(g)
        s.flush()
        s.add(
            GrantPeriod(
                grant_id=g.id,
                number=1,
                start_date=g.start_date,
                end_date=g.end_date,
                budget=D(12000),
            )
        )
        s.add(
            GrantAccount(
                account_id=lab.id, grant_id=g.id, linked_by="t", linked_at=at("2026-07-01", 0)
            )
        )
        s.commit()

    db.run(add)
    charge(ledger, clock, ctx, "2026-07-05", "lab-a", "100.00")
    charge(ledger, clock, ctx, "2026-08-05", "lab-a", "200.00")
    br = grant_burn_rate(db, settings, "NSF-2", window="7d", today=date(2026, 8, 9))
    assert br.rolling_7d_daily == (D(260) / 7).quantize(D("0.01"))  # 200 x 1.3 on 5 August
    assert br.rolling_30d_daily == (D(260) / 30).quantize(D("0.01"))  # 11 Jul .. 9 Aug
    assert br.cumulative_spend == D("390.00")  # (100 + 200) x 1.3 since 1 July
    assert br.cumulative_expected == (D(12000) / 365 * 40).quantize(D("0.01"))
    assert br.daily[-1].cumulative_actual == D("390.0000")


# ---------------------------------------------------------------- many accounts, advice


def test_health_scores_page_through_accounts_by_name(
    db: Database, settings: Settings, year_account: str, ledger: Ledger, ctx: Context
) -> None:
    ledger.create_account("alpha", ctx=ctx, limit="10")
    ledger.create_account("zulu", ctx=ctx)
    page = health_scores(db, settings, today=date(2026, 3, 30), limit=2)
    assert page.total == 3
    assert [r.name for r in page.items] == ["alpha", "burn"]
    assert page.items[1] == account_burn_rate(
        db, settings, "burn", window="30d", today=date(2026, 3, 30)
    )
    rest = health_scores(db, settings, today=date(2026, 3, 30), limit=2, offset=2)
    assert [r.name for r in rest.items] == ["zulu"]
    assert rest.items[0].health.score == 0  # nothing to spend
    seen = health_scores(db, settings, visible=["burn"], today=date(2026, 3, 30))
    assert [r.name for r in seen.items] == ["burn"]
    with pytest.raises(ValidationError):
        health_scores(db, settings, window="2w")


def test_recommendations_follow_the_figures(
    db: Database, settings: Settings, year_account: str
) -> None:
    hot = account_burn_rate(db, settings, year_account, window="30d", today=date(2026, 3, 30))
    advice = recommendations(hot)
    assert any("21.7% above the expected rate" in line for line in advice)
    assert any("runs out on 2026-12-21, 10 days before" in line for line in advice)
    cold = account_burn_rate(db, settings, year_account, window="period", today=date(2026, 3, 30))
    assert any("below the expected rate" in line for line in recommendations(cold))
