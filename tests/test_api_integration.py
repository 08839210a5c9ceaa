"""The ecosystem endpoints over real HTTP, on a real ledger: aws-slurm-burst (ASBX), the
advisor's decision support (ASBA) and the integration endpoints. Each figure is checked
against the ledger, and again after the ledger changed."""

from __future__ import annotations

import json
import os
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from asbb_core.access.tokens import Tokens
from asbb_core.alerts.conditions import AlertService
from asbb_core.funding.grants import Grants
from asbb_core.ledger.verify import verify_ledger
from tests.wire import D, day


@pytest.fixture
def bank(ledger, ctx, clock):
    """alpha: 1000 until 2026-06-09 (99 days from the clock's 2026-03-02), funded by grant
    NSF-1 (two periods); beta: 50, no end date, no grant."""
    grants = Grants(ledger)
    grants.create_grant(
        "NSF-1",
        total_award="4000",
        start_date="2026-01-01",
        end_date="2027-12-31",
        indirect_rate="0.5",
        period_months=12,
        ctx=ctx,
    )
    ledger.create_account("alpha", ctx=ctx, limit="0", end_date=date(2026, 6, 9))
    grants.link_account("NSF-1", "alpha", ctx=ctx)
    grants.fund_account("NSF-1", "alpha", "1000", ctx=ctx)
    ledger.create_account("beta", ctx=ctx, limit="50")
    return ledger


@pytest.fixture
def plugin(live_daemon, ledger):
    with live_daemon.client("plugin") as client:
        yield client
    report = verify_ledger(ledger.db)
    assert report.ok, [str(p) for p in report.problems]


@pytest.fixture
def admin(live_daemon):
    with live_daemon.client("admin") as client:
        yield client


@pytest.fixture
def reader(live_daemon):
    with live_daemon.client("reader") as client:
        yield client


def check(client, account: str, job: str, hours: int = 1, cpus: int = 100) -> str:
    """A budget check as the plugin sends it: cpus x hours x 0.05, held x 1.2."""
    reply = client.post(
        "/api/v1/budget/check",
        json={
            "account": account,
            "partition": "aws-cpu",
            "cpus": cpus,
            "wall_time": f"{hours:02d}:00:00",
            "job_id": job,
        },
    )
    assert reply.status_code == 200, reply.text
    assert reply.json()["available"], reply.text
    return reply.json()["transaction_id"]


def ok(reply, status: int = 200) -> dict:
    assert reply.status_code == status, reply.text
    return reply.json()


def error(reply, status: int) -> dict:
    assert reply.status_code == status, reply.text
    return reply.json()["error"]


def available(ledger, name: str) -> Decimal:
    return ledger.get_account(name).available


# ---------------------------------------------------------------- ASBX


def test_asbx_reconcile_links_the_hold_charges_once_and_corrects(bank, plugin, admin, reader):
    hold = check(plugin, "alpha", "701")  # 5.00 estimated, 6.00 held
    body = {
        "job_cost_data": {"slurm_job_id": "701", "aws_cost": 4.37, "instance_types": ["c5.xlarge"]},
        "auto_reconcile": True,
    }
    first = ok(plugin.post("/api/v1/asbx/reconcile", json=body))
    assert (first["outcome"], first["original_transaction"]) == ("reconciled", hold)
    assert (first["actual_cost"], first["estimated_cost"], first["refund_amount"]) == (
        D("4.37"),
        D("5.00"),
        D("1.63"),
    )
    assert (first["cost_variance"], first["cost_variance_pct"]) == (D("-0.63"), D("-12.6"))
    assert first["budget_remaining"] == available(bank, "alpha") == D("995.63")
    again = ok(plugin.post("/api/v1/asbx/reconcile", json=body))
    assert (again["outcome"], again["additional_charge"], again["refund_amount"]) == (
        "unchanged",
        D("0.00"),
        D("0.00"),
    )
    body["job_cost_data"]["aws_cost"] = "5.12"  # a late bill line
    fixed = ok(plugin.post("/api/v1/asbx/reconcile", json=body))
    assert (fixed["outcome"], fixed["previous_charge"], fixed["additional_charge"]) == (
        "corrected",
        D("4.37"),
        D("0.75"),
    )
    shown = ok(admin.get(f"/api/v1/holds/{hold}"))
    assert (shown["charged"], shown["job_charged"]) == (D("4.37"), D("5.12"))  # the hold is final
    assert available(bank, "alpha") == D("994.88")
    # Wrong tokens, bad input and unknown jobs change nothing.
    assert error(reader.post("/api/v1/asbx/reconcile", json=body), 403)["code"] == "forbidden"
    bad = error(
        plugin.post("/api/v1/asbx/reconcile", json={"job_id": "701", "actual_cost": "-1"}), 422
    )
    assert bad["field"] == "actual_cost"
    unknown = error(
        plugin.post("/api/v1/asbx/reconcile", json={"job_id": "7777", "actual_cost": "1"}), 409
    )
    assert unknown["code"] == "hold_not_found_yet"
    assert available(bank, "alpha") == D("994.88")


