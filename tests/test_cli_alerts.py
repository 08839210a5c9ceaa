"""``asbb alerts`` through the real Typer app against real databases."""

from __future__ import annotations

import csv
import io
import json
import socket
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from asbb_core.alerts.conditions import AlertRecord, AlertService
from asbb_core.alerts.views import AlertView
from asbb_core.ledger import Ledger
from asbb_core.values.context import Context, Source
from asbb_tui.cli import app
from asbb_tui.cli_base import cli_actor
from tests.wire import loads

ALERT_KEYS = list(AlertView.model_fields)


@pytest.fixture(autouse=True)
def isolated(cli_environment: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No ASBB_* variables from the caller; an empty config; our own spool; a dead webhook."""
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
    return loads(result.stdout)


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
    assert item["details"]["used"] == Decimal("85.00")
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
    assert empty.stdout == ""  # the note goes to stderr: stdout stays clean for pipes
    assert "no alerts" in empty.stderr


def csv_rows(result: Result) -> list[dict[str, str]]:
    assert result.exit_code == 0, result.output
    return list(csv.DictReader(io.StringIO(result.stdout)))


def spreadsheet(value: Any) -> Any:
    """A value as a spreadsheet reads it: amounts as written (12.50), days and times in ISO
    8601 (2025-09-01), enumerations as their values."""
    if isinstance(value, dict):
        return {str(k): spreadsheet(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [spreadsheet(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, date):  # datetimes too
        return value.isoformat()
    return value


def csv_cells(values: dict[str, Any]) -> dict[str, str]:
    """A view's values as its CSV row reads: None empty, nested values as JSON text."""
    plain = spreadsheet(values)
    return {
        k: "" if v is None else json.dumps(v, sort_keys=True) if isinstance(v, list | dict)
        else str(v)
        for k, v in plain.items()
    }  # fmt: skip


def api_form(record: AlertRecord) -> dict[str, Any]:
    """An alert as the API shows it: what --json must print."""
    return AlertView.of(record).record()


def csv_form(record: AlertRecord) -> dict[str, str]:
    """An alert as --csv must print it: the view's values, in a spreadsheet's forms."""
    return csv_cells(AlertView.of(record).values())


def test_csv_matches_the_database(url, db, settings):
    (summary,) = csv_rows(run(url, "evaluate", "--csv"))
    [alert_id] = json.loads(summary["opened"])
    assert (summary["still_open"], summary["failed"]) == ("[]", "{}")
    service = AlertService(db, settings)

    listed = csv_rows(run(url, "list", "--csv"))

    assert listed == [csv_form(r) for r in service.list_alerts()]
    # A spreadsheet's time: ISO 8601 with its offset, not the wire's "Z".
    opened = AlertView.of(service.list_alerts()[0]).opened_at
    assert datetime.fromisoformat(listed[0]["opened_at"]) == opened
    assert listed[0]["opened_at"].endswith("+00:00")
    # --json prints each alert exactly as the API does (times in its RFC 3339 form)
    page = ok_json(run(url, "list", "--json"))
    assert page["items"] == [api_form(r) for r in service.list_alerts()]
    assert page["items"][0]["opened_at"].endswith("Z")
    assert list(listed[0]) == ALERT_KEYS
    assert (listed[0]["id"], listed[0]["account"]) == (str(alert_id), "physics")
    assert json.loads(listed[0]["details"])["used"] == "85.00"
    assert csv_rows(run(url, "list", "--severity", "critical", "--csv")) == []
    header = run(url, "list", "--severity", "critical", "--csv").stdout
    assert header == ",".join(ALERT_KEYS) + "\n"

    (shown,) = csv_rows(run(url, "show", str(alert_id), "--csv"))
    assert list(shown) == [*ALERT_KEYS, "deliveries"]
    assert {k: shown[k] for k in ALERT_KEYS} == listed[0]
    deliveries = json.loads(shown["deliveries"])
    assert [(d["id"], d["status"]) for d in deliveries] == [
        (d.id, str(d.status)) for d in service.deliveries(alert_id)
    ]
    (sent,) = csv_rows(run(url, "deliver", "--csv"))
    assert json.loads(sent["retrying"]) == [deliveries[0]["id"]]

    (acked,) = csv_rows(run(url, "ack", str(alert_id), "--note", "on it", "--csv"))
    assert acked == csv_form(service.get_alert(alert_id))
    assert acked["acknowledged_by"] == cli_actor()
    (done,) = csv_rows(run(url, "resolve", str(alert_id), "--note", "limit, raised", "--csv"))
    assert (done["status"], done["resolution"]) == ("resolved", "limit, raised")
    assert service.get_alert(alert_id).alert.resolution == "limit, raised"


def test_the_table_lists_each_alert(url):
    ok_json(run(url, "evaluate", "--json"))

    table = run(url, "list")

    assert table.exit_code == 0
    assert "alerts (1 of 1)" in table.stdout
    assert "warning" in table.stdout
    assert "physics" in table.stdout


@pytest.mark.parametrize(
    "args",
    [["list"], ["show", "1"], ["ack", "1"], ["resolve", "1", "--note", "x"], ["evaluate"],
     ["deliver"]],
    ids=lambda a: a[0],
)  # fmt: skip
def test_json_and_csv_together_is_a_usage_error_that_writes_nothing(url, db, settings, args):
    ok_json(run(url, "evaluate", "--json"))
    service = AlertService(db, settings)
    before = [api_form(r) for r in service.list_alerts()], len(service.deliveries(1))

    result = run(url, *args, "--json", "--csv")

    assert result.exit_code == 2, result.output
    assert "--json" in result.stderr
    assert result.stdout == ""
    assert ([api_form(r) for r in service.list_alerts()], len(service.deliveries(1))) == before


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["ack", "99"], "alert 99 does not exist"),
        (["resolve", "99", "--note", "x"], "alert 99 does not exist"),
        (["resolve", "1", "--note", " "], "note:"),
        (["ack", "1", "--note", "x" * 5000], "note:"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(url, db, settings, args, fragment):
    ok_json(run(url, "evaluate", "--json"))
    service = AlertService(db, settings)
    before = [api_form(r) for r in service.list_alerts()]

    result = run(url, *args)

    assert result.exit_code == 1, result.output
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: ")
    assert fragment in line
    assert [api_form(r) for r in service.list_alerts()] == before


def test_an_unknown_kind_is_a_usage_error(url):
    assert run(url, "list", "--kind", "weather").exit_code == 2
