"""The hot path: budget check (price + hold) and reconcile (post + release), seed-compatible."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from pydantic import ConfigDict, Field, field_validator

from asbb_core.ledger.calibration import calibrated
from asbb_core.ledger.pricing import JobShape, Price
from asbb_core.ledger.reconcile import (
    CORRECTED,
    EARLIER,
    JobEnd,
    elapsed_of,
    metadata_of,
    reconcile_job,
)
from asbb_core.store.models import Role
from asbb_core.values.context import Context, IdempotencyKey, Source, new_correlation_id
from asbb_core.values.errors import (
    AccountInactiveError,
    InsufficientFundsError,
    UnknownPartitionError,
    ValidationError,
)
from asbb_core.values.money import ZERO, round_posting
from daemon.auth import Principal, plugin_access, requires
from daemon.errors import request_id_of
from daemon.routes.fleet import RECONCILE_JOB_ID_PATTERN
from daemon.schemas import (
    JOB_ID_PATTERN,
    ApiModel,
    JobDetails,
    JobMetadata,
    Moment,
    MoneyIn,
    MoneyOut,
    OptionalSlurmTime,
    SlurmTime,
    UserName,
)
from daemon.services import Services, get_services
from daemon.wire import WireRoute

router = APIRouter(tags=["budget"], route_class=WireRoute)

# A quote writes nothing: any role may ask (a reader limited to accounts, only for those).
quote_access = requires(Role.READER, Role.PLUGIN)


class CheckRequest(ApiModel):
    """A job about to be submitted (the shape slurmctld's plugin and the seed tools send)."""

    model_config = ConfigDict(extra="ignore")

    account: str = Field(min_length=1, max_length=64)
    partition: str | None = Field(default=None, max_length=64)
    """None: the default partition."""
    nodes: int = Field(default=1, ge=1, le=1_000_000)
    cpus: int = Field(default=1, ge=1, le=1_000_000)
    """CPUs for the whole job (all nodes)."""
    gpus: int = Field(default=0, ge=0, le=1_000_000)
    memory: str | int | None = None
    """Memory for the whole job: megabytes, or '64G' / '64GB' / '512M'."""
    wall_time: SlurmTime
    """Time limit: 'MM', 'HH:MM:SS', 'D-HH:MM:SS', or minutes as a number."""
    array_size: int = Field(default=1, ge=1, le=1_000_000)
    user_id: UserName = Field(default=None, max_length=64)
    job_id: str | None = Field(default=None, max_length=64, pattern=JOB_ID_PATTERN)
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=200)
    """A retry with the same key returns the same hold (also the Idempotency-Key header)."""
    job_metadata: JobMetadata = Field(default_factory=dict)
    """research_domain, grant_number, project_code, ... recorded on the hold's journal rows."""
    job_details: JobDetails = Field(default_factory=dict)


class CheckResponse(ApiModel):
    available: bool
    estimated_cost: MoneyOut
    hold_amount: MoneyOut
    transaction_id: str | None
    """The hold id: the plugin writes it into the job's AdminComment."""
    message: str
    budget_remaining: MoneyOut | None
    details: dict[str, Any]


class QuoteResponse(ApiModel):
    """What ``/budget/check`` would answer for this job now; nothing is held or written."""

    would_accept: bool
    estimated_cost: MoneyOut
    hold_amount: MoneyOut
    """The hold check would take: the same price, calibration and buffer."""
    budget_remaining: MoneyOut | None
    """Accepted: what the account would have left after the hold; refused: what the account
    (or the partition limit that refused) has now."""
    message: str
    details: dict[str, Any]


