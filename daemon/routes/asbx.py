"""aws-slurm-burst (ASBX): its real AWS cost for a job, its epilog call, the integration's status.

The cost is applied by ``asbb_core.integrations.cost_reports`` -- linked to the job's hold,
charged once -- the same way as the export files the daemon's watcher ingests from
``asbx.spool_dir``. The answers are ``asbb_core.integrations.views``' views.
"""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import AliasChoices, ConfigDict, Field, model_validator

from asbb_core.integrations.cost_reports import (
    Applied,
    CostReports,
    mark_processed,
    parse_record,
)
from asbb_core.integrations.cost_reports import asbx_status as integration_status
from asbb_core.integrations.files import NotReadyError, asbx_limits, read_json
from asbb_core.integrations.views import AsbxStatusView, CostReportView, EpilogView
from asbb_core.ledger.reconcile import JobEnd, reconcile_job
from asbb_core.store.models import Role
from asbb_core.values.context import Source
from asbb_core.values.errors import ConflictError, ValidationError
from daemon.auth import Principal, plugin_access, requires
from daemon.errors import request_id_of
from daemon.schemas import ApiModel, AsbxHoldId, AsbxJobId, MoneyIn, UnixTime
from daemon.services import Services, get_services
from daemon.wire import WireRoute

router = APIRouter(tags=["asbx"], route_class=WireRoute)

status_access = requires(Role.READER, Role.PLUGIN)


def _unwrap(data: Any) -> Any:
    """ASBX may send the facts inside ``job_cost_data`` (its reconcile request's shape)."""
    if isinstance(data, dict) and isinstance(data.get("job_cost_data"), dict):
        return {**data["job_cost_data"], **{k: v for k, v in data.items() if k != "job_cost_data"}}
    return data


