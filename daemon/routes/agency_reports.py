"""Agency-required grant reports over the REST API: the federal financial report's figures
(SF-425 style) of one budget period, as JSON, CSV or PDF (docs/reports.md), and the original
tool's ``POST /grants/{number}/reports``, which asks for any of its report types.

Reads only: a reader token is enough, and a reader token limited to some accounts sees a
grant only through one of its linked accounts (as every grant route).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import ConfigDict, Field

from asbb_core.analytics.reports import grant_compliance_report, render_grant_report
from asbb_core.analytics.views import GrantReportView
from asbb_core.funding.agency_report import (
    MEDIA_TYPES,
    AgencyReport,
    agency_report,
    check_start,
    render_agency_report,
    report_filename,
)
from asbb_core.funding.views import AgencyReportView
from asbb_core.values.errors import ValidationError
from daemon.auth import Principal, any_reader
from daemon.routes.grants import GrantNumber, today_of, visible_grant
from daemon.schemas import ApiModel, DayIn
from daemon.services import Services, get_services
from daemon.wire import WireRoute

router = APIRouter(tags=["reports"], route_class=WireRoute)

AgencyFormat = Literal["json", "csv", "pdf"]
RateType = Literal["provisional", "predetermined", "final", "fixed"]
ReportType = Literal["financial", "annual", "agency-required", "compliance", "technical"]
COMPLIANCE_MEDIA = {"csv": "text/csv; charset=utf-8", "markdown": "text/markdown; charset=utf-8"}
FILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "application/pdf": {"schema": {"type": "string", "format": "binary"}},
        },
        "description": "JSON, or the report as a CSV or PDF download with `format`",
    }
}


def _file(body: bytes, media_type: str, filename: str) -> Response:
    return Response(
        content=body,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _agency_answer(report: AgencyReport, fmt: str) -> Any:
    if fmt == "json":
        return AgencyReportView.of(report)
    return _file(render_agency_report(report, fmt), MEDIA_TYPES[fmt], report_filename(report, fmt))


# ---------------------------------------------------------------- asbb's route


@router.get(
    "/grants/{number}/agency-report", response_model=AgencyReportView, responses=FILE_RESPONSES
)
def get_agency_report(
    number: GrantNumber,
    principal: Annotated[Principal, Depends(any_reader)],
    services: Annotated[Services, Depends(get_services)],
    period: Annotated[
        int | None, Query(ge=1, le=10_000, description="Budget period (default: current)")
    ] = None,
    format: Annotated[AgencyFormat, Query(description="json, csv or pdf")] = "json",
    rate_type: Annotated[
        RateType | None,
        Query(description="The indirect rate's type to print (asbb does not record it)"),
    ] = None,
) -> Any:
    """The agency-required financial report of one budget period (the SF-425 figures):
    federal funds authorised, federal share of expenditures (direct, indirect, total; this
    period and cumulative), indirect expense by rate, unliquidated obligations (money held
    for open jobs), total federal share and unobligated balance, federal cash, and the
    recipient's identifiers. `format=csv` and `format=pdf` are downloads."""
    detail = visible_grant(services, principal, number)
    report = agency_report(
        services.db,
        detail.grant.number,
        period=period,
        today=today_of(services),
        now=services.clock(),
        rate_type=rate_type,
    )
    return _agency_answer(report, format)


# ---------------------------------------------------------------- the original tool's route


class ReportRequest(ApiModel):
    """The original tool's report request (its ``GrantReportRequest``)."""

    model_config = ConfigDict(extra="forbid")

    grant_number: str | None = Field(default=None, min_length=1, max_length=64)
    """The grant's number again; when given it must be the path's."""
    report_type: ReportType = "financial"
    """financial or annual (asbb's agency-required report, also spelled agency-required),
    compliance (asbb's compliance report); technical is refused (asbb keeps no research
    progress)."""
    start_date: DayIn = None
    """The report window's first day: the chosen budget period's first day (asbb reports
    whole budget periods)."""
    end_date: DayIn = None
    """The day the figures are counted up to (default: today, UTC); without
    `budget_period` it chooses the period containing it."""
    budget_period: int | None = Field(default=None, ge=1, le=10_000)
    """The budget period (default: the one containing `end_date`)."""
    format: Literal["json", "csv", "pdf", "markdown"] = "json"
    """json, csv or pdf (the financial report); json, csv or markdown (compliance)."""
    include_details: bool = False
    """Accepted for the original's clients; every report carries all its figures."""
    rate_type: RateType | None = None
    """The indirect rate's type to print on a financial report (asbb does not record it)."""


@router.post(
    "/grants/{number}/reports",
    response_model=AgencyReportView | GrantReportView,
    responses={
        200: {
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "text/markdown": {"schema": {"type": "string"}},
                "application/pdf": {"schema": {"type": "string", "format": "binary"}},
            },
            "description": "The report in the format asked for",
        }
    },
)
def post_report(
    number: GrantNumber,
    body: ReportRequest,
    principal: Annotated[Principal, Depends(any_reader)],
    services: Annotated[Services, Depends(get_services)],
) -> Any:
    """The original tool's report request: `report_type` financial (or annual) is the
    agency-required financial report of a budget period, as `GET .../agency-report` gives
    it; compliance is the compliance report of `GET .../report`. Nothing is stored: the
    report is computed and sent back in `format`."""
    detail = visible_grant(services, principal, number)
    grant = detail.grant.number
    if body.grant_number is not None and body.grant_number.strip() != grant:
        raise ValidationError(
            f"grant_number: {body.grant_number!r} is not the grant in the path ({grant!r})",
            field="grant_number",
        )
    if body.report_type == "technical":
        raise ValidationError(
            "report_type: asbb keeps the money, not the research: it has no technical report "
            "(financial, annual or compliance)",
            field="report_type",
        )
    day: date = body.end_date or today_of(services)
    if body.report_type == "compliance":
        if body.format == "pdf":
            raise ValidationError(
                "format: the compliance report comes as json, csv or markdown; pdf is the "
                "financial report's (report_type financial)",
                field="format",
            )
        compliance = grant_compliance_report(
            services.db,
            services.settings,
            grant,
            period=body.budget_period,
            today=day,
            now=services.clock(),
        )
        if body.start_date is not None:
            spans = [(p.number, p.start_date, p.end_date) for p in detail.periods]
            check_start(grant, compliance.period, spans, body.start_date)
        if body.format == "json":
            return GrantReportView.of(compliance)
        suffix = "md" if body.format == "markdown" else "csv"
        return _file(
            render_grant_report(compliance, body.format).encode("utf-8"),
            COMPLIANCE_MEDIA[body.format],
            f"grant-{grant}-period-{compliance.period}.{suffix}",
        )
    if body.format == "markdown":
        raise ValidationError(
            "format: the financial report comes as json, csv or pdf", field="format"
        )
    report = agency_report(
        services.db,
        grant,
        period=body.budget_period,
        today=day,
        now=services.clock(),
        start_date=body.start_date,
        rate_type=body.rate_type,
    )
    return _agency_answer(report, body.format)
