"""Grants, grant reports and account statements over real HTTP (uvicorn on loopback)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest

from asbb_core.analytics.reports import GRANT_CSV_COLUMNS, STATEMENT_CSV_COLUMNS
from asbb_core.ledger.verify import verify_ledger
from asbb_core.values.context import Context, Source
from tests.test_reports import documented_columns
from tests.wire import D, day, rows_and_total

NUMBER = "NSF-2312345"
GRANT = {
    "number": NUMBER,
    "total_award": "300000",
    "start_date": "2025-01-01",
    "end_date": "2027-12-31",
    "indirect_rate": "0.30",
    "title": "Cloud bursting for genomics",
    "agency": "NSF",
    "program": "CSSI",
    "pi": "Ada Lovelace",
    "co_pis": ["Grace Hopper"],
    "institution": "State University",
    "department": "Biology",
    "cfda": "47.070",
}


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
def admin(live_daemon, clock):
    clock.now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # inside period 2 (2026)
    with live_daemon.client("admin") as client:
        yield client
    report = verify_ledger(live_daemon.services.db)
    assert report.ok, [str(p) for p in report.problems]


@pytest.fixture
def granted(admin, live_daemon):
    """The grant, accounts 'lab' (linked) and 'other' (not), $2,000 drawn into 'lab'."""
    assert admin.post("/api/v1/grants", json=GRANT).status_code == 201
    for name in ("lab", "other"):
        assert admin.post("/api/v1/accounts", json={"name": name}).status_code == 201
    assert (
        admin.post(f"/api/v1/grants/{NUMBER}/accounts", json={"account": "lab"}).status_code == 201
    )
    reply = admin.post(f"/api/v1/grants/{NUMBER}/fund", json={"account": "lab", "amount": "2000"})
    assert reply.status_code == 201, reply.text
    return admin


def spend(live_daemon, account: str, cost: str, **kw) -> None:
    ledger = live_daemon.services.ledger
    ctx = Context("tests", Source.API)
    hold = ledger.create_hold(account, cost, ctx=ctx, buffer=1, **kw)
    ledger.post_hold(hold.hold_id, cost, ctx=ctx)


# ---------------------------------------------------------------- the requirement


def test_report_over_http_shows_period_2_only(granted, live_daemon):
    spend(live_daemon, "lab", "1000", partition="aws-cpu", user_name="ann")

    def csv_rows(period: int) -> list[dict[str, str]]:
        reply = granted.get(f"/api/v1/grants/{NUMBER}/report?period={period}&format=csv")
        assert reply.status_code == 200, reply.text
        assert reply.headers["content-type"].startswith("text/csv")
        assert reply.headers["content-disposition"] == (
            f'attachment; filename="grant-{NUMBER}-period-{period}.csv"'
        )
        reader = csv.DictReader(io.StringIO(reply.text))
        assert reader.fieldnames == documented_columns("### Grant report CSV columns")
        assert reader.fieldnames == list(GRANT_CSV_COLUMNS)
        return list(reader)

    two = next(r for r in csv_rows(2) if r["section"] == "period")
    assert (two["direct"], two["indirect"], two["total"]) == ("1000.00", "300.00", "1300.00")
    assert two["remaining"] == "98700.00"
    for period in (1, 3):
        row = next(r for r in csv_rows(period) if r["section"] == "period")
        assert (row["direct"], row["indirect"], row["total"]) == ("0.00", "0.00", "0.00")

    data = granted.get(f"/api/v1/grants/{NUMBER}/report").json()  # JSON, current period
    assert data["period"]["number"] == 2
    assert (data["summary"]["direct"], data["summary"]["indirect"], data["summary"]["total"]) == (
        D("1000.00"),
        D("300.00"),
        D("1300.00"),
    )
    assert data["by_partition"] == [
        {"key": "aws-cpu", "direct": D("1000.00"), "indirect": D("300.00"), "total": D("1300.00")}
    ]
    assert data["burn_rate"]["status"] in ("healthy", "concern", "warning", "critical")
    assert data["as_of"] == day("2026-03-02")

    md = granted.get(f"/api/v1/grants/{NUMBER}/report?format=markdown")
    assert md.headers["content-type"].startswith("text/markdown")
    assert "| Total consumed | $1,300.00 (1.3%) |" in md.text

    status = granted.get(f"/api/v1/grants/{NUMBER}/periods/2/status").json()
    assert (status["direct"], status["indirect"], status["consumed"], status["remaining"]) == (
        D("1000.00"),
        D("300.00"),
        D("1300.00"),
        D("98700.00"),
    )
    assert (status["drawn"], status["drawn_cost"], status["state"]) == (
        D("2000.00"),
        D("2600.00"),
        "current",
    )


# ---------------------------------------------------------------- grants


def test_create_show_list_update(admin):
    reply = admin.post("/api/v1/grants", json=GRANT)
    assert reply.status_code == 201, reply.text
    body = reply.json()
    # A rate keeps its four places, money its two; both are JSON numbers.
    assert (str(body["indirect_rate"]), str(body["total_award"])) == ("0.3000", "300000.00")
    assert [(p["number"], p["start_date"], p["budget"]) for p in body["periods"]] == [
        (1, day("2025-01-01"), D("100000.00")),
        (2, day("2026-01-01"), D("100000.00")),
        (3, day("2027-01-01"), D("100000.00")),
    ]
    assert body["created_by"] == "test-admin"
    assert_envelope(admin.post("/api/v1/grants", json=GRANT), 409, "conflict", "number")
    assert admin.get(f"/api/v1/grants/{NUMBER}").json()["pi"] == "Ada Lovelace"
    rows, total = rows_and_total(admin.get("/api/v1/grants"))
    assert ([g["number"] for g in rows], total) == ([NUMBER], 1)
    patched = admin.patch(f"/api/v1/grants/{NUMBER}", json={"title": "Renamed", "status": "closed"})
    assert patched.status_code == 200, patched.text
    assert (patched.json()["title"], patched.json()["status"], patched.json()["agency"]) == (
        "Renamed",
        "closed",
        "NSF",
    )
    assert rows_and_total(admin.get("/api/v1/grants?status=active")) == ([], 0)
    assert_envelope(admin.get("/api/v1/grants/NOPE-1"), 404, "not_found", "grant")
    assert_envelope(admin.get("/api/v1/grants?stauts=x"), 422, "validation_error", "stauts")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"cfda": "47.7"}, "cfda"),
        ({"indirect_rate": "2"}, "indirect_rate"),
        ({"total_award": "0"}, "total_award"),
        ({"end_date": "2024-01-01"}, "end_date"),
        ({"number": "has space"}, "number"),
        ({"period_months": 0}, "period_months"),
        ({"extra": 1}, "extra"),
    ],
)
def test_bad_grants_are_422_naming_the_field(admin, change, field):
    reply = admin.post("/api/v1/grants", json={**GRANT, **change})
    error = assert_envelope(reply, 422, "validation_error")
    assert field in (error["field"] or "") or field in error["message"], error
    assert rows_and_total(admin.get("/api/v1/grants")) == ([], 0)


def test_periods_edit_and_regenerate(admin):
    admin.post("/api/v1/grants", json=GRANT)
    reply = admin.put(f"/api/v1/grants/{NUMBER}/periods/1", json={"budget": "90000"})
    assert reply.status_code == 200, reply.text
    assert reply.json()["periods"][0]["budget"] == D("90000.00")
    assert_envelope(
        admin.put(f"/api/v1/grants/{NUMBER}/periods/2", json={"budget": "110000.01"}),
        422,
        "validation_error",
        "budget",
    )
    assert_envelope(
        admin.put(f"/api/v1/grants/{NUMBER}/periods/2", json={"start_date": "2025-06-01"}),
        422,
        "validation_error",
        "start_date",
    )
    assert_envelope(
        admin.put(f"/api/v1/grants/{NUMBER}/periods/7", json={"budget": "1"}),
        404,
        "not_found",
        "period",
    )
    again = admin.post(f"/api/v1/grants/{NUMBER}/periods/regenerate", json={"period_months": 6})
    assert again.status_code == 200, again.text
    assert len(again.json()["periods"]) == 6
    assert sum(p["budget"] for p in again.json()["periods"]) == Decimal(300000)
    assert all(isinstance(p["budget"], Decimal) for p in again.json()["periods"])


def test_link_fund_and_unlink(granted):
    reply = granted.post(
        f"/api/v1/grants/{NUMBER}/fund",
        json={"account": "lab", "amount": "100", "memo": "more"},
        headers={"Idempotency-Key": "draw-7"},
    )
    assert reply.status_code == 201, reply.text
    draw = reply.json()
    assert (draw["amount"], draw["indirect"], draw["cost"], draw["period"]) == (
        D("100.00"),
        D("30.00"),
        D("130.00"),
        2,
    )
    assert draw["limit"] == D("2100.00")
    replay = granted.post(
        f"/api/v1/grants/{NUMBER}/fund",
        json={"account": "lab", "amount": "100", "memo": "more"},
        headers={"Idempotency-Key": "draw-7"},
    )
    assert replay.status_code == 200
    assert replay.json()["replayed"] is True
    assert replay.json()["entry_id"] == draw["entry_id"]
    assert granted.get("/api/v1/accounts/lab").json()["limit"] == D("2100.00")

    short = granted.post(
        f"/api/v1/grants/{NUMBER}/fund", json={"account": "lab", "amount": "99999"}
    )
    error = assert_envelope(short, 409, "insufficient_funds", "amount")
    # An error's details keep the core's exact strings; the draw's figure is a number.
    assert error["details"]["max_draw"] == draw["drawable"]
    assert_envelope(
        granted.post(f"/api/v1/grants/{NUMBER}/fund", json={"account": "other", "amount": "1"}),
        409,
        "conflict",
        "account",
    )
    assert_envelope(
        granted.post(f"/api/v1/grants/{NUMBER}/fund", json={"account": "lab", "amount": "-5"}),
        422,
        "validation_error",
        "amount",
    )
    # lab drew money: it stays linked
    assert_envelope(
        granted.delete(f"/api/v1/grants/{NUMBER}/accounts/lab"), 409, "conflict", "account"
    )
    assert (
        granted.post(f"/api/v1/grants/{NUMBER}/accounts", json={"account": "other"}).status_code
        == 201
    )
    assert granted.delete(f"/api/v1/grants/{NUMBER}/accounts/other").status_code == 204
    assert_envelope(
        granted.delete(f"/api/v1/grants/{NUMBER}/accounts/other"), 404, "not_found", "account"
    )
    shown = granted.get(f"/api/v1/grants/{NUMBER}").json()
    assert [a["name"] for a in shown["accounts"]] == ["lab"]
    assert shown["periods"][1]["drawn"] == D("2100.00")
    assert shown["drawn"] == D("2100.00")


# ---------------------------------------------------------------- statements


def test_statement_over_http(granted, live_daemon, clock):
    spend(live_daemon, "lab", "40", partition="aws-cpu", user_name="ann")
    data = granted.get("/api/v1/accounts/lab/statement?since=2026-03-01&until=2026-03-31").json()
    cached = granted.get("/api/v1/accounts/lab").json()
    assert data["closing"] == {k: cached[k] for k in ("limit", "used", "held", "available")}
    assert [r["kind"] for r in data["rows"]] == ["allocation", "hold", "charge"]
    assert data["rows"][0]["memo"] == f"grant {NUMBER} period 2"
    reply = granted.get(
        "/api/v1/accounts/lab/statement?since=2026-03-01&until=2026-03-31&format=csv"
    )
    assert reply.headers["content-type"].startswith("text/csv")
    assert "statement-lab-2026-03-01-to-2026-03-31.csv" in reply.headers["content-disposition"]
    reader = csv.DictReader(io.StringIO(reply.text))
    assert reader.fieldnames == list(STATEMENT_CSV_COLUMNS)
    rows = list(reader)
    assert rows[-1]["kind"] == "closing"
    assert rows[-1]["available"] == "1960.00"
    assert_envelope(
        granted.get("/api/v1/accounts/lab/statement?since=2026-03-02&until=2026-03-01"),
        422,
        "validation_error",
        "until",
    )
    assert_envelope(
        granted.get("/api/v1/accounts/lab/statement?since=2026-03-01"),
        422,
        "validation_error",
    )
    assert_envelope(
        granted.get("/api/v1/accounts/ghost/statement?since=2026-03-01&until=2026-03-02"),
        404,
        "not_found",
    )


# ---------------------------------------------------------------- who may do what


def test_readers_read_and_scoped_readers_see_only_their_grants(granted, live_daemon):
    with live_daemon.client("reader") as reader:
        assert reader.get(f"/api/v1/grants/{NUMBER}").status_code == 200
        assert reader.get(f"/api/v1/grants/{NUMBER}/report?format=csv").status_code == 200
        assert_envelope(
            reader.post("/api/v1/grants", json=GRANT | {"number": "X-1"}), 403, "forbidden"
        )
        assert_envelope(
            reader.post(f"/api/v1/grants/{NUMBER}/fund", json={"account": "lab", "amount": "1"}),
            403,
            "forbidden",
        )
    with live_daemon.client("plugin") as plugin:
        assert_envelope(plugin.get("/api/v1/grants"), 403, "forbidden")
    with live_daemon.client(None) as anonymous:
        assert_envelope(anonymous.get("/api/v1/grants"), 401, "unauthorized")

    with client_for(live_daemon, "lab-reader", "reader", accounts=["lab"]) as lab:
        rows, total = rows_and_total(lab.get("/api/v1/grants"))
        assert ([g["number"] for g in rows], total) == ([NUMBER], 1)
        assert lab.get(f"/api/v1/grants/{NUMBER}/periods/2/status").status_code == 200
        assert (
            lab.get("/api/v1/accounts/lab/statement?since=2026-03-01&until=2026-03-02").status_code
            == 200
        )
        assert_envelope(
            lab.get("/api/v1/accounts/other/statement?since=2026-03-01&until=2026-03-02"),
            403,
            "forbidden",
        )
    with client_for(live_daemon, "other-reader", "reader", accounts=["other"]) as other:
        assert rows_and_total(other.get("/api/v1/grants")) == ([], 0)
        for path in ("", "/report", "/report?format=csv", "/periods/2/status"):
            assert_envelope(other.get(f"/api/v1/grants/{NUMBER}{path}"), 403, "forbidden")
