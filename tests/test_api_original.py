"""The original tool's route names over real HTTP, on both backends: each alias answers as
the asbb route it stands for, with the same roles, reader scope, approval rule and errors.
Every write is checked in the database too."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import httpx
import pytest
from sqlmodel import select

from asbb_core.ledger.verify import verify_ledger
from asbb_core.store.models import AccountStatus, AdjustmentRequest

NUMBER = "NSF-2312345"
GRANT = {
    "number": NUMBER,
    "total_award": "300000",
    "start_date": "2025-01-01",
    "end_date": "2027-12-31",
    "indirect_rate": "0.30",
    "agency": "NSF",
    "pi": "Ada Lovelace",
}


@pytest.fixture
def admin(live_daemon, ledger, clock):
    clock.now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    with live_daemon.client("admin") as client:
        yield client
    report = verify_ledger(ledger.db)
    assert report.ok, [str(p) for p in report.problems]


def scoped_reader(live_daemon, accounts: list[str]) -> httpx.Client:
    secret = live_daemon.services.tokens.tokens.create(
        "scoped", "reader", actor="tests", accounts=accounts
    ).secret
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


def requests_of(db) -> list[AdjustmentRequest]:
    return db.read(lambda s: list(s.exec(select(AdjustmentRequest))))


# ---------------------------------------------------------------- PUT /accounts/{a}


@pytest.mark.single_admin
def test_put_account_takes_the_original_fields_and_changes_the_database(admin, ledger, ctx):
    ledger.create_account("physics", ctx=ctx, limit="100")
    reply = admin.put(
        "/api/v1/accounts/physics",
        json={
            "description": "Physics dept",
            "budget_limit": 250.5,
            "start_date": "2026-01-01T00:00:00Z",
            "end_date": "2026-12-31",
            "status": "suspended",
        },
    )
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert (body["limit"], body["status"], body["start_date"]) == (
        "250.50",
        "suspended",
        "2026-01-01",
    )
    stored = ledger.get_account("physics")
    assert stored.limit_amount == Decimal("250.50")
    assert stored.description == "Physics dept"
    assert (stored.start_date, stored.end_date) == (date(2026, 1, 1), date(2026, 12, 31))
    assert stored.status == AccountStatus.SUSPENDED
    adjustment = ledger.journal(account="physics", limit=1)[0]
    assert adjustment.memo == "limit set through PUT /api/v1/accounts"

    # asbb's own names work too, with the same rules as PATCH (a limit needs a reason)
    assert_envelope(
        admin.put("/api/v1/accounts/physics", json={"limit": "300"}),
        422,
        "validation_error",
        "reason",
    )
    assert ledger.get_account("physics").limit_amount == Decimal("250.50")
    ours = admin.put("/api/v1/accounts/physics", json={"limit": "300", "reason": "renewal"})
    assert ours.status_code == 200, ours.text
    assert ledger.get_account("physics").limit_amount == Decimal("300")


def test_put_account_limit_is_a_request_when_approval_is_required(admin, ledger, ctx, db):
    ledger.create_account("physics", ctx=ctx, limit="100")
    reply = admin.put(
        "/api/v1/accounts/physics", json={"budget_limit": "900", "description": "now"}
    )
    assert reply.status_code == 200, reply.text
    assert reply.json()["limit"] == "100.00"
    asked = int(reply.headers["Asbb-Adjustment-Request"])
    [request] = requests_of(db)
    assert (request.id, str(request.kind), request.amount) == (asked, "limit", Decimal("900"))
    stored = ledger.get_account("physics")
    assert (stored.limit_amount, stored.description) == (Decimal("100"), "now")


def test_put_account_refuses_what_does_not_map(admin, ledger, ctx):
    ledger.create_account("physics", ctx=ctx, limit="100", description="kept")
    for body, field in [
        ({"name": "Physics"}, "name"),
        ({"limit": "5", "budget_limit": "5", "reason": "x"}, "budget_limit"),
        ({"status": "inactive"}, "status"),
        ({"start_date": "2026-01-01T10:00:00Z!"}, "start_date"),
        ({"colour": "red"}, "colour"),
    ]:
        error = assert_envelope(
            admin.put("/api/v1/accounts/physics", json={**body, "description": "x"}),
            422,
            "validation_error",
        )
        assert field in (error["field"] or "") + error["message"], error
    stored = ledger.get_account("physics")
    assert (stored.description, stored.limit_amount) == ("kept", Decimal("100"))
    assert_envelope(admin.put("/api/v1/accounts/nope", json={"description": "x"}), 404, "not_found")


def test_put_and_delete_need_an_admin(live_daemon, admin, ledger, ctx):
    ledger.create_account("physics", ctx=ctx)
    for role in ("reader", "plugin"):
        with live_daemon.client(role) as client:
            assert (
                client.put("/api/v1/accounts/physics", json={"description": "x"}).status_code == 403
            )
            assert client.delete("/api/v1/accounts/physics").status_code == 403
    with live_daemon.client(None) as anonymous:
        assert anonymous.delete("/api/v1/accounts/physics").status_code == 401
    stored = ledger.get_account("physics")
    assert (stored.description, stored.status) == ("", AccountStatus.ACTIVE)


# ---------------------------------------------------------------- DELETE /accounts/{a}


def test_delete_closes_an_unused_account_and_keeps_the_row(admin, ledger, ctx):
    ledger.create_account("idle", ctx=ctx, limit="100")
    reply = admin.delete("/api/v1/accounts/idle")
    assert reply.status_code == 200, reply.text
    assert reply.json()["status"] == "closed"
    assert ledger.get_account("idle").status == AccountStatus.CLOSED
    assert "idle" in [a.name for a in ledger.list_accounts()]
    again = admin.delete("/api/v1/accounts/idle")  # deleting again changes nothing
    assert (again.status_code, again.json()["status"]) == (200, "closed")
    assert_envelope(admin.delete("/api/v1/accounts/nope"), 404, "not_found")


def test_delete_refuses_an_account_that_used_or_holds_money(admin, ledger, ctx):
    ledger.create_account("spent", ctx=ctx, limit="100")
    hold = ledger.create_hold("spent", "10", ctx=ctx, partition="aws-cpu", buffer="1")
    ledger.post_hold(hold.hold_id, "10", ctx=ctx)
    ledger.create_account("busy", ctx=ctx, limit="100")
    ledger.create_hold("busy", "20", ctx=ctx, partition="aws-cpu", buffer="1")

    spent = assert_envelope(admin.delete("/api/v1/accounts/spent"), 409, "conflict", "account")
    assert "cannot be deleted" in spent["message"]
    assert "$10.00 used" in spent["message"]
    assert spent["details"]["used"] == "10.00"
    busy = assert_envelope(admin.delete("/api/v1/accounts/busy"), 409, "conflict", "account")
    assert "$20.00 held" in busy["message"]
    assert "1 open hold(s)" in busy["message"]
    assert busy["details"]["open_holds"] == 1
    for name in ("spent", "busy"):
        assert ledger.get_account(name).status == AccountStatus.ACTIVE


# ---------------------------------------------------------------- grants


def test_grant_periods_and_put_grant(admin, live_daemon, ledger, ctx):
    assert admin.post("/api/v1/grants", json=GRANT).status_code == 201
    periods = admin.get(f"/api/v1/grants/{NUMBER}/periods")
    assert periods.status_code == 200, periods.text
    assert periods.json() == admin.get(f"/api/v1/grants/{NUMBER}").json()["periods"]
    assert [p["number"] for p in periods.json()] == [1, 2, 3]

    reply = admin.put(
        f"/api/v1/grants/{NUMBER}",
        json={"funding_agency": "DOE", "principal_investigator": "Grace", "title": "New"},
    )
    assert reply.status_code == 200, reply.text
    assert (reply.json()["agency"], reply.json()["pi"], reply.json()["title"]) == (
        "DOE",
        "Grace",
        "New",
    )
    stored = live_daemon.services.bank.grants.get_grant(NUMBER).grant
    assert (stored.agency, stored.pi, stored.title) == ("DOE", "Grace", "New")
    assert_envelope(
        admin.put(f"/api/v1/grants/{NUMBER}", json={"agency": "A", "funding_agency": "B"}),
        422,
        "validation_error",
        "funding_agency",
    )
    assert_envelope(
        admin.put(f"/api/v1/grants/{NUMBER}", json={"total_award_amount": 5}),
        422,
        "validation_error",
    )
    assert live_daemon.services.bank.grants.get_grant(NUMBER).grant.agency == "DOE"
    assert_envelope(admin.get("/api/v1/grants/NOPE-1/periods"), 404, "not_found")

    # a reader limited to accounts the grant does not fund may not read it
    ledger.create_account("lab", ctx=ctx)
    with scoped_reader(live_daemon, ["lab"]) as reader:
        assert reader.get(f"/api/v1/grants/{NUMBER}/periods").status_code == 403
        assert reader.put(f"/api/v1/grants/{NUMBER}", json={"title": "x"}).status_code == 403


# ---------------------------------------------------------------- burn rates


def test_burn_rate_aliases_answer_as_asbb_routes(admin, live_daemon, ledger, ctx):
    ledger.create_account("lab", ctx=ctx, limit="1000")
    ledger.create_account("other", ctx=ctx, limit="1000")
    assert admin.post("/api/v1/grants", json=GRANT).status_code == 201
    assert (
        admin.post(f"/api/v1/grants/{NUMBER}/accounts", json={"account": "lab"}).status_code == 201
    )
    hold = ledger.create_hold("lab", "70", ctx=ctx, partition="aws-cpu", buffer="1")
    ledger.post_hold(hold.hold_id, "70", ctx=ctx)

    params = {"window": "7d", "today": "2026-03-02"}
    original = admin.get("/api/v1/burn-rate/lab", params=params)
    assert original.status_code == 200, original.text
    assert original.json() == admin.get("/api/v1/accounts/lab/burn-rate", params=params).json()
    assert original.json()["window"] == "7d"

    grant = admin.get(f"/api/v1/burn-rate/grant/{NUMBER}", params={"period": 2})
    assert grant.status_code == 200, grant.text
    assert (
        grant.json() == admin.get(f"/api/v1/grants/{NUMBER}/burn-rate", params={"period": 2}).json()
    )

    assert_envelope(
        admin.get("/api/v1/burn-rate/lab", params={"window": "2d"}),
        422,
        "validation_error",
        "window",
    )
    assert_envelope(admin.get("/api/v1/burn-rate/nope"), 404, "not_found")
    with scoped_reader(live_daemon, ["other"]) as reader:
        assert reader.get("/api/v1/burn-rate/other").status_code == 200
        assert reader.get("/api/v1/burn-rate/lab").status_code == 403
        assert reader.get(f"/api/v1/burn-rate/grant/{NUMBER}").status_code == 403


# ---------------------------------------------------------------- PUT /allocations/{id}


def test_put_allocation_status_pauses_resumes_and_cancels(admin, live_daemon, ledger, ctx, clock):
    clock.now = datetime(2026, 1, 1, 9, tzinfo=UTC)
    ledger.create_account("physics", ctx=ctx)
    created = admin.post(
        "/api/v1/allocations",
        json={
            "account": "physics",
            "amount": "100",
            "frequency": "monthly",
            "start_date": "2026-01-01",
            "total": "600",
        },
    )
    assert created.status_code == 201, created.text
    sid = created.json()["id"]
    allocations = live_daemon.services.bank.allocations

    def stored() -> str:
        return str(allocations.get_schedule(sid).schedule.status)

    for status in ("paused", "paused", "active", "cancelled"):
        reply = admin.put(f"/api/v1/allocations/{sid}", json={"status": status})
        assert reply.status_code == 200, reply.text
        assert reply.json()["status"] == status
        assert stored() == status
    assert_envelope(
        admin.put(f"/api/v1/allocations/{sid}", json={"status": "active"}), 409, "conflict"
    )
    assert stored() == "cancelled"

    for body, field in [
        ({"allocation_amount": 50}, "allocation_amount"),
        ({"status": "paused", "allocation_frequency": "weekly"}, "allocation_frequency"),
        ({"end_date": "2027-01-01T00:00:00Z"}, "end_date"),
        ({"auto_allocate": False}, "auto_allocate"),
        ({"status": "completed"}, "status"),
        ({}, "status"),
    ]:
        assert_envelope(
            admin.put(f"/api/v1/allocations/{sid}", json=body), 422, "validation_error", field
        )
    assert stored() == "cancelled"
    assert_envelope(
        admin.put("/api/v1/allocations/999", json={"status": "paused"}), 404, "not_found"
    )
    with live_daemon.client("reader") as reader:
        assert (
            reader.put(f"/api/v1/allocations/{sid}", json={"status": "paused"}).status_code == 403
        )


# ---------------------------------------------------------------- OpenAPI


def test_aliases_are_tagged_original_and_name_the_asbb_route(admin):
    spec = admin.get("/openapi.json").json()
    aliases = {
        ("put", "/api/v1/accounts/{name}"): "PATCH /api/v1/accounts/{name}",
        ("delete", "/api/v1/accounts/{name}"): "POST /api/v1/accounts/{name}/close",
        ("get", "/api/v1/grants/{number}/periods"): "GET /api/v1/grants/{number}",
        ("put", "/api/v1/grants/{number}"): "PATCH /api/v1/grants/{number}",
        ("get", "/api/v1/burn-rate/{name}"): "GET /api/v1/accounts/{name}/burn-rate",
        ("get", "/api/v1/burn-rate/grant/{number}"): "GET /api/v1/grants/{number}/burn-rate",
        ("put", "/api/v1/allocations/{schedule_id}"): "POST /api/v1/allocations/{schedule_id}",
    }
    for (method, path), same_as in aliases.items():
        operation = spec["paths"][path][method]
        assert operation["tags"] == ["original"], (method, path)
        assert same_as in operation["summary"], (method, path, operation["summary"])
