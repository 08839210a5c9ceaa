"""Alert deliveries: a JSON POST to a webhook and/or an email, retried until sent.

Opening or resolving an alert only queues ``AlertDelivery`` rows (one per configured channel,
in the alert's own transaction). ``DeliveryService.deliver_due`` sends them later -- the
daemon's ``AlertDispatcher`` every ``alerts.delivery_interval_seconds``, or
``asbb alerts deliver`` -- so the ledger never waits on a slow or dead receiver:

1. pick the due pending deliveries (``next_attempt_at <= now``);
2. **claim** each one in a short transaction of its own: ``UPDATE ... SET next_attempt_at =
   now + lease WHERE id = ? AND status = 'pending' AND next_attempt_at = <the value read>``.
   Only one dispatcher's update matches, so two dispatchers racing never send one delivery
   twice; a dispatcher that dies mid-send leaves the row to be retried once the lease ends;
3. **send** with no transaction open and no lock held;
4. **record** the outcome in another short transaction: ``sent``, or a failed attempt with its
   error and ``next_attempt_at = now + retry_seconds x 2^(attempts - 1)`` (the wait doubles,
   capped at a day), and ``failed`` after ``delivery_attempts`` attempts.

Every failure is logged on the ``asbb.alerts`` logger.

The webhook receives ``{"event": "opened" | "resolved", "alert": {...}}`` (the alert in the
JSON form the API shows it in, ``asbb_core.alerts.views.AlertView``: money and times as
strings). The email's subject names the
severity, the event and the alert's title; its body carries the message and the details.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

import httpx
from sqlalchemy import update
from sqlmodel import Session, col, select

from asbb_core.alerts.conditions import AlertRecord, AlertService
from asbb_core.alerts.views import AlertView
from asbb_core.settings import AlertSettings, Settings
from asbb_core.store.database import Database
from asbb_core.store.models import AlertDelivery, DeliveryStatus
from asbb_core.store.periodic import PeriodicTask
from asbb_core.values.context import Clock, utcnow
from asbb_core.values.errors import NotFoundError
from asbb_core.values.wire import dumps

log = logging.getLogger("asbb.alerts")

LEASE = timedelta(minutes=10)
"""How long a claimed delivery is left alone before another dispatcher may retry it (longer
than any send may take: the webhook timeout is at most 60 s, SMTP_TIMEOUT below)."""
MAX_WAIT = timedelta(days=1)
SMTP_TIMEOUT = 30.0
BATCH = 100
_ERROR_LIMIT = 1000

Sender = Callable[[str, dict[str, Any]], None]
"""Sends one notice: ``(event, alert as a dict)``; raises on failure (the error is kept)."""


class DeliveryError(Exception):
    """A receiver refused a notice (the message says how)."""


# ---------------------------------------------------------------- senders


def webhook_payload(event: str, alert: dict[str, Any]) -> dict[str, Any]:
    return {"event": event, "alert": alert}


def webhook_sender(url: str, timeout: float) -> Sender:
    """POST ``{"event", "alert"}`` as JSON to ``url``; any non-2xx answer is a failure."""

    def send(event: str, alert: dict[str, Any]) -> None:
        reply = httpx.post(
            url,
            content=dumps(webhook_payload(event, alert)),
            timeout=timeout,
            headers={"User-Agent": "asbb-alerts", "Content-Type": "application/json"},
        )
        if not reply.is_success:
            raise DeliveryError(f"HTTP {reply.status_code}: {reply.text.strip()[:300]}")

    return send


def email_subject(event: str, alert: dict[str, Any]) -> str:
    if event == "resolved":
        return f"[asbb] RESOLVED: {alert['title']}"
    return f"[asbb] {str(alert['severity']).upper()}: {alert['title']}"


def email_body(event: str, alert: dict[str, Any]) -> str:
    lines = [
        f"Alert {alert['id']} {event}: {alert['title']}",
        "",
        str(alert.get("message") or ""),
        "",
        f"kind:      {alert['kind']}",
        f"severity:  {alert['severity']}",
        f"status:    {alert['status']}",
    ]
    if alert.get("account"):
        lines.append(f"account:   {alert['account']}")
    if alert.get("grant"):
        lines.append(f"grant:     {alert['grant']}")
    lines.append(f"opened:    {alert['opened_at']}")
    if event == "resolved":
        lines.append(f"resolved:  {alert.get('resolved_at')} by {alert.get('resolved_by')}")
        lines.append(f"why:       {alert.get('resolution')}")
    if alert.get("details"):
        lines += ["", "details:", dumps(alert["details"], indent=2, sort_keys=True)]
    return "\n".join(lines) + "\n"


def email_sender(settings: AlertSettings, *, timeout: float = SMTP_TIMEOUT) -> Sender:
    """Send each notice as a plain-text email through ``smtp_host`` to ``smtp_to``
    (STARTTLS and login when configured)."""

    def send(event: str, alert: dict[str, Any]) -> None:
        message = EmailMessage()
        message["Subject"] = email_subject(event, alert)
        message["From"] = settings.smtp_from
        message["To"] = ", ".join(settings.smtp_to)
        message.set_content(email_body(event, alert))
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout) as smtp:
            if settings.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.smtp_user:
                smtp.login(settings.smtp_user, settings.smtp_password)
            smtp.send_message(message)

    return send


def configured_senders(settings: Settings) -> dict[str, Sender]:
    """A sender per channel that settings configure (see
    ``asbb_core.alerts.conditions.channels``).
    """
    alerts = settings.alerts
    senders: dict[str, Sender] = {}
    if alerts.webhook_url:
        senders["webhook"] = webhook_sender(
            alerts.webhook_url, float(alerts.webhook_timeout_seconds)
        )
    if alerts.smtp_host and alerts.smtp_to:
        senders["email"] = email_sender(alerts)
    return senders


# ---------------------------------------------------------------- the dispatcher


@dataclass
class DeliveryReport:
    """What one ``deliver_due`` did (delivery ids)."""

    sent: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)
    """Failed this time; tried again later."""
    failed: list[int] = field(default_factory=list)
    """Failed for the last time (status ``failed``)."""
    skipped: int = 0
    """Claimed by another dispatcher first."""


def backoff(settings: AlertSettings, attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed attempt: retry_seconds x 2^(attempts-1),
    at most a day."""
    exponent = min(max(attempts - 1, 0), 32)
    return min(timedelta(seconds=settings.retry_seconds * 2**exponent), MAX_WAIT)


