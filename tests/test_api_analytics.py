"""Burn rates, health scores and cost ratios over real HTTP, with reader scoping; and the
original tool's burn-rate routes, its field names beside asbb's."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from asbb_core.access.tokens import Tokens
from asbb_core.ledger import Ledger
from asbb_core.store.models import Grant, GrantAccount, GrantPeriod
from asbb_core.values.context import Context
from tests.conftest import Clock, LiveDaemon

D = Decimal


def money(value: Any) -> Decimal:
    """A JSON amount, a number (or, in the older form, a string)."""
    return Decimal(str(value))


def day(value: Any) -> date:
    """A day on the wire: a date, or its midnight as an RFC 3339 date-time."""
    text = str(value)
    return date.fromisoformat(text[:10])


def is_number(value: Any) -> bool:
    """A JSON number as the tests read it: exact Decimals for fractions (tests/conftest.py)."""
    return isinstance(value, int | Decimal) and not isinstance(value, bool)


@pytest.fixture
def history(ledger: Ledger, clock: Clock, ctx: Context) -> Ledger:
    """'burn': $3,000 for 2026, $100 spent on 1 March and $200 on 30 March; 'hidden': $100."""
    clock.now = datetime(2026, 1, 1, tzinfo=UTC)
    ledger.create_account(
        "burn", ctx=ctx, limit="3000", start_date=date(2026, 1, 1), end_date=date(2026, 12, 31)
    )
    ledger.create_account("hidden", ctx=ctx, limit="100")
    for when, cost, part in (("2026-03-01", "100.00", "aws-cpu"), ("2026-03-30", "200.00", None)):
        clock.now = datetime.fromisoformat(when).replace(hour=9, tzinfo=UTC)
        hold = ledger.create_hold("burn", cost, ctx=ctx, buffer=1, partition=part)
        ledger.post_hold(hold.hold_id, cost, ctx=ctx)
    clock.now = datetime(2026, 3, 30, 18, tzinfo=UTC)
    return ledger


def scoped(live_daemon: LiveDaemon, clock: Clock, accounts: list[str]) -> httpx.Client:
    secret = (
        Tokens(live_daemon.services.db, clock=clock)
        .create("scoped", "reader", accounts=accounts, actor="t")
        .secret
    )
    return httpx.Client(base_url=live_daemon.url, headers={"Authorization": f"Bearer {secret}"})


def add_grant(live_daemon: LiveDaemon, clock: Clock) -> None:
    """G-1: $1,000 for 2026 at 50 % indirect, funding 'burn' (account 1) from 1 January."""

    def add(s):  # type: ignore[no-untyped-def]
        grant = Grant(
            number="G-1",
            total_award=Decimal(1000),
            start_date=date(2026, 1, 1),
            end_date=date(2026, 12, 31),
            indirect_rate=Decimal("0.5"),
            created_by="t",
            created_at=clock.now,
            updated_at=clock.now,
        )
        s.add(grant)
        s.flush()
        s.add(
            GrantPeriod(
                grant_id=grant.id,
                number=1,
                start_date=grant.start_date,
                end_date=grant.end_date,
                budget=Decimal(1000),
            )
        )
        s.add(
            GrantAccount(
                account_id=1,
                grant_id=grant.id,
                linked_by="t",
                linked_at=datetime(2026, 1, 1, tzinfo=UTC),
            )
        )
        s.commit()

    live_daemon.services.db.run(add)


# ---------------------------------------------------------------- asbb's routes


def test_account_burn_rate(live_daemon: LiveDaemon, history: Ledger) -> None:
    with live_daemon.client("reader") as client:
        body = client.get("/api/v1/accounts/burn/burn-rate").json()
    assert body["window"] == "30d"
    assert day(body["until"]) == date(2026, 3, 30)  # the daemon's clock
    assert money(body["spent"]) == D("300.00")
    assert money(body["actual_daily"]) == D("10.00")
    assert money(body["expected_daily"]) == D("8.22")
    assert money(body["variance_percent"]) == D("21.7")
    assert body["health"]["band"] == "healthy"
    assert [(p["key"], money(p["spent"])) for p in body["by_partition"]] == [
        ("aws-cpu", D("100.00")),
        (None, D("200.00")),
    ]
    assert len(body["daily"]) == 30
    first = body["daily"][0]
    assert (day(first["day"]), money(first["actual"]), money(first["expected"])) == (
        date(2026, 3, 1),
        D("100.00"),
        D("8.22"),
    )


def test_burn_rate_status_rolling_and_cumulative_fields(
    live_daemon: LiveDaemon, history: Ledger
) -> None:
    with live_daemon.client("reader") as client:
        body = client.get("/api/v1/accounts/burn/burn-rate").json()
    assert body["burn_rate_status"] == "OVERSPENDING"  # +21.7 %, beyond the original's 20 %
    assert money(body["rolling_7d_daily"]) == D("28.57")  # 200 over 24..30 March
    assert money(body["rolling_30d_daily"]) == D("10.00")
    assert money(body["cumulative_spend"]) == D("300.00")
    expected = D(3000) / 365 * 89  # 1 January .. 30 March
    assert money(body["cumulative_expected"]) == expected.quantize(D("0.01"))
    variance = ((D(300) - expected) / expected * 100).quantize(D("0.1"))
    assert money(body["cumulative_variance_percent"]) == variance == D("-59.0")
    assert body["time_remaining_days"] == 276
    # 2700 left, 276 days at 10.00 to come: 60 short at the end
    assert money(body["projected_balance_at_end"]) == D("-60.00")
    assert money(body["projected_spend_at_end"]) == D("3060.00")
    assert (money(body["projected_overrun"]), money(body["projected_underrun"])) == (D(60), D(0))
    factors = body["health"]["factors"]
    assert [f["factor"] for f in factors] == ["overspend", "runway", "funds"]
    penalties = sum(money(f["penalty"]) for f in factors)
    assert body["health"]["score"] == int((100 - penalties).to_integral_value())
    assert money(factors[0]["value"]) == D("21.7")
    assert all(is_number(f["penalty"]) for f in factors)


def test_windows_today_and_errors(live_daemon: LiveDaemon, history: Ledger) -> None:
    with live_daemon.client("reader") as client:
        week = client.get(
            "/api/v1/accounts/burn/burn-rate", params={"window": "7d", "today": "2026-03-05"}
        ).json()
        assert (day(week["since"]), money(week["spent"])) == (date(2026, 2, 27), D("100.00"))
        assert money(week["rolling_30d_daily"]) == (D(100) / 30).quantize(D("0.01"))
        bad = client.get("/api/v1/accounts/burn/burn-rate", params={"window": "2w"})
        assert bad.status_code == 422
        bad_day = client.get("/api/v1/accounts/burn/burn-rate", params={"today": "yesterday"})
        assert bad_day.status_code == 422
        assert bad_day.json()["error"]["field"] == "today"
        assert client.get("/api/v1/accounts/nobody/burn-rate").status_code == 404


def test_scoped_reader_sees_only_its_accounts(
    live_daemon: LiveDaemon, history: Ledger, clock: Clock
) -> None:
    add_grant(live_daemon, clock)
    with scoped(live_daemon, clock, ["hidden"]) as client:
        assert client.get("/api/v1/accounts/burn/burn-rate").status_code == 403
        assert client.get("/api/v1/accounts/hidden/burn-rate").status_code == 200
        assert client.get("/api/v1/grants/G-1/burn-rate").status_code == 403
        assert client.get("/api/v1/burn-rate/burn").status_code == 403
        assert client.get("/api/v1/burn-rate/grant/G-1").status_code == 403
    with live_daemon.client("reader") as client:
        grant = client.get("/api/v1/grants/G-1/burn-rate").json()
        assert money(grant["spent"]) == D("450.00")  # 300 direct x 1.5
        assert money(grant["cumulative_spend"]) == D("450.00")
        assert grant["accounts"] == ["burn"]
        assert client.get("/api/v1/grants/NOPE/burn-rate").status_code == 404
        chosen = client.get("/api/v1/grants/G-1/burn-rate", params={"period": 1}).json()
        assert chosen["spent"] == grant["spent"]  # G-1 has one period: the current one
        missing = client.get("/api/v1/grants/G-1/burn-rate", params={"period": 2})
        assert missing.status_code == 404
        assert missing.json()["error"]["field"] == "period"
        assert client.get("/api/v1/grants/G-1/burn-rate", params={"period": 0}).status_code == 422


def test_calibration_report(live_daemon: LiveDaemon, ledger: Ledger, ctx: Context) -> None:
    ledger.create_account("lab", ctx=ctx, limit="100")
    hold = ledger.create_hold("lab", "10", ctx=ctx, partition="aws-cpu")
    ledger.post_hold(hold.hold_id, "9", ctx=ctx)
    with live_daemon.client("reader") as client:
        body = client.get("/api/v1/calibration").json()
    assert body["enabled"] is False
    (ratio,) = body["ratios"]
    assert (ratio["account"], ratio["partition"], ratio["jobs"]) == ("lab", "aws-cpu", 1)
    assert (money(ratio["estimated"]), money(ratio["actual"])) == (D("10.00"), D("9.00"))
    assert (money(ratio["ratio"]), money(ratio["factor"])) == (D("0.9"), D(1))


# ---------------------------------------------------------------- the original's routes

ORIGINAL_METRICS = {
    "daily_spend_rate",
    "daily_expected_rate",
    "variance_percentage",
    "rolling_7day_average",
    "rolling_30day_average",
    "cumulative_spend",
    "cumulative_expected",
    "cumulative_variance_pct",
    "budget_health_score",
    "budget_remaining_amount",
    "budget_remaining_percent",
    "time_remaining_days",
}
ORIGINAL_TOP = {
    "account",
    "grant_number",
    "analysis_period",
    "time_range",
    "current_metrics",
    "historical_data",
    "projection",
    "alerts",
    "recommendations",
}


def test_original_account_route_answers_in_both_shapes(
    live_daemon: LiveDaemon, history: Ledger
) -> None:
    with live_daemon.client("reader") as client:
        ours = client.get("/api/v1/accounts/burn/burn-rate").json()
        reply = client.get(
            "/api/v1/burn-rate/burn", params={"period": "30d", "include_projection": "true"}
        )
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert {k: v for k, v in body.items() if k not in ORIGINAL_TOP} == ours
    assert set(body) >= ORIGINAL_TOP
    assert (body["account"], body["grant_number"], body["analysis_period"]) == ("burn", "", "30d")
    span = body["time_range"]
    assert span["days"] == 30
    # RFC 3339 date-times, as Go's time.Time reads them
    start = datetime.fromisoformat(span["start_date"].replace("Z", "+00:00"))
    assert (start.date(), start.utcoffset()) == (date(2026, 3, 1), UTC.utcoffset(None))
    assert day(span["end_date"]) == date(2026, 3, 30)

    metrics = body["current_metrics"]
    assert all(is_number(metrics[k]) for k in ORIGINAL_METRICS), metrics
    assert money(metrics["daily_spend_rate"]) == money(ours["actual_daily"]) == D("10.00")
    assert money(metrics["daily_expected_rate"]) == D("8.22")
    assert money(metrics["variance_percentage"]) == D("21.7")
    assert money(metrics["rolling_7day_average"]) == money(ours["rolling_7d_daily"])
    assert money(metrics["rolling_30day_average"]) == D("10.00")
    assert money(metrics["cumulative_variance_pct"]) == D("-59.0")
    assert metrics["budget_health_score"] == ours["health"]["score"]
    assert metrics["budget_health_status"] == ours["health"]["band"].upper() == "HEALTHY"
    assert money(metrics["budget_remaining_amount"]) == D("2700.00")
    assert money(metrics["budget_remaining_percent"]) == D("90.0")
    assert metrics["time_remaining_days"] == 276
    assert metrics["burn_rate_status"] == "OVERSPENDING"

    points = body["historical_data"]
    assert len(points) == 30
    assert day(points[0]["date"]) == date(2026, 3, 1)
    assert money(points[0]["daily_spend"]) == D("100.00")
    assert money(points[0]["cumulative_spend"]) == D("100.00")
    assert money(points[-1]["cumulative_spend"]) == D("300.00")
    assert money(points[1]["variance_percentage"]) == D("-100.0")  # nothing spent on 2 March
    assert money(points[0]["cumulative_expected"]) == (D(3000) / 365 * 60).quantize(D("0.01"))

    projection = body["projection"]
    assert day(projection["projected_end_date"]) == date(2026, 12, 31)
    # 2700 lasts 270 days at 10.00: to 25 December, 6 days short of the end
    assert day(projection["projected_depletion_date"]) == date(2026, 12, 25)
    # 300 spent + 276 days at 10.00: 3060, 60 past the 3,000
    assert money(projection["projected_final_spend"]) == D("3060.00")
    assert money(projection["projected_overrun"]) == D("60.00")
    assert money(projection["projected_underrun"]) == D("0.00")
    assert (projection["projection_method"], projection["risk_level"]) == ("linear", "LOW")
    assert projection["confidence_level"] == 0  # asbb claims none
    assert body["alerts"] is None
    assert all(isinstance(line, str) for line in body["recommendations"])
    assert any("above the expected rate" in line for line in body["recommendations"])
    assert any("6 days before the end date" in line for line in body["recommendations"])


def test_original_fields_are_never_null_where_go_holds_no_null(
    live_daemon: LiveDaemon, history: Ledger
) -> None:
    """'hidden' has no end date: asbb's expected figures are null, the original's 0."""
    with live_daemon.client("reader") as client:
        body = client.get("/api/v1/burn-rate/hidden", params={"include_projection": "1"}).json()
    assert (body["expected_daily"], body["variance_percent"], body["time_remaining_days"]) == (
        None,
        None,
        None,
    )
    metrics = body["current_metrics"]
    assert all(metrics[k] is not None for k in metrics), metrics
    assert (metrics["daily_expected_rate"], metrics["variance_percentage"]) == (0, 0)
    assert (metrics["time_remaining_days"], metrics["burn_rate_status"]) == (0, "UNKNOWN")
    assert all(v is not None for point in body["historical_data"] for v in point.values())
    assert body["projection"] is None  # nothing to project to without an end date


def test_original_routes_take_its_query_parameters(
    live_daemon: LiveDaemon, history: Ledger, clock: Clock
) -> None:
    add_grant(live_daemon, clock)
    with live_daemon.client("reader") as client:
        plain = client.get("/api/v1/burn-rate/burn").json()
        assert plain["projection"] is None  # only with include_projection
        assert plain["analysis_period"] == plain["window"] == "30d"
        week = client.get("/api/v1/burn-rate/burn", params={"period": "7d"}).json()
        assert (week["window"], week["time_range"]["days"]) == ("7d", 7)
        same = client.get("/api/v1/burn-rate/burn", params={"window": "7d", "period": "7d"})
        assert same.status_code == 200
        for params in ({"window": "7d", "period": "30d"}, {"period": "2w"}):
            bad = client.get("/api/v1/burn-rate/burn", params=params)
            assert bad.status_code == 422, params
            assert bad.json()["error"]["field"] == "period"
        assert client.get("/api/v1/burn-rate/nobody").status_code == 404

        grant = client.get("/api/v1/burn-rate/grant/G-1").json()
        assert (grant["grant_number"], grant["account"]) == ("G-1", "burn")
        assert grant["analysis_period"] == "period"
        assert money(grant["current_metrics"]["cumulative_spend"]) == D("450.00")
        by_number = client.get("/api/v1/burn-rate/grant/G-1", params={"period": "1"}).json()
        assert by_number["spent"] == grant["spent"]
        windowed = client.get("/api/v1/burn-rate/grant/G-1", params={"period": "30d"}).json()
        assert (windowed["window"], windowed["analysis_period"]) == ("30d", "30d")
        for period, status in (("0", 422), ("2", 404), ("2w", 422)):
            reply = client.get("/api/v1/burn-rate/grant/G-1", params={"period": period})
            assert reply.status_code == status, period
            assert reply.json()["error"]["field"] == "period"


def test_original_route_lists_open_alerts_on_request(
    live_daemon: LiveDaemon, history: Ledger, clock: Clock, ctx: Context
) -> None:
    hold = history.create_hold("hidden", "60", ctx=ctx, buffer=1)
    history.post_hold(hold.hold_id, "60", ctx=ctx)  # 60 % of its limit: a usage alert
    opened = live_daemon.services.bank.alerts.evaluate(now=clock.now).opened
    assert opened
    with live_daemon.client("reader") as client:
        body = client.get("/api/v1/burn-rate/hidden", params={"include_alerts": "true"}).json()
        burn = client.get("/api/v1/burn-rate/burn", params={"include_alerts": "true"}).json()
        plain = client.get("/api/v1/burn-rate/hidden").json()
    (alert,) = body["alerts"]
    assert (alert["alert_type"], alert["kind"], alert["status"]) == ("usage", "usage", "open")
    assert (alert["account"], alert["account_id"]) == ("hidden", 2)
    assert alert["id"] in opened
    assert datetime.fromisoformat(alert["triggered_at"].replace("Z", "+00:00")).tzinfo
    # the original's BudgetAlert: details as JSON text, the figures as numbers
    assert isinstance(alert["details"], str)
    assert (money(alert["actual_value"]), money(alert["threshold_value"])) == (D(60), D(50))
    assert alert["acknowledged_by"] == ""
    # 'burn' runs out before its end date: the exhaustion alert, its own only
    assert [(a["alert_type"], a["account"]) for a in burn["alerts"]] == [("exhaustion", "burn")]
    assert plain["alerts"] is None


# ---------------------------------------------------------------- health scores


def test_health_scores_of_every_account(live_daemon: LiveDaemon, history: Ledger) -> None:
    with live_daemon.client("reader") as client:
        reply = client.get("/api/v1/analytics/health-score")
        burn = client.get("/api/v1/accounts/burn/burn-rate").json()
    assert reply.status_code == 200, reply.text
    rows = reply.json()
    assert isinstance(rows, list)
    assert reply.headers["X-Total-Count"] == "2"
    assert [r["account"] for r in rows] == ["burn", "hidden"]
    first, second = rows
    assert first["score"] == first["budget_health_score"] == burn["health"]["score"]
    assert first["band"] == burn["health"]["band"]
    assert first["budget_health_status"] == first["band"].upper()
    assert first["factors"] == burn["health"]["factors"]
    assert (first["burn_rate_status"], first["risk_level"], first["window"]) == (
        "OVERSPENDING",
        "LOW",
        "30d",
    )
    assert day(first["as_of"]) == date(2026, 3, 30)
    assert money(first["available"]) == D("2700.00")
    # 'hidden' has $100 and no end date: nothing spent, no penalty.
    assert (second["score"], second["burn_rate_status"]) == (100, "UNKNOWN")
    assert is_number(first["budget_health_score"])


def test_health_score_parameters_and_scope(
    live_daemon: LiveDaemon, history: Ledger, clock: Clock
) -> None:
    with live_daemon.client("reader") as client:
        one = client.get("/api/v1/analytics/health-score", params={"account": "burn"})
        assert [r["account"] for r in one.json()] == ["burn"]
        page = client.get("/api/v1/analytics/health-score", params={"limit": 1})
        assert [r["account"] for r in page.json()] == ["burn"]
        assert page.headers["X-Total-Count"] == "2"
        assert 'rel="next"' in page.headers["Link"]
        closed = client.get("/api/v1/analytics/health-score", params={"status": "closed"})
        assert (closed.json(), closed.headers["X-Total-Count"]) == ([], "0")
        past = client.get(
            "/api/v1/analytics/health-score",
            params={"account": "burn", "today": "2026-03-05", "window": "7d"},
        ).json()
        assert (day(past[0]["as_of"]), past[0]["window"]) == (date(2026, 3, 5), "7d")
        for params, field in (
            ({"window": "2w"}, "window"),
            ({"today": "soon"}, "today"),
            ({"status": "gone"}, "status"),
        ):
            bad = client.get("/api/v1/analytics/health-score", params=params)
            assert bad.status_code == 422, params
            assert bad.json()["error"]["field"] == field
        assert (
            client.get("/api/v1/analytics/health-score", params={"account": "nobody"}).status_code
            == 404
        )
    with scoped(live_daemon, clock, ["hidden"]) as client:
        seen = client.get("/api/v1/analytics/health-score")
        assert [r["account"] for r in seen.json()] == ["hidden"]
        assert seen.headers["X-Total-Count"] == "1"
        refused = client.get("/api/v1/analytics/health-score", params={"account": "burn"})
        assert refused.status_code == 403
