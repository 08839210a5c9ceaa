"""Decision support for aws-slurm-burst-advisor (ASBA): budget status, affordability, grant
timeline and burst decision, computed from the ledger by ``asbb_core.analytics.decisions``.

Requests take asbb's documented names and the advisor's (``estimated_cost`` for
``estimated_aws_cost``, ``deadline`` for ``job_deadline``). Responses carry both names where
the advisor reads another one (``burn_rate`` and ``daily_burn_rate``, ``health_score`` and
``budget_health_score``, ``grant_days_remaining`` and ``days_remaining``, ``decision`` and
``recommended_decision``, ``can_afford_aws`` and ``can_afford_aws_burst``). Money is a string.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import AliasChoices, ConfigDict, Field, field_validator

from asbb_core.analytics import decisions
from asbb_core.analytics.decisions import Affordability, BudgetStatus, JobQuestion
from asbb_core.store.models import Role
from asbb_core.values.text import normalise_account_name
from daemon.auth import Principal, requires
from daemon.errors import ApiError
from daemon.routes.grants import visible_grant
from daemon.schemas import ApiModel, JobMetadata, Moment, MoneyIn, MoneyOut
from daemon.services import Services, get_services

router = APIRouter(tags=["asba"])

# Decisions only read the ledger: the advisor may use a reader or a plugin token.
advisor_access = requires(Role.READER, Role.PLUGIN)


def _account(name: str, principal: Principal) -> str:
    cleaned = normalise_account_name(name)
    principal.require_account(cleaned)
    return cleaned


def _pct(value: Decimal | None) -> str | None:
    return str(value) if value is not None else None


class AlertOut(ApiModel):
    id: int
    kind: str
    severity: str
    status: str
    title: str
    message: str
    opened_at: datetime


def _alerts(services: Services, account: str | None, grant: str | None) -> list[AlertOut]:
    """The open (unacknowledged or acknowledged) alerts of an account, or of a grant."""
    found = []
    service = services.bank.alerts
    for status in ("open", "acknowledged"):
        found += service.list_alerts(status=status, account=account, limit=200)
    return [
        AlertOut(
            id=r.id,
            kind=r.alert.kind,
            severity=str(r.alert.severity),
            status=str(r.alert.status),
            title=r.alert.title,
            message=r.alert.message,
            opened_at=r.alert.opened_at,
        )
        for r in sorted(found, key=lambda r: r.id)
        if grant is None or r.grant == grant or (account is not None and r.account == account)
    ]


# ---------------------------------------------------------------- budget status


class BudgetStatusIn(ApiModel):
    model_config = ConfigDict(extra="ignore")

    account: str = Field(min_length=1, max_length=64)
    grant_number: str | None = Field(default=None, max_length=64)
    """Accepted for compatibility; the account's own grant is used."""
    user_id: str | None = Field(default=None, max_length=64)
    project_code: str | None = Field(default=None, max_length=64)


