"""The ASGI application: ``create_app(settings)`` builds it; uvicorn serves it (daemon.main)."""

from __future__ import annotations

import json
import logging
import re
import shutil
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from asbb_core.alerts.conditions import AlertEvaluator
from asbb_core.alerts.delivery import AlertDispatcher, DeliveryService
from asbb_core.funding.allocations import AllocationScheduler
from asbb_core.integrations.cost_reports import AsbxWatcher
from asbb_core.integrations.files import spool_limits
from asbb_core.integrations.recovery import RecoverySweeper
from asbb_core.integrations.slurm import Slurm
from asbb_core.integrations.spool import SpoolReplayer, ledger_sender
from asbb_core.settings import Settings
from asbb_core.store.database import Database
from asbb_core.store.periodic import PeriodicTask
from asbb_core.values import wire
from asbb_core.values.context import Clock, Context, Source, utcnow
from daemon.body_limit import BodyLimit
from daemon.errors import install_error_handlers
from daemon.metrics import Metrics
from daemon.query_params import known_query_only, storable_text_only
from daemon.routes import (
    accounts,
    adjustments,
    agency_reports,
    alerts,
    allocations,
    analytics,
    asba,
    asbx,
    audit,
    budget,
    fleet,
    grants,
    holds,
    integration,
    original,
    reports,
    system,
    transactions,
    usage,
)
from daemon.routes.system import asbb_version
from daemon.schemas import ERROR_RESPONSES
from daemon.services import Services

log = logging.getLogger("asbb.daemon")
access_log = logging.getLogger("asbb.daemon.access")
API_PREFIX = "/api/v1"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,64}$")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: easy to ship to any log system."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def log_config(level: str) -> dict[str, Any]:
    """logging.dictConfig for uvicorn: every process (workers too) logs JSON lines to stderr."""
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "daemon.app.JsonFormatter"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": level, "propagate": False},
            # our middleware logs each request, with its request id
            "uvicorn.access": {"handlers": [], "propagate": False},
            "asbb": {"handlers": ["stderr"], "level": level, "propagate": False},
        },
    }


class HoldSweeper(PeriodicTask):
    """Expires holds past their timeout every ``interval`` seconds, in the background, and
    purges the records of unkeyed writes once no retry can come (``purge_generated``).

    Safe with several daemons: each hold is expired under its row lock, exactly once.
    """

    def __init__(self, services: Services, interval: int) -> None:
        super().__init__("hold-sweeper", interval, self.run_once, join_timeout=10)
        self.services = services

    def run_once(self) -> None:
        ledger = self.services.ledger
        expired = ledger.expire_holds(ctx=Context(actor="asbb-daemon", source=Source.RECOVERY))
        if expired:
            log.info("expired %d hold(s)", len(expired))
        purged = ledger.purge_retry_records()
        if purged:
            log.info("purged %d retry record(s) older than a day", purged)


