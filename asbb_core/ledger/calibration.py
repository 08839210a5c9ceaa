"""Cost learning: how actual costs compare with estimates, per account and partition.

The ratio is ``sum(charged) / sum(estimate)`` over holds posted in the last
``calibration.window_days`` (one ``GROUP BY`` in SQL). ``estimate`` is the pricing model's own
figure, before any calibration, so learning never feeds on itself. The ratios are always
reported; with ``calibration.enabled`` new holds are scaled by them, bounded to
``[lower, upper]`` and only once ``min_jobs`` posted jobs back a ratio.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlmodel import Session, col

from asbb_core.ledger.admission import FLEET_SOURCE
from asbb_core.settings import CalibrationSettings
from asbb_core.store.database import Database
from asbb_core.store.models import Account, Hold, HoldState
from asbb_core.store.sqltypes import Money
from asbb_core.values.context import Clock, utcnow
from asbb_core.values.money import round_internal, round_posting

ONE = Decimal(1)
_RATIO = Decimal("0.0001")


@dataclass(frozen=True)
class CostRatio:
    account: str
    partition: str | None
    jobs: int
    estimated: Decimal
    actual: Decimal
    ratio: Decimal | None
    """actual / estimated (None when nothing was estimated)."""
    factor: Decimal
    """What calibration would scale new estimates by (1 until ``min_jobs`` back it)."""


def bounded_factor(ratio: Decimal | None, jobs: int, settings: CalibrationSettings) -> Decimal:
    if ratio is None or jobs < settings.min_jobs:
        return ONE
    return min(max(ratio, settings.lower), settings.upper).quantize(_RATIO)


def cost_ratios(
    db: Database,
    settings: CalibrationSettings,
    *,
    now: datetime | None = None,
    account: str | None = None,
    partition: str | None = None,
) -> list[CostRatio]:
    """Actual against estimated cost per account and partition, over the learning window."""
    since = (now or utcnow()) - timedelta(days=settings.window_days)
    estimated = func.sum(col(Hold.estimate), type_=Money).label("estimated")
    actual = func.sum(col(Hold.charged), type_=Money).label("actual")
    jobs = func.count(col(Hold.id)).label("jobs")
    stmt = (
        select(col(Account.name), col(Hold.partition), jobs, estimated, actual)
        .join(Account, col(Account.id) == Hold.account_id)
        .where(
            col(Hold.state) == HoldState.POSTED,
            col(Hold.resolved_at) >= since,
            col(Hold.estimate) > 0,
            # A fleet's estimate is a guess of its hours, not a model of a job's cost.
            col(Hold.estimate_source) != FLEET_SOURCE,
        )
        .group_by(col(Account.name), col(Hold.partition))
        .order_by(col(Account.name), col(Hold.partition))
    )
    if account is not None:
        stmt = stmt.where(col(Account.name) == account)
    if partition is not None:
        stmt = stmt.where(col(Hold.partition) == partition)

    def query(s: Session) -> list[CostRatio]:
        out = []
        for name, part, n, est, act in s.execute(stmt):
            ratio = (act / est).quantize(_RATIO) if est else None
            out.append(
                CostRatio(
                    account=name,
                    partition=part,
                    jobs=int(n),
                    estimated=round_posting(est),
                    actual=round_posting(act),
                    ratio=ratio,
                    factor=bounded_factor(ratio, int(n), settings),
                )
            )
        return out

    return db.read(query)


class Calibrator:
    """The factor for a new hold, from ratios cached for ``refresh_seconds`` (the budget
    check must not run a GROUP BY on every sbatch)."""

    def __init__(self, db: Database, settings: CalibrationSettings, *, clock: Clock = utcnow):
        self.db = db
        self.settings = settings
        self.clock = clock
        self._lock = threading.Lock()
        self._factors: dict[tuple[str, str | None], Decimal] = {}
        self._loaded_at: float | None = None

    def _refresh(self) -> None:
        ratios = cost_ratios(self.db, self.settings, now=self.clock())
        self._factors = {(r.account, r.partition): r.factor for r in ratios}
        self._loaded_at = time.monotonic()

    def factor(self, account: str, partition: str | None) -> Decimal:
        if not self.settings.enabled:
            return ONE
        with self._lock:
            stale = (
                self._loaded_at is None
                or time.monotonic() - self._loaded_at >= self.settings.refresh_seconds
            )
            if stale:
                self._refresh()
            return self._factors.get((account, partition), ONE)


def calibrated(estimate: Decimal, factor: Decimal) -> Decimal:
    """The estimate a calibrated hold is based on."""
    return round_internal(estimate * factor)
