"""The adjustments resource of the REST API: requests with maker-checker approval.

One admin token asks (``POST /adjustments``), another approves or rejects; the asker may cancel.
Readers see requests (a reader limited to some accounts sees only those touching them).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import ConfigDict, Field

from asbb_core.funding.approvals import MAX_ID, MAX_PAGE, Approvals
from asbb_core.store.models import AdjustmentKind, AdjustmentRequest, AdjustmentStatus, Role
from daemon.auth import Principal, admin_write, any_reader
from daemon.schemas import ApiModel, MoneyIn, MoneyOut
from daemon.services import Services, get_services

router = APIRouter(tags=["adjustments"])

RequestId = Annotated[int, Path(ge=1, le=MAX_ID, description="The adjustment request's id")]


class AdjustmentIn(ApiModel):
    """Ask for an adjustment; it moves nothing until another administrator approves it."""

    model_config = ConfigDict(extra="forbid")

    kind: AdjustmentKind
    account: str = Field(min_length=1, max_length=64)
    amount: MoneyIn | None = None
    """credit, debit, transfer, refund: the amount; limit: the new limit; hold_release: none."""
    target_account: str | None = Field(default=None, max_length=64)
    """transfer: the account the money goes to."""
    hold_id: str | None = Field(default=None, max_length=40)
    """hold_release: the hold to void."""
    partition: str | None = Field(default=None, max_length=64)
    """refund: the partition the usage is corrected on (optional)."""
    reason: str = Field(min_length=1, max_length=500)


class ApproveIn(ApiModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="", max_length=500)
    confirm: str | None = Field(default=None, max_length=64)
    """The account's name, required when the amount is above approvals.confirm_above."""


class RejectIn(ApiModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500)


class CancelIn(ApiModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="", max_length=500)


class AdjustmentOut(ApiModel):
    id: int
    kind: str
    account: str
    amount: MoneyOut
    target_account: str | None
    hold_id: str | None
    partition: str | None
    reason: str
    requested_by: str
    requested_at: datetime
    status: str
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str
    correlation_id: str | None
    """The correlation id of the journal rows the approval wrote."""
    result: dict[str, Any] | None
    needs_confirmation: bool

    @classmethod
    def of(cls, row: AdjustmentRequest) -> AdjustmentOut:
        assert row.id is not None
        return cls(
            id=row.id,
            kind=str(row.kind),
            account=row.account,
            amount=row.amount,
            target_account=row.target_account,
            hold_id=row.hold_id,
            partition=row.partition,
            reason=row.reason,
            requested_by=row.requested_by,
            requested_at=row.requested_at,
            status=str(row.status),
            decided_by=row.decided_by,
            decided_at=row.decided_at,
            decision_reason=row.decision_reason,
            correlation_id=row.correlation_id,
            result=row.result,
            needs_confirmation=row.needs_confirmation,
        )


class AdjustmentPage(ApiModel):
    items: list[AdjustmentOut]
    total: int
    limit: int
    offset: int


def _approvals(services: Services) -> Approvals:
    return services.bank.approvals


def _visible(principal: Principal, row: AdjustmentRequest) -> None:
    """A reader limited to some accounts sees a request only if it touches one of them."""
    if principal.can_see(row.account):
        return
    if row.target_account is not None and principal.can_see(row.target_account):
        return
    principal.require_account(row.account)


@router.post("/adjustments", status_code=201, response_model=AdjustmentOut)
def create_adjustment(
    body: AdjustmentIn,
    principal: Annotated[Principal, Depends(admin_write)],
    services: Annotated[Services, Depends(get_services)],
) -> AdjustmentOut:
    """Ask for an adjustment (pending until another administrator approves it)."""
    row = _approvals(services).request(
        body.kind,
        body.account,
        body.amount,
        requested_by=principal.name,
        reason=body.reason,
        target_account=body.target_account,
        hold_id=body.hold_id,
        partition=body.partition,
    )
    return AdjustmentOut.of(row)


@router.get("/adjustments", response_model=AdjustmentPage)
def list_adjustments(
    principal: Annotated[Principal, Depends(any_reader)],
    services: Annotated[Services, Depends(get_services)],
    status: Annotated[AdjustmentStatus | None, Query()] = None,
    account: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> AdjustmentPage:
    """Requests, newest first, filtered by status and account (either side of a transfer)."""
    scope = principal.accounts if principal.role is Role.READER and principal.accounts else None
    if account is not None and scope is not None:
        principal.require_account(account.strip().lower())
    approvals = _approvals(services)
    rows = approvals.list(
        status=status, account=account, accounts=scope, limit=limit, offset=offset
    )
    total = approvals.count(status=status, account=account, accounts=scope)
    return AdjustmentPage(
        items=[AdjustmentOut.of(r) for r in rows], total=total, limit=limit, offset=offset
    )


@router.get("/adjustments/{request_id}", response_model=AdjustmentOut)
def get_adjustment(
    request_id: RequestId,
    principal: Annotated[Principal, Depends(any_reader)],
    services: Annotated[Services, Depends(get_services)],
) -> AdjustmentOut:
    row = _approvals(services).get(request_id)
    _visible(principal, row)
    return AdjustmentOut.of(row)


@router.post("/adjustments/{request_id}/approve", response_model=AdjustmentOut)
def approve_adjustment(
    request_id: RequestId,
    principal: Annotated[Principal, Depends(admin_write)],
    services: Annotated[Services, Depends(get_services)],
    body: ApproveIn | None = None,
) -> AdjustmentOut:
    """Apply the request's movement and mark it approved, together (not by its requester)."""
    given = body or ApproveIn()
    row = _approvals(services).approve(
        request_id,
        approver=principal.name,
        reason=given.reason,
        confirm=given.confirm,
        source=principal.source,
    )
    return AdjustmentOut.of(row)


@router.post("/adjustments/{request_id}/reject", response_model=AdjustmentOut)
def reject_adjustment(
    request_id: RequestId,
    body: RejectIn,
    principal: Annotated[Principal, Depends(admin_write)],
    services: Annotated[Services, Depends(get_services)],
) -> AdjustmentOut:
    """Turn a pending request down, with a reason. Nothing moves."""
    row = _approvals(services).reject(request_id, approver=principal.name, reason=body.reason)
    return AdjustmentOut.of(row)


@router.post("/adjustments/{request_id}/cancel", response_model=AdjustmentOut)
def cancel_adjustment(
    request_id: RequestId,
    principal: Annotated[Principal, Depends(admin_write)],
    services: Annotated[Services, Depends(get_services)],
    body: CancelIn | None = None,
) -> AdjustmentOut:
    """Withdraw your own pending request. Nothing moves."""
    given = body or CancelIn()
    row = _approvals(services).cancel(request_id, principal.name, reason=given.reason)
    return AdjustmentOut.of(row)
