"""The accounts API over real HTTP: list, create, show, update, close, partition limits,
deposits; roles and reader scope. Every change is checked in the database too."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from asbb_core.access.tokens import Tokens
from asbb_core.ledger.verify import verify_ledger
from tests.wire import D, day, rows_and_total


@pytest.fixture
def admin(live_daemon, ledger):
    with live_daemon.client("admin") as client:
        yield client
    report = verify_ledger(ledger.db)
    assert report.ok, [str(p) for p in report.problems]


@pytest.fixture
def seeded(ledger, ctx):
    """Five accounts with different limits and usage."""
    for name, limit in [
        ("alpha", "100"),
        ("beta", "500"),
        ("bravo", "50"),
        ("charlie", "1000"),
        ("delta", "0"),
    ]:
        ledger.create_account(name, ctx=ctx, limit=limit)
    hold = ledger.create_hold("charlie", "100", ctx=ctx, partition="aws-cpu", buffer="1")
    ledger.post_hold(hold.hold_id, "900", ctx=ctx)  # used 900 -> available 100
    ledger.create_hold("beta", "10", ctx=ctx, buffer="1")  # held 10 -> available 490
    ledger.update_account("delta", ctx=ctx, status="suspended")
    return ledger


def names(reply):
    rows, _ = rows_and_total(reply)
    return [a["name"] for a in rows]


def page_links(reply):
    """The ``Link`` header's pages: rel -> the query of the page it points at."""
    return {rel: dict(httpx.URL(link["url"]).params) for rel, link in reply.links.items()}


def error_of(reply, status, field):
    assert reply.status_code == status, reply.text
    error = reply.json()["error"]
    assert error["field"] == field, error
    return error


def test_list_filters_sorts_and_pages(admin, seeded):
    assert names(admin.get("/api/v1/accounts")) == ["alpha", "beta", "bravo", "charlie", "delta"]
    assert names(admin.get("/api/v1/accounts", params={"q": "b"})) == ["beta", "bravo"]
    assert names(admin.get("/api/v1/accounts", params={"q": "B"})) == ["beta", "bravo"]
    assert names(admin.get("/api/v1/accounts", params={"q": "%"})) == []
    assert names(admin.get("/api/v1/accounts", params={"status": "suspended"})) == ["delta"]
    by_available = admin.get("/api/v1/accounts", params={"sort": "available", "order": "desc"})
    assert names(by_available) == ["beta", "alpha", "charlie", "bravo", "delta"]
    assert names(admin.get("/api/v1/accounts", params={"sort": "used", "order": "desc"}))[0] == (
        "charlie"
    )
    assert names(admin.get("/api/v1/accounts", params={"sort": "limit"})) == [
        "delta",
        "bravo",
        "alpha",
        "beta",
        "charlie",
    ]
    page = admin.get("/api/v1/accounts", params={"limit": 2, "offset": 2})
    rows, total = rows_and_total(page)
    assert ([a["name"] for a in rows], total) == (["bravo", "charlie"], 5)
    # The page's limit and offset are in its links to the other pages.
    assert page_links(page) == {
        "first": {"limit": "2", "offset": "0"},
        "prev": {"limit": "2", "offset": "0"},
        "next": {"limit": "2", "offset": "4"},
        "last": {"limit": "2", "offset": "4"},
    }
    last = admin.get("/api/v1/accounts", params={"limit": 2, "offset": 4})
    rows, total = rows_and_total(last)
    assert ([a["name"] for a in rows], total) == (["delta"], 5)
    assert set(last.links) == {"first", "prev", "last"}
    beyond = admin.get("/api/v1/accounts", params={"limit": 2, "offset": 10})
    assert rows_and_total(beyond) == ([], 5)
    filtered = admin.get("/api/v1/accounts", params={"q": "b", "limit": 1})
    assert rows_and_total(filtered)[1] == 2
    assert set(filtered.links) == {"first", "next", "last"}


