"""/metrics, /health and /version over real HTTP, with numbers checked against the ledger."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from asbb_core.store.migrate import head_revision
from daemon.routes.system import asbb_version

CHECK = "/api/v1/budget/check"
RECONCILE = "/api/v1/budget/reconcile"


def scrape(client: httpx.Client) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of /metrics, keyed by (sample name, labels)."""
    reply = client.get("/metrics")
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(reply.text)
        for sample in family.samples
    }


def value(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def job(account: str, **fields: Any) -> dict[str, Any]:
    # 16 CPUs x $0.05 x 2 h = $1.60 estimated; $1.92 held (buffer 1.2)
    return {
        "account": account,
        "partition": "aws-cpu",
        "cpus": 16,
        "wall_time": "02:00:00",
        **fields,
    }


def test_metrics_count_checks_holds_and_errors(live_daemon: Any, ledger: Any, ctx: Any) -> None:
    ledger.create_account("ml-proj", ctx=ctx, limit="1000")
    ledger.create_account("tiny", ctx=ctx, limit="5")  # room for two $1.92 holds
    with live_daemon.client("plugin") as plugin, live_daemon.client(None) as anonymous:
        before = scrape(anonymous)  # no auth needed
        assert value(before, "asbb_check_seconds_count", outcome="all") == 0

        accepted = [plugin.post(CHECK, json=job("ml-proj")).json() for _ in range(3)]
        assert all(a["available"] for a in accepted)
        tiny = [plugin.post(CHECK, json=job("tiny")).json() for _ in range(4)]
        assert [t["available"] for t in tiny] == [True, True, False, False]
        unbudgeted = plugin.post(CHECK, json=job("ml-proj", partition="local")).json()
        assert unbudgeted["transaction_id"] is None
        reconciled = plugin.post(
            RECONCILE,
            json={
                "job_id": "1",
                "transaction_id": accepted[0]["transaction_id"],
                "actual_cost": "1.00",
            },
        )
        assert reconciled.status_code == 200, reconciled.text
        invalid = plugin.post(CHECK, json={"wall_time": 60})  # no account: rejected by the model
        assert invalid.status_code == 422
        invalid_time = plugin.post(CHECK, json=job("ml-proj", wall_time="abc"))
        assert invalid_time.status_code == 422
        unknown = plugin.post(CHECK, json=job("ghost"))
        assert unknown.status_code == 404
        forbidden = anonymous.post(CHECK, json=job("ml-proj"))
        assert forbidden.status_code == 401

        after = scrape(anonymous)
        with live_daemon.client("admin") as admin:
            as_admin = scrape(admin)

    # Every check that reached the pricing code is timed (the model-rejected one is not):
    # 3 + 4 + 1 unbudgeted + 1 bad wall_time + 1 unknown account.
    assert value(after, "asbb_check_seconds_count", outcome="all") == 10
    assert value(after, "asbb_check_seconds_bucket", outcome="all", le="+Inf") == 10
    assert value(after, "asbb_check_seconds_sum", outcome="all") > 0
    assert value(after, "asbb_holds_total", outcome="accepted") == 5
    assert value(after, "asbb_holds_total", outcome="refused") == 2
    assert value(after, "asbb_holds_total", outcome="unbudgeted") == 1
    assert value(after, "asbb_holds_total", outcome="replayed") == 0
    assert value(after, "asbb_reconciles_total", outcome="posted") == 1
    assert value(after, "asbb_errors_total", code="validation_error") == 2
    assert value(after, "asbb_errors_total", code="not_found") == 1
    assert value(after, "asbb_errors_total", code="unauthorized") == 1
    posted_checks = sum(
        count
        for (name, labels), count in after.items()
        if name == "asbb_http_requests_total"
        and dict(labels).get("route", "").endswith("/budget/check")
        and dict(labels)["method"] == "POST"
        and dict(labels)["status"] == "200"
    )
    assert posted_checks == 8

    # Money gauges are read from the ledger at scrape time: totals for anyone, each
    # account's figures only for a reader or admin token.
    assert not [k for k in after if k[0].startswith("asbb_account_")]
    assert Decimal(repr(value(after, "asbb_held_dollars"))) == Decimal("7.68")
    assert Decimal(repr(value(after, "asbb_charged_dollars"))) == Decimal("1.00")
    assert value(after, "asbb_limit_dollars") == 1005
    assert value(after, "asbb_accounts") == 2
    for name in ("ml-proj", "tiny"):
        account = ledger.get_account(name)
        held = value(as_admin, "asbb_account_held_dollars", account=name)
        used = value(as_admin, "asbb_account_charged_dollars", account=name)
        limit = value(as_admin, "asbb_account_limit_dollars", account=name)
        assert Decimal(repr(held)) == account.held_amount
        assert Decimal(repr(used)) == account.used_amount
        assert Decimal(repr(limit)) == account.limit_amount
    assert ledger.get_account("ml-proj").held_amount == Decimal("3.84")  # 2 of 3 holds still open
    assert ledger.get_account("ml-proj").used_amount == Decimal("1.00")
    assert ledger.get_account("tiny").held_amount == Decimal("3.84")


def test_replayed_checks_are_counted_apart(live_daemon: Any, ledger: Any, ctx: Any) -> None:
    ledger.create_account("ml-proj", ctx=ctx, limit="1000")
    with live_daemon.client("plugin") as plugin:
        for _ in range(3):
            assert plugin.post(CHECK, json=job("ml-proj", idempotency_key="k-1")).status_code == 200
        samples = scrape(plugin)
    assert value(samples, "asbb_holds_total", outcome="accepted") == 1
    assert value(samples, "asbb_holds_total", outcome="replayed") == 2
    assert value(samples, "asbb_held_dollars") == 1.92  # the total: one account here


def test_health_reports_a_current_schema(live_daemon: Any) -> None:
    with live_daemon.client(None) as anonymous:
        reply = anonymous.get("/health")
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["status"] == "ok"
    assert body["database"] == live_daemon.services.db.backend
    assert body["schema"] == {"current": head_revision(), "head": head_revision()}
    assert reply.headers["x-request-id"]


def test_health_during_a_rolling_upgrade(live_daemon: Any, db: Any) -> None:
    """Behind the schema (not migrated yet): degraded, 503. Ahead of this daemon (a newer asbb
    migrated it): still serving, 200, so an upgrade does not take the old replicas down."""
    from sqlalchemy import text

    def stamp(revision: str) -> None:
        with db.engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": revision})

    with live_daemon.client(None) as anonymous:
        stamp("0001")
        behind = anonymous.get("/health")
        stamp("9999")
        ahead = anonymous.get("/health")
        stamp(head_revision())
    assert behind.status_code == 503, behind.text
    assert behind.json()["status"] == "degraded"
    assert "asbb database migrate" in behind.json()["problem"]
    assert ahead.status_code == 200, ahead.text
    assert ahead.json()["schema"] == {"current": "9999", "head": head_revision(), "newer": True}


def test_version(live_daemon: Any) -> None:
    with live_daemon.client(None) as anonymous:
        reply = anonymous.get("/version")
    assert reply.status_code == 200
    body = reply.json()
    assert {k: body[k] for k in ("name", "version", "api")} == {
        "name": "asbb",
        "version": asbb_version(),
        "api": "v1",
    }
    assert {"git_commit", "build_time", "os", "arch"} <= set(body)  # the original tool's


def test_request_counter_labels_the_full_route(live_daemon: Any, ledger: Any, ctx: Any) -> None:
    ledger.create_account("ml-proj", ctx=ctx, limit="1000")
    with live_daemon.client("plugin") as plugin:
        assert plugin.post(CHECK, json=job("ml-proj")).status_code == 200
        assert plugin.get("/version").status_code == 200
        samples = scrape(plugin)
    assert value(samples, "asbb_http_requests_total", method="GET", route="/version", status="200")
    labels = {"method": "POST", "route": "/api/v1/budget/check", "status": "200"}
    assert value(samples, "asbb_http_requests_total", **labels) == 1


def test_account_metrics_follow_the_token(live_daemon: Any, ledger: Any, ctx: Any) -> None:
    """A scoped reader sees only its accounts; a plugin token none; an unknown secret
    401; and the setting that makes them public shows them to everyone."""
    ledger.create_account("alpha", ctx=ctx, limit="10")
    ledger.create_account("beta", ctx=ctx, limit="20")
    scoped = live_daemon.services.bank.tokens.create(
        "alpha-reader", "reader", actor="tests", accounts=["alpha"]
    ).secret
    with httpx.Client(
        base_url=live_daemon.url, headers={"Authorization": f"Bearer {scoped}"}
    ) as reader:
        seen = scrape(reader)
    accounts = {dict(k[1]).get("account") for k in seen if k[0] == "asbb_account_limit_dollars"}
    assert accounts == {"alpha"}
    with live_daemon.client("plugin") as plugin:
        assert not [k for k in scrape(plugin) if k[0].startswith("asbb_account_")]
    with httpx.Client(base_url=live_daemon.url, headers={"Authorization": "Bearer nope"}) as bad:
        assert bad.get("/metrics").status_code == 401

    settings = live_daemon.services.settings
    daemon = settings.daemon.model_copy(update={"public_account_metrics": True})
    live_daemon.services.bank.settings = settings.model_copy(update={"daemon": daemon})
    with live_daemon.client(None) as anonymous:
        public = scrape(anonymous)
    assert value(public, "asbb_account_limit_dollars", account="beta") == 20
