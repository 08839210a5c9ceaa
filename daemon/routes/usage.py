"""The usage resource of the REST API: charged totals per account, partition, user or day."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from asbb_core.analytics.usage import GroupBy, usage_summary
from asbb_core.analytics.views import UsageView
from asbb_core.store import queries
from daemon.auth import Principal, any_reader
from daemon.routes.accounts import account_name, visible_accounts
from daemon.services import Services, get_services
from daemon.wire import WireRoute

router = APIRouter(tags=["usage"], route_class=WireRoute)


@router.get("/usage/summary", response_model=UsageView)
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
) -> UsageView:
    """What was charged, grouped by account, partition, user or day: per group the charged
    total, the number of jobs charged and the average per job, and the same over all groups.
    Computed in SQL over the journal's charge rows (overruns included). A reader token
    limited to some accounts sees only their charges."""
    if account is not None:
        account = account_name(account, principal, field="account")
    return UsageView.of(
        usage_summary(
            services.db,
            group_by=group_by,
            account=account,
            since=queries.parse_when(since, field="since"),
            until=queries.parse_when(until, field="until", end=True),
            visible=visible_accounts(principal),
        )
    )
