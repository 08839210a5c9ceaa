"""The holds resource of the REST API: list and show holds; void one (admin)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import ConfigDict, Field

from asbb_core.ledger.views import HoldPage, HoldView, VoidView
from asbb_core.store import queries
from daemon.auth import Principal, admin_write, any_reader
from daemon.routes.accounts import account_name, context_of, visible_accounts
from daemon.routes.adjustments import PENDING, pending
from daemon.schemas import JOB_ID_PATTERN, ApiModel
from daemon.services import Services, get_services
from daemon.wire import WireResponse, WireRoute

router = APIRouter(tags=["holds"], route_class=WireRoute)

HoldId = Annotated[str, Path(min_length=1, max_length=40, description="The hold's id")]


class VoidIn(ApiModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="", max_length=500)


@router.get("/holds", response_model=HoldPage)
def list_holds(
    principal: Annotated[Principal, Depends(any_reader)],
    services: Annotated[Services, Depends(get_services)],
    account: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    state: Annotated[
        Literal["open", "posted", "voided", "expired", "all"],
        Query(description="Holds in this state; `all` for every state"),
    ] = "open",
    job_id: Annotated[
        str | None, Query(max_length=64, pattern=JOB_ID_PATTERN, description="A Slurm job id")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=queries.MAX_PAGE)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> HoldPage:
    """Holds, newest first: open ones unless `state` says otherwise, filtered by account and
    job, paged with `limit` and `offset`. A reader token limited to some accounts sees only
    their holds (403 when it names another account)."""
    if account is not None:
        account = account_name(account, principal, field="account")
    page = queries.list_holds(
        services.db,
        account=account,
        state=None if state == "all" else state,
        job_id=job_id,
        limit=limit,
        offset=offset,
        visible=visible_accounts(principal),
    )
    return HoldPage.of(page, [HoldView.of(r) for r in page.items])


@router.get("/holds/{hold_id}", response_model=HoldView)
def show_hold(
    hold_id: HoldId,
    principal: Annotated[Principal, Depends(any_reader)],
    services: Annotated[Services, Depends(get_services)],
) -> HoldView:
    """One hold: what it reserved, charged and released, and its state."""
    row = queries.get_hold(services.db, hold_id)
    principal.require_account(row.account)
    return HoldView.of(row)


@router.post("/holds/{hold_id}/void", response_model=VoidView, responses=PENDING)
def void_hold(
    hold_id: HoldId,
    request: Request,
    principal: Annotated[Principal, Depends(admin_write)],
    services: Annotated[Services, Depends(get_services)],
    body: VoidIn | None = None,
) -> VoidView | WireResponse:
    """Release everything an open hold still reserves (admin), e.g. for a job that will never
    run. When approval is required (`approvals.require_approval`) nothing is released: the
    answer is 202 with the pending hold_release request another person approves. A hold
    resolves exactly once: voiding a closed hold is 409."""
    done = services.bank.desk.void_hold(
        hold_id, ctx=context_of(request, principal), reason=body.reason if body else ""
    )
    if done.request is not None:
        return pending(done.request)
    result = done.result
    assert result is not None
    return VoidView(
        hold=HoldView.of(queries.get_hold(services.db, hold_id)),
        released=result.released,
        replayed=result.replayed,
    )
