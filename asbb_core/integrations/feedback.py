"""Performance feedback from aws-slurm-burst: how efficiently a job used what it paid for.

Kept per job next to its cost reports (``asbb_core.integrations.job_context`` shows both), so an
administrator looking at an expensive job sees whether its resources were used.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from sqlmodel import Session, col, select

from asbb_core.integrations.cost_reports import parse_job_id
from asbb_core.store.database import Database
from asbb_core.store.models import PerformanceFeedback
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
