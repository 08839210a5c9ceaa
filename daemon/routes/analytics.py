"""Analytics of the REST API: burn rates of accounts and grants, and cost learning."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query

from asbb_core.analytics.burnrate import BurnRate, account_burn_rate, grant_burn_rate
from asbb_core.ledger.calibration import CostRatio, cost_ratios
from asbb_core.values.periods import parse_date
from daemon.auth import Principal, any_reader
from daemon.errors import ApiError
from daemon.routes.accounts import account_name, visible_accounts
from daemon.schemas import ApiModel, MoneyOut
from daemon.services import Services, get_services

router = APIRouter(tags=["analytics"])

Window = Literal["7d", "30d", "90d", "6m", "1y", "period"]


class DaySpendOut(ApiModel):
    day: date
    actual: MoneyOut
    expected: MoneyOut | None


class KeyedSpendOut(ApiModel):
    key: str | None
    """The partition or user (null: not recorded)."""
    spent: MoneyOut


class HealthOut(ApiModel):
    score: int
    """0-100, higher is healthier."""
    band: str
    """healthy, concern, warning or critical (thresholds in settings [burn_rate])."""


class BurnRateOut(ApiModel):
    subject: str
    name: str
    window: str
    since: date
    until: date
    days: int
    period_start: date
    end_date: date | None
    budget: MoneyOut
    spent: MoneyOut
    spent_to_date: MoneyOut
    available: MoneyOut
    actual_daily: MoneyOut
    expected_daily: MoneyOut | None
    expected_basis: str | None
    variance_percent: Decimal | None
    projected_exhaustion: date | None
    projected_balance_at_end: MoneyOut | None
    health: HealthOut
    indirect_rate: Decimal | None
    accounts: list[str]
    daily: list[DaySpendOut]
    by_partition: list[KeyedSpendOut]
    by_user: list[KeyedSpendOut]

    @classmethod
    def of(cls, br: BurnRate) -> BurnRateOut:
        return cls(
            subject=br.subject,
            name=br.name,
            window=br.window,
            since=br.since,
            until=br.until,
            days=br.days,
            period_start=br.period_start,
            end_date=br.end_date,
            budget=br.budget,
            spent=br.spent,
            spent_to_date=br.spent_to_date,
            available=br.available,
            actual_daily=br.actual_daily,
            expected_daily=br.expected_daily,
            expected_basis=br.expected_basis,
            variance_percent=br.variance_percent,
            projected_exhaustion=br.projected_exhaustion,
            projected_balance_at_end=br.projected_balance_at_end,
            health=HealthOut(score=br.health.score, band=br.health.band),
            indirect_rate=br.indirect_rate,
            accounts=br.accounts,
            daily=[DaySpendOut(day=d.day, actual=d.actual, expected=d.expected) for d in br.daily],
            by_partition=[KeyedSpendOut(key=k, spent=v) for k, v in br.by_partition],
            by_user=[KeyedSpendOut(key=k, spent=v) for k, v in br.by_user],
        )


def _today(value: str | None) -> date | None:
    return None if value is None else parse_date(value, field="today")


WindowQuery = Annotated[Window, Query(description="How far back the actual spend is averaged")]
TodayQuery = Annotated[
    str | None,
    Query(max_length=10, description="The day the window ends (YYYY-MM-DD, UTC); default today"),
]


@router.get("/accounts/{name}/burn-rate", response_model=BurnRateOut)
def account_burn(
    name: Annotated[str, Path(max_length=64)],
    principal: Annotated[Principal, Depends(any_reader)],
    services: Annotated[Services, Depends(get_services)],
    window: WindowQuery = "30d",
    today: TodayQuery = None,
) -> BurnRateOut:
    """Actual against expected daily spend of an account, variance, health score and band,
    projected exhaustion and balance at the end date, and spend per day, partition and user."""
    cleaned = account_name(name, principal)
    day = _today(today) or services.clock().date()
    return BurnRateOut.of(
        account_burn_rate(services.db, services.settings, cleaned, window=window, today=day)
    )


@router.get("/grants/{number}/burn-rate", response_model=BurnRateOut)
def grant_burn(
    number: Annotated[str, Path(min_length=1, max_length=64)],
    principal: Annotated[Principal, Depends(any_reader)],
    services: Annotated[Services, Depends(get_services)],
    window: Annotated[Window, Query(description="Default: the current budget period")] = "period",
    today: TodayQuery = None,
    period: Annotated[
        int | None, Query(ge=1, description="A budget period's number (default: the current one)")
    ] = None,
) -> BurnRateOut:
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
    return BurnRateOut.of(br)


class CostRatioOut(ApiModel):
    account: str
    partition: str | None
    jobs: int
    estimated: MoneyOut
    actual: MoneyOut
    ratio: Decimal | None
    """actual / estimated."""
    factor: Decimal
    """What calibration scales new estimates by (1 until enough jobs back the ratio)."""

    @classmethod
    def of(cls, r: CostRatio) -> CostRatioOut:
        return cls(
            account=r.account,
            partition=r.partition,
            jobs=r.jobs,
            estimated=r.estimated,
            actual=r.actual,
            ratio=r.ratio,
            factor=r.factor,
        )


class CalibrationOut(ApiModel):
    enabled: bool
    window_days: int
    min_jobs: int
    lower: Decimal
    upper: Decimal
    ratios: list[CostRatioOut]


@router.get("/calibration", response_model=CalibrationOut)
def calibration(
    principal: Annotated[Principal, Depends(any_reader)],
    services: Annotated[Services, Depends(get_services)],
    account: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    partition: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
) -> CalibrationOut:
    """Actual against estimated cost per account and partition over the learning window, and
    the factor calibration applies (or would apply, when it is off) to new estimates."""
    if account is not None:
        account = account_name(account, principal, field="account")
    cal = services.settings.calibration
    ratios = cost_ratios(
        services.db, cal, now=services.clock(), account=account, partition=partition
    )
    scope = visible_accounts(principal)
    return CalibrationOut(
        enabled=cal.enabled,
        window_days=cal.window_days,
        min_jobs=cal.min_jobs,
        lower=cal.lower,
        upper=cal.upper,
        ratios=[CostRatioOut.of(r) for r in ratios if scope is None or r.account in scope],
    )
