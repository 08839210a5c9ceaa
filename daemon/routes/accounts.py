"""The accounts resource of the REST API: list, create, show, update, close; partition limits;
deposits. Reads need a reader or admin token (a reader token may be limited to some
accounts); writes need an admin token."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response, status
from pydantic import ConfigDict, Field

from asbb_core.ledger.views import (
    AccountDetailView,
    AccountPage,
    MovementView,
    PartitionLimitView,
)
from asbb_core.store import queries
from asbb_core.store.models import Role, UnspentPolicy
from asbb_core.values.context import Context, IdempotencyKey, new_correlation_id
from asbb_core.values.errors import AsbbError, NotFoundError, ValidationError
from asbb_core.values.periods import Frequency
from asbb_core.values.text import normalise_account_name, validate_partition_name
from daemon.auth import Principal, admin_write, any_reader
from daemon.errors import request_id_of
from daemon.routes.adjustments import PENDING, REQUEST_HEADER, pending
from daemon.schemas import DRY_RUN_HEADER, ApiModel, Day, DayIn, Flag, MoneyIn, pick
from daemon.services import Services, get_services
from daemon.wire import WireResponse, WireRoute

IsoDate = Day
"""A day in a request: YYYY-MM-DD, or an RFC 3339 time (its day), as asbb's answers write it."""

T = TypeVar("T")

router = APIRouter(tags=["accounts"], route_class=WireRoute)

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


def perform(services: Services, dry_run: bool, response: Response, work: Callable[[], T]) -> T:
    """Run a create or update, or with ``dry_run`` rehearse it: the same checks and the same
    errors, the answer it would give (200, with the ``Asbb-Dry-Run`` header), and nothing
    changed. ``work`` builds its answer inside, where the rehearsed writes are visible."""
    if not dry_run:
        return work()
    result = services.db.rehearse(work)
    response.status_code = status.HTTP_200_OK
    response.headers[DRY_RUN_HEADER] = "true"
    return result


DRY_RUN_RESPONSE = {
    "headers": {
        DRY_RUN_HEADER: {
            "description": "`true` when the request was a `dry_run`: nothing was changed",
            "schema": {"type": "string"},
        }
    }
}


# ---------------------------------------------------------------- models


class OriginalScheduleIn(ApiModel):
    """The original tool's ``allocation_schedule`` of a new account: the budget paid in by
    instalments, as ``POST /allocations`` takes it."""

    model_config = ConfigDict(extra="forbid")

    total_budget: MoneyIn | None = None
    """The whole budget (``POST /allocations``' ``total``); or give ``end_date``."""
    allocation_amount: MoneyIn
    """Each instalment."""
    allocation_frequency: Frequency
    start_date: DayIn = None
    """The first instalment's due date (default: the account's start_date, else today)."""
    end_date: DayIn = None
    """Every due date up to this one, when ``total_budget`` is not given."""
    auto_allocate: Flag = True
    """Must be true (or left out): the daemon credits every instalment when it falls due."""
    unspent: UnspentPolicy = UnspentPolicy.CARRY_OVER
    """asbb's: carry_over keeps unspent money, expire takes an instalment's rest back."""


