"""The original tool's REST API over real HTTP, on both backends: its route names (each alias
answers as the asbb route it stands for, with the same roles, reader scope, approval rule and
errors), its request bodies and list filters beside asbb's, its field names in the answers,
``dry_run``, and ``/health`` and ``/version`` in its shape. Every write is checked in the
database too (and every dry run for changing nothing)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import SQLModel, select

from asbb_core.ledger.verify import verify_ledger
from asbb_core.store import audit
from asbb_core.store.models import (
    AccountStatus,
    AdjustmentRequest,
    AllocationCredit,
    AllocationSchedule,
    Grant,
)
from daemon.routes.system import asbb_version

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
# The original API reference's examples, as its Go clients send them.
ORIGINAL_ACCOUNT = {
    "slurm_account": "nsf-ml-proj",
    "name": "NSF ML Research",
    "description": "Quantum computing research",
    "budget_limit": 250000.00,
    "start_date": "2025-01-01T00:00:00Z",
    "end_date": "2025-12-31T23:59:59Z",
    "has_incremental_budget": False,
}
ORIGINAL_GRANT = {
    "grant_number": "NSF-2025-12345",
    "funding_agency": "National Science Foundation",
    "agency_program": "Computer and Information Science and Engineering",
    "principal_investigator": "Dr. Jane Smith",
    "co_investigators": ["Dr. Bob Johnson", "Dr. Alice Chen"],
    "institution": "Research University",
    "department": "Computer Science",
    "grant_start_date": "2025-01-01T00:00:00Z",
    "grant_end_date": "2027-12-31T23:59:59Z",
    "total_award_amount": 750000.00,
    "indirect_cost_rate": 0.30,
    "budget_period_months": 0,
    "federal_award_id": "47.070",
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


def money(value: Any) -> Decimal:
    """An amount from a body: a JSON number (read exactly, as a Decimal), never a string."""
    assert isinstance(value, Decimal | int), value
    assert not isinstance(value, bool), value
    return Decimal(value)


def day(value: str) -> date:
    """A day from a body: an RFC 3339 time in UTC, as the original's Go types write it."""
    assert value.endswith("Z"), value
    assert "T" in value, value
    return datetime.fromisoformat(value.replace("Z", "+00:00")).date()


def rows(reply) -> list[dict[str, Any]]:
    """A list answer's rows: a JSON array (its paging in the headers)."""
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert isinstance(body, list), body
    return body


def requests_of(db) -> list[AdjustmentRequest]:
    return db.read(lambda s: list(s.exec(select(AdjustmentRequest))))


