"""The grants resource of the REST API: grants, budget periods, linked accounts, draws.

Writes need an admin token. Reads need a reader (or admin) token; a reader token limited to
some accounts sees a grant only if one of the grant's linked accounts is among them.
"""

from __future__ import annotations

from datetime import UTC, date
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response, status
from pydantic import BeforeValidator, ConfigDict, Field, WithJsonSchema

from asbb_core.funding.grants import (
    MAX_CO_PIS,
    MAX_PERIOD_MONTHS,
    GrantDetail,
    Grants,
    validate_grant_number,
)
from asbb_core.funding.views import (
    DrawView,
    GrantPage,
    GrantView,
    LinkedAccountView,
    PeriodStatusView,
)
from asbb_core.values.errors import AsbbError, ValidationError
from asbb_core.values.money import decimal_of_json
from daemon.auth import Principal, admin_write, any_reader
from daemon.errors import ApiError
from daemon.routes.accounts import (
    DRY_RUN_RESPONSE,
    IsoDate,
    context_of,
    perform,
    visible_accounts,
)
from daemon.schemas import ApiModel, DayIn, Flag, MoneyIn, pick, refuse
from daemon.services import Services, get_services
from daemon.wire import WireRoute

router = APIRouter(tags=["grants"], route_class=WireRoute)

GrantNumber = Annotated[
    str, Path(min_length=1, max_length=64, description="The grant's number, e.g. NSF-2312345")
]
PeriodNumber = Annotated[int, Path(ge=1, le=10_000, description="The budget period (1-based)")]
AccountName = Annotated[str, Path(min_length=1, max_length=64, description="The account name")]
GrantStatusName = Literal["active", "closed"]
MAX_GRANTS_PAGE = 1000


def _rate_in(value: Any) -> Decimal:
    try:
        return decimal_of_json(value, field="indirect_rate")
    except ValidationError as exc:
        raise ValueError(exc.message.removeprefix("indirect_rate: ")) from None


RateIn = Annotated[
    Decimal,
    BeforeValidator(_rate_in),
    WithJsonSchema(
        {
            "anyOf": [{"type": "string", "pattern": r"^[0-9]*\.?[0-9]+$"}, {"type": "number"}],
            "description": "The indirect cost rate as a fraction, 0 to 1.5 (0.30 for 30%)",
        }
    ),
]


# ---------------------------------------------------------------- helpers


def grants_of(services: Services) -> Grants:
    return services.bank.grants


def today_of(services: Services) -> date:
    return services.clock().astimezone(UTC).date()


def grant_number(number: str) -> str:
    return validate_grant_number(number, field="grant")


def require_visible(principal: Principal, detail: GrantDetail) -> None:
    """A reader limited to some accounts sees a grant only through one of its accounts."""
    scope = visible_accounts(principal)
    if scope is not None and not scope & {a.name for a in detail.accounts}:
        raise ApiError(403, f"this token may not read grant {detail.grant.number!r}", field="grant")


def visible_grant(services: Services, principal: Principal, number: str) -> GrantDetail:
    """Load a grant (404 if absent) and check the caller may read it (403)."""
    detail = grants_of(services).get_grant(grant_number(number))
    require_visible(principal, detail)
    return detail


# ---------------------------------------------------------------- models


