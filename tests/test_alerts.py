"""Alerts on real databases: once per breach, escalation, clearing, people, races."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from asbb_core.alerts.conditions import (
    CLEARED,
    AlertEvaluator,
    AlertService,
    Condition,
    channels,
    usage_severity,
)
from asbb_core.alerts.views import AlertView
from asbb_core.funding.grants import Grants
from asbb_core.ledger import Ledger
from asbb_core.ledger.verify import verify_ledger
from asbb_core.settings import AlertSettings, Settings
from asbb_core.store.models import Alert, AlertDelivery, AlertSeverity, AlertStatus
from asbb_core.values.context import Context
from asbb_core.values.errors import ConflictError, NotFoundError, ValidationError

WEBHOOK = "http://127.0.0.1:9/never-called"


def configured(settings: Settings, *, daemon: dict[str, Any] | None = None, **alerts: Any):
    """The test settings with some alert (and daemon) settings changed, validated."""
    update: dict[str, Any] = {
        "alerts": AlertSettings(**{**settings.alerts.model_dump(), **alerts}),
    }
    if daemon:
        update["daemon"] = settings.daemon.model_copy(update=daemon)
    return settings.model_copy(update=update)


@pytest.fixture
def alert_settings(settings: Settings, tmp_path: Path) -> Settings:
    # A webhook and an email channel (never sent here: deliveries are only queued), and an
    # empty spool folder of our own.
    return configured(
        settings,
        webhook_url=WEBHOOK,
        smtp_host="127.0.0.1",
        smtp_to=["ops@example.org"],
        daemon={"spool_dir": str(tmp_path / "spool")},
    )


@pytest.fixture
def service(db, alert_settings, clock) -> AlertService:
    return AlertService(db, alert_settings, clock)


def spend(ledger: Ledger, ctx: Context, account: str, amount: str) -> None:
    """Charge ``amount`` through a real hold and post."""
    hold = ledger.create_hold(account, amount, ctx=ctx, buffer="1")
    ledger.post_hold(hold.hold_id, amount, ctx=ctx)


def alerts(db) -> list[Alert]:
    return db.read(lambda s: list(s.exec(select(Alert).order_by(col(Alert.id)))))


def deliveries(db) -> list[AlertDelivery]:
    return db.read(lambda s: list(s.exec(select(AlertDelivery).order_by(col(AlertDelivery.id)))))


def active(db) -> dict[str, Alert]:
    return {a.dedup_key: a for a in alerts(db) if a.status != AlertStatus.RESOLVED}


# ---------------------------------------------------------------- once per breach


def test_an_alert_fires_once_per_breach_however_often_evaluated(db, ledger, ctx, service, clock):
    ledger.create_account("physics", ctx=ctx, limit="100")
    spend(ledger, ctx, "physics", "55")
    first = service.evaluate()
    assert len(first.opened) == 1
    for _ in range(5):
        clock.advance(timedelta(minutes=5))
        again = service.evaluate()
        assert again.opened == []
        assert again.still_open == first.opened
        assert again.resolved == []
    [alert] = alerts(db)
    assert alert.kind == "usage"
    assert alert.dedup_key == alert.active_key == "usage:physics:50"
    assert alert.severity == AlertSeverity.INFO
    assert alert.status == AlertStatus.OPEN
    assert alert.opened_at == clock.now - timedelta(minutes=25)
    assert alert.last_seen_at == clock.now
    assert alert.details["used"] == "55.00"
    assert alert.details["percent_used"] == "55.0"
    # one notice per channel, for the opening only
    assert sorted((d.channel, d.event) for d in deliveries(db)) == [
        ("email", "opened"),
        ("webhook", "opened"),
    ]


def test_usage_escalates_50_80_90_100_one_alert_at_a_time(db, ledger, ctx, service, clock):
    ledger.create_account("physics", ctx=ctx, limit="200")
    seen = []
    for amount, key, severity in [
        ("100", "usage:physics:50", AlertSeverity.INFO),
        ("60", "usage:physics:80", AlertSeverity.WARNING),
        ("20", "usage:physics:90", AlertSeverity.WARNING),
        ("20", "usage:physics:100", AlertSeverity.CRITICAL),
    ]:
        spend(ledger, ctx, "physics", amount)
        clock.advance(timedelta(minutes=1))
        summary = service.evaluate()
        assert len(summary.opened) == 1
        assert summary.resolved == seen[-1:]
        now_active = active(db)
        assert list(now_active) == [key]
        assert now_active[key].severity == severity
        seen.append(summary.opened[0])
    everything = alerts(db)
    assert [a.dedup_key for a in everything] == [
        "usage:physics:50",
        "usage:physics:80",
        "usage:physics:90",
        "usage:physics:100",
    ]
    for old in everything[:3]:
        assert old.status == AlertStatus.RESOLVED
        assert old.active_key is None
        assert old.resolved_by == "asbb"
        assert old.resolution == CLEARED
    # each alert: opened + (for the first three) resolved, on both channels
    events = sorted((d.alert_id, d.event) for d in deliveries(db) if d.channel == "webhook")
    assert events == sorted(
        [(a.id, "opened") for a in everything] + [(a.id, "resolved") for a in everything[:3]]
    )


def test_jumping_past_several_thresholds_raises_only_the_highest(db, ledger, ctx, service):
    ledger.create_account("physics", ctx=ctx, limit="100")
    spend(ledger, ctx, "physics", "95")
    summary = service.evaluate()
    assert len(summary.opened) == 1
    assert list(active(db)) == ["usage:physics:90"]


def test_a_deposit_clears_the_usage_alert(db, ledger, ctx, service, clock):
    ledger.create_account("physics", ctx=ctx, limit="100")
    spend(ledger, ctx, "physics", "85")
    [opened] = service.evaluate().opened
    assert list(active(db)) == ["usage:physics:80"]
    ledger.deposit("physics", "100", ctx=ctx)  # 85 of 200: 42.5%, under every threshold
    clock.advance(timedelta(minutes=5))
    summary = service.evaluate()
    assert summary.resolved == [opened]
    assert summary.opened == []
    assert active(db) == {}
    [alert] = alerts(db)
    assert alert.resolved_at == clock.now
    assert alert.resolved_by == "asbb"
    assert [(d.channel, d.event) for d in deliveries(db) if d.event == "resolved"] == [
        ("webhook", "resolved"),
        ("email", "resolved"),
    ]
    # stays cleared
    assert service.evaluate().resolved == []
    assert verify_ledger(db).ok


def test_suspended_and_limitless_accounts_raise_no_usage_alert(db, ledger, ctx, service):
    ledger.create_account("asleep", ctx=ctx, limit="100")
    spend(ledger, ctx, "asleep", "99")
    ledger.update_account("asleep", ctx=ctx, status="suspended")
    ledger.create_account("empty", ctx=ctx)
    assert service.evaluate().opened == []


def test_usage_severity_bands():
    assert usage_severity(50) == AlertSeverity.INFO
    assert usage_severity(79) == AlertSeverity.INFO
    assert usage_severity(80) == AlertSeverity.WARNING
    assert usage_severity(99) == AlertSeverity.WARNING
    assert usage_severity(100) == AlertSeverity.CRITICAL
    assert usage_severity(150) == AlertSeverity.CRITICAL


def test_no_channels_configured_queues_no_deliveries(db, ledger, ctx, settings, clock):
    ledger.create_account("physics", ctx=ctx, limit="100")
    spend(ledger, ctx, "physics", "60")
    assert channels(settings) == []
    assert len(AlertService(db, settings, clock).evaluate().opened) == 1
    assert deliveries(db) == []


# ---------------------------------------------------------------- people


def test_acknowledge_keeps_the_alert_active_and_silent(db, ledger, ctx, service, clock):
    ledger.create_account("physics", ctx=ctx, limit="100")
    spend(ledger, ctx, "physics", "60")
    [alert_id] = service.evaluate().opened
    clock.advance(timedelta(hours=1))
    record = service.acknowledge(alert_id, "alice", note="looking into it")
    assert record.alert.status == AlertStatus.ACKNOWLEDGED
    assert record.alert.acknowledged_by == "alice"
    assert record.alert.acknowledged_at == clock.now
    assert record.alert.details["note"] == "looking into it"
    assert record.account == "physics"
    # still active: evaluation updates it, opens nothing new, keeps the note
    clock.advance(timedelta(hours=1))
    summary = service.evaluate()
    assert summary.opened == []
    assert summary.still_open == [alert_id]
    again = service.get_alert(alert_id).alert
    assert again.status == AlertStatus.ACKNOWLEDGED
    assert again.last_seen_at == clock.now
    assert again.details["note"] == "looking into it"
    with pytest.raises(ConflictError, match="already acknowledged by alice"):
        service.acknowledge(alert_id, "bob")
    # and it still clears by itself
    ledger.deposit("physics", "100", ctx=ctx)
    assert service.evaluate().resolved == [alert_id]
    assert service.get_alert(alert_id).alert.resolution == CLEARED


def test_resolving_by_hand_records_who_and_why_and_reopens_if_still_true(
    db, ledger, ctx, service, clock
):
    ledger.create_account("physics", ctx=ctx, limit="100")
    spend(ledger, ctx, "physics", "60")
    [alert_id] = service.evaluate().opened
    clock.advance(timedelta(minutes=10))
    with pytest.raises(ValidationError, match="note: required"):
        service.resolve(alert_id, "alice", "  ")
    record = service.resolve(alert_id, "alice", "budget raised next week")
    assert record.alert.status == AlertStatus.RESOLVED
    assert record.alert.resolved_by == "alice"
    assert record.alert.resolved_at == clock.now
    assert record.alert.resolution == "budget raised next week"
    assert record.alert.active_key is None
    assert [d.event for d in service.deliveries(alert_id)] == [
        "opened",
        "opened",
        "resolved",
        "resolved",
    ]
    with pytest.raises(ConflictError, match="already resolved"):
        service.resolve(alert_id, "bob", "again")
    with pytest.raises(ConflictError, match="already resolved"):
        service.acknowledge(alert_id, "bob")
    # the condition still holds: the next evaluation raises a fresh alert
    clock.advance(timedelta(minutes=10))
    [fresh] = service.evaluate().opened
    assert fresh != alert_id
    assert service.get_alert(fresh).alert.dedup_key == "usage:physics:50"


def test_unknown_and_invalid_ids_and_filters(service):
    with pytest.raises(NotFoundError, match="alert 999 does not exist"):
        service.get_alert(999)
    with pytest.raises(NotFoundError):
        service.acknowledge(999, "alice")
    with pytest.raises(NotFoundError):
        service.resolve(2**70, "alice", "x")
    with pytest.raises(ValidationError, match="id"):
        service.get_alert("1")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="actor"):
        service.acknowledge(1, "")
    with pytest.raises(ValidationError, match="status: 'bogus'"):
        service.list_alerts(status="bogus")
    with pytest.raises(ValidationError, match="severity"):
        service.list_alerts(severity="loud")
    with pytest.raises(ValidationError, match="kind"):
        service.list_alerts(kind="weather")
    with pytest.raises(ValidationError, match="limit"):
        service.list_alerts(limit=0)


def test_list_filters_pages_and_reader_scope(db, ledger, ctx, service, alert_settings, clock):
    ledger.create_account("alpha", ctx=ctx, limit="100")
    ledger.create_account("beta", ctx=ctx, limit="100")
    spend(ledger, ctx, "alpha", "60")
    spend(ledger, ctx, "beta", "100")
    hold = ledger.create_hold("alpha", "1", ctx=ctx)
    clock.advance(timedelta(hours=alert_settings.alerts.stuck_hold_hours + 1))
    opened = service.evaluate().opened
    assert len(opened) == 3
    everything = service.list_alerts()
    assert [r.id for r in everything] == sorted(opened, reverse=True)  # newest first
    assert service.count_alerts() == 3
    assert [r.alert.dedup_key for r in service.list_alerts(account="alpha")] == ["usage:alpha:50"]
    assert [r.account for r in service.list_alerts(severity="critical")] == ["beta"]
    assert [r.alert.kind for r in service.list_alerts(kind="stuck-holds")] == ["stuck-holds"]
    stuck = service.list_alerts(kind="stuck-holds")[0]
    assert stuck.account is None
    assert stuck.alert.details["oldest"][0]["hold_id"] == hold.hold_id
    # a reader limited to alpha sees alpha's alerts, not beta's and not global ones
    scoped = service.list_alerts(accounts={"alpha"})
    assert [r.account for r in scoped] == ["alpha"]
    assert service.count_alerts(accounts={"alpha"}) == 1
    # paging
    assert [r.id for r in service.list_alerts(limit=2, offset=1)] == sorted(opened)[:2][::-1]
    service.acknowledge(opened[0], "alice")
    assert service.count_alerts(status="acknowledged") == 1
    assert service.count_alerts(status="open") == 2
    as_dict = AlertView.of(service.get_alert(opened[0])).record()
    assert as_dict["status"] == "acknowledged"
    assert as_dict["acknowledged_by"] == "alice"
    # free text, in SQL: account, kind or title, any case; % and _ are literal
    assert [r.account for r in service.list_alerts(search="BET")] == ["beta"]
    assert [r.alert.kind for r in service.list_alerts(search="stuck")] == ["stuck-holds"]
    assert service.count_alerts(search="alp") == 1
    assert service.list_alerts(search="0_%") == []  # unescaped, "_" would match "100%"
    assert len(service.list_alerts(search="  ")) == 3
    with pytest.raises(ValidationError) as err:
        service.list_alerts(search="x" * 101)
    assert err.value.field == "search"


# ---------------------------------------------------------------- other conditions


def test_stuck_holds_by_the_injected_clock(db, ledger, ctx, alert_settings, clock):
    service = AlertService(db, configured(alert_settings, stuck_hold_hours=2), clock)
    ledger.create_account("physics", ctx=ctx, limit="1000")
    first = ledger.create_hold("physics", "10", ctx=ctx)
    clock.advance(timedelta(minutes=30))
    second = ledger.create_hold("physics", "10", ctx=ctx)
    assert service.evaluate().opened == []
    clock.advance(timedelta(hours=2))  # first: 2.5 h old, second: 2 h (not more than 2)
    [alert_id] = service.evaluate().opened
    alert = service.get_alert(alert_id).alert
    assert alert.dedup_key == "stuck-holds"
    assert alert.severity == AlertSeverity.WARNING
    assert alert.details["count"] == 1
    assert [h["hold_id"] for h in alert.details["oldest"]] == [first.hold_id]
    clock.advance(timedelta(minutes=1))
    assert service.evaluate().still_open == [alert_id]
    alert = service.get_alert(alert_id).alert
    assert alert.details["count"] == 2  # figures follow, the alert stays the same
    assert alert.title == "2 hold(s) stuck open"
    assert [h["hold_id"] for h in alert.details["oldest"]] == [first.hold_id, second.hold_id]
    ledger.post_hold(first.hold_id, "5", ctx=ctx)
    ledger.void_hold(second.hold_id, ctx=ctx)
    assert service.evaluate().resolved == [alert_id]


def test_a_hold_past_its_timeout_is_stuck(db, ledger, ctx, alert_settings, clock):
    service = AlertService(db, configured(alert_settings, stuck_hold_hours=1000), clock)
    ledger.create_account("physics", ctx=ctx, limit="1000")
    ledger.create_hold("physics", "10", ctx=ctx, time_limit=timedelta(hours=1))
    assert service.evaluate().opened == []
    clock.advance(timedelta(hours=25, seconds=1))  # the time limit and the 24 h grace
    assert len(service.evaluate().opened) == 1
    ledger.expire_holds(ctx=ctx)
    assert len(service.evaluate().resolved) == 1


def test_spool_backlog_counts_waiting_files_only(db, alert_settings, clock, tmp_path):
    spool = tmp_path / "spool"
    spool.mkdir()
    service = AlertService(db, configured(alert_settings, spool_backlog=3), clock)
    (spool / "1-100.json").write_text("{}")
    (spool / "2-101.json").write_text("{}")
    (spool / ".3-102.json.99.tmp").write_text("{}")  # being written: not waiting yet
    (spool / "rejected").mkdir()
    (spool / "rejected" / "0-99.json").write_text("{}")  # refused for good: not waiting
    (spool / ".replay.lock").write_text("")
    assert service.evaluate().opened == []
    (spool / "3-102.json").write_text("{}")
    [alert_id] = service.evaluate().opened
    alert = service.get_alert(alert_id).alert
    assert alert.dedup_key == "spool-backlog"
    assert alert.details["waiting"] == 3
    assert alert.account_id is None
    (spool / "1-100.json").unlink()
    assert service.evaluate().resolved == [alert_id]


def test_variance_and_exhaustion_from_the_burn_rate(db, ledger, ctx, service, clock):
    # 3000 over Feb 1 .. Apr 30 (89 days): about 33.71 a day expected.
    ledger.create_account(
        "physics",
        ctx=ctx,
        limit="3000",
        start_date=date(2026, 2, 1),
        end_date=date(2026, 4, 30),
    )
    ledger.create_account("calm", ctx=ctx, limit="100000")  # spends little: no alert
    spend(ledger, ctx, "calm", "1")
    spend(ledger, ctx, "physics", "600")  # 20 a day over the 30-day window: under plan
    summary = service.evaluate()
    assert [a.kind for a in alerts(db)] == []
    assert summary.opened == []
    spend(ledger, ctx, "physics", "900")  # 50 a day: 48% over; 1500 left lasts 30 days
    service.evaluate()
    by_kind = {a.kind: a for a in alerts(db)}
    assert set(by_kind) == {"usage", "variance", "exhaustion"}
    variance = by_kind["variance"]
    assert variance.dedup_key == "variance:physics"
    assert variance.severity == AlertSeverity.WARNING
    assert variance.details["variance_percent"] == "48.3"
    exhaustion = by_kind["exhaustion"]
    assert exhaustion.dedup_key == "exhaustion:physics"
    assert exhaustion.severity == AlertSeverity.WARNING
    assert exhaustion.details["projected_exhaustion"] == "2026-04-01"
    assert exhaustion.details["days_early"] == 29
    spend(ledger, ctx, "physics", "900")  # 80 a day; 600 left lasts 7 days: critical
    clock.advance(timedelta(minutes=5))
    summary = service.evaluate()
    assert exhaustion.id in summary.still_open
    again = service.get_alert(exhaustion.id or 0).alert
    assert again.severity == AlertSeverity.CRITICAL  # raised on the same alert
    assert again.details["projected_exhaustion"] == "2026-03-09"
    assert len([a for a in alerts(db) if a.kind == "exhaustion"]) == 1


def test_exhaustion_days_allows_some_slack(db, ledger, ctx, alert_settings, clock):
    ledger.create_account(
        "physics", ctx=ctx, limit="3000", start_date=date(2026, 2, 1), end_date=date(2026, 4, 30)
    )
    spend(ledger, ctx, "physics", "1500")  # runs out 29 days before its end
    AlertService(db, configured(alert_settings, exhaustion_days=29), clock).evaluate()
    assert "exhaustion" not in {a.kind for a in alerts(db)}
    AlertService(db, configured(alert_settings, exhaustion_days=28), clock).evaluate()
    assert "exhaustion" in {a.kind for a in alerts(db)}


def test_grant_period_ending_with_money_left(db, ledger, ctx, service, clock):
    grants = Grants(ledger)
    grants.create_grant(
        "NSF-123",
        total_award="20000",
        start_date="2025-04-01",
        end_date="2027-03-31",
        indirect_rate="0.5",
        ctx=ctx,
    )
    # period 1 (2025-04-01 .. 2026-03-31, 10000) ends in 29 days, nothing spent
    [alert_id] = service.evaluate().opened
    record = service.get_alert(alert_id)
    assert record.alert.dedup_key == "grant-period:NSF-123:1"
    assert record.grant == "NSF-123"
    assert record.alert.details["remaining"] == "10000.00"
    assert record.alert.details["percent_unspent"] == "100.0"
    # spend all but 5%: no longer worth an alert
    ledger.create_account("physics", ctx=ctx)
    grants.link_account("NSF-123", "physics", ctx=ctx)
    grants.fund_account("NSF-123", "physics", "6600", ctx=ctx)
    spend(ledger, ctx, "physics", "6400")  # 6400 x 1.5 = 9600 consumed, 400 left
    assert service.evaluate().resolved == [alert_id]
    # a grant with nothing spent whose period ends in 29 days, until time moves on: its next
    # period ends a year later, so the alert clears
    grants.create_grant(
        "NIH-9",
        total_award="2000",
        start_date="2025-04-01",
        end_date="2027-03-31",
        indirect_rate="0",
        ctx=ctx,
    )
    [other] = [a for a in service.evaluate().opened if service.get_alert(a).grant == "NIH-9"]
    clock.now = datetime(2026, 4, 2, 12, 0, tzinfo=UTC)
    assert other in service.evaluate().resolved
    assert [a.kind for a in active(db).values()] == ["usage"]


def test_a_failing_check_leaves_its_alerts_alone(db, ledger, ctx, alert_settings, clock):
    ledger.create_account("physics", ctx=ctx, limit="100")
    spend(ledger, ctx, "physics", "60")
    AlertService(db, alert_settings, clock).evaluate()
    assert list(active(db)) == ["usage:physics:50"]

    def broken(*_: object) -> list[Condition]:
        raise RuntimeError("database on fire")

    service = AlertService(db, alert_settings, clock, checks=[(("usage",), broken)])
    summary = service.evaluate()
    assert summary.failed == {"usage": "RuntimeError: database on fire"}
    assert summary.resolved == []
    assert list(active(db)) == ["usage:physics:50"]


# ---------------------------------------------------------------- races


def test_evaluators_racing_open_one_alert_per_breach(db, ledger, ctx, alert_settings, clock):
    for k in range(4):
        ledger.create_account(f"acct{k}", ctx=ctx, limit="100")
        spend(ledger, ctx, f"acct{k}", "85")
    services = [AlertService(db, alert_settings, clock) for _ in range(6)]
    barrier = threading.Barrier(len(services))
    errors: list[BaseException] = []
    opened: list[int] = []
    lock = threading.Lock()

    def run(service: AlertService) -> None:
        try:
            barrier.wait()
            for _ in range(3):
                summary = service.evaluate()
                with lock:
                    opened.extend(summary.opened)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(s,)) for s in services]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    everything = alerts(db)
    assert sorted(a.dedup_key for a in everything) == [f"usage:acct{k}:80" for k in range(4)]
    assert sorted(opened) == sorted(a.id for a in everything)  # each reported opened once
    assert len(deliveries(db)) == 4 * 2  # one per alert and channel


def test_the_evaluator_runs_in_the_background(db, ledger, ctx, alert_settings, clock):
    ledger.create_account("physics", ctx=ctx, limit="100")
    spend(ledger, ctx, "physics", "60")
    timer = AlertEvaluator(AlertService(db, alert_settings, clock), interval=0.05)
    timer.start()
    try:
        for _ in range(200):
            if alerts(db):
                break
            threading.Event().wait(0.05)
    finally:
        timer.stop()
    assert [a.dedup_key for a in alerts(db)] == ["usage:physics:50"]


def test_alerts_leave_the_ledger_untouched(db, ledger, ctx, service):
    ledger.create_account("physics", ctx=ctx, limit="100")
    spend(ledger, ctx, "physics", "100")
    before = [e.id for e in ledger.journal(account="physics")]
    account = ledger.get_account("physics")
    assert len(service.evaluate().opened) == 1
    assert [e.id for e in ledger.journal(account="physics")] == before
    after = ledger.get_account("physics")
    assert (after.limit_amount, after.used_amount) == (account.limit_amount, account.used_amount)
    assert verify_ledger(db).ok
