"""Burn rate: how fast an account or a grant spends, against how fast it was expected to.

For a window (7d, 30d, 90d, 6m, 1y, or the whole period) ending today:

- **actual daily spend** = net spend in the window / days in the window (the window never
  starts before the budget's period does);
- **expected daily spend** = the budget spread evenly over its period (``linear``), or, for an
  account paid by allocation schedules, each instalment spread evenly over its own period
  (``schedule``); unknown when an account has neither an end date nor a schedule;
- **variance %** = (actual - expected) / expected x 100;
- **projected exhaustion**: the day the available money (plus instalments still to come) runs
  out at the actual daily rate; **projected balance at the end** of the period likewise;
- **health score** 0-100 = 100 minus an overspend penalty (half the variance %, at most 50)
  minus a runway penalty (up to 50: the share of the remaining period that the money will not
  last; without an end date, how far inside 30 days exhaustion is), 0 once nothing is left.
  Bands from settings: healthy, concern, warning, critical.

Spend is aggregated in SQL (``asbb_core.ledger.spend``: ``GROUP BY`` day, partition, user);
Python
only walks days and instalments, never journal rows. A grant's figures are total cost: the
direct spend of its linked accounts (from when each was linked) x (1 + indirect rate).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_FLOOR, Decimal

from sqlmodel import Session, col, select

from asbb_core.funding.allocations import Instalment, planned_instalments
from asbb_core.funding.grants import (
    grant_spend_total,
    link_scopes,
    load_grant,
    load_periods,
    period_at,
    total_cost,
)
from asbb_core.ledger.spend import Scope, spend_breakdown
from asbb_core.settings import BurnRateSettings, Settings
from asbb_core.store.database import Database
from asbb_core.store.models import (
    Account,
    AllocationSchedule,
    GrantAccount,
    GrantPeriod,
    ScheduleStatus,
)
from asbb_core.values.context import utcnow
from asbb_core.values.errors import NotFoundError, ValidationError
from asbb_core.values.money import ZERO, round_internal, round_posting
from asbb_core.values.periods import add_months, days_inclusive, due_date
from asbb_core.values.text import normalise_account_name

WINDOWS: tuple[str, ...] = ("7d", "30d", "90d", "6m", "1y", "period")
BANDS: tuple[str, ...] = ("healthy", "concern", "warning", "critical")
_PERCENT = Decimal("0.1")
_MAX_PENALTY = Decimal(50)
_NO_END_HORIZON_DAYS = 30
_HORIZON_DAYS = 100 * 366


@dataclass(frozen=True)
class Health:
    score: int
    band: str


@dataclass(frozen=True)
class DaySpend:
    day: date
    actual: Decimal
    expected: Decimal | None


@dataclass(frozen=True)
class BurnRate:
    subject: str
    """``account`` or ``grant``."""
    name: str
    window: str
    since: date
    until: date
    days: int
    period_start: date
    end_date: date | None
    budget: Decimal
    """The account's limit, or the grant period's budget."""
    spent: Decimal
    """Net spend inside the window."""
    spent_to_date: Decimal
    """The account's used total, or what the grant period consumed up to today."""
    available: Decimal
    actual_daily: Decimal
    expected_daily: Decimal | None
    expected_basis: str | None
    """``linear``, ``schedule`` or ``None`` (nothing to compare against)."""
    variance_percent: Decimal | None
    projected_exhaustion: date | None
    projected_balance_at_end: Decimal | None
    health: Health
    daily: list[DaySpend] = field(default_factory=list)
    by_partition: list[tuple[str | None, Decimal]] = field(default_factory=list)
    by_user: list[tuple[str | None, Decimal]] = field(default_factory=list)
    indirect_rate: Decimal | None = None
    """Grants only: total cost = direct x (1 + rate)."""
    accounts: list[str] = field(default_factory=list)
    """The accounts whose spend this is (a grant's linked accounts)."""
    incoming: list[Instalment] = field(default_factory=list)
    """Instalments still to come (due after today), by due date; the projection counts them."""

    @property
    def needs_attention(self) -> bool:
        """In the warning or critical band, or projected to run out before its end date."""
        if self.health.band in ("warning", "critical"):
            return True
        ends, runs_out = self.end_date, self.projected_exhaustion
        return ends is not None and runs_out is not None and runs_out < ends


