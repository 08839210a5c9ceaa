"""The allocations resource of the REST API: recurring allocation schedules and one-off
allocations.

Writes need an admin token; reads a reader or admin token (a reader limited to some accounts
sees only their schedules). The daemon's scheduler credits due instalments by itself;
``POST /allocations/process`` runs it now.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import ConfigDict, Field

from asbb_core.funding.allocations import MAX_ID, MAX_INSTALMENTS, Allocations, ScheduleInfo
from asbb_core.funding.views import ProcessView, ScheduleDetailView, ScheduleView
from asbb_core.ledger.views import MovementView
from asbb_core.store.models import ScheduleStatus, UnspentPolicy
from asbb_core.values.periods import Frequency
from daemon.auth import Principal, admin_write, any_reader
from daemon.routes.accounts import (
    AccountName,
    IsoDate,
    account_name,
    context_of,
    visible_accounts,
)
from daemon.routes.adjustments import PENDING, pending
from daemon.schemas import ApiModel, MoneyIn
from daemon.services import Services, get_services

router = APIRouter(tags=["allocations"])

ScheduleId = Annotated[int, Path(ge=1, le=MAX_ID, description="The allocation schedule's id")]


# ---------------------------------------------------------------- models


class ScheduleIn(ApiModel):
    """A budget paid into an account in instalments. Give exactly one of ``total``,
    ``end_date`` or ``instalments``."""

    model_config = ConfigDict(extra="forbid")

    account: str = Field(min_length=1, max_length=64)
    amount: MoneyIn
    """Each instalment."""
    frequency: Frequency
    start_date: IsoDate
    """The first instalment's due date."""
    total: MoneyIn | None = None
    """The whole budget: $600 at $100 is 6 instalments; $650 is 7, the last $50."""
    end_date: IsoDate | None = None
    """Every due date up to and including this one."""
    instalments: int | None = Field(default=None, ge=1, le=MAX_INSTALMENTS)
    """How many instalments."""
    unspent: UnspentPolicy = UnspentPolicy.CARRY_OVER
    """carry_over keeps unspent money; expire takes what is left of an instalment back
    when its period ends (never held or used money)."""
    memo: str = Field(default="", max_length=500)


class ResumeIn(ApiModel):
    model_config = ConfigDict(extra="forbid")

    catch_up: bool = False
    """Credit the instalments that fell due while paused (default: record them as skipped)."""


class ProcessIn(ApiModel):
    model_config = ConfigDict(extra="forbid")

    today: IsoDate | None = None
    """Process as of this date (default: today, UTC)."""


class OnceIn(ApiModel):
    model_config = ConfigDict(extra="forbid")

    amount: MoneyIn
    memo: str = Field(default="", max_length=500)


# ---------------------------------------------------------------- helpers


def _allocations(services: Services) -> Allocations:
    return services.bank.allocations


def _visible(principal: Principal, info: ScheduleInfo) -> ScheduleInfo:
    principal.require_account(info.account)
    return info


# ---------------------------------------------------------------- routes


@router.post("/allocations", status_code=201, response_model=ScheduleDetailView)
def create_schedule(
    body: ScheduleIn,
    request: Request,
    principal: Annotated[Principal, Depends(admin_write)],
    services: Annotated[Services, Depends(get_services)],
) -> ScheduleDetailView:
    """Create a recurring allocation (admin). Nothing is credited by this call: the
    daemon's scheduler credits each instalment when it falls due (a start date in the past
    is caught up at once on its next run)."""
    allocations = _allocations(services)
    schedule = allocations.create_schedule(
        body.account,
        amount=body.amount,
        frequency=body.frequency,
        start_date=body.start_date,
        ctx=context_of(request, principal),
        total=body.total,
        end_date=body.end_date,
        instalments=body.instalments,
        unspent=body.unspent,
        memo=body.memo,
    )
    assert schedule.id is not None
    return ScheduleDetailView.of(allocations.get_schedule(schedule.id))


@router.get("/allocations", response_model=list[ScheduleView])
def list_schedules(
    principal: Annotated[Principal, Depends(any_reader)],
    services: Annotated[Services, Depends(get_services)],
    account: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    status: Annotated[ScheduleStatus | None, Query()] = None,
) -> list[ScheduleView]:
    """Allocation schedules in creation order, optionally of one account and in one status.
    A reader token limited to some accounts sees only their schedules."""
    if account is not None:
        account = account_name(account, principal, field="account")
    infos = _allocations(services).list_schedules(
        account, status, accounts=visible_accounts(principal)
    )
    return [ScheduleView.of(i) for i in infos]


