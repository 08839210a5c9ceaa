"""The usage resource of the REST API: charged totals per account, partition, user or day."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from asbb_core.analytics.usage import GroupBy, UsageGroup, usage_summary
from asbb_core.store import queries
from daemon.auth import Principal, any_reader
from daemon.routes.accounts import account_name, visible_accounts
from daemon.schemas import ApiModel, MoneyOut
from daemon.services import Services, get_services

router = APIRouter(tags=["usage"])


class UsageGroupOut(ApiModel):
    key: str | None
    """The account, partition, user or day (YYYY-MM-DD, UTC); null when not recorded."""
    charged: MoneyOut
    jobs: int
    """Distinct jobs (holds) with charges; a job array counts once."""
    charges: int
    """Charge rows (an array's tasks and overrun charges each count)."""
    average_per_job: MoneyOut

    @classmethod
    def of(cls, group: UsageGroup) -> UsageGroupOut:
        return cls(
            key=group.key,
            charged=group.charged,
            jobs=group.jobs,
            charges=group.charges,
            average_per_job=group.average_per_job,
        )


class UsageOut(ApiModel):
    group_by: str
    account: str | None
    since: datetime | None
    until: datetime | None
    groups: list[UsageGroupOut]
    charged: MoneyOut
    jobs: int
    charges: int
    average_per_job: MoneyOut


@router.get("/usage/summary", response_model=UsageOut)
def summary(
    principal: Annotated[Principal, Depends(any_reader)],
    services: Annotated[Services, Depends(get_services)],
    account: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    since: Annotated[
        str | None, Query(max_length=40, description="ISO date or datetime, inclusive")
    ] = None,
    until: Annotated[
        str | None,
        Query(max_length=40, description="ISO datetime (exclusive) or date (whole day included)"),
    ] = None,
    group_by: Annotated[GroupBy, Query(description="How to group the charges")] = "account",
) -> UsageOut:
    """What was charged, grouped by account, partition, user or day: per group the charged
    total, the number of jobs charged and the average per job, and the same over all groups.
    Computed in SQL over the journal's charge rows (overruns included). A reader token
    limited to some accounts sees only their charges."""
    if account is not None:
        account = account_name(account, principal, field="account")
    result = usage_summary(
        services.db,
        group_by=group_by,
        account=account,
        since=queries.parse_when(since, field="since"),
        until=queries.parse_when(until, field="until", end=True),
        visible=visible_accounts(principal),
    )
    return UsageOut(
        group_by=result.group_by,
        account=result.account,
        since=result.since,
        until=result.until,
        groups=[UsageGroupOut.of(g) for g in result.groups],
        charged=result.charged,
        jobs=result.jobs,
        charges=result.charges,
        average_per_job=result.average_per_job,
    )
