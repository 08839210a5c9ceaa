"""The original tool's routes that asbb names differently, kept as thin aliases so clients of
the original keep working: each one calls the asbb route it stands for, with the same token
roles, reader scope, approval rule and error envelope.

``PUT`` here means "change the fields given" (the original's semantics), not "replace".
The original's field names are accepted beside asbb's where they mean the same thing; the
ones asbb has no equivalent for are refused with a 422 naming the field.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BeforeValidator, ConfigDict, Field

from asbb_core.analytics.views import BurnRateView
from asbb_core.funding.grants import MAX_CO_PIS
from asbb_core.funding.views import GrantPeriodView, GrantView, ScheduleDetailView
from asbb_core.ledger.views import AccountDetailView
from asbb_core.store.models import ScheduleStatus
from asbb_core.values.errors import ValidationError
from daemon.auth import Principal, admin_write, any_reader
from daemon.routes import accounts, allocations, analytics, grants
from daemon.routes.accounts import LIMIT_REQUEST_HEADER, AccountName, account_name, context_of
from daemon.routes.allocations import ScheduleId
from daemon.routes.analytics import TodayQuery, Window, WindowQuery
from daemon.routes.grants import GrantNumber, GrantStatusName, visible_grant
from daemon.schemas import ApiModel, MoneyIn
from daemon.services import Services, get_services

router = APIRouter(tags=["original"])


def _day_in(value: object) -> object:
    # The original sends RFC 3339 date-times; asbb keeps days, so take the day written.
    if isinstance(value, str) and len(value) > 10:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).date()
        except ValueError:
            raise ValueError("expected an ISO date (YYYY-MM-DD) or an RFC 3339 time") from None
    if value is not None and not isinstance(value, str | date):
        raise ValueError("expected an ISO date (YYYY-MM-DD) or an RFC 3339 time")
    return value


DayIn = Annotated[date, BeforeValidator(_day_in)]


def _pick(body: ApiModel, ours: str, theirs: str) -> dict[str, Any]:
    """``{ours: value}`` from whichever of the two names the body set (422 if both)."""
    given = body.model_fields_set
    if ours in given and theirs in given:
        raise ValidationError(
            f"{theirs}: give {ours} or the original's {theirs}, not both", field=theirs
        )
    for name in (ours, theirs):
        if name in given:
            return {ours: getattr(body, name)}
    return {}


def _refuse(body: ApiModel, fields: dict[str, str]) -> None:
    """422 for the first original field asbb has no equivalent for, saying what to do."""
    for name, why in fields.items():
        if name in body.model_fields_set:
            raise ValidationError(f"{name}: {why}", field=name)


# ---------------------------------------------------------------- accounts


class OriginalAccountUpdate(ApiModel):
    """asbb's ``PATCH /accounts/{name}`` body, plus the original's ``budget_limit``."""

    model_config = ConfigDict(extra="forbid")

    description: str | None = Field(default=None, max_length=500)
    start_date: DayIn | None = None
    """A day (YYYY-MM-DD) or the original's RFC 3339 time (its day is kept)."""
    end_date: DayIn | None = None
    """Send both dates as null to clear them."""
    status: Literal["active", "suspended", "closed"] | None = None
    limit: MoneyIn | None = None
    """A new limit, journaled as the adjustment that reaches it; needs ``reason``."""
    budget_limit: MoneyIn | None = None
    """The original's name for ``limit``. The original had no reason: without one the
    adjustment's reason says it came from this route."""
    reason: str | None = Field(default=None, max_length=500)
    name: str | None = Field(default=None, max_length=200)
    """The original's display name: refused, asbb names an account by its Slurm account."""


@router.put(
    "/accounts/{name}",
    response_model=AccountDetailView,
    responses={200: {"headers": LIMIT_REQUEST_HEADER}},
    summary="Update an account: the same as PATCH /api/v1/accounts/{name}",
)
def put_account(
    name: AccountName,
    body: OriginalAccountUpdate,
    request: Request,
    response: Response,
    principal: Annotated[Principal, Depends(admin_write)],
    services: Annotated[Services, Depends(get_services)],
) -> AccountDetailView:
    """The original's account update, done by `PATCH /accounts/{name}` (fields left out stay
    as they are). `budget_limit` is the original's `limit`; when approval is required a limit
    change becomes a pending adjustment request named by the `Asbb-Adjustment-Request`
    header, as with PATCH."""
    _refuse(
        body,
        {
            "name": "asbb names an account by its Slurm account only; "
            "put the display name in description"
        },
    )
    values: dict[str, Any] = {
        field: getattr(body, field)
        for field in ("description", "start_date", "end_date", "status", "reason")
        if field in body.model_fields_set
    }
    values.update(_pick(body, "limit", "budget_limit"))
    if "budget_limit" in body.model_fields_set and not body.reason:
        values["reason"] = "limit set through PUT /api/v1/accounts"
    patch = accounts.AccountUpdate.model_construct(_fields_set=set(values), **values)
    return accounts.update_account(name, patch, request, response, principal, services)


