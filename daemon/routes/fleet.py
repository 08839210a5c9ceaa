"""Fleet admission: the resume step of a cloud-bursting Slurm asks before it launches nodes.

The request and answer are the original tool's (``FleetAdmissionRequest`` answered with a
``BudgetCheckResponse``): ``estimated_cost`` is the fleet's dollars per hour, ``hold_amount``
what is held. The rules are asbb_core's (``asbb_core.ledger.admission``).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from pydantic import BeforeValidator, ConfigDict, Field, WithJsonSchema

from asbb_core.ledger import MAX_TASKS
from asbb_core.ledger.admission import (
    NODE_ID_PATTERN,
    Admission,
    FleetAdmissions,
    FleetRequest,
    PricedFleet,
    fleet_hours,
)
from asbb_core.ledger.pricing import UnknownPriceError
from asbb_core.values.context import Context, IdempotencyKey, new_correlation_id
from asbb_core.values.errors import (
    AccountInactiveError,
    InsufficientFundsError,
    NotFoundError,
    UnknownPartitionError,
    ValidationError,
)
from asbb_core.values.money import ZERO, format_money, round_posting
from asbb_core.values.wire import Precise
from daemon.auth import Principal, plugin_access
from daemon.errors import request_id_of
from daemon.schemas import JOB_ID_PATTERN, ApiModel, JobMetadata, MoneyOut, field_error
from daemon.services import Services, get_services
from daemon.wire import WireRoute

router = APIRouter(tags=["budget"], route_class=WireRoute)

RECONCILE_JOB_ID_PATTERN = (
    rf"^(?:{JOB_ID_PATTERN.removeprefix('^').removesuffix('$')}|{NODE_ID_PATTERN})$"
)
"""What ``/budget/reconcile`` takes as a job id: a Slurm job's, or a fleet node's."""


def _hours_in(value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        return fleet_hours(value)
    except ValidationError as exc:
        raise field_error(exc) from None


Hours = Annotated[
    Decimal | None,
    BeforeValidator(_hours_in),
    WithJsonSchema(
        {
            "anyOf": [{"type": "number"}, {"type": "string"}, {"type": "null"}],
            "description": "Hours of the fleet's spend to hold (above 0, at most 8784, 4 "
            "decimal places); none: fleet.default_hours",
            "examples": [1, "0.5"],
        }
    ),
]


class AdmitRequest(ApiModel):
    """Cloud nodes about to be launched (the original tool's FleetAdmissionRequest)."""

    model_config = ConfigDict(extra="ignore")

    account: str = Field(min_length=1, max_length=64)
    partition: str | None = Field(default=None, max_length=64)
    """None: the default partition."""
    region: str = Field(min_length=1, max_length=64)
    """The AWS region the nodes launch in (e.g. us-east-1)."""
    instance_type: str = Field(min_length=1, max_length=64)
    """The AWS instance type of every node (e.g. c6i.xlarge)."""
    capacity_model: str | None = Field(default=None, max_length=32)
    """on-demand (also ondemand, on_demand), spot or reserved; none or "": on-demand."""
    count: int = Field(ge=1, le=MAX_TASKS)
    """How many nodes: one hold, reconciled once per node."""
    hours: Hours = None
    """Hours of spend to hold (asbb's; the original holds one): else fleet.default_hours."""
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=200)
    """A retry with the same key returns the same hold (also the Idempotency-Key header)."""
    job_metadata: JobMetadata = Field(default_factory=dict)
    """Anything to record on the hold's journal rows (cluster, hostlist, ...)."""


