"""Who is doing a change, from where, and how to recognise a retry of it.

Idempotency keys live in three namespaces that can never meet:

* ``client:<key>`` -- a key a caller sent (an ``Idempotency-Key`` header, ``--idempotency-key``);
* ``asbb:<kind>:<parts>`` -- a key asbb derives from what an operation is about (one reconcile
  per hold and task, one charge per account and job, one approval per request), so the same
  fact arriving twice by any path is applied once;
* ``op:<uuid>`` -- made by the unit of work for a write that came with neither, before its
  first try, so a retry after a lost COMMIT reply finds the first try's record.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import ClassVar

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


CLIENT_KEY_LIMIT = 128
# Printable ASCII, no blanks; matched whole (a "$" anchor would let a trailing "\n" by).
_CLIENT_KEY = re.compile(r"[\x21-\x7e]+")


@dataclass(frozen=True)
class IdempotencyKey:
    """A namespaced idempotency key; build one with ``client``, ``derived`` or ``generated``."""

    value: str

    GENERATED_PREFIX: ClassVar[str] = "op:"

    def __post_init__(self) -> None:
        if not self.value.startswith(("client:", "asbb:", "op:")) or len(self.value) > 200:
            raise ValueError(f"not a namespaced idempotency key: {self.value!r}")

    @classmethod
    def client(cls, raw: object, *, field: str = "idempotency_key") -> IdempotencyKey:
        """A key a caller sent: 1 to 128 printable ASCII characters."""
        if (
            not isinstance(raw, str)
            or len(raw) > CLIENT_KEY_LIMIT
            or not _CLIENT_KEY.fullmatch(raw)
        ):
            raise ValidationError(
                f"{field}: must be 1 to {CLIENT_KEY_LIMIT} printable ASCII characters "
                "without blanks",
                field=field,
            )
        return cls(f"client:{raw}")

    @classmethod
    def derived(cls, kind: str, *parts: object) -> IdempotencyKey:
        """A key asbb derives from what an operation is about (parts already canonical)."""
        return cls(":".join(["asbb", kind, *(str(p) for p in parts)]))

    @classmethod
    def generated(cls) -> IdempotencyKey:
        return cls(f"{cls.GENERATED_PREFIX}{uuid.uuid4().hex}")

    @property
    def from_client(self) -> bool:
        return self.value.startswith("client:")

    @property
    def generated_here(self) -> bool:
        return self.value.startswith(self.GENERATED_PREFIX)

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Context:
    """Carried by every change: stored on each journal row it writes.

    ``idempotency_key``: a retry with the same key returns the first result and moves nothing.
    ``correlation_id``: ties together the rows one request wrote (and the request's logs).
    """

    actor: str
    source: Source
    correlation_id: str = field(default_factory=new_correlation_id)
    idempotency_key: IdempotencyKey | None = None

    def __post_init__(self) -> None:
        if not self.actor or len(self.actor) > 128:
            raise ValidationError("actor: must be 1 to 128 characters", field="actor")
        if self.idempotency_key is not None and not isinstance(
            self.idempotency_key, IdempotencyKey
        ):
            # A bare string could be a caller's key or one of ours: say which.
            raise TypeError("idempotency_key: use IdempotencyKey.client() or .derived()")
        if not 1 <= len(self.correlation_id) <= 64:
            raise ValidationError(
                "correlation_id: must be 1 to 64 characters", field="correlation_id"
            )
