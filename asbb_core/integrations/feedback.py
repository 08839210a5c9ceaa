"""Performance feedback from aws-slurm-burst: how efficiently a job used what it paid for.

Kept per job next to its cost reports (``asbb_core.integrations.job_context`` shows both), so an
administrator looking at an expensive job sees whether its resources were used.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from asbb_core.integrations.cost_reports import parse_job_id
from asbb_core.store.database import Database
from asbb_core.store.models import PerformanceFeedback
from asbb_core.store.sqltypes import Money
from asbb_core.values.context import Clock, utcnow
from asbb_core.values.errors import ValidationError
from asbb_core.values.money import decimal_of_json
from asbb_core.values.text import normalise_account_name

_RATIOS = {
    "cpu_efficiency": "cpu_efficiency",
    "memory_efficiency": "memory_efficiency",
    "gpu_efficiency": "gpu_efficiency",
    "actual_vs_estimated": "actual_vs_estimated_ratio",
}
_MOST = Decimal(1000)


def _ratio(value: object, name: str) -> Decimal | None:
    """An efficiency as a fraction (0.85) or a percentage (85): kept as sent, 0..1000."""
    if value is None:
        return None
    number = decimal_of_json(value, field=name)
    if not 0 <= number <= _MOST:
        raise ValidationError(f"{name}: must be from 0 to {_MOST}", field=name)
    return number.quantize(Decimal("0.0001"))


def parse_feedback(data: object, *, actor: str, now: Clock = utcnow) -> PerformanceFeedback:
    """A feedback row from a request body; ``ValidationError`` names the bad field."""
    if not isinstance(data, Mapping):
        raise ValidationError("the feedback must be a JSON object")
    job = parse_job_id(data.get("job_id"))
    account = data.get("account")
    if account is not None and not isinstance(account, str):
        raise ValidationError("account: must be a string", field="account")
    partition = data.get("partition")
    if partition is not None and (not isinstance(partition, str) or len(partition) > 64):
        raise ValidationError(
            "partition: must be a name of at most 64 characters", field="partition"
        )
    profile = data.get("performance_profile") or data.get("profile") or ""
    if not isinstance(profile, str):
        raise ValidationError("performance_profile: must be a string", field="performance_profile")
    values = {
        column: _ratio(data.get(key, data.get(column)), key) for column, key in _RATIOS.items()
    }
    known = {"job_id", "account", "partition", "performance_profile", "profile", *_RATIOS.values()}
    details: dict[str, Any] = {k: v for k, v in data.items() if k not in known}
    return PerformanceFeedback(
        job_id=job,
        account=normalise_account_name(account) if account else None,
        partition=partition or None,
        profile=profile[:64],
        details=details,
        actor=actor,
        received_at=now(),
        cpu_efficiency=values["cpu_efficiency"],
        memory_efficiency=values["memory_efficiency"],
        gpu_efficiency=values["gpu_efficiency"],
        actual_vs_estimated=values["actual_vs_estimated"],
    )


def record_feedback(db: Database, row: PerformanceFeedback) -> PerformanceFeedback:
    def write(s: Session) -> PerformanceFeedback:
        s.add(row)
        s.flush()
        s.refresh(row)
        s.expunge(row)
        return row

    return db.run(write)


def feedback_for_job(db: Database, job_id: str) -> list[PerformanceFeedback]:
    return db.read(
        lambda s: list(
            s.exec(
                select(PerformanceFeedback)
                .where(PerformanceFeedback.job_id == job_id)
                .order_by(col(PerformanceFeedback.id))
            )
        )
    )


@dataclass(frozen=True)
class ProfileSummary:
    """The average of each efficiency over one workload profile's feedback (None: no job
    reported it). Ratios are kept as sent, so a site mixing fractions and percentages sees
    it here."""

    profile: str
    jobs: int
    cpu_efficiency: Decimal | None
    memory_efficiency: Decimal | None
    gpu_efficiency: Decimal | None
    actual_vs_estimated: Decimal | None


_FOUR = Decimal("0.0001")


def profile_summaries(
    db: Database, *, profile: str | None = None, since: datetime | None = None
) -> list[ProfileSummary]:
    """Feedback per workload profile (``""`` for feedback that named none), by profile name;
    ``since`` keeps what was received from then on. Sums and counts are taken in SQL (exact
    on every backend), the averages in Decimal."""
    ratios = [col(getattr(PerformanceFeedback, c)) for c in _RATIOS]
    columns: list[Any] = [func.count(col(PerformanceFeedback.id))]
    for ratio in ratios:
        columns += [func.sum(ratio, type_=Money), func.count(ratio)]
    stmt = select(col(PerformanceFeedback.profile), *columns).group_by(
        col(PerformanceFeedback.profile)
    )
    if profile is not None:
        stmt = stmt.where(col(PerformanceFeedback.profile) == profile.strip())
    if since is not None:
        stmt = stmt.where(col(PerformanceFeedback.received_at) >= since)

    def query(s: Session) -> list[ProfileSummary]:
        out = []
        for name, jobs, *sums in s.execute(stmt.order_by(col(PerformanceFeedback.profile))):
            averages = [
                (Decimal(total) / n).quantize(_FOUR) if n else None
                for total, n in zip(sums[::2], sums[1::2], strict=True)
            ]
            out.append(ProfileSummary(name, int(jobs), *averages))
        return out

    return db.read(query)