def test_account_json_shape(admin, seeded):
    reply = admin.get("/api/v1/accounts", params={"q": "charlie"})
    (charlie,) = reply.json()
    # Money and percents are JSON numbers written exactly: 1000.00, not "1000.00" nor 1000.0.
    assert '"limit":1000.00,' in reply.text
    assert {k: charlie[k] for k in ("limit", "used", "held", "available", "percent_used")} == {
        "limit": D("1000.00"),
        "used": D("900.00"),
        "held": D("0.00"),
        "available": D("100.00"),
        "percent_used": D("90.0"),
    }
    assert [str(charlie[k]) for k in ("limit", "percent_used")] == ["1000.00", "90.0"]
    assert charlie["status"] == "active"
    assert charlie["created_at"] == "2026-03-02T12:00:00Z"
    delta = admin.get("/api/v1/accounts/delta").json()
    assert (delta["percent_used"], delta["status"], delta["limit"]) == (
        D("0.0"),
        "suspended",
        D("0.00"),
    )
    assert (str(delta["percent_used"]), str(delta["limit"])) == ("0.0", "0.00")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 501}, "limit"),
        ({"limit": "x"}, "limit"),
        ({"offset": -1}, "offset"),
        ({"sort": "price"}, "sort"),
        ({"order": "up"}, "order"),
        ({"status": "dormant"}, "status"),
        ({"q": "x" * 65}, "q"),
        ({"stauts": "active"}, "stauts"),
    ],
)
def test_bad_list_parameters_name_the_field(admin, params, field):
    error_of(admin.get("/api/v1/accounts", params=params), 422, field)


@pytest.mark.single_admin
def test_create_then_show(admin, ledger):
    reply = admin.post(
        "/api/v1/accounts",
        json={
            "name": "ML-Proj",
            "description": "Machine learning",
            "limit": "1500.50",
            "start_date": "2026-01-01",
            "end_date": "2026-12-31",
            "partition_limits": {"gpu-aws": 500},
        },
    )
    assert reply.status_code == 201, reply.text
    body = reply.json()
    assert (body["name"], body["limit"], body["available"], body["open_holds"]) == (
        "ml-proj",
        D("1500.50"),
        D("1500.50"),
        0,
    )
    assert (body["start_date"], body["end_date"]) == (day("2026-01-01"), day("2026-12-31"))
    assert body["partition_limits"] == [
        {
            "partition": "gpu-aws",
            "limit": D("500.00"),
            "used": D("0.00"),
            "held": D("0.00"),
            "available": D("500.00"),
            "updated_at": body["partition_limits"][0]["updated_at"],
        }
    ]
    assert str(body["partition_limits"][0]["limit"]) == "500.00"
    shown = admin.get("/api/v1/accounts/ml-proj").json()
    assert shown == body
    account = ledger.get_account("ml-proj")
    assert (account.limit_amount, account.description, str(account.end_date)) == (
        Decimal("1500.50"),
        "Machine learning",
        "2026-12-31",
    )
    (opening,) = ledger.journal(account="ml-proj")
    assert (opening.kind, opening.amount, opening.source, opening.actor) == (
        "deposit",
        Decimal("1500.50"),
        "api",
        "test-admin",
    )
    assert opening.correlation_id == reply.headers["x-request-id"]


def test_duplicate_is_409(admin, ledger):
    assert admin.post("/api/v1/accounts", json={"name": "dup"}).status_code == 201
    error = error_of(admin.post("/api/v1/accounts", json={"name": "DUP", "limit": 5}), 409, "name")
    assert error["code"] == "conflict"
    assert ledger.get_account("dup").limit_amount == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": "bad name!"}, "name"),
        ({"name": "ok", "limit": "-5"}, "limit"),
        ({"name": "ok", "limit": "1.234"}, "limit"),
        ({"name": "ok", "limit": "lots"}, "limit"),
        ({"name": "ok", "limit": True}, "limit"),
        ({"name": "ok", "start_date": "2026-02-30"}, "start_date"),
        ({"name": "ok", "start_date": 0}, "start_date"),
        ({"name": "ok", "start_date": "2026-05-01", "end_date": "2026-04-01"}, "end_date"),
        ({"name": "ok", "partition_limits": {"gpu aws": "5"}}, "partition"),
        ({"name": "ok", "partition_limits": {"gpu-aws": "-1"}}, "partition_limits.gpu-aws"),
        ({"name": "ok", "colour": "red"}, "colour"),
        ({"name": "ok", "description": "x" * 501}, "description"),
    ],
)
def test_bad_create_input_is_422_naming_the_field(admin, ledger, body, field):
    error_of(admin.post("/api/v1/accounts", json=body), 422, field)
    assert ledger.list_accounts() == []


