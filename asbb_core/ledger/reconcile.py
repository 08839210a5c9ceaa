"""Reconciling a finished job: one rule for the daemon's route, the spool replay and recovery.

The cost is the reported one (the real AWS bill, when aws-slurm-burst sends it), else the local
price model over the real elapsed time and the allocated resources, falling back to what the
job asked for. The idempotency key is the same wherever the reconcile comes from, so a job is
charged once whether the epilog, a spool replay or the recovery sweep gets there first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from decimal import Decimal
from typing import Any, TypeVar

from asbb_core.ledger import Ledger, MovementResult, PostResult
from asbb_core.ledger.admission import fleet_node_cost, is_fleet_hold
from asbb_core.ledger.pricing import JobShape, parse_memory_mb, price_job
from asbb_core.settings import Settings
from asbb_core.store import queries
from asbb_core.store.models import Hold, HoldState
from asbb_core.values.context import Context, IdempotencyKey, Source, new_correlation_id
from asbb_core.values.durations import parse_slurm_time
from asbb_core.values.errors import (
    AlreadyChargedError,
    IdempotencyConflictError,
    ValidationError,
)
from asbb_core.values.metadata import parse_metadata
from asbb_core.values.money import ZERO, parse_cost
from asbb_core.values.text import normalise_account_name

T = TypeVar("T")


def reconcile_key(hold: Hold, job_id: str) -> IdempotencyKey:
    """The idempotency key of a job's charge against its hold: one per hold for a single job
    (whatever job id a report names), one per task for an array."""
    if hold.task_count == 1:
        return IdempotencyKey.derived("reconcile", hold.id)
    return IdempotencyKey.derived("reconcile", hold.id, job_id.strip())


def unheld_key(account: str, job_id: str) -> IdempotencyKey:
    """The idempotency key of a job that ran without a hold (accepted fail-open): one per
    account and job, however the account is spelled (``ACCT-B``, `` acct-b ``)."""
    return IdempotencyKey.derived("unheld", normalise_account_name(account), job_id.strip())


def actual_cost(
    settings: Settings,
    partition: str | None,
    elapsed: timedelta,
    *,
    asked: Mapping[str, Any] | None = None,
    nodes: int | None = None,
    cpus: int | None = None,
    gpus: int | None = None,
    memory: object = None,
) -> Decimal:
    """A finished job's cost by the local model: real elapsed time and allocated resources;
    what Slurm did not report falls back to what the job asked for (``asked``, kept on the
    hold when it was created)."""
    asked = asked or {}
    job = JobShape(
        partition=partition,
        duration=max(elapsed, timedelta(0)),
        nodes=nodes or int(asked.get("nodes", 1)),
        cpus=cpus or int(asked.get("cpus", 1)),
        gpus=gpus if gpus is not None else int(asked.get("gpus", 0)),
        memory_mb=parse_memory_mb(memory)
        if memory is not None
        else Decimal(asked.get("memory_mb", "0")),
    )
    price = price_job(settings, job)
    return price.total if price is not None else ZERO


def elapsed_of(elapsed: object = None, elapsed_seconds: object = None) -> timedelta | None:
    """A job's run time from a reconcile request: whole seconds, or a Slurm time (zero is
    a real answer: the job ended before it was timed)."""
    if elapsed_seconds is not None:
        if (
            isinstance(elapsed_seconds, bool)
            or not isinstance(elapsed_seconds, int)
            or elapsed_seconds < 0
        ):
            raise ValidationError(
                "elapsed_seconds: must be a whole number >= 0", field="elapsed_seconds"
            )
        return timedelta(seconds=elapsed_seconds)
    if elapsed is None:
        return None
    return parse_slurm_time(elapsed, field="elapsed", allow_zero=True)


def metadata_of(value: object) -> dict[str, Any] | None:
    """Job metadata as sent: an object, or (as the seed tools send it) a JSON string of one;
    bounded as ``values.metadata`` says."""
    return parse_metadata(value, field="job_metadata")


@dataclass(frozen=True)
class JobEnd:
    """What is known about a job that ended."""

    job_id: str
    hold_id: str | None = None
    """None: the job ran without a hold (accepted unchecked); ``account`` is then required."""
    actual_cost: Decimal | None = None
    elapsed: timedelta | None = None
    nodes: int | None = None
    cpus: int | None = None
    gpus: int | None = None
    memory: object = None
    state: str | None = None
    final: bool | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    account: str | None = None
    partition: str | None = None
    user: str | None = None


@dataclass(frozen=True)
class Reconciled:
    hold_id: str | None
    account: str
    original_hold: Decimal
    charged: Decimal
    released: Decimal
    overrun: Decimal
    state: str
    tasks_posted: int
    task_count: int
    cost_source: str
    """"reported" or "local_model"."""
    replayed: bool
    late: bool = False
    """The job's hold had already closed (expired, voided) when it was charged."""