@router.delete(
    "/accounts/{name}",
    response_model=AccountDetailView,
    summary="Delete an account: closes it, as POST /api/v1/accounts/{name}/close does",
)
def delete_account(
    name: AccountName,
    request: Request,
    principal: Annotated[Principal, Depends(admin_write)],
    services: Annotated[Services, Depends(get_services)],
) -> AccountDetailView:
    """The original's account delete (admin). asbb never deletes an account (its journal and
    audit trail stay): this closes one that never used or held money and has no open holds,
    and answers it closed. Otherwise 409 with the reason; close it with
    `POST /accounts/{name}/close` once its holds are resolved. An account closed already is
    answered as it is."""
    cleaned = account_name(name, principal)
    services.ledger.delete_account(cleaned, ctx=context_of(request, principal))
    return accounts.show_account(cleaned, principal, services)


# ---------------------------------------------------------------- grants


class OriginalGrantUpdate(ApiModel):
    """asbb's ``PATCH /grants/{number}`` body, plus the original's names for its fields."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, max_length=500)
    agency: str | None = Field(default=None, max_length=200)
    funding_agency: str | None = Field(default=None, max_length=200)
    """The original's name for ``agency``."""
    program: str | None = Field(default=None, max_length=200)
    agency_program: str | None = Field(default=None, max_length=200)
    """The original's name for ``program``."""
    pi: str | None = Field(default=None, max_length=200)
    principal_investigator: str | None = Field(default=None, max_length=200)
    """The original's name for ``pi``."""
    co_pis: list[str] | None = Field(default=None, max_length=MAX_CO_PIS)
    co_investigators: list[str] | None = Field(default=None, max_length=MAX_CO_PIS)
    """The original's name for ``co_pis``."""
    institution: str | None = Field(default=None, max_length=200)
    department: str | None = Field(default=None, max_length=200)
    cfda: str | None = Field(default=None, max_length=16)
    federal_award_id: str | None = Field(default=None, max_length=16)
    """The original's name for ``cfda``."""
    status: GrantStatusName | None = None


_GRANT_NAMES = {
    "agency": "funding_agency",
    "program": "agency_program",
    "pi": "principal_investigator",
    "co_pis": "co_investigators",
    "cfda": "federal_award_id",
}


@router.put(
    "/grants/{number}",
    response_model=GrantView,
    summary="Update a grant: the same as PATCH /api/v1/grants/{number}",
)
def put_grant(
    number: GrantNumber,
    body: OriginalGrantUpdate,
    request: Request,
    principal: Annotated[Principal, Depends(admin_write)],
    services: Annotated[Services, Depends(get_services)],
) -> GrantView:
    """The original's grant update, done by `PATCH /grants/{number}`: its descriptive fields
    (under asbb's names or the original's) and status; fields left out stay as they are."""
    values: dict[str, Any] = {
        field: getattr(body, field)
        for field in ("title", "institution", "department", "status")
        if field in body.model_fields_set
    }
    for ours, theirs in _GRANT_NAMES.items():
        values.update(_pick(body, ours, theirs))
    patch = grants.GrantUpdate.model_construct(_fields_set=set(values), **values)
    return grants.update_grant(number, patch, request, principal, services)


@router.get(
    "/grants/{number}/periods",
    response_model=list[GrantPeriodView],
    summary="A grant's budget periods: the periods of GET /api/v1/grants/{number}",
)
def grant_periods(
    number: GrantNumber,
    principal: Annotated[Principal, Depends(any_reader)],
    services: Annotated[Services, Depends(get_services)],
) -> list[GrantPeriodView]:
    """The grant's budget periods in order, with what was drawn from each, as in
    `GET /grants/{number}`."""
    return GrantView.of(visible_grant(services, principal, number)).periods