def test_show_unknown_and_bad_names(admin):
    error_of(admin.get("/api/v1/accounts/ghost"), 404, "name")
    error_of(admin.get("/api/v1/accounts/bad!name"), 422, "name")


@pytest.mark.single_admin
def test_update_details_status_and_limit(admin, ledger, ctx):
    ledger.create_account("proj", ctx=ctx, limit="100")
    reply = admin.patch(
        "/api/v1/accounts/proj",
        json={"description": "renamed", "status": "suspended", "end_date": "2026-12-31"},
    )
    assert reply.status_code == 200, reply.text
    assert (reply.json()["description"], reply.json()["status"]) == ("renamed", "suspended")
    account = ledger.get_account("proj")
    assert (account.description, account.status, str(account.end_date)) == (
        "renamed",
        "suspended",
        "2026-12-31",
    )

    error_of(admin.patch("/api/v1/accounts/proj", json={"limit": "250"}), 422, "reason")
    assert ledger.get_account("proj").limit_amount == Decimal("100")
    reply = admin.patch(
        "/api/v1/accounts/proj",
        json={"limit": "250", "reason": "grant renewal", "status": "active"},
    )
    assert reply.status_code == 200, reply.text
    assert (reply.json()["limit"], reply.json()["status"]) == (D("250.00"), "active")
    assert reply.json()["end_date"] == day("2026-12-31")
    newest = ledger.journal(account="proj")[0]
    assert (newest.kind, newest.limit_delta, newest.memo) == (
        "adjustment",
        Decimal("150"),
        "grant renewal",
    )
    # The same limit again needs no reason and moves nothing.
    same = admin.patch("/api/v1/accounts/proj", json={"limit": "250.00"})
    assert same.status_code == 200, same.text
    assert len(ledger.journal(account="proj")) == 2


@pytest.mark.single_admin
def test_update_is_one_transaction(admin, ledger, ctx):
    ledger.create_account("proj", ctx=ctx, limit="100")
    ledger.create_hold("proj", "50", ctx=ctx, buffer="1")
    # The limit is valid, the status is not (open holds): neither is applied.
    reply = admin.patch(
        "/api/v1/accounts/proj", json={"limit": "300", "reason": "more", "status": "closed"}
    )
    error_of(reply, 409, "status")
    account = ledger.get_account("proj")
    assert (account.limit_amount, account.status) == (Decimal("100"), "active")
    error_of(
        admin.patch("/api/v1/accounts/proj", json={"limit": "10", "reason": "cut"}), 409, "limit"
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"status": "frozen"}, "status"),
        ({"limit": "1.001", "reason": "x"}, "limit"),
        ({"start_date": None}, "start_date"),
        ({"start_date": "2027-01-01", "end_date": "2026-01-01"}, "end_date"),
        ({"size": 3}, "size"),
    ],
)
def test_bad_update_input(admin, ledger, ctx, body, field):
    ledger.create_account("proj", ctx=ctx, limit="100")
    error_of(admin.patch("/api/v1/accounts/proj", json=body), 422, field)


def test_update_clears_both_dates(admin, ledger, ctx):
    from datetime import date

    ledger.create_account("proj", ctx=ctx, start_date=date(2026, 1, 1), end_date=date(2026, 6, 1))
    reply = admin.patch("/api/v1/accounts/proj", json={"start_date": None, "end_date": None})
    assert ledger.get_account("proj").start_date is None
    # Without a start date the account has been open since it was made: the day it answers.
    made = ledger.get_account("proj").created_at.date()
    assert (reply.json()["start_date"], reply.json()["end_date"]) == (f"{made}T00:00:00Z", None)