class AccountCreate(ApiModel):
    """A new account, in asbb's fields or the original tool's (``slurm_account``, ``name``,
    ``budget_limit``, ``has_incremental_budget``, ``allocation_schedule``)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=200)
    """The Slurm account's name (lower case letters, digits, '_', '.', '-'). With
    ``slurm_account`` (the original tool's body) it is the display name instead, as there."""
    slurm_account: str | None = Field(default=None, min_length=1, max_length=64)
    """The original tool's name for the Slurm account."""
    display_name: str | None = Field(default=None, max_length=200)
    """What people call the account, e.g. "ML Research Project"."""
    description: str = Field(default="", max_length=500)
    limit: MoneyIn | None = None
    """The opening budget, journaled as a deposit (default 0)."""
    budget_limit: MoneyIn | None = None
    """The original tool's name for ``limit``."""
    start_date: DayIn = None
    end_date: DayIn = None
    partition_limits: dict[str, MoneyIn] = Field(default_factory=dict)
    """Caps per partition, e.g. {"gpu-aws": "500.00"}."""
    has_incremental_budget: Flag | None = None
    """The original tool's flag for an account paid by ``allocation_schedule``."""
    allocation_schedule: OriginalScheduleIn | None = None
    """A recurring allocation created with the account (it opens at 0 and grows by it)."""
    dry_run: Flag = False
    """Check everything and answer the account as it would be, creating nothing."""


class AccountUpdate(ApiModel):
    model_config = ConfigDict(extra="forbid")

    description: str | None = Field(default=None, max_length=500)
    display_name: str | None = Field(default=None, max_length=200)
    """What people call the account (the original tool's ``name``)."""
    start_date: DayIn = None
    end_date: DayIn = None
    """Send both dates as null to clear them."""
    status: Status | None = None
    limit: MoneyIn | None = None
    """A new limit, journaled as the adjustment that reaches it; needs ``reason``."""
    reason: str | None = Field(default=None, max_length=500)
    dry_run: Flag = False
    """Check everything and answer the account as it would be, changing nothing."""


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
    return AccountPage.of_accounts(services.db, page)


# The schedule fields of create_schedule as allocation_schedule calls them.
_SCHEDULE_FIELDS = {
    "amount": "allocation_schedule.allocation_amount",
    "total": "allocation_schedule.total_budget",
    "frequency": "allocation_schedule.allocation_frequency",
}


def _opening(body: AccountCreate, services: Services) -> dict[str, Any]:
    """``Desk.create_account``'s arguments from asbb's fields or the original tool's."""
    if body.slurm_account is not None:  # the original's body: its name is the display name
        slurm = body.slurm_account
        display = pick(body, "display_name", "name").get("display_name")
    elif body.name is not None:
        slurm, display = body.name, body.display_name
    else:
        raise ValidationError(
            "name: required (the Slurm account; or slurm_account, the original tool's name)",
            field="name",
        )
    limit = pick(body, "limit", "budget_limit").get("limit")
    args: dict[str, Any] = {
        "name": normalise_account_name(
            slurm, field="slurm_account" if body.slurm_account else "name"
        ),
        "limit": limit if limit is not None else Decimal(0),
        "description": body.description,
        "display_name": display or "",
        "start_date": body.start_date,
        "end_date": body.end_date,
        "partition_limits": dict(body.partition_limits),
    }
    plan = body.allocation_schedule
    if body.has_incremental_budget and plan is None:
        raise ValidationError(
            "allocation_schedule: required with has_incremental_budget", field="allocation_schedule"
        )
    if plan is None:
        return args
    if body.has_incremental_budget is False:
        raise ValidationError(
            "has_incremental_budget: false disagrees with allocation_schedule (an account "
            "with a schedule is incremental); leave it out or send true",
            field="has_incremental_budget",
        )
    if args["limit"] != 0:
        field = "budget_limit" if "budget_limit" in body.model_fields_set else "limit"
        raise ValidationError(
            f"{field}: an account with an allocation_schedule opens at 0 and grows by its "
            "instalments; send 0 or leave it out",
            field=field,
        )
    if not plan.auto_allocate:
        raise ValidationError(
            "allocation_schedule.auto_allocate: asbb's daemon credits every instalment when "
            "it falls due; send true or leave it out (pause the schedule to stop it)",
            field="allocation_schedule.auto_allocate",
        )
    args["schedule"] = {
        "amount": plan.allocation_amount,
        "frequency": plan.allocation_frequency,
        "start_date": plan.start_date or body.start_date or services.bank.allocations.today(),
        "total": plan.total_budget,
        "end_date": plan.end_date,
        "unspent": plan.unspent,
        "memo": "incremental budget",
    }
    return args


@router.post(
    "/accounts",
    response_model=AccountDetailView,
    status_code=status.HTTP_201_CREATED,
    responses={
        status.HTTP_201_CREATED: {"headers": LIMIT_REQUEST_HEADER},
        status.HTTP_200_OK: {"description": "A dry run's answer", **DRY_RUN_RESPONSE},
    },
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
    header. A name already taken is refused with 409.

    The original tool's body works too: `slurm_account` is the Slurm account, `name` then
    the display name, `budget_limit` the limit, and `allocation_schedule` (with
    `has_incremental_budget`) a recurring allocation created with the account, which then
    opens at 0. With `dry_run: true` everything is checked and the answer (200) is the
    account as it would be; nothing is created."""
    args = _opening(body, services)
    ctx = context_of(request, principal)

    def work() -> tuple[AccountDetailView, int | None]:
        try:
            done = services.bank.desk.create_account(ctx=ctx, **args)
        except AsbbError as exc:
            raise _renamed(exc) from None
        view = AccountDetailView.of_detail(queries.account_detail(services.db, done.account.name))
        return view, done.request.id if done.request is not None else None

    view, asked = perform(services, body.dry_run, response, work)
    if asked is not None and not body.dry_run:
        response.headers[REQUEST_HEADER] = str(asked)
    return view


def _renamed(exc: AsbbError) -> AsbbError:
    """The core's error about a schedule field, named as ``allocation_schedule`` calls it."""
    field = _SCHEDULE_FIELDS.get(exc.field or "")
    if field is None:
        return exc
    message = exc.message.removeprefix(f"{exc.field}: ")
    return type(exc)(f"{field}: {message}", field=field, details=exc.details)


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
    responses={
        status.HTTP_200_OK: {"headers": {**LIMIT_REQUEST_HEADER, **DRY_RUN_RESPONSE["headers"]}}
    },
)
def update_account(
    name: AccountName,
    body: AccountUpdate,
    request: Request,
    response: Response,
    principal: Annotated[Principal, Depends(admin_write)],
    services: Annotated[Services, Depends(get_services)],
) -> AccountDetailView:
    """Change an account's display name, description, dates, status or limit (admin), all
    in one transaction. A limit change is journaled as an adjustment and needs a `reason`;
    when approval is required it becomes a pending adjustment request instead, named by the
    `Asbb-Adjustment-Request` header (the other fields change now). Closing needs no open
    holds (409 otherwise). With `dry_run: true` the answer is the account as it would be,
    and nothing changes."""
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
    ctx = context_of(request, principal)

    def work() -> tuple[AccountDetailView, int | None]:
        done = services.bank.desk.change_account(
            cleaned,
            ctx=ctx,
            limit=body.limit,
            reason=body.reason or "",
            description=body.description,
            display_name=body.display_name,
            start_date=body.start_date,
            end_date=body.end_date,
            clear_dates=clear,
            status=body.status,
        )
        view = AccountDetailView.of_detail(queries.account_detail(services.db, cleaned))
        return view, done.request.id if done.request is not None else None

    view, asked = perform(services, body.dry_run, response, work)
    if asked is not None and not body.dry_run:
        response.headers[REQUEST_HEADER] = str(asked)
    return view


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
) -> MovementView | WireResponse:
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
