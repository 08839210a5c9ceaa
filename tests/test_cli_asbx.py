"""``asbb asbx ingest`` and ``asbb asbx status`` on a real database."""

from __future__ import annotations

import os
import time
from decimal import Decimal

from typer.testing import CliRunner

from asbb_core.integrations.views import AsbxStatusView
from asbb_tui.cli import app
from tests.wire import D, loads


def test_ingest_and_status(tmp_path, migrated_url, ledger, ctx, cli_environment):
    ledger.create_account("alpha", ctx=ctx, limit="100")
    ledger.create_hold("alpha", "10", ctx=ctx, partition="aws-cpu", job_id="41")
    spool = tmp_path / "exports"
    spool.mkdir()
    old = time.time() - 60
    for job, text in [("41", '{"job_id": "41", "actual_cost": "7.70"}'), ("42", "{")]:
        path = spool / f"job-{job}-asbb-reconciliation.json"
        path.write_text(text)
        os.utime(path, (old, old))
    runner = CliRunner()
    base = ["--database", migrated_url, "asbx"]
    done = runner.invoke(app, [*base, "ingest", "--dir", str(spool), "--json"])
    assert done.exit_code == 1, done.output  # one file was rejected
    body = loads(done.stdout)
    assert body["applied"] == [{"file": "job-41-asbb-reconciliation.json", "outcome": "reconciled"}]
    assert body["rejected"][0]["file"] == "job-42-asbb-reconciliation.json"
    assert "not JSON" in body["rejected"][0]["reason"]
    assert ledger.get_account("alpha").used_amount == Decimal("7.70")
    again = runner.invoke(app, [*base, "ingest", "--dir", str(spool)])
    assert again.exit_code == 0, again.output
    assert "no export files" in again.stdout
    status = runner.invoke(app, [*base, "status", "--dir", str(spool), "--json"])
    assert status.exit_code == 0, status.output
    seen = loads(status.stdout)
    assert (seen["files_processed"], seen["files_rejected"], seen["files_waiting"]) == (1, 1, 0)
    assert seen["reports_by_outcome"] == {"reconciled": 1, "rejected": 1}
    assert seen["cost_model_accuracy"] == D("0.7700")  # estimate 10, actual 7.70
    assert '"cost_model_accuracy": 0.7700,' in status.stdout  # a JSON number, to its digits
    # The daemon's GET /api/v1/asbx/status answer, field for field.
    assert list(seen) == list(AsbxStatusView.model_fields)
    assert (seen["spool_dir"], seen["total_jobs_reconciled"]) == (str(spool), 1)
    assert (seen["successful_reconciliations"], seen["failed_reconciliations"]) == (1, 1)
    assert (seen["integration_enabled"], seen["health_status"]) == (True, "degraded")
    assert any("rejected" in p for p in seen["problems"])
    missing = runner.invoke(app, [*base, "ingest", "--dir", str(tmp_path / "nope")])
    assert missing.exit_code == 1
    assert "is not a folder" in missing.output