class ReconcileRequest(ApiModel):
    """A job that ended: its real cost, or the facts to price it with."""

    model_config = ConfigDict(extra="ignore")

    job_id: str = Field(max_length=64, pattern=RECONCILE_JOB_ID_PATTERN)
    """The Slurm job id (an array task: '1234_5'; a heterogeneous component: '1234+0'); for
    a node of a fleet admission (/budget/admit), '<cluster>/<node>'."""
    transaction_id: str | None = Field(default=None, min_length=1, max_length=40)
    """The hold id from the job's AdminComment (absent for a job accepted unchecked)."""
    account: str | None = Field(default=None, min_length=1, max_length=64)
    """For a job without a hold: the account to charge."""
    partition: str | None = Field(default=None, max_length=64)
    user_id: UserName = Field(default=None, max_length=64)
    actual_cost: MoneyIn | None = None
    """The real cost, if known (e.g. from AWS); else it is priced from the fields below."""
    elapsed: OptionalSlurmTime = None
    """Elapsed time in Slurm form ('HH:MM:SS'); or give elapsed_seconds."""
    elapsed_seconds: int | None = Field(default=None, ge=0, le=10 * 366 * 86400)
    nodes: int | None = Field(default=None, ge=1, le=1_000_000)
    cpus: int | None = Field(default=None, ge=1, le=1_000_000)
    gpus: int | None = Field(default=None, ge=0, le=1_000_000)
    memory: str | int | None = None
    state: str | None = Field(default=None, max_length=32)
    end_time: Moment | None = None
    final: bool | None = None
    """True closes an array's hold now (the rest of its tasks will not run)."""
    job_metadata: dict[str, Any] | None = None
    """An object, or (as the seed sends it) a string holding a JSON object."""

    @field_validator("job_metadata", mode="before")
    @classmethod
    def _metadata(cls, value: Any) -> Any:
        try:
            return metadata_of(value)
        except ValidationError:
            raise ValueError("must be a JSON object") from None


class ReconcileResponse(ApiModel):
    success: bool
    original_hold: MoneyOut
    actual_charge: MoneyOut
    refund_amount: MoneyOut
    overrun: MoneyOut
    transaction_id: str | None
    message: str
    state: str
    tasks_reconciled: int
    task_count: int
    cost_source: str
    replayed: bool


def _hold_details(price: Price, job: JobShape) -> dict[str, Any]:
    return {
        "partition": price.partition,
        "hours": price.hours,
        "per_task": round_posting(price.per_task),
        "tasks": job.tasks,
        "breakdown": {k: round_posting(v) for k, v in price.breakdown.items()},
        "estimate_source": price.source,
    }


def _job_of(body: CheckRequest) -> JobShape:
    return JobShape.parse(
        partition=body.partition,
        wall_time=body.wall_time,
        nodes=body.nodes,
        cpus=body.cpus,
        gpus=body.gpus,
        memory=body.memory,
        tasks=body.array_size,
    )


def _client_key(raw: str | None) -> IdempotencyKey | None:
    return IdempotencyKey.client(raw) if raw else None


def _unbudgeted(body: CheckRequest, services: Services) -> tuple[str, dict[str, Any]]:
    name = body.partition or services.settings.default_partition or "default"
    return f"partition {name} is not budgeted", {"budgeted": False, "partition": name}


def _refusal_details(
    details: dict[str, Any], refusal: InsufficientFundsError | AccountInactiveError
) -> dict[str, Any]:
    limit = refusal.details.get("limit")
    available = refusal.details.get("available")
    return {
        **details,
        "reason": refusal.code,
        # Which limit refused: "account" or "partition" (a name, not an amount).
        "limit": limit,
        # The original tool's: what the account has, and what this job would have held.
        "account_balance": Decimal(available) if available is not None else ZERO,
        "current_hold": ZERO,
    }


