"""The allocations resource of the REST API: recurring allocation schedules and one-off
allocations.

Writes need an admin token; reads a reader or admin token (a reader limited to some accounts
sees only their schedules). The daemon's scheduler credits due instalments by itself;
``POST /allocations/process`` runs it now.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response, status
from pydantic import ConfigDict, Field

from asbb_core.funding.allocations import MAX_ID, MAX_INSTALMENTS, Allocations, ScheduleInfo
from asbb_core.funding.views import ProcessView, ScheduleDetailView, SchedulePage, ScheduleView
from asbb_core.ledger.views import MovementView
from asbb_core.store.models import ScheduleStatus, UnspentPolicy
from asbb_core.values.errors import ValidationError
from asbb_core.values.periods import Frequency
from daemon.auth import Principal, admin_write, any_reader
from daemon.routes.accounts import (
    DRY_RUN_RESPONSE,
    AccountName,
    IsoDate,
    account_name,
    context_of,
    perform,
    visible_accounts,
)
from daemon.routes.adjustments import PENDING, pending
from daemon.schemas import ApiModel, DayIn, Flag, MoneyIn, pick, refuse
from daemon.services import Services, get_services
from daemon.wire import WireResponse, WireRoute

router = APIRouter(tags=["allocations"], route_class=WireRoute)

ScheduleId = Annotated[int, Path(ge=1, le=MAX_ID, description="The allocation schedule's id")]
MAX_SCHEDULES_PAGE = 1000


# ---------------------------------------------------------------- models


class ScheduleIn(ApiModel):
    """A budget paid into an account in instalments. Give exactly one of ``total``,
    ``end_date`` or ``instalments``. The original tool's names work too (``account_id``,
    ``allocation_amount``, ``allocation_frequency``, ``total_budget``); both names with
    different values is a 422 naming both."""

    model_config = ConfigDict(extra="forbid")

    account: str | None = Field(default=None, min_length=1, max_length=64)
    """The account (or its number as ``account_id``)."""
    account_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    """The original tool's way to name the account: its number (``id`` in its answers)."""
    amount: MoneyIn | None = None
    """Each instalment (required, or ``allocation_amount``)."""
    allocation_amount: MoneyIn | None = None
    """The original tool's name for ``amount``."""
    frequency: Frequency | None = None
    """Required (or ``allocation_frequency``)."""
    allocation_frequency: Frequency | None = None
    """The original tool's name for ``frequency``."""
    start_date: IsoDate
    """The first instalment's due date."""
    total: MoneyIn | None = None
    """The whole budget: $600 at $100 is 6 instalments; $650 is 7, the last $50."""
    total_budget: MoneyIn | None = None
    """The original tool's name for ``total``."""
    end_date: DayIn = None
    """Every due date up to and including this one."""
    instalments: int | None = Field(default=None, ge=1, le=MAX_INSTALMENTS)
    """How many instalments."""
    unspent: UnspentPolicy = UnspentPolicy.CARRY_OVER
    """carry_over keeps unspent money; expire takes what is left of an instalment back
    when its period ends (never held or used money)."""
    memo: str = Field(default="", max_length=500)
    auto_allocate: Flag = True
    """The original tool's: must be true (or left out), as the daemon credits every
    instalment when it falls due."""
    dry_run: Flag = False
    """Check everything and answer the schedule as it would be, creating nothing."""


class ResumeIn(ApiModel):
    model_config = ConfigDict(extra="forbid")

    catch_up: bool = False
    """Credit the instalments that fell due while paused (default: record them as skipped)."""


class ProcessIn(ApiModel):
    model_config = ConfigDict(extra="forbid")

    today: IsoDate | None = None
    """Process as of this date (default: today, UTC)."""
    dry_run: Flag = False
    """Answer what would be credited, skipped and expired; credit nothing."""
    account_id: int | None = None
    """The original tool's: refused unless null (asbb processes every due schedule)."""
    schedule_id: int | None = None
    """The original tool's: refused unless null (asbb processes every due schedule)."""


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