class GrantCreate(ApiModel):
    """A new grant, in asbb's fields or the original tool's (its ``CreateGrantRequest``:
    ``grant_number``, ``funding_agency``, ``total_award_amount``, ...). Each of asbb's fields
    may be given under either name; both with different values is a 422 naming both."""

    model_config = ConfigDict(extra="forbid")

    number: str | None = Field(default=None, min_length=1, max_length=64)
    """Required (or ``grant_number``). Letters, digits, '_', '.', '-' (it appears in URLs)."""
    grant_number: str | None = Field(default=None, min_length=1, max_length=64)
    """The original tool's name for ``number``."""
    total_award: MoneyIn | None = None
    """Required (or ``total_award_amount``). Total cost (direct + indirect) over the whole
    grant."""
    total_award_amount: MoneyIn | None = None
    """The original tool's name for ``total_award``."""
    start_date: DayIn = None
    """Required (or ``grant_start_date``)."""
    grant_start_date: DayIn = None
    """The original tool's name for ``start_date`` (an RFC 3339 time: its day)."""
    end_date: DayIn = None
    """Required (or ``grant_end_date``)."""
    grant_end_date: DayIn = None
    """The original tool's name for ``end_date`` (an RFC 3339 time: its day)."""
    indirect_rate: RateIn | None = None
    """Required (or ``indirect_cost_rate``)."""
    indirect_cost_rate: RateIn | None = None
    """The original tool's name for ``indirect_rate``."""
    period_months: int | None = Field(default=None, ge=1, le=MAX_PERIOD_MONTHS)
    """Length of the generated budget periods (default 12); the last one ends on end_date."""
    budget_period_months: int | None = Field(default=None, ge=0, le=MAX_PERIOD_MONTHS)
    """The original tool's name for ``period_months``; 0 (what its clients send when it is
    not set) is the default."""
    title: str | None = Field(default=None, max_length=500)
    agency: str | None = Field(default=None, max_length=200)
    funding_agency: str | None = Field(default=None, max_length=200)
    """The original tool's name for ``agency``."""
    program: str | None = Field(default=None, max_length=200)
    agency_program: str | None = Field(default=None, max_length=200)
    """The original tool's name for ``program``."""
    pi: str | None = Field(default=None, max_length=200)
    principal_investigator: str | None = Field(default=None, max_length=200)
    """The original tool's name for ``pi``."""
    co_pis: list[str] | None = Field(default=None, max_length=MAX_CO_PIS)
    co_investigators: list[str] | None = Field(default=None, max_length=MAX_CO_PIS)
    """The original tool's name for ``co_pis``."""
    institution: str | None = Field(default=None, max_length=200)
    department: str | None = Field(default=None, max_length=200)
    cfda: str | None = Field(default=None, max_length=16)
    """The assistance listing number, e.g. 47.070 (two digits, a dot, three digits)."""
    federal_award_id: str | None = Field(default=None, max_length=16)
    """The original tool's name for ``cfda``."""
    compliance_requirements: str | None = Field(default=None, max_length=2000)
    """The original tool's: refused unless empty (asbb does not keep it)."""
    internal_project_code: str | None = Field(default=None, max_length=200)
    """The original tool's: refused unless empty (asbb does not keep it)."""
    cost_center: str | None = Field(default=None, max_length=200)
    """The original tool's: refused unless empty (asbb does not keep it)."""
    dry_run: Flag = False
    """Check everything and answer the grant as it would be, recording nothing."""


# asbb's name of each grant field the original tool names differently, and the original's.
GRANT_NAMES = {
    "number": "grant_number",
    "total_award": "total_award_amount",
    "start_date": "grant_start_date",
    "end_date": "grant_end_date",
    "indirect_rate": "indirect_cost_rate",
    "agency": "funding_agency",
    "program": "agency_program",
    "pi": "principal_investigator",
    "co_pis": "co_investigators",
    "cfda": "federal_award_id",
}
_NOT_KEPT = "asbb does not keep this; put it in the grant's title or leave it out"


class GrantUpdate(ApiModel):
    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, max_length=500)
    agency: str | None = Field(default=None, max_length=200)
    program: str | None = Field(default=None, max_length=200)
    pi: str | None = Field(default=None, max_length=200)
    co_pis: list[str] | None = Field(default=None, max_length=MAX_CO_PIS)
    institution: str | None = Field(default=None, max_length=200)
    department: str | None = Field(default=None, max_length=200)
    cfda: str | None = Field(default=None, max_length=16)
    status: GrantStatusName | None = None
    """A closed grant funds nothing until it is made active again."""
    dry_run: Flag = False
    """Check everything and answer the grant as it would be, changing nothing."""


class PeriodUpdate(ApiModel):
    model_config = ConfigDict(extra="forbid")

    start_date: IsoDate | None = None
    end_date: IsoDate | None = None
    budget: MoneyIn | None = None
    """Total cost (direct + indirect)."""


