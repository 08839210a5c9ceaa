"""Integration with the tools around asbb: performance feedback, cost updates, and a job's
budget context (hold, account, grant, estimate, actual, remaining)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from pydantic import AliasChoices, ConfigDict, Field

from asbb_core.integrations.feedback import parse_feedback, record_feedback
from asbb_core.integrations.job_context import job_context
from asbb_core.store.models import PerformanceFeedback, Role
from daemon.auth import Principal, plugin_access, requires
from daemon.routes.asbx import CostReportOut, apply_report
from daemon.routes.holds import HoldOut
from daemon.schemas import JOB_ID_PATTERN, ApiModel, AsbxHoldId, MoneyIn, MoneyOut
from daemon.services import Services, get_services

router = APIRouter(tags=["integration"])

context_access = requires(Role.READER, Role.PLUGIN)
JobId = Annotated[str, Path(max_length=64, pattern=JOB_ID_PATTERN, description="The Slurm job id")]


class FeedbackIn(ApiModel):
    """How efficiently a job used its resources (aws-slurm-burst's performance data)."""

    model_config = ConfigDict(extra="allow")

    job_id: str = Field(max_length=64, pattern=JOB_ID_PATTERN)
    account: str | None = Field(default=None, max_length=64)
    partition: str | None = Field(default=None, max_length=64)
    cpu_efficiency: MoneyIn | None = None
    """A fraction (0.85) or a percentage (85), kept as sent."""
    memory_efficiency: MoneyIn | None = None
    gpu_efficiency: MoneyIn | None = None
    actual_vs_estimated_ratio: MoneyIn | None = None
    performance_profile: str | None = Field(default=None, max_length=64)


class FeedbackOut(ApiModel):
    id: int
    job_id: str
    account: str | None
    partition: str | None
    cpu_efficiency: str | None
    memory_efficiency: str | None
    gpu_efficiency: str | None
    actual_vs_estimated: str | None
    profile: str
    details: dict[str, Any]
    received_at: datetime

    @classmethod
    def of(cls, row: PerformanceFeedback) -> FeedbackOut:
        return cls(
            id=row.id or 0,
            job_id=row.job_id,
            account=row.account,
            partition=row.partition,
            cpu_efficiency=_ratio(row.cpu_efficiency),
            memory_efficiency=_ratio(row.memory_efficiency),
            gpu_efficiency=_ratio(row.gpu_efficiency),
            actual_vs_estimated=_ratio(row.actual_vs_estimated),
            profile=row.profile,
            details=row.details,
            received_at=row.received_at,
        )


def _ratio(value: Decimal | None) -> str | None:
    return str(value) if value is not None else None


@router.post("/integration/performance-feedback", response_model=FeedbackOut, status_code=201)
def performance_feedback(
    body: FeedbackIn,
    principal: Annotated[Principal, Depends(plugin_access)],
    services: Annotated[Services, Depends(get_services)],
) -> FeedbackOut:
    """Keep a job's performance feedback (plugin or admin token); the job's budget context
    shows it next to what the job cost. Other fields sent are kept in ``details``."""
    data = body.model_dump(mode="json", exclude_none=True)
    row = record_feedback(
        services.db, parse_feedback(data, actor=principal.name, now=services.clock)
    )
    return FeedbackOut.of(row)


class CostUpdateIn(ApiModel):
    """A job's cost changed after it was charged (a late AWS bill line, a credit)."""

    model_config = ConfigDict(extra="ignore")

    job_id: str = Field(max_length=64, pattern=JOB_ID_PATTERN)
    actual_cost: MoneyIn = Field(
        validation_alias=AliasChoices("actual_cost", "new_cost", "updated_cost", "cost")
    )
    """The job's whole cost now (not the difference)."""
    transaction_id: AsbxHoldId = None
    account: str | None = Field(default=None, max_length=64)
    """For a job that ran without a hold: its account."""
    reason: str = Field(default="", max_length=500)


@router.post("/integration/cost-update", response_model=CostReportOut)
def cost_update(
    body: CostUpdateIn,
    request: Request,
    principal: Annotated[Principal, Depends(plugin_access)],
    services: Annotated[Services, Depends(get_services)],
) -> CostReportOut:
    """Set a job's cost to a new figure (plugin or admin token): the difference from what it
    was charged is charged or refunded, linked to its hold; the same figure again changes
    nothing. A job not reconciled yet is reconciled at this cost."""
    done = apply_report(
        services.reports,
        body.model_dump(mode="json", exclude_none=True),
        origin="cost-update",
        principal=principal,
        request=request,
        services=services,
    )
    return CostReportOut.of(done)


class AccountContextOut(ApiModel):
    name: str
    status: str
    limit: MoneyOut
    used: MoneyOut
    held: MoneyOut
    available: MoneyOut


class GrantContextOut(ApiModel):
    number: str
    title: str
    end_date: date
    indirect_rate: str
    period: int | None
    period_end: date | None
    period_remaining: MoneyOut | None
    """What the current budget period has left (total cost)."""


class EntryOut(ApiModel):
    id: int
    kind: str
    amount: MoneyOut
    used_delta: MoneyOut
    held_delta: MoneyOut
    job_id: str | None
    overrun: bool
    source: str
    memo: str
    created_at: datetime


class ReportOut(ApiModel):
    id: int
    origin: str
    outcome: str
    actual_cost: MoneyOut | None
    previous_charge: MoneyOut | None
    delta: MoneyOut | None
    file_name: str | None
    reason: str
    received_at: datetime


class BudgetContextOut(ApiModel):
    job_id: str
    account: AccountContextOut
    hold: HoldOut | None
    grant: GrantContextOut | None
    estimate: MoneyOut | None
    """The hold's estimate (before the buffer)."""
    actual: MoneyOut
    """What the job was charged, net of corrections."""
    variance: MoneyOut | None
    remaining_budget: MoneyOut
    """The account's available money now."""
    journal: list[EntryOut]
    cost_reports: list[ReportOut]
    performance_feedback: list[FeedbackOut]


@router.get("/integration/budget-context/{job_id}", response_model=BudgetContextOut)
def budget_context(
    job_id: JobId,
    principal: Annotated[Principal, Depends(context_access)],
    services: Annotated[Services, Depends(get_services)],
) -> BudgetContextOut:
    """Everything the ledger knows about a job's money: its hold, account, grant (and the
    current period's remainder), estimate, actual charge, the cost reports and feedback
    received for it, and what its account has left. 404 if the ledger never saw the job."""
    ctx = job_context(services.ledger, job_id)
    principal.require_account(ctx.account.name)
    account = ctx.account
    grant = ctx.grant
    return BudgetContextOut(
        job_id=ctx.job_id,
        account=AccountContextOut(
            name=account.name,
            status=str(account.status),
            limit=account.limit_amount,
            used=account.used_amount,
            held=account.held_amount,
            available=account.available,
        ),
        hold=HoldOut.of(ctx.hold) if ctx.hold else None,
        grant=GrantContextOut(
            number=grant.number,
            title=grant.title,
            end_date=grant.end_date,
            indirect_rate=str(grant.indirect_rate.normalize()),
            period=ctx.period.period if ctx.period else None,
            period_end=ctx.period.end_date if ctx.period else None,
            period_remaining=ctx.period.remaining if ctx.period else None,
        )
        if grant is not None
        else None,
        estimate=ctx.estimate,
        actual=ctx.charged,
        variance=ctx.charged - ctx.estimate if ctx.estimate is not None else None,
        remaining_budget=account.available,
        journal=[
            EntryOut(
                id=e.id or 0,
                kind=str(e.kind),
                amount=e.amount,
                used_delta=e.used_delta,
                held_delta=e.held_delta,
                job_id=e.job_id,
                overrun=e.overrun,
                source=str(e.source),
                memo=e.memo,
                created_at=e.created_at,
            )
            for e in ctx.entries
        ],
        cost_reports=[
            ReportOut(
                id=r.id or 0,
                origin=r.origin,
                outcome=r.outcome,
                actual_cost=r.actual_cost,
                previous_charge=r.previous_charge,
                delta=r.delta,
                file_name=r.file_name,
                reason=r.reason,
                received_at=r.received_at,
            )
            for r in ctx.reports
        ],
        performance_feedback=[FeedbackOut.of(f) for f in ctx.feedback],
    )
