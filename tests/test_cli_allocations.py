"""``asbb allocations ...`` through the real Typer app, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from asbb_core.access.identity import os_login
from asbb_core.funding.allocations import Allocations
from asbb_core.funding.views import ScheduleDetailView, ScheduleView
from asbb_core.ledger.verify import verify_ledger
from asbb_core.store.models import EntryKind
from asbb_core.values.periods import Frequency, count_until
from asbb_tui.cli import app
from tests.wire import D, day, loads, rows_and_total


@pytest.fixture(autouse=True)
def isolated(cli_environment: Path) -> None:
    """No ASBB_* variables from the caller; an empty config file; a private data folder."""


@pytest.fixture
def asbb(migrated_url: str, ledger, ctx) -> Any:
    """Run ``asbb --database <the test database> allocations ARGS...``."""
    ledger.create_account("physics", ctx=ctx)
    ledger.create_account("ml-proj", ctx=ctx, limit="500")

    def run(*args: str) -> Result:
        return CliRunner().invoke(app, ["--database", migrated_url, "allocations", *args])

    return run


def ok(result: Result) -> Result:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result


def data(result: Result) -> Any:
    return loads(ok(result).stdout)


def csv_rows(result: Result) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(ok(result).stdout)))


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


def one_error_line(result: Result, *fragments: str) -> None:
    assert result.exit_code == 1, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["create"],
        ["list"],
        ["show"],
        ["pause"],
        ["resume"],
        ["cancel"],
        ["process"],
        ["once"],
    ],
    ids=lambda c: " ".join(c) or "allocations",
)
def test_every_command_explains_itself(command: list[str]) -> None:
    result = CliRunner().invoke(app, ["allocations", *command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.stdout
    assert len(result.stdout.split("Options")[0].strip().splitlines()) >= 2


def test_create_process_show_and_list(asbb, ledger):
    made = data(
        asbb(
            "create",
            "physics",
            "--amount",
            "100",
            "--total",
            "650",
            "--start",
            "2026-01-01",
            "--memo",
            "year 1",
            "--json",
        )
    )
    assert (made["instalments"], made["total"], made["frequency"], made["credits"]) == (
        7,
        D("650.00"),
        "monthly",
        [],
    )
    assert made["created_by"] == os_login()

    summary = data(asbb("process", "--today", "2026-03-15", "--json"))

    assert [(e["period"], e["amount"]) for e in summary["credited"]] == [
        (0, D("100.00")),
        (1, D("100.00")),
        (2, D("100.00")),
    ]
    assert summary["total_credited"] == D("300.00")
    assert data(asbb("process", "--today", "2026-03-15", "--json"))["credited"] == []
    assert ledger.get_account("physics").limit_amount == Decimal(300)
    shown = data(asbb("show", str(made["id"]), "--json"))
    assert [c["outcome"] for c in shown["credits"]] == ["credited"] * 3
    listed = data(asbb("list", "--account", "physics", "--json"))
    assert [(s["id"], s["credited"], s["next_due_date"]) for s in listed] == [
        (made["id"], D("300.00"), day("2026-04-01"))
    ]
    assert data(asbb("list", "--status", "completed", "--json")) == []

    text = ok(asbb("show", str(made["id"]))).stdout
    assert "physics" in text
    assert "$300.00" in text
    assert "3/7" in text
    table = ok(asbb("list")).stdout
    assert "physics" in table
    assert "3/7" in table
    report = verify_ledger(ledger.db)
    assert report.ok, [str(p) for p in report.problems]


def test_pause_resume_cancel(asbb, ledger):
    made = data(
        asbb(
            "create", "ml-proj", "--amount", "50", "--frequency", "yearly",
            "--start", "2020-01-01", "--end", "2099-12-31", "--json",
        )
    )  # fmt: skip
    sid = str(made["id"])
    assert made["instalments"] == 80
    # The start is long past: pausing first credits what fell due before the pause.
    owed = count_until(date(2020, 1, 1), Frequency.YEARLY, datetime.now(UTC).date())
    paused = data(asbb("pause", sid, "--json"))
    assert paused["status"] == "paused"
    assert paused["credited"] == D(f"{50 * owed}.00")
    assert paused["next_due_date"] == day(f"{2020 + owed}-01-01")
    one_error_line(asbb("pause", sid), "paused")

    # As the API answers: the schedule, its credits including what the resume did.
    resumed = data(asbb("resume", sid, "--json"))
    assert resumed["status"] == "active"
    assert [c["outcome"] for c in resumed["credits"]] == ["credited"] * owed
    assert f"paused allocation schedule #{sid}" in ok(asbb("pause", sid)).stdout
    assert f"resumed allocation schedule #{sid}" in ok(asbb("resume", sid)).stdout

    cancelled = data(asbb("cancel", sid, "--json"))
    assert cancelled["status"] == "cancelled"
    assert cancelled["next_due_date"] is None
    assert "cancelled" in ok(asbb("show", sid)).stdout
    one_error_line(asbb("cancel", sid), "cancelled")
    assert ledger.get_account("ml-proj").limit_amount == 500 + 50 * owed


def test_json_is_what_the_api_answers(asbb, live_daemon):
    """One view behind both: the CLI's --json of a result is the REST API's body for it."""
    made = data(asbb("create", "physics", "--amount", "100", "--count", "3",
                     "--start", "2026-01-01", "--unspent", "expire", "--json"))  # fmt: skip
    sid = made["id"]
    cli_run = data(asbb("process", "--today", "2026-02-15", "--json"))

    with live_daemon.client("reader") as reader:
        assert (
            data(asbb("show", str(sid), "--json"))
            == reader.get(f"/api/v1/allocations/{sid}").json()
        )
        api_rows, api_total = rows_and_total(reader.get("/api/v1/allocations"))
        assert data(asbb("list", "--json")) == api_rows
        assert api_total == len(api_rows) == 1
    with live_daemon.client("admin") as admin:
        api_run = admin.post("/api/v1/allocations/process", json={"today": "2026-03-15"}).json()
        paused_api = admin.post(f"/api/v1/allocations/{sid}/pause").json()
    assert list(cli_run) == list(api_run)
    assert list(cli_run["credited"][0]) == list(api_run["credited"][0])
    assert list(cli_run["expired"][0]) == list(api_run["expired"][0])
    assert (cli_run["total_credited"], api_run["total_credited"]) == (D("200.00"), D("100.00"))
    # resume: the schedule with its credits, as POST /allocations/{id}/resume answers.
    resumed = data(asbb("resume", str(sid), "--json"))
    assert list(resumed) == list(paused_api)
    assert (paused_api["status"], resumed["status"]) == ("paused", "completed")
    assert [c["period"] for c in resumed["credits"]] == [0, 1, 2]


def test_process_with_many_instalments_and_the_table_output(asbb, ledger):
    ok(
        asbb(
            "create",
            "physics",
            "--amount",
            "1.5",
            "--frequency",
            "daily",
            "--count",
            "40",
            "--start",
            "2026-01-01",
        )
    )

    result = ok(asbb("process", "--today", "2026-02-15"))

    assert "40 credited ($60.00)" in result.stdout
    assert "40/40" in result.stdout
    assert "schedule #1 completed" in result.stdout
    assert ledger.get_account("physics").limit_amount == Decimal(60)
    assert len(ledger.journal(account="physics")) == 40


@pytest.mark.single_admin
def test_once(asbb, ledger):
    result = data(asbb("once", "physics", "125.25", "--memo", "bridge", "--json"))

    assert (result["amount"], result["limit"]) == (D("125.25"), D("125.25"))
    (row,) = ledger.journal(account="physics")
    assert (row.kind, row.memo, row.source) == (EntryKind.ALLOCATION, "bridge", "cli")
    assert "allocated $10.00 to physics" in ok(asbb("once", "physics", "10")).stdout


CREATE = ["create", "physics", "--amount", "10"]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["create", "physics", "--amount", "0", "--count", "2"], "amount:"),
        (["create", "physics", "--amount", "10"], "total:"),
        (["create", "physics", "--amount", "10", "--count", "2", "--total", "20"], "instalments:"),
        (["create", "physics", "--amount", "10", "--total", "5"], "total:"),
        (
            ["create", "physics", "--amount", "10", "--count", "2", "--start", "2026-02-30"],
            "start_date:",
        ),
        (
            ["create", "physics", "--amount", "10", "--end", "1999-01-01", "--start", "2026-01-01"],
            "end_date:",
        ),
        (["create", "nobody", "--amount", "10", "--count", "2"], "nobody"),
        (["show", "42"], "allocation schedule 42"),
        (["process", "--today", "someday"], "today:"),
        (["once", "physics", "1.234"], "amount:"),
        (["once", "physics", "1.005"], "amount:"),
        (["once", "physics", "--", "-5"], "amount:"),  # after "--", as -5 reads as an option
        (["once", "nobody", "5"], "nobody"),
        (["create", "physics", "--amount", "-10", "--count", "2"], "amount:"),
        (["create", "physics", "--amount", "1.005", "--count", "2"], "amount:"),
        (["create", "physics", "--amount", "10", "--count", "0"], "instalments:"),
        (["pause", "42"], "allocation schedule 42"),
        (["cancel", "42"], "allocation schedule 42"),
    ],
)
def test_errors_are_one_line_and_change_nothing(asbb, ledger, args, fragment):
    one_error_line(asbb(*args), fragment)
    assert data(asbb("list", "--json")) == []
    assert ledger.get_account("physics").limit_amount == 0


def test_process_reports_schedules_that_cannot_move(asbb, ledger, ctx):
    ok(asbb("create", "physics", "--amount", "10", "--count", "2", "--start", "2026-01-01"))
    ledger.update_account("physics", ctx=ctx, status="closed")

    result = asbb("process", "--today", "2026-01-05")

    assert result.exit_code == 1
    assert "0 credited" in result.stdout
    assert "closed" in result.stderr


@pytest.mark.single_admin
def test_csv_matches_the_database(asbb, ledger):
    ok(asbb(*CREATE, "--total", "650", "--start", "2026-01-01", "--memo", 'a, "quoted" memo'))
    ok(asbb("create", "ml-proj", "--amount", "7.5", "--frequency", "weekly", "--count", "3",
            "--start", "2026-01-01", "--unspent", "expire"))  # fmt: skip

    events = csv_rows(asbb("process", "--today", "2026-01-20", "--csv"))

    service = Allocations(ledger)
    infos = service.list_schedules()
    assert [(e["schedule_id"], e["action"], e["amount"]) for e in events] == [
        ("1", "credited", "10.00"),
        ("2", "credited", "7.50"),
        ("2", "expired", "7.50"),
        ("2", "credited", "7.50"),
        ("2", "expired", "7.50"),
        ("2", "credited", "7.50"),
    ]
    listed = csv_rows(asbb("list", "--csv"))
    assert listed == [csv_cells(ScheduleView.of(i).values()) for i in infos]
    assert (listed[0]["start_date"], listed[0]["next_due_date"]) == ("2026-01-01", "2026-02-01")
    assert list(listed[0]) == list(ScheduleView.model_fields)
    assert listed[0]["memo"] == 'a, "quoted" memo'
    assert listed[0]["credited"] == f"{ledger.get_account('physics').limit_amount:.2f}"
    assert csv_rows(asbb("list", "--status", "paused", "--csv")) == []
    assert ok(asbb("list", "--status", "paused", "--csv")).stdout.startswith("id,account,")

    (shown,) = csv_rows(asbb("show", "2", "--csv"))
    detail = ScheduleDetailView.of(service.get_schedule(2)).values()
    assert shown == csv_cells(detail)
    assert [c["outcome"] for c in json.loads(shown["credits"])] == ["credited"] * 3
    (paused,) = csv_rows(asbb("pause", "1", "--csv"))
    assert paused["status"] == "paused"
    (resumed,) = csv_rows(asbb("resume", "1", "--csv"))
    assert resumed["status"] == service.get_schedule(1).schedule.status == "active"
    (cancelled,) = csv_rows(asbb("cancel", "1", "--csv"))
    assert cancelled["status"] == "cancelled"

    (once,) = csv_rows(asbb("once", "physics", "2.5", "--csv"))
    account = ledger.get_account("physics")
    assert (once["amount"], once["limit"]) == ("2.50", f"{account.limit_amount:.2f}")


def test_the_table_shows_each_schedule(asbb, migrated_url):
    ok(asbb(*CREATE, "--count", "4", "--start", "2026-01-01"))
    ok(asbb("process", "--today", "2026-02-10"))

    wide = CliRunner(env={"COLUMNS": "150"})
    table = ok(wide.invoke(app, ["--database", migrated_url, "allocations", "list"])).stdout

    assert "$10.00 monthly" in table
    assert "$20.00 of $40.00" in table
    assert "2026-03-01" in table


@pytest.mark.parametrize(
    "args",
    [
        ["list"],
        ["show", "1"],
        ["process", "--today", "2026-06-01"],
        ["once", "physics", "5"],
        [*CREATE, "--count", "2"],
        ["pause", "1"],
    ],
    ids=lambda a: a[0],
)
def test_json_and_csv_together_is_a_usage_error_that_writes_nothing(asbb, ledger, args):
    ok(asbb("create", "ml-proj", "--amount", "1", "--count", "2", "--start", "2026-01-01"))
    before = (len(ledger.journal()), data(asbb("list", "--json")))

    result = asbb(*args, "--json", "--csv")

    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert "--json" in result.stderr
    assert result.stdout == ""
    assert (len(ledger.journal()), data(asbb("list", "--json"))) == before


@pytest.mark.parametrize(
    ("option", "value", "fragment"),
    [
        ("--frequency", "fortnightly", "error: frequency: must be one of daily, weekly, monthly"),
        ("--unspent", "keep", "error: unspent: must be one of carry_over, expire"),
    ],
)
def test_an_unknown_frequency_or_unspent_policy_is_one_line_naming_it(
    asbb, ledger, option, value, fragment
):
    before = len(ledger.journal())

    result = asbb(*CREATE, "--count", "2", option, value)

    one_error_line(result, fragment)
    assert result.stdout == ""
    assert data(asbb("list", "--json")) == []
    assert len(ledger.journal()) == before


def test_frequency_and_unspent_ignore_case(asbb):
    made = data(asbb(*CREATE, "--count", "2", "--frequency", "Weekly", "--unspent", "EXPIRE",
                     "--json"))  # fmt: skip

    assert (made["frequency"], made["unspent"]) == ("weekly", "expire")


def test_the_help_lists_the_allowed_values():
    wide = CliRunner(env={"COLUMNS": "200"})
    text = wide.invoke(app, ["allocations", "create", "--help"]).stdout

    assert "[daily|weekly|monthly|quarterly|yearly]" in text
    assert "[carry_over|expire]" in text


@pytest.mark.parametrize(
    ("words", "offered"),
    [
        (["--frequency", ""], ["daily", "weekly", "monthly", "quarterly", "yearly"]),
        (["--frequency", "m"], ["monthly"]),
        (["--unspent", ""], ["carry_over", "expire"]),
        (["--unspent", "e"], ["expire"]),
    ],
)
def test_shell_completion_offers_the_values(words, offered):
    line = ["asbb", "allocations", "create", "physics", *words]
    result = CliRunner().invoke(
        app,
        [],
        prog_name="asbb",
        env={
            "_ASBB_COMPLETE": "complete_bash",
            "COMP_WORDS": " ".join(line),
            "COMP_CWORD": str(len(line) - 1),
        },
    )

    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert result.stdout.split() == offered
