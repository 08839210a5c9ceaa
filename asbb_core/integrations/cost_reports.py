"""A job's real cost, reported after the fact: aws-slurm-burst's exports and cost updates.

aws-slurm-burst (ASBX) writes ``job-<id>-asbb-reconciliation.json`` into a spool folder
(``aws-slurm-burst-export-performance --job-id <id> --format asbb-reconciliation --output-dir
<asbx.spool_dir>``): one JSON object {job_id, account, user_id, partition, actual_cost,
compute_cost, storage_cost, network_cost, spot_savings, instance_types, duration_hours, success,
export_time, plugin_version}, money as JSON numbers, mode 0600 (0644 in its earlier releases).
It may also POST the same facts (``/api/v1/asbx/reconcile``); a cost update
(``/api/v1/integration/cost-update``) sets a job's cost to a new figure. All three are one
operation, ``CostReports.apply``:

1. **Link** the report to the job's hold: the hold id it names, else the hold created for
   (or reconciled by) that job id, else the hold id slurmctld keeps in the job's AdminComment
   (``sacct``). A job Slurm knows without a hold ran unchecked and is charged to its account.
   A job whose hold cannot be found yet waits (``HoldNotLinkedError``).
2. **Charge** it: a hold still open is reconciled with the reported cost, by the same rule and
   idempotency key as the epilog's reconcile, so whichever comes first stands; a job already
   charged is brought to the reported cost (``Ledger.settle_job_cost``: the difference charged
   or refunded). A report applied twice moves the money once.
3. **Record** the report (``cost_reports``), in the same transaction as the money it moved.

``ingest_folder`` runs the spool folder: each good file applied once and moved to
``processed/``; a bad one moved to ``rejected/`` with a ``.reason`` file; nothing deleted.
Files are read as hostile (``asbb_core.integrations.files``: no links, a known owner, at most
``asbx.max_file_bytes``, nested at most 64 deep), so one bad file never stops the others; a
file still being written (changed within ``asbx.settle_seconds``, or its JSON stopping short)
waits for the next round, and so does one this process may not read (its reason says whose
it is, its mode and what to change; ``asbx_status`` lists it as a problem). What is kept of a
file in ``cost_reports`` is bounded: the parsed record when applied, an excerpt of its fields
when rejected, nothing when it was not parsed.

A cost never comes from the job's Comment. aws-slurm-burst's own epilog also writes
``aws_meta:{"cost": ...}`` there (its ``slurm-comment`` format), but the job's owner can
rewrite a Comment (``scontrol update``), so asbb reads none of it: a job is charged from the
export file, an authenticated call, or Slurm's record of what ran.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import stat
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import func
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from asbb_core.integrations.files import (
    REJECTED,
    FileLimits,
    NotReadyError,
    UnreadableError,
    asbx_limits,
    entries,
    move_aside,
    read_json,
    subfolder,
    unusable_subfolder,
    why_unreadable,
)
from asbb_core.integrations.slurm import Slurm, SlurmError, asbb_account
from asbb_core.integrations.spool import LockError, folder_lock
from asbb_core.ledger import Ledger
from asbb_core.ledger.reconcile import CORRECTED, EARLIER, JobEnd, reconcile_job
from asbb_core.store import queries
from asbb_core.store.models import Account, CostReport, Hold, JournalEntry
from asbb_core.store.operations import Operation
from asbb_core.store.periodic import PeriodicTask
from asbb_core.values.context import Context, Source, new_correlation_id
from asbb_core.values.errors import AsbbError, ConflictError, DatabaseError, ValidationError
from asbb_core.values.money import ZERO, decimal_of_json, parse_cost, round_posting
from asbb_core.values.text import normalise_account_name, optional_text

log = logging.getLogger("asbb.cost_reports")

JOB_ID = re.compile(r"^[0-9]+(?:_[0-9]+|\+[0-9]+)?$")
FILE_NAME = re.compile(r"^job-(?P<job>[0-9]+(?:_[0-9]+|\+[0-9]+)?)-asbb-reconciliation\.json$")
PROCESSED = "processed"
KEPT_FIELDS = 32
KEPT_CHARS = 200
"""A rejected report keeps at most KEPT_FIELDS fields of KEPT_CHARS characters of JSON each."""
AMOUNT_CHARS = 40
"""The longest amount a report's file may give (what is stored must stay bounded)."""

_COSTS = ("compute_cost", "storage_cost", "network_cost", "spot_savings")
_REPORT_FIELDS = frozenset(
    {
        *("job_id", "slurm_job_id", "account", "user_id", "user", "partition", "reason"),
        *("transaction_id", "budget_transaction_id", "hold_id", "job_cost_data"),
        *("actual_cost", "aws_cost", "new_cost", "cost", "cost_breakdown", *_COSTS),
        *("instance_types", "duration_hours", "success", "export_time", "plugin_version"),
    }
)


