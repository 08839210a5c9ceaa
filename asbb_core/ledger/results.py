"""What the ledger's use cases answer: frozen dataclasses, one JSON form each (``to_dict``).

The unit of work records them (``asbb_core.store.operations``) and replays them to a retry
with ``replayed`` set. Money in a result is whole cents, except the fields named in
``_precise`` (a hold's estimate keeps its 4 places).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from asbb_core.values.errors import AccountInactiveError, InsufficientFundsError
from asbb_core.values.money import round_posting


class _Result:
    _precise: frozenset[str] = frozenset({"estimate"})

    def __post_init__(self) -> None:
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if isinstance(value, Decimal) and f.name not in self._precise:
                object.__setattr__(self, f.name, round_posting(value))

    def to_dict(self) -> dict[str, Any]:
        """The result for JSON: money as exact strings, times in ISO 8601."""
        out: dict[str, Any] = {}
        for key, value in asdict(self).items():  # type: ignore[call-overload]
            if isinstance(value, Decimal):
                out[key] = str(value)
            elif isinstance(value, datetime | date):
                out[key] = value.isoformat()
            else:
                out[key] = value
        return out


@dataclass(frozen=True)
class HoldResult(_Result):
    hold_id: str
    account: str
    partition: str | None
    estimate: Decimal
    amount: Decimal
    available_after: Decimal
    expires_at: datetime
    task_count: int
    replayed: bool = False


@dataclass(frozen=True)
class HoldQuote:
    """What ``create_hold`` would decide for a hold now (``Ledger.quote_hold``)."""

    account: str
    partition: str | None
    estimate: Decimal
    amount: Decimal
    """The hold it would take (estimate x calibration x buffer, to the cent)."""
    available: Decimal
    """The account's available money now, before the hold."""
    refusal: InsufficientFundsError | AccountInactiveError | None
    """The error ``create_hold`` would raise; None: it would be accepted."""

    @property
    def accepted(self) -> bool:
        return self.refusal is None

    @property
    def available_after(self) -> Decimal:
        return self.available - self.amount


@dataclass(frozen=True)
class PostResult(_Result):
    """A task's (or a job's) cost charged against its hold."""

    hold_id: str
    account: str
    original_hold: Decimal
    charged: Decimal
    """Charged now, in whole cents (the account's carry took the fraction of a cent)."""
    overrun: Decimal
    """The part of ``charged`` above what the hold still reserved."""
    released: Decimal
    total_charged: Decimal
    state: str
    tasks_posted: int
    task_count: int
    late: bool = False
    """The hold had already closed: the cost was charged as a late charge linked to it."""
    replayed: bool = False


@dataclass(frozen=True)
class SettleResult(_Result):
    """A job's charge brought to a reported cost: ``delta`` was charged (+) or refunded (-)."""

    account: str
    hold_id: str | None
    job_id: str
    previous: Decimal
    cost: Decimal
    delta: Decimal
    available: Decimal
    entry_ids: list[int]
    replayed: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.entry_ids)


@dataclass(frozen=True)
class ReleaseResult(_Result):
    hold_id: str
    account: str
    released: Decimal
    state: str
    replayed: bool = False


@dataclass(frozen=True)
class MovementResult(_Result):
    """A deposit, allocation, adjustment, transfer, expiry or a charge without a hold."""

    account: str
    amount: Decimal
    limit: Decimal
    used: Decimal
    held: Decimal
    available: Decimal
    entry_ids: list[int]
    replayed: bool = False