# ---------------------------------------------------------------- pure arithmetic


def parse_window(value: str) -> str:
    if value not in WINDOWS:
        raise ValidationError(f"window: must be one of {', '.join(WINDOWS)}", field="window")
    return value


def window_start(window: str, today: date, period_start: date) -> date:
    """The first day of ``window`` ending on ``today``, never before ``period_start``."""
    parse_window(window)
    if window == "period":
        return period_start
    if window.endswith("d"):
        start = today - timedelta(days=int(window[:-1]) - 1)
    else:
        months = 6 if window == "6m" else 12
        start = add_months(today, -months) + timedelta(days=1)
    return max(start, period_start)


def variance_percent(actual: Decimal, expected: Decimal | None) -> Decimal | None:
    if expected is None or expected <= 0:
        return None
    return ((actual - expected) / expected * 100).quantize(_PERCENT)


def band_of(score: int, bands: BurnRateSettings) -> str:
    if score >= bands.healthy_from:
        return "healthy"
    if score >= bands.concern_from:
        return "concern"
    if score >= bands.warning_from:
        return "warning"
    return "critical"


def health_score(
    *,
    today: date,
    available: Decimal,
    variance: Decimal | None,
    exhaustion: date | None,
    end_date: date | None,
) -> int:
    """The score the module docstring defines (0-100, higher is healthier)."""
    if available <= 0:
        return 0
    overspend = min(max(variance or ZERO, ZERO) / 2, _MAX_PENALTY)
    runway = ZERO
    if exhaustion is not None:
        if end_date is not None and end_date > today:
            if exhaustion < end_date:
                short = Decimal((end_date - exhaustion).days)
                runway = _MAX_PENALTY * min(Decimal(1), short / (end_date - today).days)
        elif end_date is None:
            ahead = (exhaustion - today).days
            if ahead < _NO_END_HORIZON_DAYS:
                runway = _MAX_PENALTY * Decimal(_NO_END_HORIZON_DAYS - ahead)
                runway /= _NO_END_HORIZON_DAYS
    score = (Decimal(100) - overspend - runway).to_integral_value()
    return int(min(max(score, Decimal(0)), Decimal(100)))


def project(
    *,
    today: date,
    available: Decimal,
    daily: Decimal,
    end_date: date | None,
    incoming: Iterable[Instalment] = (),
) -> tuple[date | None, Decimal | None]:
    """(exhaustion date, balance at the end date) at ``daily`` spend from tomorrow on, with
    instalments due after today added on their due dates."""
    future = sorted((i for i in incoming if i.due_date > today), key=lambda i: i.due_date)
    at_end: Decimal | None = None
    if end_date is not None:
        days_left = max((end_date - today).days, 0)
        arriving = sum((i.amount for i in future if i.due_date <= end_date), ZERO)
        at_end = round_posting(available + arriving - daily * days_left)
    if available <= 0:
        return today, at_end
    if daily <= 0:
        return None, at_end
    balance, day = available, today
    for instalment in future:
        span = (instalment.due_date - day).days
        if balance - daily * span <= 0:
            break
        balance -= daily * span
        balance += instalment.amount
        day = instalment.due_date
    lasts = int((balance / daily).to_integral_value(rounding=ROUND_FLOOR))
    if lasts > _HORIZON_DAYS:  # not within a lifetime (and past date.max soon after)
        return None, at_end
    return day + timedelta(days=lasts), at_end


def expected_by_day(
    schedules: Iterable[AllocationSchedule], since: date, until: date
) -> dict[date, Decimal]:
    """Each instalment spread evenly over its own period (until the next one falls due),
    summed over the schedules, for every day from ``since`` to ``until``."""
    rates: dict[date, Decimal] = defaultdict(lambda: ZERO)
    for schedule in schedules:
        plan = planned_instalments(schedule)
        for instalment in plan:
            ends = due_date(schedule.start_date, schedule.frequency, instalment.period + 1)
            length = (ends - instalment.due_date).days
            first = max(instalment.due_date, since)
            last = min(ends - timedelta(days=1), until)
            per_day = instalment.amount / length
            day = first
            while day <= last:
                rates[day] += per_day
                day += timedelta(days=1)
    return rates