def _schedule_args(body: ScheduleIn, services: Services, principal: Principal) -> dict[str, Any]:
    """``Allocations.create_schedule``'s arguments from asbb's fields or the original's."""
    if not body.auto_allocate:
        raise ValidationError(
            "auto_allocate: asbb's daemon credits every instalment when it falls due; send "
            "true or leave it out (pause the schedule to stop it)",
            field="auto_allocate",
        )
    if body.account_id is not None:
        by_id = services.ledger.get_account_by_id(body.account_id).name
        if body.account is not None and account_name(body.account, principal) != by_id:
            raise ValidationError(
                f"account_id: {body.account_id} is account {by_id!r}, which disagrees with "
                f"account {body.account!r}; give one of them",
                field="account_id",
            )
        account = by_id
    elif body.account is not None:
        account = body.account
    else:
        raise ValidationError("account: required (or account_id)", field="account")
    args: dict[str, Any] = {"account": account}
    for ours, theirs in (
        ("amount", "allocation_amount"),
        ("frequency", "allocation_frequency"),
        ("total", "total_budget"),
    ):
        args.update(pick(body, ours, theirs))
    for ours, theirs in (("amount", "allocation_amount"), ("frequency", "allocation_frequency")):
        if args.get(ours) is None:
            raise ValidationError(f"{ours}: required (or {theirs})", field=ours)
    args.update(
        start_date=body.start_date,
        end_date=body.end_date,
        instalments=body.instalments,
        unspent=body.unspent,
        memo=body.memo,
    )
    return args


@router.post(
    "/allocations",
    status_code=201,
    response_model=ScheduleDetailView,
    responses={200: {"description": "A dry run's answer", **DRY_RUN_RESPONSE}},
)
def create_schedule(
    body: ScheduleIn,
    request: Request,
    response: Response,
    principal: Annotated[Principal, Depends(admin_write)],
    services: Annotated[Services, Depends(get_services)],
) -> ScheduleDetailView:
    """Create a recurring allocation (admin). Nothing is credited by this call: the
    daemon's scheduler credits each instalment when it falls due (a start date in the past
    is caught up at once on its next run). With `dry_run: true` the answer (200) is the
    schedule as it would be; nothing is created."""
    allocations = _allocations(services)
    args = _schedule_args(body, services, principal)
    ctx = context_of(request, principal)

    def work() -> ScheduleDetailView:
        schedule = allocations.create_schedule(ctx=ctx, **args)
        assert schedule.id is not None
        return ScheduleDetailView.of(allocations.get_schedule(schedule.id))

    return perform(services, body.dry_run, response, work)


@router.get("/allocations", response_model=SchedulePage)
def list_schedules(
    principal: Annotated[Principal, Depends(any_reader)],
    services: Annotated[Services, Depends(get_services)],
    account: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    status: Annotated[ScheduleStatus | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_SCHEDULES_PAGE, description="Page size")] = (
        MAX_SCHEDULES_PAGE
    ),
    offset: Annotated[int, Query(ge=0, le=1_000_000_000, description="Rows to skip")] = 0,
) -> SchedulePage:
    """Allocation schedules in creation order, optionally of one account and in one status,
    paged with `limit` and `offset`. A reader token limited to some accounts sees only their
    schedules."""
    if account is not None:
        account = account_name(account, principal, field="account")
    infos = _allocations(services).list_schedules(
        account, status, accounts=visible_accounts(principal)
    )
    return SchedulePage(
        items=[ScheduleView.of(i) for i in infos[offset : offset + limit]],
        total=len(infos),
        limit=limit,
        offset=offset,
    )


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
    response: Response,
    principal: Annotated[Principal, Depends(admin_write)],
    services: Annotated[Services, Depends(get_services)],
    body: ProcessIn | None = None,
) -> ProcessView:
    """Credit every instalment due now (admin), as the scheduler does: missed ones are
    caught up, none is credited twice (safe beside the scheduler and other daemons).
    `today` processes as of another date; `dry_run: true` answers what a run would do and
    changes nothing."""
    given = body or ProcessIn()
    refuse(
        given,
        {
            "account_id": "asbb processes every due schedule in one run; leave it out",
            "schedule_id": "asbb processes every due schedule in one run; leave it out",
        },
        empty_ok=True,
    )
    ctx = context_of(request, principal)

    def work() -> ProcessView:
        return ProcessView.of(_allocations(services).process_due(ctx=ctx, today=given.today))

    return perform(services, given.dry_run, response, work)


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
) -> MovementView | WireResponse:
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