def test_asbx_epilog_prices_by_the_local_model_or_imports_the_export(
    bank, plugin, live_daemon, settings
):
    hold = check(plugin, "alpha", "702", hours=2)  # 10.00 estimated
    start = 1_772_452_800  # 2026-03-02 12:00 UTC
    local = ok(
        plugin.post(
            "/api/v1/asbx/epilog",
            json={
                "job_id": "702",
                "account": "alpha",
                "job_state": "COMPLETED",
                "start_time": start,
                "end_time": start + 1800,
                "allocated_cpus": 100,
            },
        )
    )
    assert (local["data_import_status"], local["transaction_id"], local["charged"]) == (
        "local_model",
        hold,
        D("2.50"),  # 100 cpus x 0.5 h x 0.05
    )
    assert local["refunded"] == D("9.50")
    # Its epilog again: the same reconcile, nothing more.
    replay = ok(
        plugin.post(
            "/api/v1/asbx/epilog",
            json={
                "job_id": "702",
                "start_time": start,
                "end_time": start + 1800,
                "allocated_cpus": 100,
            },
        )
    )
    assert (replay["data_import_status"], replay["charged"]) == ("replayed", D("0.00"))

    # With aws-slurm-burst's export in the spool folder: the real cost, file moved on.
    check(plugin, "alpha", "703")
    spool = Path(settings.asbx.spool_dir)
    spool.mkdir()
    (spool / "job-703-asbb-reconciliation.json").write_text(
        json.dumps({"job_id": "703", "account": "alpha", "actual_cost": "3.30", "success": True})
    )
    imported = ok(plugin.post("/api/v1/asbx/epilog", json={"job_id": "703"}))
    assert (imported["data_import_status"], imported["charged"]) == ("imported", D("3.30"))
    assert (spool / "processed" / "job-703-asbb-reconciliation.json").exists()
    assert available(bank, "alpha") == 1000 - D("2.50") - D("3.30")
    outside = error(
        plugin.post("/api/v1/asbx/epilog", json={"job_id": "704", "asbx_data_path": "/etc/passwd"}),
        422,
    )
    assert outside["field"] == "asbx_data_path"
    untimed = error(plugin.post("/api/v1/asbx/epilog", json={"job_id": "799"}), 422)
    assert untimed["field"] == "start_time"


