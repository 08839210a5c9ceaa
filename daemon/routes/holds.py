"""The holds resource of the REST API: list and show holds; void one (admin)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import ConfigDict, Field

from asbb_core.store import queries
from daemon.auth import Principal, admin_write, any_reader
from daemon.routes.accounts import account_name, context_of, visible_accounts
from daemon.schemas import JOB_ID_PATTERN, ApiModel, MoneyOut
from daemon.services import Services, get_services

router = APIRouter(tags=["holds"])

HoldId = Annotated[str, Path(min_length=1, max_length=40, description="The hold's id")]


class HoldOut(ApiModel):
    id: str
    account: str
    partition: str | None
    user: str | None
    job_id: str | None
    state: str
    estimate: MoneyOut
    buffer: str
    amount: MoneyOut
    """What was reserved (estimate x buffer)."""
    remaining: MoneyOut
    """What is still reserved."""
    charged: MoneyOut
    """What the hold's own charges took (fixed once it resolved)."""
    job_charged: MoneyOut
    """All its job was charged: with late charges and cost corrections."""
    released: MoneyOut
    task_count: int
    tasks_posted: int
    estimate_source: str
    metadata: dict[str, Any]
    actor: str
    source: str
    correlation_id: str
    created_at: datetime
    expires_at: datetime
    resolved_at: datetime | None

    @classmethod
    def of(cls, row: queries.HoldRow) -> HoldOut:
        h = row.hold
        return cls(
            id=h.id,
            account=row.account,
            partition=h.partition,
            user=h.user_name,
            job_id=h.job_id,
            state=str(h.state),
            estimate=h.estimate,
            buffer=str(h.buffer.normalize()),
            amount=h.amount,
            remaining=h.remaining,
            charged=h.charged,
            job_charged=row.job_charged,
            released=h.released,
            task_count=h.task_count,
            tasks_posted=h.tasks_posted,
            estimate_source=h.estimate_source,
            metadata=h.job_metadata,
            actor=h.actor,
            source=str(h.source),
            correlation_id=h.correlation_id,
            created_at=h.created_at,
            expires_at=h.expires_at,
            resolved_at=h.resolved_at,
        )


class HoldPage(ApiModel):
    items: list[HoldOut]
    total: int
    limit: int
    offset: int


class VoidIn(ApiModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="", max_length=500)


class VoidOut(ApiModel):
    hold: HoldOut
    released: MoneyOut
    replayed: bool


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
    return HoldPage(
        items=[HoldOut.of(r) for r in page.items],
        total=page.total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get("/holds/{hold_id}", response_model=HoldOut)
def show_hold(
    hold_id: HoldId,
    principal: Annotated[Principal, Depends(any_reader)],
    services: Annotated[Services, Depends(get_services)],
) -> HoldOut:
    """One hold: what it reserved, charged and released, and its state."""
    row = queries.get_hold(services.db, hold_id)
    principal.require_account(row.account)
    return HoldOut.of(row)


@router.post("/holds/{hold_id}/void", response_model=VoidOut)
def void_hold(
    hold_id: HoldId,
    request: Request,
    principal: Annotated[Principal, Depends(admin_write)],
    services: Annotated[Services, Depends(get_services)],
    body: VoidIn | None = None,
) -> VoidOut:
    """Release everything an open hold still reserves (admin), e.g. for a job that will never
    run. A hold resolves exactly once: voiding a closed hold is 409."""
    result = services.ledger.void_hold(
        hold_id, ctx=context_of(request, principal), reason=body.reason if body else ""
    )
    return VoidOut(
        hold=HoldOut.of(queries.get_hold(services.db, hold_id)),
        released=result.released,
        replayed=result.replayed,
    )
