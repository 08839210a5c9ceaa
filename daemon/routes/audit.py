"""The audit trail, read-only: every change that is not money, newest first (admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from asbb_core.store import audit
from daemon.auth import Principal, admin_read
from daemon.schemas import Moment
from daemon.services import Services, get_services
from daemon.wire import WireRoute

router = APIRouter(tags=["audit"], route_class=WireRoute)


@router.get("/audit", response_model=audit.AuditPageView)
def list_audit(
    principal: Annotated[Principal, Depends(admin_read)],
    services: Annotated[Services, Depends(get_services)],
    subject: Annotated[
        str | None,
        Query(max_length=200, description="A subject (account:physics) or a kind (account)"),
    ] = None,
    actor: Annotated[str | None, Query(max_length=128)] = None,
    action: Annotated[str | None, Query(max_length=64, description="e.g. account.update")] = None,
    since: Annotated[Moment | None, Query(description="Changes at or after (ISO 8601)")] = None,
    before_id: Annotated[int | None, Query(ge=1, le=audit.MAX_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=audit.MAX_PAGE)] = 100,
) -> audit.AuditPageView:
    """Who changed what (account status, description and dates, partition limits, tokens,
    grants, schedules), when, from where, with the fields before and after. Admin tokens
    only: it names tokens and people. Page with `before_id`."""
    page = audit.list_events(
        services.db,
        subject=subject,
        actor=actor,
        action=action,
        since=since,
        before_id=before_id,
        limit=limit,
    )
    return audit.AuditPageView.of(page)
