"""Burn rate: how fast an account or a grant spends, against how fast it was expected to.

For a window (7d, 30d, 90d, 6m, 1y, or the whole period) ending today:

- **actual daily spend** = net spend in the window / days in the window (the window never
  starts before the budget's period does);
- **expected daily spend** = the budget spread evenly over its period (``linear``), or, for an
  account paid by allocation schedules, each instalment spread evenly over its own period
  (``schedule``); unknown when an account has neither an end date nor a schedule;
- **variance %** = (actual - expected) / expected x 100, to one decimal;
- **burn-rate status** (the original tool's words and threshold): ``OVERSPENDING`` when the
  variance is above +20.0 %, ``UNDERSPENDING`` below -20.0 %, ``ON_TRACK`` from -20.0 % to
  +20.0 % inclusive, ``UNKNOWN`` with nothing to compare against;
- **rolling 7- and 30-day averages**: net spend over the 7 (30) days ending on the window's
  last day / those days, whatever the window (never before the period starts; the 7-day
  average is the actual daily spend of a ``7d`` window);
- **cumulative spend / expected / variance %**: spend from the period's first day to the
  window's last day, against what the expected daily spend adds up to over the same days;
- **projected exhaustion**: the day the available money (plus instalments still to come) runs
  out at the actual daily rate; **projected balance at the end** of the period likewise, and
  the **projected spend at the end** (the budget plus instalments to come, less that balance);
- **health score** 0-100 = 100 minus three penalties, each a :class:`HealthFactor`:
  ``overspend`` (half the variance %, at most 50; underspending costs nothing), ``runway``
  (up to 50: the share of the remaining period that the money will not last; without an end
  date, how far inside 30 days exhaustion is) and ``funds`` (100 once nothing is left), each
  to 4 places; their sum taken from 100 is rounded half-even and kept within 0..100. Bands
  from settings: healthy, concern, warning, critical.

Spend is aggregated in SQL (``asbb_core.ledger.spend``: ``GROUP BY`` day, partition, user);
Python only walks days and instalments, never journal rows. A grant's figures are total cost: the
direct spend of its linked accounts (from when each was linked) x (1 + indirect rate).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable
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
from asbb_core.ledger.spend import Scope, spend_breakdown, spend_by, spend_total
from asbb_core.settings import BurnRateSettings, Settings
from asbb_core.store.database import Database
from asbb_core.store.models import (
    Account,
    AllocationSchedule,
    GrantAccount,
    GrantPeriod,
    ScheduleStatus,
)
from asbb_core.store.queries import Page, list_accounts
from asbb_core.values.context import utcnow
from asbb_core.values.errors import NotFoundError, ValidationError
from asbb_core.values.money import ZERO, format_money, round_internal, round_posting
from asbb_core.values.periods import BURN_RATE_WINDOWS, add_months, days_inclusive, due_date
from asbb_core.values.text import normalise_account_name

BANDS: tuple[str, ...] = ("healthy", "concern", "warning", "critical")
_PERCENT = Decimal("0.1")
_MAX_PENALTY = Decimal(50)
_NO_END_HORIZON_DAYS = 30
_HORIZON_DAYS = 100 * 366

OVERSPENDING = "OVERSPENDING"
UNDERSPENDING = "UNDERSPENDING"
ON_TRACK = "ON_TRACK"
UNKNOWN = "UNKNOWN"
STATUSES: tuple[str, ...] = (OVERSPENDING, UNDERSPENDING, ON_TRACK, UNKNOWN)
STATUS_THRESHOLD = Decimal(20)
"""The original tool's: a variance beyond +/-20 % is over- or underspending."""
ROLLING_DAYS: tuple[int, ...] = (7, 30)
FACTORS: tuple[str, ...] = ("overspend", "runway", "funds")


@dataclass(frozen=True)
class HealthFactor:
    """One of the penalties the health score is 100 minus."""

    name: str
    """``overspend``, ``runway`` or ``funds``."""
    penalty: Decimal
    """Points taken off 100, to 4 places (the score is 100 less their sum, rounded)."""
    max_penalty: Decimal
    value: Decimal | None
    """What the penalty is of: the variance % (overspend), days short of the end date or,
    without one, days until exhaustion (runway), the available money (funds); ``None``: not
    known (no expected rate, exhaustion not in sight)."""
    description: str


@dataclass(frozen=True)
class Health:
    score: int
    band: str
    factors: tuple[HealthFactor, ...] = ()
    """The penalties behind ``score``, in the order of ``FACTORS``."""


