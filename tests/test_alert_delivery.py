"""Alert deliveries to a REAL webhook (http.server in a thread) and a REAL SMTP server
(aiosmtpd): retries with backoff, giving up, exactly-once under racing dispatchers, and no
database lock held while talking to the network."""

from __future__ import annotations

import email
import email.policy
import logging
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from sqlalchemy import text
from sqlmodel import col, select

from asbb_core.alerts.conditions import AlertService
from asbb_core.alerts.delivery import (
    LEASE,
    AlertDispatcher,
    DeliveryService,
    backoff,
    email_subject,
)
from asbb_core.alerts.views import AlertView
from asbb_core.settings import AlertSettings, Settings
from asbb_core.store.models import AlertDelivery, DeliveryStatus
from asbb_core.values.wire import timestamp
from tests.wire import loads


def configured(settings: Settings, **alerts: Any) -> Settings:
    return settings.model_copy(
        update={"alerts": AlertSettings(**{**settings.alerts.model_dump(), **alerts})}
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------- a real webhook receiver


@dataclass
class Hook:
    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    fail_first: int = 0
    """Answer 500 to this many requests first (-1: always)."""
    delay: float = 0.0
    on_request: Callable[[], None] | None = None
    arrived: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def bodies(self) -> list[dict[str, Any]]:
        with self.lock:
            return [r["body"] for r in self.requests]


@pytest.fixture
def hook() -> Iterator[Hook]:
    state = Hook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers["Content-Length"]))
            with state.lock:
                state.requests.append(
                    {
                        "path": self.path,
                        "content_type": self.headers["Content-Type"],
                        "body": loads(raw),  # numbers read exactly, as the API's clients do
                        "text": raw.decode(),
                    }
                )
                count = len(state.requests)
            state.arrived.set()
            if state.on_request is not None:
                state.on_request()
            if state.delay:
                time.sleep(state.delay)
            failing = state.fail_first < 0 or count <= state.fail_first
            reply = b"receiver broken" if failing else b"ok"
            self.send_response(500 if failing else 200)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_port}/hooks/asbb"
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def alert_log() -> Iterator[list[logging.LogRecord]]:
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("asbb.alerts")
    handler = Keep(level=logging.INFO)
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield records
    logger.removeHandler(handler)
    logger.setLevel(old_level)


def spend(ledger, ctx, account: str, amount: str) -> None:
    hold = ledger.create_hold(account, amount, ctx=ctx, buffer="1")
    ledger.post_hold(hold.hold_id, amount, ctx=ctx)


def open_usage_alerts(ledger, ctx, names: list[str], used: str = "60") -> None:
    for name in names:
        ledger.create_account(name, ctx=ctx, limit="100")
        spend(ledger, ctx, name, used)


def all_deliveries(db) -> list[AlertDelivery]:
    return db.read(lambda s: list(s.exec(select(AlertDelivery).order_by(col(AlertDelivery.id)))))


def nothing(report) -> bool:
    return not (report.sent or report.retrying or report.failed or report.skipped)


# ---------------------------------------------------------------- webhook