def snapshot(db) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (but the rate limiter's buckets, which count requests): what
    a dry run must leave as it was."""
    tables = [t for name, t in sorted(SQLModel.metadata.tables.items()) if name != "rate_buckets"]
    with db.engine.connect() as conn:
        return {
            t.name: sorted(
                (tuple(str(v) for v in row) for row in conn.execute(sa.select(t))), key=str
            )
            for t in tables
        }


def assert_dry_run(reply, status=200):
    assert reply.status_code == status, reply.text
    assert reply.headers["Asbb-Dry-Run"] == "true"
    assert "Asbb-Adjustment-Request" not in reply.headers


# ---------------------------------------------------------------- POST /accounts


@pytest.mark.single_admin
def test_create_account_takes_the_original_body(admin, ledger, db):
    reply = admin.post("/api/v1/accounts", json=ORIGINAL_ACCOUNT)
    assert reply.status_code == 201, reply.text
    body = reply.json()
    stored = ledger.get_account("nsf-ml-proj")
    assert (stored.name, stored.display_name, stored.description) == (
        "nsf-ml-proj",
        "NSF ML Research",
        "Quantum computing research",
    )
    assert stored.limit_amount == Decimal("250000")
    assert (stored.start_date, stored.end_date) == (date(2025, 1, 1), date(2025, 12, 31))

    # asbb's names and the original's, side by side, for the same account
    assert (body["id"], body["name"], body["slurm_account"]) == (
        stored.id,
        "nsf-ml-proj",
        "nsf-ml-proj",
    )
    assert body["display_name"] == "NSF ML Research"
    for ours, theirs, value in [
        ("limit", "budget_limit", "250000"),
        ("used", "budget_used", "0"),
        ("held", "budget_held", "0"),
        ("available", "budget_available", "250000"),
    ]:
        assert money(body[ours]) == money(body[theirs]) == Decimal(value), (ours, theirs)
    assert (day(body["start_date"]), day(body["end_date"])) == (
        date(2025, 1, 1),
        date(2025, 12, 31),
    )
    assert body["status"] == "active"

    shown = admin.get("/api/v1/accounts/nsf-ml-proj").json()
    assert shown["display_name"] == "NSF ML Research"
    listed = rows(admin.get("/api/v1/accounts"))
    assert [(a["slurm_account"], a["display_name"], a["id"]) for a in listed] == [
        ("nsf-ml-proj", "NSF ML Research", stored.id)
    ]
    [created] = audit.list_events(db, subject="account:nsf-ml-proj").items
    assert created.after["display_name"] == "NSF ML Research"


def test_create_account_with_the_original_allocation_schedule(admin, ledger, db):
    body = {
        **ORIGINAL_ACCOUNT,
        "slurm_account": "quantum",
        "name": "Quantum Computing",
        "budget_limit": 0,  # the original's CLI sends 0 for an incremental account
        "has_incremental_budget": True,
        "allocation_schedule": {
            "total_budget": 12000.00,
            "allocation_amount": 1000.00,
            "allocation_frequency": "monthly",
            "start_date": "2025-01-01T00:00:00Z",
            "auto_allocate": True,
        },
    }
    reply = admin.post("/api/v1/accounts", json=body)
    assert reply.status_code == 201, reply.text
    assert "Asbb-Adjustment-Request" not in reply.headers  # it opens at 0: nothing to approve
    account = ledger.get_account("quantum")
    assert (account.display_name, account.limit_amount) == ("Quantum Computing", Decimal(0))
    [schedule] = db.read(lambda s: list(s.exec(select(AllocationSchedule))))
    assert (schedule.account_id, schedule.amount, schedule.total) == (
        account.id,
        Decimal("1000"),
        Decimal("12000"),
    )
    assert (str(schedule.frequency), schedule.start_date, schedule.instalments) == (
        "monthly",
        date(2025, 1, 1),
        12,
    )
    assert requests_of(db) == []

    listed = rows(admin.get("/api/v1/allocations", params={"account": "quantum"}))
    [shown] = listed
    assert (shown["account_id"], shown["allocation_frequency"], shown["auto_allocate"]) == (
        account.id,
        "monthly",
        True,
    )
    assert money(shown["total_budget"]) == money(shown["total"]) == Decimal("12000")
    assert money(shown["allocation_amount"]) == Decimal("1000")
    assert money(shown["remaining_budget"]) == Decimal("12000")
    assert day(shown["end_date"]) == date(2025, 12, 1)


def test_create_account_refuses_what_does_not_add_up(admin, ledger, db):
    before = snapshot(db)
    schedule = {"allocation_amount": 100, "allocation_frequency": "monthly", "total_budget": 600}
    for body, field, words in [
        (
            {**ORIGINAL_ACCOUNT, "display_name": "Other"},
            "name",
            ["display_name", "name", "'Other'", "'NSF ML Research'"],
        ),
        ({"name": "lab", "limit": "5", "budget_limit": 6}, "budget_limit", ["limit", "6", "5"]),
        ({"description": "no name"}, "name", ["slurm_account"]),
        ({**ORIGINAL_ACCOUNT, "allocation_schedule": schedule}, "has_incremental_budget", []),
        (
            {**ORIGINAL_ACCOUNT, "has_incremental_budget": True, "allocation_schedule": schedule},
            "budget_limit",
            ["opens at 0"],
        ),
        ({"name": "lab", "has_incremental_budget": True}, "allocation_schedule", []),
        (
            {"name": "lab", "allocation_schedule": {**schedule, "auto_allocate": False}},
            "allocation_schedule.auto_allocate",
            [],
        ),
        (
            {"name": "lab", "allocation_schedule": {**schedule, "allocation_amount": 0}},
            "allocation_schedule.allocation_amount",
            [],
        ),
        ({"slurm_account": "Bad Name!", "name": "x"}, "slurm_account", []),
        ({"name": "lab", "start_date": "2025-13-01T00:00:00Z"}, "start_date", []),
        ({"name": "lab", "start_date": "1700000000"}, "start_date", []),
        ({"name": "lab", "dry_run": 0}, "dry_run", []),
        ({"name": "lab", "has_incremental_budget": "yes"}, "has_incremental_budget", []),
    ]:
        error = assert_envelope(
            admin.post("/api/v1/accounts", json=body), 422, "validation_error", field
        )
        for word in words:
            assert word in error["message"], (word, error)
    assert snapshot(db) == before

    # the same value under both names is that value
    same = admin.post("/api/v1/accounts", json={"name": "lab", "limit": "5", "budget_limit": 5.00})
    assert same.status_code == 201, same.text
    [request] = requests_of(db)  # approval is required here: the limit waits
    assert (request.account, request.amount) == ("lab", Decimal("5"))


def test_go_zero_values_mean_not_given(admin, ledger):
    """A Go client sends every field it did not set as its zero value."""
    reply = admin.post(
        "/api/v1/accounts",
        json={
            "slurm_account": "zeroes",
            "name": "",
            "description": "",
            "budget_limit": 0,
            "start_date": "0001-01-01T00:00:00Z",
            "end_date": "0001-01-01T00:00:00Z",
            "has_incremental_budget": False,
        },
    )
    assert reply.status_code == 201, reply.text
    stored = ledger.get_account("zeroes")
    assert (stored.display_name, stored.start_date, stored.end_date) == ("", None, None)
    assert stored.limit_amount == Decimal(0)


# ---------------------------------------------------------------- dry runs


def test_dry_run_account_create_and_update_change_nothing(admin, ledger, ctx, db):
    ledger.create_account("physics", ctx=ctx, limit="100", display_name="Physics")
    before = snapshot(db)

    created = admin.post(
        "/api/v1/accounts",
        json={**ORIGINAL_ACCOUNT, "partition_limits": {"gpu-aws": 50}, "dry_run": True},
    )
    assert_dry_run(created)
    would = created.json()
    assert (would["name"], would["display_name"]) == ("nsf-ml-proj", "NSF ML Research")
    # approval is required: the account would open at 0 and its limit wait for a second person
    assert money(would["limit"]) == Decimal(0)
    assert [(c["partition"], money(c["limit"])) for c in would["partition_limits"]] == [
        ("gpu-aws", Decimal("50"))
    ]

    patched = admin.patch(
        "/api/v1/accounts/physics",
        json={"display_name": "Physics Dept", "status": "suspended", "dry_run": True},
    )
    assert_dry_run(patched)
    assert (patched.json()["display_name"], patched.json()["status"]) == (
        "Physics Dept",
        "suspended",
    )
    put = admin.put(
        "/api/v1/accounts/physics", json={"name": "P", "budget_limit": 7, "dry_run": True}
    )
    assert_dry_run(put)
    assert put.json()["display_name"] == "P"
    assert snapshot(db) == before
    assert ledger.get_account("physics").display_name == "Physics"

    # a dry run fails as the real call would, with the same error
    for method, path, body, status, field in [
        ("post", "/api/v1/accounts", {"name": "physics"}, 409, "name"),
        (
            "post",
            "/api/v1/accounts",
            {"name": "x", "end_date": "2020-01-01", "start_date": "2021-01-01"},
            422,
            None,
        ),
        (
            "patch",
            "/api/v1/accounts/physics",
            {"start_date": "2027-01-01", "end_date": "2026-01-01"},
            422,
            "end_date",
        ),
        ("put", "/api/v1/accounts/nope", {"name": "x"}, 404, None),
    ]:
        real = admin.request(method, path, json=body)
        rehearsed = admin.request(method, path, json={**body, "dry_run": True})
        assert real.status_code == rehearsed.status_code == status, (real.text, rehearsed.text)
        assert real.json()["error"]["message"] == rehearsed.json()["error"]["message"]
        if field is not None:
            assert rehearsed.json()["error"]["field"] == field
    assert snapshot(db) == before


@pytest.mark.single_admin
def test_dry_run_shows_the_limit_a_single_admin_would_get(admin, ledger, db):
    before = snapshot(db)
    reply = admin.post("/api/v1/accounts", json={**ORIGINAL_ACCOUNT, "dry_run": True})
    assert_dry_run(reply)
    assert money(reply.json()["budget_limit"]) == Decimal("250000")
    assert snapshot(db) == before
    real = admin.post("/api/v1/accounts", json=ORIGINAL_ACCOUNT)
    assert real.status_code == 201
    assert ledger.get_account("nsf-ml-proj").limit_amount == Decimal("250000")


def test_dry_run_grants_and_allocations_change_nothing(admin, ledger, ctx, db, clock):
    ledger.create_account("lab", ctx=ctx)
    assert admin.post("/api/v1/grants", json=GRANT).status_code == 201
    made = admin.post(
        "/api/v1/allocations",
        json={
            "account": "lab",
            "amount": "10",
            "frequency": "monthly",
            "start_date": "2026-01-01",
            "total": "60",
        },
    )
    assert made.status_code == 201, made.text
    sid = made.json()["id"]
    before = snapshot(db)

    grant = admin.post("/api/v1/grants", json={**ORIGINAL_GRANT, "dry_run": True})
    assert_dry_run(grant)
    assert grant.json()["grant_number"] == "NSF-2025-12345"
    assert [p["number"] for p in grant.json()["periods"]] == [1, 2, 3]
    changed = admin.patch(f"/api/v1/grants/{NUMBER}", json={"title": "T", "dry_run": True})
    assert_dry_run(changed)
    assert changed.json()["title"] == "T"
    put = admin.put(f"/api/v1/grants/{NUMBER}", json={"funding_agency": "DOE", "dry_run": True})
    assert_dry_run(put)
    assert (put.json()["agency"], put.json()["funding_agency"]) == ("DOE", "DOE")

    schedule = admin.post(
        "/api/v1/allocations",
        json={
            "account_id": ledger.get_account("lab").id,
            "allocation_amount": 5,
            "allocation_frequency": "weekly",
            "start_date": "2026-03-02T00:00:00Z",
            "total_budget": 20,
            "dry_run": True,
        },
    )
    assert_dry_run(schedule)
    assert (schedule.json()["account"], schedule.json()["instalments"]) == ("lab", 4)
    paused = admin.put(f"/api/v1/allocations/{sid}", json={"status": "paused", "dry_run": True})
    assert_dry_run(paused)
    assert paused.json()["status"] == "paused"

    processed = admin.post("/api/v1/allocations/process", json={"dry_run": True})
    assert_dry_run(processed)
    # January to March 2026 are due: what a run would credit, credited nowhere
    assert money(processed.json()["total_credited"]) == Decimal("30")
    assert snapshot(db) == before
    assert ledger.get_account("lab").limit_amount == Decimal(0)
    assert db.read(lambda s: list(s.exec(select(AllocationCredit)))) == []

    # the same errors as the real calls
    for path, body, field in [
        ("/api/v1/grants", {**GRANT}, "number"),
        ("/api/v1/grants", {**ORIGINAL_GRANT, "indirect_cost_rate": 2}, "indirect_cost_rate"),
    ]:
        real = admin.post(path, json=body)
        rehearsed = admin.post(path, json={**body, "dry_run": True})
        assert real.status_code == rehearsed.status_code, (real.text, rehearsed.text)
        assert real.json()["error"] == rehearsed.json()["error"]
        assert rehearsed.json()["error"]["field"] == field
    assert_envelope(
        admin.put(f"/api/v1/allocations/{sid}", json={"status": "completed", "dry_run": True}),
        422,
        "validation_error",
        "status",
    )
    assert snapshot(db) == before

    real = admin.post("/api/v1/allocations/process", json={})
    assert money(real.json()["total_credited"]) == Decimal("30")
    assert ledger.get_account("lab").limit_amount == Decimal("30")


# ---------------------------------------------------------------- PUT /accounts/{a}


@pytest.mark.single_admin
def test_put_account_takes_the_original_fields_and_changes_the_database(admin, ledger, ctx, db):
    ledger.create_account("physics", ctx=ctx, limit="100")
    reply = admin.put(
        "/api/v1/accounts/physics",
        json={
            "name": "Physics Department",
            "description": "Physics dept",
            "budget_limit": 250.5,
            "start_date": "2026-01-01T00:00:00Z",
            "end_date": "2026-12-31",
            "status": "suspended",
        },
    )
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert money(body["limit"]) == money(body["budget_limit"]) == Decimal("250.50")
    assert (body["status"], day(body["start_date"])) == ("suspended", date(2026, 1, 1))
    assert (body["name"], body["display_name"]) == ("physics", "Physics Department")
    stored = ledger.get_account("physics")
    assert stored.limit_amount == Decimal("250.50")
    assert (stored.description, stored.display_name) == ("Physics dept", "Physics Department")
    assert (stored.start_date, stored.end_date) == (date(2026, 1, 1), date(2026, 12, 31))
    assert stored.status == AccountStatus.SUSPENDED
    adjustment = ledger.journal(account="physics", limit=1)[0]
    assert adjustment.memo == "limit set through PUT /api/v1/accounts"
    update = audit.list_events(db, subject="account:physics", action="account.update").items[0]
    assert (update.before["display_name"], update.after["display_name"]) == (
        "",
        "Physics Department",
    )

    # asbb's own names work too, with the same rules as PATCH (a limit needs a reason)
    assert_envelope(
        admin.put("/api/v1/accounts/physics", json={"limit": "300"}),
        422,
        "validation_error",
        "reason",
    )
    assert ledger.get_account("physics").limit_amount == Decimal("250.50")
    ours = admin.put(
        "/api/v1/accounts/physics",
        json={"limit": "300", "reason": "renewal", "display_name": "Physics"},
    )
    assert ours.status_code == 200, ours.text
    assert ledger.get_account("physics").limit_amount == Decimal("300")
    assert ledger.get_account("physics").display_name == "Physics"
    patched = admin.patch("/api/v1/accounts/physics", json={"display_name": "  Phys  "})
    assert patched.status_code == 200, patched.text
    assert ledger.get_account("physics").display_name == "Phys"


def test_put_account_limit_is_a_request_when_approval_is_required(admin, ledger, ctx, db):
    ledger.create_account("physics", ctx=ctx, limit="100")
    reply = admin.put(
        "/api/v1/accounts/physics", json={"budget_limit": "900", "description": "now"}
    )
    assert reply.status_code == 200, reply.text
    assert money(reply.json()["limit"]) == Decimal("100")
    asked = int(reply.headers["Asbb-Adjustment-Request"])
    [request] = requests_of(db)
    assert (request.id, str(request.kind), request.amount) == (asked, "limit", Decimal("900"))
    stored = ledger.get_account("physics")
    assert (stored.limit_amount, stored.description) == (Decimal("100"), "now")


def test_put_account_refuses_what_does_not_map(admin, ledger, ctx):
    ledger.create_account("physics", ctx=ctx, limit="100", description="kept")
    for body, field in [
        ({"name": "Physics", "display_name": "Other"}, "name"),
        ({"limit": "5", "budget_limit": "6", "reason": "x"}, "budget_limit"),
        ({"status": "inactive"}, "status"),
        ({"start_date": "2026-01-01T10:00:00Z!"}, "start_date"),
        ({"name": "x" * 201}, "name"),
        ({"colour": "red"}, "colour"),
    ]:
        error = assert_envelope(
            admin.put("/api/v1/accounts/physics", json={**body, "description": "x"}),
            422,
            "validation_error",
        )
        assert field in (error["field"] or "") + error["message"], error
    stored = ledger.get_account("physics")
    assert (stored.description, stored.limit_amount, stored.display_name) == (
        "kept",
        Decimal("100"),
        "",
    )
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
    assert spent["details"]["used"] == Decimal("10.00")  # an error's details: exact numbers
    busy = assert_envelope(admin.delete("/api/v1/accounts/busy"), 409, "conflict", "account")
    assert "$20.00 held" in busy["message"]
    assert "1 open hold(s)" in busy["message"]
    assert busy["details"]["open_holds"] == 1
    for name in ("spent", "busy"):
        assert ledger.get_account(name).status == AccountStatus.ACTIVE


# ---------------------------------------------------------------- grants


def test_create_grant_takes_the_original_body(admin, live_daemon, db):
    reply = admin.post("/api/v1/grants", json=ORIGINAL_GRANT)
    assert reply.status_code == 201, reply.text
    body = reply.json()
    stored = live_daemon.services.bank.grants.get_grant("NSF-2025-12345")
    g = stored.grant
    assert (g.agency, g.program, g.pi, g.co_pis) == (
        "National Science Foundation",
        "Computer and Information Science and Engineering",
        "Dr. Jane Smith",
        ["Dr. Bob Johnson", "Dr. Alice Chen"],
    )
    assert (g.institution, g.department, g.cfda) == (
        "Research University",
        "Computer Science",
        "47.070",
    )
    assert (g.total_award, g.indirect_rate) == (Decimal("750000"), Decimal("0.30"))
    assert (g.start_date, g.end_date) == (date(2025, 1, 1), date(2027, 12, 31))
    # budget_period_months 0 (a Go client's "not set") is asbb's default of 12 months
    assert [(p.start_date, p.end_date) for p in stored.periods] == [
        (date(2025, 1, 1), date(2025, 12, 31)),
        (date(2026, 1, 1), date(2026, 12, 31)),
        (date(2027, 1, 1), date(2027, 12, 31)),
    ]

    # the original's names in the answer, with the figures of its API reference
    assert (body["id"], body["grant_number"], body["number"]) == (g.id, g.number, g.number)
    for ours, theirs in [
        ("agency", "funding_agency"),
        ("program", "agency_program"),
        ("pi", "principal_investigator"),
        ("co_pis", "co_investigators"),
        ("cfda", "federal_award_id"),
    ]:
        assert body[ours] == body[theirs] == ORIGINAL_GRANT[theirs], (ours, theirs)
    assert money(body["total_award_amount"]) == Decimal("750000")
    assert money(body["direct_costs"]) == Decimal("576923.08")
    assert money(body["indirect_costs"]) == Decimal("173076.92")
    assert money(body["indirect_cost_rate"]) == Decimal("0.30")
    assert (day(body["grant_start_date"]), day(body["grant_end_date"])) == (
        date(2025, 1, 1),
        date(2027, 12, 31),
    )
    assert (body["budget_period_months"], body["current_budget_period"]) == (12, 2)
    [second] = [p for p in body["periods"] if p["period_number"] == 2]
    assert day(second["period_start_date"]) == date(2026, 1, 1)
    assert money(second["period_budget_amount"]) == money(second["budget"])
    assert money(second["period_committed_amount"]) == Decimal(0)
    periods = admin.get("/api/v1/grants/NSF-2025-12345/periods").json()
    assert [p["period_number"] for p in periods] == [1, 2, 3]


def test_create_grant_refuses_what_does_not_add_up(admin, db):
    before = snapshot(db)
    for body, field, words in [
        ({**ORIGINAL_GRANT, "number": "OTHER-1"}, "grant_number", ["number", "OTHER-1"]),
        ({**ORIGINAL_GRANT, "total_award": "1"}, "total_award_amount", ["total_award"]),
        ({**ORIGINAL_GRANT, "start_date": "2025-02-01"}, "grant_start_date", ["start_date"]),
        ({**ORIGINAL_GRANT, "internal_project_code": "CS-ML-2025"}, "internal_project_code", []),
        ({**ORIGINAL_GRANT, "cost_center": "X"}, "cost_center", []),
        ({**ORIGINAL_GRANT, "compliance_requirements": "NIH"}, "compliance_requirements", []),
        (
            {**ORIGINAL_GRANT, "budget_period_months": 6, "period_months": 12},
            "budget_period_months",
            [],
        ),
        (
            {k: v for k, v in ORIGINAL_GRANT.items() if k != "grant_end_date"},
            "end_date",
            ["grant_end_date"],
        ),
        (
            {k: v for k, v in ORIGINAL_GRANT.items() if k != "indirect_cost_rate"},
            "indirect_rate",
            [],
        ),
        ({**ORIGINAL_GRANT, "federal_award_id": "47"}, "federal_award_id", ["47.070"]),
    ]:
        error = assert_envelope(
            admin.post("/api/v1/grants", json=body), 422, "validation_error", field
        )
        for word in words:
            assert word in error["message"], (word, error)
    assert snapshot(db) == before
    # empty values are what a Go client sends for fields it did not set
    empty = {
        **ORIGINAL_GRANT,
        "internal_project_code": "",
        "cost_center": "",
        "budget_period_months": 6,
    }
    assert admin.post("/api/v1/grants", json=empty).status_code == 201
    assert len(db.read(lambda s: list(s.exec(select(Grant))))) == 1


def test_grant_list_takes_the_original_filters(admin, live_daemon, ledger, ctx):
    for number, agency, start, end in [
        ("A-1", "NSF", "2024-01-01", "2025-12-31"),  # ended
        ("B-2", "nsf", "2025-06-01", "2027-05-31"),  # running on 2026-03-02
        ("C-3", "DOE", "2026-06-01", "2028-05-31"),  # not started
        ("D-4", "DOE", "2025-01-01", "2026-12-31"),  # running, then closed
    ]:
        made = admin.post(
            "/api/v1/grants",
            json={
                "number": number,
                "agency": agency,
                "total_award": "1000",
                "start_date": start,
                "end_date": end,
                "indirect_rate": "0.1",
            },
        )
        assert made.status_code == 201, made.text
    assert admin.patch("/api/v1/grants/D-4", json={"status": "closed"}).status_code == 200

    def numbers(**params: Any) -> list[str]:
        return [g["grant_number"] for g in rows(admin.get("/api/v1/grants", params=params))]

    assert numbers() == ["A-1", "B-2", "C-3", "D-4"]
    assert numbers(status="completed") == numbers(status="cancelled") == ["D-4"]
    assert numbers(status="active") == ["A-1", "B-2", "C-3"]
    assert numbers(funding_agency="NSF") == ["A-1", "B-2"]
    assert numbers(active_only="true") == ["B-2"]
    assert numbers(start_date="2026-01-01T00:00:00Z") == ["B-2", "C-3", "D-4"]
    assert numbers(end_date="2025-05-31") == ["A-1", "D-4"]
    assert numbers(start_date="2026-01-01", end_date="2026-05-31") == ["B-2", "D-4"]
    assert numbers(limit=2) == ["A-1", "B-2"]
    page = admin.get("/api/v1/grants", params={"limit": 2, "offset": 2})
    assert [g["number"] for g in rows(page)] == ["C-3", "D-4"]
    assert int(page.headers["X-Total-Count"]) == 4
    assert set(page.links) == {"first", "prev", "last"}
    [b2] = rows(admin.get("/api/v1/grants", params={"active_only": "true"}))
    assert b2["current_budget_period"] == 1
    for params, field in [
        ({"status": "pending"}, "status"),
        ({"status": "inactive"}, "status"),
        ({"start_date": "2026-02-30"}, "start_date"),
        ({"start_date": "0"}, "start_date"),
        ({"start_date": "2026-02-01", "end_date": "2026-01-01"}, "end_date"),
        ({"limit": 0}, "limit"),
    ]:
        assert_envelope(admin.get("/api/v1/grants", params=params), 422, "validation_error", field)


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
    error = assert_envelope(
        admin.put(f"/api/v1/grants/{NUMBER}", json={"agency": "A", "funding_agency": "B"}),
        422,
        "validation_error",
        "funding_agency",
    )
    assert "'B' disagrees with agency 'A'" in error["message"]
    same = admin.put(f"/api/v1/grants/{NUMBER}", json={"agency": "A", "funding_agency": "A"})
    assert same.status_code == 200, same.text
    assert_envelope(
        admin.put(f"/api/v1/grants/{NUMBER}", json={"total_award_amount": 5}),
        422,
        "validation_error",
    )
    assert live_daemon.services.bank.grants.get_grant(NUMBER).grant.agency == "A"
    assert_envelope(admin.get("/api/v1/grants/NOPE-1/periods"), 404, "not_found")

    # a reader limited to accounts the grant does not fund may not read it
    ledger.create_account("lab", ctx=ctx)
    with scoped_reader(live_daemon, ["lab"]) as reader:
        assert reader.get(f"/api/v1/grants/{NUMBER}/periods").status_code == 403
        assert reader.put(f"/api/v1/grants/{NUMBER}", json={"title": "x"}).status_code == 403


# ---------------------------------------------------------------- transactions


@pytest.mark.single_admin
def test_transactions_take_the_original_filters_and_names(admin, ledger, ctx, clock):
    clock.now = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    ledger.create_account("lab", ctx=ctx, limit="100")  # a deposit on March 1st
    clock.now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    hold = ledger.create_hold("lab", "10", ctx=ctx, partition="aws-cpu", buffer="1", job_id="77")
    ledger.post_hold(hold.hold_id, "4", ctx=ctx)  # a charge of 4 and a release of 6
    account_id = ledger.get_account("lab").id

    every = rows(admin.get("/api/v1/transactions"))
    assert [e["type"] for e in every] == ["release", "charge", "hold", "deposit"]
    assert {e["account_id"] for e in every} == {account_id}
    assert {e["status"] for e in every} == {"completed"}
    by_type = {e["type"]: e for e in every}
    assert by_type["hold"]["transaction_id"] == hold.hold_id
    assert by_type["hold"]["parent_transaction_id"] is None
    for kind in ("charge", "release"):
        assert by_type[kind]["parent_transaction_id"] == hold.hold_id
        assert by_type[kind]["transaction_id"] == str(by_type[kind]["id"])
    assert by_type["deposit"]["description"] == by_type["deposit"]["memo"] == "opening balance"
    assert by_type["deposit"]["completed_at"] == by_type["deposit"]["created_at"]

    def kinds(**params: Any) -> list[str]:
        return [e["type"] for e in rows(admin.get("/api/v1/transactions", params=params))]

    assert kinds(offset=1, limit=2) == ["charge", "hold"]
    assert kinds(type="refund") == ["release"]
    assert kinds(start_date="2026-03-02T00:00:00Z") == ["release", "charge", "hold"]
    assert kinds(end_date="2026-03-02T00:00:00Z") == ["deposit"]
    assert kinds(start_date="2026-03-02", since="2026-03-02T00:00:00Z") == [
        "release",
        "charge",
        "hold",
    ]
    assert kinds(status="completed", job_id="77") == ["release", "charge", "hold"]
    assert kinds(status="pending") == kinds(status="failed") == []
    for params, field in [
        ({"start_date": "2026-03-01", "since": "2026-03-02"}, "start_date"),
        ({"end_date": "yesterday"}, "end_date"),
        ({"status": "done"}, "status"),
        ({"offset": -1}, "offset"),
    ]:
        assert_envelope(
            admin.get("/api/v1/transactions", params=params), 422, "validation_error", field
        )


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
    ours = admin.get("/api/v1/accounts/lab/burn-rate", params=params).json()
    assert {k: original.json()[k] for k in ours} == ours  # asbb's fields, the original's beside
    assert original.json()["window"] == "7d"

    grant = admin.get(f"/api/v1/burn-rate/grant/{NUMBER}", params={"period": 2})
    assert grant.status_code == 200, grant.text
    ours = admin.get(f"/api/v1/grants/{NUMBER}/burn-rate", params={"period": 2}).json()
    assert {k: grant.json()[k] for k in ours} == ours

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


# ---------------------------------------------------------------- allocations


def test_create_schedule_takes_the_original_names(admin, ledger, ctx, db):
    ledger.create_account("physics", ctx=ctx)
    ledger.create_account("chem", ctx=ctx)
    physics = ledger.get_account("physics").id
    before = snapshot(db)
    base = {
        "account_id": physics,
        "allocation_amount": 100.00,
        "allocation_frequency": "quarterly",
        "total_budget": 400.00,
        "start_date": "2026-01-01T00:00:00Z",
        "auto_allocate": True,
    }
    for body, field in [
        ({**base, "amount": "99"}, "allocation_amount"),
        ({**base, "frequency": "weekly"}, "allocation_frequency"),
        ({**base, "total": "500"}, "total_budget"),
        ({**base, "account": "chem"}, "account_id"),
        ({**base, "auto_allocate": False}, "auto_allocate"),
        ({**base, "account_id": 999_999}, "account_id"),
        ({k: v for k, v in base.items() if k != "account_id"}, "account"),
        ({k: v for k, v in base.items() if k != "allocation_amount"}, "amount"),
    ]:
        reply = admin.post("/api/v1/allocations", json=body)
        assert reply.status_code in (404, 422), reply.text
        assert reply.json()["error"]["field"] == field, reply.text
    assert snapshot(db) == before

    reply = admin.post("/api/v1/allocations", json={**base, "account": "physics", "amount": 100})
    assert reply.status_code == 201, reply.text
    body = reply.json()
    [schedule] = db.read(lambda s: list(s.exec(select(AllocationSchedule))))
    assert (schedule.account_id, schedule.amount, schedule.total, str(schedule.frequency)) == (
        physics,
        Decimal("100"),
        Decimal("400"),
        "quarterly",
    )
    assert (schedule.start_date, schedule.instalments) == (date(2026, 1, 1), 4)
    assert (body["account"], body["account_id"], body["auto_allocate"]) == (
        "physics",
        physics,
        True,
    )
    assert day(body["next_allocation_date"]) == day(body["next_due_date"]) == date(2026, 1, 1)
    assert (day(body["end_date"]), money(body["allocated_to_date"])) == (date(2026, 10, 1), 0)
    assert money(body["remaining_budget"]) == Decimal("400")

    assert admin.post("/api/v1/allocations/process", json={}).status_code == 200  # Q1 is due
    [shown] = rows(admin.get("/api/v1/allocations"))
    assert money(shown["allocated_to_date"]) == money(shown["credited"]) == Decimal("100")
    assert money(shown["remaining_budget"]) == Decimal("300")
    assert day(shown["next_allocation_date"]) == date(2026, 4, 1)
    assert ledger.get_account("physics").limit_amount == Decimal("100")
    assert_envelope(
        admin.post("/api/v1/allocations/process", json={"schedule_id": schedule.id}),
        422,
        "validation_error",
        "schedule_id",
    )


def test_schedule_list_pages_as_the_original(admin, ledger, ctx):
    ledger.create_account("physics", ctx=ctx)
    made = []
    for amount in ("10", "20", "30"):
        reply = admin.post(
            "/api/v1/allocations",
            json={
                "account": "physics",
                "amount": amount,
                "frequency": "monthly",
                "start_date": "2026-04-01",
                "instalments": 2,
            },
        )
        assert reply.status_code == 201, reply.text
        made.append(reply.json()["id"])
    page = admin.get("/api/v1/allocations", params={"limit": 2, "offset": 1})
    assert [s["id"] for s in rows(page)] == made[1:]
    assert int(page.headers["X-Total-Count"]) == 3
    assert set(page.links) == {"first", "prev", "last"}
    assert [s["id"] for s in rows(admin.get("/api/v1/allocations"))] == made
    assert_envelope(
        admin.get("/api/v1/allocations", params={"limit": 0}), 422, "validation_error", "limit"
    )


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


# ---------------------------------------------------------------- alerts


def test_acknowledge_takes_the_original_body(admin, live_daemon, ledger, ctx):
    ledger.create_account("full", ctx=ctx, limit="100")
    hold = ledger.create_hold("full", "100", ctx=ctx, partition="aws-cpu", buffer="1")
    ledger.post_hold(hold.hold_id, "100", ctx=ctx)
    assert admin.post("/api/v1/alerts/evaluate").status_code == 200
    alerts = live_daemon.services.bank.alerts
    alert_id = next(r.id for r in alerts.list_alerts(account="full", limit=10, offset=0))

    for body, field in [
        ({"alert_id": alert_id + 1000, "notes": "x"}, "alert_id"),
        ({"acknowledged_by": "someone-else"}, "acknowledged_by"),
        ({"note": "a", "notes": "b"}, "notes"),
        ({"notes": "x" * 501}, "notes"),
    ]:
        assert_envelope(
            admin.post(f"/api/v1/alerts/{alert_id}/acknowledge", json=body),
            422,
            "validation_error",
            field,
        )
    assert str(alerts.get_alert(alert_id).alert.status) == "open"

    reply = admin.post(
        f"/api/v1/alerts/{alert_id}/acknowledge",
        json={"alert_id": alert_id, "acknowledged_by": "test-admin", "notes": "on it"},
    )
    assert reply.status_code == 200, reply.text
    assert (reply.json()["status"], reply.json()["acknowledged_by"]) == (
        "acknowledged",
        "test-admin",
    )
    record = alerts.get_alert(alert_id).alert
    assert (str(record.status), record.acknowledged_by) == ("acknowledged", "test-admin")
    assert record.details["note"] == "on it"


# ---------------------------------------------------------------- /health and /version


def test_health_answers_the_original_shape_beside_asbbs(live_daemon, clock):
    clock.now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    with live_daemon.client(None) as anonymous:
        reply = anonymous.get("/health")
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert (body["status"], body["database"]) == ("ok", live_daemon.services.db.backend)
    assert body["version"] == asbb_version()
    assert datetime.fromisoformat(body["timestamp"].replace("Z", "+00:00")) == clock.now
    assert body["services"] == {"database": "healthy", "advisor": "not configured"}
    words = body["uptime"].split()
    assert words[-1].endswith("s"), body["uptime"]
    assert all(w[:-1].isdigit() for w in words), body["uptime"]


def test_health_says_unhealthy_services_when_behind(live_daemon, db):
    with db.engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0001'"))
    try:
        with live_daemon.client(None) as anonymous:
            reply = anonymous.get("/health")
    finally:
        from asbb_core.store.migrate import head_revision

        with db.engine.begin() as conn:
            conn.execute(
                sa.text("UPDATE alembic_version SET version_num = :v"), {"v": head_revision()}
            )
    assert reply.status_code == 503
    assert reply.json()["status"] == "degraded"
    assert reply.json()["services"]["database"].startswith("unhealthy: ")


def test_version_answers_the_original_shape_beside_asbbs(live_daemon):
    with live_daemon.client(None) as anonymous:
        body = anonymous.get("/version").json()
    assert (body["name"], body["version"], body["api"]) == ("asbb", asbb_version(), "v1")
    assert {"git_commit", "build_time", "os", "arch", "python_version"} <= set(body)
    assert body["os"] in ("linux", "darwin", "windows")
    assert body["arch"]
    assert body["python_version"].count(".") == 2


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


def test_the_original_fields_are_in_the_spec(admin):
    schemas = admin.get("/openapi.json").json()["components"]["schemas"]

    def fields(name: str) -> set[str]:
        [found] = [v for k, v in schemas.items() if k in (name, f"{name}-Output")]
        return set(found["properties"])

    assert {"slurm_account", "budget_limit", "allocation_schedule", "dry_run"} <= fields(
        "AccountCreate"
    )
    assert {"grant_number", "total_award_amount", "federal_award_id", "dry_run"} <= fields(
        "GrantCreate"
    )
    assert {"id", "slurm_account", "display_name", "budget_available"} <= fields("AccountView")
    assert {"grant_number", "direct_costs", "current_budget_period"} <= fields("GrantView")
    assert {"account_id", "transaction_id", "parent_transaction_id"} <= fields("EntryView")
    assert {"alert_id", "acknowledged_by", "notes"} <= fields("AcknowledgeIn")
