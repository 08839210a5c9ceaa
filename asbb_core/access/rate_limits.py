"""Rate limits every daemon process and replica share: one token bucket per caller, in the
database (``rate_buckets``), so running two daemons (or four uvicorn workers) does not double
what a token may send.

Each request takes one token from its caller's bucket, which refills at ``per_minute / 60``
tokens a second up to ``per_minute``. The bucket is read and written in one short
transaction that locks its row (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's
``BEGIN IMMEDIATE``), outside the ledger's unit of work on purpose: a request counted twice
after a lost COMMIT reply costs its caller one request, never money, and keeping replay
records for every request would cost more than the limit protects.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from asbb_core.store.database import Database
from asbb_core.store.models import RateBucket

ATTEMPTS = 5


def wall_clock() -> datetime:
    return datetime.now(UTC)


class SharedRateLimiter:
    """``allow(caller, per_minute)``: 0 when the request may go now, else the seconds to
    wait. ``per_minute <= 0`` means no limit (nothing is read or written)."""

    def __init__(self, db: Database, clock: Callable[[], datetime] = wall_clock) -> None:
        self.db = db
        self.clock = clock

    def allow(self, caller: str, per_minute: int) -> float:
        if per_minute <= 0:
            return 0.0
        for attempt in range(ATTEMPTS):
            try:
                return self._take(caller[:200], float(per_minute))
            except (IntegrityError, OperationalError):
                # Two first requests inserted the same bucket, or SQLite was busy: again.
                if attempt == ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def _take(self, caller: str, capacity: float) -> float:
        rate = capacity / 60.0
        table = RateBucket.__table__  # type: ignore[attr-defined]
        with self.db.engine.begin() as conn:
            row = conn.execute(
                select(table.c.tokens, table.c.updated_at)
                .where(table.c.caller == caller)
                .with_for_update()
            ).first()
            now = self.clock()
            if row is None:
                tokens = capacity
            else:
                elapsed = max((now - row.updated_at).total_seconds(), 0.0)
                tokens = min(capacity, row.tokens + elapsed * rate)
            wait = 0.0 if tokens >= 1.0 else (1.0 - tokens) / rate
            if wait == 0.0:
                tokens -= 1.0
            values = {"tokens": tokens, "updated_at": now}
            if row is None:
                conn.execute(insert(table).values(caller=caller, **values))
            else:
                conn.execute(update(table).where(table.c.caller == caller).values(**values))
        return wait
