"""The accounts resource of the REST API: list, create, show, update, close; partition limits;
deposits. Reads need a reader or admin token (a reader token may be limited to some
accounts); writes need an admin token."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BeforeValidator, ConfigDict, Field

from asbb_core.ledger.views import (
    AccountDetailView,
    AccountPage,
    AccountView,
    MovementView,
    PartitionLimitView,
)
from asbb_core.store import queries
from asbb_core.store.models import Role
from asbb_core.values.context import Context, IdempotencyKey, new_correlation_id
from asbb_core.values.errors import NotFoundError, ValidationError
from asbb_core.values.text import normalise_account_name, validate_partition_name
from daemon.auth import Principal, admin_write, any_reader
from daemon.errors import request_id_of
from daemon.routes.adjustments import PENDING, REQUEST_HEADER, pending
from daemon.schemas import ApiModel, MoneyIn
from daemon.services import Services, get_services


def _iso_date(value: object) -> object:
    if value is not None and not isinstance(value, str | date):
        raise ValueError("expected an ISO date (YYYY-MM-DD)")
    return value


IsoDate = Annotated[date, BeforeValidator(_iso_date)]

router = APIRouter(tags=["accounts"])

AccountName = Annotated[str, Path(min_length=1, max_length=64, description="The account name")]
PartitionName = Annotated[str, Path(min_length=1, max_length=64)]
Limit = Annotated[int, Query(ge=1, le=queries.MAX_PAGE, description="Page size")]
Offset = Annotated[int, Query(ge=0, le=1_000_000_000, description="Rows to skip")]
Status = Literal["active", "suspended", "closed"]
LIMIT_REQUEST_HEADER = {
    REQUEST_HEADER: {
        "description": "Set when approval is required and a limit was given: the id of the "
        "pending adjustment request the limit became (`GET /adjustments/{id}`).",
        "schema": {"type": "integer"},
    }
}


# ---------------------------------------------------------------- shared helpers


def visible_accounts(principal: Principal) -> frozenset[str] | None:
    """The accounts a caller may read (``None``: all of them)."""
    if principal.role is Role.READER and principal.accounts:
        return principal.accounts
    return None


def context_of(
    request: Request, principal: Principal, idempotency_key: str | None = None
) -> Context:
    """Who acts, from where, and the caller's idempotency key (in the callers' namespace)."""
    return Context(
        actor=principal.name,
        source=principal.source,
        correlation_id=request_id_of(request) or new_correlation_id(),
        idempotency_key=IdempotencyKey.client(idempotency_key) if idempotency_key else None,
    )


def account_name(name: str, principal: Principal, *, field: str = "name") -> str:
    """Validate an account name from the URL and check the caller may read it."""
    cleaned = normalise_account_name(name, field=field)
    principal.require_account(cleaned)
    return cleaned


# ---------------------------------------------------------------- models


class AccountCreate(ApiModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    """The Slurm account's name (lower case letters, digits, '_', '.', '-')."""
    description: str = Field(default="", max_length=500)
    limit: MoneyIn = Decimal(0)
    """The opening budget, journaled as a deposit."""
    start_date: IsoDate | None = None
    end_date: IsoDate | None = None
    partition_limits: dict[str, MoneyIn] = Field(default_factory=dict)
    """Caps per partition, e.g. {"gpu-aws": "500.00"}."""


class AccountUpdate(ApiModel):
    model_config = ConfigDict(extra="forbid")

    description: str | None = Field(default=None, max_length=500)
    start_date: IsoDate | None = None
    end_date: IsoDate | None = None
    """Send both dates as null to clear them."""
    status: Status | None = None
    limit: MoneyIn | None = None
    """A new limit, journaled as the adjustment that reaches it; needs ``reason``."""
    reason: str | None = Field(default=None, max_length=500)


class PartitionLimitIn(ApiModel):
    model_config = ConfigDict(extra="forbid")

    limit: MoneyIn


class DepositIn(ApiModel):
    model_config = ConfigDict(extra="forbid")

    amount: MoneyIn
    memo: str = Field(default="", max_length=500)