def test_close_is_refused_with_open_holds(admin, ledger, ctx):
    ledger.create_account("proj", ctx=ctx, limit="100")
    hold = ledger.create_hold("proj", "10", ctx=ctx)
    error = error_of(admin.post("/api/v1/accounts/proj/close"), 409, "status")
    assert error["details"] == {"open_holds": 1}
    assert admin.get("/api/v1/accounts/proj").json()["open_holds"] == 1
    ledger.void_hold(hold.hold_id, ctx=ctx)
    reply = admin.post("/api/v1/accounts/proj/close")
    assert (reply.status_code, reply.json()["status"]) == (200, "closed")
    assert ledger.get_account("proj").status == "closed"
    error_of(admin.patch("/api/v1/accounts/proj", json={"status": "active"}), 409, "status")
    error_of(admin.post("/api/v1/accounts/ghost/close"), 404, "account")


def gpu_check(client, account="proj"):
    body = {"account": account, "partition": "gpu-aws", "gpus": 1, "wall_time": "1:00:00"}
    reply = client.post("/api/v1/budget/check", json=body)
    assert reply.status_code == 200, reply.text
    return reply.json()


def test_partition_limit_set_and_remove_steer_the_budget_check(live_daemon, admin, ledger, ctx):
    ledger.create_account("proj", ctx=ctx, limit="100")
    assert admin.get("/api/v1/accounts/proj/partition-limits").json() == []
    reply = admin.put("/api/v1/accounts/proj/partition-limits/gpu-aws", json={"limit": "3.00"})
    assert reply.status_code == 200, reply.text
    assert (reply.json()["limit"], reply.json()["available"]) == (D("3.00"), D("3.00"))
    (cap,) = ledger.partition_limits("proj")
    assert (cap.partition, cap.limit_amount) == ("gpu-aws", Decimal("3.00"))
    with live_daemon.client("plugin") as plugin:
        # $3.06 a GPU-hour + $0.05 a CPU-hour = $3.11; held x 1.2 = $3.73 > the $3.00 cap.
        refused = gpu_check(plugin)
        assert refused["available"] is False
        assert (refused["hold_amount"], refused["budget_remaining"]) == (D("3.73"), D("3.00"))
        assert (refused["details"]["reason"], refused["details"]["limit"]) == (
            "insufficient_funds",
            "partition",
        )
        raised = admin.put("/api/v1/accounts/proj/partition-limits/gpu-aws", json={"limit": 4})
        assert raised.json()["limit"] == D("4.00")
        assert str(raised.json()["limit"]) == "4.00"
        accepted = gpu_check(plugin)
        assert (accepted["available"], accepted["hold_amount"]) == (True, D("3.73"))
        listed = admin.get("/api/v1/accounts/proj/partition-limits").json()
        assert [(c["partition"], c["held"], c["available"]) for c in listed] == [
            ("gpu-aws", D("3.73"), D("0.27"))
        ]
        assert gpu_check(plugin)["available"] is False
        removed = admin.delete("/api/v1/accounts/proj/partition-limits/gpu-aws")
        assert removed.status_code == 204
        assert ledger.partition_limits("proj") == []
        assert gpu_check(plugin)["available"] is True
    assert ledger.get_account("proj").held_amount == Decimal("7.46")
    error_of(admin.delete("/api/v1/accounts/proj/partition-limits/gpu-aws"), 404, "partition")
    error_of(
        admin.put("/api/v1/accounts/proj/partition-limits/gpu-aws", json={"limit": "-1"}),
        422,
        "limit",
    )
    error_of(
        admin.put("/api/v1/accounts/proj/partition-limits/bad%20part", json={"limit": "1"}),
        422,
        "partition",
    )
    error_of(admin.put("/api/v1/accounts/proj/partition-limits/gpu-aws", json={}), 422, "limit")


