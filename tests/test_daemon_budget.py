"""The hot path over real HTTP: budget check and reconcile, as slurmctld's plugin calls them."""

from __future__ import annotations

from decimal import Decimal

import pytest

from asbb_core.ledger.verify import verify_ledger
from tests.conftest import serve_in_thread
from tests.wire import D


@pytest.fixture
def plugin(live_daemon, ledger, ctx):
    ledger.create_account("ml-proj", ctx=ctx, limit="1000")
    with live_daemon.client("plugin") as client:
        yield client
    report = verify_ledger(ledger.db)
    assert report.ok, [str(p) for p in report.problems]


def check(client, **fields):
    body = {"account": "ml-proj", "partition": "aws-cpu", "cpus": 16, "wall_time": "02:00:00"}
    body.update(fields)
    return client.post("/api/v1/budget/check", json=body)


def test_check_prices_the_job_and_holds_it(plugin, ledger):
    reply = check(plugin, user_id="alice", job_metadata={"grant_number": "NSF-1"})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    # 16 CPUs x $0.05 x 2 h = $1.60; held x 1.2 = $1.92
    assert body["available"] is True
    assert (body["estimated_cost"], body["hold_amount"], body["budget_remaining"]) == (
        D("1.60"),
        D("1.92"),
        D("998.08"),
    )
    assert body["details"]["breakdown"] == {"cpu": D("1.60")}
    # Numbers the plugin's JSON reader takes, written to the cent (never 1.9199999).
    assert '"hold_amount":1.92,' in reply.text
    hold = ledger.get_hold(body["transaction_id"])
    assert (hold.state, hold.amount, hold.user_name, hold.partition) == (
        "open",
        Decimal("1.92"),
        "alice",
        "aws-cpu",
    )
    assert hold.job_metadata["grant_number"] == "NSF-1"
    assert reply.headers["x-request-id"]


@pytest.mark.parametrize(
    ("cost", "charge", "refund", "overrun"),
    [
        ("1.00", "1.00", "0.92", "0.00"),
        ("1.92", "1.92", "0.00", "0.00"),
        (2.5, "2.50", "0.00", "0.58"),
    ],
    ids=["under", "exact", "over"],
)
def test_reconcile_charges_and_refunds(plugin, ledger, cost, charge, refund, overrun):
    hold_id = check(plugin).json()["transaction_id"]
    reply = plugin.post(
        "/api/v1/budget/reconcile",
        json={"job_id": "101", "transaction_id": hold_id, "actual_cost": cost},
    )
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["success"] is True
    assert (body["original_hold"], body["actual_charge"], body["refund_amount"]) == (
        D("1.92"),
        D(charge),
        D(refund),
    )
    assert [str(body[k]) for k in ("actual_charge", "refund_amount")] == [charge, refund]
    assert (body["overrun"], body["state"], body["cost_source"]) == (
        D(overrun),
        "posted",
        "reported",
    )
    account = ledger.get_account("ml-proj")
    assert (account.used_amount, account.held_amount) == (Decimal(charge), 0)


def test_reconcile_prices_the_real_elapsed_time(plugin, ledger):
    hold_id = check(plugin).json()["transaction_id"]
    reply = plugin.post(
        "/api/v1/budget/reconcile",
        json={
            "job_id": "102",
            "transaction_id": hold_id,
            "elapsed": "01:00:00",
            "state": "COMPLETED",
        },
    )
    body = reply.json()
    assert (body["actual_charge"], body["refund_amount"], body["cost_source"]) == (
        D("0.80"),
        D("1.12"),
        "local_model",
    )
    (charge,) = [e for e in ledger.journal(hold_id=hold_id) if e.kind == "charge"]
    assert (charge.job_id, charge.job_metadata["state"]) == ("102", "COMPLETED")