def _days(since: date, until: date) -> list[date]:
    return [since + timedelta(days=n) for n in range(days_inclusive(since, until))]


def _series(
    since: date,
    until: date,
    spent_by_day: dict[str, Decimal],
    expected: dict[date, Decimal] | Decimal | None,
) -> list[DaySpend]:
    out = []
    for day in _days(since, until):
        if isinstance(expected, dict):
            exp: Decimal | None = round_internal(expected.get(day, ZERO))
        else:
            exp = None if expected is None else round_internal(expected)
        out.append(DaySpend(day, round_internal(spent_by_day.get(day.isoformat(), ZERO)), exp))
    return out


def _assemble(
    *,
    subject: str,
    name: str,
    window: str,
    today: date,
    since: date,
    until: date,
    period_start: date,
    end_date: date | None,
    budget: Decimal,
    spent_to_date: Decimal,
    available: Decimal,
    by_day: dict[str, Decimal],
    expected: dict[date, Decimal] | Decimal | None,
    basis: str | None,
    incoming: list[Instalment],
    by_partition: list[tuple[str | None, Decimal]],
    by_user: list[tuple[str | None, Decimal]],
    bands: BurnRateSettings,
    accounts: list[str],
    indirect_rate: Decimal | None = None,
) -> BurnRate:
    days = days_inclusive(since, until) if until >= since else 0
    spent = sum(by_day.values(), ZERO)
    actual = spent / days if days else ZERO
    if isinstance(expected, dict):
        window_expected = sum((expected.get(d, ZERO) for d in _days(since, until)), ZERO)
        expected_daily: Decimal | None = window_expected / days if days else None
    else:
        expected_daily = expected
    variance = variance_percent(actual, expected_daily)
    exhaustion, at_end = project(
        today=today, available=available, daily=actual, end_date=end_date, incoming=incoming
    )
    score = health_score(
        today=today,
        available=available,
        variance=variance,
        exhaustion=exhaustion,
        end_date=end_date,
    )
    future = sorted((i for i in incoming if i.due_date > today), key=lambda i: i.due_date)
    return BurnRate(
        subject=subject,
        name=name,
        window=window,
        since=since,
        until=until,
        days=days,
        period_start=period_start,
        end_date=end_date,
        budget=round_posting(budget),
        spent=round_posting(spent),
        spent_to_date=round_posting(spent_to_date),
        available=round_posting(available),
        actual_daily=round_posting(actual),
        expected_daily=None if expected_daily is None else round_posting(expected_daily),
        expected_basis=basis if expected_daily is not None else None,
        variance_percent=variance,
        projected_exhaustion=exhaustion,
        projected_balance_at_end=at_end,
        health=Health(score, band_of(score, bands)),
        daily=_series(since, until, by_day, expected) if days else [],
        by_partition=[(k, round_posting(v)) for k, v in by_partition],
        by_user=[(k, round_posting(v)) for k, v in by_user],
        indirect_rate=indirect_rate,
        accounts=accounts,
        incoming=future,
    )


# ---------------------------------------------------------------- accounts


def _today(today: date | None) -> date:
    return today if today is not None else utcnow().date()