class RegenerateIn(ApiModel):
    model_config = ConfigDict(extra="forbid")

    period_months: int = Field(ge=1, le=MAX_PERIOD_MONTHS)


class LinkIn(ApiModel):
    model_config = ConfigDict(extra="forbid")

    account: str = Field(min_length=1, max_length=64)


class FundIn(ApiModel):
    model_config = ConfigDict(extra="forbid")

    account: str = Field(min_length=1, max_length=64)
    amount: MoneyIn
    """Direct money to move into the account's limit; it commits amount x (1 + rate)."""
    memo: str = Field(default="", max_length=400)


# ---------------------------------------------------------------- routes


# The original tool's grant status words asbb's two stand for (or why none does).
_ORIGINAL_STATUS: dict[str, str | None] = {
    "active": "active",
    "closed": "closed",
    "completed": "closed",
    "cancelled": "closed",
    "pending": None,
    "suspended": None,
}
OriginalGrantStatus = Literal["active", "closed", "completed", "cancelled", "pending", "suspended"]


@router.get("/grants", response_model=GrantPage)
def list_grants(
    principal: Annotated[Principal, Depends(any_reader)],
    services: Annotated[Services, Depends(get_services)],
    status: Annotated[
        OriginalGrantStatus | None,
        Query(
            description="Only grants in this status (the original's completed and "
            "cancelled are closed)"
        ),
    ] = None,
    funding_agency: Annotated[
        str | None, Query(max_length=200, description="Only this agency's grants (any case)")
    ] = None,
    start_date: Annotated[
        DayIn, Query(description="Only grants still running on or after this day")
    ] = None,
    end_date: Annotated[DayIn, Query(description="Only grants started by this day")] = None,
    active_only: Annotated[
        bool, Query(description="Only active grants whose dates contain today (UTC)")
    ] = False,
    limit: Annotated[int, Query(ge=1, le=MAX_GRANTS_PAGE, description="Page size")] = (
        MAX_GRANTS_PAGE
    ),
    offset: Annotated[int, Query(ge=0, le=1_000_000_000, description="Grants to skip")] = 0,
) -> GrantPage:
    """Grants by number, with their periods and linked accounts, filtered by status,
    agency and dates (the original tool's filters) and paged with `limit` and `offset`.
    A reader token limited to some accounts sees only the grants that fund one of them."""
    wanted = _ORIGINAL_STATUS[status] if status is not None else None
    if status is not None and wanted is None:
        raise ValidationError(
            f"status: asbb has no {status} grants (a grant is active or closed)", field="status"
        )
    if start_date is not None and end_date is not None and end_date < start_date:
        raise ValidationError(
            f"end_date: {end_date.isoformat()} is before start_date {start_date.isoformat()}",
            field="end_date",
        )
    today = today_of(services)
    found = grants_of(services).list_grants(
        status="active" if active_only else wanted, visible=visible_accounts(principal)
    )
    agency = (funding_agency or "").strip().casefold()
    kept = [
        d
        for d in found
        if (not agency or d.grant.agency.strip().casefold() == agency)
        and (start_date is None or d.grant.end_date >= start_date)
        and (end_date is None or d.grant.start_date <= end_date)
        and (not active_only or d.grant.start_date <= today <= d.grant.end_date)
        and (wanted is None or str(d.grant.status) == wanted)
    ]
    shown = kept[offset : offset + limit]
    return GrantPage(
        items=[GrantView.of(d, today=today) for d in shown],
        total=len(kept),
        limit=limit,
        offset=offset,
    )


def _grant_args(body: GrantCreate) -> dict[str, Any]:
    """``Grants.create_grant``'s arguments from asbb's fields or the original tool's."""
    refuse(
        body,
        {
            "compliance_requirements": _NOT_KEPT,
            "internal_project_code": _NOT_KEPT,
            "cost_center": _NOT_KEPT,
        },
        empty_ok=True,
    )
    args: dict[str, Any] = {}
    for ours, theirs in GRANT_NAMES.items():
        args.update(pick(body, ours, theirs))
    for ours, theirs in GRANT_NAMES.items():
        if args.get(ours) is None and ours in _REQUIRED:
            raise ValidationError(f"{ours}: required (or {theirs})", field=ours)
    months = body.period_months
    if body.budget_period_months:  # 0 is a Go client's "not set"
        months = pick(body, "period_months", "budget_period_months")["period_months"]
    args["period_months"] = months or 12
    for field in ("title", "institution", "department"):
        args[field] = getattr(body, field) or ""
    for field in ("agency", "program", "pi", "cfda"):
        args[field] = args.get(field) or ""
    args["co_pis"] = args.get("co_pis") or []
    return args


