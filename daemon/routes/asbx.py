"""aws-slurm-burst (ASBX): its real AWS cost for a job, its epilog call, the integration's status.

The cost is applied by ``asbb_core.integrations.cost_reports`` -- linked to the job's hold, charged
once --
the same way as the export files the daemon's watcher ingests from ``asbx.spool_dir``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import AliasChoices, ConfigDict, Field, model_validator

from asbb_core.integrations.cost_reports import (
    PROCESSED,
    REJECTED,
    Applied,
    CostReports,
    count_files,
    estimate_accuracy,
    mark_processed,
    parse_record,
    report_files,
)
from asbb_core.ledger.reconcile import JobEnd, reconcile_job
from asbb_core.store.models import Role
from asbb_core.values.context import Source
from asbb_core.values.errors import ValidationError
from asbb_core.values.money import round_posting
from daemon.auth import Principal, plugin_access, requires
from daemon.errors import request_id_of
from daemon.schemas import ApiModel, AsbxHoldId, AsbxJobId, MoneyIn, MoneyOut
from daemon.services import Services, get_services

router = APIRouter(tags=["asbx"])

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


class CostReportOut(ApiModel):
    success: bool
    reconciliation_id: str
    """The cost report's id."""
    outcome: str
    """reconciled (its hold was posted), corrected (the difference charged or refunded),
    charged (it ran without a hold), unchanged (it already stood at this cost)."""
    job_id: str
    account: str
    original_transaction: str | None
    """The job's hold id."""
    estimated_cost: MoneyOut | None
    actual_cost: MoneyOut
    previous_charge: MoneyOut
    cost_variance: MoneyOut | None
    """actual - estimated."""
    cost_variance_pct: str | None
    estimation_accuracy: str | None
    """1 - |actual - estimate| / max(actual, estimate): 1 is exact."""
    additional_charge: MoneyOut
    refund_amount: MoneyOut
    budget_remaining: MoneyOut | None
    message: str
    warnings: list[str]

    @classmethod
    def of(cls, done: Applied) -> CostReportOut:
        estimate, actual = done.estimate, done.actual_cost
        variance = actual - estimate if estimate is not None else None
        pct = (
            f"{(variance / estimate * 100).quantize(Decimal('0.1'))}"
            if variance is not None and estimate
            else None
        )
        score = estimate_accuracy(estimate, actual) if estimate is not None else None
        accuracy = f"{score.quantize(Decimal('0.0001'))}" if score is not None else None
        return cls(
            success=True,
            reconciliation_id=str(done.report_id),
            outcome=done.outcome,
            job_id=done.job_id,
            account=done.account,
            original_transaction=done.hold_id,
            estimated_cost=estimate,
            actual_cost=actual,
            previous_charge=done.previous_charge,
            cost_variance=round_posting(variance) if variance is not None else None,
            cost_variance_pct=pct,
            estimation_accuracy=accuracy,
            additional_charge=done.charged,
            refund_amount=done.refunded,
            budget_remaining=done.available,
            message=done.message,
            warnings=done.warnings,
        )


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


@router.post("/asbx/reconcile", response_model=CostReportOut)
def asbx_reconcile(
    body: CostReportIn,
    request: Request,
    principal: Annotated[Principal, Depends(plugin_access)],
    services: Annotated[Services, Depends(get_services)],
) -> CostReportOut:
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
    return CostReportOut.of(done)


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
    submit_time: int | None = Field(default=None, ge=0)
    """Unix time."""
    start_time: int | None = Field(default=None, ge=0)
    end_time: int | None = Field(default=None, ge=0)
    allocated_nodes: int | None = Field(default=None, ge=1, le=1_000_000)
    allocated_cpus: int | None = Field(default=None, ge=1, le=1_000_000)
    allocated_gpus: int | None = Field(default=None, ge=0, le=1_000_000)
    requested_memory: str | None = Field(default=None, max_length=32)
    asbx_data_path: str | None = Field(default=None, max_length=4096)
    """Its ``job-<id>-asbb-reconciliation.json``; must be inside the daemon's
    ``asbx.spool_dir``. Without it, that folder is looked in by the job's id."""


class EpilogOut(ApiModel):
    success: bool
    job_id: str
    reconciliation_triggered: bool
    reconciliation_id: str | None
    """The cost report's id (when aws-slurm-burst's cost was imported)."""
    transaction_id: str | None
    data_import_status: str
    """imported (the real AWS cost), local_model (priced from the run time), replayed."""
    charged: MoneyOut
    refunded: MoneyOut
    message: str
    next_steps: list[str]


def _export_file(services: Services, body: EpilogIn) -> Path | None:
    folder = Path(services.settings.asbx.spool_dir).resolve()
    if body.asbx_data_path is not None:
        path = Path(body.asbx_data_path).resolve()
        if not path.is_relative_to(folder):
            raise ValidationError(
                f"asbx_data_path: must be inside the daemon's asbx.spool_dir ({folder})",
                field="asbx_data_path",
            )
        if not path.is_file():
            raise ValidationError(f"asbx_data_path: {path} does not exist", field="asbx_data_path")
        return path
    path = folder / f"job-{body.job_id}-asbb-reconciliation.json"
    return path if path.is_file() else None


