"""The whole bank at a glance, for the console's dashboard: every figure from one call.

``overview(db, settings, now=...)`` reads, in one read-only transaction:

- money across all accounts (limit, used, held, available) -- one ``SUM`` over ``accounts``;
- net spend today, this month and per day over the last ``days`` days -- one ``GROUP BY`` day
  over the journal's ``created_at`` index, restricted to the month and the window;
- the top burning accounts by net spend over the last 7 days -- one ``GROUP BY`` account,
  ``ORDER BY`` spend, ``LIMIT`` n;
- unresolved alerts and pending approvals -- ``COUNT`` queries;
- the latest journal rows -- ``ORDER BY id DESC LIMIT`` n.

Only the few top burners then get their health band (``asbb_core.analytics.burnrate``, one read
each).
Nothing here loads all accounts or all journal rows into Python: its cost does not grow with
the number of accounts beyond one sum, nor with the journal beyond the rows of the window.
Spend means the same as in ``asbb_core.ledger.spend``: the net of the journal's ``used_delta``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import case, func, literal
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from asbb_core.analytics.burnrate import Health, account_burn_rate
from asbb_core.ledger.spend import day_key, day_start
from asbb_core.settings import Settings
from asbb_core.store.database import Database
from asbb_core.store.models import (
    Account,
    AccountStatus,
    AdjustmentRequest,
    AdjustmentStatus,
    Alert,
    AlertSeverity,
    AlertStatus,
    EntryKind,
    JournalEntry,
)
from asbb_core.store.sqltypes import Money
from asbb_core.values.context import Source
from asbb_core.values.errors import AsbbError, ValidationError
from asbb_core.values.money import ZERO

BURN_DAYS = 7
"""Top burners are ranked by their net spend over this many days (today included)."""
HEALTH_WINDOW = "30d"
"""The burn-rate window whose health band is shown for each top burner."""


@dataclass(frozen=True)
class Burner:
    """One of the accounts that spent most over the last ``BURN_DAYS`` days."""

    account_id: int
    account: str
    status: str
    spent: Decimal
    """Net spend over the last ``BURN_DAYS`` days."""
    limit: Decimal
    used: Decimal
    held: Decimal
    health: Health | None = None
    """The 30-day burn rate's health (``None`` when it could not be computed)."""

    @property
    def available(self) -> Decimal:
        return self.limit - self.used - self.held


@dataclass(frozen=True)
class Activity:
    """One recent journal row."""

    id: int
    created_at: datetime
    account: str
    kind: str
    amount: Decimal
    actor: str
    source: str


@dataclass(frozen=True)
class Overview:
    now: datetime
    today: date
    accounts: int
    active_accounts: int
    suspended_accounts: int
    limit: Decimal
    used: Decimal
    held: Decimal
    available: Decimal
    spent_today: Decimal
    spent_month: Decimal
    daily: list[tuple[date, Decimal]] = field(default_factory=list)
    """Net spend per UTC day, oldest first, one entry per day (zero when nothing was spent)."""
    top_burners: list[Burner] = field(default_factory=list)
    alerts_open: int = 0
    alerts_acknowledged: int = 0
    alerts_critical: int = 0
    """Unresolved (open or acknowledged) alerts of critical severity."""
    pending_approvals: int = 0
    recent: list[Activity] = field(default_factory=list)
    """The latest journal rows, newest first."""

    @property
    def alerts_unresolved(self) -> int:
        return self.alerts_open + self.alerts_acknowledged


def _money_sum(column: Any) -> Any:
    # Typed as money (and its zero too), so SQLite's scaled integers come back as Decimal.
    total = func.sum(column, type_=Money)
    return func.coalesce(total, literal(ZERO, Money), type_=Money)


def _decimal(value: object) -> Decimal:
    return ZERO if value is None else Decimal(str(value))