class BudgetStatusOut(ApiModel):
    account: str
    grant_number: str | None
    budget_limit: MoneyOut
    budget_used: MoneyOut
    budget_held: MoneyOut
    budget_available: MoneyOut
    budget_utilization: str | None
    """(used + held) / limit, in percent."""
    daily_burn_rate: MoneyOut
    """Actual spend per day over the last 30 days."""
    burn_rate: MoneyOut
    """The same, by the advisor's name."""
    expected_daily_rate: MoneyOut | None
    burn_rate_variance: str | None
    """(actual - expected) / expected, in percent."""
    budget_health_score: int
    health_score: int
    health_status: str
    """HEALTHY, CONCERN, WARNING or CRITICAL."""
    risk_level: str
    grant_start_date: date
    grant_end_date: date | None
    """The grant's end date, or the account's own when no grant funds it."""
    days_remaining: int | None
    grant_days_remaining: int | None
    projected_depletion_date: date | None
    projected_balance_at_end: MoneyOut | None
    can_afford_aws_burst: bool
    can_afford_aws: bool
    recommended_decision: str
    """PREFER_AWS, EITHER, PREFER_LOCAL or EMERGENCY_ONLY."""
    decision: str
    decision_reasoning: list[str]
    active_alerts: list[AlertOut]
    """The account's open and acknowledged alerts."""
    last_updated: datetime

    @classmethod
    def of(cls, s: BudgetStatus, now: datetime, alerts: list[AlertOut]) -> BudgetStatusOut:
        return cls(
            account=s.account,
            grant_number=s.grant_number,
            budget_limit=s.limit,
            budget_used=s.used,
            budget_held=s.held,
            budget_available=s.available,
            budget_utilization=_pct(s.utilization_percent),
            daily_burn_rate=s.daily_burn,
            burn_rate=s.daily_burn,
            expected_daily_rate=s.expected_daily,
            burn_rate_variance=_pct(s.variance_percent),
            budget_health_score=s.health_score,
            health_score=s.health_score,
            health_status=s.health_band.upper(),
            risk_level=s.risk_level,
            grant_start_date=s.start_date,
            grant_end_date=s.end_date,
            days_remaining=s.days_remaining,
            grant_days_remaining=s.days_remaining,
            projected_depletion_date=s.projected_exhaustion,
            projected_balance_at_end=s.projected_balance_at_end,
            can_afford_aws_burst=s.can_afford_aws,
            can_afford_aws=s.can_afford_aws,
            recommended_decision=s.decision,
            decision=s.decision,
            decision_reasoning=s.reasons,
            active_alerts=alerts,
            last_updated=now,
        )


@router.post("/asba/budget-status", response_model=BudgetStatusOut)
def budget_status(
    body: BudgetStatusIn,
    principal: Annotated[Principal, Depends(advisor_access)],
    services: Annotated[Services, Depends(get_services)],
) -> BudgetStatusOut:
    """Where an account stands: money, 30-day burn rate, health, days left, whether it can
    afford to burst to AWS, and why (rules in ``asbb_core.analytics.decisions``)."""
    now = services.clock().astimezone(UTC)
    status = decisions.budget_status(
        services.ledger, _account(body.account, principal), today=now.date()
    )
    return BudgetStatusOut.of(status, now, _alerts(services, status.account, None))


# ---------------------------------------------------------------- one job


class JobIn(ApiModel):
    """A job the advisor is deciding about."""

    model_config = ConfigDict(extra="ignore")

    account: str = Field(min_length=1, max_length=64)
    estimated_aws_cost: MoneyIn = Field(
        validation_alias=AliasChoices("estimated_aws_cost", "estimated_cost", "cost")
    )
    """The job's estimated AWS cost (the advisor sends ``estimated_cost``)."""
    estimated_local_time: int | None = Field(default=None, ge=0, le=10 * 366 * 24 * 60)
    """Minutes the job would take on the local cluster (queue wait + run)."""
    job_priority: str = "normal"
    """low, normal, high, critical or emergency."""
    job_deadline: Moment | None = Field(
        default=None, validation_alias=AliasChoices("job_deadline", "deadline")
    )
    partition: str | None = Field(default=None, max_length=64)
    """The AWS partition the job would run in (its cap is checked too)."""
    look_ahead_days: int = Field(default=decisions.DEFAULT_LOOK_AHEAD, ge=1, le=3660)
    """How far ahead an instalment may come to make the job affordable (DEFER)."""
    job_metadata: JobMetadata = Field(default_factory=dict)

    @field_validator("job_priority")
    @classmethod
    def _priority(cls, value: str) -> str:
        return decisions.parse_priority(value)

    def question(self, principal: Principal, deadline: datetime | None = None) -> JobQuestion:
        when = deadline or self.job_deadline
        return JobQuestion(
            account=_account(self.account, principal),
            cost=self.estimated_aws_cost,
            local_minutes=self.estimated_local_time,
            deadline=when if when is None or when.tzinfo else when.replace(tzinfo=UTC),
            priority=self.job_priority,
            partition=self.partition,
            look_ahead_days=self.look_ahead_days,
        )


