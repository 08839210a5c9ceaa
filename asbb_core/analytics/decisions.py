"""Decision support for aws-slurm-burst-advisor: may this job burst to AWS, from the ledger.

Every figure comes from the ledger as it is now: the account's balances, its 30-day burn rate
and health (``asbb_core.analytics.burnrate``), its grant's budget periods
(``asbb_core.funding.grants``), the
instalments still to come, and the same hold rules a budget check applies
(``Ledger.quote_hold``). Nothing is written.

The rules, so the advisor's behaviour can be explained:

- **Risk levels** LOW < MEDIUM < HIGH < CRITICAL. An account's risk is its health band's
  (healthy, concern, warning, critical); a job's budget risk is by the share of the available
  money it would take (< 10 % LOW, < 25 % MEDIUM, < 50 % HIGH, else CRITICAL), one level
  higher when, at the current burn rate, the money would then run out before the budget's end
  date, and never lower than the account's risk; a job the budget check would refuse is
  CRITICAL.
- **Deadline risk**: without a deadline LOW; with one, by the local run time (if given) as a
  share of the time left: past the deadline CRITICAL, > 100 % HIGH, > 75 % MEDIUM, else LOW.
- **Account decision**: nothing available or critical -> EMERGENCY_ONLY; warning, or running
  out before the end date -> PREFER_LOCAL; concern -> EITHER; healthy -> PREFER_AWS.
- **Job decision**: refused by the budget check -> LOCAL (or DEFER when an instalment due
  within the look-ahead would make it affordable and there is no tight deadline); a deadline
  at HIGH or CRITICAL risk and a budget risk below CRITICAL -> AWS; a budget risk of HIGH or
  more -> LOCAL; LOW budget risk with a MEDIUM deadline risk or a high priority -> AWS; else
  EITHER.
- **Confidence** says how much of the evidence was there: 0.5, + 0.2 when the expected burn
  is known (an end date or schedule), + 0.2 when a deadline and a local run time were given,
  + 0.1 once the account has 7 days of history.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlmodel import Session, col, select

from asbb_core.analytics.burnrate import BurnRate, account_burn_rate, grant_burn_rate
from asbb_core.funding.grants import Grants, PeriodStatus
from asbb_core.ledger import Ledger
from asbb_core.store.database import Database
from asbb_core.store.models import Account, Grant, GrantAccount
from asbb_core.values.errors import NotFoundError, ValidationError
from asbb_core.values.money import ZERO, round_posting, to_decimal
from asbb_core.values.text import normalise_account_name

RISKS: tuple[str, ...] = ("LOW", "MEDIUM", "HIGH", "CRITICAL")
BAND_RISK = {"healthy": "LOW", "concern": "MEDIUM", "warning": "HIGH", "critical": "CRITICAL"}
PRIORITIES = ("low", "normal", "high", "critical", "emergency")
WINDOW = "30d"
DEFAULT_LOOK_AHEAD = 90
MAX_LOOK_AHEAD = 3660
_HUNDRED = Decimal(100)
_PERCENT = Decimal("0.1")


def _worst(*levels: str) -> str:
    return max(levels, key=RISKS.index)


def _raise(level: str) -> str:
    return RISKS[min(RISKS.index(level) + 1, len(RISKS) - 1)]


def _percent(part: Decimal, whole: Decimal) -> Decimal | None:
    if whole <= 0:
        return None
    return (part / whole * _HUNDRED).quantize(_PERCENT)


def parse_priority(value: object) -> str:
    text = str(value or "normal").strip().lower()
    if text not in PRIORITIES:
        raise ValidationError(
            f"job_priority: must be one of {', '.join(PRIORITIES)}", field="job_priority"
        )
    return text


def parse_look_ahead(value: object) -> int:
    if value is None:
        return DEFAULT_LOOK_AHEAD
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_LOOK_AHEAD:
        raise ValidationError(
            f"look_ahead_days: must be a whole number from 1 to {MAX_LOOK_AHEAD}",
            field="look_ahead_days",
        )
    return value


def grant_of(db: Database, account: str) -> Grant | None:
    """The grant funding ``account`` (an account draws from one grant at most)."""

    def query(s: Session) -> Grant | None:
        return s.exec(
            select(Grant)
            .join(GrantAccount, col(GrantAccount.grant_id) == Grant.id)
            .join(Account, col(Account.id) == GrantAccount.account_id)
            .where(Account.name == account)
        ).first()

    return db.read(query)


def _account_row(db: Database, name: str) -> Account:
    found = db.read(lambda s: s.exec(select(Account).where(Account.name == name)).first())
    if found is None:
        raise NotFoundError(f"account {name!r} does not exist", field="account")
    return found


# ---------------------------------------------------------------- budget status


@dataclass(frozen=True)
class BudgetStatus:
    account: str
    grant_number: str | None
    today: date
    limit: Decimal
    used: Decimal
    held: Decimal
    available: Decimal
    utilization_percent: Decimal | None
    """(used + held) / limit x 100."""
    daily_burn: Decimal
    expected_daily: Decimal | None
    variance_percent: Decimal | None
    health_score: int
    health_band: str
    risk_level: str
    start_date: date
    end_date: date | None
    """The grant's end date when a grant funds the account, else the account's own."""
    days_remaining: int | None
    projected_exhaustion: date | None
    projected_balance_at_end: Decimal | None
    can_afford_aws: bool
    decision: str
    reasons: list[str]
    history_days: int
    expected_known: bool
    incoming: list[tuple[date, Decimal]] = field(default_factory=list)


def budget_status(ledger: Ledger, account: str, *, today: date | None = None) -> BudgetStatus:
    """Where an account stands now and whether it should burst (see the module doc)."""
    db, settings = ledger.db, ledger.settings
    name = normalise_account_name(account)
    rate = account_burn_rate(db, settings, name, window=WINDOW, today=today)
    row = _account_row(db, name)
    grant = grant_of(db, name)
    day = rate.until if today is None else today
    end = grant.end_date if grant is not None else rate.end_date
    start = grant.start_date if grant is not None else rate.period_start
    days_left = max((end - day).days, 0) if end is not None else None
    band = rate.health.band
    runs_out_early = (
        end is not None
        and rate.projected_exhaustion is not None
        and rate.projected_exhaustion < end
    )
    reasons = [
        f"{rate.available:.2f} available of a {rate.budget:.2f} limit "
        f"({row.used_amount:.2f} used, {row.held_amount:.2f} held by running jobs)",
        f"spending {round_posting(rate.actual_daily):.2f}/day over the last 30 days"
        + (
            f" against {round_posting(rate.expected_daily):.2f}/day expected"
            if rate.expected_daily is not None
            else " (no expected rate: no end date or allocation schedule)"
        ),
        f"health {rate.health.score}/100 ({band})",
    ]
    if rate.projected_exhaustion is not None:
        reasons.append(f"at this rate the money runs out on {rate.projected_exhaustion}")
    if end is not None:
        reasons.append(f"the budget ends on {end} ({days_left} days left)")
    if rate.available <= 0:
        decision, afford = "EMERGENCY_ONLY", False
        reasons.append("nothing is available: only emergency bursts")
    elif band == "critical":
        decision, afford = "EMERGENCY_ONLY", False
        reasons.append("the budget's health is critical: only emergency bursts")
    elif band == "warning" or runs_out_early:
        decision, afford = "PREFER_LOCAL", False
        reasons.append(
            "the money would run out before the end date: keep work local"
            if runs_out_early
            else "the budget's health is in warning: keep work local"
        )
    elif band == "concern":
        decision, afford = "EITHER", True
        reasons.append("spending is above plan but within reach: AWS when it helps")
    else:
        decision, afford = "PREFER_AWS", True
        reasons.append("the budget is on track: AWS is affordable")
    return BudgetStatus(
        account=name,
        grant_number=grant.number if grant is not None else None,
        today=day,
        limit=row.limit_amount,
        used=row.used_amount,
        held=row.held_amount,
        available=row.available,
        utilization_percent=_percent(row.used_amount + row.held_amount, row.limit_amount),
        daily_burn=round_posting(rate.actual_daily),
        expected_daily=round_posting(rate.expected_daily)
        if rate.expected_daily is not None
        else None,
        variance_percent=rate.variance_percent,
        health_score=rate.health.score,
        health_band=band,
        risk_level=BAND_RISK.get(band, "CRITICAL"),
        start_date=start,
        end_date=end,
        days_remaining=days_left,
        projected_exhaustion=rate.projected_exhaustion,
        projected_balance_at_end=rate.projected_balance_at_end,
        can_afford_aws=afford,
        decision=decision,
        reasons=reasons,
        history_days=(day - rate.period_start).days + 1,
        expected_known=rate.expected_daily is not None,
        incoming=[(i.due_date, i.amount) for i in rate.incoming],
    )


# ---------------------------------------------------------------- one job


@dataclass(frozen=True)
class JobQuestion:
    """A job the advisor is deciding about."""

    account: str
    cost: Decimal
    """Its estimated AWS cost."""
    local_minutes: int | None = None
    """How long it would take on the local cluster (queue wait + run), if known."""
    deadline: datetime | None = None
    priority: str = "normal"
    partition: str | None = None
    look_ahead_days: int = DEFAULT_LOOK_AHEAD


@dataclass(frozen=True)
class Affordability:
    status: BudgetStatus
    cost: Decimal
    hold_amount: Decimal
    """What a budget check would hold for it (cost x buffer)."""
    affordable: bool
    refusal: str | None
    percent_of_available: Decimal | None
    percent_of_limit: Decimal | None
    available_after: Decimal
    balance_at_end_after: Decimal | None
    """The projected balance at the budget's end with this job paid."""
    budget_risk: str
    deadline_risk: str
    overall_risk: str
    minutes_to_deadline: int | None
    local_completion: datetime | None
    decision: str
    """LOCAL, AWS, EITHER or DEFER."""
    confidence: Decimal
    reasons: list[str]
    relief: tuple[date, Decimal] | None
    """The first instalment within the look-ahead after which the job would be affordable."""


