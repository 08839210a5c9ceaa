"""Recovery: resolve open holds from Slurm's own record of their jobs.

A hold normally closes when the job's epilog reconciles it. Recovery covers the rest:

* the job ended but no reconcile arrived (epilog lost, daemon down and spool lost, ...):
  it is charged at its real elapsed time and allocated resources with the local price model,
  under the very idempotency key the daemon's reconcile uses (``reconcile:<hold>:<job>``), so
  a reconcile that arrives later (or arrived first) charges nothing twice;
* the job was cancelled while pending (it never ran; slurmctld runs no epilog then): voided;
* no job carries the hold id in its AdminComment and the hold is older than the grace period
  (the submission was refused after the check, or the hold was taken by hand): voided;
* the job is still pending or running: left alone;
* a fleet admission's hold (no Slurm job carries it): left to its nodes' reconciles;
* holds past their timeout expire.

Safe to run twice and from several processes: every resolution is exactly-once in the ledger
(a hold resolved meanwhile raises ``HoldResolvedError`` and is skipped; a replayed post is
answered from its idempotency record). ``dry_run`` decides and reports, and changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlmodel import col, select

from asbb_core.integrations.slurm import Slurm, SlurmJob, asbb_account
from asbb_core.ledger import Ledger
from asbb_core.ledger.admission import is_fleet_hold
from asbb_core.ledger.reconcile import actual_cost, reconcile_key
from asbb_core.store.models import Hold, HoldState
from asbb_core.store.periodic import PeriodicTask
from asbb_core.values.context import Context, IdempotencyKey, Source
from asbb_core.values.errors import (
    AlreadyChargedError,
    HoldResolvedError,
    IdempotencyConflictError,
)
from asbb_core.values.money import round_posting

log = logging.getLogger("asbb.recovery")
DEFAULT_GRACE = timedelta(minutes=10)
SACCT_LOOKBACK = timedelta(days=1)


@dataclass(frozen=True)
class RecoveryAction:
    """One decision about one hold (or one task of an array's hold)."""

    hold_id: str
    account: str | None
    action: str
    """charge, void, expire, leave, skip."""
    reason: str
    job_id: str | None = None
    amount: Decimal | None = None
    """charge: the cost charged; void/expire: what was released (None in a dry run)."""
    done: bool = False
    """False in a dry run, for ``leave``, and when another process got there first."""


@dataclass
class RecoveryReport:
    actions: list[RecoveryAction]
    dry_run: bool
    holds_examined: int

    def count(self, action: str) -> int:
        return sum(1 for a in self.actions if a.action == action)


def _open_holds(
    ledger: Ledger,
    *,
    created_before: datetime,
    limit: int,
    expired_by: datetime | None = None,
) -> list[Hold]:
    stmt = select(Hold).where(Hold.state == HoldState.OPEN, col(Hold.created_at) <= created_before)
    if expired_by is not None:
        stmt = stmt.where(col(Hold.expires_at) <= expired_by)
    query = stmt.order_by(col(Hold.created_at)).limit(limit)
    return ledger.db.read(lambda s: list(s.exec(query)))


def _account_names(ledger: Ledger) -> dict[int, str]:
    return {a.id: a.name for a in ledger.list_accounts() if a.id is not None}


def recover(
    ledger: Ledger,
    slurm: Slurm,
    *,
    dry_run: bool = False,
    older_than: timedelta = DEFAULT_GRACE,
    actor: str = "asbb-recovery",
    limit: int = 10_000,
    on_hold: Callable[[Hold], None] | None = None,
    only: Collection[str] | None = None,
) -> RecoveryReport:
    """Resolve the open holds older than ``older_than`` from Slurm's record (see module doc).

    ``older_than`` is also how long after a job's end recovery waits before charging it
    itself, leaving the epilog (and its spool) time to do it with the real AWS cost.
    ``only``: look at these holds and no others (expiry included).
    """
    now = ledger.clock()
    actions: list[RecoveryAction] = []
    expired_ids: set[str] = set()
    # 1. holds past their timeout
    due = [
        h
        for h in _open_holds(ledger, created_before=now, limit=limit, expired_by=now)
        if only is None or h.id in only
    ]
    names = _account_names(ledger)
    for hold in due:
        expired_ids.add(hold.id)
        action = RecoveryAction(
            hold.id, names.get(hold.account_id), "expire", "past its timeout", hold.job_id
        )
        if dry_run:
            actions.append(action)
            continue
        try:
            key = IdempotencyKey.derived("expire", hold.id)
            result = ledger.expire_hold(hold.id, ctx=_ctx(actor, key))
        except HoldResolvedError:
            actions.append(_skipped(action))
            continue
        actions.append(_done(action, result.released))

    # 2. the rest, from sacct
    holds = [
        h
        for h in _open_holds(ledger, created_before=now - older_than, limit=limit)
        if h.id not in expired_ids and (only is None or h.id in only) and not is_fleet_hold(h)
    ]
    if holds:
        since = min(h.created_at for h in holds) - SACCT_LOOKBACK
        by_hold = slurm.jobs_by_hold(since)
    else:
        by_hold = {}
    for hold in holds:
        if on_hold is not None:
            on_hold(hold)
        account = names.get(hold.account_id)
        jobs = [j for j in by_hold.get(hold.id, []) if _same_account(j, account)]
        actions.extend(_resolve(ledger, hold, account, jobs, now, older_than, actor, dry_run))
    return RecoveryReport(actions=actions, dry_run=dry_run, holds_examined=len(holds) + len(due))


def _same_account(job: SlurmJob, account: str | None) -> bool:
    """A hold is its account's: a job whose record names another account's hold (see
    ``cost_reports.link_job``) is not taken for that hold's job."""
    if account is not None and asbb_account(job.account) == account:
        return True
    log.warning(
        "job %s names hold %s of account %s but runs under %s; ignored for it",
        job.job_id,
        job.hold_id,
        account,
        job.account,
    )
    return False


def _ctx(actor: str, key: IdempotencyKey) -> Context:
    return Context(actor=actor, source=Source.RECOVERY, idempotency_key=key)


def _done(action: RecoveryAction, amount: Decimal | None) -> RecoveryAction:
    return RecoveryAction(
        action.hold_id, action.account, action.action, action.reason, action.job_id, amount, True
    )


def _skipped(
    action: RecoveryAction, why: str = "resolved meanwhile by another process"
) -> RecoveryAction:
    return RecoveryAction(
        action.hold_id, action.account, "skip", f"{action.reason}; {why}", action.job_id
    )


def _resolve(
    ledger: Ledger,
    hold: Hold,
    account: str | None,
    jobs: list[SlurmJob],
    now: datetime,
    grace: timedelta,
    actor: str,
    dry_run: bool,
) -> list[RecoveryAction]:
    if not jobs:
        return [
            _void(
                ledger,
                hold,
                account,
                None,
                "never became a job: no job in Slurm carries this hold",
                actor,
                dry_run,
            )
        ]
    active = [j for j in jobs if j.active]
    if active:
        states = ", ".join(sorted({j.state.lower() for j in active}))
        return [RecoveryAction(hold.id, account, "leave", f"job still {states}", active[0].job_id)]
    recent = [j for j in jobs if j.ran and j.end is not None and now - j.end < grace]
    if recent:
        return [
            RecoveryAction(
                hold.id,
                account,
                "leave",
                "job ended recently; waiting for its epilog reconcile",
                recent[0].job_id,
            )
        ]
    ran = [j for j in jobs if j.ran and not j.is_array_remainder]
    out: list[RecoveryAction] = []
    for job in ran:
        out.append(_charge(ledger, hold, account, job, actor, dry_run))
    if not ran:
        state = jobs[0].state.lower()
        return [
            _void(
                ledger, hold, account, jobs[0].job_id, f"job {state} before it ran", actor, dry_run
            )
        ]
    # An array whose other tasks never ran: close the hold over what was charged.
    if dry_run:
        if hold.task_count > len(ran):
            out.append(
                RecoveryAction(hold.id, account, "void", "the array's other tasks never ran", None)
            )
        return out
    current = ledger.get_hold(hold.id)
    if current.state == HoldState.OPEN:
        out.append(
            _void(ledger, hold, account, None, "the array's other tasks never ran", actor, False)
        )
    return out


def _charge(
    ledger: Ledger, hold: Hold, account: str | None, job: SlurmJob, actor: str, dry_run: bool
) -> RecoveryAction:
    elapsed = job.elapsed
    if elapsed is None and job.start is not None and job.end is not None:
        elapsed = job.end - job.start
    cost = actual_cost(
        ledger.settings,
        hold.partition,
        elapsed or timedelta(0),
        asked=hold.job_metadata.get("request"),
        nodes=job.tres.nodes,
        cpus=job.tres.cpus,
        gpus=job.tres.gpus,
        memory=f"{job.tres.memory_mb}M" if job.tres.memory_mb is not None else None,
    )
    reason = f"job {job.state.lower()} after {elapsed or timedelta(0)} without a reconcile"
    action = RecoveryAction(hold.id, account, "charge", reason, job.job_id, round_posting(cost))
    if dry_run:
        return action
    try:
        result = ledger.post_hold(
            hold.id,
            cost,
            ctx=_ctx(actor, reconcile_key(hold, job.job_id)),
            metadata={"state": job.state, "recovered": True},
            job_id=job.job_id,
            late=True,
        )
    except (IdempotencyConflictError, AlreadyChargedError):
        return _skipped(action, "already reconciled (with other figures)")
    if result.replayed:
        return _skipped(action, "already reconciled")
    return _done(action, result.charged)


def _void(
    ledger: Ledger,
    hold: Hold,
    account: str | None,
    job_id: str | None,
    reason: str,
    actor: str,
    dry_run: bool,
) -> RecoveryAction:
    action = RecoveryAction(hold.id, account, "void", reason, job_id)
    if dry_run:
        return action
    try:
        result = ledger.void_hold(
            hold.id, ctx=_ctx(actor, IdempotencyKey.derived("recover-void", hold.id)), reason=reason
        )
    except HoldResolvedError:
        return _skipped(action)
    if result.replayed:
        return _skipped(action)
    return _done(action, result.released)


class RecoverySweeper(PeriodicTask):
    """Runs ``recover`` every ``interval`` seconds, in the background.

    Safe beside other daemons and ``asbb recover``: every resolution is exactly-once.
    """

    def __init__(
        self,
        ledger: Ledger,
        slurm: Slurm,
        interval: float,
        *,
        older_than: timedelta = DEFAULT_GRACE,
        actor: str = "asbb-daemon",
    ) -> None:
        super().__init__("recovery-sweeper", interval, self.run_once)
        self.ledger = ledger
        self.slurm = slurm
        self.older_than = older_than
        self.actor = actor

    def run_once(self) -> RecoveryReport:
        report = recover(self.ledger, self.slurm, older_than=self.older_than, actor=self.actor)
        done = [a for a in report.actions if a.done]
        if done:
            log.info(
                "recovery: %d charged, %d voided, %d expired",
                sum(1 for a in done if a.action == "charge"),
                sum(1 for a in done if a.action == "void"),
                sum(1 for a in done if a.action == "expire"),
            )
        return report


__all__ = [
    "DEFAULT_GRACE",
    "RecoveryAction",
    "RecoveryReport",
    "RecoverySweeper",
    "actual_cost",
    "reconcile_key",
    "recover",
]