def test_webhook_retries_with_doubling_waits_until_it_succeeds(
    db, ledger, ctx, settings, clock, hook, alert_log
):
    s = configured(settings, webhook_url=hook.url, retry_seconds=10, delivery_attempts=5)
    open_usage_alerts(ledger, ctx, ["physics"])
    [alert_id] = AlertService(db, s, clock).evaluate().opened
    hook.fail_first = 2
    sender = DeliveryService(db, s, clock)
    t0 = clock.now

    report = sender.deliver_due()
    [delivery] = all_deliveries(db)
    assert report.retrying == [delivery.id]
    assert delivery.attempts == 1
    assert delivery.status == DeliveryStatus.PENDING
    assert delivery.next_attempt_at == t0 + timedelta(seconds=10)
    assert delivery.last_error.startswith("DeliveryError: HTTP 500: receiver broken")

    clock.advance(timedelta(seconds=9))
    assert nothing(sender.deliver_due())  # not due yet
    assert len(hook.requests) == 1

    clock.advance(timedelta(seconds=1))
    assert sender.deliver_due().retrying == [delivery.id]
    [delivery] = all_deliveries(db)
    assert delivery.attempts == 2
    assert delivery.next_attempt_at == clock.now + timedelta(seconds=20)  # doubled

    clock.advance(timedelta(seconds=19))
    assert nothing(sender.deliver_due())
    clock.advance(timedelta(seconds=1))
    assert sender.deliver_due().sent == [delivery.id]
    [delivery] = all_deliveries(db)
    assert delivery.status == DeliveryStatus.SENT
    assert delivery.sent_at == clock.now
    assert delivery.attempts == 3
    assert delivery.last_error == ""

    clock.advance(timedelta(days=1))
    assert nothing(sender.deliver_due())  # sent once, never again
    assert len(hook.requests) == 3
    record = AlertService(db, s, clock).get_alert(alert_id)
    shown = AlertView.of(record).record()
    for request in hook.requests:
        assert request["path"] == "/hooks/asbb"
        assert request["content_type"] == "application/json"
        assert request["body"]["event"] == "opened"
        assert request["text"].startswith('{"event":"opened","alert":{"id":')  # wire.dumps
        alert = request["body"]["alert"]
        assert alert["id"] == alert_id
        assert alert["account"] == "physics"
        assert alert["kind"] == "usage"
        assert alert["severity"] == "info"
        assert alert["details"]["used"] == Decimal("60.00")  # stored as text, sent as a number
        assert '"used":60.00' in request["text"]
        # Times in the wire's RFC 3339 form, in UTC with its "Z", as the API writes them.
        assert alert["opened_at"] == timestamp(record.alert.opened_at) == f"{t0:%Y-%m-%dT%H:%M:%S}Z"
        assert alert["acknowledged_at"] is None
        assert alert == shown  # the alert exactly as the API shows it
    warnings = [r for r in alert_log if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert "attempt 1 of 5" in warnings[0].getMessage()
    assert "HTTP 500" in warnings[0].getMessage()


def test_an_always_failing_webhook_is_given_up_after_the_configured_attempts(
    db, ledger, ctx, settings, clock, hook, alert_log
):
    s = configured(settings, webhook_url=hook.url, retry_seconds=5, delivery_attempts=3)
    open_usage_alerts(ledger, ctx, ["physics"])
    AlertService(db, s, clock).evaluate()
    hook.fail_first = -1
    sender = DeliveryService(db, s, clock)
    assert sender.deliver_due().retrying
    clock.advance(timedelta(seconds=5))
    assert sender.deliver_due().retrying
    clock.advance(timedelta(seconds=10))
    report = sender.deliver_due()
    [delivery] = all_deliveries(db)
    assert report.failed == [delivery.id]
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.attempts == 3
    assert "HTTP 500" in delivery.last_error
    assert delivery.sent_at is None
    clock.advance(timedelta(days=30))
    assert nothing(sender.deliver_due())
    assert len(hook.requests) == 3
    errors = [r for r in alert_log if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "attempt 3 of 3" in errors[0].getMessage()
    assert "giving up" in errors[0].getMessage()


def test_a_dead_webhook_is_a_failed_attempt_not_a_crash(db, ledger, ctx, settings, clock):
    s = configured(settings, webhook_url=f"http://127.0.0.1:{free_port()}/", delivery_attempts=2)
    open_usage_alerts(ledger, ctx, ["physics"])
    AlertService(db, s, clock).evaluate()
    report = DeliveryService(db, s, clock).deliver_due()
    [delivery] = all_deliveries(db)
    assert report.retrying == [delivery.id]
    assert delivery.last_error.startswith("ConnectError")


def test_a_channel_no_longer_configured_fails_its_attempts(db, ledger, ctx, settings, clock):
    s = configured(settings, webhook_url="http://127.0.0.1:9/", delivery_attempts=1)
    open_usage_alerts(ledger, ctx, ["physics"])
    AlertService(db, s, clock).evaluate()
    report = DeliveryService(db, s, clock, senders={}).deliver_due()
    [delivery] = all_deliveries(db)
    assert report.failed == [delivery.id]
    assert delivery.last_error == "channel 'webhook' is not configured"


def test_backoff_doubles_and_is_capped():
    s = AlertSettings(retry_seconds=30)
    assert [backoff(s, n).total_seconds() for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert backoff(s, 100) == timedelta(days=1)


def test_a_claim_is_taken_once(db, ledger, ctx, settings, clock):
    s = configured(settings, webhook_url="http://127.0.0.1:9/")
    open_usage_alerts(ledger, ctx, ["physics"])
    AlertService(db, s, clock).evaluate()
    one, two = DeliveryService(db, s, clock), DeliveryService(db, s, clock)
    [(delivery_id, seen)] = one.due(clock.now)
    assert one.claim(delivery_id, seen, clock.now + LEASE)
    assert not two.claim(delivery_id, seen, clock.now + LEASE)
    assert two.due(clock.now) == []  # leased: not due until the lease ends
    assert [i for i, _ in two.due(clock.now + LEASE)] == [delivery_id]


# ---------------------------------------------------------------- email


@dataclass
class Mailbox:
    port: int
    messages: list[Any] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox(port=free_port())

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            box.messages.append(envelope)
            return "250 OK"

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth: Any):
        box.logins.append((auth.login.decode(), auth.password.decode()))
        return AuthResult(success=auth.password == b"s3cret")

    controller = Controller(
        Handler(),
        hostname="127.0.0.1",
        port=box.port,
        authenticator=authenticate,
        auth_require_tls=False,
    )
    controller.start()
    yield box
    controller.stop()


def parse(envelope: Any) -> email.message.EmailMessage:
    message = email.message_from_bytes(envelope.content, policy=email.policy.default)
    assert isinstance(message, email.message.EmailMessage)
    return message


def test_alerts_are_emailed_through_a_real_smtp_server(db, ledger, ctx, settings, clock, mailbox):
    s = configured(
        settings,
        smtp_host="127.0.0.1",
        smtp_port=mailbox.port,
        smtp_from="asbb@example.org",
        smtp_to=["ops@example.org", "pi@example.org"],
    )
    open_usage_alerts(ledger, ctx, ["physics"], used="85")
    service = AlertService(db, s, clock)
    [alert_id] = service.evaluate().opened
    alert = service.get_alert(alert_id).alert
    assert DeliveryService(db, s, clock).deliver_due().sent
    [envelope] = mailbox.messages
    assert envelope.mail_from == "asbb@example.org"
    assert envelope.rcpt_tos == ["ops@example.org", "pi@example.org"]
    message = parse(envelope)
    assert message["Subject"] == "[asbb] WARNING: physics has used 80% of its limit"
    assert message["To"] == "ops@example.org, pi@example.org"
    body = message.get_content()
    assert alert.message in body
    assert "account:   physics" in body
    assert '"percent_used": 85.0' in body
    assert mailbox.logins == []  # no user configured: no login

    ledger.deposit("physics", "100", ctx=ctx)
    assert service.evaluate().resolved == [alert_id]
    assert DeliveryService(db, s, clock).deliver_due().sent
    resolved = parse(mailbox.messages[1])
    assert resolved["Subject"] == "[asbb] RESOLVED: physics has used 80% of its limit"
    assert "condition cleared" in resolved.get_content()


def test_smtp_login_when_configured(db, ledger, ctx, settings, clock, mailbox):
    s = configured(
        settings,
        smtp_host="127.0.0.1",
        smtp_port=mailbox.port,
        smtp_to=["ops@example.org"],
        smtp_user="asbb",
        smtp_password="s3cret",
    )
    open_usage_alerts(ledger, ctx, ["physics"])
    AlertService(db, s, clock).evaluate()
    assert DeliveryService(db, s, clock).deliver_due().sent
    assert mailbox.logins == [("asbb", "s3cret")]
    assert len(mailbox.messages) == 1


def test_email_subject_names_severity_and_event():
    alert = {"title": "x is on fire", "severity": "critical"}
    assert email_subject("opened", alert) == "[asbb] CRITICAL: x is on fire"
    assert email_subject("resolved", alert) == "[asbb] RESOLVED: x is on fire"


# ---------------------------------------------------------------- races and locks


def test_dispatchers_racing_send_each_delivery_once(db, ledger, ctx, settings, clock, hook):
    s = configured(settings, webhook_url=hook.url)
    names = [f"acct{k}" for k in range(8)]
    open_usage_alerts(ledger, ctx, names)
    opened = AlertService(db, s, clock).evaluate().opened
    assert len(opened) == 8
    hook.delay = 0.02
    dispatchers = [DeliveryService(db, s, clock) for _ in range(4)]
    barrier = threading.Barrier(len(dispatchers))
    reports: list[Any] = []
    errors: list[BaseException] = []

    def run(d: DeliveryService) -> None:
        try:
            barrier.wait()
            reports.append(d.deliver_due())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(d,)) for d in dispatchers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    sent_ids = [i for r in reports for i in r.sent]
    assert len(sent_ids) == len(set(sent_ids)) == 8
    received = sorted(b["alert"]["id"] for b in hook.bodies())
    assert received == sorted(opened)  # each alert's notice arrived exactly once
    assert all(d.status == DeliveryStatus.SENT for d in all_deliveries(db))


def probe_no_database_lock(db) -> None:
    """Fail unless another connection can write and lock the alert rows right now."""
    if db.is_postgresql:
        with db.engine.connect() as conn:
            conn.execute(text("SET LOCAL lock_timeout = '300ms'"))
            conn.execute(text("SELECT id FROM alert_deliveries FOR UPDATE"))
            conn.execute(text("SELECT id FROM alerts FOR UPDATE"))
            idle = conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()"
                )
            ).scalar_one()
            conn.rollback()
        assert idle == 0, "a transaction is open while the webhook is being called"
    else:
        conn = sqlite3.connect(db.engine.url.database, timeout=0, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")  # 'database is locked' if anyone holds it
            conn.execute("ROLLBACK")
        finally:
            conn.close()


def test_sending_holds_no_database_lock_and_never_delays_the_ledger(
    db, ledger, ctx, settings, clock, hook
):
    s = configured(settings, webhook_url=hook.url, webhook_timeout_seconds=20)
    open_usage_alerts(ledger, ctx, ["physics"])
    AlertService(db, s, clock).evaluate()
    release = threading.Event()
    hook.on_request = lambda: release.wait(15)
    result: list[Any] = []
    sending = threading.Thread(
        target=lambda: result.append(DeliveryService(db, s, clock).deliver_due())
    )
    sending.start()
    try:
        assert hook.arrived.wait(10), "the webhook was never called"
        # the receiver hangs; the ledger goes on at full speed
        started = time.monotonic()
        hold = ledger.create_hold("physics", "5", ctx=ctx)
        ledger.post_hold(hold.hold_id, "4", ctx=ctx)
        assert time.monotonic() - started < 2
        probe_no_database_lock(db)
        # evaluating meanwhile is not blocked either (and sends nothing itself)
        started = time.monotonic()
        AlertService(db, s, clock).evaluate()
        assert time.monotonic() - started < 5
        assert len(hook.requests) == 1
    finally:
        release.set()
        sending.join(timeout=30)
    assert result[0].sent
    assert ledger.get_account("physics").used_amount == 64


def test_evaluate_only_queues(db, ledger, ctx, settings, clock, hook):
    s = configured(settings, webhook_url=hook.url)
    open_usage_alerts(ledger, ctx, ["physics"])
    AlertService(db, s, clock).evaluate()
    assert hook.requests == []
    [delivery] = all_deliveries(db)
    assert (delivery.status, delivery.attempts, delivery.event) == (
        DeliveryStatus.PENDING,
        0,
        "opened",
    )


def test_the_dispatcher_runs_in_the_background(db, ledger, ctx, settings, clock, hook):
    s = configured(settings, webhook_url=hook.url)
    open_usage_alerts(ledger, ctx, ["physics"])
    AlertService(db, s, clock).evaluate()
    timer = AlertDispatcher(DeliveryService(db, s, clock), interval=0.05)
    timer.start()
    try:
        assert hook.arrived.wait(10)
        deadline = time.monotonic() + 10
        while all_deliveries(db)[0].status != DeliveryStatus.SENT:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        timer.stop()
    assert len(hook.requests) == 1
