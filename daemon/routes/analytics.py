"""Analytics of the REST API: burn rates of accounts and grants, health scores, and cost
learning."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query

from asbb_core.analytics.burnrate import (
    BurnRate,
    account_burn_rate,
    grant_burn_rate,
    health_scores,
)
from asbb_core.analytics.views import (
    BurnRateView,
    CalibrationView,
    HealthScorePage,
    HealthScoreView,
)
from asbb_core.ledger.calibration import cost_ratios
from asbb_core.values.periods import parse_date
from daemon.auth import Principal, any_reader
from daemon.errors import ApiError
from daemon.routes.accounts import Limit, Offset, account_name, visible_accounts
from daemon.services import Services, get_services
from daemon.wire import WireRoute

router = APIRouter(tags=["analytics"], route_class=WireRoute)

Window = Literal["7d", "30d", "90d", "6m", "1y", "period"]


def _today(value: str | None) -> date | None:
    return None if value is None else parse_date(value, field="today")


def today_of(value: str | None, services: Services) -> date:
    """The ``today`` query parameter, else the daemon's clock's day."""
    return _today(value) or services.clock().date()


def check_grant_scope(principal: Principal, br: BurnRate, number: str) -> None:
    """403 unless the caller may read every account, or one linked to the grant."""
    scope = visible_accounts(principal)
    if scope is not None and not scope.intersection(br.accounts):
        raise ApiError(403, f"this token may not read grant {number!r}", field="number")


WindowQuery = Annotated[Window, Query(description="How far back the actual spend is averaged")]
TodayQuery = Annotated[
    str | None,
    Query(max_length=10, description="The day the window ends (YYYY-MM-DD, UTC); default today"),
]


@router.get("/accounts/{name}/burn-rate", response_model=BurnRateView)
def account_burn(
    name: Annotated[str, Path(max_length=64)],
    principal: Annotated[Principal, Depends(any_reader)],
    services: Annotated[Services, Depends(get_services)],
    window: WindowQuery = "30d",
    today: TodayQuery = None,
) -> BurnRateView:
    """Actual against expected daily spend of an account, variance, health score and band,
    projected exhaustion and balance at the end date, and spend per day, partition and user."""
    cleaned = account_name(name, principal)
    day = _today(today) or services.clock().date()
    return BurnRateView.of(
        account_burn_rate(services.db, services.settings, cleaned, window=window, today=day)
    )


@router.get("/grants/{number}/burn-rate", response_model=BurnRateView)
def grant_burn(
    number: Annotated[str, Path(min_length=1, max_length=64)],
    principal: Annotated[Principal, Depends(any_reader)],
    services: Annotated[Services, Depends(get_services)],
    window: Annotated[Window, Query(description="Default: the current budget period")] = "period",
    today: TodayQuery = None,
    period: Annotated[
        int | None, Query(ge=1, description="A budget period's number (default: the current one)")
    ] = None,
) -> BurnRateView:
    """The burn rate of a grant's budget period (the current one unless ``period`` is given),
    in total cost (direct x (1 + indirect rate)) of its linked accounts. A reader limited to
    some accounts sees it only when one of them is linked to the grant."""
    day = _today(today) or services.clock().date()
    br = grant_burn_rate(
        services.db, services.settings, number, window=window, today=day, period_number=period
    )
    check_grant_scope(principal, br, number)
    return BurnRateView.of(br)


@router.get("/analytics/health-score", response_model=HealthScorePage)
def health_score(
    principal: Annotated[Principal, Depends(any_reader)],
    services: Annotated[Services, Depends(get_services)],
    account: Annotated[
        str | None, Query(min_length=1, max_length=64, description="Only this account")
    ] = None,
    status: Annotated[
        Literal["active", "suspended", "closed"] | None,
        Query(description="Only accounts in this status (default: every account)"),
    ] = None,
    window: WindowQuery = "30d",
    today: TodayQuery = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> HealthScorePage:
    """Budget health scores: each account's score (0-100), band and the factors behind it
    (overspend, runway, funds), with the original tool's `budget_health_score` and
    `budget_health_status` beside them. One account with `account`, else every account the
    token may read, by name, paged with `limit` and `offset`."""
    day = today_of(today, services)
    if account is not None:
        name = account_name(account, principal, field="account")
        rate = account_burn_rate(services.db, services.settings, name, window=window, today=day)
        return HealthScorePage(items=[HealthScoreView.of(rate)], total=1, limit=limit, offset=0)
    page = health_scores(
        services.db,
        services.settings,
        status=status,
        visible=visible_accounts(principal),
        window=window,
        today=day,
        limit=limit,
        offset=offset,
    )
    return HealthScorePage(
        items=[HealthScoreView.of(r) for r in page.items],
        total=page.total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get("/calibration", response_model=CalibrationView)
def calibration(
    principal: Annotated[Principal, Depends(any_reader)],
    services: Annotated[Services, Depends(get_services)],
    account: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    partition: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
) -> CalibrationView:
    """Actual against estimated cost per account and partition over the learning window, and
    the factor calibration applies (or would apply, when it is off) to new estimates."""
    if account is not None:
        account = account_name(account, principal, field="account")
    cal = services.settings.calibration
    ratios = cost_ratios(
        services.db, cal, now=services.clock(), account=account, partition=partition
    )
    scope = visible_accounts(principal)
    return CalibrationView.of(cal, [r for r in ratios if scope is None or r.account in scope])
