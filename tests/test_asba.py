"""The advisor's view of asbb over real HTTP, on SQLite and PostgreSQL: risk levels and urgency
in the advisor's words, job decisions only LOCAL, AWS or EITHER (a wait for an instalment is
``defer_until`` and an option, never a fourth word), and the alternative options, budget
guidance and emergency advice computed from the ledger. Money is compared as Decimal and days
by parsing, so the checks hold whichever JSON form the wire gives them."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from asbb_core.alerts.conditions import AlertService
from asbb_core.funding.allocations import Allocations
from asbb_core.funding.grants import Grants
from asbb_core.ledger.verify import verify_ledger

ADVISOR_RISKS = {"low", "medium", "high"}
DECISIONS = {"LOCAL", "AWS", "EITHER"}


def money(value: object) -> Decimal:
    return Decimal(str(value))


def day(value: object) -> date:
    """A day from "2026-04-01" or "2026-04-01T00:00:00Z"."""
    text = str(value)
    return (
        date.fromisoformat(text[:10])
        if len(text) <= 10
        else datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    )


@pytest.fixture
def bank(ledger, ctx):
    """alpha: 1000 drawn from grant NSF-1 (PI Ada Lovelace, 50 % indirect, two periods),
    ends 2026-06-09; beta: 50, 100 a month from 2026-04-01 (3 instalments, so its money's end
    is 2026-06-30); gamma: 50, no end date, no schedule. The clock reads 2026-03-02 12:00 UTC."""
    grants = Grants(ledger)
    grants.create_grant(
        "NSF-1",
        total_award="4000",
        start_date="2026-01-01",
        end_date="2027-12-31",
        indirect_rate="0.5",
        period_months=12,
        pi="Ada Lovelace",
        institution="Example University",
        ctx=ctx,
    )
    ledger.create_account("alpha", ctx=ctx, limit="0", end_date=date(2026, 6, 9))
    grants.link_account("NSF-1", "alpha", ctx=ctx)
    grants.fund_account("NSF-1", "alpha", "1000", ctx=ctx)
    ledger.create_account("beta", ctx=ctx, limit="50")
    ledger.create_account("gamma", ctx=ctx, limit="50")
    Allocations(ledger).create_schedule(
        "beta",
        amount="100",
        frequency="monthly",
        start_date=date(2026, 4, 1),
        instalments=3,
        ctx=ctx,
    )
    return ledger


@pytest.fixture
def plugin(live_daemon, ledger):
    with live_daemon.client("plugin") as client:
        yield client
    report = verify_ledger(ledger.db)
    assert report.ok, [str(p) for p in report.problems]


@pytest.fixture
def reader(live_daemon):
    with live_daemon.client("reader") as client:
        yield client


def ok(reply) -> dict:
    assert reply.status_code == 200, reply.text
    return reply.json()


def spend(plugin, account: str, job: str, cpus: int, hours: int, actual: str) -> None:
    """A job through the plugin's path: a budget check (cpus x hours x 0.05), then its cost."""
    checked = ok(
        plugin.post(
            "/api/v1/budget/check",
            json={
                "account": account,
                "partition": "aws-cpu",
                "cpus": cpus,
                "wall_time": f"{hours:02d}:00:00",
                "job_id": job,
            },
        )
    )
    assert checked["available"], checked
    ok(
        plugin.post(
            "/api/v1/budget/reconcile",
            json={
                "job_id": job,
                "transaction_id": checked["transaction_id"],
                "actual_cost": actual,
            },
        )
    )