class CostReportIn(ApiModel):
    """A job's real cost. The spool file's field names, and ASBX's API names in brackets."""

    model_config = ConfigDict(extra="ignore")

    job_id: AsbxJobId
    actual_cost: MoneyIn = Field(validation_alias=AliasChoices("actual_cost", "aws_cost"))
    """What the job really cost on AWS [aws_cost]."""
    transaction_id: AsbxHoldId = None
    account: str | None = Field(default=None, max_length=64)
    user_id: str | None = Field(default=None, max_length=64)
    partition: str | None = Field(default=None, max_length=64)
    compute_cost: MoneyIn | None = None
    storage_cost: MoneyIn | None = None
    network_cost: MoneyIn | None = None
    cost_breakdown: dict[str, MoneyIn] | None = None
    """{compute, storage, network}: another way to give the three costs above."""
    spot_savings: MoneyIn | None = None
    instance_types: list[str] = Field(default_factory=list, max_length=32)
    duration_hours: Decimal | None = Field(default=None, ge=0, le=100_000)
    success: bool = True
    export_time: datetime | None = None

    @model_validator(mode="before")
    @classmethod
    def _job_cost_data(cls, data: Any) -> Any:
        return _unwrap(data)

    def record(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


def apply_report(
    reports: CostReports,
    data: dict[str, Any],
    *,
    origin: str,
    principal: Principal,
    request: Request,
    services: Services,
    file_name: str | None = None,
) -> Applied:
    record = parse_record(data)
    done = reports.apply(
        record,
        origin=origin,
        actor=principal.name,
        source=Source.ASBX if principal.role is Role.PLUGIN else Source.API,
        file_name=file_name,
        correlation_id=request_id_of(request) or None,
    )
    services.metrics.cost_reports.labels(origin=origin, outcome=done.outcome).inc()
    return done


@router.post("/asbx/reconcile", response_model=CostReportView)
def asbx_reconcile(
    body: CostReportIn,
    request: Request,
    principal: Annotated[Principal, Depends(plugin_access)],
    services: Annotated[Services, Depends(get_services)],
) -> CostReportView:
    """Charge a job its real AWS cost, linked to its hold (plugin or admin token).

    A hold still open is reconciled with this cost; a job already reconciled (by the epilog,
    at the local model's price) is brought to it, the difference charged or refunded. Sending
    the same cost again changes nothing (outcome ``unchanged``). 409 ``hold_not_found_yet``:
    no hold is linked to the job yet -- send ``transaction_id`` or retry after its reconcile."""
    done = apply_report(
        services.reports,
        body.record(),
        origin="api",
        principal=principal,
        request=request,
        services=services,
    )
    return CostReportView.of(done)


class EpilogIn(ApiModel):
    """What aws-slurm-burst's epilog knows about a job that ended."""

    model_config = ConfigDict(extra="ignore")

    job_id: AsbxJobId
    transaction_id: AsbxHoldId = None
    account: str | None = Field(default=None, max_length=64)
    partition: str | None = Field(default=None, max_length=64)
    user_id: str | None = Field(default=None, max_length=64)
    job_state: str | None = Field(default=None, max_length=32)
    exit_code: int | None = None
    submit_time: UnixTime | None = None
    """Unix time."""
    start_time: UnixTime | None = None
    end_time: UnixTime | None = None
    allocated_nodes: int | None = Field(default=None, ge=1, le=1_000_000)
    allocated_cpus: int | None = Field(default=None, ge=1, le=1_000_000)
    allocated_gpus: int | None = Field(default=None, ge=0, le=1_000_000)
    requested_memory: str | None = Field(default=None, max_length=32)
    asbx_data_path: str | None = Field(default=None, max_length=4096)
    """Its ``job-<id>-asbb-reconciliation.json``; must be inside the daemon's
    ``asbx.spool_dir``. Without it, that folder is looked in by the job's id."""


def _export_file(services: Services, body: EpilogIn) -> Path | None:
    """The export to import: ``asbx_data_path``, else the job's file in ``asbx.spool_dir``
    (None: there is none). Only the folder named is resolved, never the file itself: a link
    there would lead anywhere, so ``_read_export`` refuses it instead of following it."""
    folder = Path(services.settings.asbx.spool_dir).resolve()
    if body.asbx_data_path is None:
        path = folder / f"job-{body.job_id}-asbb-reconciliation.json"
        return path if os.path.lexists(path) else None
    if "\x00" in body.asbx_data_path:  # no file name holds one; the OS would refuse it
        raise ValidationError(
            "asbx_data_path: contains a NUL character, so it names no file",
            field="asbx_data_path",
        )
    given = Path(body.asbx_data_path)
    try:
        parent = given.parent.resolve(strict=True)
    except (OSError, RuntimeError):  # missing, unreadable, or a loop of links
        parent = None
    if parent is None or not parent.is_relative_to(folder) or given.name in ("", ".", ".."):
        raise ValidationError(
            f"asbx_data_path: must be a file inside the daemon's asbx.spool_dir ({folder})",
            field="asbx_data_path",
        )
    path = parent / given.name
    if not os.path.lexists(path):
        raise ValidationError(f"asbx_data_path: {path} does not exist", field="asbx_data_path")
    return path


def _read_export(services: Services, path: Path, job_id: str) -> Any:
    """The export's JSON, read as a hostile file (``asbb_core.integrations.files``: no
    links, a known writer, at most ``asbx.max_file_bytes``, 64 levels deep). Every refusal
    is a 422 naming ``asbx_data_path``; a file being replaced meanwhile is a 409 (retry)."""
    # The request is its writer saying the file is complete: no settling, and JSON that
    # stops short is truncated, not worth waiting for.
    limits = replace(
        asbx_limits(services.settings.asbx), settle_seconds=0, incomplete_wait_seconds=0
    )
    try:
        data = read_json(path, limits)
    except ValidationError as exc:
        raise ValidationError(
            f"asbx_data_path: {path.name} is refused: {exc.message}", field="asbx_data_path"
        ) from None
    except NotReadyError as exc:
        raise ConflictError(
            f"asbx_data_path: {path.name} {exc.reason}; send the request again",
            field="asbx_data_path",
        ) from None
    except FileNotFoundError:
        raise ValidationError(
            f"asbx_data_path: {path.name} does not exist", field="asbx_data_path"
        ) from None
    except OSError as exc:  # permissions, I/O
        raise ValidationError(
            f"asbx_data_path: {path.name} cannot be read ({exc.strerror or exc})",
            field="asbx_data_path",
        ) from None
    if isinstance(data, dict) and "job_id" in data and str(data["job_id"]) != job_id:
        raise ValidationError(
            f"asbx_data_path: {path.name} is aws-slurm-burst's export for job "
            f"{str(data['job_id'])[:64]!r}, not job {job_id}",
            field="asbx_data_path",
        )
    return data


@router.post("/asbx/epilog", response_model=EpilogView)
def asbx_epilog(
    body: EpilogIn,
    request: Request,
    principal: Annotated[Principal, Depends(plugin_access)],
    services: Annotated[Services, Depends(get_services)],
) -> EpilogView:
    """A job ended (aws-slurm-burst's epilog; plugin or admin token): charge it.

    With its export file (``asbx_data_path``, or found in ``asbx.spool_dir`` by job id) the
    real AWS cost is charged and the file moved to ``processed/``; without one, the job is
    priced by the local model from its run time and allocated resources. Either way it is the
    job's one reconcile: the epilog, a replay or the watcher coming later charge nothing twice."""
    path = _export_file(services, body)
    if path is not None:
        data = _read_export(services, path, body.job_id)
        if isinstance(data, dict) and body.transaction_id and not data.get("transaction_id"):
            data["transaction_id"] = body.transaction_id
        done = apply_report(
            services.reports,
            data,
            origin="epilog",
            principal=principal,
            request=request,
            services=services,
            file_name=path.name,
        )
        if path.parent == Path(services.settings.asbx.spool_dir).resolve():
            mark_processed(path)
        return EpilogView.imported(body.job_id, done)
    if body.start_time is None or body.end_time is None:
        raise ValidationError(
            "start_time: give start_time and end_time (or asbx_data_path) to charge the job",
            field="start_time",
        )
    elapsed = max(0, body.end_time - body.start_time)
    link = services.reports.link_job(body.job_id, hold_id=body.transaction_id, account=body.account)
    result = reconcile_job(
        services.ledger,
        JobEnd(
            job_id=body.job_id,
            hold_id=link.hold.id if link.hold else None,
            elapsed=timedelta(seconds=elapsed),
            nodes=body.allocated_nodes,
            cpus=body.allocated_cpus,
            gpus=body.allocated_gpus,
            memory=body.requested_memory,
            state=body.job_state,
            metadata={"reported_by": "asbx-epilog", "exit_code": body.exit_code},
            account=None if link.hold else link.account,
            partition=body.partition,
            user=body.user_id,
        ),
        actor=principal.name,
        source=Source.ASBX if principal.role is Role.PLUGIN else Source.API,
        correlation_id=request_id_of(request) or None,
    )
    services.metrics.reconciles.labels(outcome="replayed" if result.replayed else "posted").inc()
    if body.end_time is not None and not result.replayed:
        lag = services.clock().timestamp() - body.end_time
        services.metrics.reconcile_lag.observe(max(0.0, lag))
    return EpilogView.priced(body.job_id, result)


@router.get("/asbx/status", response_model=AsbxStatusView)
def asbx_status(
    principal: Annotated[Principal, Depends(status_access)],
    services: Annotated[Services, Depends(get_services)],
) -> AsbxStatusView:
    """The ASBX integration: the export folder's files and the cost reports applied."""
    return AsbxStatusView.of(integration_status(services.reports))
