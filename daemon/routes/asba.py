"""Decision support for aws-slurm-burst-advisor (ASBA): budget status, affordability, grant
timeline and burst decision, computed from the ledger by ``asbb_core.analytics.decisions``.

Two clients decode these answers: the advisor's Go client (``BudgetStatus``,
``AffordabilityCheck``, ``GrantTimeline``) and the original tool's Go types
(``BudgetStatusResponse``, ``AffordabilityCheckResponse``, ``GrantTimelineResponse``,
``BurstDecisionResponse``). Every field either reads is here, under its name and of its type,
never null where Go cannot hold a null; where the two disagree on one field the advisor's
form is sent (docs/api.md, "Compatibility with the advisor and the original types", says
which and why). Requests take asbb's names and the advisor's (``estimated_cost`` for
``estimated_aws_cost``, ``deadline`` for ``job_deadline``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import AliasChoices, ConfigDict, Field, field_validator

from asbb_core.analytics import decisions
from asbb_core.analytics.decisions import (
    Affordability,
    BudgetStatus,
    JobQuestion,
    Option,
    Timeline,
    advisor_risk,
    share_or_all,
)
from asbb_core.store.models import Role
from asbb_core.values.money import ZERO
from asbb_core.values.text import normalise_account_name
from asbb_core.values.wire import Precise
from daemon.auth import Principal, requires
from daemon.errors import ApiError
from daemon.routes.grants import visible_grant
from daemon.schemas import ApiModel, JobMetadata, Moment, MoneyIn, MoneyOut
from daemon.services import Services, get_services
from daemon.wire import WireRoute

router = APIRouter(tags=["asba"], route_class=WireRoute)

# Decisions only read the ledger: the advisor may use a reader or a plugin token.
advisor_access = requires(Role.READER, Role.PLUGIN)


def _account(name: str, principal: Principal) -> str:
    cleaned = normalise_account_name(name)
    principal.require_account(cleaned)
    return cleaned


class AlertOut(ApiModel):
    """An open alert, with the fields of the original tool's BudgetAlert."""

    id: int
    account_id: int
    grant_id: int | None
    alert_type: str
    """usage, variance, exhaustion, grant-period, stuck-holds or spool-backlog."""
    kind: str
    """The same, by asbb's name."""
    severity: str
    status: str
    title: str
    message: str
    details: str
    """The alert's figures as JSON text."""
    threshold_value: Precise
    """What the figure was compared with (e.g. the usage threshold, in percent)."""
    actual_value: Precise
    """The figure that raised it (e.g. the percent used)."""
    triggered_at: datetime
    opened_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None