def test_risk_levels_are_the_advisors_low_medium_high(bank, plugin, reader, clock):
    fresh = ok(reader.post("/api/v1/asba/budget-status", json={"account": "beta"}))
    assert fresh["risk_level"] in ADVISOR_RISKS
    assert fresh["health_status"] == "HEALTHY"
    assert fresh["risk_level"] == "low"
    # Spend all of beta's 50: the health band turns critical; the advisor has no "critical"
    # risk, so it reads "high" (the band keeps the fourth level).
    spend(plugin, "beta", "901", cpus=100, hours=8, actual="50")
    clock.advance(timedelta(days=1))
    empty = ok(reader.post("/api/v1/asba/budget-status", json={"account": "beta"}))
    assert money(empty["budget_available"]) == 0
    assert (empty["health_status"], empty["risk_level"]) == ("CRITICAL", "high")
    assert empty["decision"] == empty["recommended_decision"] == "EMERGENCY_ONLY"
    refused = ok(
        reader.post(
            "/api/v1/asba/affordability-check", json={"account": "beta", "estimated_cost": 5}
        )
    )
    assert refused["budget_risk"] == "CRITICAL"  # the original tool's four levels, upper case
    assert refused["risk_assessment"]["budget_risk"] == "high"
    assert refused["risk_level"] == "high"
    assert {refused["risk_assessment"][k] for k in ("overall_risk", "deadline_risk")} <= (
        ADVISOR_RISKS
    )
    # of nothing available, the job takes all of it
    assert money(refused["budget_impact"]["cost_as_percent_of_remaining"]) == 100


def test_open_ended_accounts_count_days_by_their_money(bank, plugin, reader, clock):
    """Without an end date the advisor still gets a number of days: how long the money lasts
    at the current burn rate (3660 while nothing is spent)."""
    idle = ok(reader.post("/api/v1/asba/budget-status", json={"account": "gamma"}))
    assert idle["grant_end_date"] is None
    assert idle["days_remaining"] == idle["grant_days_remaining"] == 3660
    assert money(idle["burn_rate_variance"]) == 0  # no plan to compare with
    assert money(idle["expected_daily_rate"]) == 0
    spend(plugin, "gamma", "902", cpus=100, hours=4, actual="20")  # 20 of 50 on the first day
    clock.advance(timedelta(days=1))
    burning = ok(reader.post("/api/v1/asba/budget-status", json={"account": "gamma"}))
    assert money(burning["burn_rate"]) == 10  # 20 over the account's two days
    runs_out = day(burning["projected_depletion_date"])
    assert burning["grant_days_remaining"] == (runs_out - date(2026, 3, 3)).days
    assert burning["grant_days_remaining"] < 3660
    timeline = ok(reader.post("/api/v1/asba/grant-timeline", json={"account": "gamma"}))
    assert timeline["end_date"] is None
    assert day(timeline["grant_end_date"]) == date(2026, 3, 3) + timedelta(
        days=timeline["days_remaining"]
    )
    assert timeline["days_remaining"] == burning["grant_days_remaining"]


