"""Health, version and metrics (no token needed: load balancers and Prometheus call them;
per-account metrics need one)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Any

from alembic.runtime.migration import MigrationContext
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from asbb_core.store.migrate import head_revision, knows_revision
from asbb_core.store.models import Role
from daemon.auth import bearer, principal_of
from daemon.routes.accounts import visible_accounts
from daemon.services import Services, get_services

router = APIRouter(tags=["system"])


def asbb_version() -> str:
    try:
        return version("asbb")
    except PackageNotFoundError:
        return "0+unknown"


@router.get("/health")
def health(services: Annotated[Services, Depends(get_services)]) -> JSONResponse:
    """200 when the database answers and its schema is current; 503 otherwise."""
    body: dict[str, Any] = {"status": "ok", "database": services.db.backend}
    try:
        with services.db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            current = MigrationContext.configure(conn).get_current_revision()
        head = head_revision()
        body["schema"] = {"current": current, "head": head}
        if current != head and current is not None and not knows_revision(current):
            # A newer asbb migrated it: a rolling upgrade. Migrations only add (tables,
            # columns, indexes), so this daemon keeps serving until it is replaced.
            body["schema"]["newer"] = True
        elif current != head:
            body["status"] = "degraded"
            body["problem"] = "the database schema is not current; run 'asbb database migrate'"
    except Exception as exc:  # any failure to reach the database is "unavailable"
        body["status"] = "unavailable"
        body["problem"] = str(getattr(exc, "orig", exc)).strip().splitlines()[0][:200]
    return JSONResponse(body, status_code=200 if body["status"] == "ok" else 503)


@router.get("/version")
def get_version() -> dict[str, str]:
    return {"name": "asbb", "version": asbb_version(), "api": "v1"}


@router.get(
    "/metrics",
    response_class=Response,
    # The token is optional: without one the answer is the bank's totals.
    openapi_extra={"security": [{}, {"HTTPBearer": []}]},
)
def metrics(
    request: Request,
    services: Annotated[Services, Depends(get_services)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)] = None,
) -> Response:
    """Prometheus text exposition. Without a token: the bank's totals and the daemon's own
    counters. With a reader or admin token (or `daemon.public_account_metrics`), each
    account's limit, charged and held too (a scoped reader's accounts only); other tokens
    see what anyone sees."""
    body = generate_latest(services.metrics.registry)
    if credentials is not None and credentials.credentials.strip():
        principal = principal_of(request, credentials)  # a bad secret is 401, not ignored
        if principal.role in (Role.READER, Role.ADMIN):
            body += services.metrics.account_series(visible_accounts(principal))
    elif services.settings.daemon.public_account_metrics:
        body += services.metrics.account_series(None)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
