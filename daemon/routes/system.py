"""Health, version and metrics (unauthenticated: load balancers and Prometheus call them)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Any

from alembic.runtime.migration import MigrationContext
from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from asbb_core.store.migrate import head_revision, knows_revision
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


@router.get("/metrics", response_class=Response)
def metrics(services: Annotated[Services, Depends(get_services)]) -> Response:
    """Prometheus text exposition."""
    return Response(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)