class BudgetImpactOut(ApiModel):
    cost_as_percent_of_budget: str | None
    cost_as_percent_of_remaining: str | None
    budget_after_cost: MoneyOut
    balance_at_end_after_cost: MoneyOut | None
    """Projected balance at the budget's end at the current burn rate, with the job paid."""


class RiskOut(ApiModel):
    overall_risk: str
    budget_risk: str
    deadline_risk: str
    grant_risk: str
    """The account's (or its grant's) risk from its health band."""
    risk_factors: list[str]


def _impact(a: Affordability) -> BudgetImpactOut:
    return BudgetImpactOut(
        cost_as_percent_of_budget=_pct(a.percent_of_limit),
        cost_as_percent_of_remaining=_pct(a.percent_of_available),
        budget_after_cost=a.available_after,
        balance_at_end_after_cost=a.balance_at_end_after,
    )


def _risk(a: Affordability) -> RiskOut:
    factors = [r for r in a.reasons if "refuse" in r or "balance on" in r or "deadline" in r]
    return RiskOut(
        overall_risk=a.overall_risk,
        budget_risk=a.budget_risk,
        deadline_risk=a.deadline_risk,
        grant_risk=a.status.risk_level,
        risk_factors=factors,
    )


class AffordabilityOut(ApiModel):
    account: str
    affordable: bool
    """A budget check would accept the job's hold now."""
    recommended_decision: str
    """AWS, LOCAL, EITHER or DEFER."""
    confidence_level: str
    estimated_aws_cost: MoneyOut
    hold_amount: MoneyOut
    budget_available: MoneyOut
    budget_impact: BudgetImpactOut
    budget_risk: str
    deadline_risk: str
    overall_risk: str
    risk_level: str
    risk_assessment: RiskOut
    time_to_deadline: int | None
    """Minutes."""
    local_completion_time: datetime | None
    refusal: str | None
    reasoning: list[str]
    message: str


@router.post("/asba/affordability-check", response_model=AffordabilityOut)
def affordability_check(
    body: JobIn,
    principal: Annotated[Principal, Depends(advisor_access)],
    services: Annotated[Services, Depends(get_services)],
) -> AffordabilityOut:
    """Can the account pay for this job now (by the budget check's own rules) and still last to
    its end date? With a risk level for the budget, the deadline and overall."""
    a = decisions.affordability(services.ledger, body.question(principal), now=services.clock())
    return AffordabilityOut(
        account=a.status.account,
        affordable=a.affordable,
        recommended_decision=a.decision,
        confidence_level=str(a.confidence),
        estimated_aws_cost=a.cost,
        hold_amount=a.hold_amount,
        budget_available=a.status.available,
        budget_impact=_impact(a),
        budget_risk=a.budget_risk,
        deadline_risk=a.deadline_risk,
        overall_risk=a.overall_risk,
        risk_level=a.overall_risk,
        risk_assessment=_risk(a),
        time_to_deadline=a.minutes_to_deadline,
        local_completion_time=a.local_completion,
        refusal=a.refusal,
        reasoning=a.reasons,
        message=a.reasons[-1],
    )


class BurstDecisionIn(JobIn):
    conference_deadline: Moment | None = None
    """Counts as the deadline when it comes before ``job_deadline``."""
    research_phase: str | None = Field(default=None, max_length=32)
    collaboration_impact: bool = False


class DecisionFactorOut(ApiModel):
    factor: str
    value: Any
    impact: str
    """POSITIVE (toward AWS), NEGATIVE or NEUTRAL."""
    description: str


