"""``asbb burn-rate`` and ``asbb calibration`` on a real database."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from typer.testing import CliRunner

from asbb_core.analytics.burnrate import account_burn_rate, account_forecast
from asbb_core.analytics.views import BurnRateView, CalibrationView
from asbb_core.funding.allocations import Allocations
from asbb_core.funding.grants import Grants
from asbb_core.ledger import Ledger
from asbb_core.settings import Settings
from asbb_core.values.context import Context
from asbb_tui.cli import app
from tests.conftest import Clock

runner = CliRunner()


def exact(text: str) -> Any:
    """--json output with its numbers read exactly."""
    return json.loads(text, parse_float=Decimal)


def money(value: Any) -> Decimal:
    """A JSON amount, a number (or, in the older form, a string)."""
    return Decimal(str(value))


def day(value: Any) -> date:
    """A day in JSON: a date, or its midnight as an RFC 3339 date-time."""
    return date.fromisoformat(str(value)[:10])


def test_burn_rate_json_and_table(
    ledger: Ledger, clock: Clock, ctx: Context, migrated_url: str, db: Any, settings: Settings
) -> None:
    clock.now = datetime(2026, 1, 1, tzinfo=UTC)
    ledger.create_account(
        "burn", ctx=ctx, limit="3000", start_date=date(2026, 1, 1), end_date=date(2026, 12, 31)
    )
    clock.now = datetime(2026, 3, 10, 9, tzinfo=UTC)
    hold = ledger.create_hold("burn", "70", ctx=ctx, buffer=1, partition="aws-cpu")
    ledger.post_hold(hold.hold_id, "70", ctx=ctx)
    args = ["--database", migrated_url, "burn-rate", "burn", "--window", "7d"]
    result = runner.invoke(app, [*args, "--today", "2026-03-10", "--json"])
    assert result.exit_code == 0, result.output
    body = exact(result.output)
    assert body["spent"] == Decimal("70.00")
    assert body["actual_daily"] == Decimal("10.00")
    assert body["health"]["band"] in {"healthy", "concern", "warning", "critical"}
    # the API's form, field for field: groups as {key, spent}, each day to the cent
    assert body["by_partition"] == [{"key": "aws-cpu", "spent": Decimal("70.00")}]
    last = body["daily"][-1]
    assert (day(last["day"]), last["actual"], last["expected"]) == (
        date(2026, 3, 10),
        Decimal("70.00"),
        Decimal("8.22"),
    )
    direct = account_burn_rate(db, settings, "burn", window="7d", today=date(2026, 3, 10))
    assert body == BurnRateView.of(direct).record()
    table = runner.invoke(app, [*args, "--today", "2026-03-10"])
    assert table.exit_code == 0, table.output
    assert "actual per day" in table.output
    assert "$10.00" in table.output
    assert "aws-cpu" in table.output


def test_burn_rate_errors(migrated_url: str) -> None:
    neither = runner.invoke(app, ["--database", migrated_url, "burn-rate"])
    assert neither.exit_code == 1
    assert "name an account or a --grant" in neither.output
    bad = runner.invoke(app, ["--database", migrated_url, "burn-rate", "x", "--window", "2w"])
    assert bad.exit_code == 1
    assert "period: must be one of" in bad.output
    period = runner.invoke(
        app, ["--database", migrated_url, "burn-rate", "x", "--budget-period", "2"]
    )
    assert period.exit_code == 1
    assert "grant 'x' does not exist" in period.output  # a budget period means a grant
    missing = runner.invoke(app, ["--database", migrated_url, "burn-rate", "nobody"])
    assert missing.exit_code == 1
    assert "account or grant 'nobody' does not exist" in missing.output
    both = runner.invoke(app, ["--database", migrated_url, "burn-rate", "x", "--grant", "g"])
    assert both.exit_code == 1
    assert "not both" in both.output
    formats = runner.invoke(app, ["--database", migrated_url, "burn-rate", "x", "--json", "--csv"])
    assert formats.exit_code == 2


def test_calibration_report(ledger: Ledger, clock: Clock, ctx: Context, migrated_url: str) -> None:
    clock.now = datetime.now(UTC)  # the command learns from the last 90 days of real time
    ledger.create_account("lab", ctx=ctx, limit="100")
    hold = ledger.create_hold("lab", "10", ctx=ctx, partition="aws-cpu")
    ledger.post_hold(hold.hold_id, "12", ctx=ctx)
    result = runner.invoke(app, ["--database", migrated_url, "calibration", "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["enabled"] is False
    assert money(body["ratios"][0]["ratio"]) == Decimal("1.2")
    assert list(body) == list(CalibrationView.model_fields)  # as the API's /calibration
    assert (money(body["lower"]), money(body["upper"])) == (Decimal("0.5"), Decimal(2))
    table = runner.invoke(app, ["--database", migrated_url, "calibration"])
    assert "1.2000" in table.output
    listed = runner.invoke(app, ["--database", migrated_url, "calibration", "--csv"])
    assert listed.exit_code == 0, listed.output
    (row,) = csv.DictReader(io.StringIO(listed.stdout))
    assert (row["account"], row["partition"], row["jobs"]) == ("lab", "aws-cpu", "1")
    assert (row["estimated"], row["actual"], row["ratio"]) == ("10.00", "12.00", "1.2000")


def charge(ledger: Ledger, clock: Clock, ctx: Context, when: str, account: str, cost: str) -> None:
    clock.now = datetime.fromisoformat(when).replace(hour=12, tzinfo=UTC)
    hold = ledger.create_hold(account, cost, ctx=ctx, buffer=1, partition="aws-cpu")
    ledger.post_hold(hold.hold_id, cost, ctx=ctx)


@pytest.fixture
def funded(ledger: Ledger, clock: Clock, ctx: Context) -> str:
    """'lab': $300 limit for 2026 plus a $100 monthly schedule from 2026-01-01 (4 instalments,
    January credited); $90 spent from 1 to 3 March."""
    clock.now = datetime(2026, 1, 1, tzinfo=UTC)
    ledger.create_account(
        "lab", ctx=ctx, limit="300", start_date=date(2026, 1, 1), end_date=date(2026, 12, 31)
    )
    allocations = Allocations(ledger)
    allocations.create_schedule(
        "lab", amount="100", frequency="monthly", start_date=date(2026, 1, 1), ctx=ctx,
        instalments=4,
    )  # fmt: skip
    allocations.process_due(ctx=ctx, today=date(2026, 1, 1))
    for day in ("2026-03-01", "2026-03-02", "2026-03-03"):
        charge(ledger, clock, ctx, day, "lab", "30")
    return "lab"


def invoke(url: str, *args: str) -> Any:
    result = runner.invoke(app, ["--database", url, *args])
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result


def test_burn_rate_projection_and_daily_csv(funded: str, migrated_url: str) -> None:
    base = ["burn-rate", funded, "--period", "7d", "--today", "2026-03-03"]
    body = json.loads(invoke(migrated_url, *base, "--json").stdout)
    assert money(body["actual_daily"]) == Decimal("12.86")  # 90 over the 7 days to 3 March
    assert [day(i["due_date"]) for i in body["incoming"]] == [date(2026, 4, 1)]
    table = invoke(migrated_url, *base, "--projection").stdout
    assert "instalments to come" in table
    assert "2026-04-01" in table
    assert "$100.00" in table
    rows = list(csv.DictReader(io.StringIO(invoke(migrated_url, *base, "--csv").stdout)))
    assert list(rows[0]) == ["day", "actual", "expected", "cumulative"]
    assert [r["actual"] for r in rows][-3:] == ["30.00", "30.00", "30.00"]
    assert rows[-1]["cumulative"] == "90.00"
    assert sum(Decimal(r["actual"]) for r in rows) == money(body["spent"])


def test_burn_rate_alerts_only(funded: str, migrated_url: str) -> None:
    calm = ["burn-rate", funded, "--period", "90d", "--today", "2026-01-10", "--alerts-only"]
    assert invoke(migrated_url, *calm).stdout == ""
    assert json.loads(invoke(migrated_url, *calm, "--json").stdout) == []
    hot = ["burn-rate", funded, "--period", "7d", "--today", "2026-03-03", "--alerts-only"]
    body = json.loads(invoke(migrated_url, *hot, "--json").stdout)
    assert day(body["projected_exhaustion"]) < day(body["end_date"])
    assert "projected exhaustion" in invoke(migrated_url, *hot).stdout


def test_burn_rate_name_can_be_a_grant(
    ledger: Ledger, ctx: Context, clock: Clock, migrated_url: str
) -> None:
    clock.now = datetime(2026, 1, 1, tzinfo=UTC)
    grants = Grants(ledger)
    grants.create_grant(
        "NSF-1", total_award="1300", start_date="2026-01-01", end_date="2026-12-31",
        indirect_rate="0.30", ctx=ctx,
    )  # fmt: skip
    body = json.loads(invoke(migrated_url, "burn-rate", "NSF-1", "--json").stdout)
    assert (body["subject"], body["name"], body["window"]) == ("grant", "NSF-1", "period")
    assert money(body["budget"]) == Decimal("1300.00")
    same = json.loads(invoke(migrated_url, "burn-rate", "--grant", "NSF-1", "--json").stdout)
    assert same["budget"] == body["budget"]


def test_forecast(funded: str, migrated_url: str, db: Any, settings: Settings) -> None:
    args = ["forecast", funded, "--today", "2026-03-03"]
    body = json.loads(invoke(migrated_url, *args, "--json").stdout)
    assert [f["basis"] for f in body["forecasts"]] == ["30d", "90d"]
    at30 = body["forecasts"][0]
    assert money(at30["daily"]) == Decimal("3.00")  # 90 over the 30 days to 3 March
    assert [p["days"] for p in at30["points"]] == [30, 60, 90]
    first = at30["points"][0]
    # available 400 - 90 = 310; +100 on 1 April; 30 days at 3.00 = 90
    assert [money(first[k]) for k in ("instalments", "spend", "balance")] == [100, 90, 320]
    direct = account_forecast(db, settings, funded, today=date(2026, 3, 3))
    assert money(body["available"]) == direct.available == Decimal("310.00")

    rows = list(csv.DictReader(io.StringIO(invoke(migrated_url, *args, "--csv").stdout)))
    assert len(rows) == 6
    assert (rows[0]["basis"], rows[0]["balance"]) == ("30d", "320.00")
    table = invoke(migrated_url, *args).stdout
    assert "$320.00" in table
    assert "money runs out" in table

    late = json.loads(invoke(migrated_url, "forecast", funded, "--today", "2026-12-01",
                             "--days", "60", "--json").stdout)  # fmt: skip
    assert [day(p["day"]) for p in late["forecasts"][0]["points"]] == [date(2026, 12, 31)]


def test_forecast_errors(funded: str, migrated_url: str) -> None:
    for args, fragment in (
        (["forecast", "nobody"], "nobody"),
        (["forecast", funded, "--days", "0"], "days:"),
        (["forecast", funded, "--today", "2026-02-30"], "today:"),
    ):
        result = runner.invoke(app, ["--database", migrated_url, *args])
        assert result.exit_code == 1, result.output
        assert fragment in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert runner.invoke(app, ["forecast", "--help"]).exit_code == 0


@pytest.fixture
def hot_year(ledger: Ledger, clock: Clock, ctx: Context) -> str:
    """'hot': $3,000 for 2026; $40 spent on 27 February, $100 on 1 March, $200 on 30 March."""
    clock.now = datetime(2026, 1, 1, tzinfo=UTC)
    ledger.create_account(
        "hot", ctx=ctx, limit="3000", start_date=date(2026, 1, 1), end_date=date(2026, 12, 31)
    )
    for when, cost in (("2026-02-27", "40"), ("2026-03-01", "100"), ("2026-03-30", "200")):
        charge(ledger, clock, ctx, when, "hot", cost)
    return "hot"


def test_burn_rate_status_averages_and_cumulative_variance(
    hot_year: str, migrated_url: str
) -> None:
    # The original README's spelling: --period=30d --projection.
    base = ["burn-rate", hot_year, "--period=30d", "--today", "2026-03-30"]
    body = exact(invoke(migrated_url, *base, "--json").stdout)
    assert body["variance_percent"] == Decimal("21.7")  # 10.00 a day against 8.2191
    assert body["burn_rate_status"] == "OVERSPENDING"
    assert body["rolling_7d_daily"] == Decimal("28.57")  # 200 over 24..30 March
    assert body["rolling_30d_daily"] == Decimal("10.00")  # 300 over 1..30 March
    assert body["cumulative_spend"] == Decimal("340.00")  # from 1 January
    expected = Decimal(3000) / 365 * 89
    assert body["cumulative_expected"] == expected.quantize(Decimal("0.01"))
    variance = ((340 - expected) / expected * 100).quantize(Decimal("0.1"))
    assert body["cumulative_variance_percent"] == variance == Decimal("-53.5")
    factors = body["health"]["factors"]
    assert [f["factor"] for f in factors] == ["overspend", "runway", "funds"]
    assert body["health"]["score"] == int(
        (100 - sum(f["penalty"] for f in factors)).to_integral_value()
    )

    table = invoke(migrated_url, *base, "--projection").stdout
    for text in (
        "OVERSPENDING",
        "7-day average",
        "$28.57 a day",
        "30-day average",
        "$10.00 a day",
        "cumulative variance",
        "-53.5%",
        "$340.00",
        "overspend -10.85",
        "days remaining",
        "projected overrun",
    ):
        assert text in table, text
    calm = exact(
        invoke(migrated_url, "burn-rate", hot_year, "--period", "90d", "--today", "2026-03-30",
               "--json").stdout
    )  # fmt: skip
    assert calm["burn_rate_status"] == "UNDERSPENDING"  # 340 over 89 days: 3.82 a day
    assert calm["rolling_7d_daily"] == body["rolling_7d_daily"]  # whatever the window