def account_burn_rate(
    db: Database,
    settings: Settings,
    account: str,
    *,
    window: str = "30d",
    today: date | None = None,
) -> BurnRate:
    """The burn rate of one account over ``window`` ending ``today`` (UTC)."""
    name = normalise_account_name(account)
    parse_window(window)
    day = _today(today)

    def query(s: Session) -> BurnRate:
        acct = s.exec(select(Account).where(Account.name == name)).first()
        if acct is None or acct.id is None:
            raise NotFoundError(f"account {name!r} does not exist", field="account")
        schedules = list(
            s.exec(
                select(AllocationSchedule).where(
                    AllocationSchedule.account_id == acct.id,
                    col(AllocationSchedule.status) != ScheduleStatus.CANCELLED,
                )
            )
        )
        opened = acct.start_date or acct.created_at.date()
        if schedules:
            opened = min([opened, *(sc.start_date for sc in schedules)])
        end = acct.end_date
        if end is None and schedules:
            end = max(
                due_date(sc.start_date, sc.frequency, sc.instalments) - timedelta(days=1)
                for sc in schedules
            )
        until = min(day, end) if end is not None and end >= opened else day
        since = window_start(window, until, opened)
        spend = spend_breakdown(s, [Scope(acct.id, since)], until)
        by_day = dict(spend["day"])
        expected: dict[date, Decimal] | Decimal | None
        if schedules:
            expected, basis = expected_by_day(schedules, since, until), "schedule"
        elif acct.end_date is not None and acct.end_date >= opened:
            expected = acct.limit_amount / days_inclusive(opened, acct.end_date)
            basis = "linear"
        else:
            expected, basis = None, None
        pending = [
            i
            for sc in schedules
            if sc.status in (ScheduleStatus.ACTIVE, ScheduleStatus.PAUSED)
            for i in planned_instalments(sc)
            if i.period >= sc.next_period
        ]
        return _assemble(
            subject="account",
            name=name,
            window=window,
            today=day,
            since=since,
            until=until,
            period_start=opened,
            end_date=end,
            budget=acct.limit_amount,
            spent_to_date=acct.used_amount,
            available=acct.available,
            by_day={k: v for k, v in by_day.items() if k is not None},
            expected=expected,
            basis=basis,
            incoming=pending,
            by_partition=spend["partition"],
            by_user=spend["user"],
            bands=settings.burn_rate,
            accounts=[name],
        )

    return db.read(query)


# ---------------------------------------------------------------- grants


def _current_period(periods: list[GrantPeriod], today: date) -> GrantPeriod:
    """The period containing ``today``; before the grant the first, after it the last."""
    found = period_at(periods, today)
    if found is not None:
        return found
    return periods[0] if today < periods[0].start_date else periods[-1]


def _chosen_period(
    periods: list[GrantPeriod], today: date, number: int | None, grant: str
) -> GrantPeriod:
    if number is None:
        return _current_period(periods, today)
    for period in periods:
        if period.number == number:
            return period
    raise NotFoundError(
        f"grant {grant!r} has no budget period {number} (it has 1..{len(periods)})",
        field="period",
    )


def grant_burn_rate(
    db: Database,
    settings: Settings,
    number: str,
    *,
    window: str = "period",
    today: date | None = None,
    period_number: int | None = None,
) -> BurnRate:
    """The burn rate of a grant's budget period, in total cost (direct + indirect): the
    current period, or period ``period_number`` (a past one is seen as at its last day)."""
    parse_window(window)
    day = _today(today)

    def query(s: Session) -> BurnRate:
        grant = load_grant(s, number)
        assert grant.id is not None
        periods = load_periods(s, grant.id)
        if not periods:
            raise NotFoundError(f"grant {number!r} has no budget periods", field="grant")
        period = _chosen_period(periods, day, period_number, number)
        links = list(s.exec(select(GrantAccount).where(GrantAccount.grant_id == grant.id)))
        factor = 1 + grant.indirect_rate
        until = min(day, period.end_date)
        since = window_start(window, until, period.start_date)
        spend = spend_breakdown(s, link_scopes(links, since), until)
        by_day = {k: v * factor for k, v in spend["day"] if k is not None}
        direct = grant_spend_total(s, links, period.start_date, until)
        consumed = total_cost(direct, grant.indirect_rate)

        def scaled(rows: list[tuple[str | None, Decimal]]) -> list[tuple[str | None, Decimal]]:
            return [(k, v * factor) for k, v in rows]

        return _assemble(
            subject="grant",
            name=grant.number,
            window=window,
            today=day,
            since=since,
            until=until,
            period_start=period.start_date,
            end_date=period.end_date,
            budget=period.budget,
            spent_to_date=consumed,
            available=period.budget - consumed,
            by_day=by_day,
            expected=period.budget / days_inclusive(period.start_date, period.end_date),
            basis="linear",
            incoming=[],
            by_partition=scaled(spend["partition"]),
            by_user=scaled(spend["user"]),
            bands=settings.burn_rate,
            accounts=sorted(
                s.exec(
                    select(Account.name).where(
                        col(Account.id).in_([link.account_id for link in links])
                    )
                )
            ),
            indirect_rate=grant.indirect_rate,
        )

    return db.read(query)


