"""``asbb burn-rate`` and ``asbb calibration`` on a real database."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

from typer.testing import CliRunner

from asbb_core.context import Context
from asbb_core.ledger import Ledger
from asbb_tui.cli import app
from tests.conftest import Clock

runner = CliRunner()


def test_burn_rate_json_and_table(
    ledger: Ledger, clock: Clock, ctx: Context, migrated_url: str
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
    body = json.loads(result.output)
    assert body["spent"] == "70.00"
    assert body["actual_daily"] == "10.00"
    assert body["health"]["band"] in {"healthy", "concern", "warning", "critical"}
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
    assert "window: must be one of" in bad.output
    period = runner.invoke(
        app, ["--database", migrated_url, "burn-rate", "x", "--budget-period", "2"]
    )
    assert period.exit_code == 1
    assert "--budget-period applies to a --grant" in period.output
    missing = runner.invoke(app, ["--database", migrated_url, "burn-rate", "nobody"])
    assert missing.exit_code == 1
    assert "does not exist" in missing.output


def test_calibration_report(ledger: Ledger, clock: Clock, ctx: Context, migrated_url: str) -> None:
    clock.now = datetime.now(UTC)  # the command learns from the last 90 days of real time
    ledger.create_account("lab", ctx=ctx, limit="100")
    hold = ledger.create_hold("lab", "10", ctx=ctx, partition="aws-cpu")
    ledger.post_hold(hold.hold_id, "12", ctx=ctx)
    result = runner.invoke(app, ["--database", migrated_url, "calibration", "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["enabled"] is False
    assert body["ratios"][0]["ratio"] == "1.2000"
    table = runner.invoke(app, ["--database", migrated_url, "calibration"])
    assert "1.2000" in table.output