REPORTED = "reported"
LOCAL_MODEL = "local_model"
EARLIER = "earlier"
"""The cost source of a local-model reconcile that found its job already reconciled with
other figures (the epilog after aws-slurm-burst's real cost, after the recovery sweep): the
first stands and nothing more is charged. A *reported* cost arriving second is the real bill:
it corrects the charge to itself (``Ledger.settle_job_cost``, cost source ``corrected``)."""
CORRECTED = "corrected"


def _correct(
    ledger: Ledger,
    end: JobEnd,
    hold: Hold | None,
    cost: Decimal,
    ctx: Context,
    metadata: Mapping[str, Any],
) -> Reconciled:
    """Bring a job reconciled earlier with other figures to its reported cost."""
    settled = ledger.settle_job_cost(
        end.job_id,
        cost,
        ctx=Context(actor=ctx.actor, source=ctx.source, correlation_id=ctx.correlation_id),
        hold_id=hold.id if hold is not None else None,
        account_name=end.account if hold is None else None,
        memo=f"reported cost {cost} replaces the earlier charge",
        metadata=dict(metadata),
    )
    now = hold
    return Reconciled(
        hold_id=settled.hold_id,
        account=settled.account,
        original_hold=now.amount if now is not None else ZERO,
        charged=max(settled.delta, ZERO),
        released=max(-settled.delta, ZERO),
        overrun=max(settled.delta, ZERO),
        state=str(now.state) if now is not None else "posted",
        tasks_posted=now.tasks_posted if now is not None else 1,
        task_count=now.task_count if now is not None else 1,
        cost_source=CORRECTED,
        replayed=not settled.changed,
    )


def _earlier(ledger: Ledger, ctx: Context, result_type: type[T]) -> T | None:
    """What the first reconcile of this job answered (None: it came by another key)."""
    assert ctx.idempotency_key is not None
    earlier = ledger.earlier_result(ctx.idempotency_key)
    if not isinstance(earlier, result_type):
        return None
    return replace(earlier, replayed=True)  # type: ignore[type-var]


def _nothing_more(account: str) -> MovementResult:
    """The answer to a second charge of a job without a hold, when its first is not to hand."""
    return MovementResult(
        account=normalise_account_name(account),
        amount=ZERO,
        limit=ZERO,
        used=ZERO,
        held=ZERO,
        available=ZERO,
        entry_ids=[],
        replayed=True,
    )


def _already_posted(ledger: Ledger, hold: Hold) -> PostResult:
    """The answer to a second reconcile of a hold, when its first is not to hand: the hold as
    it stands (nothing more was charged)."""
    row = queries.get_hold(ledger.db, hold.id)  # the hold and its account's name in one read
    now = row.hold
    return PostResult(
        hold_id=now.id,
        account=row.account,
        original_hold=now.amount,
        charged=ZERO,
        overrun=ZERO,
        released=ZERO,
        total_charged=now.charged,
        state=str(now.state),
        tasks_posted=now.tasks_posted,
        task_count=now.task_count,
        replayed=True,
    )