# ---------------------------------------------------------------- forecasts

FORECAST_DAYS: tuple[int, ...] = (30, 60, 90)
FORECAST_WINDOWS: tuple[str, ...] = ("30d", "90d")
MAX_FORECAST_DAYS = 3660


@dataclass(frozen=True)
class ForecastPoint:
    day: date
    days: int
    """Days after today."""
    spend: Decimal
    """Projected spend from tomorrow up to and including ``day``."""
    instalments: Decimal
    """Instalments due after today, up to and including ``day``."""
    balance: Decimal
    """available + instalments - spend."""


@dataclass(frozen=True)
class Forecast:
    basis: str
    """The window whose actual daily spend is carried forward (``30d``, ``90d``)."""
    daily: Decimal
    exhaustion: date | None
    """When the money runs out at ``daily`` (instalments counted); ``None``: not in sight."""
    points: list[ForecastPoint]


@dataclass(frozen=True)
class AccountForecast:
    account: str
    today: date
    available: Decimal
    end_date: date | None
    incoming: list[Instalment]
    forecasts: list[Forecast]


def forecast_spans(days: Iterable[int]) -> list[int]:
    """The look-ahead spans in days, sorted and unique; each from 1 to MAX_FORECAST_DAYS."""
    spans = sorted(set(days))
    if not spans:
        raise ValidationError("days: give at least one span", field="days")
    for n in spans:
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_FORECAST_DAYS:
            raise ValidationError(f"days: must be from 1 to {MAX_FORECAST_DAYS}", field="days")
    return spans


def forecast(
    *,
    basis: str,
    today: date,
    available: Decimal,
    daily: Decimal,
    days: Iterable[int] = FORECAST_DAYS,
    end_date: date | None = None,
    incoming: Iterable[Instalment] = (),
) -> Forecast:
    """Spend and balance ``days`` after ``today`` at ``daily`` from tomorrow on, instalments
    due after today added on their due dates. A span reaching past a coming ``end_date`` is
    cut to it (nothing is spent after the end). The exhaustion date is ``project``'s."""
    future = [i for i in incoming if i.due_date > today]
    horizons = {today + timedelta(days=n) for n in forecast_spans(days)}
    if end_date is not None and end_date > today:
        horizons = {min(day, end_date) for day in horizons}
    points = []
    for day in sorted(horizons):
        ahead = (day - today).days
        arriving = sum((i.amount for i in future if i.due_date <= day), ZERO)
        points.append(
            ForecastPoint(
                day=day,
                days=ahead,
                spend=round_posting(daily * ahead),
                instalments=round_posting(arriving),
                balance=round_posting(available + arriving - daily * ahead),
            )
        )
    exhaustion, _ = project(
        today=today, available=available, daily=daily, end_date=None, incoming=future
    )
    return Forecast(basis=basis, daily=round_posting(daily), exhaustion=exhaustion, points=points)


def account_forecast(
    db: Database,
    settings: Settings,
    account: str,
    *,
    days: Iterable[int] = FORECAST_DAYS,
    today: date | None = None,
) -> AccountForecast:
    """An account's spend and balance ahead, once at its 30-day and once at its 90-day
    actual daily spend (each window's ``account_burn_rate``)."""
    spans = forecast_spans(days)
    day = _today(today)
    rates = [
        account_burn_rate(db, settings, account, window=window, today=day)
        for window in FORECAST_WINDOWS
    ]
    now = rates[-1]
    return AccountForecast(
        account=now.name,
        today=day,
        available=now.available,
        end_date=now.end_date,
        incoming=now.incoming,
        forecasts=[
            forecast(
                basis=rate.window,
                today=day,
                available=now.available,
                daily=rate.actual_daily,
                days=spans,
                end_date=now.end_date,
                incoming=now.incoming,
            )
            for rate in rates
        ],
    )
