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
    GrantList,
    GrantView,
    LinkedAccountView,
    PeriodStatusView,
)
from asbb_core.values.errors import ValidationError
from asbb_core.values.money import decimal_of_json
from daemon.auth import Principal, admin_write, any_reader
from daemon.errors import ApiError
from daemon.routes.accounts import IsoDate, context_of, visible_accounts
from daemon.schemas import ApiModel, MoneyIn
from daemon.services import Services, get_services

router = APIRouter(tags=["grants"])

GrantNumber = Annotated[
    str, Path(min_length=1, max_length=64, description="The grant's number, e.g. NSF-2312345")
]
PeriodNumber = Annotated[int, Path(ge=1, le=10_000, description="The budget period (1-based)")]
AccountName = Annotated[str, Path(min_length=1, max_length=64, description="The account name")]
GrantStatusName = Literal["active", "closed"]


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
    model_config = ConfigDict(extra="forbid")

    number: str = Field(min_length=1, max_length=64)
    """Letters, digits, '_', '.', '-' (it appears in URLs)."""
    total_award: MoneyIn
    """Total cost (direct + indirect) over the whole grant."""
    start_date: IsoDate
    end_date: IsoDate
    indirect_rate: RateIn
    period_months: int = Field(default=12, ge=1, le=MAX_PERIOD_MONTHS)
    """Length of the generated budget periods; the last one ends on end_date."""
    title: str = Field(default="", max_length=500)
    agency: str = Field(default="", max_length=200)
    program: str = Field(default="", max_length=200)
    pi: str = Field(default="", max_length=200)
    co_pis: list[str] = Field(default_factory=list, max_length=MAX_CO_PIS)
    institution: str = Field(default="", max_length=200)
    department: str = Field(default="", max_length=200)
    cfda: str = Field(default="", max_length=16)
    """The assistance listing number, e.g. 47.070 (two digits, a dot, three digits)."""


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


@router.get("/grants", response_model=GrantList)
def list_grants(
    principal: Annotated[Principal, Depends(any_reader)],
    services: Annotated[Services, Depends(get_services)],
    status: Annotated[
        GrantStatusName | None, Query(description="Only grants in this status")
    ] = None,
) -> GrantList:
    """Every grant by number, with its periods and linked accounts. A reader token limited
    to some accounts sees only the grants that fund one of them."""
    found = grants_of(services).list_grants(status=status, visible=visible_accounts(principal))
    return GrantList.of(found)


@router.post("/grants", response_model=GrantView, status_code=status.HTTP_201_CREATED)
def create_grant(
    body: GrantCreate,
    request: Request,
    principal: Annotated[Principal, Depends(admin_write)],
    services: Annotated[Services, Depends(get_services)],
) -> GrantView:
    """Record a grant (admin) and generate its budget periods of `period_months` (budgets
    split evenly to the cent, the remainder on the last). A number already taken is 409."""
    detail = grants_of(services).create_grant(
        body.number,
        total_award=body.total_award,
        start_date=body.start_date,
        end_date=body.end_date,
        indirect_rate=body.indirect_rate,
        ctx=context_of(request, principal),
        period_months=body.period_months,
        title=body.title,
        agency=body.agency,
        program=body.program,
        pi=body.pi,
        co_pis=body.co_pis,
        institution=body.institution,
        department=body.department,
        cfda=body.cfda,
    )
    return GrantView.of(detail)


@router.get("/grants/{number}", response_model=GrantView)
def show_grant(
    number: GrantNumber,
    principal: Annotated[Principal, Depends(any_reader)],
    services: Annotated[Services, Depends(get_services)],
) -> GrantView:
    """One grant with its budget periods (and what was drawn from each) and accounts."""
    return GrantView.of(visible_grant(services, principal, number))


@router.patch("/grants/{number}", response_model=GrantView)
def update_grant(
    number: GrantNumber,
    body: GrantUpdate,
    request: Request,
    principal: Annotated[Principal, Depends(admin_write)],
    services: Annotated[Services, Depends(get_services)],
) -> GrantView:
    """Change a grant's descriptive fields or status (admin); fields left out stay as they
    are. The award, dates and rate are fixed once the grant is recorded."""
    detail = grants_of(services).update_grant(
        grant_number(number),
        ctx=context_of(request, principal),
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
    return GrantView.of(detail)


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
    return GrantView.of(detail)


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
    return GrantView.of(detail)


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