class RequestContext:
    """Pure ASGI middleware (cheaper than BaseHTTPMiddleware on the hot path): gives every
    request an id (``X-Request-ID``, taken from the caller when well formed), counts it, and
    logs it as one JSON line."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = ""
        for key, value in scope.get("headers", ()):
            if key == b"x-request-id":
                given = value.decode("latin-1")
                break
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        started_response = False

        async def send_tracking(message: Message) -> None:
            nonlocal started_response
            started_response = started_response or message["type"] == "http.response.start"
            await send_with_id(message)

        try:
            await self.app(scope, receive, send_tracking)
        except Exception:
            # Answer here (not in Starlette's outer error middleware) so even a 500 carries
            # the request id in its header and is counted and logged like any response.
            log.exception("unexpected error (request %s)", request_id)
            if started_response:
                raise
            status = 500
            body = json.dumps(
                {
                    "error": {
                        "code": "internal_error",
                        "message": "internal error; see the daemon's log",
                        "details": {},
                        "field": None,
                    },
                    "request_id": request_id,
                    "timestamp": wire.timestamp(datetime.now(UTC)),
                }
            ).encode()
            await send_with_id(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send_with_id({"type": "http.response.body", "body": body})
        finally:
            route = getattr(scope.get("route"), "path", None)
            if route is None:
                route = "unmatched"
            elif scope.get("path", "").startswith(API_PREFIX):
                route = API_PREFIX + route  # included routers report paths without it
            method = scope.get("method", "")
            self.metrics.requests.labels(method=method, route=route, status=str(status)).inc()
            if access_log.isEnabledFor(logging.INFO):
                access_log.info(
                    "%s %s %s",
                    method,
                    scope.get("path", ""),
                    status,
                    extra={
                        "fields": {
                            "request_id": request_id,
                            "method": method,
                            "path": scope.get("path", ""),
                            "status": status,
                            "ms": round((time.perf_counter() - started) * 1000, 2),
                        }
                    },
                )


def create_app(settings: Settings, *, db: Database | None = None, clock: Clock = utcnow) -> FastAPI:
    """Build the app. Tests pass their own database and clock."""
    database = db or Database(settings.database.url, pool_size=settings.database.pool_size)
    services = Services.build(settings, database, clock)
    timers: list[PeriodicTask] = [
        HoldSweeper(services, settings.daemon.sweep_interval_seconds),
        SpoolReplayer(
            settings.daemon.spool_dir,
            ledger_sender(services.ledger, actor="asbb-daemon"),
            settings.daemon.spool_replay_seconds,
            limits=spool_limits(settings.daemon),
        ),
        AllocationScheduler(services.ledger, settings.allocations.process_interval_seconds),
        AlertEvaluator(services.bank.alerts, settings.alerts.evaluate_interval_seconds),
        AlertDispatcher(
            DeliveryService(database, settings, clock), settings.alerts.delivery_interval_seconds
        ),
    ]
    timers.append(
        AsbxWatcher(
            settings.asbx.spool_dir,
            services.reports,
            settings.asbx.interval_seconds,
            settings.asbx.link_wait_seconds,
            on_item=lambda _, outcome: services.metrics.cost_reports.labels(
                origin="spool", outcome=outcome
            ).inc(),
        )
    )
    if settings.daemon.recovery_interval_seconds and shutil.which("sacct"):
        timers.append(
            RecoverySweeper(
                services.ledger,
                Slurm(timeout=30),
                settings.daemon.recovery_interval_seconds,
                older_than=timedelta(seconds=settings.daemon.recovery_grace_seconds),
            )
        )
    elif settings.daemon.recovery_interval_seconds:
        log.warning("orphan-hold recovery is off on this host: sacct is not installed")

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        for timer in timers:
            timer.start()
        log.info("asbb-daemon ready", extra={"fields": {"database": database.backend}})
        try:
            yield
        finally:
            for timer in reversed(timers):
                timer.stop()
            services.close()
            if db is None:
                database.dispose()

    app = FastAPI(
        title="asbb",
        version=asbb_version(),
        summary="The budget bank for Slurm clusters that burst to AWS.",
        description=(
            "Budget checks and reconciles for slurmctld's plugin and epilog, and the REST API "
            "over the ledger. Authenticate with `Authorization: Bearer <token>` "
            "(`asbb token create`).\n\n"
            "The wire format (the one the advisor's client and the original tool's Go types "
            "read): money, ratios and percents are JSON numbers written exactly from the "
            "Decimal (`12.50`; read them as decimals, not floats, to keep every cent), and "
            "accepted as numbers or strings; dates and times are RFC 3339 date-times in UTC "
            "(a calendar day is its midnight, `2025-09-01T00:00:00Z`), and a calendar day is "
            "accepted as `2025-09-01` too. A list is a JSON array; a paged one carries "
            "`X-Total-Count` (every row that matched) and an RFC 8288 `Link` header "
            "(rel `first`, `prev`, `next`, `last`; `next` alone for the journal, by `before_id`)."
        ),
        lifespan=lifespan,
    )
    app.state.services = services
    app.state.metrics = services.metrics
    install_error_handlers(app)

    # Added last, so it runs first: the request id, then the size cap, then the handlers.
    app.add_middleware(BodyLimit, max_bytes=settings.daemon.max_request_bytes)
    app.add_middleware(RequestContext, metrics=services.metrics)
    app.include_router(system.router)
    for module in (
        budget,
        fleet,
        accounts,
        transactions,
        audit,
        holds,
        adjustments,
        usage,
        allocations,
        analytics,
        grants,
        reports,
        agency_reports,
        alerts,
        asbx,
        asba,
        integration,
        original,
    ):
        _document_roles(module.router)
        app.include_router(
            module.router,
            prefix=API_PREFIX,
            responses=ERROR_RESPONSES,
            dependencies=[Depends(known_query_only), Depends(storable_text_only)],
        )
    return app


def _roles_of(dependant: Dependant) -> list[str]:
    for dependency in dependant.dependencies:
        roles = getattr(dependency.call, "asbb_roles", None) or _roles_of(dependency)
        if roles:
            return list(roles)
    return []


def _document_roles(router: APIRouter) -> None:
    """Each operation's token roles (``daemon.auth.requires``) as ``x-asbb-roles`` in the
    OpenAPI spec, so the API reference says who may call it from the code itself."""
    for route in router.routes:
        if isinstance(route, APIRoute):
            roles = _roles_of(route.dependant)
            if roles:
                route.openapi_extra = {**(route.openapi_extra or {}), "x-asbb-roles": roles}
