"""Analytics of the REST API: burn rates of accounts and grants, and cost learning."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query

from asbb_core.analytics.burnrate import account_burn_rate, grant_burn_rate
from asbb_core.analytics.views import BurnRateView, CalibrationView
from asbb_core.ledger.calibration import cost_ratios
from asbb_core.values.periods import parse_date
from daemon.auth import Principal, any_reader
from daemon.errors import ApiError
from daemon.routes.accounts import account_name, visible_accounts
from daemon.services import Services, get_services

router = APIRouter(tags=["analytics"])

Window = Literal["7d", "30d", "90d", "6m", "1y", "period"]


def _today(value: str | None) -> date | None:
    return None if value is None else parse_date(value, field="today")


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
    scope = visible_accounts(principal)
    if scope is not None and not scope.intersection(br.accounts):
        raise ApiError(403, f"this token may not read grant {number!r}", field="number")
    return BurnRateView.of(br)


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