# ---------------------------------------------------------------- burn rates


@router.get(
    "/burn-rate/{name}",
    response_model=BurnRateView,
    summary="An account's burn rate: the same as GET /api/v1/accounts/{name}/burn-rate",
)
def account_burn_rate(
    name: AccountName,
    principal: Annotated[Principal, Depends(any_reader)],
    services: Annotated[Services, Depends(get_services)],
    window: WindowQuery = "30d",
    today: TodayQuery = None,
) -> BurnRateView:
    """The answer of `GET /accounts/{name}/burn-rate`, with the same query parameters."""
    return analytics.account_burn(name, principal, services, window=window, today=today)


@router.get(
    "/burn-rate/grant/{number}",
    response_model=BurnRateView,
    summary="A grant's burn rate: the same as GET /api/v1/grants/{number}/burn-rate",
)
def grant_burn_rate(
    number: GrantNumber,
    principal: Annotated[Principal, Depends(any_reader)],
    services: Annotated[Services, Depends(get_services)],
    window: Annotated[Window, Query(description="Default: the current budget period")] = "period",
    today: TodayQuery = None,
    period: Annotated[
        int | None, Query(ge=1, description="A budget period's number (default: the current one)")
    ] = None,
) -> BurnRateView:
    """The answer of `GET /grants/{number}/burn-rate`, with the same query parameters."""
    return analytics.grant_burn(
        number, principal, services, window=window, today=today, period=period
    )


# ---------------------------------------------------------------- allocations


class OriginalScheduleUpdate(ApiModel):
    """The original's allocation schedule update. asbb maps its ``status`` onto pause,
    resume and cancel; a schedule's amount, frequency and end are fixed in asbb (cancel it
    and create another), so those fields are refused."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["active", "paused", "cancelled", "completed"] | None = None
    """paused: `POST .../pause`; active: `POST .../resume`; cancelled: `POST .../cancel`.
    completed is refused: asbb completes a schedule when its last instalment is credited."""
    allocation_amount: Any = None
    """Refused: an instalment's amount is fixed once the schedule exists."""
    allocation_frequency: Any = None
    """Refused: a schedule's frequency is fixed once it exists."""
    end_date: Any = None
    """Refused: a schedule's end is fixed once it exists."""
    auto_allocate: Any = None
    """Refused: asbb's daemon credits every schedule when due."""


_FIXED = "asbb cannot change this on an existing schedule; cancel it and create another"


# ":int" as on GET: other words after /allocations/ (process) are other routes' paths.
@router.put(
    "/allocations/{schedule_id:int}",
    response_model=ScheduleDetailView,
    summary="Set a schedule's status: the same as POST /api/v1/allocations/{schedule_id}/pause, "
    "/resume or /cancel",
)
def put_schedule(
    schedule_id: ScheduleId,
    body: OriginalScheduleUpdate,
    request: Request,
    principal: Annotated[Principal, Depends(admin_write)],
    services: Annotated[Services, Depends(get_services)],
) -> ScheduleDetailView:
    """The original's schedule update, by its `status` (admin): `paused` pauses
    (`POST /allocations/{id}/pause`), `active` resumes (`.../resume`, due instalments
    recorded as skipped) and `cancelled` cancels (`.../cancel`). Asking for the status the
    schedule already has changes nothing; any other move is 409, as on those routes."""
    _refuse(
        body,
        {
            "allocation_amount": _FIXED,
            "allocation_frequency": _FIXED,
            "end_date": _FIXED,
            "auto_allocate": "asbb's daemon credits every schedule when due; "
            "pause the schedule to stop it",
        },
    )
    if body.status is None:
        raise ValidationError("status: give paused, active or cancelled", field="status")
    if body.status == "completed":
        raise ValidationError(
            "status: asbb completes a schedule itself when its last instalment is credited; "
            "cancel it to stop it early",
            field="status",
        )
    found = services.bank.allocations.get_schedule(schedule_id)
    principal.require_account(found.account)
    if found.schedule.status == ScheduleStatus(body.status):
        return ScheduleDetailView.of(found)
    if body.status == "paused":
        return allocations.pause_schedule(schedule_id, request, principal, services)
    if body.status == "active":
        return allocations.resume_schedule(schedule_id, request, principal, services)
    return allocations.cancel_schedule(schedule_id, request, principal, services)