@router.post("/budget/check", response_model=CheckResponse)
def check(
    body: CheckRequest,
    request: Request,
    principal: Annotated[Principal, Depends(plugin_access)],
    services: Annotated[Services, Depends(get_services)],
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> CheckResponse:
    """Price a job and hold its cost. Partitions marked `budgeted = false` answer at once,
    without a hold; a partition the settings do not name is refused (`available: false`,
    `details.reason` = `unknown_partition`), never waved through."""
    metrics = services.metrics
    with metrics.check_latency.labels(outcome="all").time():
        job = _job_of(body)
        try:
            price = services.price(job, body.account)
        except UnknownPartitionError as exc:
            # Fail safe: a partition asbb cannot price is refused with what to fix.
            metrics.holds.labels(outcome="refused").inc()
            return CheckResponse(
                available=False,
                estimated_cost=ZERO,
                hold_amount=ZERO,
                transaction_id=None,
                message=exc.message,
                budget_remaining=None,
                details={"reason": exc.code, **exc.details},
            )
        if price is None:
            metrics.holds.labels(outcome="unbudgeted").inc()
            message, unbudgeted = _unbudgeted(body, services)
            return CheckResponse(
                available=True,
                estimated_cost=ZERO,
                hold_amount=ZERO,
                transaction_id=None,
                message=message,
                budget_remaining=None,
                details=unbudgeted,
            )
        ctx = Context(
            actor=principal.name,
            source=principal.source,
            correlation_id=request_id_of(request) or new_correlation_id(),
            idempotency_key=_client_key(idempotency_key or body.idempotency_key),
        )
        metadata = {
            **body.job_metadata,
            **({"job_details": body.job_details} if body.job_details else {}),
            "request": {
                "nodes": job.nodes,
                "cpus": job.cpus,
                "gpus": job.gpus,
                "memory_mb": str(job.memory_mb),
                "wall_time_seconds": int(job.duration.total_seconds()),
            },
        }
        details = _hold_details(price, job)
        scale = services.calibrator.factor(body.account, price.partition)
        estimate = calibrated(price.total, scale)
        details["calibration"] = scale
        # The original tool's names: the multiple of the estimate held (its
        # default_hold_percentage, asbb's holds.buffer).
        details["hold_percentage"] = services.settings.holds.buffer
        try:
            hold = services.ledger.create_hold(
                body.account,
                price.total,
                calibration=scale,
                ctx=ctx,
                partition=price.partition,
                job_id=body.job_id,
                user_name=body.user_id,
                task_count=job.tasks,
                time_limit=job.duration,
                estimate_source=price.source,
                metadata=metadata,
            )
        except (InsufficientFundsError, AccountInactiveError) as refusal:
            metrics.holds.labels(outcome="refused").inc()
            remaining = refusal.details.get("available")
            return CheckResponse(
                available=False,
                estimated_cost=estimate,
                hold_amount=Decimal(refusal.details.get("requested", "0")),
                transaction_id=None,
                message=refusal.message,
                budget_remaining=Decimal(remaining) if remaining is not None else None,
                details=_refusal_details(details, refusal),
            )
        metrics.holds.labels(outcome="replayed" if hold.replayed else "accepted").inc()
        return CheckResponse(
            available=True,
            estimated_cost=estimate,
            hold_amount=hold.amount,
            transaction_id=hold.hold_id,
            message=f"held {hold.amount:.2f} for an estimated {round_posting(estimate):.2f}",
            budget_remaining=hold.available_after,
            details={
                **details,
                "account": hold.account,
                "buffer": services.settings.holds.buffer,
                "expires_at": hold.expires_at,
                "replayed": hold.replayed,
                "account_balance": hold.available_after + hold.amount,
                "current_hold": hold.amount,
            },
        )


@router.post("/budget/quote", response_model=QuoteResponse)
def quote(
    body: CheckRequest,
    principal: Annotated[Principal, Depends(quote_access)],
    services: Annotated[Services, Depends(get_services)],
) -> QuoteResponse:
    """What `/budget/check` would do with this job now -- the same price, calibration and
    buffer, accepted or refused by the same rules -- without holding or writing anything.
    Any token may ask; a reader token limited to some accounts only for those (else 403)."""
    principal.require_account(body.account)
    job = _job_of(body)
    try:
        price = services.price(job, body.account)
    except UnknownPartitionError as exc:  # refused by check, so refused here
        return QuoteResponse(
            would_accept=False,
            estimated_cost=ZERO,
            hold_amount=ZERO,
            budget_remaining=None,
            message=exc.message,
            details={"reason": exc.code, **exc.details},
        )
    if price is None:
        message, unbudgeted = _unbudgeted(body, services)
        return QuoteResponse(
            would_accept=True,
            estimated_cost=ZERO,
            hold_amount=ZERO,
            budget_remaining=None,
            message=message,
            details=unbudgeted,
        )
    details = _hold_details(price, job)
    scale = services.calibrator.factor(body.account, price.partition)
    estimate = calibrated(price.total, scale)
    details["calibration"] = str(scale)
    decision = services.ledger.quote_hold(
        body.account, price.total, calibration=scale, partition=price.partition
    )
    details["account"] = decision.account
    details["buffer"] = str(services.settings.holds.buffer)
    if decision.refusal is not None:
        # As check answers: what the limit that refused (account or partition) has now.
        left = decision.refusal.details.get("available")
        return QuoteResponse(
            would_accept=False,
            estimated_cost=estimate,
            hold_amount=decision.amount,
            budget_remaining=Decimal(left) if left is not None else decision.available,
            message=decision.refusal.message,
            details=_refusal_details(details, decision.refusal),
        )
    return QuoteResponse(
        would_accept=True,
        estimated_cost=estimate,
        hold_amount=decision.amount,
        budget_remaining=decision.available_after,
        message=(
            f"would hold {decision.amount:.2f} for an estimated {round_posting(estimate):.2f}"
        ),
        details=details,
    )


@router.post("/budget/reconcile", response_model=ReconcileResponse)
def reconcile(
    body: ReconcileRequest,
    request: Request,
    principal: Annotated[Principal, Depends(plugin_access)],
    services: Annotated[Services, Depends(get_services)],
) -> ReconcileResponse:
    """Charge a finished job against its hold and release the rest. Replays charge nothing.

    A job accepted fail-open (no hold) is charged too: send its account (and partition) and no
    transaction_id."""
    done = reconcile_job(
        services.ledger,
        JobEnd(
            job_id=body.job_id,
            hold_id=body.transaction_id,
            actual_cost=body.actual_cost,
            elapsed=elapsed_of(body.elapsed, body.elapsed_seconds),
            nodes=body.nodes,
            cpus=body.cpus,
            gpus=body.gpus,
            memory=body.memory,
            state=body.state,
            final=body.final,
            metadata=body.job_metadata or {},
            account=body.account,
            partition=body.partition,
            user=body.user_id,
        ),
        actor=principal.name,
        source=Source.EPILOG if principal.role is Role.PLUGIN else Source.API,
        correlation_id=request_id_of(request) or None,
    )
    outcome = "replayed" if done.replayed else ("late" if done.late else "posted")
    services.metrics.reconciles.labels(outcome=outcome).inc()
    if body.end_time is not None and not done.replayed:
        lag = (services.clock() - body.end_time).total_seconds()
        services.metrics.reconcile_lag.observe(max(0.0, lag))
    if done.cost_source == CORRECTED:
        message = (
            f"job {body.job_id} was already reconciled with other figures; its charge was "
            f"corrected to the reported cost ("
            + (
                f"charged {done.charged:.2f} more)"
                if done.charged
                else f"refunded {done.released:.2f})"
            )
        )
    elif done.cost_source == EARLIER:
        message = (
            f"job {body.job_id} was already reconciled with other figures (charged "
            f"{done.charged:.2f}); nothing more charged -- send a corrected cost to "
            "/api/v1/integration/cost-update"
        )
    elif done.state == "posted":
        message = f"charged {done.charged:.2f}; released {done.released:.2f}" + (
            f"; {done.overrun:.2f} above the hold" if done.overrun else ""
        )
    else:
        message = f"charged {done.charged:.2f}; task {done.tasks_posted} of {done.task_count}"
    return ReconcileResponse(
        success=True,
        original_hold=done.original_hold,
        actual_charge=done.charged,
        refund_amount=done.released,
        overrun=done.overrun,
        transaction_id=done.hold_id,
        message=message,
        state=done.state,
        tasks_reconciled=done.tasks_posted,
        task_count=done.task_count,
        cost_source=done.cost_source,
        replayed=done.replayed,
    )
