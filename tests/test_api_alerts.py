"""Alerts over real HTTP: evaluate, list, show, acknowledge, resolve, deliver; who sees what."""

from __future__ import annotations

import socket
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from asbb_core.settings import AlertSettings, Settings
from tests.wire import rows_and_total


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    """The shared test settings, with no alert timers (the tests evaluate by hand), a webhook
    nobody listens on, short stuck-hold age and an empty spool of our own."""
    alerts = AlertSettings(
        **{
            **settings.alerts.model_dump(),
            "evaluate_interval_seconds": 0,
            "delivery_interval_seconds": 0,
            "webhook_url": f"http://127.0.0.1:{_dead_port()}/hook",
            "stuck_hold_hours": 1,
        }
    )
    daemon = settings.daemon.model_copy(update={"spool_dir": str(tmp_path / "spool")})
    return settings.model_copy(update={"alerts": alerts, "daemon": daemon})


def client_for(live_daemon, name: str, role: str, **kwargs) -> httpx.Client:
    secret = live_daemon.services.tokens.tokens.create(name, role, actor="tests", **kwargs).secret
    return httpx.Client(
        base_url=live_daemon.url, headers={"Authorization": f"Bearer {secret}"}, timeout=30
    )


def assert_envelope(reply, status, code, field=None):
    assert reply.status_code == status, reply.text
    error = reply.json()["error"]
    assert error["code"] == code, error
    if field is not None:
        assert error["field"] == field, error
    return error


@pytest.fixture
def admin(live_daemon):
    with live_daemon.client("admin") as client:
        yield client


@pytest.fixture
def breaches(live_daemon, ledger, ctx, clock):
    """alpha 60% used (info), beta 100% (critical), and a hold stuck open (global)."""
    for name, used in (("alpha", "60"), ("beta", "100")):
        ledger.create_account(name, ctx=ctx, limit="100")
        hold = ledger.create_hold(name, used, ctx=ctx, buffer="1")
        ledger.post_hold(hold.hold_id, used, ctx=ctx)
    ledger.deposit("alpha", "10", ctx=ctx)  # 60 of 110: 54.5%
    ledger.create_hold("alpha", "1", ctx=ctx)
    clock.advance(timedelta(hours=2))
    return ledger


def evaluate(admin) -> dict:
    reply = admin.post("/api/v1/alerts/evaluate")
    assert reply.status_code == 200, reply.text
    return reply.json()


def by_key(admin, **params) -> dict[str, dict]:
    rows, _ = rows_and_total(admin.get("/api/v1/alerts", params=params))
    return {a["dedup_key"]: a for a in rows}


def test_evaluate_list_show(admin, breaches, clock):
    first = evaluate(admin)
    assert len(first["opened"]) == 3
    assert (first["resolved"], first["failed"]) == ([], {})
    again = evaluate(admin)
    assert again["opened"] == []
    assert sorted(again["still_open"]) == sorted(first["opened"])

    page = admin.get("/api/v1/alerts")
    rows, total = rows_and_total(page)
    assert (len(rows), total) == (3, 3)
    # One page of 50 from the start: the first page is the last.
    assert set(page.links) == {"first", "last"}
    assert "limit=50" in page.links["first"]["url"]
    assert "offset=0" in page.links["last"]["url"]
    alerts = {a["dedup_key"]: a for a in rows}
    assert set(alerts) == {"usage:alpha:50", "usage:beta:100", "stuck-holds"}
    beta = alerts["usage:beta:100"]
    assert beta["severity"] == "critical"
    assert beta["status"] == "open"
    assert beta["account"] == "beta"
    # An alert's details are its stored figures, money as exact strings (AlertView.details).
    assert beta["details"]["used"] == Decimal("100.00")  # exact numbers, as every figure
    assert beta["details"]["limit"] == Decimal("100.00")
    assert alerts["stuck-holds"]["account"] is None
    assert alerts["stuck-holds"]["details"]["count"] == 1

    assert set(by_key(admin, severity="critical")) == {"usage:beta:100"}
    assert set(by_key(admin, kind="stuck-holds")) == {"stuck-holds"}
    assert set(by_key(admin, account="alpha")) == {"usage:alpha:50"}
    assert by_key(admin, status="resolved") == {}
    one = admin.get("/api/v1/alerts", params={"limit": 1})
    assert (len(rows_and_total(one)[0]), rows_and_total(one)[1]) == (1, 3)
    assert set(one.links) == {"first", "next", "last"}
    assert "offset=2" in one.links["last"]["url"]

    shown = admin.get(f"/api/v1/alerts/{beta['id']}").json()
    assert shown["title"] == beta["title"]
    [delivery] = shown["deliveries"]
    assert delivery["channel"] == "webhook"
    assert delivery["event"] == "opened"
    assert delivery["status"] == "pending"
    assert delivery["attempts"] == 0


