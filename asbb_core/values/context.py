"""Who is doing a change, from where, and how to recognise a retry of it."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from asbb_core.values.errors import ValidationError

Clock = Callable[[], datetime]


class Source(StrEnum):
    """Where a change came from."""

    PLUGIN = "plugin"
    EPILOG = "epilog"
    API = "api"
    CONSOLE = "console"
    CLI = "cli"
    SCHEDULER = "scheduler"
    RECOVERY = "recovery"
    ASBX = "asbx"  # aws-slurm-burst's cost reports (spool files and its API calls)


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_correlation_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Context:
    """Carried by every change: stored on each journal row it writes.

    ``idempotency_key``: a retry with the same key returns the first result and moves nothing.
    ``correlation_id``: ties together the rows one request wrote (and the request's logs).
    """

    actor: str
    source: Source
    correlation_id: str = field(default_factory=new_correlation_id)
    idempotency_key: str | None = None

    def __post_init__(self) -> None:
        if not self.actor or len(self.actor) > 128:
            raise ValidationError("actor: must be 1 to 128 characters", field="actor")
        if self.idempotency_key is not None and not 1 <= len(self.idempotency_key) <= 200:
            raise ValidationError(
                "idempotency_key: must be 1 to 200 characters", field="idempotency_key"
            )
        if not 1 <= len(self.correlation_id) <= 64:
            raise ValidationError(
                "correlation_id: must be 1 to 64 characters", field="correlation_id"
            )