# ---------------------------------------------------------------- routes


@router.get("/accounts", response_model=AccountPage)
def list_accounts(
    principal: Annotated[Principal, Depends(any_reader)],
    services: Annotated[Services, Depends(get_services)],
    status: Annotated[Status | None, Query(description="Only accounts in this status")] = None,
    q: Annotated[str | None, Query(max_length=64, description="Name prefix")] = None,
    sort: Annotated[queries.AccountSort, Query(description="Sort key")] = "name",
    order: Annotated[Literal["asc", "desc"], Query(description="Sort direction")] = "asc",
    limit: Limit = 100,
    offset: Offset = 0,
) -> AccountPage:
    """List accounts, filtered by status and name prefix (`q`), sorted by name, available,
    used or limit, and paged with `limit` and `offset`. `total` counts every match.
    A reader token limited to some accounts sees only those."""
    page = queries.list_accounts(
        services.db,
        status=status,
        prefix=q,
        sort=sort,
        descending=order == "desc",
        limit=limit,
        offset=offset,
        visible=visible_accounts(principal),
    )
    return AccountPage.of(page, [AccountView.of(a) for a in page.items])


@router.post(
    "/accounts",
    response_model=AccountDetailView,
    status_code=status.HTTP_201_CREATED,
    responses={status.HTTP_201_CREATED: {"headers": LIMIT_REQUEST_HEADER}},
)
def create_account(
    body: AccountCreate,
    request: Request,
    response: Response,
    principal: Annotated[Principal, Depends(admin_write)],
    services: Annotated[Services, Depends(get_services)],
) -> AccountDetailView:
    """Open an account (admin). A non-zero `limit` is journaled as its opening deposit; when
    approval is required (`approvals.require_approval`) the account opens at zero and the
    limit becomes a pending adjustment request, named by the `Asbb-Adjustment-Request`
    header. A name already taken is refused with 409."""
    done = services.bank.desk.create_account(
        normalise_account_name(body.name, field="name"),
        ctx=context_of(request, principal),
        limit=body.limit,
        description=body.description,
        start_date=body.start_date,
        end_date=body.end_date,
        partition_limits=dict(body.partition_limits),
    )
    if done.request is not None:
        response.headers[REQUEST_HEADER] = str(done.request.id)
    return AccountDetailView.of_detail(queries.account_detail(services.db, done.account.name))


@router.get("/accounts/{name}", response_model=AccountDetailView)
def show_account(
    name: AccountName,
    principal: Annotated[Principal, Depends(any_reader)],
    services: Annotated[Services, Depends(get_services)],
) -> AccountDetailView:
    """One account with its balances, partition limits and number of open holds."""
    cleaned = account_name(name, principal)
    return AccountDetailView.of_detail(queries.account_detail(services.db, cleaned))


@router.patch(
    "/accounts/{name}",
    response_model=AccountDetailView,
    responses={status.HTTP_200_OK: {"headers": LIMIT_REQUEST_HEADER}},
)
def update_account(
    name: AccountName,
    body: AccountUpdate,
    request: Request,
    response: Response,
    principal: Annotated[Principal, Depends(admin_write)],
    services: Annotated[Services, Depends(get_services)],
) -> AccountDetailView:
    """Change an account's description, dates, status or limit (admin), all in one
    transaction. A limit change is journaled as an adjustment and needs a `reason`; when
    approval is required it becomes a pending adjustment request instead, named by the
    `Asbb-Adjustment-Request` header (the other fields change now). Closing needs no open
    holds (409 otherwise)."""
    cleaned = account_name(name, principal)
    given = body.model_fields_set
    clear = "start_date" in given and "end_date" in given
    clear = clear and body.start_date is None and body.end_date is None
    for field in ("start_date", "end_date"):
        if field in given and getattr(body, field) is None and not clear:
            raise ValidationError(
                f"{field}: to clear the dates send both start_date and end_date as null",
                field=field,
            )
    done = services.bank.desk.change_account(
        cleaned,
        ctx=context_of(request, principal),
        limit=body.limit,
        reason=body.reason or "",
        description=body.description,
        start_date=body.start_date,
        end_date=body.end_date,
        clear_dates=clear,
        status=body.status,
    )
    if done.request is not None:
        response.headers[REQUEST_HEADER] = str(done.request.id)
    return AccountDetailView.of_detail(queries.account_detail(services.db, cleaned))