@dataclass(frozen=True)
class DaySpend:
    day: date
    actual: Decimal
    expected: Decimal | None
    cumulative_actual: Decimal = ZERO
    """Spend from the period's first day up to and including ``day``."""
    cumulative_expected: Decimal | None = None
    """What the expected daily spend adds up to over the same days."""


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
    burn_rate_status: str = UNKNOWN
    """OVERSPENDING, UNDERSPENDING, ON_TRACK or UNKNOWN (see the module docstring)."""
    rolling_7d_daily: Decimal = ZERO
    rolling_30d_daily: Decimal = ZERO
    cumulative_spend: Decimal = ZERO
    """Net spend from the period's first day to ``until``."""
    cumulative_expected: Decimal | None = None
    cumulative_variance_percent: Decimal | None = None
    time_remaining_days: int | None = None
    """Days from today to the end date (0 once it has passed; ``None``: no end date)."""
    projected_spend_at_end: Decimal | None = None
    """What will have been spent (or held) by the end date at the actual daily rate."""

    @property
    def projected_overrun(self) -> Decimal | None:
        """How far the projected spend at the end exceeds the money (0 when it does not)."""
        at_end = self.projected_balance_at_end
        return None if at_end is None else max(-at_end, ZERO)

    @property
    def projected_underrun(self) -> Decimal | None:
        """How much of the money is projected to be left at the end (0 when none is)."""
        at_end = self.projected_balance_at_end
        return None if at_end is None else max(at_end, ZERO)

    @property
    def remaining_percent(self) -> Decimal | None:
        """The available money as a share of the budget, one decimal (``None``: no budget)."""
        if self.budget <= 0:
            return None
        return (self.available / self.budget * 100).quantize(_PERCENT)

    @property
    def needs_attention(self) -> bool:
        """In the warning or critical band, or projected to run out before its end date."""
        if self.health.band in ("warning", "critical"):
            return True
        ends, runs_out = self.end_date, self.projected_exhaustion
        return ends is not None and runs_out is not None and runs_out < ends


# ---------------------------------------------------------------- pure arithmetic


def parse_window(value: str) -> str:
    if value not in BURN_RATE_WINDOWS:
        raise ValidationError(
            f"window: must be one of {', '.join(BURN_RATE_WINDOWS)}", field="window"
        )
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


def burn_rate_status(variance: Decimal | None) -> str:
    """The original tool's word for a variance % (as shown, to one decimal)."""
    if variance is None:
        return UNKNOWN
    if variance > STATUS_THRESHOLD:
        return OVERSPENDING
    if variance < -STATUS_THRESHOLD:
        return UNDERSPENDING
    return ON_TRACK


def health_factors(
    *,
    today: date,
    available: Decimal,
    variance: Decimal | None,
    exhaustion: date | None,
    end_date: date | None,
) -> tuple[HealthFactor, ...]:
    """The three penalties of the module docstring, in the order of ``FACTORS``."""
    overspend = min(max(variance or ZERO, ZERO) / 2, _MAX_PENALTY)
    if variance is None:
        why = "no expected rate to compare against: no penalty"
    elif variance > 0:
        why = f"spending {variance}% above the expected rate: half of it, at most 50"
    else:
        why = f"spending {-variance}% below the expected rate: no penalty"
    runway, days = ZERO, None
    if end_date is not None and end_date > today:
        days = Decimal(0)
        why_runway = "the money lasts to the end date: no penalty"
        if exhaustion is not None and exhaustion < end_date:
            days = Decimal((end_date - exhaustion).days)
            left = (end_date - today).days
            runway = _MAX_PENALTY * min(Decimal(1), days / left)
            why_runway = (
                f"the money runs out {days} days before the end date: 50 x {days} / {left} "
                "days left"
            )
    elif end_date is not None:
        why_runway = "no days left before the end date: no penalty"
    elif exhaustion is None:
        why_runway = "no end date, and exhaustion is not in sight: no penalty"
    else:
        ahead = (exhaustion - today).days
        days = Decimal(ahead)
        why_runway = f"no end date; the money runs out in {ahead} days"
        if ahead < _NO_END_HORIZON_DAYS:
            runway = _MAX_PENALTY * Decimal(_NO_END_HORIZON_DAYS - ahead) / _NO_END_HORIZON_DAYS
            why_runway += f": 50 x ({_NO_END_HORIZON_DAYS} - {ahead}) / {_NO_END_HORIZON_DAYS}"
        else:
            why_runway += f", {_NO_END_HORIZON_DAYS} or more: no penalty"
    empty = available <= 0
    # Penalties to 4 places, so the score is exactly 100 less what the factors show.
    return (
        HealthFactor("overspend", round_internal(overspend), _MAX_PENALTY, variance, why),
        HealthFactor("runway", round_internal(runway), _MAX_PENALTY, days, why_runway),
        HealthFactor(
            "funds",
            Decimal(100) if empty else ZERO,
            Decimal(100),
            round_posting(available),
            "nothing left to spend: the score is 0" if empty else "money left: no penalty",
        ),
    )


