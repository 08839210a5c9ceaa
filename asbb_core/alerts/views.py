"""The outward form of alerts, their deliveries, and what an evaluation or a delivery run did:
one view each, shared by the REST API, the CLI and the webhook and email notices
(``asbb_core.values.wire``)."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from asbb_core.ledger.views import Page
from asbb_core.values.wire import View

if TYPE_CHECKING:
    from asbb_core.alerts.conditions import AlertRecord, EvaluationSummary
    from asbb_core.alerts.delivery import DeliveryReport
    from asbb_core.store.models import AlertDelivery


# An alert's details are stored as JSON with its figures as text ("60.00", "21.7"); these keys
# go out as the wire's exact numbers (and end_date as a date), like every other figure.
_NUMBERS = frozenset(
    {
        "used",
        "limit",
        "available",
        "actual_daily",
        "expected_daily",
        "budget",
        "consumed",
        "remaining",
        "percent_used",
        "variance_percent",
        "percent_unspent",
    }
)
_DAYS = frozenset({"end_date"})


def alert_figures(details: Mapping[str, Any]) -> dict[str, Any]:
    """An alert's stored details with its figures as Decimals and its days as dates; anything
    that does not read as one is left as it is."""
    out: dict[str, Any] = {}
    for key, value in details.items():
        if isinstance(value, str) and key in _NUMBERS:
            try:
                number = Decimal(value)
            except InvalidOperation:
                number = None
            value = number if number is not None and number.is_finite() else value
        elif isinstance(value, str) and key in _DAYS:
            with contextlib.suppress(ValueError):
                value = date.fromisoformat(value)
        out[key] = value
    return out


class AlertView(View):
    """One alert, with the names of its account and grant."""

    id: int
    kind: str
    """usage, variance, exhaustion, grant-period, stuck-holds or spool-backlog."""
    severity: str
    """info, warning or critical."""
    status: str
    """open, acknowledged or resolved."""
    dedup_key: str
    """One active alert per key: e.g. usage:<account>:<threshold>, stuck-holds."""
    account: str | None
    grant: str | None
    title: str
    message: str
    details: dict[str, Any]
    """The figures behind the alert (exact numbers); ``note``: the acknowledgement's."""
    opened_at: datetime
    last_seen_at: datetime
    """When an evaluation last found the condition holding."""
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    resolved_by: str | None
    """Who resolved it: a person, or ``asbb`` when its condition cleared."""
    resolved_at: datetime | None
    resolution: str

    @classmethod
    def of(cls, record: AlertRecord) -> AlertView:
        a = record.alert
        return cls(
            id=record.id,
            kind=a.kind,
            severity=str(a.severity),
            status=str(a.status),
            dedup_key=a.dedup_key,
            account=record.account,
            grant=record.grant,
            title=a.title,
            message=a.message,
            details=alert_figures(a.details or {}),
            opened_at=a.opened_at,
            last_seen_at=a.last_seen_at,
            acknowledged_by=a.acknowledged_by,
            acknowledged_at=a.acknowledged_at,
            resolved_by=a.resolved_by,
            resolved_at=a.resolved_at,
            resolution=a.resolution,
        )


class DeliveryView(View):
    """One notice of an alert to one channel."""

    id: int
    channel: str
    """webhook or email."""
    event: str
    """opened or resolved."""
    status: str
    """pending, sent or failed (after the last attempt)."""
    attempts: int
    next_attempt_at: datetime
    last_error: str
    created_at: datetime
    sent_at: datetime | None

    @classmethod
    def of(cls, row: AlertDelivery) -> DeliveryView:
        assert row.id is not None  # read from the database: it has its id
        return cls(
            id=row.id,
            channel=row.channel,
            event=row.event,
            status=str(row.status),
            attempts=row.attempts,
            next_attempt_at=row.next_attempt_at,
            last_error=row.last_error,
            created_at=row.created_at,
            sent_at=row.sent_at,
        )


class AlertDetailView(AlertView):
    deliveries: list[DeliveryView]
    """Oldest first."""

    @classmethod
    def of_detail(cls, record: AlertRecord, deliveries: Sequence[AlertDelivery]) -> AlertDetailView:
        return cls(
            **dict(AlertView.of(record)),
            deliveries=[DeliveryView.of(d) for d in deliveries],
        )


class AlertPage(Page[AlertView]):
    pass


class EvaluationView(View):
    """What one evaluation did (alert ids)."""

    opened: list[int]
    still_open: list[int]
    """Active alerts whose condition still holds (updated, not raised again)."""
    resolved: list[int]
    failed: dict[str, str]
    """Condition kinds whose check failed (their alerts were left alone), with the error."""

    @classmethod
    def of(cls, summary: EvaluationSummary) -> EvaluationView:
        return cls(
            opened=list(summary.opened),
            still_open=list(summary.still_open),
            resolved=list(summary.resolved),
            failed=dict(summary.failed),
        )


class DeliveryReportView(View):
    """What one delivery run did (delivery ids)."""

    sent: list[int]
    retrying: list[int]
    """Failed this time; tried again later."""
    failed: list[int]
    """Failed for the last time (status ``failed``)."""
    skipped: int
    """Deliveries another dispatcher claimed first."""

    @classmethod
    def of(cls, report: DeliveryReport) -> DeliveryReportView:
        return cls(
            sent=list(report.sent),
            retrying=list(report.retrying),
            failed=list(report.failed),
            skipped=report.skipped,
        )
