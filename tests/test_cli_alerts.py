"""``asbb alerts`` through the real Typer app against real databases."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from asbb_core.context import Context
from asbb_core.ledger import Ledger
from asbb_core.models import Source
from asbb_tui.cli import app
from asbb_tui.cli_base import cli_actor


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No ASBB_* variables from the caller; an empty config; our own spool; a dead webhook."""
    for name in list(os.environ):
        if name.startswith("ASBB_"):
            monkeypatch.delenv(name)
    empty = tmp_path / "empty.toml"
    empty.write_text("", encoding="utf-8")
    monkeypatch.setenv("ASBB_CONFIG", str(empty))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("ASBB_DAEMON__SPOOL_DIR", str(tmp_path / "spool"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("ASBB_ALERTS__WEBHOOK_URL", f"http://127.0.0.1:{port}/hook")


@pytest.fixture
def url(db, settings) -> str:
    """A migrated database with 'physics' 85% used (charged through the real ledger, on the
    real clock so the checks that look at dates see today's data)."""
    ledger = Ledger(db, settings)
    ctx = Context(actor="tests", source=Source.CLI)
    ledger.create_account("physics", ctx=ctx, limit="100")
    hold = ledger.create_hold("physics", "85", ctx=ctx, buffer="1")
    ledger.post_hold(hold.hold_id, "85", ctx=ctx)
    return settings.database.url


def run(url: str, *args: str) -> Result:
    return CliRunner(env={"COLUMNS": "200"}).invoke(app, ["--database", url, "alerts", *args])


def ok_json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize(
    "command", [[], ["list"], ["show"], ["ack"], ["resolve"], ["evaluate"], ["deliver"]]
)
def test_help(command):
    result = CliRunner().invoke(app, ["alerts", *command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.stdout


def test_evaluate_list_show_ack_resolve(url):
    summary = ok_json(run(url, "evaluate", "--json"))
    assert len(summary["opened"]) == 1
    assert summary["failed"] == {}
    [alert_id] = summary["opened"]
    again = ok_json(run(url, "evaluate", "--json"))
    assert again["opened"] == []
    assert again["still_open"] == [alert_id]

    page = ok_json(run(url, "list", "--json"))
    assert page["total"] == 1
    [item] = page["items"]
    assert item["dedup_key"] == "usage:physics:80"
    assert item["severity"] == "warning"
    assert item["details"]["used"] == "85.00"
    table = run(url, "list")
    assert table.exit_code == 0
    assert "physics has used 80% of its limit" in table.stdout
    assert ok_json(run(url, "list", "--json", "--severity", "critical"))["items"] == []
    assert (
        ok_json(run(url, "list", "--json", "--kind", "usage", "--account", "physics"))["total"] == 1
    )

    shown = ok_json(run(url, "show", str(alert_id), "--json"))
    assert shown["account"] == "physics"
    assert [(d["channel"], d["event"], d["status"]) for d in shown["deliveries"]] == [
        ("webhook", "opened", "pending")
    ]
    text = run(url, "show", str(alert_id))
    assert text.exit_code == 0
    assert "usage:physics:80" in text.stdout
    assert "deliveries" in text.stdout

    acked = ok_json(run(url, "ack", str(alert_id), "--note", "on it", "--json"))
    assert acked["status"] == "acknowledged"
    assert acked["acknowledged_by"] == cli_actor()
    assert acked["details"]["note"] == "on it"
    twice = run(url, "ack", str(alert_id))
    assert twice.exit_code == 1
    assert f"error: alert {alert_id} was already acknowledged by {cli_actor()}" in twice.output

    assert run(url, "resolve", str(alert_id)).exit_code == 2  # --note is required
    done = run(url, "resolve", str(alert_id), "--note", "limit raised")
    assert done.exit_code == 0, done.output
    assert f"alert {alert_id} resolved by {cli_actor()}" in done.stdout
    resolved = ok_json(run(url, "show", str(alert_id), "--json"))
    assert resolved["status"] == "resolved"
    assert resolved["resolution"] == "limit raised"
    assert [d["event"] for d in resolved["deliveries"]] == ["opened", "resolved"]


def test_deliver_records_a_failed_attempt(url):
    ok_json(run(url, "evaluate", "--json"))
    report = ok_json(run(url, "deliver", "--json"))
    assert len(report["retrying"]) == 1
    assert report["sent"] == []
    text = run(url, "deliver")
    assert text.exit_code == 0
    assert "0 sent, 0 to retry, 0 given up" in text.stdout  # the retry is not due yet


def test_errors_are_one_line_and_exit_1(url):
    missing = run(url, "show", "99")
    assert missing.exit_code == 1
    assert "error: alert 99 does not exist" in missing.output
    assert run(url, "list", "--status", "bogus").exit_code == 2
    assert run(url, "show", "0").exit_code == 2
    empty = run(url, "list")
    assert empty.exit_code == 0
    assert "no alerts" in empty.stdout