def _alerts(services: Services, account: str | None, grant: str | None) -> list[AlertOut]:
    """The open (unacknowledged or acknowledged) alerts of an account, or of a grant."""
    found = []
    service = services.bank.alerts
    settings = services.settings
    for status in ("open", "acknowledged"):
        found += service.list_alerts(status=status, account=account, limit=200)
    out = []
    for r in sorted(found, key=lambda r: r.id):
        if not (
            grant is None or r.grant == grant or (account is not None and r.account == account)
        ):
            continue
        a = r.alert
        details = dict(a.details or {})
        threshold, actual = decisions.alert_figures(a.kind, details, settings)
        out.append(
            AlertOut(
                id=r.id,
                account_id=a.account_id or 0,
                grant_id=a.grant_id,
                alert_type=a.kind,
                kind=a.kind,
                severity=str(a.severity),
                status=str(a.status),
                title=a.title,
                message=a.message,
                details=decisions.details_text(details),
                threshold_value=threshold,
                actual_value=actual,
                triggered_at=a.opened_at,
                opened_at=a.opened_at,
                acknowledged_at=a.acknowledged_at,
                acknowledged_by=a.acknowledged_by,
                resolved_at=a.resolved_at,
            )
        )
    return out


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
    budget_utilization: Precise
    """(used + held) / limit, in percent (of a zero limit: 0 when nothing is used, else 100)."""
    daily_burn_rate: MoneyOut
    """Actual spend per day over the last 30 days."""
    burn_rate: MoneyOut
    """The same, by the advisor's name."""
    expected_daily_rate: MoneyOut
    """The planned spend per day (0: no plan, the account has no end date or schedule)."""
    burn_rate_variance: Precise
    """(actual - expected) / expected, in percent (0 without a plan to compare with)."""
    budget_health_score: int
    health_score: int
    health_status: str
    """HEALTHY, CONCERN, WARNING or CRITICAL."""
    risk_level: str
    """low, medium or high (the advisor's words; a critical health band is high)."""
    grant_start_date: date
    grant_end_date: date | None
    """The grant's end date, or the account's own when no grant funds it."""
    days_remaining: int
    """Days to that end date; without one, the days the money lasts at the current burn rate
    (at most 3660)."""
    grant_days_remaining: int
    """The same, by the advisor's name."""
    projected_depletion_date: date | None
    projected_balance_at_end: MoneyOut | None
    can_afford_aws_burst: bool
    can_afford_aws: bool
    recommended_decision: str
    """PREFER_AWS, EITHER, PREFER_LOCAL or EMERGENCY_ONLY."""
    decision: str
    """The same, by the advisor's name."""
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
            budget_utilization=share_or_all(s.used + s.held, s.limit),
            daily_burn_rate=s.daily_burn,
            burn_rate=s.daily_burn,
            expected_daily_rate=s.expected_daily if s.expected_daily is not None else ZERO,
            burn_rate_variance=s.variance_percent if s.variance_percent is not None else ZERO,
            budget_health_score=s.health_score,
            health_score=s.health_score,
            health_status=s.health_band.upper(),
            risk_level=advisor_risk(s.risk_level),
            grant_start_date=s.start_date,
            grant_end_date=s.end_date,
            days_remaining=s.days_left,
            grant_days_remaining=s.days_left,
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
    """How far ahead an instalment may come to make the job affordable (``defer_until``)."""
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
    cost_as_percent_of_budget: Precise
    """The cost as a percent of the account's limit."""
    cost_as_percent_of_remaining: Precise
    """The cost as a percent of the available money (of nothing: 100)."""
    opportunity_cost: MoneyOut
    """The part of the cost other work would then lack: what leaves the budget short at its
    end date at the current burn rate (0 when it would have been left over); the whole cost
    without an end date."""
    budget_after_cost: MoneyOut
    balance_at_end_after_cost: MoneyOut | None
    """Projected balance at the budget's end at the current burn rate, with the job paid."""


class RiskOut(ApiModel):
    """Risks in the advisor's words: low, medium or high."""

    overall_risk: str
    budget_risk: str
    deadline_risk: str
    grant_risk: str
    """The account's (or its grant's) risk from its health band."""
    risk_factors: list[str]
    mitigation_strategies: list[str]
    confidence_level: Precise


class OptionOut(ApiModel):
    """One way to run the job: the advisor's AlternativeOption and the original tool's
    ResourceOption in one."""

    strategy: str
    """aws_now, local or wait_for_allocation."""
    option: str
    """AWS_ONDEMAND or LOCAL."""
    cost: MoneyOut
    """What it takes from the budget (local partitions are not budgeted: 0)."""
    estimated_cost: MoneyOut
    timeline: str
    estimated_time: int
    """Minutes before it is done: the local time given, or the wait for the instalment; 0
    where asbb cannot know (the time on AWS is the advisor's to say)."""
    score: Precise
    """0..1: 1.00, 0.67, 0.33 or 0.00 for a low, medium, high or critical risk."""
    recommendation_score: Precise
    risk: str
    """LOW, MEDIUM, HIGH or CRITICAL: the budget's for AWS now, the deadline's otherwise."""
    description: str
    reasoning: str

    @classmethod
    def of(cls, o: Option) -> OptionOut:
        return cls(
            strategy=o.strategy,
            option=o.option,
            cost=o.cost,
            estimated_cost=o.cost,
            timeline=o.timeline,
            estimated_time=o.minutes,
            score=o.score,
            recommendation_score=o.score,
            risk=o.risk,
            description=o.description,
            reasoning=o.reasoning,
        )