class AdmitDetails(ApiModel):
    """How the fleet was priced and held; for a refusal, why."""

    reason: str | None = None
    """A refusal's code: insufficient_funds, account_inactive, not_found (no such account),
    unknown_partition, unknown_instance_price."""
    limit: str | None = None
    """insufficient_funds: which limit refused, account or partition."""
    field: str | None = None
    """unknown_instance_price: the request field without a price (region, instance_type,
    capacity_model)."""
    setting: str | None = None
    """unknown_partition, unknown_instance_price: the settings table to add."""
    budgeted: bool = True
    """False: the partition is marked budgeted = false; nothing was held."""
    account: str | None = None
    partition: str | None = None
    region: str | None = None
    instance_type: str | None = None
    capacity_model: str | None = None
    priced_as: str | None = None
    """The capacity model whose price was used (spot without a spot price: on-demand)."""
    count: int | None = None
    unit_price: Precise | None = None
    """Dollars per instance-hour."""
    hourly_rate: Precise | None = None
    """The fleet's dollars per hour (the same as estimated_cost)."""
    hours: Precise | None = None
    estimated_total: Precise | None = None
    """hourly_rate x hours: what hold_amount is this times the buffer of."""
    hold_percentage: Precise | None = None
    """The buffer the estimate was held at (the original's name)."""
    account_balance: MoneyOut | None = None
    """What the account had available before this hold."""
    expires_at: datetime | None = None
    """When the hold expires unless reconciled: hours plus holds.timeout_hours."""
    replayed: bool = False


class AdmitResponse(ApiModel):
    """The original tool's BudgetCheckResponse, as it answers a fleet admission."""

    available: bool
    """True: launch; the hold is transaction_id."""
    estimated_cost: Precise
    """The fleet's dollars per hour (instance price x count), as the original answers."""
    hold_amount: MoneyOut
    """The money held (or that would have been): hourly rate x hours x buffer."""
    transaction_id: str | None
    """The hold id: each node's reconcile names it."""
    message: str
    budget_remaining: MoneyOut | None
    """Admitted: what the account has left after the hold; refused: what the limit that
    refused has."""
    details: AdmitDetails


def _priced(fleet: PricedFleet) -> dict[str, Any]:
    request = fleet.request
    return {
        "partition": fleet.partition,
        "region": request.region,
        "instance_type": request.instance_type,
        "capacity_model": request.capacity_model,
        "priced_as": fleet.priced_as,
        "count": request.count,
        "unit_price": fleet.unit_price,
        "hourly_rate": fleet.hourly_rate,
        "hours": fleet.hours,
        "estimated_total": fleet.estimate,
    }


def _unpriced(
    request: FleetRequest, exc: UnknownPartitionError | UnknownPriceError
) -> AdmitResponse:
    # Fail safe, as /budget/check: a fleet asbb cannot price is refused with what to add.
    field = exc.field if isinstance(exc, UnknownPriceError) else None
    return AdmitResponse(
        available=False,
        estimated_cost=ZERO,
        hold_amount=ZERO,
        transaction_id=None,
        message=exc.message,
        budget_remaining=None,
        details=AdmitDetails(
            reason=exc.code,
            field=field,
            setting=exc.details.get("setting"),
            account=request.account,
            partition=exc.details.get("partition", request.partition),
            region=request.region,
            instance_type=request.instance_type,
            capacity_model=request.capacity_model,
            count=request.count,
        ),
    )


def _refused(
    fleet: PricedFleet,
    refusal: InsufficientFundsError | AccountInactiveError | NotFoundError,
    buffer: Decimal,
) -> AdmitResponse:
    request = fleet.request
    left = refusal.details.get("available")
    available = Decimal(left) if left is not None else None
    held = refusal.details.get("requested")
    requested = Decimal(held) if held is not None else round_posting(fleet.estimate * buffer)
    message = refusal.message
    if isinstance(refusal, InsufficientFundsError) and available is not None:
        where = (
            f"partition {fleet.partition} of account {request.account}"
            if refusal.details.get("limit") == "partition"
            else f"account {request.account}"
        )
        message = (
            f"{where} has {format_money(available)} available; {request.count} x "
            f"{request.instance_type} ({request.capacity_model}) at "
            f"{format_money(fleet.hourly_rate)}/h for {fleet.hours} h needs a "
            f"{format_money(requested)} hold"
        )
    return AdmitResponse(
        available=False,
        estimated_cost=fleet.hourly_rate,
        hold_amount=requested,
        transaction_id=None,
        message=message,
        budget_remaining=available,
        details=AdmitDetails(
            reason=refusal.code,
            limit=refusal.details.get("limit"),
            account=request.account,
            hold_percentage=buffer,
            **_priced(fleet),
        ),
    )


