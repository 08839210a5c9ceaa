"""Alerts: conditions worth a person's attention, raised once per breach and cleared when the
condition ends.

Each evaluation (``AlertService.evaluate``; the daemon runs it every
``alerts.evaluate_interval_seconds``, ``asbb alerts evaluate`` on demand) computes, in SQL,
the conditions that hold now:

========================  ===============================================  ==================
kind                      holds when                                       dedup key
========================  ===============================================  ==================
``usage``                 an active account has used (charged) at least    ``usage:<account>:
                          one of ``alerts.usage_thresholds`` % of its      <threshold>``
                          limit; only the HIGHEST threshold reached
``variance``              the 30-day burn rate is more than                ``variance:
                          ``alerts.variance_percent`` above the expected   <account>``
                          daily spend
``exhaustion``            the money is projected to run out more than      ``exhaustion:
                          ``alerts.exhaustion_days`` before the end date   <account>``
``grant-period``          a grant's current budget period ends within      ``grant-period:
                          ``grant_period_notice_days`` with more than      <number>:<period>``
                          ``grant_period_left_percent`` of it unspent
``stuck-holds``           holds open longer than ``stuck_hold_hours`` or   ``stuck-holds``
                          past their timeout
``spool-backlog``         at least ``spool_backlog`` reconciles wait in    ``spool-backlog``
                          the spool folder
========================  ===============================================  ==================

and then, in one transaction per alert:

* a condition whose alert is still active (open or acknowledged) only updates it: its
  ``last_seen_at``, its figures, and its severity if that got worse (never better);
* a new condition opens an alert and queues one ``opened`` delivery per configured channel
  (webhook, email; see ``asbb_core.alerts.delivery``). ``Alert.active_key`` is unique, so two
  evaluators racing open it once: the loser's insert fails and it moves on;
* an active alert whose condition no longer holds is resolved by ``asbb`` ("condition
  cleared") and queues ``resolved`` deliveries.

So an alert fires once per breach, however often evaluation runs, and clears by itself.
Moving from 80% to 90% used resolves the 80% alert and opens the 90% one.

**Silencing.** ``acknowledge`` marks an alert as seen (who, when, a note); it stays active, so
nothing new is raised while the condition lasts, and it still resolves by itself when the
condition ends. ``resolve`` closes an alert by hand: if its condition still holds, the next
evaluation opens a FRESH alert (and notifies again). Acknowledge to silence; resolve what you
fixed.

Nothing here touches the ledger's money or waits on the network: evaluation only reads and
writes alert rows, and deliveries are sent later, outside any transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import func, literal_column, or_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from asbb_core.analytics.burnrate import account_burn_rate
from asbb_core.funding.grants import Grants
from asbb_core.integrations.spool import spooled_files
from asbb_core.ledger import Ledger
from asbb_core.ledger.spend import day_start
from asbb_core.settings import Settings
from asbb_core.store.database import Database
from asbb_core.store.models import (
    Account,
    AccountStatus,
    Alert,
    AlertDelivery,
    AlertSeverity,
    AlertStatus,
    Grant,
    GrantAccount,
    GrantPeriod,
    GrantStatus,
    Hold,
    HoldState,
    JournalEntry,
)
from asbb_core.store.periodic import PeriodicTask
from asbb_core.store.queries import check_page, text_search
from asbb_core.store.sqltypes import Money
from asbb_core.values.context import Clock, utcnow
from asbb_core.values.errors import ConflictError, NotFoundError, ValidationError
from asbb_core.values.money import format_money, money_str
from asbb_core.values.text import clean_text, normalise_account_name, person

log = logging.getLogger("asbb.alerts")

MAX_ID = 2**63 - 1
MAX_PAGE = 1000
SYSTEM_ACTOR = "asbb"
CLEARED = "condition cleared"
KINDS: tuple[str, ...] = (
    "usage",
    "variance",
    "exhaustion",
    "grant-period",
    "stuck-holds",
    "spool-backlog",
)
STUCK_SAMPLE = 5
"""How many of the oldest stuck holds an alert names."""
BURN_WINDOW_DAYS = 30
EXHAUSTION_CRITICAL_DAYS = 7
_RANK = {AlertSeverity.INFO: 0, AlertSeverity.WARNING: 1, AlertSeverity.CRITICAL: 2}
_TEXT_LIMIT = 500


@dataclass(frozen=True)
class Condition:
    """Something that holds now and deserves an alert (one per ``dedup_key``)."""

    kind: str
    dedup_key: str
    severity: AlertSeverity
    title: str
    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    account_id: int | None = None
    grant_id: int | None = None


Check = Callable[[Database, Settings, datetime], list[Condition]]
"""Computes the conditions of some kinds that hold at the given time."""


def _percent(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.1")))


# ---------------------------------------------------------------- the conditions


def usage_severity(threshold: int) -> AlertSeverity:
    """info below 80%, warning from 80% to 99%, critical from 100%."""
    if threshold >= 100:
        return AlertSeverity.CRITICAL
    if threshold >= 80:
        return AlertSeverity.WARNING
    return AlertSeverity.INFO


def usage_conditions(db: Database, settings: Settings, now: datetime) -> list[Condition]:
    """Per active account with a limit, the highest usage threshold its used total reached."""
    thresholds = sorted(settings.alerts.usage_thresholds)
    if not thresholds:
        return []
    lowest: Any = literal_column(str(int(thresholds[0])))
    hundred: Any = literal_column("100")
    stmt = (
        select(
            col(Account.id),
            col(Account.name),
            col(Account.limit_amount),
            col(Account.used_amount),
        )
        .where(
            col(Account.status) == AccountStatus.ACTIVE,
            col(Account.limit_amount) > 0,
            # both sides scale alike on SQLite (an integer count of 1/10000 dollars)
            col(Account.used_amount) * hundred >= col(Account.limit_amount) * lowest,
        )
        .order_by(col(Account.name))
    )
    rows = db.read(lambda s: list(s.exec(stmt)))
    found: list[Condition] = []
    for account_id, name, limit, used in rows:
        percent = used * 100 / limit
        reached = [t for t in thresholds if percent >= t]
        if not reached:
            continue
        top = reached[-1]
        found.append(
            Condition(
                kind="usage",
                dedup_key=f"usage:{name}:{top}",
                severity=usage_severity(top),
                title=f"{name} has used {top}% of its limit",
                message=(
                    f"account {name} has used {format_money(used)} of its "
                    f"{format_money(limit)} limit ({_percent(percent)}%)"
                ),
                details={
                    "account": name,
                    "threshold": top,
                    "percent_used": _percent(percent),
                    "used": money_str(used),
                    "limit": money_str(limit),
                },
                account_id=account_id,
            )
        )
    return found


def spending_accounts(session: Session, since: date, until: date) -> list[tuple[int, str]]:
    """Active accounts with net spend from ``since`` to ``until`` (UTC days, inclusive)."""
    spent = func.sum(col(JournalEntry.used_delta), type_=Money)
    stmt = (
        select(col(Account.id), Account.name)
        .join(JournalEntry, col(JournalEntry.account_id) == col(Account.id))
        .where(
            col(Account.status) == AccountStatus.ACTIVE,
            col(JournalEntry.created_at) >= day_start(since),
            col(JournalEntry.created_at) < day_start(until + timedelta(days=1)),
            col(JournalEntry.used_delta) != 0,
        )
        .group_by(col(Account.id), col(Account.name))
        .having(spent > 0)
        .order_by(col(Account.name))
    )
    return [(i, n) for i, n in session.exec(stmt) if i is not None]


def burn_rate_conditions(db: Database, settings: Settings, now: datetime) -> list[Condition]:
    """``variance`` and ``exhaustion``, from the 30-day burn rate of each active account that
    spent something in the last 30 days (accounts found with one query)."""
    today = now.date()
    since = today - timedelta(days=BURN_WINDOW_DAYS - 1)
    accounts = db.read(lambda s: spending_accounts(s, since, today))
    limit = settings.alerts.variance_percent
    found: list[Condition] = []
    for account_id, name in accounts:
        rate = account_burn_rate(db, settings, name, window="30d", today=today)
        if rate.variance_percent is not None and rate.variance_percent > limit:
            expected = rate.expected_daily or Decimal(0)
            found.append(
                Condition(
                    kind="variance",
                    dedup_key=f"variance:{name}",
                    severity=AlertSeverity.WARNING,
                    title=f"{name} is spending {rate.variance_percent}% above plan",
                    message=(
                        f"account {name} spent {format_money(rate.actual_daily)} a day over the "
                        f"last {rate.days} days against {format_money(expected)} "
                        f"expected ({rate.variance_percent}% over; alerts above {limit}%)"
                    ),
                    details={
                        "account": name,
                        "variance_percent": str(rate.variance_percent),
                        "actual_daily": money_str(rate.actual_daily),
                        "expected_daily": money_str(expected),
                        "window_days": rate.days,
                        "health": rate.health.band,
                    },
                    account_id=account_id,
                )
            )
        runs_out, end = rate.projected_exhaustion, rate.end_date
        if runs_out is None or end is None or end < today:
            continue
        early = (end - runs_out).days
        if early <= settings.alerts.exhaustion_days:
            continue
        ahead = (runs_out - today).days
        found.append(
            Condition(
                kind="exhaustion",
                dedup_key=f"exhaustion:{name}",
                severity=(
                    AlertSeverity.CRITICAL
                    if ahead <= EXHAUSTION_CRITICAL_DAYS
                    else AlertSeverity.WARNING
                ),
                title=f"{name} will run out of money on {runs_out.isoformat()}",
                message=(
                    f"at {format_money(rate.actual_daily)} a day, account {name} runs out of "
                    f"money on {runs_out.isoformat()} ({ahead} days from now), {early} days "
                    f"before its end date {end.isoformat()}"
                ),
                details={
                    "account": name,
                    "projected_exhaustion": runs_out.isoformat(),
                    "end_date": end.isoformat(),
                    "days_early": early,
                    "days_left": ahead,
                    "actual_daily": money_str(rate.actual_daily),
                    "available": money_str(rate.available),
                    "health": rate.health.band,
                },
                account_id=account_id,
            )
        )
    return found


def grant_period_conditions(db: Database, settings: Settings, now: datetime) -> list[Condition]:
    """Active grants whose current budget period ends within ``grant_period_notice_days``
    with more than ``grant_period_left_percent`` of its budget unspent."""
    today = now.date()
    horizon = today + timedelta(days=settings.alerts.grant_period_notice_days)
    stmt = (
        select(col(Grant.id), col(Grant.number), col(GrantPeriod.number))
        .join(GrantPeriod, col(GrantPeriod.grant_id) == col(Grant.id))
        .where(
            col(Grant.status) == GrantStatus.ACTIVE,
            col(GrantPeriod.start_date) <= today,
            col(GrantPeriod.end_date) >= today,
            col(GrantPeriod.end_date) <= horizon,
            col(GrantPeriod.budget) > 0,
        )
        .order_by(col(Grant.number), col(GrantPeriod.number))
    )
    candidates = db.read(lambda s: list(s.exec(stmt)))
    if not candidates:
        return []
    grants = Grants(Ledger(db, settings, clock=lambda: now))
    left_percent = settings.alerts.grant_period_left_percent
    found: list[Condition] = []
    for grant_id, number, period in candidates:
        st = grants.period_status(number, period, today)
        if st.budget <= 0 or st.remaining * 100 <= st.budget * left_percent:
            continue
        unspent = _percent(st.remaining * 100 / st.budget)
        found.append(
            Condition(
                kind="grant-period",
                dedup_key=f"grant-period:{number}:{period}",
                severity=AlertSeverity.WARNING,
                title=f"grant {number} period {period} ends {st.end_date.isoformat()} "
                f"with {unspent}% unspent",
                message=(
                    f"budget period {period} of grant {number} ends on "
                    f"{st.end_date.isoformat()} ({st.days_left} days left) with "
                    f"{format_money(st.remaining)} of its {format_money(st.budget)} budget "
                    f"unspent ({unspent}%; alerts above {left_percent}%)"
                ),
                details={
                    "grant": number,
                    "period": period,
                    "end_date": st.end_date.isoformat(),
                    "days_left": st.days_left,
                    "budget": money_str(st.budget),
                    "consumed": money_str(st.consumed),
                    "remaining": money_str(st.remaining),
                    "percent_unspent": unspent,
                },
                grant_id=grant_id,
            )
        )
    return found


def stuck_hold_conditions(db: Database, settings: Settings, now: datetime) -> list[Condition]:
    """One condition while any hold is open longer than ``stuck_hold_hours`` or past its
    timeout (the count and the oldest few holds in its details)."""
    hours = settings.alerts.stuck_hold_hours
    cutoff = now - timedelta(hours=hours)
    where = (
        col(Hold.state) == HoldState.OPEN,
        or_(col(Hold.created_at) < cutoff, col(Hold.expires_at) < now),
    )

    def query(s: Session) -> tuple[int, list[tuple[str, str, datetime]]]:
        count = s.exec(select(func.count()).select_from(Hold).where(*where)).one()
        if not count:
            return 0, []
        oldest = s.exec(
            select(Hold.id, Account.name, Hold.created_at)
            .join(Account, col(Account.id) == col(Hold.account_id))
            .where(*where)
            .order_by(col(Hold.created_at), col(Hold.id))
            .limit(STUCK_SAMPLE)
        )
        return int(count), [(h, a, c) for h, a, c in oldest]

    count, oldest = db.read(query)
    if not count:
        return []
    first = oldest[0]
    return [
        Condition(
            kind="stuck-holds",
            dedup_key="stuck-holds",
            severity=AlertSeverity.WARNING,
            title=f"{count} hold(s) stuck open",
            message=(
                f"{count} hold(s) open for more than {hours} hours or past their timeout; the "
                f"oldest is {first[0]} ({first[1]}, since {first[2].isoformat()}). "
                "Run 'asbb recover' or check the epilog."
            ),
            details={
                "count": count,
                "older_than_hours": hours,
                "oldest": [
                    {"hold_id": h, "account": a, "created_at": c.isoformat()} for h, a, c in oldest
                ],
            },
        )
    ]


def spool_backlog_conditions(db: Database, settings: Settings, now: datetime) -> list[Condition]:
    """One condition while at least ``spool_backlog`` reconciles wait in the spool folder."""
    folder = Path(settings.daemon.spool_dir)
    waiting = len(spooled_files(folder))
    if waiting < settings.alerts.spool_backlog:
        return []
    return [
        Condition(
            kind="spool-backlog",
            dedup_key="spool-backlog",
            severity=AlertSeverity.WARNING,
            title=f"{waiting} reconciles waiting in the spool",
            message=(
                f"{waiting} job-end reconciles wait in {folder} (alert from "
                f"{settings.alerts.spool_backlog}); is the daemon replaying them? "
                "Try 'asbb reconcile --replay'."
            ),
            details={
                "waiting": waiting,
                "threshold": settings.alerts.spool_backlog,
                "spool_dir": str(folder),
            },
        )
    ]


CHECKS: tuple[tuple[tuple[str, ...], Check], ...] = (
    (("usage",), usage_conditions),
    (("variance", "exhaustion"), burn_rate_conditions),
    (("grant-period",), grant_period_conditions),
    (("stuck-holds",), stuck_hold_conditions),
    (("spool-backlog",), spool_backlog_conditions),
)
"""Each check and the kinds it decides: a kind whose check failed resolves nothing."""


# ---------------------------------------------------------------- results


def channels(settings: Settings) -> list[str]:
    """The delivery channels configured: ``webhook`` (a URL is set) and ``email`` (an SMTP
    host and at least one recipient are set)."""
    found = []
    if settings.alerts.webhook_url:
        found.append("webhook")
    if settings.alerts.smtp_host and settings.alerts.smtp_to:
        found.append("email")
    return found


@dataclass(frozen=True)
class AlertRecord:
    """An alert with the names of its account and grant (shown as
    ``asbb_core.alerts.views.AlertView``)."""

    alert: Alert
    account: str | None = None
    grant: str | None = None

    @property
    def id(self) -> int:
        assert self.alert.id is not None
        return self.alert.id


@dataclass
class EvaluationSummary:
    """What one evaluation did (alert ids)."""

    opened: list[int] = field(default_factory=list)
    still_open: list[int] = field(default_factory=list)
    """Active alerts whose condition still holds (updated, not raised again)."""
    resolved: list[int] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    """Kinds whose check failed (their alerts were left as they were), with the error."""


# ---------------------------------------------------------------- validation helpers


def _check_id(alert_id: object) -> int:
    if isinstance(alert_id, bool) or not isinstance(alert_id, int):
        raise ValidationError("id: expected a whole number", field="id")
    if not 1 <= alert_id <= MAX_ID:
        raise NotFoundError(f"alert {alert_id} does not exist", field="id")
    return alert_id


def _enum(value: object, enum: type[AlertSeverity] | type[AlertStatus], name: str) -> str:
    try:
        return str(enum(str(value)))
    except ValueError:
        names = ", ".join(e.value for e in enum)
        raise ValidationError(f"{name}: {value!r} is not one of {names}", field=name) from None


def _kind(value: object) -> str:
    if value not in KINDS:
        raise ValidationError(f"kind: {value!r} is not one of {', '.join(KINDS)}", field="kind")
    return str(value)


def _queue(
    session: Session, alert_id: int, event: str, targets: Sequence[str], now: datetime
) -> None:
    for channel in targets:
        session.add(
            AlertDelivery(
                alert_id=alert_id,
                channel=channel,
                event=event,
                next_attempt_at=now,
                created_at=now,
            )
        )


# ---------------------------------------------------------------- the service


class AlertService:
    """Evaluates conditions into alerts; acknowledges, resolves and lists them."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        clock: Clock = utcnow,
        *,
        checks: Sequence[tuple[tuple[str, ...], Check]] = CHECKS,
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.checks = tuple(checks)

    # -- evaluation ------------------------------------------------------------

    def conditions(self, now: datetime) -> tuple[list[Condition], set[str], dict[str, str]]:
        """(conditions holding at ``now``, kinds decided, kinds whose check failed)."""
        found: list[Condition] = []
        decided: set[str] = set()
        failed: dict[str, str] = {}
        for kinds, check in self.checks:
            try:
                produced = check(self.db, self.settings, now)
            except Exception as exc:  # one broken check must not stop the others
                log.exception("alert check for %s failed", ", ".join(kinds))
                for kind in kinds:
                    failed[kind] = f"{type(exc).__name__}: {exc}"
                continue
            decided.update(kinds)
            found.extend(produced)
        return found, decided, failed

    def evaluate(self, *, now: datetime | None = None) -> EvaluationSummary:
        """One pass: compute every condition, then open, update or resolve alerts (one
        transaction each). Safe to run often and from several processes at once."""
        when = now or self.clock()
        conditions, decided, failed = self.conditions(when)
        summary = EvaluationSummary(failed=failed)
        targets = channels(self.settings)
        seen: set[str] = set()
        for condition in conditions:
            if condition.dedup_key in seen:  # a check listed one key twice: the first wins
                continue
            seen.add(condition.dedup_key)
            outcome, alert_id = self._apply(condition, when, targets)
            if outcome == "opened":
                summary.opened.append(alert_id)
            elif outcome == "seen":
                summary.still_open.append(alert_id)
        stale = self.db.read(
            lambda s: list(
                s.exec(
                    select(col(Alert.id), Alert.active_key).where(
                        col(Alert.active_key).is_not(None),
                        col(Alert.kind).in_(sorted(decided)),
                    )
                )
            )
        )
        for stale_id, key in stale:
            if key in seen or stale_id is None:
                continue
            if self._clear(stale_id, when, targets):
                summary.resolved.append(stale_id)
        if summary.opened or summary.resolved:
            log.info(
                "alerts: %d opened, %d still open, %d resolved",
                len(summary.opened),
                len(summary.still_open),
                len(summary.resolved),
            )
        return summary

    def _apply(
        self, condition: Condition, now: datetime, targets: Sequence[str]
    ) -> tuple[str, int]:
        def use_case(s: Session) -> tuple[str, int]:
            alert = s.exec(
                select(Alert)
                .where(col(Alert.active_key) == condition.dedup_key)
                .with_for_update()
                .execution_options(populate_existing=True)
            ).first()
            if alert is not None:
                assert alert.id is not None
                if now > alert.last_seen_at:
                    alert.last_seen_at = now
                if _RANK[condition.severity] > _RANK[AlertSeverity(alert.severity)]:
                    alert.severity = condition.severity
                alert.title = condition.title[:200]
                alert.message = condition.message[:1000]
                kept = {k: v for k, v in (alert.details or {}).items() if k == "note"}
                alert.details = {**condition.details, **kept}
                s.add(alert)
                return "seen", alert.id
            alert = Alert(
                kind=condition.kind,
                severity=condition.severity,
                dedup_key=condition.dedup_key,
                active_key=condition.dedup_key,
                account_id=condition.account_id,
                grant_id=condition.grant_id,
                title=condition.title[:200],
                message=condition.message[:1000],
                details=dict(condition.details),
                status=AlertStatus.OPEN,
                opened_at=now,
                last_seen_at=now,
            )
            s.add(alert)
            s.flush()
            assert alert.id is not None
            _queue(s, alert.id, "opened", targets, now)
            return "opened", alert.id

        try:
            return self.db.run(use_case)
        except IntegrityError:
            # Another evaluator opened this alert between our look and our insert.
            log.debug("alert %s was opened by another evaluator", condition.dedup_key)
            return "raced", 0

    def _clear(self, alert_id: int, now: datetime, targets: Sequence[str]) -> bool:
        def use_case(s: Session) -> bool:
            alert = self._lock(s, alert_id)
            # Still active, and not seen by an evaluation that started after this one.
            if alert.active_key is None or alert.last_seen_at > now or alert.opened_at > now:
                return False
            self._close(alert, SYSTEM_ACTOR, CLEARED, now)
            s.add(alert)
            _queue(s, alert_id, "resolved", targets, now)
            return True

        return self.db.run(use_case)

    # -- people ------------------------------------------------------------------

    @staticmethod
    def _lock(s: Session, alert_id: int) -> Alert:
        alert = s.exec(
            select(Alert)
            .where(col(Alert.id) == alert_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).first()
        if alert is None:
            raise NotFoundError(f"alert {alert_id} does not exist", field="id")
        return alert

    @staticmethod
    def _close(alert: Alert, actor: str, resolution: str, now: datetime) -> None:
        alert.status = AlertStatus.RESOLVED
        alert.active_key = None
        alert.resolved_by = actor
        alert.resolved_at = now
        alert.resolution = resolution

    def acknowledge(self, alert_id: int, actor: str, note: str = "") -> AlertRecord:
        """Mark an open alert as seen: it stays active (so nothing is raised again while its
        condition lasts) and still resolves by itself when the condition ends. The note is
        kept in its details (``note``)."""
        aid = _check_id(alert_id)
        who = person(actor, field="actor")
        why = clean_text(note, field="note")

        def use_case(s: Session) -> None:
            alert = self._lock(s, aid)
            if alert.status == AlertStatus.RESOLVED:
                raise ConflictError(
                    f"alert {aid} is already resolved (by {alert.resolved_by})",
                    field="id",
                    details={"status": str(alert.status)},
                )
            if alert.status == AlertStatus.ACKNOWLEDGED:
                raise ConflictError(
                    f"alert {aid} was already acknowledged by {alert.acknowledged_by}",
                    field="id",
                    details={"status": str(alert.status)},
                )
            alert.status = AlertStatus.ACKNOWLEDGED
            alert.acknowledged_by = who
            alert.acknowledged_at = self.clock()
            if why:
                alert.details = {**(alert.details or {}), "note": why}
            s.add(alert)

        self.db.run(use_case)
        return self.get_alert(aid)

    def resolve(self, alert_id: int, actor: str, note: str) -> AlertRecord:
        """Close an alert by hand (a note saying why is required) and queue ``resolved``
        deliveries. If its condition still holds, the next evaluation opens a fresh alert:
        acknowledge an alert to silence it instead."""
        aid = _check_id(alert_id)
        who = person(actor, field="actor")
        why = clean_text(note, field="note", required=True)
        targets = channels(self.settings)

        def use_case(s: Session) -> None:
            alert = self._lock(s, aid)
            if alert.status == AlertStatus.RESOLVED:
                raise ConflictError(
                    f"alert {aid} is already resolved (by {alert.resolved_by})",
                    field="id",
                    details={"status": str(alert.status)},
                )
            now = self.clock()
            self._close(alert, who, why, now)
            s.add(alert)
            _queue(s, aid, "resolved", targets, now)

        self.db.run(use_case)
        return self.get_alert(aid)

    # -- reading -----------------------------------------------------------------

    @staticmethod
    def _select() -> Any:
        return (
            select(Alert, Account.name, Grant.number)
            .outerjoin(Account, col(Account.id) == col(Alert.account_id))
            .outerjoin(Grant, col(Grant.id) == col(Alert.grant_id))
        )

    def get_alert(self, alert_id: int) -> AlertRecord:
        aid = _check_id(alert_id)
        row = self.db.read(lambda s: s.exec(self._select().where(col(Alert.id) == aid)).first())
        if row is None:
            raise NotFoundError(f"alert {aid} does not exist", field="id")
        return AlertRecord(row[0], row[1], row[2])

    def deliveries(self, alert_id: int) -> list[AlertDelivery]:
        """The alert's deliveries, oldest first."""
        aid = _check_id(alert_id)
        return self.db.read(
            lambda s: list(
                s.exec(
                    select(AlertDelivery)
                    .where(col(AlertDelivery.alert_id) == aid)
                    .order_by(col(AlertDelivery.id))
                )
            )
        )

    @staticmethod
    def _filters(
        status: AlertStatus | str | None,
        severity: AlertSeverity | str | None,
        kind: str | None,
        account: str | None,
        accounts: Collection[str] | None,
        search: str | None = None,
        grant: str | None = None,
    ) -> list[ColumnElement[bool]]:
        where = text_search(search, Account.name, Grant.number, Alert.kind, Alert.title)
        if grant is not None:  # the grant's own alerts and those of the accounts it funds
            funded = (
                select(col(GrantAccount.account_id))
                .join(Grant, col(Grant.id) == col(GrantAccount.grant_id))
                .where(col(Grant.number) == grant.strip())
            )
            where.append(or_(col(Grant.number) == grant.strip(), col(Alert.account_id).in_(funded)))
        if status is not None:
            where.append(col(Alert.status) == _enum(status, AlertStatus, "status"))
        if severity is not None:
            where.append(col(Alert.severity) == _enum(severity, AlertSeverity, "severity"))
        if kind is not None:
            where.append(col(Alert.kind) == _kind(kind))
        if account is not None:
            where.append(col(Account.name) == normalise_account_name(account))
        if accounts is not None:
            where.append(col(Account.name).in_(sorted(set(accounts))))
        return where

    def list_alerts(
        self,
        *,
        status: AlertStatus | str | None = None,
        severity: AlertSeverity | str | None = None,
        kind: str | None = None,
        account: str | None = None,
        accounts: Collection[str] | None = None,
        search: str | None = None,
        limit: int = 100,
        offset: int = 0,
        grant: str | None = None,
    ) -> list[AlertRecord]:
        """Alerts, newest first. ``accounts`` (a reader's scope) keeps only alerts of those
        accounts -- global ones (stuck holds, spool backlog, grants) are left out. ``search``
        matches the account, the grant, the kind or the title (any case); ``grant`` keeps
        only the alerts of that grant and of the accounts it funds."""
        check_page(limit, offset, most=MAX_PAGE)
        where = self._filters(status, severity, kind, account, accounts, search, grant)
        stmt = self._select().where(*where).order_by(col(Alert.id).desc())
        rows = self.db.read(lambda s: list(s.exec(stmt.limit(limit).offset(offset))))
        return [AlertRecord(a, n, g) for a, n, g in rows]

    def count_alerts(
        self,
        *,
        status: AlertStatus | str | None = None,
        severity: AlertSeverity | str | None = None,
        kind: str | None = None,
        account: str | None = None,
        accounts: Collection[str] | None = None,
        search: str | None = None,
        grant: str | None = None,
    ) -> int:
        """How many alerts ``list_alerts`` pages through with the same filters."""
        where = self._filters(status, severity, kind, account, accounts, search, grant)
        stmt = (
            select(func.count())
            .select_from(Alert)
            .outerjoin(Account, col(Account.id) == col(Alert.account_id))
            .outerjoin(Grant, col(Grant.id) == col(Alert.grant_id))
            .where(*where)
        )
        return int(self.db.read(lambda s: s.exec(stmt).one()))


class AlertEvaluator(PeriodicTask):
    """Evaluates alert conditions every ``interval`` seconds, in the background (safe with
    several daemons: the unique active key keeps one alert per breach)."""

    def __init__(self, service: AlertService, interval: float) -> None:
        super().__init__("alert-evaluator", interval, self.run_once, join_timeout=30)
        self.service = service

    def run_once(self) -> EvaluationSummary:
        return self.service.evaluate()


__all__ = [
    "CHECKS",
    "KINDS",
    "AlertEvaluator",
    "AlertRecord",
    "AlertService",
    "Condition",
    "EvaluationSummary",
    "burn_rate_conditions",
    "channels",
    "grant_period_conditions",
    "spending_accounts",
    "spool_backlog_conditions",
    "stuck_hold_conditions",
    "usage_conditions",
    "usage_severity",
]