class Outcome(StrEnum):
    RECONCILED = "reconciled"
    """The job's open hold was reconciled with the reported cost."""
    CORRECTED = "corrected"
    """The job was already charged; the difference was charged or refunded."""
    CHARGED = "charged"
    """The job ran without a hold; its account was charged."""
    UNCHANGED = "unchanged"
    """The job already stood at this cost (a duplicate or a retry)."""
    REJECTED = "rejected"


APPLIED = (Outcome.RECONCILED, Outcome.CORRECTED, Outcome.CHARGED, Outcome.UNCHANGED)


class HoldNotLinkedError(ConflictError):
    """The job's hold cannot be found yet (not reconciled, sacct unreachable): retry later."""

    code = "hold_not_found_yet"


# ---------------------------------------------------------------- the report


def _first(data: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        if data.get(name) is not None:
            return data[name]
    return None


def _amount(value: object, name: str) -> Decimal | None:
    if value is None or value == "":
        return None
    return decimal_of_json(value, field=name)


def parse_job_id(value: object, name: str = "job_id") -> str:
    job = optional_text(value, field=name, limit=64)
    if job is None or not JOB_ID.match(job):
        raise ValidationError(
            f"{name}: must be a Slurm job id (1234, 1234_5 or 1234+0)", field=name
        )
    return job


@dataclass(frozen=True)
class CostRecord:
    """One job's reported cost (the spool file's fields; the API's names are accepted too)."""

    job_id: str
    actual_cost: Decimal
    account: str | None = None
    user_id: str | None = None
    partition: str | None = None
    hold_id: str | None = None
    compute_cost: Decimal | None = None
    storage_cost: Decimal | None = None
    network_cost: Decimal | None = None
    spot_savings: Decimal | None = None
    instance_types: tuple[str, ...] = ()
    duration_hours: Decimal | None = None
    success: bool = True
    export_time: datetime | None = None
    reason: str = ""
    """Why the cost changed (cost updates)."""

    def to_json(self) -> dict[str, Any]:
        """The report as stored and hashed: money as strings, dates in ISO form."""
        out: dict[str, Any] = {"job_id": self.job_id, "actual_cost": str(self.actual_cost)}
        for name in ("account", "user_id", "partition", "hold_id", "reason"):
            if getattr(self, name):
                out[name] = getattr(self, name)
        for name in (*_COSTS, "duration_hours"):
            value = getattr(self, name)
            if value is not None:
                out[name] = str(value)
        if self.instance_types:
            out["instance_types"] = list(self.instance_types)
        out["success"] = self.success
        if self.export_time is not None:
            out["export_time"] = self.export_time.isoformat()
        return out

    @property
    def digest(self) -> str:
        canonical = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


def parse_record(data: object) -> CostRecord:
    """A report from a spool file or a request body; ``ValidationError`` names the bad field.

    Accepted names: ``job_id`` or ``slurm_job_id``; ``actual_cost`` or ``aws_cost``;
    ``transaction_id``, ``budget_transaction_id`` or ``hold_id``; compute/storage/network
    costs as ``*_cost`` or inside ``cost_breakdown``; ``job_cost_data`` may wrap it all.
    """
    if not isinstance(data, Mapping):
        raise ValidationError("the report must be a JSON object")
    if isinstance(data.get("job_cost_data"), Mapping):
        data = {**data["job_cost_data"], **{k: v for k, v in data.items() if k != "job_cost_data"}}
    job = parse_job_id(_first(data, "job_id", "slurm_job_id"))
    cost = _first(data, "actual_cost", "aws_cost", "new_cost", "cost")
    if cost is None:
        raise ValidationError("actual_cost: required (the job's real cost)", field="actual_cost")
    breakdown = data.get("cost_breakdown")
    if breakdown is not None and not isinstance(breakdown, Mapping):
        raise ValidationError("cost_breakdown: must be an object", field="cost_breakdown")
    breakdown = breakdown or {}
    types = data.get("instance_types") or []
    if isinstance(types, str):
        types = [types]
    if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
        raise ValidationError(
            "instance_types: must be a list of instance type names", field="instance_types"
        )
    success = data.get("success", True)
    if not isinstance(success, bool):
        raise ValidationError("success: must be true or false", field="success")
    export = data.get("export_time")
    exported: datetime | None = None
    if export is not None:
        try:
            exported = datetime.fromisoformat(str(export).replace("Z", "+00:00"))
        except ValueError:
            raise ValidationError(
                "export_time: must be an ISO 8601 time", field="export_time"
            ) from None
    account = optional_text(data.get("account"), field="account", limit=64)
    reason = optional_text(data.get("reason"), field="reason", limit=500)
    return CostRecord(
        job_id=job,
        actual_cost=parse_cost(_amount(cost, "actual_cost"), field="actual_cost"),
        account=normalise_account_name(account) if account else None,
        user_id=optional_text(_first(data, "user_id", "user"), field="user_id", limit=64),
        partition=optional_text(data.get("partition"), field="partition", limit=64),
        hold_id=optional_text(
            _first(data, "transaction_id", "budget_transaction_id", "hold_id"),
            field="transaction_id",
            limit=40,
        ),
        compute_cost=_amount(
            _first(data, "compute_cost") or breakdown.get("compute"), "compute_cost"
        ),
        storage_cost=_amount(
            _first(data, "storage_cost") or breakdown.get("storage"), "storage_cost"
        ),
        network_cost=_amount(
            _first(data, "network_cost") or breakdown.get("network"), "network_cost"
        ),
        spot_savings=_amount(data.get("spot_savings"), "spot_savings"),
        instance_types=tuple(t[:64] for t in types[:32]),
        duration_hours=_amount(data.get("duration_hours"), "duration_hours"),
        success=success,
        export_time=exported,
        reason=reason or "",
    )


# ---------------------------------------------------------------- applying


@dataclass(frozen=True)
class Applied:
    """What applying one report did."""

    report_id: int
    outcome: str
    job_id: str
    account: str
    hold_id: str | None
    estimate: Decimal | None
    actual_cost: Decimal
    previous_charge: Decimal
    """What the job had been charged before this report."""
    charged: Decimal
    """Charged now (0 if nothing)."""
    refunded: Decimal
    """Given back now: the hold's unused rest, or a correction downwards."""
    available: Decimal | None
    message: str
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Link:
    hold: Hold | None
    account: str


SlurmLookup = Callable[[str], tuple[bool, str | None, str | None]]
"""job id -> (Slurm knows the job, its hold id, its account). Raises ``SlurmError`` when it
cannot tell."""


def slurm_lookup(slurm: Slurm) -> SlurmLookup:
    """Ask slurmctld (``squeue``), then accounting (``sacct``), for a job's hold id."""

    def lookup(job_id: str) -> tuple[bool, str | None, str | None]:
        job = slurm.show_job(job_id)
        if job is None or job.hold_id is None:
            job = slurm.accounting(job_id) or job
        if job is None:
            return (False, None, None)
        return (True, job.hold_id, job.account)

    return lookup


class CostReports:
    """Applies reported costs to the ledger and keeps every report (see the module doc)."""

    def __init__(self, ledger: Ledger, *, lookup: SlurmLookup | None = None) -> None:
        self.ledger = ledger
        self.db = ledger.db
        self.lookup = lookup

    # -- linking -----------------------------------------------------------------

    def hold_of_job(self, job_id: str) -> Hold | None:
        """The hold created for ``job_id``, else the one its charges were posted against."""
        found = self._linked(job_id)
        return found.hold if found is not None else None

    def _linked(self, job_id: str) -> Link | None:
        """``hold_of_job`` with its account's name, in one read."""

        def query(s: Session) -> Link | None:
            by_hold = select(Hold, Account.name).join(Account, col(Account.id) == Hold.account_id)
            row = s.exec(
                by_hold.where(Hold.job_id == job_id).order_by(col(Hold.created_at).desc())
            ).first()
            if row is None:
                charged = (
                    select(JournalEntry.hold_id)
                    .where(JournalEntry.job_id == job_id, col(JournalEntry.hold_id).is_not(None))
                    .order_by(col(JournalEntry.id).desc())
                    .limit(1)
                    .scalar_subquery()
                )
                row = s.exec(by_hold.where(Hold.id == charged)).first()
            return Link(row[0], row[1]) if row is not None else None

        return self.db.read(query)

    def _charged_unheld(self, account: str, job_id: str) -> bool:
        def query(s: Session) -> bool:
            found = s.exec(
                select(JournalEntry.id)
                .join(Account, col(Account.id) == JournalEntry.account_id)
                .where(
                    Account.name == account,
                    JournalEntry.job_id == job_id,
                    col(JournalEntry.hold_id).is_(None),
                )
            ).first()
            return found is not None

        return self.db.read(query)

    def _named(self, hold_id: str) -> Link:
        row = queries.get_hold(self.db, hold_id)
        return Link(row.hold, row.account)

    def link(self, record: CostRecord) -> Link:
        """The hold a report belongs to (module doc); ``HoldNotLinkedError``: not known yet."""
        return self.link_job(record.job_id, hold_id=record.hold_id, account=record.account)

    def link_job(
        self, job_id: str, *, hold_id: str | None = None, account: str | None = None
    ) -> Link:
        """A job's hold: the one named, else by job id, else from Slurm (see the module doc)."""
        if hold_id:
            return self._named(hold_id)
        linked = self._linked(job_id)
        if linked is not None:
            return linked
        if account and self._charged_unheld(account, job_id):
            return Link(None, account)
        if self.lookup is None:
            raise HoldNotLinkedError(
                f"job {job_id}: no hold is linked to it yet and Slurm is not consulted; "
                "send its transaction_id (the hold id), or retry after the job's reconcile",
                field="transaction_id",
            )
        try:
            known, slurm_hold, slurm_account = self.lookup(job_id)
        except SlurmError as exc:
            raise HoldNotLinkedError(
                f"job {job_id}: no hold is linked to it yet and Slurm could not be "
                f"asked ({exc.message})",
                field="transaction_id",
            ) from None
        if slurm_hold:
            named = self._named(slurm_hold)
            # A hold is its account's: a job whose record names another account's hold (text a
            # "|" in an account name pushed into AdminComment, on a cluster that does not
            # enforce associations) is not charged to it.
            if asbb_account(slurm_account) != named.account:
                raise ValidationError(
                    f"job {job_id}: Slurm's record names hold {slurm_hold} of account "
                    f"{named.account!r}, but the job runs under {slurm_account!r}; not charged",
                    field="job_id",
                )
            return named
        if not known:
            raise HoldNotLinkedError(
                f"job {job_id}: neither asbb nor Slurm knows this job yet",
                field="job_id",
            )
        if not account:
            raise ValidationError(
                f"account: job {job_id} ran without a hold; the report must name the "
                "account to charge",
                field="account",
            )
        return Link(None, account)

    # -- applying ----------------------------------------------------------------

    def apply(
        self,
        record: CostRecord,
        *,
        origin: str,
        actor: str,
        source: Source = Source.ASBX,
        file_name: str | None = None,
        correlation_id: str | None = None,
    ) -> Applied:
        """Link, charge and record one report, all in one transaction.

        The one rule for every way a report arrives (the folder watcher, ``/asbx/reconcile``,
        ``/asbx/epilog``, the CLI): an export aws-slurm-burst marked unsuccessful is refused,
        since its cost is not a real bill; the epilog's or recovery's reconcile stands."""
        if not record.success:
            raise ValidationError(
                "success: aws-slurm-burst marked this export unsuccessful; its cost is not "
                "charged (the epilog's or recovery's reconcile stands)",
                field="success",
            )
        link = self.link(record)
        hold = link.hold
        warnings = []
        if record.account and record.account != link.account:
            warnings.append(
                f"the report names account {record.account}, but job {record.job_id}'s hold "
                f"is on {link.account}: charged {link.account}"
            )
        metadata = {"cost_report": {"origin": origin, **record.to_json()}}
        correlation = correlation_id or new_correlation_id()

        def use_case(session: Session) -> Applied:
            outcome, charged, refunded, previous = self._charge(
                record, link, metadata, actor, source, correlation
            )
            available = _available(session, link.account)
            report = CostReport(
                job_id=record.job_id,
                account=link.account,
                hold_id=hold.id if hold else None,
                origin=origin,
                file_name=file_name,
                digest=record.digest,
                outcome=outcome,
                reason="; ".join(warnings),
                actual_cost=record.actual_cost,
                estimate=hold.estimate if hold else None,
                previous_charge=previous,
                delta=charged - refunded if outcome != Outcome.RECONCILED else charged,
                record=record.to_json(),
                actor=actor,
                received_at=self.ledger.clock(),
            )
            session.add(report)
            session.flush()
            assert report.id is not None
            return Applied(
                report_id=report.id,
                outcome=outcome,
                job_id=record.job_id,
                account=link.account,
                hold_id=hold.id if hold else None,
                estimate=hold.estimate if hold else None,
                actual_cost=record.actual_cost,
                previous_charge=previous,
                charged=charged,
                refunded=refunded,
                available=available,
                message=_message(outcome, record, previous, charged, refunded),
                warnings=warnings,
            )

        # The charge (joining this unit of work) and its report commit together, or neither.
        return self.db.run(
            use_case, Operation("cost_report", {"digest": record.digest}, actor=actor)
        )

    def _charge(
        self,
        record: CostRecord,
        link: Link,
        metadata: dict[str, Any],
        actor: str,
        source: Source,
        correlation: str,
    ) -> tuple[Outcome, Decimal, Decimal, Decimal]:
        hold = link.hold
        # The one reconcile rule first: it posts an open hold, charges a closed one's job late,
        # charges a job without a hold once, and corrects a job charged with other figures.
        done = reconcile_job(
            self.ledger,
            JobEnd(
                job_id=record.job_id,
                hold_id=hold.id if hold else None,
                actual_cost=record.actual_cost,
                metadata=metadata,
                account=None if hold else link.account,
                partition=record.partition,
                user=record.user_id,
            ),
            actor=actor,
            source=source,
            correlation_id=correlation,
        )
        if done.cost_source == CORRECTED:  # reconciled before with other figures
            if done.replayed:
                return Outcome.UNCHANGED, ZERO, ZERO, record.actual_cost
            previous = record.actual_cost - done.charged + done.released
            return Outcome.CORRECTED, done.charged, done.released, previous
        if not done.replayed and done.cost_source != EARLIER:
            outcome = Outcome.RECONCILED if hold else Outcome.CHARGED
            return outcome, done.charged, done.released, ZERO
        settled = self.ledger.settle_job_cost(
            record.job_id,
            record.actual_cost,
            ctx=Context(actor=actor, source=source, correlation_id=correlation),
            hold_id=hold.id if hold else None,
            account_name=None if hold else link.account,
            memo=f"real cost reported ({record.reason or 'aws-slurm-burst'})"[:500],
            metadata=metadata,
        )
        if not settled.changed:
            return Outcome.UNCHANGED, ZERO, ZERO, settled.previous
        up = max(settled.delta, ZERO)
        return Outcome.CORRECTED, up, up - settled.delta, settled.previous

    def reject(
        self,
        raw: object,
        reason: str,
        *,
        origin: str,
        actor: str,
        file_name: str | None = None,
        job_id: str | None = None,
    ) -> int:
        """Keep a report that could not be applied, with the reason (nothing is lost: a
        file's content stays in ``rejected/``; its row keeps a bounded ``excerpt``)."""
        record = excerpt(raw)
        whole = (
            json.dumps(raw, sort_keys=True, default=str)
            if raw is not None
            else f"{file_name}\n{reason}"
        )
        account = record.get("account")
        row = CostReport(
            job_id=(job_id or str(record.get("job_id") or "unknown"))[:64],
            account=account[:64] if isinstance(account, str) and account else None,
            origin=origin,
            file_name=file_name,
            digest=hashlib.sha256(whole.encode()).hexdigest(),
            outcome=Outcome.REJECTED,
            reason=reason[:1000],
            record=record,
            actor=actor,
            received_at=self.ledger.clock(),
        )

        def write(s: Session) -> int:
            s.add(row)
            s.flush()
            assert row.id is not None
            return row.id

        return self.db.run(write)

    # -- reading -----------------------------------------------------------------

    def for_job(self, job_id: str) -> list[CostReport]:
        return self.db.read(
            lambda s: list(
                s.exec(
                    select(CostReport)
                    .where(CostReport.job_id == job_id)
                    .order_by(col(CostReport.id))
                )
            )
        )

    def status(self) -> ReportStats:
        def query(s: Session) -> ReportStats:
            counts = dict(
                s.exec(
                    select(CostReport.outcome, func.count()).group_by(col(CostReport.outcome))
                ).all()
            )
            last = s.exec(select(func.max(CostReport.received_at))).one()
            jobs = s.exec(
                select(func.count(func.distinct(CostReport.job_id))).where(
                    col(CostReport.outcome).in_([str(o) for o in APPLIED])
                )
            ).one()
            pairs = s.exec(
                select(col(CostReport.estimate), col(CostReport.actual_cost)).where(
                    col(CostReport.estimate).is_not(None),
                    col(CostReport.outcome).in_([str(o) for o in APPLIED]),
                )
            ).all()
            return ReportStats(
                by_outcome={str(k): int(v) for k, v in counts.items()},
                jobs=int(jobs or 0),
                last_received=last,
                accuracy=_accuracy([(e, a) for e, a in pairs if e is not None and a is not None]),
            )

        return self.db.read(query)


def _clip(value: object) -> Any:
    text = json.dumps(value, sort_keys=True, default=str)
    if len(text) <= KEPT_CHARS:
        return json.loads(text)
    return f"{text[:KEPT_CHARS]}... ({len(text)} characters)"


def excerpt(raw: object) -> dict[str, Any]:
    """What ``cost_reports`` keeps of a rejected report: at most ``KEPT_FIELDS`` fields, each
    at most ``KEPT_CHARS`` characters of JSON (a longer one is cut, saying how long it was);
    nothing of a file that was never parsed (``raw`` None)."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        return {"raw": _clip(raw)}
    # The report's own fields first (what the reason is about), then the rest by name.
    keys = sorted(raw, key=lambda key: (key not in _REPORT_FIELDS, str(key)))
    kept = {str(key)[:64]: _clip(raw[key]) for key in keys[:KEPT_FIELDS]}
    if len(keys) > KEPT_FIELDS:
        kept["_not_kept"] = f"{len(keys) - KEPT_FIELDS} more fields"
    return kept


def _available(session: Session, account: str) -> Decimal:
    found = session.exec(select(Account).where(Account.name == account)).one()
    return found.available


def estimate_accuracy(estimate: Decimal, actual: Decimal) -> Decimal | None:
    """How close an estimate came to the real cost: 1 - |actual - estimate| / max(actual,
    estimate), 1 exact, 0 far off (None when both are zero)."""
    top = max(actual, estimate)
    return 1 - abs(actual - estimate) / top if top > 0 else None


def _accuracy(pairs: list[tuple[Decimal, Decimal]]) -> Decimal | None:
    """The mean ``estimate_accuracy`` of (estimate, actual) pairs (None: no pairs)."""
    scores = [
        score
        for estimate, actual in pairs
        if (score := estimate_accuracy(estimate, actual)) is not None
    ]
    if not scores:
        return None
    return (sum(scores, ZERO) / len(scores)).quantize(Decimal("0.0001"))


def _message(
    outcome: Outcome, record: CostRecord, previous: Decimal, charged: Decimal, refunded: Decimal
) -> str:
    job, cost = record.job_id, round_posting(record.actual_cost)
    if outcome == Outcome.RECONCILED:
        return f"job {job} reconciled at {cost:.2f}; released {refunded:.2f} of its hold"
    if outcome == Outcome.CHARGED:
        return f"job {job} ran without a hold; charged {cost:.2f} to its account"
    if outcome == Outcome.UNCHANGED:
        return f"job {job} already stands at {cost:.2f}; nothing changed"
    moved = f"charged {charged:.2f} more" if charged else f"refunded {refunded:.2f}"
    return f"job {job} corrected from {previous:.2f} to {cost:.2f}: {moved}"


@dataclass(frozen=True)
class ReportStats:
    by_outcome: dict[str, int]
    jobs: int
    """Jobs with at least one applied report."""
    last_received: datetime | None
    accuracy: Decimal | None
    """How close holds' estimates came to the reported costs (1 = exact)."""


# ---------------------------------------------------------------- the spool folder


@dataclass
class IngestReport:
    applied: list[tuple[str, str]] = field(default_factory=list)
    """(file, outcome)"""
    rejected: list[tuple[str, str]] = field(default_factory=list)
    """(file, reason)"""
    waiting: list[tuple[str, str]] = field(default_factory=list)
    """(file, why): kept for the next round."""
    stopped: str | None = None
    """Why the round stopped early (the folder missing or locked, the database down)."""


def _exports(folder: Path) -> list[tuple[Path, os.stat_result]]:
    found = entries(folder, lambda name: FILE_NAME.match(name) is not None)
    return sorted(found, key=lambda item: (item[1].st_mtime_ns, item[0].name))


def report_files(folder: Path) -> list[Path]:
    """The export files waiting in ``folder``, oldest first (regular files: links and the
    like are not exports, and the next ingest moves them to ``rejected/``)."""
    return [path for path, info in _exports(folder) if stat.S_ISREG(info.st_mode)]


def count_files(folder: Path, sub: str) -> int:
    where = folder / sub
    if not where.is_dir():
        return 0
    return sum(1 for p in where.iterdir() if p.suffix == ".json")


def mark_processed(path: Path) -> None:
    """Move an applied file to ``processed/`` (a same-named earlier one is kept too)."""
    target_dir = subfolder(path.parent, PROCESSED, 0o750)
    target = target_dir / path.name
    n = 1
    while target.exists():
        target = target_dir / f"{path.stem}.{n}{path.suffix}"
        n += 1
    os.replace(path, target)


@dataclass(frozen=True)
class AsbxStatus:
    """The integration's state: the export folder's files, the reports applied, and what is
    wrong (``asbx_status``)."""

    folder: Path
    interval_seconds: int
    enabled: bool
    """The daemon ingests the folder: its interval is above 0 and the folder exists."""
    files_waiting: int
    files_processed: int
    files_rejected: int
    reports: ReportStats
    problems: list[str]
    checked_at: datetime

    @property
    def health(self) -> str:
        """healthy; degraded (files rejected or waiting long); disabled (not ingested)."""
        if not self.enabled:
            return "disabled"
        return "degraded" if self.problems else "healthy"


def asbx_status(reports: CostReports, folder: Path | str | None = None) -> AsbxStatus:
    """The export folder (``asbx.spool_dir`` unless another is named) and the cost reports
    applied, with each problem said for people: the folder missing, ingesting off, files
    rejected, files waiting for their job's hold more than half of ``asbx.link_wait_seconds``."""
    settings = reports.ledger.settings.asbx
    where = Path(settings.spool_dir if folder is None else folder)
    stats = reports.status()
    now = reports.ledger.clock()
    # The stat taken with the listing: a file the watcher moves meanwhile is not an error.
    listed = [(path, info) for path, info in _exports(where) if stat.S_ISREG(info.st_mode)]
    waiting = [info for _, info in listed]
    rejected = count_files(where, REJECTED)
    problems = []
    if not where.is_dir():
        problems.append(f"{where} does not exist: aws-slurm-burst's exports are not ingested")
    elif settings.interval_seconds == 0:
        problems.append("asbx.interval_seconds is 0: exports are ingested only by the CLI")
    if rejected:
        problems.append(f"{rejected} export file(s) in {where / REJECTED}: see their .reason")
    limits = asbx_limits(settings)
    unreadable = [why for path, _ in listed if (why := why_unreadable(path, limits))]
    if unreadable:
        problems.append(f"{len(unreadable)} export file(s) cannot be read, e.g. {unreadable[0]}")
    stale = sum(
        1 for info in waiting if now.timestamp() - info.st_mtime > settings.link_wait_seconds / 2
    )
    if stale:
        problems.append(f"{stale} export file(s) waiting long for their job's hold")
    return AsbxStatus(
        folder=where,
        interval_seconds=settings.interval_seconds,
        enabled=settings.interval_seconds > 0 and where.is_dir(),
        files_waiting=len(waiting),
        files_processed=count_files(where, PROCESSED),
        files_rejected=rejected,
        reports=stats,
        problems=problems,
        checked_at=now,
    )


def ingest_folder(
    folder: Path | str,
    reports: CostReports,
    *,
    actor: str = "asbx-spool",
    link_wait_seconds: float = 3600,
    now: Callable[[], float] = time.time,
    on_item: Callable[[str, str], None] | None = None,
    limits: FileLimits | None = None,
) -> IngestReport:
    """Apply every export file in ``folder`` once (see the module doc). ``limits``: how the
    files are read; by default from the ledger's settings (``asbx.*``)."""
    spool = Path(folder)
    report = IngestReport()
    if not spool.is_dir():
        report.stopped = f"{spool} does not exist"
        return report
    rules = limits or asbx_limits(reports.ledger.settings.asbx)
    try:
        with folder_lock(spool) as locked:
            if not locked:
                report.stopped = "another ingest of this folder is running"
                return report
            # Checked first: a file applied or rejected must be moved, or every round would
            # record it again.
            broken = unusable_subfolder(spool, PROCESSED, REJECTED)
            if broken:
                report.stopped = broken
                return report
            for path, info in _exports(spool):
                age = now() - info.st_mtime
                outcome = _ingest_one(
                    path, reports, actor, age, link_wait_seconds, rules, now, report
                )
                if on_item is not None and outcome:
                    on_item(path.name, outcome)
                if report.stopped:
                    break
    except LockError as exc:
        report.stopped = str(exc)
    return report


def _check_amounts(record: CostRecord) -> None:
    """A report's amounts are stored as written: refuse one too long to keep."""
    for name in ("actual_cost", *_COSTS, "duration_hours"):
        value = getattr(record, name)
        if value is not None and len(str(value)) > AMOUNT_CHARS:
            raise ValidationError(
                f"{name}: {len(str(value))} characters; an amount has at most {AMOUNT_CHARS}",
                field=name,
            )


def _ingest_one(
    path: Path,
    reports: CostReports,
    actor: str,
    age: float,
    link_wait: float,
    limits: FileLimits,
    now: Callable[[], float],
    report: IngestReport,
) -> str | None:
    name = path.name
    expected = FILE_NAME.match(name)
    assert expected is not None
    raw: object = None
    try:
        raw = read_json(path, limits, now=now)
        record = parse_record(raw)
        if record.job_id != expected["job"]:
            raise ValidationError(
                f"job_id: the file is named for job {expected['job']} but says {record.job_id}",
                field="job_id",
            )
        _check_amounts(record)
        applied = reports.apply(record, origin="spool", actor=actor, file_name=name)
    except FileNotFoundError:
        return None
    except NotReadyError as exc:
        report.waiting.append((name, exc.reason))
        return None
    except UnreadableError as exc:  # this process may not read it: not the file's fault
        report.waiting.append((name, exc.explanation))
        _warn_once(path, exc.explanation)
        return None
    except HoldNotLinkedError as exc:
        if age < link_wait:
            report.waiting.append((name, exc.message))
            return None
        return _reject(
            path, reports, raw, f"{exc.code}: {exc.message}", actor, expected["job"], report
        )
    except (DatabaseError, SQLAlchemyError) as exc:
        report.stopped = f"database: {getattr(exc, 'message', type(exc).__name__)}"
        report.waiting.append((name, report.stopped))
        return None
    except OSError as exc:  # unreadable now (permissions, I/O): not the file's fault
        report.waiting.append((name, f"cannot read it: {exc}"))
        return None
    except AsbbError as exc:
        reason = f"{exc.code}: {exc.message}"
        return _reject(path, reports, raw, reason, actor, expected["job"], report)
    except Exception as exc:  # a bug must not stop the other files, nor lose this one
        log.exception("ingesting %s failed", name)
        report.waiting.append((name, f"internal error: {type(exc).__name__}: {exc}"))
        return None
    try:
        mark_processed(path)
    except OSError as exc:  # charged and recorded; moved next round (applied once anyway)
        log.error("cannot move %s to processed/: %s", name, exc)
    report.applied.append((name, applied.outcome))
    log.info("%s: %s", name, applied.message)
    return str(applied.outcome)


_WARNED: dict[Path, str] = {}
"""Unreadable files already logged (each watcher round would otherwise log them again)."""


def _warn_once(path: Path, explanation: str) -> None:
    if _WARNED.get(path) == explanation:
        return
    if len(_WARNED) > 1000:  # bounded: a folder of many unreadable files repeats, no more
        _WARNED.clear()
    _WARNED[path] = explanation
    log.warning("%s: waiting: %s", path.name, explanation)


def _reject(
    path: Path,
    reports: CostReports,
    raw: object,
    reason: str,
    actor: str,
    job_id: str,
    report: IngestReport,
) -> str | None:
    # Moved first: a file that cannot be moved stays, and must not be recorded every round.
    try:
        move_aside(path, reason)
    except OSError as exc:
        report.waiting.append((path.name, f"rejected ({reason}), but cannot be moved: {exc}"))
        log.error("cannot move %s to rejected/: %s", path.name, exc)
        return None
    try:
        reports.reject(raw, reason, origin="spool", actor=actor, file_name=path.name, job_id=job_id)
    except (DatabaseError, SQLAlchemyError):
        log.exception("could not record the rejection of %s", path.name)
    report.rejected.append((path.name, reason))
    log.warning("%s rejected: %s", path.name, reason)
    return str(Outcome.REJECTED)


class AsbxWatcher(PeriodicTask):
    """Ingests aws-slurm-burst's export folder every ``interval`` seconds, in the background.

    Safe with several daemons and the CLI: one ingest per folder at a time (flock), and a
    report applied twice moves the money once."""

    def __init__(
        self,
        folder: Path | str,
        reports: CostReports,
        interval: float,
        link_wait: float,
        on_item: Callable[[str, str], None] | None = None,
        limits: FileLimits | None = None,
    ) -> None:
        super().__init__("asbx-watcher", interval, self.run_once, join_timeout=10)
        self.folder = Path(folder)
        self.reports = reports
        self.link_wait = link_wait
        self.on_item = on_item
        self.limits = limits

    def run_once(self) -> IngestReport:
        result = ingest_folder(
            self.folder,
            self.reports,
            link_wait_seconds=self.link_wait,
            on_item=self.on_item,
            limits=self.limits,
        )
        if result.applied or result.rejected:
            log.info(
                "asbx ingest: %d applied, %d rejected, %d waiting",
                len(result.applied),
                len(result.rejected),
                len(result.waiting),
            )
        return result


__all__ = [
    "APPLIED",
    "PROCESSED",
    "REJECTED",
    "Applied",
    "AsbxStatus",
    "AsbxWatcher",
    "CostRecord",
    "CostReports",
    "HoldNotLinkedError",
    "IngestReport",
    "Outcome",
    "ReportStats",
    "asbx_status",
    "count_files",
    "estimate_accuracy",
    "excerpt",
    "ingest_folder",
    "mark_processed",
    "parse_job_id",
    "parse_record",
    "report_files",
    "slurm_lookup",
]