def reconcile_job(
    ledger: Ledger,
    end: JobEnd,
    *,
    actor: str,
    source: Source = Source.EPILOG,
    correlation_id: str | None = None,
) -> Reconciled:
    """Charge a finished job (against its hold if it has one) and release the rest."""
    hold = ledger.get_hold(end.hold_id) if end.hold_id else None
    if hold is None and not end.account:
        raise ValidationError(
            "transaction_id: the hold id is required (or, for a job that ran without a hold, "
            "its account)",
            field="transaction_id",
        )
    if end.actual_cost is not None:
        cost, cost_source = parse_cost(end.actual_cost, field="actual_cost"), REPORTED
    elif end.elapsed is not None and hold is not None and is_fleet_hold(hold):
        # A fleet node: its instance price (as admitted) over its time up, not job rates.
        cost, cost_source = fleet_node_cost(hold, end.elapsed, nodes=end.nodes), LOCAL_MODEL
    elif end.elapsed is not None:
        cost = actual_cost(
            ledger.settings,
            hold.partition if hold else end.partition,
            end.elapsed,
            asked=hold.job_metadata.get("request") if hold else None,
            nodes=end.nodes,
            cpus=end.cpus,
            gpus=end.gpus,
            memory=end.memory,
        )
        cost_source = LOCAL_MODEL
    else:
        raise ValidationError(
            "actual_cost: give actual_cost, or elapsed/elapsed_seconds to price the job",
            field="actual_cost",
        )
    metadata = {**end.metadata, **({"state": end.state} if end.state else {})}
    if hold is None:
        assert end.account is not None
        ctx = Context(
            actor=actor,
            source=source,
            correlation_id=correlation_id or new_correlation_id(),
            idempotency_key=unheld_key(end.account, end.job_id),
        )
        try:
            moved = ledger.charge_job(
                end.account,
                cost,
                ctx=ctx,
                job_id=end.job_id,
                partition=end.partition,
                user_name=end.user,
                metadata=metadata,
            )
        except (IdempotencyConflictError, AlreadyChargedError):
            if cost_source == REPORTED:
                return _correct(ledger, end, None, cost, ctx, metadata)
            moved = _earlier(ledger, ctx, MovementResult) or _nothing_more(end.account)
            cost_source = EARLIER
        return Reconciled(
            hold_id=None,
            account=moved.account,
            original_hold=ZERO,
            charged=moved.amount,
            released=ZERO,
            overrun=moved.amount,
            state="posted",
            tasks_posted=1,
            task_count=1,
            cost_source=cost_source,
            replayed=moved.replayed,
        )
    ctx = Context(
        actor=actor,
        source=source,
        correlation_id=correlation_id or hold.correlation_id,
        idempotency_key=reconcile_key(hold, end.job_id),
    )
    late = hold.state != HoldState.OPEN
    try:
        result: PostResult = ledger.post_hold(
            hold.id,
            cost,
            ctx=ctx,
            final=end.final,
            metadata=metadata,
            job_id=end.job_id,
            late=True,
        )
    except (IdempotencyConflictError, AlreadyChargedError):
        if cost_source == REPORTED:
            return _correct(ledger, end, hold, cost, ctx, metadata)
        result = _earlier(ledger, ctx, PostResult) or _already_posted(ledger, hold)
        cost_source, late = EARLIER, False
    return Reconciled(
        hold_id=result.hold_id,
        account=result.account,
        original_hold=result.original_hold,
        charged=result.charged,
        released=result.released,
        overrun=result.overrun,
        state=result.state,
        tasks_posted=result.tasks_posted,
        task_count=result.task_count,
        cost_source=cost_source,
        replayed=result.replayed,
        late=late,
    )
