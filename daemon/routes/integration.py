"""Integration with the tools around asbb: performance feedback, cost updates, and a job's
budget context (hold, account, grant, estimate, actual, remaining)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from pydantic import AliasChoices, ConfigDict, Field

from asbb_core.integrations.feedback import parse_feedback, record_feedback
from asbb_core.integrations.job_context import job_context
from asbb_core.integrations.views import BudgetContextView, CostReportView, FeedbackView
from asbb_core.store.models import Role
from daemon.auth import Principal, plugin_access, requires
from daemon.routes.asbx import apply_report
from daemon.schemas import JOB_ID_PATTERN, ApiModel, AsbxHoldId, MoneyIn
from daemon.services import Services, get_services
from daemon.wire import WireRoute

router = APIRouter(tags=["integration"], route_class=WireRoute)

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


@router.post("/integration/performance-feedback", response_model=FeedbackView, status_code=201)
def performance_feedback(
    body: FeedbackIn,
    principal: Annotated[Principal, Depends(plugin_access)],
    services: Annotated[Services, Depends(get_services)],
) -> FeedbackView:
    """Keep a job's performance feedback (plugin or admin token); the job's budget context
    shows it next to what the job cost. Other fields sent are kept in ``details``."""
    data = body.model_dump(mode="json", exclude_none=True)
    row = record_feedback(
        services.db, parse_feedback(data, actor=principal.name, now=services.clock)
    )
    return FeedbackView.of(row)


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


@router.post("/integration/cost-update", response_model=CostReportView)
def cost_update(
    body: CostUpdateIn,
    request: Request,
    principal: Annotated[Principal, Depends(plugin_access)],
    services: Annotated[Services, Depends(get_services)],
) -> CostReportView:
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
    return CostReportView.of(done)


@router.get("/integration/budget-context/{job_id}", response_model=BudgetContextView)
def budget_context(
    job_id: JobId,
    principal: Annotated[Principal, Depends(context_access)],
    services: Annotated[Services, Depends(get_services)],
) -> BudgetContextView:
    """Everything the ledger knows about a job's money: its hold, account, grant (and the
    current period's remainder), estimate, actual charge, the cost reports and feedback
    received for it, and what its account has left. 404 if the ledger never saw the job."""
    ctx = job_context(services.ledger, job_id)
    principal.require_account(ctx.account.name)
    return BudgetContextView.of(ctx)