class DecisionFactorOut(ApiModel):
    factor: str
    weight: Precise
    """How much it weighs in the rules, in the order they apply (they are rules, not a sum)."""
    value: Precise
    """0..1."""
    impact: str
    """POSITIVE (toward AWS), NEGATIVE or NEUTRAL."""
    description: str


def _impact(a: Affordability) -> BudgetImpactOut:
    return BudgetImpactOut(
        cost_as_percent_of_budget=share_or_all(a.cost, a.status.limit),
        cost_as_percent_of_remaining=share_or_all(a.cost, max(a.status.available, ZERO)),
        opportunity_cost=a.opportunity_cost,
        budget_after_cost=a.available_after,
        balance_at_end_after_cost=a.balance_at_end_after,
    )


def _risk(a: Affordability) -> RiskOut:
    return RiskOut(
        overall_risk=advisor_risk(a.overall_risk),
        budget_risk=advisor_risk(a.budget_risk),
        deadline_risk=advisor_risk(a.deadline_risk),
        grant_risk=advisor_risk(a.status.risk_level),
        risk_factors=a.risk_factors,
        mitigation_strategies=a.mitigations,
        confidence_level=a.confidence,
    )


def _factors(a: Affordability) -> list[DecisionFactorOut]:
    return [
        DecisionFactorOut(
            factor=f.factor,
            weight=f.weight,
            value=f.value,
            impact=f.impact,
            description=f.description,
        )
        for f in decisions.factors(a)
    ]


class AffordabilityOut(ApiModel):
    account: str
    affordable: bool
    """A budget check would accept the job's hold now."""
    recommended_decision: str
    """AWS, LOCAL or EITHER."""
    defer_until: date | None
    """With LOCAL for a job refused now: the day an instalment would make it affordable, when
    waiting for it is the other way (no tight deadline)."""
    confidence_level: Precise
    estimated_aws_cost: MoneyOut
    hold_amount: MoneyOut
    budget_available: MoneyOut
    budget_impact: BudgetImpactOut
    cost_opportunity_ratio: Precise
    """The cost for each hour of local time it spares (0 without ``estimated_local_time``)."""
    budget_risk: str
    """LOW, MEDIUM, HIGH or CRITICAL (the original tool's words)."""
    deadline_risk: str
    overall_risk: str
    risk_level: str
    """The overall risk as the advisor words it: low, medium or high."""
    risk_assessment: RiskOut
    time_to_deadline: int
    """Minutes (0: no deadline given)."""
    local_completion_time: datetime | None
    decision_factors: dict[str, DecisionFactorOut]
    alternative_options: list[OptionOut]
    """AWS now, local, and (when an instalment would make it affordable) waiting for it; the
    recommended one first."""
    refusal: str | None
    reasoning: list[str]
    recommendations: list[str]
    message: str


@router.post("/asba/affordability-check", response_model=AffordabilityOut)
def affordability_check(
    body: JobIn,
    principal: Annotated[Principal, Depends(advisor_access)],
    services: Annotated[Services, Depends(get_services)],
) -> AffordabilityOut:
    """Can the account pay for this job now (by the budget check's own rules) and still last to
    its end date? With a risk level for the budget, the deadline and overall, and the other
    ways to run it."""
    a = decisions.affordability(services.ledger, body.question(principal), now=services.clock())
    return AffordabilityOut(
        account=a.status.account,
        affordable=a.affordable,
        recommended_decision=a.decision,
        defer_until=a.defer_until,
        confidence_level=a.confidence,
        estimated_aws_cost=a.cost,
        hold_amount=a.hold_amount,
        budget_available=a.status.available,
        budget_impact=_impact(a),
        cost_opportunity_ratio=a.cost_per_local_hour,
        budget_risk=a.budget_risk,
        deadline_risk=a.deadline_risk,
        overall_risk=a.overall_risk,
        risk_level=advisor_risk(a.overall_risk),
        risk_assessment=_risk(a),
        time_to_deadline=a.minutes_to_deadline or 0,
        local_completion_time=a.local_completion,
        decision_factors={f.factor: f for f in _factors(a)},
        alternative_options=[OptionOut.of(o) for o in a.options],
        refusal=a.refusal,
        reasoning=a.reasons,
        recommendations=a.mitigations,
        message=a.reasons[-1],
    )