def score_of(factors: Iterable[HealthFactor]) -> int:
    """100 less the penalties, rounded half-even, within 0..100."""
    score = (Decimal(100) - sum((f.penalty for f in factors), ZERO)).to_integral_value()
    return int(min(max(score, Decimal(0)), Decimal(100)))


def health_score(
    *,
    today: date,
    available: Decimal,
    variance: Decimal | None,
    exhaustion: date | None,
    end_date: date | None,
) -> int:
    """The score the module docstring defines (0-100, higher is healthier)."""
    return score_of(
        health_factors(
            today=today,
            available=available,
            variance=variance,
            exhaustion=exhaustion,
            end_date=end_date,
        )
    )


def assess_health(
    *,
    today: date,
    available: Decimal,
    variance: Decimal | None,
    exhaustion: date | None,
    end_date: date | None,
    bands: BurnRateSettings,
) -> Health:
    """The score, its band and the factors behind it: asbb's one model of a budget's health."""
    factors = health_factors(
        today=today,
        available=available,
        variance=variance,
        exhaustion=exhaustion,
        end_date=end_date,
    )
    score = score_of(factors)
    return Health(score, band_of(score, bands), factors)


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
    spent_before: Decimal,
    expected_before: Decimal | None,
) -> list[DaySpend]:
    """The window's days; the cumulative figures start from what the period spent (and was
    expected to) before the window."""
    out = []
    total, planned = spent_before, expected_before
    for day in _days(since, until):
        if isinstance(expected, dict):
            exact: Decimal | None = expected.get(day, ZERO)
        else:
            exact = expected
        actual = spent_by_day.get(day.isoformat(), ZERO)
        total += actual
        if planned is not None and exact is not None:
            planned += exact
        out.append(
            DaySpend(
                day,
                round_internal(actual),
                None if exact is None else round_internal(exact),
                round_internal(total),
                None if planned is None else round_internal(planned),
            )
        )
    return out


def _rolling(recent: dict[str, Decimal], until: date, period_start: date, days: int) -> Decimal:
    """Net spend over the ``days`` days ending ``until`` (never before ``period_start``),
    per day."""
    first = window_start(f"{days}d", until, period_start)
    if until < first:
        return ZERO
    low, high = first.isoformat(), until.isoformat()
    total = sum((v for k, v in recent.items() if low <= k <= high), ZERO)
    return total / days_inclusive(first, until)


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
    recent: dict[str, Decimal],
    cumulative_spend: Decimal,
    cumulative_expected: Decimal | None,
    expected: dict[date, Decimal] | Decimal | None,
    basis: str | None,
    incoming: list[Instalment],
    by_partition: list[tuple[str | None, Decimal]],
    by_user: list[tuple[str | None, Decimal]],
    bands: BurnRateSettings,
    accounts: list[str],
    indirect_rate: Decimal | None = None,
) -> BurnRate:
    """``recent``: spend per day over at least the 30 days ending ``until``; the cumulative
    figures run from ``period_start`` to ``until``."""
    days = days_inclusive(since, until) if until >= since else 0
    spent = sum(by_day.values(), ZERO)
    actual = spent / days if days else ZERO
    window_expected: Decimal | None
    if isinstance(expected, dict):
        window_expected = sum((expected.get(d, ZERO) for d in _days(since, until)), ZERO)
        expected_daily: Decimal | None = window_expected / days if days else None
    else:
        expected_daily = expected
        window_expected = None if expected is None else expected * days
    variance = variance_percent(actual, expected_daily)
    exhaustion, at_end = project(
        today=today, available=available, daily=actual, end_date=end_date, incoming=incoming
    )
    health = assess_health(
        today=today,
        available=available,
        variance=variance,
        exhaustion=exhaustion,
        end_date=end_date,
        bands=bands,
    )
    future = sorted((i for i in incoming if i.due_date > today), key=lambda i: i.due_date)
    spend_at_end: Decimal | None = None
    if at_end is not None and end_date is not None:
        arriving = sum((i.amount for i in future if i.due_date <= end_date), ZERO)
        spend_at_end = round_posting(budget + arriving - at_end)
    expected_before = (
        None
        if cumulative_expected is None or window_expected is None
        else cumulative_expected - window_expected
    )
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
        health=health,
        daily=(
            _series(since, until, by_day, expected, cumulative_spend - spent, expected_before)
            if days
            else []
        ),
        by_partition=[(k, round_posting(v)) for k, v in by_partition],
        by_user=[(k, round_posting(v)) for k, v in by_user],
        indirect_rate=indirect_rate,
        accounts=accounts,
        incoming=future,
        burn_rate_status=burn_rate_status(variance),
        rolling_7d_daily=round_posting(_rolling(recent, until, period_start, ROLLING_DAYS[0])),
        rolling_30d_daily=round_posting(_rolling(recent, until, period_start, ROLLING_DAYS[1])),
        cumulative_spend=round_posting(cumulative_spend),
        cumulative_expected=(
            None if cumulative_expected is None else round_posting(cumulative_expected)
        ),
        cumulative_variance_percent=variance_percent(cumulative_spend, cumulative_expected),
        time_remaining_days=None if end_date is None else max((end_date - today).days, 0),
        projected_spend_at_end=spend_at_end,
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
        by_day = {k: v for k, v in spend["day"] if k is not None}
        started = until >= opened
        expected: dict[date, Decimal] | Decimal | None
        to_date: Decimal | None
        if schedules:
            # the whole period's, of which the window's days are a part
            expected, basis = expected_by_day(schedules, opened, until), "schedule"
            to_date = sum(expected.values(), ZERO)
        elif acct.end_date is not None and acct.end_date >= opened:
            expected = acct.limit_amount / days_inclusive(opened, acct.end_date)
            basis = "linear"
            to_date = expected * days_inclusive(opened, until) if started else ZERO
        else:
            expected, basis, to_date = None, None, None
        if since <= opened:
            cumulative = sum(by_day.values(), ZERO)
        else:
            cumulative = spend_total(s, [acct.id], opened, until)
        month = window_start("30d", until, opened)
        recent = by_day if since <= month else dict(spend_by(s, [acct.id], month, until, "day"))
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
            by_day=by_day,
            recent={k: v for k, v in recent.items() if k is not None},
            cumulative_spend=cumulative,
            cumulative_expected=to_date,
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
        rate = period.budget / days_inclusive(period.start_date, period.end_date)
        month = window_start("30d", until, period.start_date)
        recent = by_day
        if since > month:
            days = spend_breakdown(s, link_scopes(links, month), until, groups=("day",))
            recent = {k: v * factor for k, v in days["day"] if k is not None}
        elapsed = days_inclusive(period.start_date, until) if until >= period.start_date else 0

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
            recent=recent,
            cumulative_spend=consumed,
            cumulative_expected=rate * elapsed,
            expected=rate,
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