def _budget_risk(
    share: Decimal | None, runs_short: bool, account_risk: str, affordable: bool
) -> str:
    if not affordable or share is None:
        return "CRITICAL"
    level = (
        "LOW" if share < 10 else "MEDIUM" if share < 25 else "HIGH" if share < 50 else "CRITICAL"
    )
    if runs_short:
        level = _raise(level)
    return _worst(level, account_risk)


def _deadline_risk(minutes_left: int | None, local_minutes: int | None) -> str:
    if minutes_left is None:
        return "LOW"
    if minutes_left <= 0:
        return "CRITICAL"
    if local_minutes is None:
        return "MEDIUM" if minutes_left < 24 * 60 else "LOW"
    share = Decimal(local_minutes) / Decimal(minutes_left)
    return "HIGH" if share > 1 else "MEDIUM" if share > Decimal("0.75") else "LOW"


def affordability(
    ledger: Ledger,
    job: JobQuestion,
    *,
    now: datetime,
) -> Affordability:
    """Whether an account can pay for a job now and still last to its end date."""
    cost = to_decimal(job.cost, field="estimated_cost")
    if cost < 0:
        raise ValidationError("estimated_cost: must be >= 0", field="estimated_cost")
    status = budget_status(ledger, job.account, today=now.date())
    quote = ledger.quote_hold(status.account, cost, partition=job.partition)
    affordable = quote.accepted
    share = _percent(cost, status.available) if status.available > 0 else None
    after_end = (
        status.projected_balance_at_end - cost
        if status.projected_balance_at_end is not None
        else None
    )
    runs_short = after_end is not None and after_end < 0
    budget_risk = _budget_risk(share, runs_short, status.risk_level, affordable)
    minutes_left = (
        int((job.deadline - now).total_seconds() // 60) if job.deadline is not None else None
    )
    deadline_risk = _deadline_risk(minutes_left, job.local_minutes)
    local_done = (
        now + timedelta(minutes=job.local_minutes) if job.local_minutes is not None else None
    )
    reasons = [
        f"the job's {cost:.2f} would take a {quote.amount:.2f} hold; "
        f"{status.available:.2f} is available"
        + (f" ({share}% of it)" if share is not None else ""),
    ]
    if not affordable and quote.refusal is not None:
        reasons.append(f"a budget check would refuse it: {quote.refusal.message}")
    if after_end is not None and status.end_date is not None:
        reasons.append(
            f"at the current burn rate the balance on {status.end_date} would be "
            f"{round_posting(after_end):.2f} with this job paid"
        )
    if minutes_left is not None:
        reasons.append(
            f"{minutes_left} minutes to the deadline"
            + (f"; {job.local_minutes} minutes locally" if job.local_minutes is not None else "")
        )
    relief = None
    if not affordable:
        arriving = ZERO
        horizon = status.today + timedelta(days=job.look_ahead_days)
        for due, amount in status.incoming:
            if due > horizon:
                break
            arriving += amount
            if quote.amount <= status.available + arriving:
                relief = (due, amount)
                break
    tight = deadline_risk in ("HIGH", "CRITICAL")
    if not affordable:
        decision = "DEFER" if relief is not None and not tight else "LOCAL"
        if relief is not None and not tight:
            reasons.append(f"an instalment due on {relief[0]} would make it affordable")
    elif tight and budget_risk != "CRITICAL":
        decision = "AWS"
        reasons.append("the deadline is at risk locally and the budget can take it")
    elif budget_risk in ("HIGH", "CRITICAL"):
        decision = "LOCAL"
        reasons.append(f"the budget risk is {budget_risk.lower()}: keep it local")
    elif budget_risk == "LOW" and (
        deadline_risk == "MEDIUM" or job.priority in ("high", "critical", "emergency")
    ):
        decision = "AWS"
        reasons.append("a small share of the budget buys time on a job that needs it")
    else:
        decision = "EITHER"
        reasons.append("affordable, with no pressing deadline: either will do")
    confidence = Decimal("0.5")
    if status.expected_known:
        confidence += Decimal("0.2")
    if job.deadline is not None and job.local_minutes is not None:
        confidence += Decimal("0.2")
    if status.history_days >= 7:
        confidence += Decimal("0.1")
    return Affordability(
        status=status,
        cost=cost,
        hold_amount=quote.amount,
        affordable=affordable,
        refusal=quote.refusal.message if quote.refusal is not None else None,
        percent_of_available=share,
        percent_of_limit=_percent(cost, status.limit),
        available_after=status.available - cost,
        balance_at_end_after=round_posting(after_end) if after_end is not None else None,
        budget_risk=budget_risk,
        deadline_risk=deadline_risk,
        overall_risk=_worst(budget_risk, deadline_risk),
        minutes_to_deadline=minutes_left,
        local_completion=local_done,
        decision=decision,
        confidence=confidence,
        reasons=reasons,
        relief=relief,
    )


# ---------------------------------------------------------------- grant timeline


@dataclass(frozen=True)
class Deadline:
    kind: str
    """PERIOD_END or GRANT_END."""
    description: str
    day: date
    days_from_now: int
    severity: str
    impact: str


@dataclass(frozen=True)
class TimelinePoint:
    day: date
    days_from_now: int
    balance: Decimal
    """Projected remaining money on that day at the current burn rate."""


@dataclass(frozen=True)
class Timeline:
    account: str | None
    grant_number: str | None
    today: date
    start_date: date
    end_date: date | None
    periods: list[PeriodStatus]
    current_period: int | None
    period_end: date | None
    allocations: list[tuple[date, Decimal]]
    deadlines: list[Deadline]
    points: list[TimelinePoint]
    daily_burn: Decimal
    remaining: Decimal
    """The grant period's remaining budget (total cost), or the account's available money."""
    health_band: str
    urgency: str
    recommendation: str
    """CONSERVATIVE, NORMAL, AGGRESSIVE or EMERGENCY."""
    projected_exhaustion: date | None
    advice: list[str]


def _recommendation(rate: BurnRate) -> str:
    band = rate.health.band
    if band == "critical" or rate.available <= 0:
        return "EMERGENCY"
    if band == "warning":
        return "CONSERVATIVE"
    if band == "healthy" and rate.variance_percent is not None and rate.variance_percent < -25:
        return "AGGRESSIVE"
    return "NORMAL"


def _severity(days: int, short: bool) -> str:
    level = "LOW" if days > 60 else "MEDIUM" if days > 14 else "HIGH"
    return _raise(level) if short else level


def grant_timeline(
    ledger: Ledger,
    *,
    account: str | None = None,
    grant_number: str | None = None,
    look_ahead_days: int = DEFAULT_LOOK_AHEAD,
    today: date | None = None,
) -> Timeline:
    """A grant's (or, for an account without one, the account's) periods, deadlines,
    coming instalments and projected balance over the next ``look_ahead_days``."""
    db, settings = ledger.db, ledger.settings
    ahead = parse_look_ahead(look_ahead_days)
    day = today or ledger.clock().astimezone(UTC).date()
    name = normalise_account_name(account) if account else None
    if grant_number is None and name is None:
        raise ValidationError("account: give an account or a grant_number", field="account")
    if grant_number is None and name is not None:
        found = grant_of(db, name)
        grant_number = found.number if found is not None else None
    account_rate = account_burn_rate(db, settings, name, window=WINDOW, today=day) if name else None
    horizon = day + timedelta(days=ahead)
    allocations = [
        (i.due_date, i.amount)
        for i in (account_rate.incoming if account_rate else [])
        if i.due_date <= horizon
    ]
    if grant_number is not None:
        grants = Grants(ledger)
        detail = grants.get_grant(grant_number)
        grant = detail.grant
        periods = [grants.period_status(grant.number, p.number, day) for p in detail.periods]
        rate = grant_burn_rate(db, settings, grant.number, window=WINDOW, today=day)
        current = next((p for p in periods if p.state == "current"), None)
        start, end_date = grant.start_date, grant.end_date
        end: date | None = end_date
        remaining = current.remaining if current is not None else ZERO
    else:
        assert account_rate is not None
        rate, periods, current = account_rate, [], None
        start, end = rate.period_start, rate.end_date
        remaining = rate.available
    daily = round_posting(rate.actual_daily)
    deadlines: list[Deadline] = []
    for p in periods:
        if p.state == "ended" or p.end_date > horizon:
            continue
        days = (p.end_date - day).days
        left_at_end = p.remaining - daily * days if p.state == "current" else p.remaining
        short = left_at_end < 0
        deadlines.append(
            Deadline(
                kind="PERIOD_END",
                description=f"budget period {p.period} of {grant_number} ends",
                day=p.end_date,
                days_from_now=days,
                severity=_severity(days, short),
                impact=f"{p.remaining:.2f} of the period's {p.budget:.2f} is unspent; "
                + (
                    "at the current rate it runs out first"
                    if short
                    else f"about {round_posting(max(left_at_end, ZERO)):.2f} would be left"
                ),
            )
        )
    if end is not None and day <= end <= horizon:
        days = (end - day).days
        short = rate.projected_exhaustion is not None and rate.projected_exhaustion < end
        deadlines.append(
            Deadline(
                kind="GRANT_END" if grant_number else "BUDGET_END",
                description=(f"grant {grant_number}" if grant_number else f"account {name}")
                + " ends",
                day=end,
                days_from_now=days,
                severity=_severity(days, short),
                impact="money not spent by then is lost to the project",
            )
        )
    points = []
    for span in sorted({7, 30, ahead}):
        if span > ahead:
            continue
        point = day + timedelta(days=span)
        if end is not None and point > end:
            point = end
        n = (point - day).days
        arriving = sum((a for due, a in allocations if due <= point), ZERO)
        points.append(TimelinePoint(point, n, round_posting(remaining + arriving - daily * n)))
    advice = []
    if rate.projected_exhaustion is not None and (end is None or rate.projected_exhaustion < end):
        advice.append(
            f"at {daily:.2f}/day the money runs out on {rate.projected_exhaustion}: "
            "prefer local resources and spot instances"
        )
    if rate.variance_percent is not None and rate.variance_percent < -25:
        advice.append(
            f"spending is {-rate.variance_percent}% below plan: unspent money may lapse at the "
            "period's end; bursting is affordable"
        )
    if allocations:
        first_due, first_amount = allocations[0]
        advice.append(f"{first_amount:.2f} arrives on {first_due}")
    return Timeline(
        account=name,
        grant_number=grant_number,
        today=day,
        start_date=start,
        end_date=end,
        periods=periods,
        current_period=current.period if current is not None else None,
        period_end=current.end_date if current is not None else end,
        allocations=allocations,
        deadlines=sorted(deadlines, key=lambda d: d.day),
        points=points,
        daily_burn=daily,
        remaining=remaining,
        health_band=rate.health.band,
        urgency=BAND_RISK.get(rate.health.band, "CRITICAL"),
        recommendation=_recommendation(rate),
        projected_exhaustion=rate.projected_exhaustion,
        advice=advice,
    )


def factors(decision: Affordability) -> list[dict[str, Any]]:
    """The decision's inputs, each with its effect on bursting (POSITIVE means toward AWS)."""
    status = decision.status
    share = decision.percent_of_available
    return [
        {
            "factor": "budget_share",
            "value": str(share) if share is not None else None,
            "impact": "NEGATIVE" if decision.budget_risk in ("HIGH", "CRITICAL") else "POSITIVE",
            "description": "percent of the available money the job would take",
        },
        {
            "factor": "budget_health",
            "value": status.health_score,
            "impact": "POSITIVE" if status.health_band in ("healthy", "concern") else "NEGATIVE",
            "description": f"health score (band {status.health_band})",
        },
        {
            "factor": "deadline",
            "value": decision.minutes_to_deadline,
            "impact": "POSITIVE" if decision.deadline_risk in ("HIGH", "CRITICAL") else "NEUTRAL",
            "description": "minutes to the deadline (a tight one favours AWS)",
        },
        {
            "factor": "runway",
            "value": str(decision.balance_at_end_after)
            if decision.balance_at_end_after is not None
            else None,
            "impact": "NEGATIVE"
            if decision.balance_at_end_after is not None and decision.balance_at_end_after < 0
            else "NEUTRAL",
            "description": "projected balance at the budget's end with the job paid",
        },
    ]


__all__ = [
    "RISKS",
    "Affordability",
    "BudgetStatus",
    "Deadline",
    "JobQuestion",
    "Timeline",
    "TimelinePoint",
    "affordability",
    "budget_status",
    "factors",
    "grant_timeline",
    "parse_look_ahead",
    "parse_priority",
]