class DeliveryService:
    """Sends due deliveries, each exactly once even with several dispatchers."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        clock: Clock = utcnow,
        *,
        senders: Mapping[str, Sender] | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.senders = dict(configured_senders(settings) if senders is None else senders)
        self.alerts = AlertService(db, settings, clock)

    def due(self, now: datetime, limit: int = BATCH) -> list[tuple[int, datetime]]:
        """(id, next_attempt_at) of pending deliveries due at ``now``, oldest first."""
        stmt = (
            select(col(AlertDelivery.id), col(AlertDelivery.next_attempt_at))
            .where(
                col(AlertDelivery.status) == DeliveryStatus.PENDING,
                col(AlertDelivery.next_attempt_at) <= now,
            )
            .order_by(col(AlertDelivery.next_attempt_at), col(AlertDelivery.id))
            .limit(limit)
        )
        return [(i, t) for i, t in self.db.read(lambda s: list(s.exec(stmt))) if i is not None]

    def claim(self, delivery_id: int, seen: datetime, until: datetime) -> bool:
        """Take a delivery for ourselves until ``until``; False if another dispatcher did."""
        stmt = (
            update(AlertDelivery)
            .where(
                col(AlertDelivery.id) == delivery_id,
                col(AlertDelivery.status) == DeliveryStatus.PENDING,
                col(AlertDelivery.next_attempt_at) == seen,
            )
            .values(next_attempt_at=until)
        )

        def use_case(s: Session) -> bool:
            result: Any = s.execute(stmt)
            return bool(result.rowcount == 1)

        return self.db.run(use_case)

    def get(self, delivery_id: int) -> AlertDelivery:
        row = self.db.read(lambda s: s.get(AlertDelivery, delivery_id))
        if row is None:
            raise NotFoundError(f"delivery {delivery_id} does not exist", field="id")
        return row

    def deliver_due(self, *, now: datetime | None = None, limit: int = BATCH) -> DeliveryReport:
        """Send every due delivery (at most ``limit``), outside any database transaction."""
        report = DeliveryReport()
        started = now or self.clock()
        for delivery_id, seen in self.due(started, limit):
            if not self.claim(delivery_id, seen, started + LEASE):
                report.skipped += 1
                continue
            delivery = self.get(delivery_id)
            error = self._send(delivery, self.alerts.get_alert(delivery.alert_id))
            self._record(delivery_id, error, now or self.clock(), report)
        if report.sent or report.retrying or report.failed:
            log.info(
                "alert deliveries: %d sent, %d to retry, %d failed",
                len(report.sent),
                len(report.retrying),
                len(report.failed),
            )
        return report

    def _send(self, delivery: AlertDelivery, alert: AlertRecord) -> str | None:
        """Send one notice (no transaction is open here); the error text, or None if sent."""
        sender = self.senders.get(delivery.channel)
        if sender is None:
            return f"channel {delivery.channel!r} is not configured"
        try:
            sender(delivery.event, AlertView.of(alert).record())
        except Exception as exc:
            text = str(exc).strip() or type(exc).__name__
            return f"{type(exc).__name__}: {text}"[:_ERROR_LIMIT]
        return None

    def _record(
        self, delivery_id: int, error: str | None, now: datetime, report: DeliveryReport
    ) -> None:
        limit = self.settings.alerts.delivery_attempts

        def use_case(s: Session) -> AlertDelivery:
            row = s.exec(
                select(AlertDelivery)
                .where(col(AlertDelivery.id) == delivery_id)
                .with_for_update()
                .execution_options(populate_existing=True)
            ).one()
            row.attempts += 1
            if error is None:
                row.status = DeliveryStatus.SENT
                row.sent_at = now
                row.last_error = ""
            else:
                row.last_error = error
                if row.attempts >= limit:
                    row.status = DeliveryStatus.FAILED
                else:
                    row.next_attempt_at = now + backoff(self.settings.alerts, row.attempts)
            s.add(row)
            return row

        row = self.db.run(use_case)
        if error is None:
            report.sent.append(delivery_id)
            return
        where = (
            f"delivery {delivery_id} ({row.channel}, {row.event} of alert {row.alert_id}) "
            f"failed, attempt {row.attempts} of {limit}: {error}"
        )
        if row.status == DeliveryStatus.FAILED:
            report.failed.append(delivery_id)
            log.error("%s; giving up", where)
        else:
            report.retrying.append(delivery_id)
            log.warning("%s; retrying at %s", where, row.next_attempt_at.isoformat())


class AlertDispatcher(PeriodicTask):
    """Sends due alert deliveries every ``interval`` seconds, in the background."""

    def __init__(self, service: DeliveryService, interval: float) -> None:
        super().__init__("alert-dispatcher", interval, self.run_once, join_timeout=30)
        self.service = service

    def run_once(self) -> DeliveryReport:
        return self.service.deliver_due()


__all__ = [
    "LEASE",
    "AlertDispatcher",
    "DeliveryError",
    "DeliveryReport",
    "DeliveryService",
    "Sender",
    "backoff",
    "configured_senders",
    "email_body",
    "email_sender",
    "email_subject",
    "webhook_payload",
    "webhook_sender",
]