@pytest.mark.single_admin
def test_deposit_is_idempotent_by_key(admin, ledger, ctx):
    ledger.create_account("proj", ctx=ctx, limit="100")
    headers = {"Idempotency-Key": "dep-1"}
    body = {"amount": "25.50", "memo": "top-up"}
    first = admin.post("/api/v1/accounts/proj/deposits", json=body, headers=headers)
    assert first.status_code == 201, first.text
    assert (first.json()["limit"], first.json()["available"], first.json()["replayed"]) == (
        D("125.50"),
        D("125.50"),
        False,
    )
    assert first.json()["amount"] == D("25.50")
    again = admin.post("/api/v1/accounts/proj/deposits", json=body, headers=headers)
    assert again.status_code == 200
    assert (again.json()["limit"], again.json()["replayed"]) == (D("125.50"), True)
    assert again.json()["entry_ids"] == first.json()["entry_ids"]
    assert ledger.get_account("proj").limit_amount == Decimal("125.50")
    deposits = [e for e in ledger.journal(account="proj") if e.memo == "top-up"]
    assert len(deposits) == 1
    assert deposits[0].idempotency_key == "client:dep-1"  # the caller's namespace
    other = admin.post(
        "/api/v1/accounts/proj/deposits", json={"amount": "1"}, headers=headers
    ).json()
    assert other["error"]["code"] == "idempotency_conflict"
    unkeyed = admin.post("/api/v1/accounts/proj/deposits", json=body)
    assert unkeyed.status_code == 201
    assert ledger.get_account("proj").limit_amount == Decimal("151.00")


@pytest.mark.parametrize(
    ("body", "field"),
    [({"amount": "0"}, "amount"), ({"amount": 1.005}, "amount"), ({}, "amount")],
)
def test_bad_deposit(admin, ledger, ctx, body, field):
    ledger.create_account("proj", ctx=ctx, limit="100")
    error_of(admin.post("/api/v1/accounts/proj/deposits", json=body), 422, field)
    assert ledger.get_account("proj").limit_amount == Decimal("100")


def test_deposit_to_a_closed_or_unknown_account(admin, ledger, ctx):
    ledger.create_account("proj", ctx=ctx)
    ledger.update_account("proj", ctx=ctx, status="closed")
    error_of(admin.post("/api/v1/accounts/proj/deposits", json={"amount": "1"}), 409, "account")
    error_of(admin.post("/api/v1/accounts/ghost/deposits", json={"amount": "1"}), 404, "account")


def test_plugin_and_reader_cannot_write(live_daemon, ledger, ctx):
    ledger.create_account("proj", ctx=ctx, limit="100")
    writes = [
        ("POST", "/api/v1/accounts", {"name": "new"}),
        ("PATCH", "/api/v1/accounts/proj", {"description": "x"}),
        ("POST", "/api/v1/accounts/proj/close", None),
        ("PUT", "/api/v1/accounts/proj/partition-limits/gpu-aws", {"limit": "1"}),
        ("DELETE", "/api/v1/accounts/proj/partition-limits/gpu-aws", None),
        ("POST", "/api/v1/accounts/proj/deposits", {"amount": "1"}),
    ]
    for role in ("plugin", "reader"):
        with live_daemon.client(role) as client:
            for method, path, body in writes:
                reply = client.request(method, path, json=body)
                assert reply.status_code == 403, (role, method, path, reply.text)
                assert reply.json()["error"]["code"] == "forbidden"
            expected = 200 if role == "reader" else 403  # plugin tokens do not read
            assert client.get("/api/v1/accounts").status_code == expected
    with live_daemon.client(None) as anonymous:
        assert anonymous.get("/api/v1/accounts").status_code == 401
        assert anonymous.post("/api/v1/accounts", json={"name": "x"}).status_code == 401
    account = ledger.get_account("proj")
    assert (account.limit_amount, account.description) == (Decimal("100"), "")
    assert [a.name for a in ledger.list_accounts()] == ["proj"]