def _to_date(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _check(name: str, value: int, most: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= most:
        raise ValidationError(f"{name}: must be from 1 to {most}", field=name)


def overview(
    db: Database,
    settings: Settings,
    *,
    now: datetime,
    days: int = 30,
    burners: int = 5,
    recent: int = 10,
) -> Overview:
    """Every figure of the dashboard as of ``now`` (UTC days; today counts as a whole day)."""
    _check("days", days, 366)
    _check("burners", burners, 50)
    _check("recent", recent, 200)
    if now.tzinfo is None:
        raise ValidationError("now: must be an aware datetime", field="now")
    today = now.astimezone(UTC).date()
    first = today - timedelta(days=days - 1)
    month_start = today.replace(day=1)
    end = day_start(today + timedelta(days=1))

    def query(s: Session) -> Overview:
        # Money across all accounts, and how many accounts there are (one pass).
        totals = s.execute(
            sa_select(
                func.count(),
                func.coalesce(func.sum(case((col(Account.status) == AccountStatus.ACTIVE, 1))), 0),
                func.coalesce(
                    func.sum(case((col(Account.status) == AccountStatus.SUSPENDED, 1))), 0
                ),
                _money_sum(col(Account.limit_amount)),
                _money_sum(col(Account.used_amount)),
                _money_sum(col(Account.held_amount)),
            ).select_from(Account)
        ).one()
        count, active, suspended, limit, used, held = totals
        limit, used, held = _decimal(limit), _decimal(used), _decimal(held)

        # Spend per day over the window and the month (the month starts at most 30 days back).
        day = day_key(s).label("day")
        since = min(first, month_start)
        per_day: dict[date, Decimal] = {}
        for key, spent in s.exec(
            select(day, _money_sum(col(JournalEntry.used_delta)))
            .where(
                col(JournalEntry.created_at) >= day_start(since),
                col(JournalEntry.created_at) < end,
                col(JournalEntry.used_delta) != 0,
            )
            .group_by(day)
        ):
            per_day[_to_date(key)] = _decimal(spent)
        daily = [(d, per_day.get(d, ZERO)) for d in _days(first, today)]
        spent_month = sum((v for d, v in per_day.items() if d >= month_start), ZERO)

        # The top burners: spend per account over the last BURN_DAYS days, best first.
        spent = _money_sum(col(JournalEntry.used_delta))
        burn_since = today - timedelta(days=BURN_DAYS - 1)
        rows = s.exec(
            select(
                col(JournalEntry.account_id),
                spent.label("spent"),
            )
            .where(
                col(JournalEntry.created_at) >= day_start(burn_since),
                col(JournalEntry.created_at) < end,
                col(JournalEntry.used_delta) != 0,
            )
            .group_by(col(JournalEntry.account_id))
            .having(spent > ZERO)
            .order_by(spent.desc(), col(JournalEntry.account_id))
            .limit(burners)
        ).all()
        top: list[Burner] = []
        if rows:
            wanted = {int(a): _decimal(v) for a, v in rows}
            found = {
                a.id: a for a in s.exec(select(Account).where(col(Account.id).in_(list(wanted))))
            }
            for account_id, amount in wanted.items():
                a = found.get(account_id)
                if a is None:
                    continue
                top.append(
                    Burner(
                        account_id=account_id,
                        account=a.name,
                        status=str(a.status),
                        spent=amount,
                        limit=a.limit_amount,
                        used=a.used_amount,
                        held=a.held_amount,
                    )
                )
            top.sort(key=lambda b: (-b.spent, b.account))

        # Alerts not yet resolved, and approvals waiting for a checker.
        alert_counts: dict[str, int] = {}
        critical = 0
        for status, severity, n in s.exec(
            select(col(Alert.status), col(Alert.severity), func.count())
            .where(col(Alert.status).in_([AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED]))
            .group_by(col(Alert.status), col(Alert.severity))
        ):
            alert_counts[str(status)] = alert_counts.get(str(status), 0) + int(n)
            if str(severity) == AlertSeverity.CRITICAL:
                critical += int(n)
        pending = s.exec(
            select(func.count())
            .select_from(AdjustmentRequest)
            .where(col(AdjustmentRequest.status) == AdjustmentStatus.PENDING)
        ).one()

        # The latest journal rows (the primary key's order is the journal's order).
        latest = [
            Activity(
                id=int(i),
                created_at=at,
                account=name,
                kind=str(EntryKind(kind)),
                amount=_decimal(amount),
                actor=actor,
                source=str(Source(source)),
            )
            for i, at, name, kind, amount, actor, source in s.execute(
                sa_select(
                    col(JournalEntry.id),
                    col(JournalEntry.created_at),
                    col(Account.name),
                    col(JournalEntry.kind),
                    col(JournalEntry.amount),
                    col(JournalEntry.actor),
                    col(JournalEntry.source),
                )
                .join(Account, col(Account.id) == col(JournalEntry.account_id))
                .order_by(col(JournalEntry.id).desc())
                .limit(recent)
            )
        ]
        return Overview(
            now=now,
            today=today,
            accounts=int(count),
            active_accounts=int(active),
            suspended_accounts=int(suspended),
            limit=limit,
            used=used,
            held=held,
            available=limit - used - held,
            spent_today=per_day.get(today, ZERO),
            spent_month=spent_month,
            daily=daily,
            top_burners=top,
            alerts_open=alert_counts.get(AlertStatus.OPEN, 0),
            alerts_acknowledged=alert_counts.get(AlertStatus.ACKNOWLEDGED, 0),
            alerts_critical=critical,
            pending_approvals=int(pending),
            recent=latest,
        )

    result = db.read(query)
    if not result.top_burners:
        return result
    # Only the few top burners get a burn rate (one small read each).
    rated = [_with_health(db, settings, b, today) for b in result.top_burners]
    return replace(result, top_burners=rated)


def _with_health(db: Database, settings: Settings, burner: Burner, today: date) -> Burner:
    try:
        rate = account_burn_rate(db, settings, burner.account, window=HEALTH_WINDOW, today=today)
    except AsbbError:  # e.g. renamed or removed between the two reads: no band, no failure
        return burner
    return replace(burner, health=rate.health)


def _days(since: date, until: date) -> list[date]:
    return [since + timedelta(days=n) for n in range((until - since).days + 1)]