class BurstDecisionIn(JobIn):
    conference_deadline: Moment | None = None
    """Counts as the deadline when it comes before ``job_deadline``."""
    research_phase: str | None = Field(default=None, max_length=32)
    collaboration_impact: bool = False


def _actions(a: Affordability) -> tuple[list[str], list[str]]:
    """What to do now, and later, after this decision."""
    if a.decision == "AWS":
        now = [f"submit it to an AWS partition: a budget check will hold {a.hold_amount:.2f}"]
    elif a.decision == "LOCAL":
        now = ["submit it to a local partition"]
        if a.defer_until is not None:
            now.append(f"or wait until {a.defer_until} to burst, when it becomes affordable")
    else:
        now = ["submit it where it starts sooner: the budget can take either"]
    later = list(a.mitigations)
    s = a.status
    if s.projected_exhaustion is not None and (
        s.end_date is None or s.projected_exhaustion < s.end_date
    ):
        later.append(f"at the current rate the money runs out on {s.projected_exhaustion}")
    if not s.expected_known:
        later.append(
            "give the account an end date or an allocation schedule so spending has a plan"
        )
    return now, later


class BurstDecisionOut(ApiModel):
    account: str
    recommended_action: str
    """AWS, LOCAL or EITHER."""
    defer_until: date | None
    """With LOCAL for a job refused now: the day an instalment would make it affordable."""
    confidence: Precise
    urgency_level: str
    """The deadline's risk: LOW, MEDIUM, HIGH or CRITICAL."""
    affordable: bool
    budget_impact: Precise
    """Percent of the available money the job would take (of nothing: 100)."""
    affordability_score: Precise
    """0..1: 1 - that share (0 when the budget check would refuse the job)."""
    cost_efficiency: Precise
    """The cost for each hour of local time it spares (0 without ``estimated_local_time``)."""
    timeline_pressure: Precise
    """0..1: the local run time as a share of the time to the deadline (1 once past it)."""
    deadline_risk: str
    budget_risk: str
    grant_health_impact: str
    """The budget's health band now (the job's effect is in budget_risk)."""
    budget_preservation: MoneyOut
    """Money to keep for the rest of the budget's life at its expected rate (or the current
    one; 30 days of it without an end date), at most what is available."""
    budget_status: BudgetStatusOut
    decision_factors: list[DecisionFactorOut]
    risk_assessment: RiskOut
    alternatives: list[OptionOut]
    immediate_actions: list[str]
    longterm_suggestions: list[str]
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
    immediate, later = _actions(a)
    return BurstDecisionOut(
        account=a.status.account,
        recommended_action=a.decision,
        defer_until=a.defer_until,
        confidence=a.confidence,
        urgency_level=a.deadline_risk,
        affordable=a.affordable,
        budget_impact=share_or_all(a.cost, max(a.status.available, ZERO)),
        affordability_score=a.affordability_score,
        cost_efficiency=a.cost_per_local_hour,
        timeline_pressure=a.timeline_pressure,
        deadline_risk=a.deadline_risk,
        budget_risk=a.budget_risk,
        grant_health_impact=a.status.health_band.upper(),
        budget_preservation=decisions.budget_to_preserve(a.status),
        budget_status=BudgetStatusOut.of(
            a.status, now.astimezone(UTC), _alerts(services, a.status.account, None)
        ),
        decision_factors=_factors(a),
        risk_assessment=_risk(a),
        alternatives=[OptionOut.of(o) for o in a.options],
        immediate_actions=immediate,
        longterm_suggestions=later,
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
    percent_used: Precise
    days_left: int


class AllocationOut(ApiModel):
    date: date
    amount: MoneyOut
    description: str
    type: str
    """AUTOMATIC (an allocation schedule's instalment); NONE in ``next_allocation`` when no
    instalment is due within the look-ahead (its date is then the look-ahead's end)."""
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
    """LOW, MEDIUM, HIGH or CRITICAL."""
    urgency: str
    """The same in the advisor's words: low, medium, high or critical."""
    budget_impact: str
    impact: str
    recommendations: list[str]


class TimelinePointOut(ApiModel):
    date: date
    days_from_now: int
    remaining_budget: MoneyOut
    cumulative_spend: MoneyOut
    """Spend from the period's first day to that day (the current rate from today on)."""
    cumulative_expected: MoneyOut
    """What the expected daily spend adds up to by then (0 without a plan)."""
    burn_rate_status: str
    """OVERSPENDING, UNDERSPENDING, ON_TRACK or UNKNOWN, as now."""
    health_score: int
    """The health score now."""


class GuidanceOut(ApiModel):
    """How much to burst, and how (the advisor's BudgetGuidance)."""

    recommended_strategy: str
    """conservative, normal, aggressive or emergency."""
    max_recommended_spend: MoneyOut
    """The projected balance at the look-ahead's end (or the end date, when sooner) after the
    current burn and the instalments due: what bursting may take without running short."""
    conservation_advice: str
    optimization_suggestions: list[str]


class EmergencyAdviceOut(ApiModel):
    """Where more money could come from (the advisor's EmergencyAdvice)."""

    emergency_funds_available: bool
    """Money can still be drawn from the grant's current budget period."""
    emergency_threshold: MoneyOut
    """The largest estimate a budget check accepts now (available / hold buffer, partition
    caps aside): a job above it needs emergency money."""
    emergency_procedure: str
    contact_info: str


class EmergencyOptionOut(ApiModel):
    option: str
    """REALLOCATE (a draw from the grant) or EMERGENCY_FUND (a credit)."""
    description: str
    estimated_cost: MoneyOut | None
    """The most it can bring (null: whatever is approved)."""
    timeline: str
    requirements: list[str]
    risk_level: str


class TimelineOut(ApiModel):
    account: str
    """The account asked about ("" when asked by grant number)."""
    grant_number: str | None
    grant_start_date: date
    grant_end_date: date
    """The grant's (or the account's) end date; without one, the day the money runs out at
    the current burn rate (at most 3660 days ahead): see ``end_date``."""
    end_date: date | None
    """The end date itself (null: none)."""
    current_period: str
    """The current budget period in words (the advisor reads text here)."""
    current_period_number: int | None
    """Its number (null: no current period, or no grant)."""
    total_periods: int
    period_end_date: date
    """The current period's end; without one, ``grant_end_date``."""
    days_until_period_end: int
    days_until_grant_end: int
    days_remaining: int
    periods: list[PeriodOut]
    allocation_schedule: list[AllocationOut]
    next_allocation: AllocationOut
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
    budget_guidance: GuidanceOut
    emergency_burst_advice: EmergencyAdviceOut
    emergency_options: list[EmergencyOptionOut]
    active_alerts: list[AlertOut]
    """With include_alerts: the open and acknowledged alerts of the account or grant."""
    last_updated: datetime


def _allocations(t: Timeline) -> list[AllocationOut]:
    return [
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


def _no_allocation(t: Timeline) -> AllocationOut:
    """``next_allocation`` when nothing is due: nothing (0) arrives by the look-ahead's end."""
    horizon = t.today + timedelta(days=t.look_ahead_days)
    words = f"no instalment is due by {horizon}"
    return AllocationOut(
        date=horizon,
        amount=ZERO,
        description=words,
        type="NONE",
        source=f"none: {words}",
        days_from_now=t.look_ahead_days,
    )


def _timeline_out(t: Timeline, alerts: list[AlertOut], now: datetime) -> TimelineOut:
    allocations = _allocations(t)
    ends_on = t.ends_on
    period_end = t.period_end or ends_on
    guidance, emergency = t.guidance, t.emergency
    return TimelineOut(
        account=t.account or "",
        grant_number=t.grant_number,
        grant_start_date=t.start_date,
        grant_end_date=ends_on,
        end_date=t.end_date,
        current_period=t.current_period_label,
        current_period_number=t.current_period,
        total_periods=len(t.periods),
        period_end_date=period_end,
        days_until_period_end=max((period_end - t.today).days, 0),
        days_until_grant_end=t.days_left,
        days_remaining=t.days_left,
        periods=[
            PeriodOut(
                period=p.period,
                start_date=p.start_date,
                end_date=p.end_date,
                state=p.state,
                budget=p.budget,
                consumed=p.consumed,
                remaining=p.remaining,
                percent_used=p.percent_used,
                days_left=p.days_left,
            )
            for p in t.periods
        ],
        allocation_schedule=allocations,
        next_allocation=allocations[0] if allocations else _no_allocation(t),
        upcoming_deadlines=[
            DeadlineOut(
                type=d.kind,
                description=d.description,
                name=d.description,
                date=d.day,
                days_from_now=d.days_from_now,
                days_until=d.days_from_now,
                severity=d.severity,
                urgency=d.severity.lower(),
                budget_impact=d.impact,
                impact=d.impact,
                recommendations=d.recommendations,
            )
            for d in t.deadlines
        ],
        budget_timeline=[
            TimelinePointOut(
                date=p.day,
                days_from_now=p.days_from_now,
                remaining_budget=p.balance,
                cumulative_spend=p.cumulative_spend,
                cumulative_expected=p.cumulative_expected,
                burn_rate_status=t.burn_rate_status,
                health_score=t.health_score,
            )
            for p in t.points
        ],
        daily_burn_rate=t.daily_burn,
        remaining_budget=t.remaining,
        projected_depletion_date=t.projected_exhaustion,
        current_urgency=t.urgency,
        bursting_recommendation=t.recommendation,
        optimization_advice=t.advice,
        budget_guidance=GuidanceOut(
            recommended_strategy=guidance.strategy,
            max_recommended_spend=guidance.max_spend,
            conservation_advice=guidance.conservation_advice,
            optimization_suggestions=guidance.suggestions,
        ),
        emergency_burst_advice=EmergencyAdviceOut(
            emergency_funds_available=emergency.funds_available,
            emergency_threshold=emergency.threshold,
            emergency_procedure=emergency.procedure,
            contact_info=emergency.contact,
        ),
        emergency_options=[
            EmergencyOptionOut(
                option=o.option,
                description=o.description,
                estimated_cost=o.amount,
                timeline=o.timeline,
                requirements=o.requirements,
                risk_level=o.risk,
            )
            for o in emergency.options
        ],
        active_alerts=alerts,
        last_updated=now,
    )


@router.post("/asba/grant-timeline", response_model=TimelineOut)
def grant_timeline(
    body: TimelineIn,
    principal: Annotated[Principal, Depends(advisor_access)],
    services: Annotated[Services, Depends(get_services)],
) -> TimelineOut:
    """A grant's budget periods, deadlines, coming instalments and projected balance over the
    next ``look_ahead_days`` (for an account: its grant's, or its own without a grant), with
    how much to burst and where emergency money would come from."""
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
    alerts = _alerts(services, t.account, t.grant_number) if body.include_alerts else []
    return _timeline_out(t, alerts, now)