def _admitted(fleet: PricedFleet, admission: Admission) -> AdmitResponse:
    return AdmitResponse(
        available=True,
        estimated_cost=admission.hourly_rate,
        hold_amount=admission.amount,
        transaction_id=admission.hold_id,
        message=(
            f"admitted {admission.count} x {admission.instance_type} "
            f"({admission.capacity_model}) in {admission.region}: held "
            f"{format_money(admission.amount)} for {admission.hours} h at "
            f"{format_money(admission.hourly_rate)}/h"
        ),
        budget_remaining=admission.available_after,
        details=AdmitDetails(
            account=admission.account,
            hold_percentage=admission.buffer,
            account_balance=admission.available_after + admission.amount,
            expires_at=admission.expires_at,
            replayed=admission.replayed,
            **{
                **_priced(fleet),
                # As first admitted: a replay answers with the first price, not today's.
                "priced_as": admission.priced_as,
                "unit_price": admission.unit_price,
                "hourly_rate": admission.hourly_rate,
                "hours": admission.hours,
                "estimated_total": admission.estimate,
            },
        ),
    )


@router.post("/budget/admit", response_model=AdmitResponse)
def admit(
    body: AdmitRequest,
    request: Request,
    principal: Annotated[Principal, Depends(plugin_access)],
    services: Annotated[Services, Depends(get_services)],
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> AdmitResponse:
    """Admit a fleet of cloud nodes about to be launched (aws-slurm-burst's ResumeProgram):
    price `count` x `instance_type` in `region` under `capacity_model` from `fleet.prices`,
    and hold `hours` (else `fleet.default_hours`) of it x the buffer. A short budget, an
    inactive account, a partition the settings do not name and an instance type, region or
    capacity model without a price are refused (`available: false`, `details.reason`), never
    waved through; a partition marked `budgeted = false` is admitted without a hold. Each
    node's teardown reconciles its cost with `/budget/reconcile` (`transaction_id`, `job_id`
    `<cluster>/<node>`). A retry with the same `Idempotency-Key` returns the same hold.
    Needs a plugin or admin token."""
    fleet_request = FleetRequest.parse(
        account=body.account,
        partition=body.partition,
        region=body.region,
        instance_type=body.instance_type,
        capacity_model=body.capacity_model,
        count=body.count,
        hours=body.hours,
    )
    raw_key = idempotency_key or body.idempotency_key
    ctx = Context(
        actor=principal.name,
        source=principal.source,
        correlation_id=request_id_of(request) or new_correlation_id(),
        idempotency_key=IdempotencyKey.client(raw_key) if raw_key else None,
    )
    admissions = FleetAdmissions(services.ledger)
    try:
        fleet = admissions.price(fleet_request)
    except (UnknownPartitionError, UnknownPriceError) as exc:
        return _unpriced(fleet_request, exc)
    if fleet is None:
        name = fleet_request.partition or services.settings.default_partition or "default"
        return AdmitResponse(
            available=True,
            estimated_cost=ZERO,
            hold_amount=ZERO,
            transaction_id=None,
            message=f"partition {name} is not budgeted",
            budget_remaining=None,
            details=AdmitDetails(budgeted=False, account=fleet_request.account, partition=name),
        )
    try:
        admission = admissions.admit(fleet, ctx=ctx, metadata=dict(body.job_metadata))
    except (InsufficientFundsError, AccountInactiveError) as refusal:
        return _refused(fleet, refusal, services.settings.holds.buffer)
    except NotFoundError as missing:
        # A refusal, not a 404: a resume step that launches when asbb errs (aws-slurm-burst's
        # graceful mode) must not launch for an account nobody opened.
        return _refused(fleet, missing, services.settings.holds.buffer)
    return _admitted(fleet, admission)
