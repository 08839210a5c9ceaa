"""Health, version and metrics (no token needed: load balancers and Prometheus call them;
per-account metrics need one)."""

from __future__ import annotations

import platform
import time
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
from asbb_core.values.wire import timestamp
from daemon.auth import bearer, principal_of
from daemon.routes.accounts import visible_accounts
from daemon.services import Services, get_services
from daemon.wire import WireRoute

router = APIRouter(tags=["system"], route_class=WireRoute)


def asbb_version() -> str:
    try:
        return version("asbb")
    except PackageNotFoundError:
        return "0+unknown"


_STARTED = time.monotonic()
"""When this daemon process loaded its routes: the start of its ``uptime``."""
_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def uptime_text(seconds: float) -> str:
    """A duration as the original tool wrote its uptime: "2h 15m 30s" (days too: "3d 2h ...")."""
    whole = max(int(seconds), 0)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{days}d"] if days else []
    if days or hours:
        parts.append(f"{hours}h")
    if days or hours or minutes:
        parts.append(f"{minutes}m")
    parts.append(f"{secs}s")
    return " ".join(parts)


def _advisor_state(services: Services) -> str:
    """The advisor as the original's ``services.advisor`` says it: asbb never asks it only
    to check, so before the first estimate it is "unknown"."""
    if services.advisor is None:
        return "not configured"
    stats = services.advisor.stats()
    if stats.circuit_open:
        return "unhealthy: circuit open after failures; the local price model is used"
    return "healthy" if stats.calls > stats.failures else "unknown"


@router.get("/health")
def health(services: Annotated[Services, Depends(get_services)]) -> JSONResponse:
    """200 when the database answers and its schema is current; 503 otherwise.

    asbb's fields (`status` ok, degraded or unavailable; `database`, the backend; `schema`;
    `problem`) and the original tool's (`version`, `timestamp`, `services` with
    `database` and `advisor`, `uptime`). Both have `status`: asbb's words are kept, and the
    HTTP status says healthy (200) or not (503) as the original's did."""
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
    body.update(
        version=asbb_version(),
        timestamp=timestamp(services.clock()),
        services={
            "database": "healthy"
            if body["status"] == "ok"
            else f"unhealthy: {body.get('problem', body['status'])}",
            "advisor": _advisor_state(services),
        },
        uptime=uptime_text(time.monotonic() - _STARTED),
    )
    return JSONResponse(body, status_code=200 if body["status"] == "ok" else 503)


@router.get("/version")
def get_version() -> dict[str, str]:
    """asbb's version (`name`, `version`, `api`) and the original tool's build facts
    (`git_commit`, `build_time`, `os`, `arch`; "unknown" when not recorded). asbb is not a
    Go program: `python_version` stands where the original had `go_version`."""
    return {
        "name": "asbb",
        "version": asbb_version(),
        "api": "v1",
        "git_commit": "unknown",
        "build_time": "unknown",
        "python_version": platform.python_version(),
        "os": platform.system().lower() or "unknown",
        "arch": _ARCH.get(platform.machine().lower(), platform.machine().lower() or "unknown"),
    }


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