def test_asbx_epilog_reads_the_export_as_a_hostile_file(bank, plugin, settings, tmp_path):
    """Links, oversized or too deeply nested files, a NUL in the path, another job's export:
    each a 422 naming asbx_data_path (never a 500), nothing charged, no file moved."""
    hold = check(plugin, "alpha", "710")
    spool = Path(settings.asbx.spool_dir)
    spool.mkdir()
    before = available(bank, "alpha")
    good = {"job_id": "710", "account": "alpha", "actual_cost": "0.01", "success": True}
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text(json.dumps(good))
    name = "job-710-asbb-reconciliation.json"

    def refused(path: Path | str | None, status: int = 422) -> str:
        body = {"job_id": "710"} if path is None else {"job_id": "710", "asbx_data_path": str(path)}
        found = error(plugin.post("/api/v1/asbx/epilog", json=body), status)
        assert (found["code"], found["field"]) == ("validation_error", "asbx_data_path")
        return found["message"]

    # a link in the folder to a good file elsewhere: named, or found by the job's id
    link = spool / name
    link.symlink_to(elsewhere)
    assert "a symbolic link" in refused(link)
    assert "a symbolic link" in refused(None)
    assert link.is_symlink()  # not moved, and what it points to is not touched
    link.unlink()
    # a link to the folder itself, or to a folder outside
    (spool / "sub").symlink_to(tmp_path)
    assert "must be a file inside" in refused(spool / "sub" / "elsewhere.json")
    assert "must be a file inside" in refused(spool / ".." / "elsewhere.json")
    # larger than asbx.max_file_bytes: refused from its size, unread
    limit = settings.asbx.max_file_bytes
    big = spool / name
    big.write_text(json.dumps(good) + " " * limit)
    assert f"too large: {big.stat().st_size} bytes" in refused(big)
    assert "asbx.max_file_bytes" in refused(big)
    # nested past 64 levels (json.loads would recurse into a RecursionError)
    big.write_text("[" * 100_000 + "]" * 100_000)
    assert "nested 100000 levels deep" in refused(big)
    # a NUL in the path names no file
    assert "NUL" in refused(f"{spool}/job-710\x00-asbb-reconciliation.json")
    assert "NUL" in refused("\x00")
    # another job's export, named for this one
    big.write_text(json.dumps({**good, "job_id": "999"}))
    assert "export for job '999', not job 710" in refused(big)
    # not JSON at all
    big.write_text("{oops")
    assert "not JSON" in refused(big)
    assert available(bank, "alpha") == before
    assert bank.get_hold(hold).state == "open"
    assert not (spool / "processed").exists()
    # the same file, made good: imported
    big.write_text(json.dumps(good))
    imported = ok(plugin.post("/api/v1/asbx/epilog", json={"job_id": "710"}))
    assert (imported["data_import_status"], imported["charged"]) == ("imported", D("0.01"))
    assert (spool / "processed" / name).exists()


def test_asbx_status_counts_the_folder_and_the_reports(bank, plugin, reader, live_daemon, settings):
    spool = Path(settings.asbx.spool_dir)
    empty = ok(reader.get("/api/v1/asbx/status"))
    assert (
        empty["health_status"],
        empty["integration_enabled"],
        empty["total_jobs_reconciled"],
    ) == (
        "disabled",
        False,
        0,
    )
    check(plugin, "alpha", "705")
    spool.mkdir()
    old = time.time() - 120
    for job, body in [("705", {"job_id": "705", "actual_cost": "4"}), ("706", "{oops")]:
        path = spool / f"job-{job}-asbb-reconciliation.json"
        path.write_text(body if isinstance(body, str) else json.dumps(body))
        os.utime(path, (old, old))
    (spool / "job-707-asbb-reconciliation.json").write_text('{"job_id": "707", "actual_cost": 1}')
    from asbb_core.integrations.cost_reports import AsbxWatcher

    watcher = AsbxWatcher(spool, live_daemon.services.reports, interval=1, link_wait=3600)
    watcher.run_once()
    status = ok(plugin.get("/api/v1/asbx/status"))
    assert (status["files_processed"], status["files_rejected"], status["files_waiting"]) == (
        1,
        1,
        1,
    )
    assert (status["successful_reconciliations"], status["failed_reconciliations"]) == (1, 1)
    assert status["total_jobs_reconciled"] == 1
    assert status["reports_by_outcome"] == {"reconciled": 1, "rejected": 1}
    # estimate 5.00, actual 4.00: 1 - 1/5
    assert status["cost_model_accuracy"] == D("0.8000")
    assert str(status["cost_model_accuracy"]) == "0.8000"  # a ratio keeps its four places
    assert status["health_status"] == "disabled"  # interval 0 in the tests
    assert any("rejected" in p for p in status["problems"])
    assert status["last_data_import"] is not None