def test_replayed_check_and_reconcile_move_money_once(plugin, ledger):
    first = check(plugin, idempotency_key="submit-77").json()
    again = check(plugin, idempotency_key="submit-77").json()
    assert again["transaction_id"] == first["transaction_id"]
    assert again["details"]["replayed"] is True
    by_header = plugin.post(
        "/api/v1/budget/check",
        json={"account": "ml-proj", "partition": "aws-cpu", "cpus": 16, "wall_time": "02:00:00"},
        headers={"Idempotency-Key": "submit-77"},
    ).json()
    assert by_header["transaction_id"] == first["transaction_id"]
    assert ledger.get_account("ml-proj").held_amount == Decimal("1.92")

    request = {"job_id": "77", "transaction_id": first["transaction_id"], "actual_cost": "1.50"}
    done = plugin.post("/api/v1/budget/reconcile", json=request).json()
    replay = plugin.post("/api/v1/budget/reconcile", json=request).json()
    assert (done["replayed"], replay["replayed"]) == (False, True)
    assert replay["actual_charge"] == done["actual_charge"] == D("1.50")
    account = ledger.get_account("ml-proj")
    assert (account.used_amount, account.held_amount) == (Decimal("1.50"), 0)


def test_job_array_one_hold_many_reconciles(plugin, ledger):
    reply = check(plugin, cpus=1, wall_time="1:00:00", array_size=10).json()
    # 1 CPU x $0.05 x 1 h = $0.05 a task; 10 tasks $0.50; held $0.60
    assert (reply["estimated_cost"], reply["hold_amount"]) == (D("0.50"), D("0.60"))
    hold_id = reply["transaction_id"]
    results = [
        plugin.post(
            "/api/v1/budget/reconcile",
            json={"job_id": f"300_{task}", "transaction_id": hold_id, "actual_cost": "0.04"},
        ).json()
        for task in range(10)
    ]
    assert [r["state"] for r in results] == ["open"] * 9 + ["posted"]
    assert results[-1]["tasks_reconciled"] == 10
    assert results[-1]["refund_amount"] == D("0.20")
    hold = ledger.get_hold(hold_id)
    assert (hold.state, hold.charged, hold.remaining) == ("posted", Decimal("0.40"), 0)
    assert ledger.get_account("ml-proj").used_amount == Decimal("0.40")


def test_insufficient_budget_is_refused_with_the_amount_available(plugin, ledger, ctx):
    ledger.create_account("tiny", ctx=ctx, limit="1")
    reply = check(plugin, account="tiny")
    assert reply.status_code == 200
    body = reply.json()
    assert body["available"] is False
    assert body["transaction_id"] is None
    assert body["budget_remaining"] == D("1.00")
    assert (body["details"]["reason"], body["details"]["limit"]) == (
        "insufficient_funds",
        "account",
    )
    assert body["message"] == (
        "account tiny has $1.00 available; this job needs an estimated $1.92 hold on aws-cpu"
    )
    assert ledger.get_account("tiny").held_amount == 0


def test_unknown_account_is_404_naming_the_field(plugin):
    reply = check(plugin, account="ghost")
    assert reply.status_code == 404
    error = reply.json()["error"]
    assert (error["code"], error["field"]) == ("not_found", "account")
    assert "ghost" in error["message"]


def test_unbudgeted_partition_answers_without_a_hold(plugin, ledger):
    reply = check(plugin, partition="local", account="not-even-an-account")
    body = reply.json()
    assert (body["available"], body["transaction_id"], body["hold_amount"]) == (
        True,
        None,
        D("0.00"),
    )
    assert body["message"] == "partition local is not budgeted"
    assert ledger.get_account("ml-proj").held_amount == 0


def test_default_partition_is_used_when_none_is_given(plugin):
    body = check(plugin, partition=None).json()
    assert body["details"]["partition"] == "aws-cpu"
    assert body["hold_amount"] == D("1.92")


@pytest.mark.parametrize(
    ("wall_time", "hold"),
    [
        ("90", "1.44"),
        (90, "1.44"),
        ("1:30:00", "1.44"),
        ("0-01:30", "1.44"),
        ("1-00:00:00", "23.04"),
    ],
)
def test_every_slurm_time_form(plugin, wall_time, hold):
    assert check(plugin, wall_time=wall_time).json()["hold_amount"] == D(hold)


