"""The allocations resource of the REST API: recurring allocation schedules and one-off
allocations.

Writes need an admin token; reads a reader or admin token (a reader limited to some accounts
sees only their schedules). The daemon's scheduler credits due instalments by itself;
``POST /allocations/process`` runs it now.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response, status
from pydantic import ConfigDict, Field

from asbb_core.funding.allocations import (
    MAX_ID,
    MAX_INSTALMENTS,
    AllocationEvent,
    Allocations,
    ProcessSummary,
    ScheduleInfo,
)
from asbb_core.store.models import AllocationCredit, ScheduleStatus, UnspentPolicy
from asbb_core.values.periods import Frequency
from daemon.auth import Principal, admin_write, any_reader
from daemon.routes.accounts import (
    AccountName,
    IsoDate,
    MovementOut,
    account_name,
    context_of,
    visible_accounts,
)
from daemon.schemas import ApiModel, MoneyIn, MoneyOut
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


class CreditOut(ApiModel):
    period: int
    """0-based index of the instalment."""
    due_date: date
    amount: MoneyOut
    outcome: str
    """credited, or skipped (fell due while the schedule was paused)."""
    entry_id: int | None
    """The journal row that credited it."""
    expired_amount: MoneyOut
    expiry_entry_id: int | None
    expired_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, c: AllocationCredit) -> CreditOut:
        return cls(
            period=c.period,
            due_date=c.due_date,
            amount=c.amount,
            outcome=str(c.outcome),
            entry_id=c.entry_id,
            expired_amount=c.expired_amount,
            expiry_entry_id=c.expiry_entry_id,
            expired_at=c.expired_at,
            created_at=c.created_at,
        )


class ScheduleOut(ApiModel):
    id: int
    account: str
    amount: MoneyOut
    total: MoneyOut
    frequency: str
    start_date: date
    last_due_date: date
    instalments: int
    unspent: str
    status: str
    memo: str
    next_period: int
    """The first instalment not yet credited or skipped (0-based)."""
    next_due_date: date | None
    credited: MoneyOut
    expired: MoneyOut
    paused_at: datetime | None
    created_by: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def fields_of(cls, info: ScheduleInfo) -> dict[str, Any]:
        s = info.schedule
        return {
            "id": info.id,
            "account": info.account,
            "amount": s.amount,
            "total": s.total,
            "frequency": str(s.frequency),
            "start_date": s.start_date,
            "last_due_date": info.last_due,
            "instalments": s.instalments,
            "unspent": str(s.unspent),
            "status": str(s.status),
            "memo": s.memo,
            "next_period": s.next_period,
            "next_due_date": info.next_due,
            "credited": info.credited,
            "expired": info.expired,
            "paused_at": s.paused_at,
            "created_by": s.created_by,
            "created_at": s.created_at,
            "updated_at": s.updated_at,
        }

    @classmethod
    def of(cls, info: ScheduleInfo) -> ScheduleOut:
        return cls(**cls.fields_of(info))


class ScheduleDetailOut(ScheduleOut):
    credits: list[CreditOut]

    @classmethod
    def of_detail(cls, info: ScheduleInfo) -> ScheduleDetailOut:
        return cls(**cls.fields_of(info), credits=[CreditOut.of(c) for c in info.credits])


class EventOut(ApiModel):
    schedule_id: int
    account: str
    period: int
    instalments: int
    due_date: date
    action: str
    """credited, skipped or expired."""
    amount: MoneyOut
    entry_id: int | None
    completed: bool

    @classmethod
    def of(cls, e: AllocationEvent) -> EventOut:
        return cls(
            schedule_id=e.schedule_id,
            account=e.account,
            period=e.period,
            instalments=e.instalments,
            due_date=e.due_date,
            action=e.action,
            amount=e.amount,
            entry_id=e.entry_id,
            completed=e.completed,
        )


class FailureOut(ApiModel):
    schedule_id: int
    code: str
    message: str


class ProcessOut(ApiModel):
    today: date
    credited: list[EventOut]
    skipped: list[EventOut]
    expired: list[EventOut]
    completed: list[int]
    """Schedules this run finished."""
    errors: list[FailureOut]
    """Schedules that could not move (retried on the next run)."""
    total_credited: MoneyOut
    total_expired: MoneyOut

    @classmethod
    def of(cls, s: ProcessSummary) -> ProcessOut:
        return cls(
            today=s.today,
            credited=[EventOut.of(e) for e in s.credited],
            skipped=[EventOut.of(e) for e in s.skipped],
            expired=[EventOut.of(e) for e in s.expired],
            completed=list(s.completed),
            errors=[
                FailureOut(schedule_id=f.schedule_id, code=f.code, message=f.message)
                for f in s.errors
            ],
            total_credited=s.total_credited,
            total_expired=s.total_expired,
        )


# ---------------------------------------------------------------- helpers


def _allocations(services: Services) -> Allocations:
    return services.bank.allocations


def _visible(principal: Principal, info: ScheduleInfo) -> ScheduleInfo:
    principal.require_account(info.account)
    return info


# ---------------------------------------------------------------- routes


@router.post("/allocations", status_code=201, response_model=ScheduleDetailOut)
def create_schedule(
    body: ScheduleIn,
    request: Request,
    principal: Annotated[Principal, Depends(admin_write)],
    services: Annotated[Services, Depends(get_services)],
) -> ScheduleDetailOut:
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
    return ScheduleDetailOut.of_detail(allocations.get_schedule(schedule.id))


@router.get("/allocations", response_model=list[ScheduleOut])
def list_schedules(
    principal: Annotated[Principal, Depends(any_reader)],
    services: Annotated[Services, Depends(get_services)],
    account: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    status: Annotated[ScheduleStatus | None, Query()] = None,
) -> list[ScheduleOut]:
    """Allocation schedules in creation order, optionally of one account and in one status.
    A reader token limited to some accounts sees only their schedules."""
    if account is not None:
        account = account_name(account, principal, field="account")
    infos = _allocations(services).list_schedules(
        account, status, accounts=visible_accounts(principal)
    )
    return [ScheduleOut.of(i) for i in infos]


# ":int": "/allocations/process" is not a schedule, so a GET of it is 405, not a bad id.
@router.get("/allocations/{schedule_id:int}", response_model=ScheduleDetailOut)
def get_schedule(
    schedule_id: ScheduleId,
    principal: Annotated[Principal, Depends(any_reader)],
    services: Annotated[Services, Depends(get_services)],
) -> ScheduleDetailOut:
    """One schedule with every instalment credited or skipped so far."""
    info = _visible(principal, _allocations(services).get_schedule(schedule_id))
    return ScheduleDetailOut.of_detail(info)


@router.post("/allocations/process", response_model=ProcessOut)
def process_allocations(
    request: Request,
    principal: Annotated[Principal, Depends(admin_write)],
    services: Annotated[Services, Depends(get_services)],
    body: ProcessIn | None = None,
) -> ProcessOut:
    """Credit every instalment due now (admin), as the scheduler does: missed ones are
    caught up, none is credited twice (safe beside the scheduler and other daemons).
    `today` processes as of another date."""
    given = body or ProcessIn()
    summary = _allocations(services).process_due(
        ctx=context_of(request, principal), today=given.today
    )
    return ProcessOut.of(summary)


@router.post("/allocations/{schedule_id}/pause", response_model=ScheduleDetailOut)
def pause_schedule(
    schedule_id: ScheduleId,
    request: Request,
    principal: Annotated[Principal, Depends(admin_write)],
    services: Annotated[Services, Depends(get_services)],
) -> ScheduleDetailOut:
    """Pause an active schedule (admin): nothing more is credited until it is resumed.
    What fell due before the pause is credited first. 409 unless it is active."""
    info = _allocations(services).pause(schedule_id, context_of(request, principal))
    return ScheduleDetailOut.of_detail(info)


@router.post("/allocations/{schedule_id}/resume", response_model=ScheduleDetailOut)
def resume_schedule(
    schedule_id: ScheduleId,
    request: Request,
    principal: Annotated[Principal, Depends(admin_write)],
    services: Annotated[Services, Depends(get_services)],
    body: ResumeIn | None = None,
) -> ScheduleDetailOut:
    """Resume a paused schedule (admin). Instalments that fell due while it was paused are
    recorded as skipped, or credited with `catch_up: true`; what is due now is credited at
    once. 409 unless it is paused."""
    given = body or ResumeIn()
    allocations = _allocations(services)
    allocations.resume(schedule_id, context_of(request, principal), catch_up=given.catch_up)
    return ScheduleDetailOut.of_detail(allocations.get_schedule(schedule_id))


@router.post("/allocations/{schedule_id}/cancel", response_model=ScheduleDetailOut)
def cancel_schedule(
    schedule_id: ScheduleId,
    request: Request,
    principal: Annotated[Principal, Depends(admin_write)],
    services: Annotated[Services, Depends(get_services)],
) -> ScheduleDetailOut:
    """Cancel a schedule for good (admin): no further instalments; what was credited stays.
    409 once it is completed or cancelled."""
    info = _allocations(services).cancel(schedule_id, context_of(request, principal))
    return ScheduleDetailOut.of_detail(info)


@router.post(
    "/accounts/{name}/allocations",
    response_model=MovementOut,
    status_code=status.HTTP_201_CREATED,
)
def allocate_once(
    name: AccountName,
    body: OnceIn,
    request: Request,
    response: Response,
    principal: Annotated[Principal, Depends(admin_write)],
    services: Annotated[Services, Depends(get_services)],
    idempotency_key: Annotated[str | None, Header(min_length=1, max_length=200)] = None,
) -> MovementOut:
    """A one-off allocation (admin): add money to the account's limit, journaled as an
    allocation. With an `Idempotency-Key` header a retry returns the first result (200,
    `replayed: true`) and allocates nothing."""
    cleaned = account_name(name, principal)
    result = _allocations(services).allocate_once(
        cleaned,
        body.amount,
        ctx=context_of(request, principal, idempotency_key),
        memo=body.memo,
    )
    if result.replayed:
        response.status_code = status.HTTP_200_OK
    return MovementOut.of(result)