# ":int": "/allocations/process" is not a schedule, so a GET of it is 405, not a bad id.
@router.get("/allocations/{schedule_id:int}", response_model=ScheduleDetailView)
def get_schedule(
    schedule_id: ScheduleId,
    principal: Annotated[Principal, Depends(any_reader)],
    services: Annotated[Services, Depends(get_services)],
) -> ScheduleDetailView:
    """One schedule with every instalment credited or skipped so far."""
    info = _visible(principal, _allocations(services).get_schedule(schedule_id))
    return ScheduleDetailView.of(info)


@router.post("/allocations/process", response_model=ProcessView)
def process_allocations(
    request: Request,
    principal: Annotated[Principal, Depends(admin_write)],
    services: Annotated[Services, Depends(get_services)],
    body: ProcessIn | None = None,
) -> ProcessView:
    """Credit every instalment due now (admin), as the scheduler does: missed ones are
    caught up, none is credited twice (safe beside the scheduler and other daemons).
    `today` processes as of another date."""
    given = body or ProcessIn()
    summary = _allocations(services).process_due(
        ctx=context_of(request, principal), today=given.today
    )
    return ProcessView.of(summary)


@router.post("/allocations/{schedule_id}/pause", response_model=ScheduleDetailView)
def pause_schedule(
    schedule_id: ScheduleId,
    request: Request,
    principal: Annotated[Principal, Depends(admin_write)],
    services: Annotated[Services, Depends(get_services)],
) -> ScheduleDetailView:
    """Pause an active schedule (admin): nothing more is credited until it is resumed.
    What fell due before the pause is credited first. 409 unless it is active."""
    info = _allocations(services).pause(schedule_id, context_of(request, principal))
    return ScheduleDetailView.of(info)


@router.post("/allocations/{schedule_id}/resume", response_model=ScheduleDetailView)
def resume_schedule(
    schedule_id: ScheduleId,
    request: Request,
    principal: Annotated[Principal, Depends(admin_write)],
    services: Annotated[Services, Depends(get_services)],
    body: ResumeIn | None = None,
) -> ScheduleDetailView:
    """Resume a paused schedule (admin). Instalments that fell due while it was paused are
    recorded as skipped, or credited with `catch_up: true`; what is due now is credited at
    once. 409 unless it is paused."""
    given = body or ResumeIn()
    allocations = _allocations(services)
    allocations.resume(schedule_id, context_of(request, principal), catch_up=given.catch_up)
    return ScheduleDetailView.of(allocations.get_schedule(schedule_id))


@router.post("/allocations/{schedule_id}/cancel", response_model=ScheduleDetailView)
def cancel_schedule(
    schedule_id: ScheduleId,
    request: Request,
    principal: Annotated[Principal, Depends(admin_write)],
    services: Annotated[Services, Depends(get_services)],
) -> ScheduleDetailView:
    """Cancel a schedule for good (admin): no further instalments; what was credited stays.
    409 once it is completed or cancelled."""
    info = _allocations(services).cancel(schedule_id, context_of(request, principal))
    return ScheduleDetailView.of(info)


@router.post(
    "/accounts/{name}/allocations",
    response_model=MovementView,
    status_code=status.HTTP_201_CREATED,
    responses=PENDING,
)
def allocate_once(
    name: AccountName,
    body: OnceIn,
    request: Request,
    response: Response,
    principal: Annotated[Principal, Depends(admin_write)],
    services: Annotated[Services, Depends(get_services)],
    idempotency_key: Annotated[str | None, Header(min_length=1, max_length=200)] = None,
) -> MovementView | JSONResponse:
    """A one-off allocation (admin): add money to the account's limit, journaled as an
    allocation. When approval is required (`approvals.require_approval`) nothing moves: the
    answer is 202 with the pending credit request another person approves. With an
    `Idempotency-Key` header a retry returns the first result (200, `replayed: true`; or the
    same request) and allocates nothing."""
    cleaned = account_name(name, principal)
    done = services.bank.desk.allocate_once(
        cleaned,
        body.amount,
        ctx=context_of(request, principal, idempotency_key),
        memo=body.memo,
    )
    if done.request is not None:
        return pending(done.request)
    result = done.result
    assert result is not None
    if result.replayed:
        response.status_code = status.HTTP_200_OK
    return MovementView.of(result)
