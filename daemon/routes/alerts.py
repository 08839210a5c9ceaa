"""The alerts resource of the REST API: list and show alerts, acknowledge or resolve one;
evaluate the conditions and send due deliveries on demand (admin).

Readers see the alerts of the accounts they may read; a reader limited to some accounts does
not see global alerts (stuck holds, spool backlog, grant periods). Acknowledging silences an
alert while its condition lasts; resolving one whose condition still holds makes the next
evaluation open a fresh alert.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import ConfigDict, Field

from asbb_core.alerts.conditions import MAX_ID, MAX_PAGE, AlertRecord, AlertService
from asbb_core.alerts.delivery import DeliveryService
from asbb_core.alerts.views import (
    AlertDetailView,
    AlertPage,
    AlertView,
    DeliveryReportView,
    EvaluationView,
)
from asbb_core.store.models import AlertSeverity, AlertStatus
from asbb_core.values.errors import ValidationError
from daemon.auth import Principal, admin_write, any_reader
from daemon.errors import ApiError
from daemon.routes.accounts import account_name, visible_accounts
from daemon.schemas import ApiModel, pick
from daemon.services import Services, get_services
from daemon.wire import WireRoute

router = APIRouter(tags=["alerts"], route_class=WireRoute)

AlertId = Annotated[int, Path(ge=1, le=MAX_ID, description="The alert's id")]
Kind = Literal["usage", "variance", "exhaustion", "grant-period", "stuck-holds", "spool-backlog"]


class AcknowledgeIn(ApiModel):
    """asbb's body, or the original tool's (``alert_id``, ``acknowledged_by``, ``notes``)."""

    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(default=None, max_length=500)
    """Kept in the alert's details (``note``)."""
    notes: str | None = Field(default=None, max_length=500)
    """The original tool's name for ``note``."""
    alert_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    """The original tool's: the alert in the URL (a different one is refused)."""
    acknowledged_by: str | None = Field(default=None, max_length=128)
    """The original tool's: who acknowledges. asbb records the token's name, so any other
    name is refused."""


class ResolveIn(ApiModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(min_length=1, max_length=500)
    """Why it is resolved (kept as the alert's resolution)."""


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
    return AlertPage(items=[AlertView.of(r) for r in rows], total=total, limit=limit, offset=offset)


@router.post("/alerts/evaluate", response_model=EvaluationView)
def evaluate_alerts(
    principal: Annotated[Principal, Depends(admin_write)],
    services: Annotated[Services, Depends(get_services)],
) -> EvaluationView:
    """Evaluate every alert condition now (the daemon also does it on a timer): open new
    alerts, update those still holding, resolve those whose condition cleared."""
    return EvaluationView.of(_alerts(services).evaluate())


@router.post("/alerts/deliver", response_model=DeliveryReportView)
def deliver_alerts(
    principal: Annotated[Principal, Depends(admin_write)],
    services: Annotated[Services, Depends(get_services)],
) -> DeliveryReportView:
    """Send the due webhook and email deliveries now (the daemon also does it on a timer).
    A failed attempt is recorded and retried later; it is not an error of this request."""
    report = DeliveryService(services.db, services.settings, services.clock).deliver_due()
    return DeliveryReportView.of(report)


# ":int": "/alerts/evaluate" is not an alert, so a GET of it is 405, not a bad id.
@router.get("/alerts/{alert_id:int}", response_model=AlertDetailView)
def get_alert(
    alert_id: AlertId,
    principal: Annotated[Principal, Depends(any_reader)],
    services: Annotated[Services, Depends(get_services)],
) -> AlertDetailView:
    """One alert with its deliveries (oldest first)."""
    service = _alerts(services)
    record = service.get_alert(alert_id)
    _visible(principal, record)
    return AlertDetailView.of_detail(record, service.deliveries(alert_id))


@router.post("/alerts/{alert_id}/acknowledge", response_model=AlertView)
def acknowledge_alert(
    alert_id: AlertId,
    principal: Annotated[Principal, Depends(admin_write)],
    services: Annotated[Services, Depends(get_services)],
    body: AcknowledgeIn | None = None,
) -> AlertView:
    """Mark an open alert as seen (by this token's name): it stays active, so nothing is
    raised again while its condition lasts, and it still resolves when the condition ends.
    409 if it is already acknowledged or resolved. The original tool's body is taken too:
    its `alert_id` must be the URL's and its `acknowledged_by` the token's name."""
    given = body or AcknowledgeIn()
    if given.alert_id is not None and given.alert_id != alert_id:
        raise ValidationError(
            f"alert_id: {given.alert_id} disagrees with the alert in the URL ({alert_id})",
            field="alert_id",
        )
    who = given.acknowledged_by
    if who is not None and who.strip() and who.strip() != principal.name:
        raise ValidationError(
            f"acknowledged_by: {who.strip()!r} is not this token's name ({principal.name!r}); "
            "asbb records who acknowledged from the token: leave it out",
            field="acknowledged_by",
        )
    note = pick(given, "note", "notes").get("note") or ""
    return AlertView.of(_alerts(services).acknowledge(alert_id, principal.name, note=note))


@router.post("/alerts/{alert_id}/resolve", response_model=AlertView)
def resolve_alert(
    alert_id: AlertId,
    body: ResolveIn,
    principal: Annotated[Principal, Depends(admin_write)],
    services: Annotated[Services, Depends(get_services)],
) -> AlertView:
    """Close an alert by hand, with a note. If its condition still holds, the next
    evaluation opens a fresh alert: acknowledge to silence one instead. 409 if already
    resolved."""
    return AlertView.of(_alerts(services).resolve(alert_id, principal.name, body.note))