@router.post("/asbx/epilog", response_model=EpilogOut)
def asbx_epilog(
    body: EpilogIn,
    request: Request,
    principal: Annotated[Principal, Depends(plugin_access)],
    services: Annotated[Services, Depends(get_services)],
) -> EpilogOut:
    """A job ended (aws-slurm-burst's epilog; plugin or admin token): charge it.

    With its export file (``asbx_data_path``, or found in ``asbx.spool_dir`` by job id) the
    real AWS cost is charged and the file moved to ``processed/``; without one, the job is
    priced by the local model from its run time and allocated resources. Either way it is the
    job's one reconcile: the epilog, a replay or the watcher coming later charge nothing twice."""
    path = _export_file(services, body)
    if path is not None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValidationError(
                f"asbx_data_path: {path.name} is not a readable JSON file ({exc})",
                field="asbx_data_path",
            ) from None
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
        return EpilogOut(
            success=True,
            job_id=body.job_id,
            reconciliation_triggered=True,
            reconciliation_id=str(done.report_id),
            transaction_id=done.hold_id,
            data_import_status="imported",
            charged=done.charged,
            refunded=done.refunded,
            message=done.message,
            next_steps=[],
        )
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
    return EpilogOut(
        success=True,
        job_id=body.job_id,
        reconciliation_triggered=not result.replayed,
        reconciliation_id=None,
        transaction_id=result.hold_id,
        data_import_status="replayed" if result.replayed else "local_model",
        charged=result.charged if not result.replayed else Decimal(0),
        refunded=result.released if not result.replayed else Decimal(0),
        message=(
            f"job {body.job_id} was already reconciled; nothing more charged"
            if result.replayed
            else f"charged {result.charged:.2f} by the local model; released {result.released:.2f}"
        ),
        next_steps=[
            "when aws-slurm-burst exports the job's real cost, its file in asbx.spool_dir "
            "(or POST /api/v1/asbx/reconcile) corrects the charge"
        ],
    )


class StatusOut(ApiModel):
    integration_enabled: bool
    """The daemon ingests ``asbx.spool_dir`` (interval > 0 and the folder exists)."""
    spool_dir: str
    interval_seconds: int
    files_waiting: int
    files_processed: int
    files_rejected: int
    last_data_import: datetime | None
    total_jobs_reconciled: int
    successful_reconciliations: int
    failed_reconciliations: int
    reports_by_outcome: dict[str, int]
    cost_model_accuracy: str | None
    """Mean of 1 - |actual - estimate| / max(actual, estimate) over reports of jobs with a
    hold (1 is exact)."""
    health_status: str
    """healthy, degraded (files rejected or waiting long), disabled."""
    problems: list[str]
    last_health_check: datetime


@router.get("/asbx/status", response_model=StatusOut)
def asbx_status(
    principal: Annotated[Principal, Depends(status_access)],
    services: Annotated[Services, Depends(get_services)],
) -> StatusOut:
    """The ASBX integration: the export folder's files and the cost reports applied."""
    settings = services.settings.asbx
    folder = Path(settings.spool_dir)
    stats = services.reports.status()
    waiting = report_files(folder)
    rejected = count_files(folder, REJECTED)
    problems = []
    enabled = settings.interval_seconds > 0 and folder.is_dir()
    if not folder.is_dir():
        problems.append(f"{folder} does not exist: aws-slurm-burst's exports are not ingested")
    elif settings.interval_seconds == 0:
        problems.append("asbx.interval_seconds is 0: exports are ingested only by the CLI")
    if rejected:
        problems.append(f"{rejected} export file(s) in {folder / REJECTED}: see their .reason")
    now = services.clock()
    stale = [
        p.name
        for p in waiting
        if now.timestamp() - p.stat().st_mtime > settings.link_wait_seconds / 2
    ]
    if stale:
        problems.append(f"{len(stale)} export file(s) waiting long for their job's hold")
    applied = sum(v for k, v in stats.by_outcome.items() if k != "rejected")
    return StatusOut(
        integration_enabled=enabled,
        spool_dir=str(folder),
        interval_seconds=settings.interval_seconds,
        files_waiting=len(waiting),
        files_processed=count_files(folder, PROCESSED),
        files_rejected=rejected,
        last_data_import=stats.last_received,
        total_jobs_reconciled=stats.jobs,
        successful_reconciliations=applied,
        failed_reconciliations=stats.by_outcome.get("rejected", 0),
        reports_by_outcome=stats.by_outcome,
        cost_model_accuracy=str(stats.accuracy) if stats.accuracy is not None else None,
        health_status="disabled" if not enabled else ("degraded" if problems else "healthy"),
        problems=problems,
        last_health_check=now.astimezone(UTC),
    )
