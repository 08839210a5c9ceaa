"""Reports over the REST API: a grant's compliance report per budget period, and an account
statement for a date range, as JSON, CSV (a download) or Markdown. See docs/reports.md."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from asbb_core.analytics.reports import (
    account_statement,
    grant_compliance_report,
    render_grant_report,
    render_statement,
)
from asbb_core.analytics.views import GrantReportView, StatementView
from daemon.auth import Principal, any_reader
from daemon.routes.accounts import AccountName, account_name
from daemon.routes.grants import GrantNumber, today_of, visible_grant
from daemon.services import Services, get_services
from daemon.wire import WireRoute

router = APIRouter(tags=["reports"], route_class=WireRoute)

Format = Literal["json", "csv", "markdown"]
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "markdown": "text/markdown; charset=utf-8"}
TEXT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "text/markdown": {"schema": {"type": "string"}},
        },
        "description": "JSON, or the report as CSV (a download) or Markdown with `format`",
    }
}


def _text(body: str, fmt: str, filename: str) -> Response:
    headers = {}
    if fmt == "csv":
        headers["Content-Disposition"] = f'attachment; filename="{filename}.csv"'
    return Response(content=body, media_type=MEDIA_TYPES[fmt], headers=headers)


# ---------------------------------------------------------------- routes


@router.get("/grants/{number}/report", response_model=GrantReportView, responses=TEXT_RESPONSES)
def grant_report(
    number: GrantNumber,
    principal: Annotated[Principal, Depends(any_reader)],
    services: Annotated[Services, Depends(get_services)],
    period: Annotated[
        int | None, Query(ge=1, le=10_000, description="Budget period (default: current)")
    ] = None,
    format: Annotated[Format, Query(description="json, csv or markdown")] = "json",
) -> Any:
    """The grant compliance report for one budget period: direct, indirect and total cost,
    remaining, by month / partition / user / account, drawn, and the burn-rate status.
    `format=csv` is a download with the columns documented in docs/reports.md;
    `format=markdown` is text/markdown."""
    detail = visible_grant(services, principal, number)
    report = grant_compliance_report(
        services.db,
        services.settings,
        detail.grant.number,
        period=period,
        today=today_of(services),
        now=services.clock(),
    )
    if format == "json":
        return GrantReportView.of(report)
    return _text(
        render_grant_report(report, format),
        format,
        f"grant-{report.number}-period-{report.period}",
    )


@router.get("/accounts/{name}/statement", response_model=StatementView, responses=TEXT_RESPONSES)
def statement(
    name: AccountName,
    principal: Annotated[Principal, Depends(any_reader)],
    services: Annotated[Services, Depends(get_services)],
    since: Annotated[date, Query(description="First UTC day (YYYY-MM-DD), included")],
    until: Annotated[date, Query(description="Last UTC day (YYYY-MM-DD), included")],
    format: Annotated[Format, Query(description="json, csv or markdown")] = "json",
) -> Any:
    """The account's statement: opening balances at the start of `since`, every journal
    row up to the end of `until` with the balances after it, closing balances and totals per
    kind. A reader token limited to some accounts gets statements only for those."""
    cleaned = account_name(name, principal)
    st = account_statement(services.db, cleaned, since, until, now=services.clock())
    if format == "json":
        return StatementView.of(st)
    return _text(
        render_statement(st, format),
        format,
        f"statement-{st.account}-{st.since.isoformat()}-to-{st.until.isoformat()}",
    )
