"""The outward form of the integrations' results: aws-slurm-burst's cost reports, its epilog
and status, the export folder's ingest, a job's budget context and performance feedback, the
reconcile spool's replay and the recovery sweep. One view each, shared by the REST API and the
CLI (``asbb_core.values.wire``).

The API's views keep the field names and types of the shapes aws-slurm-burst and the advisor
were built against: ``reconciliation_id`` is a string, a ratio or a percent is exact decimal
text ("-12.6", "0.8000"), money is "12.50".
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from asbb_core.funding.grants import PeriodStatus
from asbb_core.integrations.cost_reports import (
    Applied,
    AsbxStatus,
    IngestReport,
    estimate_accuracy,
)
from asbb_core.integrations.feedback import ProfileSummary
from asbb_core.integrations.job_context import JobContext
from asbb_core.integrations.recovery import RecoveryAction, RecoveryReport
from asbb_core.integrations.spool import ReplayReport
from asbb_core.ledger.reconcile import Reconciled
from asbb_core.ledger.views import EntryView, HoldView
from asbb_core.store.models import Account, CostReport, Grant, PerformanceFeedback
from asbb_core.values.money import round_posting
from asbb_core.values.wire import Money, Precise, View

# ---------------------------------------------------------------- aws-slurm-burst


class CostReportView(View):
    """What applying a job's reported cost did (``/asbx/reconcile``,
    ``/integration/cost-update``)."""

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
    estimated_cost: Money | None
    actual_cost: Money
    previous_charge: Money
    cost_variance: Money | None
    """actual - estimated."""
    cost_variance_pct: Precise | None
    """The variance as a percent of the estimate, one decimal ("-12.6")."""
    estimation_accuracy: Precise | None
    """1 - |actual - estimate| / max(actual, estimate): 1 is exact."""
    additional_charge: Money
    refund_amount: Money
    budget_remaining: Money | None
    message: str
    warnings: list[str]
    model_update_applied: bool
    """The cost changed a held job's charge, so cost learning (``asbb calibration``) sees the
    real cost against the estimate from now on."""

    @classmethod
    def of(cls, done: Applied) -> CostReportView:
        estimate, actual = done.estimate, done.actual_cost
        variance = actual - estimate if estimate is not None else None
        pct = (
            (variance / estimate * 100).quantize(Decimal("0.1"))
            if variance is not None and estimate
            else None
        )
        score = estimate_accuracy(estimate, actual) if estimate is not None else None
        return cls(
            success=True,
            reconciliation_id=str(done.report_id),
            outcome=str(done.outcome),
            job_id=done.job_id,
            account=done.account,
            original_transaction=done.hold_id,
            estimated_cost=estimate,
            actual_cost=actual,
            previous_charge=done.previous_charge,
            cost_variance=round_posting(variance) if variance is not None else None,
            cost_variance_pct=pct,
            estimation_accuracy=score.quantize(Decimal("0.0001")) if score is not None else None,
            additional_charge=done.charged,
            refund_amount=done.refunded,
            budget_remaining=done.available,
            message=done.message,
            warnings=list(done.warnings),
            model_update_applied=(
                done.hold_id is not None
                and estimate is not None
                and str(done.outcome) in ("reconciled", "corrected")
            ),
        )


class EpilogView(View):
    """What aws-slurm-burst's epilog call charged (``/asbx/epilog``)."""

    success: bool
    job_id: str
    reconciliation_triggered: bool
    reconciliation_id: str | None
    """The cost report's id (when aws-slurm-burst's cost was imported)."""
    transaction_id: str | None
    data_import_status: str
    """imported (the real AWS cost), local_model (priced from the run time), replayed."""
    charged: Money
    refunded: Money
    message: str
    next_steps: list[str]

    @classmethod
    def imported(cls, job_id: str, done: Applied) -> EpilogView:
        """The job charged its real AWS cost from its export file."""
        return cls(
            success=True,
            job_id=job_id,
            reconciliation_triggered=True,
            reconciliation_id=str(done.report_id),
            transaction_id=done.hold_id,
            data_import_status="imported",
            charged=done.charged,
            refunded=done.refunded,
            message=done.message,
            next_steps=[],
        )

    @classmethod
    def priced(cls, job_id: str, result: Reconciled) -> EpilogView:
        """The job priced by the local model from its run (or found reconciled already)."""
        replayed = result.replayed
        return cls(
            success=True,
            job_id=job_id,
            reconciliation_triggered=not replayed,
            reconciliation_id=None,
            transaction_id=result.hold_id,
            data_import_status="replayed" if replayed else "local_model",
            charged=Decimal(0) if replayed else result.charged,
            refunded=Decimal(0) if replayed else result.released,
            message=(
                f"job {job_id} was already reconciled; nothing more charged"
                if replayed
                else f"charged {result.charged:.2f} by the local model; "
                f"released {result.released:.2f}"
            ),
            next_steps=[
                "when aws-slurm-burst exports the job's real cost, its file in asbx.spool_dir "
                "(or POST /api/v1/asbx/reconcile) corrects the charge"
            ],
        )