# ---------------------------------------------------------------- ASBA


def test_budget_status_follows_the_ledger(bank, plugin, reader, clock):
    first = ok(reader.post("/api/v1/asba/budget-status", json={"account": "alpha"}))
    assert (first["budget_limit"], first["budget_available"], first["grant_number"]) == (
        D("1000.00"),
        D("1000.00"),
        "NSF-1",
    )
    assert first["burn_rate"] == first["daily_burn_rate"] == D("0.00")
    assert first["health_score"] == first["budget_health_score"]
    assert first["grant_end_date"] == day("2027-12-31")
    assert (
        first["days_remaining"]
        == first["grant_days_remaining"]
        == (date(2027, 12, 31) - date(2026, 3, 2)).days
    )
    assert first["decision"] == first["recommended_decision"]
    assert first["can_afford_aws"] is first["can_afford_aws_burst"] is True

    # Spend 600 on the first day; the account's end date is 99 days away.
    hold = check(plugin, "alpha", "710", hours=100, cpus=100)  # 500 estimated, 600 held
    held = ok(reader.post("/api/v1/asba/budget-status", json={"account": "alpha"}))
    assert (held["budget_held"], held["budget_available"], held["budget_utilization"]) == (
        D("600.00"),
        D("400.00"),
        D("60.0"),
    )
    ok(
        plugin.post(
            "/api/v1/budget/reconcile",
            json={"job_id": "710", "transaction_id": hold, "actual_cost": "600"},
        )
    )
    clock.advance(timedelta(days=1))
    spent = ok(reader.post("/api/v1/asba/budget-status", json={"account": "alpha"}))
    # 600 over the two days since the account opened (a window never starts before that)
    assert (spent["budget_used"], spent["daily_burn_rate"]) == (D("600.00"), D("300.00"))
    assert spent["projected_depletion_date"] == day("2026-03-04")  # 400 left at 300/day
    assert spent["can_afford_aws"] is False
    assert spent["decision"] in ("PREFER_LOCAL", "EMERGENCY_ONLY")
    assert spent["health_score"] < first["health_score"]
    assert any("runs out" in r for r in spent["decision_reasoning"])
    # Its alerts come along once evaluated (60 % used crosses the 50 % threshold).
    assert spent["active_alerts"] == []
    AlertService(bank.db, bank.settings, clock).evaluate()
    alerted = ok(reader.post("/api/v1/asba/budget-status", json={"account": "alpha"}))
    assert "usage" in {a["kind"] for a in alerted["active_alerts"]}
    timeline = ok(
        reader.post(
            "/api/v1/asba/grant-timeline", json={"account": "alpha", "include_alerts": True}
        )
    )
    assert timeline["active_alerts"] == alerted["active_alerts"]


@pytest.mark.single_admin
def test_affordability_uses_the_budget_checks_rules(bank, plugin, admin, reader):
    small = ok(
        reader.post(
            "/api/v1/asba/affordability-check", json={"account": "beta", "estimated_cost": 2}
        )
    )
    assert (small["affordable"], small["budget_risk"], small["hold_amount"]) == (
        True,
        "LOW",
        D("2.40"),
    )
    assert small["budget_impact"]["cost_as_percent_of_remaining"] == D("4.0")
    big = ok(
        reader.post(
            "/api/v1/asba/affordability-check",
            json={"account": "beta", "estimated_aws_cost": "45", "estimated_local_time": 60},
        )
    )
    assert (big["affordable"], big["budget_risk"], big["recommended_decision"]) == (
        False,
        "CRITICAL",
        "LOCAL",
    )
    assert "54.00" in big["refusal"]  # 45 x 1.2 would be held; 50 is available
    ok(admin.post("/api/v1/accounts/beta/deposits", json={"amount": "500", "memo": "top-up"}), 201)
    after = ok(
        reader.post(
            "/api/v1/asba/affordability-check",
            json={"account": "beta", "estimated_aws_cost": "45", "estimated_local_time": 60},
        )
    )
    assert (after["affordable"], after["budget_available"]) == (True, D("550.00"))
    bad = error(
        reader.post(
            "/api/v1/asba/affordability-check", json={"account": "beta", "estimated_cost": "x"}
        ),
        422,
    )
    assert bad["field"] == "estimated_cost"  # named as the advisor sent it
    missing = error(
        reader.post(
            "/api/v1/asba/affordability-check", json={"account": "zeta", "estimated_cost": 1}
        ),
        404,
    )
    assert missing["field"] == "account"


