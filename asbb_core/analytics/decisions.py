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
  CRITICAL. The advisor reads three levels in lower case (``advisor_risk``): low, medium and
  high, CRITICAL being its high.
- **Deadline risk**: without a deadline LOW; with one, by the local run time (if given) as a
  share of the time left: past the deadline CRITICAL, > 100 % HIGH, > 75 % MEDIUM, else LOW.
- **Account decision**: nothing available or critical -> EMERGENCY_ONLY; warning, or running
  out before the end date -> PREFER_LOCAL; concern -> EITHER; healthy -> PREFER_AWS.
- **Job decision** (only LOCAL, AWS or EITHER: the advisor acts on those three and would ignore
  any other word): refused by the budget check -> LOCAL, and ``defer_until`` names the day an
  instalment due within the look-ahead would make it affordable when there is no tight
  deadline (waiting is then the other option); a deadline at HIGH or CRITICAL risk and a
  budget risk below CRITICAL -> AWS; a budget risk of HIGH or more -> LOCAL; LOW budget risk
  with a MEDIUM deadline risk or a high priority -> AWS; else EITHER.
- **Options** (``alternative_options``): AWS now (the job's cost; scored by its budget risk),
  LOCAL (costs the budget nothing: local partitions are not budgeted; scored by the deadline
  risk of running it locally) and, when an instalment would make it affordable, waiting for
  it (scored by the deadline risk of the wait). A score is 1.00, 0.67, 0.33 or 0.00 for a
  LOW, MEDIUM, HIGH or CRITICAL risk; the recommended option comes first.
- **Confidence** says how much of the evidence was there: 0.5, + 0.2 when the expected burn
  is known (an end date or schedule), + 0.2 when a deadline and a local run time were given,
  + 0.1 once the account has 7 days of history.
- **Days left** where a client needs a number: the days to the budget's end date; without
  one, the days until its money runs out at the current burn rate, at most ``MAX_LOOK_AHEAD``
  (so "ends within 30 days" still means "act now").
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from sqlmodel import Session, col, select

from asbb_core.analytics.burnrate import BurnRate, account_burn_rate, grant_burn_rate
from asbb_core.funding.grants import Grants, PeriodStatus
from asbb_core.ledger import Ledger
from asbb_core.settings import Settings
from asbb_core.store.database import Database
from asbb_core.store.models import Account, Grant, GrantAccount
from asbb_core.values.errors import NotFoundError, ValidationError
from asbb_core.values.money import CENT, ZERO, round_posting, to_decimal
from asbb_core.values.text import normalise_account_name

RISKS: tuple[str, ...] = ("LOW", "MEDIUM", "HIGH", "CRITICAL")
BAND_RISK = {"healthy": "LOW", "concern": "MEDIUM", "warning": "HIGH", "critical": "CRITICAL"}
ADVISOR_RISK = {"LOW": "low", "MEDIUM": "medium", "HIGH": "high", "CRITICAL": "high"}
"""The advisor's three levels: it has no "critical" risk (its "high" reads as critical)."""
RISK_SCORE = {
    "LOW": Decimal("1.00"),
    "MEDIUM": Decimal("0.67"),
    "HIGH": Decimal("0.33"),
    "CRITICAL": Decimal("0.00"),
}
DECISIONS: tuple[str, ...] = ("LOCAL", "AWS", "EITHER")
PRIORITIES = ("low", "normal", "high", "critical", "emergency")
WINDOW = "30d"
DEFAULT_LOOK_AHEAD = 90
MAX_LOOK_AHEAD = 3660
_HUNDRED = Decimal(100)
_PERCENT = Decimal("0.1")
_SCORE = Decimal("0.01")
_NO_END_PRESERVE_DAYS = 30
FACTOR_WEIGHTS = {
    "budget_share": Decimal("0.4"),
    "deadline": Decimal("0.3"),
    "budget_health": Decimal("0.2"),
    "runway": Decimal("0.1"),
}
"""How much each factor weighs in the rules above, in the order they apply them (the decision
is made by those rules, not by a weighted sum)."""


def _worst(*levels: str) -> str:
    return max(levels, key=RISKS.index)


def _raise(level: str) -> str:
    return RISKS[min(RISKS.index(level) + 1, len(RISKS) - 1)]


def advisor_risk(level: str) -> str:
    """A risk level as the advisor reads it: low, medium or high."""
    return ADVISOR_RISK[level]


def _percent(part: Decimal, whole: Decimal) -> Decimal | None:
    if whole <= 0:
        return None
    return (part / whole * _HUNDRED).quantize(_PERCENT)


def share_or_all(part: Decimal, whole: Decimal) -> Decimal:
    """``part`` as a percent of ``whole``; of nothing, 0 when the part is 0 too, else 100 (all
    of it): a client that needs a number gets one that reads right."""
    found = _percent(part, whole)
    if found is not None:
        return found
    return ZERO if part <= 0 else _HUNDRED


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


def days_left(today: date, end: date | None, runs_out: date | None) -> int:
    """Days to ``end``; without an end date, until the money runs out (``runs_out``), at most
    ``MAX_LOOK_AHEAD`` (also when it never does)."""
    if end is not None:
        return max((end - today).days, 0)
    if runs_out is not None:
        return min(max((runs_out - today).days, 0), MAX_LOOK_AHEAD)
    return MAX_LOOK_AHEAD


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
    days_left: int = 0
    """``days_remaining``, or without an end date the days its money lasts (``days_left``)."""


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
    days_remaining = max((end - day).days, 0) if end is not None else None
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
        reasons.append(f"the budget ends on {end} ({days_remaining} days left)")
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
        days_remaining=days_remaining,
        projected_exhaustion=rate.projected_exhaustion,
        projected_balance_at_end=rate.projected_balance_at_end,
        can_afford_aws=afford,
        decision=decision,
        reasons=reasons,
        history_days=(day - rate.period_start).days + 1,
        expected_known=rate.expected_daily is not None,
        incoming=[(i.due_date, i.amount) for i in rate.incoming],
        days_left=days_left(day, end, rate.projected_exhaustion),
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
class Option:
    """One way to run the job, as ``alternative_options`` lists them."""

    strategy: str
    """``aws_now``, ``local`` or ``wait_for_allocation``."""
    option: str
    """The original tool's word: AWS_ONDEMAND or LOCAL."""
    cost: Decimal
    """What it takes from the budget."""
    minutes: int
    """Minutes before it can be done: the local time given, the wait for the instalment; 0
    where asbb cannot know (how long it runs on AWS is the advisor's to say)."""
    timeline: str
    risk: str
    """LOW..CRITICAL: the budget's risk for AWS now, the deadline's for the others."""
    score: Decimal
    """0..1 from that risk (see the module doc)."""
    description: str
    reasoning: str


@dataclass(frozen=True)
class Affordability:
    status: BudgetStatus
    question: JobQuestion
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
    opportunity_cost: Decimal
    """Money other work would then lack: the part of the cost that leaves the budget short at
    its end date at the current burn rate (0 when the money would have been left over); the
    whole cost without an end date (unspent money then stays for later work)."""
    budget_risk: str
    deadline_risk: str
    overall_risk: str
    minutes_to_deadline: int | None
    local_completion: datetime | None
    decision: str
    """LOCAL, AWS or EITHER."""
    confidence: Decimal
    reasons: list[str]
    relief: tuple[date, Decimal] | None
    """The first instalment within the look-ahead after which the job would be affordable."""
    defer_until: date | None
    """When the job is refused now but waiting for ``relief`` is the better way: its date."""
    options: list[Option]
    risk_factors: list[str]
    mitigations: list[str]

    @property
    def timeline_pressure(self) -> Decimal:
        """0..1: the local run time as a share of the time to the deadline (1 once past it;
        0 without a deadline; without a local time, 1 inside a day, else 0)."""
        left, local = self.minutes_to_deadline, self.question.local_minutes
        if left is None:
            return ZERO
        if left <= 0:
            return Decimal(1)
        if local is None:
            return Decimal(1) if left < 24 * 60 else ZERO
        return min(Decimal(local) / Decimal(left), Decimal(1)).quantize(_SCORE)

    @property
    def cost_per_local_hour(self) -> Decimal:
        """The cost for each hour of local time it spares (0 when no local time was given)."""
        local = self.question.local_minutes
        if not local:
            return ZERO
        return (self.cost / (Decimal(local) / 60)).quantize(Decimal("0.0001"))

    @property
    def affordability_score(self) -> Decimal:
        """0..1: 1 - the share of the available money it takes (0 when refused)."""
        share = self.percent_of_available
        if not self.affordable or share is None:
            return ZERO
        return max(ZERO, 1 - share / 100).quantize(_SCORE)


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


def _options(
    job: JobQuestion,
    cost: Decimal,
    affordable: bool,
    budget_risk: str,
    deadline_risk: str,
    minutes_left: int | None,
    relief: tuple[date, Decimal] | None,
    decision: str,
    now: datetime,
) -> list[Option]:
    local_time = (
        f"about {job.local_minutes} minutes locally (queue wait and run)"
        if job.local_minutes is not None
        else "the local queue's wait and run time (not given)"
    )
    found = [
        Option(
            strategy="aws_now",
            option="AWS_ONDEMAND",
            cost=cost,
            minutes=0,
            timeline="now",
            risk=budget_risk,
            score=RISK_SCORE[budget_risk] if affordable else ZERO,
            description=f"burst to AWS now for the estimated {cost:.2f}",
            reasoning=(
                f"the budget's risk is {budget_risk.lower()}"
                if affordable
                else "a budget check would refuse it now"
            ),
        ),
        Option(
            strategy="local",
            option="LOCAL",
            cost=ZERO,
            minutes=job.local_minutes or 0,
            timeline=local_time,
            risk=deadline_risk,
            score=RISK_SCORE[deadline_risk],
            description="run it on the local cluster: local partitions cost the budget nothing",
            reasoning=f"the deadline's risk locally is {deadline_risk.lower()}",
        ),
    ]
    if relief is not None:
        due, amount = relief
        wait = max(int((datetime.combine(due, time(), UTC) - now).total_seconds() // 60), 0)
        risk = "CRITICAL" if minutes_left is not None and wait >= minutes_left else "LOW"
        if minutes_left is not None and risk != "CRITICAL":
            risk = _deadline_risk(minutes_left, wait)
        found.append(
            Option(
                strategy="wait_for_allocation",
                option="AWS_ONDEMAND",
                cost=cost,
                minutes=wait,
                timeline=f"from {due}, when an instalment of {amount:.2f} arrives",
                risk=risk,
                score=RISK_SCORE[risk],
                description=f"burst to AWS once the instalment due on {due} makes it affordable",
                reasoning=f"the deadline's risk of waiting is {risk.lower()}",
            )
        )
    first = "aws_now" if decision == "AWS" else "local" if decision == "LOCAL" else None
    return sorted(found, key=lambda o: (o.strategy != first, -o.score))


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
    factors_at_risk: list[str] = []
    if not affordable and quote.refusal is not None:
        reasons.append(f"a budget check would refuse it: {quote.refusal.message}")
        factors_at_risk.append(f"a budget check would refuse it now: {quote.refusal.message}")
    elif share is not None and share >= 25:
        factors_at_risk.append(f"it would take {share}% of the available money")
    if after_end is not None and status.end_date is not None:
        reasons.append(
            f"at the current burn rate the balance on {status.end_date} would be "
            f"{round_posting(after_end):.2f} with this job paid"
        )
        if runs_short:
            factors_at_risk.append(
                f"with it paid the money runs out before {status.end_date} at the current rate"
            )
    if status.health_band != "healthy":
        factors_at_risk.append(f"the budget's health is {status.health_band}")
    if minutes_left is not None:
        reasons.append(
            f"{minutes_left} minutes to the deadline"
            + (f"; {job.local_minutes} minutes locally" if job.local_minutes is not None else "")
        )
        if deadline_risk in ("HIGH", "CRITICAL"):
            factors_at_risk.append(
                "the deadline has passed"
                if minutes_left <= 0
                else "running it locally would likely miss the deadline"
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
    defer_until = None
    if not affordable:
        decision = "LOCAL"
        if relief is not None and not tight:
            defer_until = relief[0]
            reasons.append(
                f"an instalment due on {relief[0]} would make it affordable: "
                "run it locally, or wait for it to burst"
            )
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
    if not affordable and decision == "LOCAL" and defer_until is None:
        reasons.append("it cannot burst now: run it locally")
    confidence = Decimal("0.5")
    if status.expected_known:
        confidence += Decimal("0.2")
    if job.deadline is not None and job.local_minutes is not None:
        confidence += Decimal("0.2")
    if status.history_days >= 7:
        confidence += Decimal("0.1")
    if status.end_date is None:
        opportunity = cost
    elif after_end is None or after_end >= 0:
        opportunity = ZERO
    else:
        opportunity = min(cost, -after_end)
    mitigations = []
    if not affordable:
        mitigations.append(
            f"wait for the instalment due on {relief[0]}"
            if relief is not None
            else "ask an administrator for more money (a credit or a grant draw)"
        )
    if decision != "AWS":
        mitigations.append("run it on a local partition: it costs the budget nothing")
    if budget_risk in ("HIGH", "CRITICAL") and affordable:
        mitigations.append("split the work, or use spot capacity, to take less of the budget")
    if tight:
        mitigations.append("shorten the job or move the deadline")
    return Affordability(
        status=status,
        question=job,
        cost=cost,
        hold_amount=quote.amount,
        affordable=affordable,
        refusal=quote.refusal.message if quote.refusal is not None else None,
        percent_of_available=share,
        percent_of_limit=_percent(cost, status.limit),
        available_after=status.available - cost,
        balance_at_end_after=round_posting(after_end) if after_end is not None else None,
        opportunity_cost=round_posting(opportunity),
        budget_risk=budget_risk,
        deadline_risk=deadline_risk,
        overall_risk=_worst(budget_risk, deadline_risk),
        minutes_to_deadline=minutes_left,
        local_completion=local_done,
        decision=decision,
        confidence=confidence,
        reasons=reasons,
        relief=relief,
        defer_until=defer_until,
        options=_options(
            job,
            cost,
            affordable,
            budget_risk,
            deadline_risk,
            minutes_left,
            relief,
            decision,
            now,
        ),
        risk_factors=factors_at_risk,
        mitigations=mitigations,
    )


def budget_to_preserve(status: BudgetStatus) -> Decimal:
    """Money to keep for the rest of the budget's life: the expected (else the current) daily
    spend until the end date, or for 30 days without one; at most what is available."""
    rate = status.expected_daily if status.expected_daily is not None else status.daily_burn
    days = status.days_remaining if status.end_date is not None else _NO_END_PRESERVE_DAYS
    return round_posting(max(min(rate * (days or 0), status.available), ZERO))


@dataclass(frozen=True)
class Factor:
    """One input of a burst decision, normalised for the original tool's DecisionFactor."""

    factor: str
    weight: Decimal
    value: Decimal
    """0..1."""
    impact: str
    """POSITIVE (toward AWS), NEGATIVE or NEUTRAL."""
    description: str


def factors(decision: Affordability) -> list[Factor]:
    """The decision's inputs, each with its effect on bursting (POSITIVE means toward AWS)."""
    status = decision.status
    share = decision.percent_of_available
    taken = (
        min(share / 100, Decimal(1)).quantize(_SCORE)
        if share is not None and decision.affordable
        else Decimal(1)
    )
    after = decision.balance_at_end_after
    short = after is not None and after < 0
    return [
        Factor(
            "budget_share",
            FACTOR_WEIGHTS["budget_share"],
            taken,
            "NEGATIVE" if decision.budget_risk in ("HIGH", "CRITICAL") else "POSITIVE",
            "share of the available money the job would take"
            + (f": {share}%" if share is not None else ": all of it (nothing is available)"),
        ),
        Factor(
            "budget_health",
            FACTOR_WEIGHTS["budget_health"],
            (Decimal(status.health_score) / 100).quantize(_SCORE),
            "POSITIVE" if status.health_band in ("healthy", "concern") else "NEGATIVE",
            f"health score {status.health_score}/100 (band {status.health_band})",
        ),
        Factor(
            "deadline",
            FACTOR_WEIGHTS["deadline"],
            decision.timeline_pressure,
            "POSITIVE" if decision.deadline_risk in ("HIGH", "CRITICAL") else "NEUTRAL",
            "the local run time as a share of the time to the deadline"
            + (
                f" ({decision.minutes_to_deadline} minutes left)"
                if decision.minutes_to_deadline is not None
                else " (no deadline given)"
            ),
        ),
        Factor(
            "runway",
            FACTOR_WEIGHTS["runway"],
            (decision.opportunity_cost / decision.cost).quantize(_SCORE)
            if short and decision.cost > 0
            else ZERO,
            "NEGATIVE" if short else "NEUTRAL",
            "share of the cost that would leave the budget short at its end"
            + (f" (balance {after:.2f} with the job paid)" if after is not None else ""),
        ),
    ]


# ---------------------------------------------------------------- grant timeline


@dataclass(frozen=True)
class Deadline:
    kind: str
    """PERIOD_END, GRANT_END or BUDGET_END."""
    description: str
    day: date
    days_from_now: int
    severity: str
    impact: str
    recommendations: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class TimelinePoint:
    day: date
    days_from_now: int
    balance: Decimal
    """Projected remaining money on that day at the current burn rate."""
    cumulative_spend: Decimal = ZERO
    """Spend from the period's first day to that day, at the current rate from today on."""
    cumulative_expected: Decimal = ZERO
    """What the expected daily spend adds up to by then (0 without an expected rate)."""


@dataclass(frozen=True)
class Guidance:
    """How much to burst over the look-ahead, and how (the advisor's BudgetGuidance)."""

    strategy: str
    """conservative, normal, aggressive or emergency (``recommendation`` in lower case)."""
    max_spend: Decimal
    """The projected balance at the look-ahead's end (or the end date, when sooner) after the
    current burn and the instalments due: what bursting may take without running short."""
    conservation_advice: str
    suggestions: list[str]


@dataclass(frozen=True)
class EmergencyOption:
    option: str
    """The original tool's word: REALLOCATE (a grant draw) or EMERGENCY_FUND (a credit)."""
    description: str
    amount: Decimal | None
    """The most it can bring (None: whatever is approved)."""
    timeline: str
    requirements: list[str]
    risk: str


@dataclass(frozen=True)
class Emergency:
    """Where more money could come from for a critical deadline (the advisor's
    EmergencyAdvice, and the original tool's emergency options)."""

    funds_available: bool
    """Money can still be drawn from the grant's current period into the account."""
    threshold: Decimal
    """The largest estimate a budget check accepts now (available / hold buffer; partition
    caps aside): a job above it needs emergency money."""
    procedure: str
    contact: str
    options: list[EmergencyOption]


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
    guidance: Guidance
    emergency: Emergency
    look_ahead_days: int = DEFAULT_LOOK_AHEAD
    days_left: int = 0
    """Days to the end date; without one, the days the money lasts (``days_left``)."""
    health_score: int = 0
    burn_rate_status: str = "UNKNOWN"

    @property
    def ends_on(self) -> date:
        """The end date, or without one the day the money runs out (``days_left``)."""
        return self.end_date or self.today + timedelta(days=self.days_left)

    @property
    def current_period_label(self) -> str:
        """The current budget period in words (the advisor reads it as text)."""
        found = next((p for p in self.periods if p.period == self.current_period), None)
        if found is not None:
            return (
                f"period {found.period} of {len(self.periods)}: "
                f"{found.start_date} to {found.end_date}"
            )
        if self.periods:
            return "no current budget period (the grant's periods are all upcoming or ended)"
        until = f"to {self.end_date}" if self.end_date else "with no end date"
        return f"the account's own budget, from {self.start_date} {until}"


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


def _conservation(rate: BurnRate, daily: Decimal, end: date | None) -> str:
    runs_out = rate.projected_exhaustion
    if rate.available <= 0:
        return "nothing is available: burst only with emergency money"
    if runs_out is not None and (end is None or runs_out < end):
        before = f", {(end - runs_out).days} days before the end date" if end else ""
        return (
            f"at {daily:.2f}/day the money runs out on {runs_out}{before}: keep work local and "
            "burst only for deadlines"
        )
    if rate.health.band in ("warning", "critical"):
        return "spending is well above plan: burst only for deadlines"
    if rate.variance_percent is not None and rate.variance_percent < -25:
        lapse = f"; money left on {end} is lost to the project" if end else ""
        return f"spending is {-rate.variance_percent}% below plan: no need to conserve{lapse}"
    return "spending is on plan: burst when it helps, within the recommended spend"


def _emergency(
    settings: Settings,
    grant: Grant | None,
    current: PeriodStatus | None,
    account: str | None,
    available: Decimal,
    short: bool,
) -> Emergency:
    who = account or "ACCOUNT"
    options = []
    drawable = current.drawable if current is not None else ZERO
    steps = []
    if grant is not None and current is not None and drawable > 0:
        steps.append(
            f"draw from grant {grant.number}'s budget period {current.period} "
            f"({drawable:.2f} direct is undrawn): an asbb administrator runs "
            f"`asbb grant fund {grant.number} {who} AMOUNT`"
        )
        options.append(
            EmergencyOption(
                option="REALLOCATE",
                description=f"draw direct money from grant {grant.number}'s budget period "
                f"{current.period} into the account",
                amount=drawable,
                timeline="as soon as an administrator makes the draw",
                requirements=[
                    "an asbb administrator",
                    f"undrawn money in period {current.period}: {drawable:.2f} direct",
                ],
                risk="MEDIUM" if short else "LOW",
            )
        )
    approval = (
        "requested by one administrator and approved by another"
        if settings.approvals.require_approval
        else "made by an administrator"
    )
    steps.append(
        f"or ask for a credit: `asbb adjust request credit {who} AMOUNT --reason WHY`, {approval}"
    )
    options.append(
        EmergencyOption(
            option="EMERGENCY_FUND",
            description=f"a credit to the account's limit, {approval}",
            amount=None,
            timeline="once it is approved",
            requirements=["a reason for the credit", "money to back it outside asbb"]
            + (["a second administrator"] if settings.approvals.require_approval else []),
            risk="MEDIUM",
        )
    )
    contact = (
        f"the grant's principal investigator, {grant.pi}"
        + (f" ({grant.institution})" if grant.institution else "")
        + ", and the cluster's asbb administrators"
        if grant is not None and grant.pi
        else "the cluster's asbb administrators"
    )
    buffer = settings.holds.buffer
    return Emergency(
        funds_available=drawable > 0,
        threshold=max(available / buffer, ZERO).quantize(CENT, rounding=ROUND_FLOOR),
        procedure="; ".join(steps),
        contact=contact,
        options=options,
    )


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
    grant: Grant | None = None
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
                recommendations=(
                    [
                        f"keep work local until {p.end_date}",
                        "ask for a draw from the next budget period for deadline work",
                    ]
                    if short
                    else [
                        f"about {round_posting(left_at_end):.2f} would be left unspent: "
                        f"bursting before {p.end_date} uses money that would otherwise lapse"
                    ]
                    if left_at_end > 0
                    else []
                ),
            )
        )
    runs_out = rate.projected_exhaustion
    if end is not None and day <= end <= horizon:
        days = (end - day).days
        short = runs_out is not None and runs_out < end
        deadlines.append(
            Deadline(
                kind="GRANT_END" if grant_number else "BUDGET_END",
                description=(f"grant {grant_number}" if grant_number else f"account {name}")
                + " ends",
                day=end,
                days_from_now=days,
                severity=_severity(days, short),
                impact="money not spent by then is lost to the project",
                recommendations=(
                    [f"the money runs out on {runs_out}: keep work local and plan for the end"]
                    if short
                    else [f"spend or re-budget what is left before {end}"]
                ),
            )
        )
    points = []
    expected = rate.expected_daily or ZERO
    for span in sorted({7, 30, ahead}):
        if span > ahead:
            continue
        point = day + timedelta(days=span)
        if end is not None and point > end:
            point = max(end, day)
        n = (point - day).days
        arriving = sum((a for due, a in allocations if due <= point), ZERO)
        points.append(
            TimelinePoint(
                point,
                n,
                round_posting(remaining + arriving - daily * n),
                cumulative_spend=round_posting(rate.cumulative_spend + daily * n),
                cumulative_expected=round_posting(
                    (rate.cumulative_expected or ZERO) + expected * n
                ),
            )
        )
    advice = []
    if runs_out is not None and (end is None or runs_out < end):
        advice.append(
            f"at {daily:.2f}/day the money runs out on {runs_out}: "
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
    recommendation = _recommendation(rate)
    max_spend = max(points[-1].balance, ZERO) if points else max(remaining, ZERO)
    if recommendation == "EMERGENCY":
        max_spend = ZERO
    short_now = runs_out is not None and end is not None and runs_out < end
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
        recommendation=recommendation,
        projected_exhaustion=runs_out,
        advice=advice,
        look_ahead_days=ahead,
        days_left=days_left(day, end, runs_out),
        health_score=rate.health.score,
        burn_rate_status=rate.burn_rate_status,
        guidance=Guidance(
            strategy=recommendation.lower(),
            max_spend=max_spend,
            conservation_advice=_conservation(rate, daily, end),
            suggestions=advice,
        ),
        emergency=_emergency(
            settings,
            grant,
            current,
            name,
            account_rate.available if account_rate is not None else remaining,
            short_now,
        ),
    )


# ---------------------------------------------------------------- alerts


def alert_figures(
    kind: str, details: dict[str, Any], settings: Settings
) -> tuple[Decimal, Decimal]:
    """(threshold, actual) of an alert, as the original tool's BudgetAlert carries them: the
    percent used and its threshold (usage), the variance % and the alerting limit (variance),
    the days the money runs out early and the days allowed (exhaustion), the percent unspent
    and its limit (grant-period), the files waiting and their limit (spool-backlog), the
    holds stuck (stuck-holds, threshold 0). 0 for a figure the alert does not carry."""

    def number(key: str) -> Decimal:
        value = details.get(key)
        if isinstance(value, bool) or value is None:
            return ZERO
        try:
            return to_decimal(value, field=key)
        except ValidationError:
            return ZERO

    alerts = settings.alerts
    table: dict[str, tuple[Decimal, Decimal]] = {
        "usage": (number("threshold"), number("percent_used")),
        "variance": (Decimal(alerts.variance_percent), number("variance_percent")),
        "exhaustion": (Decimal(alerts.exhaustion_days), number("days_early")),
        "grant-period": (Decimal(alerts.grant_period_left_percent), number("percent_unspent")),
        "spool-backlog": (number("threshold"), number("waiting")),
        "stuck-holds": (ZERO, number("count")),
    }
    return table.get(kind, (ZERO, ZERO))


def details_text(details: dict[str, Any]) -> str:
    """An alert's figures as JSON text (the original tool kept them in a text column)."""
    return json.dumps(details, sort_keys=True, default=str)


__all__ = [
    "DECISIONS",
    "RISKS",
    "Affordability",
    "BudgetStatus",
    "Deadline",
    "Emergency",
    "EmergencyOption",
    "Factor",
    "Guidance",
    "JobQuestion",
    "Option",
    "Timeline",
    "TimelinePoint",
    "advisor_risk",
    "affordability",
    "alert_figures",
    "budget_status",
    "budget_to_preserve",
    "days_left",
    "details_text",
    "factors",
    "grant_timeline",
    "parse_look_ahead",
    "parse_priority",
    "share_or_all",
]