class AsbxStatusView(View):
    """The aws-slurm-burst integration (``/asbx/status``, ``asbb asbx status``)."""

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
    cost_model_accuracy: Precise | None
    """Mean of 1 - |actual - estimate| / max(actual, estimate) over reports of jobs with a
    hold (1 is exact)."""
    health_status: str
    """healthy, degraded (files rejected or waiting long), disabled."""
    problems: list[str]
    last_health_check: datetime
    asbx_version: str
    """The original tool's field: asbb does not learn aws-slurm-burst's version ("unknown")."""
    average_reconciliation_time: str
    """The original tool's field: asbb does not time reconciliations ("unknown")."""

    @classmethod
    def of(cls, status: AsbxStatus) -> AsbxStatusView:
        stats = status.reports
        return cls(
            integration_enabled=status.enabled,
            spool_dir=str(status.folder),
            interval_seconds=status.interval_seconds,
            files_waiting=status.files_waiting,
            files_processed=status.files_processed,
            files_rejected=status.files_rejected,
            last_data_import=stats.last_received,
            total_jobs_reconciled=stats.jobs,
            successful_reconciliations=sum(
                n for outcome, n in stats.by_outcome.items() if outcome != "rejected"
            ),
            failed_reconciliations=stats.by_outcome.get("rejected", 0),
            reports_by_outcome=dict(stats.by_outcome),
            cost_model_accuracy=stats.accuracy,
            health_status=status.health,
            problems=list(status.problems),
            last_health_check=status.checked_at.astimezone(UTC),
            asbx_version="unknown",
            average_reconciliation_time="unknown",
        )


class IngestedFileView(View):
    file: str
    outcome: str
    """reconciled, corrected, charged or unchanged (``CostReportView.outcome``)."""


class FileReasonView(View):
    file: str
    reason: str


class IngestView(View):
    """One ingest of the export folder (``asbb asbx ingest``)."""

    applied: list[IngestedFileView]
    """Applied, and moved to ``processed/``."""
    rejected: list[FileReasonView]
    """Moved to ``rejected/`` with a ``.reason`` file."""
    waiting: list[FileReasonView]
    """Left for the next round (still being written, its job's hold not found yet, ...)."""
    stopped: str | None
    """Why the round stopped early; else None."""

    @classmethod
    def of(cls, report: IngestReport) -> IngestView:
        return cls(
            applied=[IngestedFileView(file=f, outcome=o) for f, o in report.applied],
            rejected=[FileReasonView(file=f, reason=r) for f, r in report.rejected],
            waiting=[FileReasonView(file=f, reason=r) for f, r in report.waiting],
            stopped=report.stopped,
        )


# ---------------------------------------------------------------- a job's budget context


class FeedbackView(View):
    """A job's performance feedback, as received (``/integration/performance-feedback``)."""

    id: int
    job_id: str
    account: str | None
    partition: str | None
    cpu_efficiency: Precise | None
    """A fraction (0.85) or a percentage (85), kept as sent (to 4 places)."""
    memory_efficiency: Precise | None
    gpu_efficiency: Precise | None
    actual_vs_estimated: Precise | None
    profile: str
    details: dict[str, Any]
    """The other fields sent, kept as they came."""
    received_at: datetime

    @classmethod
    def of(cls, row: PerformanceFeedback) -> FeedbackView:
        return cls(
            id=row.id or 0,
            job_id=row.job_id,
            account=row.account,
            partition=row.partition,
            cpu_efficiency=row.cpu_efficiency,
            memory_efficiency=row.memory_efficiency,
            gpu_efficiency=row.gpu_efficiency,
            actual_vs_estimated=row.actual_vs_estimated,
            profile=row.profile,
            details=row.details,
            received_at=row.received_at,
        )


class ProfileSummaryView(View):
    """Performance feedback of one workload profile: how many jobs, and the average of each
    efficiency they reported (null: none reported it)."""

    profile: str
    """As aws-slurm-burst sent it (performance_profile); empty when it named none."""
    jobs: int
    cpu_efficiency: Precise | None
    memory_efficiency: Precise | None
    gpu_efficiency: Precise | None
    actual_vs_estimated: Precise | None

    @classmethod
    def of(cls, summary: ProfileSummary) -> ProfileSummaryView:
        return cls(
            profile=summary.profile,
            jobs=summary.jobs,
            cpu_efficiency=summary.cpu_efficiency,
            memory_efficiency=summary.memory_efficiency,
            gpu_efficiency=summary.gpu_efficiency,
            actual_vs_estimated=summary.actual_vs_estimated,
        )


class AccountContextView(View):
    name: str
    status: str
    limit: Money
    used: Money
    held: Money
    available: Money

    @classmethod
    def of(cls, account: Account) -> AccountContextView:
        return cls(
            name=account.name,
            status=str(account.status),
            limit=account.limit_amount,
            used=account.used_amount,
            held=account.held_amount,
            available=account.available,
        )