def test_burst_decision_weighs_deadline_and_budget(bank, plugin, reader, clock):
    soon = (clock() + timedelta(hours=3)).isoformat()
    rushed = ok(
        reader.post(
            "/api/v1/asba/burst-decision",
            json={
                "account": "alpha",
                "estimated_aws_cost": "20",
                "estimated_local_time": 600,
                "job_deadline": soon,
            },
        )
    )
    assert (rushed["recommended_action"], rushed["deadline_risk"], rushed["affordable"]) == (
        "AWS",
        "HIGH",
        True,
    )
    assert rushed["confidence"] == D("0.9")  # expected rate known, deadline and local time given
    assert {f["factor"] for f in rushed["decision_factors"]} >= {"budget_share", "deadline"}
    relaxed = ok(
        reader.post(
            "/api/v1/asba/burst-decision",
            json={"account": "alpha", "estimated_cost": "900", "estimated_local_time": 60},
        )
    )
    assert (relaxed["recommended_action"], relaxed["budget_risk"]) == ("LOCAL", "CRITICAL")
    assert relaxed["budget_impact"] == D("90.0")


def test_grant_timeline_projects_from_the_ledger(bank, plugin, reader):
    first = ok(
        reader.post(
            "/api/v1/asba/grant-timeline", json={"account": "alpha", "look_ahead_days": 365}
        )
    )
    assert (first["grant_number"], first["total_periods"], first["current_period_number"]) == (
        "NSF-1",
        2,
        1,
    )
    assert first["period_end_date"] == day("2026-12-31")
    assert first["days_until_period_end"] == (date(2026, 12, 31) - date(2026, 3, 2)).days
    assert [p["state"] for p in first["periods"]] == ["current", "upcoming"]
    assert first["periods"][0]["remaining"] == D("2000.00")
    assert [d["type"] for d in first["upcoming_deadlines"]] == ["PERIOD_END"]
    hold = check(plugin, "alpha", "720", hours=10, cpus=100)  # 50 estimated
    ok(
        plugin.post(
            "/api/v1/budget/reconcile",
            json={"job_id": "720", "transaction_id": hold, "actual_cost": "40"},
        )
    )
    after = ok(reader.post("/api/v1/asba/grant-timeline", json={"grant_number": "NSF-1"}))
    # 40 direct at a 50 % indirect rate consumes 60 of the period
    assert after["periods"][0]["consumed"] == D("60.00")
    assert after["remaining_budget"] == D("1940.00")
    assert after["daily_burn_rate"] == D("2.00")  # 60 over 30 days
    assert after["budget_timeline"][0]["remaining_budget"] == D("1926.00")  # 7 days on
    own = ok(reader.post("/api/v1/asba/grant-timeline", json={"account": "beta"}))
    assert (own["grant_number"], own["periods"], own["remaining_budget"]) == (
        None,
        [],
        D("50.00"),
    )
    none = error(reader.post("/api/v1/asba/grant-timeline", json={}), 422)
    assert none["field"] == "account"


