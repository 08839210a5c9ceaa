"""Adjustment requests over real HTTP: one admin asks, another approves."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from asbb_core.ledger.verify import verify_ledger
from asbb_core.values.context import Context, Source
from tests.wire import D, rows_and_total


@pytest.fixture
def accounts(live_daemon, ledger, ctx):
    ledger.create_account("ml-proj", ctx=ctx, limit="1000")
    ledger.create_account("physics", ctx=ctx, limit="200")
    yield ledger
    report = verify_ledger(ledger.db)
    assert report.ok, [str(p) for p in report.problems]


def client_for(live_daemon, name: str, role: str, **kwargs) -> httpx.Client:
    """A client with a freshly issued token."""
    secret = live_daemon.services.tokens.tokens.create(name, role, actor="tests", **kwargs).secret
    return httpx.Client(
        base_url=live_daemon.url, headers={"Authorization": f"Bearer {secret}"}, timeout=30
    )


@pytest.fixture
def maker(live_daemon, accounts):
    with live_daemon.client("admin") as client:
        yield client


@pytest.fixture
def checker(live_daemon, accounts):
    with client_for(live_daemon, "second-admin", "admin") as client:
        yield client


def ask(client, **fields):
    body = {"kind": "credit", "account": "ml-proj", "amount": "250", "reason": "NSF top-up"}
    body.update(fields)
    return client.post("/api/v1/adjustments", json=body)


def assert_envelope(reply, status, code, field=None):
    assert reply.status_code == status, reply.text
    error = reply.json()["error"]
    assert error["code"] == code, error
    if field is not None:
        assert error["field"] == field, error
    return error


def test_request_as_one_admin_and_approve_as_another(maker, checker, accounts):
    reply = ask(maker)
    assert reply.status_code == 201, reply.text
    req = reply.json()
    assert (req["status"], req["requested_by"], req["amount"], req["kind"]) == (
        "pending",
        "test-admin",
        D("250.00"),
        "credit",
    )
    assert accounts.get_account("ml-proj").limit_amount == Decimal(1000)

    reply = checker.post(f"/api/v1/adjustments/{req['id']}/approve", json={"reason": "ok"})

    assert reply.status_code == 200, reply.text
    done = reply.json()
    assert (done["status"], done["decided_by"], done["decision_reason"]) == (
        "approved",
        "second-admin",
        "ok",
    )
    assert done["correlation_id"] == f"adjustment-{req['id']}"
    assert (done["result"]["amount"], done["result"]["limit"]) == (D("250.00"), D("1250.00"))
    assert '"limit":1250.00,' in reply.text  # a number, written to the cent
    assert accounts.get_account("ml-proj").limit_amount == Decimal(1250)
    (row,) = accounts.journal(account="ml-proj", limit=1)
    assert (row.actor, row.source, row.correlation_id) == (
        "second-admin",
        "api",
        done["correlation_id"],
    )
    assert "requested by test-admin" in row.memo
    assert "approved by second-admin" in row.memo
    assert "NSF top-up" in row.memo
    assert maker.get(f"/api/v1/adjustments/{req['id']}").json()["status"] == "approved"


def test_self_approval_is_403_and_moves_nothing(maker, accounts):
    req = ask(maker).json()
    reply = maker.post(f"/api/v1/adjustments/{req['id']}/approve", json={})
    error = assert_envelope(reply, 403, "self_approval", "approver")
    assert "another administrator" in error["message"]
    assert accounts.get_account("ml-proj").limit_amount == Decimal(1000)
    assert maker.get(f"/api/v1/adjustments/{req['id']}").json()["status"] == "pending"


def test_readers_and_plugins_cannot_decide(live_daemon, maker, accounts):
    req = ask(maker).json()
    for role in ("reader", "plugin"):
        with live_daemon.client(role) as other:
            for action, body in (("approve", {}), ("reject", {"reason": "no"}), ("cancel", {})):
                reply = other.post(f"/api/v1/adjustments/{req['id']}/{action}", json=body)
                assert_envelope(reply, 403, "forbidden")
            assert_envelope(ask(other), 403, "forbidden")
    with live_daemon.client("reader") as reader:
        assert reader.get(f"/api/v1/adjustments/{req['id']}").json()["status"] == "pending"
        assert rows_and_total(reader.get("/api/v1/adjustments"))[1] == 1
    with live_daemon.client(None) as anonymous:
        assert_envelope(anonymous.get("/api/v1/adjustments"), 401, "unauthorized")
    assert accounts.get_account("ml-proj").limit_amount == Decimal(1000)


def test_a_scoped_reader_sees_only_its_accounts(live_daemon, maker):
    mine = ask(maker, account="physics").json()
    theirs = ask(maker).json()
    moved = ask(maker, kind="transfer", amount="5", target_account="physics").json()
    with client_for(live_daemon, "physics-pi", "reader", accounts=["physics"]) as reader:
        rows, total = rows_and_total(reader.get("/api/v1/adjustments"))
        assert [r["id"] for r in rows] == [moved["id"], mine["id"]]
        assert total == 2
        assert reader.get(f"/api/v1/adjustments/{mine['id']}").status_code == 200
        assert reader.get(f"/api/v1/adjustments/{moved['id']}").status_code == 200
        assert_envelope(reader.get(f"/api/v1/adjustments/{theirs['id']}"), 403, "forbidden")
        reply = reader.get("/api/v1/adjustments", params={"account": "ml-proj"})
        assert_envelope(reply, 403, "forbidden", "account")


def test_confirmation_above_the_threshold(maker, checker, accounts):
    req = ask(maker, amount="5000").json()
    assert req["needs_confirmation"] is True
    url = f"/api/v1/adjustments/{req['id']}/approve"
    for body in ({}, {"confirm": "physics"}):
        assert_envelope(checker.post(url, json=body), 422, "validation_error", "confirm")
    assert accounts.get_account("ml-proj").limit_amount == Decimal(1000)
    reply = checker.post(url, json={"confirm": "ml-proj"})
    assert reply.status_code == 200, reply.text
    assert accounts.get_account("ml-proj").limit_amount == Decimal(6000)


def test_a_refused_debit_stays_pending(maker, checker, accounts):
    plugin = Context(actor="slurmctld", source=Source.PLUGIN)
    accounts.create_hold("ml-proj", "100", ctx=plugin, buffer=1)
    req = ask(maker, kind="debit", amount="950").json()
    reply = checker.post(f"/api/v1/adjustments/{req['id']}/approve", json={})
    error = assert_envelope(reply, 409, "insufficient_funds", "amount")
    assert error["details"]["available"] == D("900.00")  # an exact number, as every figure
    assert checker.get(f"/api/v1/adjustments/{req['id']}").json()["status"] == "pending"
    assert accounts.get_account("ml-proj").limit_amount == Decimal(1000)


def test_reject_cancel_and_decide_once(maker, checker, accounts):
    first = ask(maker).json()
    url = f"/api/v1/adjustments/{first['id']}"
    assert_envelope(checker.post(f"{url}/reject", json={}), 422, "validation_error", "reason")
    assert_envelope(checker.post(f"{url}/reject", json={"reason": ""}), 422, "validation_error")
    assert_envelope(maker.post(f"{url}/reject", json={"reason": "mine"}), 403, "self_approval")
    reply = checker.post(f"{url}/reject", json={"reason": "no award letter"})
    assert reply.status_code == 200, reply.text
    assert (reply.json()["status"], reply.json()["decision_reason"]) == (
        "rejected",
        "no award letter",
    )
    assert_envelope(checker.post(f"{url}/approve", json={}), 409, "conflict", "id")

    second = ask(maker).json()
    url = f"/api/v1/adjustments/{second['id']}"
    assert_envelope(checker.post(f"{url}/cancel"), 403, "not_requester", "by")
    reply = maker.post(f"{url}/cancel")
    assert reply.status_code == 200, reply.text
    assert reply.json()["status"] == "cancelled"

    third = ask(maker).json()
    url = f"/api/v1/adjustments/{third['id']}/approve"
    assert checker.post(url, json={}).status_code == 200
    assert_envelope(checker.post(url, json={}), 409, "conflict")
    assert accounts.get_account("ml-proj").limit_amount == Decimal(1250)


def test_list_filters_and_pages(maker, checker):
    ids = [ask(maker, amount=str(n)).json()["id"] for n in (1, 2, 3)]
    ask(maker, account="physics")
    checker.post(f"/api/v1/adjustments/{ids[0]}/approve", json={})

    first = maker.get("/api/v1/adjustments", params={"account": "ml-proj", "limit": 2})
    rows, total = rows_and_total(first)
    assert ([r["id"] for r in rows], total) == ([ids[2], ids[1]], 3)
    assert set(first.links) == {"first", "next", "last"}
    assert "offset=2" in first.links["next"]["url"]
    assert "account=ml-proj" in first.links["next"]["url"]
    second = maker.get(
        "/api/v1/adjustments", params={"account": "ml-proj", "limit": 2, "offset": 2}
    )
    rows, total = rows_and_total(second)
    assert ([r["id"] for r in rows], total) == ([ids[0]], 3)
    assert set(second.links) == {"first", "prev", "last"}
    rows, total = rows_and_total(maker.get("/api/v1/adjustments", params={"status": "approved"}))
    assert ([r["id"] for r in rows], total) == ([ids[0]], 1)
    assert_envelope(
        maker.get("/api/v1/adjustments", params={"status": "done"}),
        422,
        "validation_error",
        "status",
    )
    assert_envelope(
        maker.get("/api/v1/adjustments", params={"limit": 0}), 422, "validation_error", "limit"
    )
    assert_envelope(
        maker.get("/api/v1/adjustments", params={"account": "Bad Name"}),
        422,
        "validation_error",
        "account",
    )


@pytest.mark.parametrize(
    ("fields", "status", "code", "field"),
    [
        ({"kind": "bonus"}, 422, "validation_error", "kind"),
        ({"reason": ""}, 422, "validation_error", "reason"),
        ({"amount": "12.345"}, 422, "validation_error", "amount"),
        ({"amount": "ten"}, 422, "validation_error", "amount"),
        ({"amount": "-5"}, 422, "validation_error", "amount"),
        ({"amount": None}, 422, "validation_error", "amount"),
        ({"amount": "1e30"}, 422, "validation_error", "amount"),
        ({"account": "Not Valid"}, 422, "validation_error", "account"),
        ({"account": "nobody"}, 404, "not_found", "account"),
        ({"kind": "transfer"}, 422, "validation_error", "target_account"),
        ({"kind": "transfer", "target_account": "nobody"}, 404, "not_found", "target_account"),
        ({"kind": "hold_release", "amount": None}, 422, "validation_error", "hold_id"),
        ({"kind": "hold_release", "amount": None, "hold_id": "hx"}, 404, "not_found", "hold_id"),
        ({"partition": "gpu-aws"}, 422, "validation_error", "partition"),
        ({"surprise": 1}, 422, "validation_error", "surprise"),
    ],
)
def test_bad_requests_are_envelopes_naming_the_field(maker, fields, status, code, field):
    assert_envelope(ask(maker, **fields), status, code, field)
    assert rows_and_total(maker.get("/api/v1/adjustments")) == ([], 0)


def test_unknown_or_malformed_ids_are_never_a_500(maker):
    assert_envelope(maker.get("/api/v1/adjustments/999"), 404, "not_found", "id")
    assert_envelope(maker.post("/api/v1/adjustments/999/approve", json={}), 404, "not_found")
    for bad in ("abc", "0", "-1", str(2**64)):
        assert_envelope(maker.get(f"/api/v1/adjustments/{bad}"), 422, "validation_error")
    reply = maker.post(
        "/api/v1/adjustments/1/approve",
        content=b"{nope",
        headers={"content-type": "application/json"},
    )
    assert_envelope(reply, 400, "bad_request")


def test_every_kind_over_http(maker, checker, accounts):
    plugin = Context(actor="slurmctld", source=Source.PLUGIN)
    hold = accounts.create_hold("ml-proj", "40", ctx=plugin, buffer=1)
    spent = accounts.create_hold("ml-proj", "30", ctx=plugin, buffer=1)
    accounts.post_hold(spent.hold_id, "30", ctx=plugin)
    bodies = [
        {"kind": "credit", "amount": "100"},
        {"kind": "debit", "amount": "50"},
        {"kind": "transfer", "amount": "20", "target_account": "physics"},
        {"kind": "refund", "amount": "10"},
        {"kind": "hold_release", "amount": None, "hold_id": hold.hold_id},
        {"kind": "limit", "amount": "900"},
    ]
    for body in bodies:
        req = ask(maker, **body)
        assert req.status_code == 201, req.text
        reply = checker.post(f"/api/v1/adjustments/{req.json()['id']}/approve", json={})
        assert reply.status_code == 200, (body, reply.text)
    account = accounts.get_account("ml-proj")
    assert (account.limit_amount, account.used_amount, account.held_amount) == (
        Decimal(900),
        Decimal(20),
        Decimal(0),
    )
    assert accounts.get_account("physics").limit_amount == Decimal(220)