_REQUIRED = {"number", "total_award", "start_date", "end_date", "indirect_rate"}


@router.post(
    "/grants",
    response_model=GrantView,
    status_code=status.HTTP_201_CREATED,
    responses={status.HTTP_200_OK: {"description": "A dry run's answer", **DRY_RUN_RESPONSE}},
)
def create_grant(
    body: GrantCreate,
    request: Request,
    response: Response,
    principal: Annotated[Principal, Depends(admin_write)],
    services: Annotated[Services, Depends(get_services)],
) -> GrantView:
    """Record a grant (admin) and generate its budget periods of `period_months` (budgets
    split evenly to the cent, the remainder on the last). A number already taken is 409.
    The original tool's field names work too (`grant_number`, `funding_agency`,
    `total_award_amount`, `grant_start_date`, ...). With `dry_run: true` everything is
    checked and the answer (200) is the grant as it would be; nothing is recorded."""
    args = _grant_args(body)
    ctx = context_of(request, principal)
    today = today_of(services)

    def work() -> GrantView:
        try:
            detail = grants_of(services).create_grant(ctx=ctx, **args)
        except AsbbError as exc:
            raise _in_body_terms(exc, body) from None
        return GrantView.of(detail, today=today)

    return perform(services, body.dry_run, response, work)


def _in_body_terms(exc: AsbbError, body: GrantCreate) -> AsbbError:
    """The core's error about a field, named as the body named it (the original's name when
    the body used that one)."""
    theirs = GRANT_NAMES.get(exc.field or "")
    given = body.model_fields_set
    if theirs is None or theirs not in given or exc.field in given:
        return exc
    message = exc.message.removeprefix(f"{exc.field}: ")
    return type(exc)(f"{theirs}: {message}", field=theirs, details=exc.details)


@router.get("/grants/{number}", response_model=GrantView)
def show_grant(
    number: GrantNumber,
    principal: Annotated[Principal, Depends(any_reader)],
    services: Annotated[Services, Depends(get_services)],
) -> GrantView:
    """One grant with its budget periods (and what was drawn from each) and accounts."""
    detail = visible_grant(services, principal, number)
    return GrantView.of(detail, today=today_of(services))


@router.patch("/grants/{number}", response_model=GrantView, responses={200: DRY_RUN_RESPONSE})
def update_grant(
    number: GrantNumber,
    body: GrantUpdate,
    request: Request,
    response: Response,
    principal: Annotated[Principal, Depends(admin_write)],
    services: Annotated[Services, Depends(get_services)],
) -> GrantView:
    """Change a grant's descriptive fields or status (admin); fields left out stay as they
    are. The award, dates and rate are fixed once the grant is recorded. With
    `dry_run: true` the answer is the grant as it would be, and nothing changes."""
    ctx = context_of(request, principal)
    today = today_of(services)

    def work() -> GrantView:
        detail = grants_of(services).update_grant(
            grant_number(number),
            ctx=ctx,
            title=body.title,
            agency=body.agency,
            program=body.program,
            pi=body.pi,
            co_pis=body.co_pis,
            institution=body.institution,
            department=body.department,
            cfda=body.cfda,
            status=body.status,
        )
        return GrantView.of(detail, today=today)

    return perform(services, body.dry_run, response, work)


