"""Recurring and one-off allocations over real HTTP (uvicorn on loopback), both backends."""

from __future__ import annotations

import time as clock_time
from datetime import UTC, date, datetime, time
from decimal import Decimal

import httpx
import pytest

from asbb_core.funding.allocations import Allocations
from asbb_core.ledger.verify import verify_ledger
from asbb_core.settings import AllocationSettings
from tests.conftest import serve_in_thread
from tests.wire import D, day, rows_and_total

BASE = "/api/v1/allocations"


@pytest.fixture
def accounts(live_daemon, ledger, ctx, clock):
    clock.now = datetime(2026, 1, 1, 9, tzinfo=UTC)
    ledger.create_account("ml-proj", ctx=ctx, limit="1000")
    ledger.create_account("physics", ctx=ctx)
    yield ledger
    report = verify_ledger(ledger.db)
    assert report.ok, [str(p) for p in report.problems]


@pytest.fixture
def admin(live_daemon, accounts):
    with live_daemon.client("admin") as client:
        yield client


def scoped_reader(live_daemon, name: str, accounts: list[str]) -> httpx.Client:
    secret = live_daemon.services.tokens.tokens.create(
        name, "reader", actor="tests", accounts=accounts
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


def create(client, **fields):
    body = {
        "account": "physics",
        "amount": "100",
        "frequency": "monthly",
        "start_date": "2026-01-01",
        "total": "650",
    }
    body.update(fields)
    return client.post(BASE, json=body)


def at(clock, day: date) -> None:
    clock.now = datetime.combine(day, time(12), tzinfo=UTC)


def test_create_then_process_credits_the_due_instalments(admin, accounts, clock):
    reply = create(admin, memo="NSF year 1")
    assert reply.status_code == 201, reply.text
    made = reply.json()
    assert (made["instalments"], made["total"], made["amount"], made["status"]) == (
        7,
        D("650.00"),
        D("100.00"),
        "active",
    )
    assert (made["next_due_date"], made["last_due_date"], made["credits"]) == (
        day("2026-01-01"),
        day("2026-07-01"),
        [],
    )
    assert made["created_by"] == "test-admin"

    reply = admin.post(f"{BASE}/process", json={"today": "2026-03-15"})

    assert reply.status_code == 200, reply.text
    done = reply.json()
    assert [(e["period"], e["amount"]) for e in done["credited"]] == [
        (0, D("100.00")),
        (1, D("100.00")),
        (2, D("100.00")),
    ]
    assert (done["total_credited"], done["today"], done["errors"]) == (
        D("300.00"),
        day("2026-03-15"),
        [],
    )
    assert '"total_credited":300.00' in reply.text
    assert accounts.get_account("physics").limit_amount == Decimal(300)
    # A replay of the same run credits nothing.
    assert admin.post(f"{BASE}/process", json={"today": "2026-03-15"}).json()["credited"] == []

    shown = admin.get(f"{BASE}/{made['id']}").json()
    assert shown["credited"] == D("300.00")
    assert [c["outcome"] for c in shown["credits"]] == ["credited"] * 3
    assert all(isinstance(c["entry_id"], int) for c in shown["credits"])
    # Without a body, process runs as of the daemon's clock.
    at(clock, date(2026, 4, 1))
    assert [e["period"] for e in admin.post(f"{BASE}/process").json()["credited"]] == [3]


def test_list_filters_and_pause_resume_cancel(admin, accounts, clock):
    first = create(admin).json()
    second = create(admin, account="ml-proj", total=None, instalments=3, unspent="expire").json()
    at(clock, date(2026, 1, 1))
    admin.post(f"{BASE}/process")

    listed, total = rows_and_total(admin.get(BASE))
    assert ([s["id"] for s in listed], total) == ([first["id"], second["id"]], 2)
    assert "credits" not in listed[0]
    only, total = rows_and_total(admin.get(BASE, params={"account": "ml-proj", "status": "active"}))
    assert ([(s["id"], s["unspent"], s["credited"]) for s in only], total) == (
        [(second["id"], "expire", D("100.00"))],
        1,
    )

    at(clock, date(2026, 1, 15))
    paused = admin.post(f"{BASE}/{first['id']}/pause")
    assert paused.status_code == 200, paused.text
    assert paused.json()["status"] == "paused"
    assert admin.get(BASE, params={"status": "paused"}).json()[0]["id"] == first["id"]
    assert_envelope(admin.post(f"{BASE}/{first['id']}/pause"), 409, "conflict", "id")

    at(clock, date(2026, 3, 10))
    resumed = admin.post(f"{BASE}/{first['id']}/resume", json={"catch_up": False}).json()
    assert resumed["status"] == "active"
    assert [c["outcome"] for c in resumed["credits"]] == ["credited", "skipped", "skipped"]
    assert resumed["next_due_date"] == day("2026-04-01")

    cancelled = admin.post(f"{BASE}/{second['id']}/cancel").json()
    assert (cancelled["status"], cancelled["next_due_date"]) == ("cancelled", None)
    assert_envelope(admin.post(f"{BASE}/{second['id']}/resume"), 409, "conflict")
    assert accounts.get_account("physics").limit_amount == Decimal(100)


def test_resume_with_catch_up(admin, accounts, clock):
    made = create(admin).json()
    at(clock, date(2026, 1, 15))
    admin.post(f"{BASE}/{made['id']}/pause")  # credits January (due before the pause) first
    at(clock, date(2026, 3, 10))

    resumed = admin.post(f"{BASE}/{made['id']}/resume", json={"catch_up": True}).json()

    assert [c["outcome"] for c in resumed["credits"]] == ["credited"] * 3
    assert accounts.get_account("physics").limit_amount == Decimal(300)


@pytest.mark.single_admin
def test_one_off_allocation_with_an_idempotency_key(admin, accounts):
    url = "/api/v1/accounts/physics/allocations"
    headers = {"Idempotency-Key": "one-off-1"}

    first = admin.post(url, json={"amount": "250.50", "memo": "startup"}, headers=headers)
    again = admin.post(url, json={"amount": "250.50", "memo": "startup"}, headers=headers)

    assert first.status_code == 201, first.text
    assert (first.json()["amount"], first.json()["limit"]) == (D("250.50"), D("250.50"))
    assert again.status_code == 200
    assert again.json()["replayed"] is True
    assert accounts.get_account("physics").limit_amount == Decimal("250.50")
    (row,) = accounts.journal(account="physics")
    assert (row.kind, row.memo) == ("allocation", "startup")
    assert_envelope(admin.post(url, json={"amount": "0"}), 422, "validation_error", "amount")
    assert_envelope(
        admin.post("/api/v1/accounts/nobody/allocations", json={"amount": "5"}), 404, "not_found"
    )


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"amount": "0"}, "amount"),
        ({"amount": "1.001"}, "amount"),
        ({"frequency": "hourly"}, "frequency"),
        ({"start_date": "yesterday"}, "start_date"),
        ({"total": "50"}, "total"),
        ({"total": None}, "total"),
        ({"total": None, "instalments": 0}, "instalments"),
        ({"total": None, "end_date": "2025-01-01"}, "end_date"),
        ({"end_date": "2026-12-01"}, "end_date"),
        ({"unspent": "hoard"}, "unspent"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_bad_input_is_422_naming_the_field_and_creates_nothing(admin, fields, field):
    reply = create(admin, **fields)

    assert_envelope(reply, 422, "validation_error", field)
    assert rows_and_total(admin.get(BASE)) == ([], 0)


def test_unknown_schedule_and_account(admin):
    assert_envelope(admin.get(f"{BASE}/999"), 404, "not_found", "id")
    assert_envelope(admin.post(f"{BASE}/999/pause"), 404, "not_found", "id")
    assert_envelope(create(admin, account="nobody"), 404, "not_found", "account")
    assert_envelope(admin.get(BASE, params={"status": "sleeping"}), 422, "validation_error")
    assert_envelope(admin.get(BASE, params={"stauts": "active"}), 422, "validation_error")
    assert_envelope(admin.get(f"{BASE}/process"), 405, "method_not_allowed")


def test_readers_and_plugins_cannot_write(live_daemon, admin, accounts):
    made = create(admin).json()
    for role in ("reader", "plugin"):
        with live_daemon.client(role) as other:
            assert_envelope(create(other), 403, "forbidden")
            for action in ("pause", "resume", "cancel"):
                assert_envelope(other.post(f"{BASE}/{made['id']}/{action}"), 403, "forbidden")
            assert_envelope(other.post(f"{BASE}/process"), 403, "forbidden")
            assert_envelope(
                other.post("/api/v1/accounts/physics/allocations", json={"amount": "5"}),
                403,
                "forbidden",
            )
    with live_daemon.client("plugin") as plugin:
        assert_envelope(plugin.get(BASE), 403, "forbidden")
    with live_daemon.client(None) as anonymous:
        assert_envelope(anonymous.get(BASE), 401, "unauthorized")
    with live_daemon.client("reader") as reader:
        assert reader.get(f"{BASE}/{made['id']}").json()["status"] == "active"
    assert accounts.get_account("physics").limit_amount == 0
    assert admin.get(f"{BASE}/{made['id']}").json()["status"] == "active"


def test_a_scoped_reader_sees_only_its_accounts(live_daemon, admin):
    mine = create(admin).json()
    theirs = create(admin, account="ml-proj").json()

    with scoped_reader(live_daemon, "physics-pi", ["physics"]) as reader:
        assert [s["id"] for s in reader.get(BASE).json()] == [mine["id"]]
        assert reader.get(f"{BASE}/{mine['id']}").status_code == 200
        assert_envelope(reader.get(f"{BASE}/{theirs['id']}"), 403, "forbidden")
        reply = reader.get(BASE, params={"account": "ml-proj"})
        assert_envelope(reply, 403, "forbidden", "account")


def test_the_daemon_runs_the_scheduler_in_its_lifespan(db, settings, clock, ledger, ctx):
    from daemon.app import create_app

    clock.now = datetime(2026, 3, 1, 12, tzinfo=UTC)
    ledger.create_account("physics", ctx=ctx)
    every_second = settings.model_copy(
        update={"allocations": AllocationSettings(process_interval_seconds=1)}
    )
    app = create_app(every_second, db=db, clock=clock)
    Allocations(ledger).create_schedule(
        "physics", amount="10", frequency="monthly", start_date=date(2026, 1, 1), instalments=5,
        ctx=ctx,
    )  # fmt: skip
    assert ledger.get_account("physics").limit_amount == 0

    _, stop = serve_in_thread(app)
    try:
        deadline = clock_time.monotonic() + 20
        while ledger.get_account("physics").limit_amount < 30:
            assert clock_time.monotonic() < deadline, "the daemon's scheduler credited nothing"
            clock_time.sleep(0.1)
    finally:
        stop()
    rows = ledger.journal(account="physics")
    assert [(r.actor, r.source, r.amount) for r in rows] == [
        ("scheduler", "scheduler", Decimal("10.00"))
    ] * 3
