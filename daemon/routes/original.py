"""The original tool's routes that asbb names differently, kept as thin aliases so clients of
the original keep working: each one calls the asbb route it stands for, with the same token
roles, reader scope, approval rule and error envelope.

``PUT`` here means "change the fields given" (the original's semantics), not "replace".
The original's field names are accepted beside asbb's where they mean the same thing; the
ones asbb has no equivalent for are refused with a 422 naming the field.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import ConfigDict, Field

from asbb_core.alerts.conditions import AlertRecord
from asbb_core.analytics import burnrate
from asbb_core.analytics.views import OriginalAlertView, OriginalBurnRateView
from asbb_core.funding.grants import MAX_CO_PIS
from asbb_core.funding.views import GrantPeriodView, GrantView, ScheduleDetailView
from asbb_core.ledger.views import AccountDetailView
from asbb_core.store.models import AlertStatus, ScheduleStatus
from asbb_core.store.queries import MAX_PAGE
from asbb_core.values.errors import ValidationError
from asbb_core.values.periods import BURN_RATE_WINDOWS as WINDOWS
from daemon.auth import Principal, admin_write, any_reader
from daemon.routes import accounts, allocations, analytics, grants
from daemon.routes.accounts import (
    LIMIT_REQUEST_HEADER,
    AccountName,
    account_name,
    context_of,
    perform,
)
from daemon.routes.allocations import ScheduleId
from daemon.routes.analytics import TodayQuery, Window
from daemon.routes.grants import GrantNumber, visible_grant
from daemon.schemas import ApiModel, DayIn, Flag, MoneyIn, pick, refuse
from daemon.services import Services, get_services
from daemon.wire import WireRoute

router = APIRouter(tags=["original"], route_class=WireRoute)


# ---------------------------------------------------------------- accounts


class OriginalAccountUpdate(ApiModel):
    """asbb's ``PATCH /accounts/{name}`` body, plus the original's ``name`` (the display
    name) and ``budget_limit``."""

    model_config = ConfigDict(extra="forbid")

    description: str | None = Field(default=None, max_length=500)
    display_name: str | None = Field(default=None, max_length=200)
    """What people call the account."""
    name: str | None = Field(default=None, max_length=200)
    """The original's name for ``display_name`` (the Slurm account is in the URL)."""
    start_date: DayIn = None
    """A day (YYYY-MM-DD) or the original's RFC 3339 time (its day is kept)."""
    end_date: DayIn = None
    """Send both dates as null to clear them."""
    status: Literal["active", "suspended", "closed"] | None = None
    limit: MoneyIn | None = None
    """A new limit, journaled as the adjustment that reaches it; needs ``reason``."""
    budget_limit: MoneyIn | None = None
    """The original's name for ``limit``. The original had no reason: without one the
    adjustment's reason says it came from this route."""
    reason: str | None = Field(default=None, max_length=500)
    dry_run: Flag = False
    """Check everything and answer the account as it would be, changing nothing."""


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
    header, as with PATCH. The original's `name` is the display name (`display_name`)."""
    values: dict[str, Any] = {
        field: getattr(body, field)
        for field in ("description", "start_date", "end_date", "status", "reason", "dry_run")
        if field in body.model_fields_set
    }
    values.update(pick(body, "display_name", "name"))
    values.update(pick(body, "limit", "budget_limit"))
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


class OriginalGrantUpdate(grants.GrantUpdate):
    """asbb's ``PATCH /grants/{number}`` body, plus the original's names for its fields."""

    funding_agency: str | None = Field(default=None, max_length=200)
    """The original's name for ``agency``."""
    agency_program: str | None = Field(default=None, max_length=200)
    """The original's name for ``program``."""
    principal_investigator: str | None = Field(default=None, max_length=200)
    """The original's name for ``pi``."""
    co_investigators: list[str] | None = Field(default=None, max_length=MAX_CO_PIS)
    """The original's name for ``co_pis``."""
    federal_award_id: str | None = Field(default=None, max_length=16)
    """The original's name for ``cfda``."""


# The original's names of the fields a grant update can change (a subset of the create's).
_GRANT_NAMES = {
    ours: theirs
    for ours, theirs in grants.GRANT_NAMES.items()
    if ours in grants.GrantUpdate.model_fields
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
    response: Response,
    principal: Annotated[Principal, Depends(admin_write)],
    services: Annotated[Services, Depends(get_services)],
) -> GrantView:
    """The original's grant update, done by `PATCH /grants/{number}`: its descriptive fields
    (under asbb's names or the original's) and status; fields left out stay as they are."""
    values: dict[str, Any] = {
        field: getattr(body, field)
        for field in ("title", "institution", "department", "status", "dry_run")
        if field in body.model_fields_set
    }
    for ours, theirs in _GRANT_NAMES.items():
        values.update(pick(body, ours, theirs))
    patch = grants.GrantUpdate.model_construct(_fields_set=set(values), **values)
    return grants.update_grant(number, patch, request, response, principal, services)


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
    detail = visible_grant(services, principal, number)
    return GrantView.of(detail, today=grants.today_of(services)).periods


# ---------------------------------------------------------------- burn rates

OriginalPeriod = Annotated[
    str | None,
    Query(
        max_length=8,
        description="The original's name for the window (7d, 30d, 90d, 6m, 1y, period)",
    ),
]
IncludeProjection = Annotated[
    bool, Query(description="The original's: add `projection` (else it is null)")
]
IncludeAlerts = Annotated[
    bool, Query(description="The original's: add the open and acknowledged `alerts`")
]