def test_a_reader_limited_to_accounts_sees_only_those(bank, live_daemon, db, clock):
    secret = (
        Tokens(db, clock=clock).create("beta-only", "reader", actor="t", accounts=["beta"]).secret
    )
    with httpx.Client(
        base_url=live_daemon.url, headers={"Authorization": f"Bearer {secret}"}, timeout=30
    ) as client:
        assert (
            ok(client.post("/api/v1/asba/budget-status", json={"account": "beta"}))["account"]
            == "beta"
        )
        assert error(client.post("/api/v1/asba/budget-status", json={"account": "alpha"}), 403)
        assert error(
            client.post("/api/v1/asba/grant-timeline", json={"grant_number": "NSF-1"}), 403
        )
        # Its own account does not open another grant's budgets.
        refused = error(
            client.post(
                "/api/v1/asba/grant-timeline", json={"account": "beta", "grant_number": "NSF-1"}
            ),
            403,
        )
        assert "NSF-1" in refused["message"]
        own = ok(client.post("/api/v1/asba/grant-timeline", json={"account": "beta"}))
        assert own["periods"] == []


# ---------------------------------------------------------------- integration


def test_cost_update_feedback_and_budget_context(bank, plugin, reader):
    hold = check(plugin, "alpha", "730", hours=2)  # 10.00 estimated, 12.00 held
    ok(
        plugin.post(
            "/api/v1/budget/reconcile",
            json={"job_id": "730", "transaction_id": hold, "actual_cost": "9"},
        )
    )
    context = ok(reader.get("/api/v1/integration/budget-context/730"))
    assert context["hold"]["id"] == hold
    assert (context["estimate"], context["actual"], context["variance"]) == (
        D("10.00"),
        D("9.00"),
        D("-1.00"),
    )
    assert context["account"]["name"] == "alpha"
    assert context["remaining_budget"] == available(bank, "alpha") == D("991.00")
    assert context["grant"]["number"] == "NSF-1"
    assert context["grant"]["period_remaining"] == D("1986.50")  # 2000 - 9 x 1.5
    assert [e["type"] for e in context["journal"]] == ["hold", "charge", "release"]

    update = ok(
        plugin.post(
            "/api/v1/integration/cost-update",
            json={"job_id": "730", "new_cost": "7.50", "reason": "spot interruption credit"},
        )
    )
    assert (update["outcome"], update["refund_amount"]) == ("corrected", D("1.50"))
    feedback = ok(
        plugin.post(
            "/api/v1/integration/performance-feedback",
            json={
                "job_id": "730",
                "account": "alpha",
                "cpu_efficiency": 0.42,
                "memory_efficiency": "0.9",
                "performance_profile": "memory_bound",
                "optimization_opportunities": ["fewer cpus"],
            },
        ),
        201,
    )
    assert (feedback["cpu_efficiency"], feedback["details"]) == (
        D("0.4200"),
        {"optimization_opportunities": ["fewer cpus"]},
    )
    assert str(feedback["cpu_efficiency"]) == "0.4200"
    after = ok(reader.get("/api/v1/integration/budget-context/730"))
    assert (after["actual"], after["remaining_budget"]) == (D("7.50"), D("992.50"))
    assert [r["outcome"] for r in after["cost_reports"]] == ["corrected"]
    assert after["performance_feedback"][0]["profile"] == "memory_bound"
    assert error(reader.get("/api/v1/integration/budget-context/4040"), 404)["field"] == "job_id"
    assert error(
        reader.post("/api/v1/integration/cost-update", json={"job_id": "730", "actual_cost": 1}),
        403,
    )
    bad = error(
        plugin.post(
            "/api/v1/integration/performance-feedback", json={"job_id": "730", "cpu_efficiency": -1}
        ),
        422,
    )
    assert bad["field"] == "cpu_efficiency"


def test_a_schema_behind_the_code_is_503_on_both_backends(bank, reader, db):
    """A table the code needs is missing (the database was not migrated): a clear 503 that
    says what to run, on PostgreSQL as on SQLite -- not a 500."""
    from sqlalchemy import text

    with db.engine.begin() as conn:
        conn.execute(text("DROP TABLE cost_reports"))
    reply = reader.get("/api/v1/asbx/status")
    assert reply.status_code == 503, reply.text
    assert reply.json()["error"]["message"] == (
        "the database schema is not current; run 'asbb database migrate'"
    )