def test_a_refused_job_is_local_with_the_day_waiting_would_do(bank, reader, clock):
    """asbb used to answer DEFER; the advisor only acts on LOCAL, AWS and EITHER, so the answer
    is LOCAL, the instalment's day is ``defer_until`` and waiting is one of the options."""
    refused = ok(
        reader.post(
            "/api/v1/asba/affordability-check", json={"account": "beta", "estimated_cost": 80}
        )
    )  # 96 would be held; 50 is available; 100 arrives on 2026-04-01
    assert (refused["affordable"], refused["recommended_decision"]) == (False, "LOCAL")
    assert day(refused["defer_until"]) == date(2026, 4, 1)
    options = {o["strategy"]: o for o in refused["alternative_options"]}
    assert refused["alternative_options"][0]["strategy"] == "local"
    assert set(options) == {"local", "aws_now", "wait_for_allocation"}
    assert money(options["local"]["cost"]) == 0
    assert money(options["local"]["score"]) == 1
    assert money(options["aws_now"]["score"]) == 0  # a budget check would refuse it
    wait = options["wait_for_allocation"]
    assert money(wait["cost"]) == money(wait["estimated_cost"]) == 80
    assert "2026-04-01" in wait["timeline"]
    # from 2026-03-02 12:00 to 2026-04-01 00:00
    assert wait["estimated_time"] == int(timedelta(days=29, hours=12).total_seconds() // 60)
    assert money(wait["score"]) == money(wait["recommendation_score"]) == 1
    assert (wait["option"], options["local"]["option"]) == ("AWS_ONDEMAND", "LOCAL")
    assert any("2026-04-01" in r for r in refused["reasoning"])

    # With a deadline before the instalment, waiting is no way at all.
    rushed = ok(
        reader.post(
            "/api/v1/asba/burst-decision",
            json={
                "account": "beta",
                "estimated_cost": 80,
                "estimated_local_time": 600,
                "job_deadline": (clock() + timedelta(hours=3)).isoformat(),
            },
        )
    )
    assert (rushed["recommended_action"], rushed["defer_until"]) == ("LOCAL", None)
    waiting = next(o for o in rushed["alternatives"] if o["strategy"] == "wait_for_allocation")
    assert (waiting["risk"], money(waiting["score"])) == ("CRITICAL", 0)
    for answer in (refused, rushed):
        assert answer.get("recommended_decision", answer.get("recommended_action")) in DECISIONS


def test_an_affordable_job_gets_its_options_impact_and_factors(bank, reader, clock):
    answer = ok(
        reader.post(
            "/api/v1/asba/burst-decision",
            json={
                "account": "alpha",
                "estimated_aws_cost": "20",
                "estimated_local_time": 600,
                "job_deadline": (clock() + timedelta(hours=20)).isoformat(),
            },
        )
    )
    # 600 local minutes of 1200 left: LOW deadline risk; 2 % of 1000: LOW budget risk
    assert (answer["recommended_action"], answer["urgency_level"]) == ("EITHER", "LOW")
    assert money(answer["timeline_pressure"]) == Decimal("0.5")
    assert money(answer["cost_efficiency"]) == 2  # 20 for 10 local hours spared
    assert money(answer["budget_impact"]) == 2
    assert money(answer["affordability_score"]) == Decimal("0.98")
    weights = {f["factor"]: money(f["weight"]) for f in answer["decision_factors"]}
    assert sum(weights.values()) == 1
    assert all(0 <= money(f["value"]) <= 1 for f in answer["decision_factors"])
    assert {o["strategy"] for o in answer["alternatives"]} == {"aws_now", "local"}
    assert all(money(o["score"]) == 1 for o in answer["alternatives"])
    assert answer["immediate_actions"]
    assert isinstance(answer["longterm_suggestions"], list)
    # the plan spreads all 1000 over the budget's life: all of it is to be kept
    assert money(answer["budget_preservation"]) == 1000

    check = ok(
        reader.post(
            "/api/v1/asba/affordability-check", json={"account": "alpha", "estimated_cost": 20}
        )
    )
    impact = check["budget_impact"]
    assert money(impact["cost_as_percent_of_budget"]) == 2
    assert money(impact["cost_as_percent_of_remaining"]) == 2
    assert money(impact["budget_after_cost"]) == 980
    # at a burn of 0 the money would be left at the end anyway: nothing is displaced
    assert money(impact["opportunity_cost"]) == 0
    assert check["time_to_deadline"] == 0  # no deadline given
    assert set(check["decision_factors"]) == set(weights)
    # without an end date every dollar spent is one later work lacks
    open_ended = ok(
        reader.post(
            "/api/v1/asba/affordability-check", json={"account": "gamma", "estimated_cost": 10}
        )
    )
    assert money(open_ended["budget_impact"]["opportunity_cost"]) == 10


def test_the_timeline_gives_guidance_and_emergency_advice(bank, plugin, reader, ledger):
    spend(plugin, "alpha", "903", cpus=100, hours=10, actual="40")  # 60 of the period's cost
    grant = ok(
        reader.post(
            "/api/v1/asba/grant-timeline",
            json={"account": "alpha", "look_ahead_days": 90, "include_alerts": True},
        )
    )
    assert grant["account"] == "alpha"
    assert grant["current_period"] == "period 1 of 2: 2026-01-01 to 2026-12-31"
    assert grant["current_period_number"] == 1
    guidance = grant["budget_guidance"]
    assert guidance["recommended_strategy"] == grant["bursting_recommendation"].lower()
    # the projected balance 90 days on: what bursting may take without running short
    assert money(guidance["max_recommended_spend"]) == money(
        grant["budget_timeline"][-1]["remaining_budget"]
    )
    assert guidance["conservation_advice"]
    assert isinstance(guidance["optimization_suggestions"], list)
    advice = grant["emergency_burst_advice"]
    # period 1: 2000 total cost at 50 % indirect is 1333.33 direct, 1000 drawn
    assert advice["emergency_funds_available"] is True
    assert "`asbb grant fund NSF-1 alpha AMOUNT`" in advice["emergency_procedure"]
    assert "333.33" in advice["emergency_procedure"]
    assert "Ada Lovelace" in advice["contact_info"]
    available = ledger.get_account("alpha").available
    # the largest estimate a budget check accepts: available / 1.2, to the cent below
    assert money(advice["emergency_threshold"]) == (available / Decimal("1.2")).quantize(
        Decimal("0.01"), rounding="ROUND_FLOOR"
    )
    options = {o["option"]: o for o in grant["emergency_options"]}
    assert money(options["REALLOCATE"]["estimated_cost"]) == Decimal("333.33")
    assert options["EMERGENCY_FUND"]["estimated_cost"] is None
    # nothing arrives for alpha: next_allocation says so, dated at the look-ahead's end
    nothing = grant["next_allocation"]
    assert (nothing["type"], money(nothing["amount"])) == ("NONE", 0)
    assert day(nothing["date"]) == date(2026, 3, 2) + timedelta(days=90)
    assert grant["allocation_schedule"] == []
    point = grant["budget_timeline"][0]
    assert money(point["cumulative_spend"]) == 60 + 7 * money(grant["daily_burn_rate"])
    assert point["burn_rate_status"] in {"OVERSPENDING", "UNDERSPENDING", "ON_TRACK", "UNKNOWN"}

    own = ok(reader.post("/api/v1/asba/grant-timeline", json={"account": "beta"}))
    coming = own["next_allocation"]
    assert (coming["type"], money(coming["amount"]), day(coming["date"])) == (
        "AUTOMATIC",
        100,
        date(2026, 4, 1),
    )
    assert coming["source"] == "allocation schedule"
    assert own["emergency_burst_advice"]["emergency_funds_available"] is False
    assert "asbb adjust request credit beta" in own["emergency_burst_advice"]["emergency_procedure"]
    assert list({o["option"] for o in own["emergency_options"]}) == ["EMERGENCY_FUND"]
    assert own["current_period_number"] is None
    assert "the account's own budget" in own["current_period"]


def test_deadline_urgency_is_the_advisors_word(bank, reader):
    found = ok(
        reader.post(
            "/api/v1/asba/grant-timeline", json={"account": "alpha", "look_ahead_days": 365}
        )
    )
    deadlines = found["upcoming_deadlines"]
    assert deadlines, found
    for d in deadlines:
        assert d["urgency"] == d["severity"].lower()
        assert d["urgency"] in {"low", "medium", "high", "critical"}
        assert d["days_until"] == d["days_from_now"]
        assert d["name"] == d["description"]
        assert isinstance(d["recommendations"], list)


def test_alerts_carry_the_original_tools_figures(bank, plugin, reader, ledger, clock):
    spend(plugin, "alpha", "904", cpus=100, hours=100, actual="600")  # 60 % of 1000
    AlertService(ledger.db, ledger.settings, clock).evaluate()
    status = ok(reader.post("/api/v1/asba/budget-status", json={"account": "alpha"}))
    usage = next(a for a in status["active_alerts"] if a["alert_type"] == "usage")
    assert usage["kind"] == "usage"
    assert (money(usage["threshold_value"]), money(usage["actual_value"])) == (50, 60)
    assert usage["account_id"] == ledger.get_account("alpha").id
    assert json.loads(usage["details"])["threshold"] == 50
    assert usage["triggered_at"] == usage["opened_at"]