def test_acknowledge_and_resolve_record_the_token(admin, live_daemon, breaches, clock):
    evaluate(admin)
    beta = by_key(admin)["usage:beta:100"]
    url = f"/api/v1/alerts/{beta['id']}"
    clock.advance(timedelta(minutes=3))
    acked = admin.post(f"{url}/acknowledge", json={"note": "on it"}).json()
    assert acked["status"] == "acknowledged"
    assert acked["acknowledged_by"] == "test-admin"
    assert acked["acknowledged_at"] == clock.now.isoformat().replace("+00:00", "Z")
    assert acked["details"]["note"] == "on it"
    assert_envelope(admin.post(f"{url}/acknowledge"), 409, "conflict", "id")
    assert_envelope(admin.post(f"{url}/resolve", json={}), 422, "validation_error")
    assert_envelope(admin.post(f"{url}/resolve", json={"note": ""}), 422, "validation_error")
    resolved = admin.post(f"{url}/resolve", json={"note": "limit raised"}).json()
    assert resolved["status"] == "resolved"
    assert resolved["resolved_by"] == "test-admin"
    assert resolved["resolution"] == "limit raised"
    assert_envelope(admin.post(f"{url}/resolve", json={"note": "again"}), 409, "conflict")
    events = [d["event"] for d in admin.get(url).json()["deliveries"]]
    assert events == ["opened", "resolved"]
    # still 100% used: the next evaluation raises a fresh alert
    fresh = evaluate(admin)["opened"]
    assert len(fresh) == 1
    assert fresh[0] != beta["id"]


def test_conditions_that_end_resolve_their_alerts(admin, breaches, ctx):
    evaluate(admin)
    breaches.deposit("beta", "1000", ctx=ctx)
    summary = evaluate(admin)
    beta, _ = rows_and_total(admin.get("/api/v1/alerts", params={"status": "resolved"}))
    assert [a["dedup_key"] for a in beta] == ["usage:beta:100"]
    assert summary["resolved"] == [beta[0]["id"]]
    assert beta[0]["resolved_by"] == "asbb"
    assert beta[0]["resolution"] == "condition cleared"


def test_deliver_sends_due_notices_and_records_failures(admin, breaches):
    evaluate(admin)
    report = admin.post("/api/v1/alerts/deliver").json()
    assert len(report["retrying"]) == 3  # nobody listens on the webhook's port
    assert (report["sent"], report["failed"], report["skipped"]) == ([], [], 0)
    alert = next(iter(by_key(admin).values()))
    [delivery] = admin.get(f"/api/v1/alerts/{alert['id']}").json()["deliveries"]
    assert delivery["attempts"] == 1
    assert delivery["last_error"].startswith("ConnectError")
    assert admin.post("/api/v1/alerts/deliver").json()["retrying"] == []  # not due yet


def test_readers_see_their_accounts_and_cannot_write(admin, live_daemon, breaches):
    evaluate(admin)
    alerts = by_key(admin)
    with client_for(live_daemon, "alpha-reader", "reader", accounts=["alpha"]) as scoped:
        rows, total = rows_and_total(scoped.get("/api/v1/alerts"))
        assert [a["dedup_key"] for a in rows] == ["usage:alpha:50"]
        assert total == 1
        assert scoped.get(f"/api/v1/alerts/{alerts['usage:alpha:50']['id']}").status_code == 200
        assert_envelope(
            scoped.get(f"/api/v1/alerts/{alerts['usage:beta:100']['id']}"), 403, "forbidden"
        )
        assert_envelope(
            scoped.get(f"/api/v1/alerts/{alerts['stuck-holds']['id']}"), 403, "forbidden"
        )
        assert_envelope(scoped.get("/api/v1/alerts", params={"account": "beta"}), 403, "forbidden")
        assert_envelope(
            scoped.post(f"/api/v1/alerts/{alerts['usage:alpha:50']['id']}/acknowledge"),
            403,
            "forbidden",
        )
    with live_daemon.client("reader") as reader:
        assert rows_and_total(reader.get("/api/v1/alerts"))[1] == 3
        assert reader.get(f"/api/v1/alerts/{alerts['stuck-holds']['id']}").status_code == 200
        assert_envelope(reader.post("/api/v1/alerts/evaluate"), 403, "forbidden")
        assert_envelope(reader.post("/api/v1/alerts/deliver"), 403, "forbidden")
    with live_daemon.client("plugin") as plugin:
        assert_envelope(plugin.get("/api/v1/alerts"), 403, "forbidden")
    with live_daemon.client(None) as anonymous:
        assert_envelope(anonymous.get("/api/v1/alerts"), 401, "unauthorized")


def test_bad_requests_are_envelopes(admin):
    assert_envelope(admin.get("/api/v1/alerts/999"), 404, "not_found", "id")
    assert_envelope(admin.post("/api/v1/alerts/999/acknowledge"), 404, "not_found")
    assert_envelope(admin.post("/api/v1/alerts/999/resolve", json={"note": "x"}), 404, "not_found")
    for bad in ("0", str(2**64)):
        assert_envelope(admin.get(f"/api/v1/alerts/{bad}"), 422, "validation_error")
    for bad in ("abc", "-1"):
        assert admin.get(f"/api/v1/alerts/{bad}").status_code == 404
    assert admin.get("/api/v1/alerts/evaluate").status_code == 405
    for params in ({"status": "bogus"}, {"severity": "loud"}, {"kind": "weather"}, {"limit": 0}):
        assert_envelope(admin.get("/api/v1/alerts", params=params), 422, "validation_error")
    assert admin.get("/api/v1/alerts", params={"stauts": "open"}).status_code in (400, 422)
    assert_envelope(
        admin.post("/api/v1/alerts/1/resolve", json={"note": "x", "surprise": 1}),
        422,
        "validation_error",
    )
