"""The adjustments resource of the REST API: requests with maker-checker approval.

One admin token asks (``POST /adjustments``), another approves or rejects; the asker may cancel.
Readers see requests (a reader limited to some accounts sees only those touching them).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, status
from pydantic import ConfigDict, Field

from asbb_core.funding.approvals import MAX_ID, MAX_PAGE, Approvals
from asbb_core.funding.views import AdjustmentPage, AdjustmentView
from asbb_core.store.models import AdjustmentKind, AdjustmentRequest, AdjustmentStatus, Role
from daemon.auth import Principal, admin_write, any_reader
from daemon.schemas import ApiModel, MoneyIn
from daemon.services import Services, get_services
from daemon.wire import WireResponse, WireRoute

router = APIRouter(tags=["adjustments"], route_class=WireRoute)

PENDING: dict[int | str, dict[str, object]] = {
    status.HTTP_202_ACCEPTED: {
        "model": AdjustmentView,
        "description": "Approval is required (`approvals.require_approval`): nothing moved; "
        "the movement is this pending adjustment request, applied when another person "
        "approves it (`POST /adjustments/{id}/approve`).",
    }
}
"""The extra answer of an endpoint through which a person moves money or limits."""

REQUEST_HEADER = "Asbb-Adjustment-Request"
"""Names the pending request an account's new limit became (create and update)."""


def pending(row: AdjustmentRequest) -> WireResponse:
    """202 with the request a movement became."""
    return WireResponse(AdjustmentView.of(row), status_code=status.HTTP_202_ACCEPTED)


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


def _approvals(services: Services) -> Approvals:
    return services.bank.approvals


def _visible(principal: Principal, row: AdjustmentRequest) -> None:
    """A reader limited to some accounts sees a request only if it touches one of them."""
    if principal.can_see(row.account):
        return
    if row.target_account is not None and principal.can_see(row.target_account):
        return
    principal.require_account(row.account)


@router.post("/adjustments", status_code=201, response_model=AdjustmentView)
def create_adjustment(
    body: AdjustmentIn,
    principal: Annotated[Principal, Depends(admin_write)],
    services: Annotated[Services, Depends(get_services)],
) -> AdjustmentView:
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
    return AdjustmentView.of(row)


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
    return AdjustmentPage.of(rows, total=total, limit=limit, offset=offset)


@router.get("/adjustments/{request_id}", response_model=AdjustmentView)
def get_adjustment(
    request_id: RequestId,
    principal: Annotated[Principal, Depends(any_reader)],
    services: Annotated[Services, Depends(get_services)],
) -> AdjustmentView:
    row = _approvals(services).get(request_id)
    _visible(principal, row)
    return AdjustmentView.of(row)


@router.post("/adjustments/{request_id}/approve", response_model=AdjustmentView)
def approve_adjustment(
    request_id: RequestId,
    principal: Annotated[Principal, Depends(admin_write)],
    services: Annotated[Services, Depends(get_services)],
    body: ApproveIn | None = None,
) -> AdjustmentView:
    """Apply the request's movement and mark it approved, together (not by its requester)."""
    given = body or ApproveIn()
    row = _approvals(services).approve(
        request_id,
        approver=principal.name,
        reason=given.reason,
        confirm=given.confirm,
        source=principal.source,
    )
    return AdjustmentView.of(row)


@router.post("/adjustments/{request_id}/reject", response_model=AdjustmentView)
def reject_adjustment(
    request_id: RequestId,
    body: RejectIn,
    principal: Annotated[Principal, Depends(admin_write)],
    services: Annotated[Services, Depends(get_services)],
) -> AdjustmentView:
    """Turn a pending request down, with a reason. Nothing moves."""
    row = _approvals(services).reject(request_id, approver=principal.name, reason=body.reason)
    return AdjustmentView.of(row)


@router.post("/adjustments/{request_id}/cancel", response_model=AdjustmentView)
def cancel_adjustment(
    request_id: RequestId,
    principal: Annotated[Principal, Depends(admin_write)],
    services: Annotated[Services, Depends(get_services)],
    body: CancelIn | None = None,
) -> AdjustmentView:
    """Withdraw your own pending request. Nothing moves."""
    given = body or CancelIn()
    row = _approvals(services).cancel(request_id, principal.name, reason=given.reason)
    return AdjustmentView.of(row)