class BurstDecisionOut(ApiModel):
    account: str
    recommended_action: str
    """AWS, LOCAL, EITHER or DEFER (an instalment due soon would make it affordable)."""
    confidence: str
    urgency_level: str
    """The deadline's risk."""
    affordable: bool
    budget_impact: str | None
    """Percent of the available money the job would take."""
    affordability_score: str
    """0..1: 1 - that share (0 when the budget check would refuse the job)."""
    deadline_risk: str
    budget_risk: str
    grant_health_impact: str
    """The budget's health band now (the job's effect is in budget_risk)."""
    budget_status: BudgetStatusOut
    decision_factors: list[DecisionFactorOut]
    risk_assessment: RiskOut
    defer_until: date | None
    """When recommended_action is DEFER: the instalment's due date."""
    reasoning: list[str]
    message: str


@router.post("/asba/burst-decision", response_model=BurstDecisionOut)
def burst_decision(
    body: BurstDecisionIn,
    principal: Annotated[Principal, Depends(advisor_access)],
    services: Annotated[Services, Depends(get_services)],
) -> BurstDecisionOut:
    """Local or AWS for this job, with the reasons: affordability, the budget's health and
    runway, and the deadline (the earlier of ``job_deadline`` and ``conference_deadline``)."""
    deadlines = [d for d in (body.job_deadline, body.conference_deadline) if d is not None]
    deadline = min(deadlines, key=lambda d: d if d.tzinfo else d.replace(tzinfo=UTC), default=None)
    now = services.clock()
    a = decisions.affordability(services.ledger, body.question(principal, deadline), now=now)
    share = a.percent_of_available
    score = (
        max(Decimal(0), 1 - share / 100).quantize(Decimal("0.01"))
        if a.affordable and share is not None
        else Decimal(0)
    )
    return BurstDecisionOut(
        account=a.status.account,
        recommended_action=a.decision,
        confidence=str(a.confidence),
        urgency_level=a.deadline_risk,
        affordable=a.affordable,
        budget_impact=_pct(share),
        affordability_score=str(score),
        deadline_risk=a.deadline_risk,
        budget_risk=a.budget_risk,
        grant_health_impact=a.status.health_band.upper(),
        budget_status=BudgetStatusOut.of(
            a.status, now.astimezone(UTC), _alerts(services, a.status.account, None)
        ),
        decision_factors=[DecisionFactorOut(**f) for f in decisions.factors(a)],
        risk_assessment=_risk(a),
        defer_until=a.relief[0] if a.relief is not None and a.decision == "DEFER" else None,
        reasoning=a.reasons,
        message=a.reasons[-1],
    )


# ---------------------------------------------------------------- grant timeline


class TimelineIn(ApiModel):
    model_config = ConfigDict(extra="ignore")

    account: str | None = Field(default=None, min_length=1, max_length=64)
    grant_number: str | None = Field(default=None, min_length=1, max_length=64)
    """One of the two: an account (its grant's timeline, or its own without one) or a grant."""
    look_ahead_days: int = Field(default=decisions.DEFAULT_LOOK_AHEAD, ge=1, le=3660)
    include_alerts: bool = False
    """Add the open alerts of the account (or of the grant) as ``active_alerts``."""


class PeriodOut(ApiModel):
    period: int
    start_date: date
    end_date: date
    state: str
    budget: MoneyOut
    consumed: MoneyOut
    remaining: MoneyOut
    percent_used: str
    days_left: int


class AllocationOut(ApiModel):
    date: date
    amount: MoneyOut
    description: str
    type: str
    source: str
    days_from_now: int


class DeadlineOut(ApiModel):
    type: str
    """PERIOD_END, GRANT_END or BUDGET_END."""
    description: str
    name: str
    date: date
    days_from_now: int
    days_until: int
    severity: str
    urgency: str
    budget_impact: str
    impact: str


class TimelinePointOut(ApiModel):
    date: date
    days_from_now: int
    remaining_budget: MoneyOut