def _window(window: str | None, period: str | None, default: str) -> str:
    """The window from asbb's ``window`` or the original's ``period`` (422 if both differ)."""
    if period is not None and period not in WINDOWS:
        raise ValidationError(f"period: must be one of {', '.join(WINDOWS)}", field="period")
    if window is not None and period is not None and window != period:
        raise ValidationError(
            "period: give window or the original's period, not both", field="period"
        )
    return window or period or default


def _open_alerts(
    services: Services, accounts: list[str], grant: str | None = None
) -> list[OriginalAlertView]:
    """The open and acknowledged alerts of ``accounts`` (and of ``grant``), oldest first."""
    service = services.bank.alerts
    found: dict[int, AlertRecord] = {}
    for status in (AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED):
        for name in accounts:
            for record in service.list_alerts(status=status, account=name, limit=MAX_PAGE):
                found[record.id] = record
        if grant is not None:
            for record in service.list_alerts(status=status, search=grant, limit=MAX_PAGE):
                if record.grant == grant:
                    found[record.id] = record
    return [
        OriginalAlertView.of(r.alert, r.account, r.grant, services.settings)
        for r in (found[key] for key in sorted(found))
    ]


@router.get(
    "/burn-rate/{name}",
    response_model=OriginalBurnRateView,
    summary="An account's burn rate: GET /api/v1/accounts/{name}/burn-rate, with the "
    "original's fields beside asbb's",
)
def account_burn_rate(
    name: AccountName,
    principal: Annotated[Principal, Depends(any_reader)],
    services: Annotated[Services, Depends(get_services)],
    window: Annotated[Window | None, Query(description="Default: 30d")] = None,
    period: OriginalPeriod = None,
    today: TodayQuery = None,
    include_projection: IncludeProjection = False,
    include_alerts: IncludeAlerts = False,
) -> OriginalBurnRateView:
    """Every field of `GET /accounts/{name}/burn-rate`, and beside them the original tool's
    (`account`, `analysis_period`, `time_range`, `current_metrics`, `historical_data`,
    `projection`, `alerts`, `recommendations`). `period` is the original's `window`."""
    chosen = _window(window, period, "30d")
    br = burnrate.account_burn_rate(
        services.db,
        services.settings,
        account_name(name, principal),
        window=chosen,
        today=analytics.today_of(today, services),
    )
    alerts = _open_alerts(services, [br.name]) if include_alerts else None
    return OriginalBurnRateView.of_original(br, projection=include_projection, alerts=alerts)


@router.get(
    "/burn-rate/grant/{number}",
    response_model=OriginalBurnRateView,
    summary="A grant's burn rate: GET /api/v1/grants/{number}/burn-rate, with the original's "
    "fields beside asbb's",
)
def grant_burn_rate(
    number: GrantNumber,
    principal: Annotated[Principal, Depends(any_reader)],
    services: Annotated[Services, Depends(get_services)],
    window: Annotated[
        Window | None, Query(description="Default: the current budget period")
    ] = None,
    today: TodayQuery = None,
    period: Annotated[
        str | None,
        Query(
            max_length=8,
            description="A budget period's number (default: the current one), or the "
            "original's window (7d, 30d, 90d, 6m, 1y, period)",
        ),
    ] = None,
    include_projection: IncludeProjection = False,
    include_alerts: IncludeAlerts = False,
) -> OriginalBurnRateView:
    """Every field of `GET /grants/{number}/burn-rate`, and beside them the original tool's.
    `period` is a budget period's number as on that route, or, when it is a window, the
    original's name for `window`."""
    number_of: int | None = None
    original_window: str | None = None
    if period is not None and period.isdigit():
        number_of = int(period)
        if number_of < 1:
            raise ValidationError("period: a budget period's number is 1 or more", field="period")
    elif period is not None:
        original_window = period
    chosen = _window(window, original_window, "period")
    br = burnrate.grant_burn_rate(
        services.db,
        services.settings,
        number,
        window=chosen,
        today=analytics.today_of(today, services),
        period_number=number_of,
    )
    analytics.check_grant_scope(principal, br, number)
    alerts = _open_alerts(services, br.accounts, br.name) if include_alerts else None
    return OriginalBurnRateView.of_original(br, projection=include_projection, alerts=alerts)


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
    dry_run: Flag = False
    """Check the move and answer the schedule as it would be, changing nothing."""


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
    response: Response,
    principal: Annotated[Principal, Depends(admin_write)],
    services: Annotated[Services, Depends(get_services)],
) -> ScheduleDetailView:
    """The original's schedule update, by its `status` (admin): `paused` pauses
    (`POST /allocations/{id}/pause`), `active` resumes (`.../resume`, due instalments
    recorded as skipped) and `cancelled` cancels (`.../cancel`). Asking for the status the
    schedule already has changes nothing; any other move is 409, as on those routes."""
    refuse(
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
    moves = {
        "paused": allocations.pause_schedule,
        "active": allocations.resume_schedule,
        "cancelled": allocations.cancel_schedule,
    }
    move = moves[body.status]
    return perform(
        services,
        body.dry_run,
        response,
        lambda: move(schedule_id, request, principal, services),
    )