@router.post("/accounts/{name}/close", response_model=AccountDetailView)
def close_account(
    name: AccountName,
    request: Request,
    principal: Annotated[Principal, Depends(admin_write)],
    services: Annotated[Services, Depends(get_services)],
) -> AccountDetailView:
    """Close an account (admin): no new jobs may be charged to it, and it cannot reopen.
    Refused with 409 while it has open holds."""
    cleaned = account_name(name, principal)
    services.ledger.update_account(cleaned, ctx=context_of(request, principal), status="closed")
    return AccountDetailView.of_detail(queries.account_detail(services.db, cleaned))


@router.get("/accounts/{name}/partition-limits", response_model=list[PartitionLimitView])
def list_partition_limits(
    name: AccountName,
    principal: Annotated[Principal, Depends(any_reader)],
    services: Annotated[Services, Depends(get_services)],
) -> list[PartitionLimitView]:
    """The account's caps per partition, with what each has used and holds."""
    cleaned = account_name(name, principal)
    detail = queries.account_detail(services.db, cleaned)
    return [PartitionLimitView.of(c) for c in detail.partition_limits]


@router.put("/accounts/{name}/partition-limits/{partition}", response_model=PartitionLimitView)
def set_partition_limit(
    name: AccountName,
    partition: PartitionName,
    body: PartitionLimitIn,
    request: Request,
    principal: Annotated[Principal, Depends(admin_write)],
    services: Annotated[Services, Depends(get_services)],
) -> PartitionLimitView:
    """Cap what one partition may consume inside the account (admin). A new cap starts with
    the partition's usage and open holds so far; later budget checks on it honour the cap."""
    cleaned = account_name(name, principal)
    cap = services.ledger.set_partition_limit(
        cleaned, partition, body.limit, ctx=context_of(request, principal)
    )
    if cap is None:  # only a None limit removes, and the body requires one
        raise NotFoundError(f"partition {partition!r} has no limit", field="partition")
    return PartitionLimitView.of(cap)


@router.delete(
    "/accounts/{name}/partition-limits/{partition}", status_code=status.HTTP_204_NO_CONTENT
)
def remove_partition_limit(
    name: AccountName,
    partition: PartitionName,
    request: Request,
    principal: Annotated[Principal, Depends(admin_write)],
    services: Annotated[Services, Depends(get_services)],
) -> Response:
    """Remove a partition's cap (admin); the account's own limit still applies.
    404 if the partition has no cap."""
    cleaned = account_name(name, principal)
    part = validate_partition_name(partition)
    detail = queries.account_detail(services.db, cleaned)
    if all(c.partition != part for c in detail.partition_limits):
        raise NotFoundError(
            f"account {cleaned!r} has no limit on partition {part!r}", field="partition"
        )
    services.ledger.set_partition_limit(
        cleaned, partition, None, ctx=context_of(request, principal)
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/accounts/{name}/deposits",
    response_model=MovementView,
    status_code=status.HTTP_201_CREATED,
    responses=PENDING,
)
def deposit(
    name: AccountName,
    body: DepositIn,
    request: Request,
    response: Response,
    principal: Annotated[Principal, Depends(admin_write)],
    services: Annotated[Services, Depends(get_services)],
    idempotency_key: Annotated[str | None, Header(min_length=1, max_length=200)] = None,
) -> MovementView | JSONResponse:
    """Add money to an account's limit (admin), journaled as a deposit. When approval is
    required (`approvals.require_approval`) nothing moves: the answer is 202 with the pending
    credit request another person approves. With an `Idempotency-Key` header a retry returns
    the first result (200, `replayed: true`; or the same request) and deposits nothing; the
    same key for a different request is 409."""
    cleaned = account_name(name, principal)
    done = services.bank.desk.deposit(
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