@router.put("/grants/{number}/periods/{period:int}", response_model=GrantView)
def set_period(
    number: GrantNumber,
    period: PeriodNumber,
    body: PeriodUpdate,
    request: Request,
    principal: Annotated[Principal, Depends(admin_write)],
    services: Annotated[Services, Depends(get_services)],
) -> GrantView:
    """Edit one budget period's dates or budget (admin). It must stay inside the grant's
    dates and in order without overlapping the others; the budgets may add up to no more
    than the award; a budget may not drop below what was already drawn (with indirect)."""
    detail = grants_of(services).set_period(
        grant_number(number),
        period,
        ctx=context_of(request, principal),
        start_date=body.start_date,
        end_date=body.end_date,
        budget=body.budget,
    )
    return GrantView.of(detail, today=today_of(services))


@router.post("/grants/{number}/periods/regenerate", response_model=GrantView)
def regenerate_periods(
    number: GrantNumber,
    body: RegenerateIn,
    request: Request,
    principal: Annotated[Principal, Depends(admin_write)],
    services: Annotated[Services, Depends(get_services)],
) -> GrantView:
    """Replace the grant's periods with fresh ones of `period_months` (admin). Refused
    (409) once money was drawn from the grant."""
    detail = grants_of(services).regenerate_periods(
        grant_number(number), body.period_months, ctx=context_of(request, principal)
    )
    return GrantView.of(detail, today=today_of(services))


@router.post(
    "/grants/{number}/accounts",
    response_model=LinkedAccountView,
    status_code=status.HTTP_201_CREATED,
)
def link_account(
    number: GrantNumber,
    body: LinkIn,
    request: Request,
    principal: Annotated[Principal, Depends(admin_write)],
    services: Annotated[Services, Depends(get_services)],
) -> LinkedAccountView:
    """Link an account to the grant (admin): it may then be funded from the grant, and its
    spend counts towards the grant from today (UTC). An account draws from one grant at
    most (409 if linked elsewhere); linking it again to the same grant changes nothing."""
    link = grants_of(services).link_account(
        grant_number(number), body.account, ctx=context_of(request, principal)
    )
    return LinkedAccountView.of(link)


@router.delete("/grants/{number}/accounts/{account}", status_code=status.HTTP_204_NO_CONTENT)
def unlink_account(
    number: GrantNumber,
    account: AccountName,
    request: Request,
    principal: Annotated[Principal, Depends(admin_write)],
    services: Annotated[Services, Depends(get_services)],
) -> Response:
    """Unlink an account (admin). 404 if it is not linked to this grant; 409 once it drew
    money from the grant (its spend must stay in the grant's reports)."""
    grants_of(services).unlink_account(
        grant_number(number), account, ctx=context_of(request, principal)
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/grants/{number}/fund", response_model=DrawView, status_code=status.HTTP_201_CREATED)
def fund_account(
    number: GrantNumber,
    body: FundIn,
    request: Request,
    response: Response,
    principal: Annotated[Principal, Depends(admin_write)],
    services: Annotated[Services, Depends(get_services)],
    idempotency_key: Annotated[str | None, Header(min_length=1, max_length=200)] = None,
) -> DrawView:
    """Move direct money from the grant's current budget period (the one containing today,
    UTC) into a linked account's limit (admin), journaled as an allocation. The draw commits
    amount x (1 + indirect rate) of the period's budget; 409 `insufficient_funds` (naming
    the figures) when that does not fit. With an `Idempotency-Key` header a retry returns
    the first result (200, `replayed: true`) and moves nothing."""
    result = grants_of(services).fund_account(
        grant_number(number),
        body.account,
        body.amount,
        ctx=context_of(request, principal, idempotency_key),
        memo=body.memo,
    )
    if result.replayed:
        response.status_code = status.HTTP_200_OK
    return DrawView.of(result)


@router.get("/grants/{number}/periods/{period:int}/status", response_model=PeriodStatusView)
def period_status(
    number: GrantNumber,
    period: PeriodNumber,
    principal: Annotated[Principal, Depends(any_reader)],
    services: Annotated[Services, Depends(get_services)],
) -> PeriodStatusView:
    """Where one budget period stands today: budget, drawn, direct, indirect, consumed
    (direct + indirect), remaining and percent used."""
    detail = visible_grant(services, principal, number)
    st = grants_of(services).period_status(detail.grant.number, period, today_of(services))
    return PeriodStatusView.of(st)