def test_roles_and_tokens(live_daemon, ledger, ctx):
    ledger.create_account("ml-proj", ctx=ctx, limit="10")
    body = {"account": "ml-proj", "partition": "aws-cpu", "wall_time": 60}
    with live_daemon.client(None) as anonymous:
        reply = anonymous.post("/api/v1/budget/check", json=body)
        assert reply.status_code == 401
        assert reply.headers["www-authenticate"] == "Bearer"
        assert reply.json()["error"]["code"] == "unauthorized"
        forged = anonymous.post(
            "/api/v1/budget/check", json=body, headers={"Authorization": "Bearer asbb_nope"}
        )
        assert forged.status_code == 401
    with live_daemon.client("reader") as reader:
        reply = reader.post("/api/v1/budget/check", json=body)
        assert reply.status_code == 403
        assert reply.json()["error"]["code"] == "forbidden"
    with live_daemon.client("admin") as admin:
        assert admin.post("/api/v1/budget/check", json=body).json()["available"] is True
    live_daemon.services.tokens.tokens.revoke("test-plugin", actor="tests")
    with live_daemon.client("plugin") as revoked:
        assert revoked.post("/api/v1/budget/check", json=body).status_code == 401


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"account": "ml-proj", "wall_time": "abc"}, 422, "wall_time"),
        ({"account": "ml-proj", "wall_time": "UNLIMITED"}, 422, "wall_time"),
        ({"account": "ml-proj", "wall_time": 60, "cpus": -1}, 422, "cpus"),
        ({"account": "ml-proj", "wall_time": 60, "memory": "lots"}, 422, "memory"),
        ({"wall_time": 60}, 422, "account"),
        ({"account": "bad name!", "wall_time": 60}, 422, "account"),
    ],
)
def test_bad_check_input_names_the_field(plugin, ledger, body, status, field):
    reply = plugin.post("/api/v1/budget/check", json=body)
    assert reply.status_code == status, reply.text
    payload = reply.json()
    assert payload["error"]["field"] == field
    assert payload["request_id"] == reply.headers["x-request-id"]
    assert ledger.get_account("ml-proj").held_amount == 0


def test_bad_reconcile_input(plugin, ledger):
    hold_id = check(plugin).json()["transaction_id"]
    cases = [
        ({"job_id": "1", "transaction_id": hold_id}, 422, "actual_cost"),
        ({"job_id": "1", "transaction_id": hold_id, "actual_cost": "-1"}, 422, "actual_cost"),
        ({"job_id": "1", "transaction_id": hold_id, "actual_cost": "1x"}, 422, "actual_cost"),
        ({"job_id": "1", "transaction_id": "hnope", "actual_cost": "1"}, 404, "hold_id"),
        (
            {"job_id": "1", "transaction_id": hold_id, "job_metadata": "[1]", "actual_cost": 1},
            422,
            "job_metadata",
        ),
    ]
    for body, status, field in cases:
        reply = plugin.post("/api/v1/budget/reconcile", json=body)
        assert (reply.status_code, reply.json()["error"]["field"]) == (status, field), body
    assert (
        plugin.post(
            "/api/v1/budget/reconcile",
            content=b"{not json",
            headers={"content-type": "application/json"},
        ).status_code
        == 400
    )
    assert ledger.get_hold(hold_id).state == "open"


def test_localhost_plugin_without_token_only_when_allowed(db, settings, clock, ledger, ctx):
    from daemon.app import create_app

    ledger.create_account("ml-proj", ctx=ctx, limit="10")
    body = {"account": "ml-proj", "partition": "aws-cpu", "wall_time": 60}
    allowed = settings.model_copy(
        update={"daemon": settings.daemon.model_copy(update={"allow_local_plugin": True})}
    )
    url, stop = serve_in_thread(create_app(allowed, db=db, clock=clock))
    try:
        import httpx

        reply = httpx.post(f"{url}/api/v1/budget/check", json=body)
        assert reply.json()["available"] is True
        hold = ledger.get_hold(reply.json()["transaction_id"])
        assert (hold.actor, hold.source) == ("plugin@localhost", "plugin")
        # ...and only as the plugin: it may not read accounts
        assert httpx.get(f"{url}/api/v1/accounts").status_code == 403
    finally:
        stop()