class TimelineOut(ApiModel):
    account: str | None
    grant_number: str | None
    grant_start_date: date
    grant_end_date: date | None
    current_period: int | None
    total_periods: int
    period_end_date: date | None
    days_until_period_end: int | None
    days_until_grant_end: int | None
    days_remaining: int | None
    periods: list[PeriodOut]
    allocation_schedule: list[AllocationOut]
    next_allocation: AllocationOut | None
    upcoming_deadlines: list[DeadlineOut]
    budget_timeline: list[TimelinePointOut]
    """Projected remaining money at the current burn rate, instalments added."""
    daily_burn_rate: MoneyOut
    remaining_budget: MoneyOut
    projected_depletion_date: date | None
    current_urgency: str
    bursting_recommendation: str
    """CONSERVATIVE, NORMAL, AGGRESSIVE or EMERGENCY."""
    optimization_advice: list[str]
    active_alerts: list[AlertOut]
    """With include_alerts: the open and acknowledged alerts of the account or grant."""
    last_updated: datetime


@router.post("/asba/grant-timeline", response_model=TimelineOut)
def grant_timeline(
    body: TimelineIn,
    principal: Annotated[Principal, Depends(advisor_access)],
    services: Annotated[Services, Depends(get_services)],
) -> TimelineOut:
    """A grant's budget periods, deadlines, coming instalments and projected balance over the
    next ``look_ahead_days`` (for an account: its grant's, or its own without a grant)."""
    now = services.clock().astimezone(UTC)
    account = _account(body.account, principal) if body.account else None
    if account is None and not principal.can_see_all:
        raise ApiError(403, "a token limited to some accounts must ask by account", field="account")
    if body.grant_number is not None:
        # A scoped token reads a grant only through an account of its own (the same rule
        # as GET /grants/{number}): naming another grant's number must not show its money.
        visible_grant(services, principal, body.grant_number)
    t = decisions.grant_timeline(
        services.ledger,
        account=account,
        grant_number=body.grant_number,
        look_ahead_days=body.look_ahead_days,
        today=now.date(),
    )
    allocations = [
        AllocationOut(
            date=due,
            amount=amount,
            description=f"allocation instalment of {amount:.2f}",
            type="AUTOMATIC",
            source="allocation schedule",
            days_from_now=(due - t.today).days,
        )
        for due, amount in t.allocations
    ]
    period_end = t.period_end
    return TimelineOut(
        account=t.account,
        grant_number=t.grant_number,
        grant_start_date=t.start_date,
        grant_end_date=t.end_date,
        current_period=t.current_period,
        total_periods=len(t.periods),
        period_end_date=period_end,
        days_until_period_end=(period_end - t.today).days if period_end else None,
        days_until_grant_end=(t.end_date - t.today).days if t.end_date else None,
        days_remaining=max((t.end_date - t.today).days, 0) if t.end_date else None,
        periods=[
            PeriodOut(
                period=p.period,
                start_date=p.start_date,
                end_date=p.end_date,
                state=p.state,
                budget=p.budget,
                consumed=p.consumed,
                remaining=p.remaining,
                percent_used=str(p.percent_used),
                days_left=p.days_left,
            )
            for p in t.periods
        ],
        allocation_schedule=allocations,
        next_allocation=allocations[0] if allocations else None,
        upcoming_deadlines=[
            DeadlineOut(
                type=d.kind,
                description=d.description,
                name=d.description,
                date=d.day,
                days_from_now=d.days_from_now,
                days_until=d.days_from_now,
                severity=d.severity,
                urgency=d.severity,
                budget_impact=d.impact,
                impact=d.impact,
            )
            for d in t.deadlines
        ],
        budget_timeline=[
            TimelinePointOut(date=p.day, days_from_now=p.days_from_now, remaining_budget=p.balance)
            for p in t.points
        ],
        daily_burn_rate=t.daily_burn,
        remaining_budget=t.remaining,
        projected_depletion_date=t.projected_exhaustion,
        current_urgency=t.urgency,
        bursting_recommendation=t.recommendation,
        optimization_advice=t.advice,
        active_alerts=_alerts(services, t.account, t.grant_number) if body.include_alerts else [],
        last_updated=now,
    )