def test_reader_limited_to_accounts_sees_only_those(live_daemon, ledger, ctx, db, clock):
    for name in ("alpha", "beta", "gamma"):
        ledger.create_account(name, ctx=ctx, limit="10")
    live_daemon.tokens["scoped"] = (
        Tokens(db, clock=clock)
        .create("scoped", "reader", actor="tests", accounts=["alpha", "gamma"])
        .secret
    )
    with live_daemon.client("scoped") as reader:
        rows, total = rows_and_total(reader.get("/api/v1/accounts"))
        assert ([a["name"] for a in rows], total) == (["alpha", "gamma"], 2)
        assert rows_and_total(reader.get("/api/v1/accounts", params={"q": "b"})) == ([], 0)
        assert reader.get("/api/v1/accounts/alpha").status_code == 200
        error_of(reader.get("/api/v1/accounts/beta"), 403, "account")
        error_of(reader.get("/api/v1/accounts/beta/partition-limits"), 403, "account")
        # An account that does not exist is no more visible than one that does.
        error_of(reader.get("/api/v1/accounts/ghost"), 403, "account")
    with live_daemon.client("reader") as unscoped:
        assert rows_and_total(unscoped.get("/api/v1/accounts"))[1] == 3


def test_tokenless_localhost_plugin_may_not_use_the_rest_api(db, settings, clock, ledger, ctx):
    import httpx

    from daemon.app import create_app
    from tests.conftest import serve_in_thread

    ledger.create_account("proj", ctx=ctx, limit="10")
    allowed = settings.model_copy(
        update={"daemon": settings.daemon.model_copy(update={"allow_local_plugin": True})}
    )
    url, stop = serve_in_thread(create_app(allowed, db=db, clock=clock))
    try:
        check = {"account": "proj", "partition": "aws-cpu", "wall_time": 60}
        assert httpx.post(f"{url}/api/v1/budget/check", json=check).json()["available"] is True
        for method, path in [
            ("GET", "/api/v1/accounts"),
            ("GET", "/api/v1/accounts/proj"),
            ("POST", "/api/v1/accounts/proj/close"),
            ("GET", "/api/v1/transactions"),
            ("GET", "/api/v1/holds"),
            ("GET", "/api/v1/usage/summary"),
        ]:
            reply = httpx.request(method, f"{url}{path}")
            # It acts as the plugin, which only checks, reconciles and ingests.
            assert reply.status_code == 403, (method, path, reply.text)
    finally:
        stop()
    assert ledger.get_account("proj").status == "active"


def test_an_account_fed_by_a_schedule_shows_its_instalments(admin, ledger, ctx, clock):
    """The original's has_incremental_budget, total_allocated and next_allocation_date, from
    the account's allocation schedules, in the list and in the detail alike."""
    from datetime import UTC, date, datetime

    from asbb_core.funding.allocations import Allocations

    ledger.create_account("fed", ctx=ctx, limit="0")
    ledger.create_account("plain", ctx=ctx, limit="10")
    allocations = Allocations(ledger)
    schedule = allocations.create_schedule(
        "fed", amount="100", frequency="monthly", start_date=date(2026, 4, 1), instalments=3,
        ctx=ctx,
    )  # fmt: skip

    def shown(name: str) -> tuple[object, ...]:
        listed = {a["name"]: a for a in admin.get("/api/v1/accounts").json()}[name]
        detail = admin.get(f"/api/v1/accounts/{name}").json()
        fields = ("has_incremental_budget", "total_allocated", "next_allocation_date")
        assert [listed[f] for f in fields] == [detail[f] for f in fields]
        return tuple(detail[f] for f in fields)

    assert shown("plain") == (False, D("0.00"), None)
    assert shown("fed") == (True, D("0.00"), day("2026-04-01"))
    clock.now = datetime(2026, 5, 2, 12, tzinfo=UTC)
    allocations.process_due(ctx=ctx)  # April's and May's instalments
    assert shown("fed") == (True, D("200.00"), day("2026-06-01"))
    allocations.cancel(schedule.id, ctx=ctx)
    assert shown("fed") == (False, D("200.00"), None)  # what it was given stays counted