class GrantContextView(View):
    number: str
    title: str
    end_date: date
    indirect_rate: Precise
    """A fraction, without trailing zeros ("0.5")."""
    period: int | None
    period_end: date | None
    period_remaining: Money | None
    """What the current budget period has left (total cost)."""

    @classmethod
    def of(cls, grant: Grant, period: PeriodStatus | None) -> GrantContextView:
        return cls(
            number=grant.number,
            title=grant.title,
            end_date=grant.end_date,
            indirect_rate=grant.indirect_rate.normalize(),
            period=period.period if period else None,
            period_end=period.end_date if period else None,
            period_remaining=period.remaining if period else None,
        )


class JobCostReportView(View):
    """A cost report received for a job, as kept."""

    id: int
    origin: str
    """spool, api, epilog or cost-update."""
    outcome: str
    actual_cost: Money | None
    previous_charge: Money | None
    delta: Money | None
    """What it charged (positive) or refunded (negative)."""
    file_name: str | None
    reason: str
    received_at: datetime

    @classmethod
    def of(cls, row: CostReport) -> JobCostReportView:
        return cls(
            id=row.id or 0,
            origin=row.origin,
            outcome=row.outcome,
            actual_cost=row.actual_cost,
            previous_charge=row.previous_charge,
            delta=row.delta,
            file_name=row.file_name,
            reason=row.reason,
            received_at=row.received_at,
        )


class BudgetContextView(View):
    """Everything the ledger knows about a job's money (``/integration/budget-context``)."""

    job_id: str
    account: AccountContextView
    hold: HoldView | None
    grant: GrantContextView | None
    estimate: Money | None
    """The hold's estimate (before the buffer)."""
    actual: Money
    """What the job was charged, net of corrections."""
    variance: Money | None
    remaining_budget: Money
    """The account's available money now."""
    journal: list[EntryView]
    cost_reports: list[JobCostReportView]
    performance_feedback: list[FeedbackView]

    @classmethod
    def of(cls, ctx: JobContext) -> BudgetContextView:
        account = ctx.account
        return cls(
            job_id=ctx.job_id,
            account=AccountContextView.of(account),
            hold=HoldView.of(ctx.hold) if ctx.hold else None,
            grant=GrantContextView.of(ctx.grant, ctx.period) if ctx.grant is not None else None,
            estimate=ctx.estimate,
            actual=ctx.charged,
            variance=ctx.charged - ctx.estimate if ctx.estimate is not None else None,
            remaining_budget=account.available,
            journal=[EntryView.of_entry(e, account=account.name) for e in ctx.entries],
            cost_reports=[JobCostReportView.of(r) for r in ctx.reports],
            performance_feedback=[FeedbackView.of(f) for f in ctx.feedback],
        )


# ---------------------------------------------------------------- the spool and recovery


class ReplayView(View):
    """One replay of the reconcile spool (``asbb reconcile --replay``)."""

    delivered: list[str]
    """The files delivered (and removed)."""
    rejected: list[FileReasonView]
    """Refused for good: moved to ``rejected/`` with a ``.reason`` file."""
    remaining: int
    """Requests still spooled for the next round."""
    stopped: str | None
    """Why the replay stopped early (receiver unavailable, another replay running)."""

    @classmethod
    def of(cls, report: ReplayReport) -> ReplayView:
        return cls(
            delivered=list(report.delivered),
            rejected=[FileReasonView(file=f, reason=r) for f, r in report.rejected],
            remaining=report.remaining,
            stopped=report.stopped,
        )


class RecoveryActionView(View):
    """One decision of the recovery sweep about one hold (or one task of an array's hold)."""

    hold_id: str
    account: str | None
    action: str
    """charge, void, expire, leave, skip."""
    reason: str
    job_id: str | None
    amount: Money | None
    """charge: the cost charged; void/expire: what was released (None in a dry run)."""
    done: bool
    """False in a dry run, for ``leave``, and when another process got there first."""

    @classmethod
    def of(cls, action: RecoveryAction) -> RecoveryActionView:
        return cls(
            hold_id=action.hold_id,
            account=action.account,
            action=action.action,
            reason=action.reason,
            job_id=action.job_id,
            amount=action.amount,
            done=action.done,
        )


class RecoverySummaryView(View):
    """How many holds each action concerned."""

    charge: int
    void: int
    expire: int
    leave: int
    skip: int


class RecoveryView(View):
    """One recovery sweep (``asbb recover``)."""

    dry_run: bool
    holds_examined: int
    summary: RecoverySummaryView
    actions: list[RecoveryActionView]

    @classmethod
    def of(cls, report: RecoveryReport) -> RecoveryView:
        return cls(
            dry_run=report.dry_run,
            holds_examined=report.holds_examined,
            summary=RecoverySummaryView(
                charge=report.count("charge"),
                void=report.count("void"),
                expire=report.count("expire"),
                leave=report.count("leave"),
                skip=report.count("skip"),
            ),
            actions=[RecoveryActionView.of(a) for a in report.actions],
        )
