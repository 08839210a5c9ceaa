"""The alerts resource of the REST API: list and show alerts, acknowledge or resolve one;
evaluate the conditions and send due deliveries on demand (admin).

Readers see the alerts of the accounts they may read; a reader limited to some accounts does
not see global alerts (stuck holds, spool backlog, grant periods). Acknowledging silences an
alert while its condition lasts; resolving one whose condition still holds makes the next
evaluation open a fresh alert.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import ConfigDict, Field

from asbb_core.alerts.conditions import MAX_ID, MAX_PAGE, AlertRecord, AlertService
from asbb_core.alerts.delivery import DeliveryService
from asbb_core.store.models import AlertDelivery, AlertSeverity, AlertStatus
from daemon.auth import Principal, admin_write, any_reader
from daemon.errors import ApiError
from daemon.routes.accounts import account_name, visible_accounts
from daemon.schemas import ApiModel
from daemon.services import Services, get_services

router = APIRouter(tags=["alerts"])

AlertId = Annotated[int, Path(ge=1, le=MAX_ID, description="The alert's id")]
Kind = Literal["usage", "variance", "exhaustion", "grant-period", "stuck-holds", "spool-backlog"]


class AlertOut(ApiModel):
    id: int
    kind: str
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
    """The figures behind the alert (money as strings); ``note``: the acknowledgement's."""
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
    def of(cls, record: AlertRecord) -> AlertOut:
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
            details=dict(a.details or {}),
            opened_at=a.opened_at,
            last_seen_at=a.last_seen_at,
            acknowledged_by=a.acknowledged_by,
            acknowledged_at=a.acknowledged_at,
            resolved_by=a.resolved_by,
            resolved_at=a.resolved_at,
            resolution=a.resolution,
        )


class DeliveryOut(ApiModel):
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
    def of(cls, row: AlertDelivery) -> DeliveryOut:
        assert row.id is not None
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


class AlertDetailOut(AlertOut):
    deliveries: list[DeliveryOut]


class AlertPage(ApiModel):
    items: list[AlertOut]
    total: int
    limit: int
    offset: int


class AcknowledgeIn(ApiModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(default="", max_length=500)


class ResolveIn(ApiModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(min_length=1, max_length=500)
    """Why it is resolved (kept as the alert's resolution)."""


class EvaluationOut(ApiModel):
    opened: list[int]
    still_open: list[int]
    resolved: list[int]
    failed: dict[str, str]
    """Condition kinds whose check failed (their alerts were left alone), with the error."""


class DeliveryReportOut(ApiModel):
    sent: list[int]
    retrying: list[int]
    failed: list[int]
    skipped: int
    """Deliveries another dispatcher claimed first."""


def _alerts(services: Services) -> AlertService:
    return services.bank.alerts


def _visible(principal: Principal, record: AlertRecord) -> None:
    if visible_accounts(principal) is None:
        return
    if record.account is None:
        raise ApiError(
            403, f"this token may not read alert {record.id} (it concerns no account of its)"
        )
    principal.require_account(record.account)


@router.get("/alerts", response_model=AlertPage)
def list_alerts(
    principal: Annotated[Principal, Depends(any_reader)],
    services: Annotated[Services, Depends(get_services)],
    status: Annotated[AlertStatus | None, Query()] = None,
    severity: Annotated[AlertSeverity | None, Query()] = None,
    kind: Annotated[Kind | None, Query()] = None,
    account: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> AlertPage:
    """Alerts, newest first, filtered by status, severity, kind and account. A reader token
    limited to some accounts sees only their alerts (no global ones)."""
    if account is not None:
        account = account_name(account, principal, field="account")
    scope = visible_accounts(principal)
    service = _alerts(services)
    filters: dict[str, Any] = {
        "status": status,
        "severity": severity,
        "kind": kind,
        "account": account,
        "accounts": scope,
    }
    rows = service.list_alerts(**filters, limit=limit, offset=offset)
    total = service.count_alerts(**filters)
    return AlertPage(items=[AlertOut.of(r) for r in rows], total=total, limit=limit, offset=offset)


@router.post("/alerts/evaluate", response_model=EvaluationOut)
def evaluate_alerts(
    principal: Annotated[Principal, Depends(admin_write)],
    services: Annotated[Services, Depends(get_services)],
) -> EvaluationOut:
    """Evaluate every alert condition now (the daemon also does it on a timer): open new
    alerts, update those still holding, resolve those whose condition cleared."""
    summary = _alerts(services).evaluate()
    return EvaluationOut(**summary.to_dict())


@router.post("/alerts/deliver", response_model=DeliveryReportOut)
def deliver_alerts(
    principal: Annotated[Principal, Depends(admin_write)],
    services: Annotated[Services, Depends(get_services)],
) -> DeliveryReportOut:
    """Send the due webhook and email deliveries now (the daemon also does it on a timer).
    A failed attempt is recorded and retried later; it is not an error of this request."""
    report = DeliveryService(services.db, services.settings, services.clock).deliver_due()
    return DeliveryReportOut(**report.to_dict())


# ":int": "/alerts/evaluate" is not an alert, so a GET of it is 405, not a bad id.
@router.get("/alerts/{alert_id:int}", response_model=AlertDetailOut)
def get_alert(
    alert_id: AlertId,
    principal: Annotated[Principal, Depends(any_reader)],
    services: Annotated[Services, Depends(get_services)],
) -> AlertDetailOut:
    """One alert with its deliveries (oldest first)."""
    service = _alerts(services)
    record = service.get_alert(alert_id)
    _visible(principal, record)
    return AlertDetailOut(
        **AlertOut.of(record).model_dump(),
        deliveries=[DeliveryOut.of(d) for d in service.deliveries(alert_id)],
    )


@router.post("/alerts/{alert_id}/acknowledge", response_model=AlertOut)
def acknowledge_alert(
    alert_id: AlertId,
    principal: Annotated[Principal, Depends(admin_write)],
    services: Annotated[Services, Depends(get_services)],
    body: AcknowledgeIn | None = None,
) -> AlertOut:
    """Mark an open alert as seen (by this token's name): it stays active, so nothing is
    raised again while its condition lasts, and it still resolves when the condition ends.
    409 if it is already acknowledged or resolved."""
    given = body or AcknowledgeIn()
    return AlertOut.of(_alerts(services).acknowledge(alert_id, principal.name, note=given.note))


@router.post("/alerts/{alert_id}/resolve", response_model=AlertOut)
def resolve_alert(
    alert_id: AlertId,
    body: ResolveIn,
    principal: Annotated[Principal, Depends(admin_write)],
    services: Annotated[Services, Depends(get_services)],
) -> AlertOut:
    """Close an alert by hand, with a note. If its condition still holds, the next
    evaluation opens a fresh alert: acknowledge to silence one instead. 409 if already
    resolved."""
    return AlertOut.of(_alerts(services).resolve(alert_id, principal.name, body.note))