# ---------------------------------------------------------------- health of many accounts


def health_scores(
    db: Database,
    settings: Settings,
    *,
    status: str | None = None,
    visible: Collection[str] | None = None,
    window: str = "30d",
    today: date | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Page[BurnRate]:
    """The burn rates (and so the health) of one page of accounts, by name; ``visible``
    keeps to those accounts (a reader's scope), ``status`` to accounts in that status. One
    read: the page and every rate on it come from the same snapshot."""
    parse_window(window)
    day = _today(today)

    def query(_: Session) -> Page[BurnRate]:
        # the reads below run on this read's session (Database.read nests)
        page = list_accounts(db, status=status, limit=limit, offset=offset, visible=visible)
        rates = [
            account_burn_rate(db, settings, acct.name, window=window, today=day)
            for acct in page.items
        ]
        return Page(items=rates, total=page.total, limit=page.limit, offset=page.offset)

    return db.read(query)


def recommendations(br: BurnRate) -> list[str]:
    """What the figures suggest doing, in a sentence each (the original tool's
    ``recommendations``): from the status, the projection and the health factors."""
    out: list[str] = []
    variance, expected = br.variance_percent, br.expected_daily
    if br.available <= 0:
        out.append("Nothing is left to spend: add funds before more jobs are submitted")
    if br.burn_rate_status == OVERSPENDING and variance is not None and expected is not None:
        out.append(
            f"Spending is {variance}% above the expected rate "
            f"({format_money(br.actual_daily)} against {format_money(expected)} a day): "
            "review what runs, or add funds"
        )
    elif br.burn_rate_status == UNDERSPENDING and variance is not None:
        out.append(
            f"Spending is {-variance}% below the expected rate: money may be left unspent "
            "when the period ends"
        )
    ends, runs_out = br.end_date, br.projected_exhaustion
    if ends is not None and runs_out is not None and runs_out < ends:
        out.append(
            f"At this rate the money runs out on {runs_out.isoformat()}, "
            f"{(ends - runs_out).days} days before the end date ({ends.isoformat()})"
        )
    if br.health.band in ("warning", "critical") and br.available > 0:
        out.append(f"Budget health is {br.health.band} ({br.health.score} of 100)")
    if not out:
        out.append("On track: no action needed")
    return out


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
