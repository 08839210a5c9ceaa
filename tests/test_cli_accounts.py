"""``asbb account ...`` and ``asbb partition-limit ...`` through the real Typer app, on SQLite
and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import func, select
from typer.testing import CliRunner, Result

from asbb_core.access.identity import os_login
from asbb_core.funding.allocations import Allocations
from asbb_core.ledger.verify import verify_ledger
from asbb_core.store.models import (
    Account,
    AccountStatus,
    AllocationSchedule,
    EntryKind,
    JournalEntry,
    PartitionLimit,
)
from asbb_tui.cli import app
from asbb_tui.commands import accounts
from tests.wire import D, day, loads


@pytest.fixture(autouse=True)
def isolated(cli_environment: Path) -> None:
    """No ASBB_* variables from the caller; an empty config file; a private data folder."""


@pytest.fixture
def asbb(migrated_url: str) -> Any:
    """Run ``asbb --database <the test database> ARGS...``."""

    def run(*args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(app, ["--database", migrated_url, *args], input=input)

    return run


@pytest.fixture
def physics(ledger, ctx) -> None:
    """physics: $1,000 limit, $120 used on gpu-aws (capped at $500), one open hold."""
    ledger.create_account(
        "physics", ctx=ctx, limit="1000", description="Physics", partition_limits={"gpu-aws": 500}
    )
    charged = ledger.create_hold("physics", "100", ctx=ctx, partition="gpu-aws", job_id="11")
    ledger.post_hold(charged.hold_id, "120", ctx=ctx)
    ledger.create_hold("physics", "10", ctx=ctx, partition="aws-cpu", job_id="12")


def ok(result: Result) -> Result:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result


def data(result: Result) -> Any:
    return loads(ok(result).stdout)


def rows(result: Result) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(ok(result).stdout)))


def one_error_line(result: Result, *fragments: str, code: int = 1) -> None:
    assert result.exit_code == code, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]


def snapshot(ledger, name: str = "physics") -> tuple[Any, ...]:
    """An account's figures, details and partition limits, as plain data."""
    a = ledger.get_account(name)
    caps = [(c.partition, c.limit_amount, c.used_amount) for c in ledger.partition_limits(name)]
    return (
        (a.status, a.description, a.start_date, a.end_date),
        (a.limit_amount, a.used_amount, a.held_amount),
        caps,
    )


def counts(db) -> tuple[int, int, int, int]:
    """Accounts, journal rows, schedules and partition limits: what a refusal must not add."""

    def query(s):
        return tuple(
            s.exec(select(func.count()).select_from(table)).one()
            for table in (Account, JournalEntry, AllocationSchedule, PartitionLimit)
        )

    return db.read(query)


COMMANDS = [
    ["account"],
    ["account", "list"],
    ["account", "create"],
    ["account", "show"],
    ["account", "update"],
    ["account", "close"],
    ["partition-limit"],
    ["partition-limit", "list"],
    ["partition-limit", "set"],
    ["partition-limit", "remove"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_explains_itself(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.stdout
    assert len(result.stdout.split("Options")[0].strip().splitlines()) >= 3


# ---------------------------------------------------------------- list


def test_list_table_json_and_csv(asbb, ledger, ctx, physics):
    ledger.create_account("ml-proj", ctx=ctx, limit="250.50")
    ledger.create_account("old", ctx=ctx)
    ledger.update_account("old", ctx=ctx, status="closed")

    table = ok(asbb("account", "list")).stdout
    assert "$1,000.00" in table
    assert "$868.00" in table
    assert "12.0" in table  # % used

    listed = data(asbb("account", "list", "--json"))
    assert listed["total"] == 3
    by_name = {a["name"]: a for a in listed["items"]}
    account = ledger.get_account("physics")
    assert by_name["physics"] | {"created_at": None, "updated_at": None} == {
        "name": "physics",
        "description": "Physics",
        "status": "active",
        "start_date": day(account.created_at.date().isoformat()),  # made without one
        "end_date": None,
        "limit": D("1000.00"),
        "used": D("120.00"),
        "held": D("12.00"),
        "available": D("868.00"),
        "percent_used": D("12.0"),
        "created_at": None,
        "updated_at": None,
        "display_name": "",
        "id": account.id,
        "slurm_account": "physics",
        "budget_limit": D("1000.00"),
        "budget_used": D("120.00"),
        "budget_held": D("12.00"),
        "budget_available": D("868.00"),
        "has_incremental_budget": False,
        "total_allocated": D("0.00"),
        "next_allocation_date": None,
    }
    assert Decimal(by_name["physics"]["available"]) == account.available
    assert by_name["ml-proj"]["limit"] == D("250.50")

    parsed = rows(asbb("account", "list", "--csv"))
    assert list(parsed[0]) == [
        "name",
        "status",
        "limit",
        "used",
        "held",
        "available",
        "percent_used",
    ]
    assert [(r["name"], r["available"]) for r in parsed] == [
        ("ml-proj", "250.50"),
        ("old", "0.00"),
        ("physics", "868.00"),
    ]


def test_list_filters_sorts_and_pages_in_the_database(asbb, ledger, ctx):
    for name, limit in (("a-1", "30"), ("a-2", "10"), ("a-3", "20"), ("b-1", "5")):
        ledger.create_account(name, ctx=ctx, limit=limit)
    ledger.update_account("a-3", ctx=ctx, status="suspended")

    def names(*args: str) -> list[str]:
        return [a["name"] for a in data(asbb("account", "list", *args, "--json"))["items"]]

    assert names("--prefix", "a-") == ["a-1", "a-2", "a-3"]
    assert names("--status", "suspended") == ["a-3"]
    assert names("--sort", "limit") == ["b-1", "a-2", "a-3", "a-1"]
    assert names("--sort", "available", "--desc") == ["a-1", "a-3", "a-2", "b-1"]
    page = data(asbb("account", "list", "--limit", "2", "--offset", "2", "--json"))
    assert ([a["name"] for a in page["items"]], page["total"], page["offset"]) == (
        ["a-3", "b-1"],
        4,
        2,
    )
    first = asbb("account", "list", "--limit", "2")
    assert "accounts 1-2 of 4; next page: --offset 2" in ok(first).stderr
    nothing = ok(asbb("account", "list", "--prefix", "zzz"))
    assert nothing.stdout == ""
    assert "no accounts match" in nothing.stderr


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--status", "gone"], "status"),
        (["--sort", "size"], "sort"),
        (["--limit", "0"], "limit"),
        (["--limit", "501"], "limit"),
        (["--offset", "-1"], "offset"),
    ],
)
def test_list_refuses_bad_options(asbb, args, field):
    one_error_line(asbb("account", "list", *args), f"{field}:")


def test_json_and_csv_together_is_a_usage_error(asbb, db, physics):
    before = counts(db)
    assert asbb("account", "list", "--json", "--csv").exit_code == 2
    assert asbb("account", "create", "x", "--limit", "1", "--json", "--csv").exit_code == 2
    assert counts(db) == before


# ---------------------------------------------------------------- create


@pytest.mark.single_admin
def test_create_with_a_limit_dates_and_partition_limits(asbb, ledger, db):
    made = data(
        asbb(
            "account",
            "create",
            "Chem",
            "--limit",
            "1000.50",
            "--description",
            "Chemistry",
            "--start",
            "2026-01-01",
            "--end",
            "2026-12-31",
            "--partition-limit",
            "gpu-aws=500",
            "--partition-limit",
            "aws-cpu=250.25",
            "--json",
        )
    )
    account = ledger.get_account("chem")
    assert account.limit_amount == Decimal("1000.50")
    assert (account.start_date, account.end_date) == (date(2026, 1, 1), date(2026, 12, 31))
    assert made["name"] == "chem"
    assert made["limit"] == D("1000.50")
    assert made["start_date"] == day("2026-01-01")
    assert made["description"] == "Chemistry"
    assert {c["partition"]: c["limit"] for c in made["partition_limits"]} == {
        "aws-cpu": D("250.25"),
        "gpu-aws": D("500.00"),
    }
    assert made["schedules"] == []
    assert made["open_holds"] == 0
    [opening] = ledger.journal(account="chem")
    assert (opening.kind, opening.amount) == (EntryKind.DEPOSIT, Decimal("1000.50"))
    assert opening.actor == os_login()
    assert verify_ledger(db).ok


@pytest.mark.single_admin
def test_create_prints_the_account_as_a_table(asbb):
    out = ok(asbb("account", "create", "bio", "--limit", "75", "--partition-limit", "gpu=20"))
    assert "created account bio" in out.stdout
    assert "$75.00" in out.stdout
    assert "$20.00" in out.stdout
    assert "partition limits" in out.stdout
    assert rows(asbb("account", "show", "bio", "--csv"))[0]["limit"] == "75.00"


def test_create_incremental_account_with_its_schedule(asbb, ledger, ctx):
    made = data(
        asbb(
            "account",
            "create",
            "ml-proj",
            "--incremental",
            "--total-budget",
            "650",
            "--allocation-amount",
            "100",
            "--allocation-frequency",
            "monthly",
            "--start",
            "2025-01-01",
            "--end",
            "2025-12-31",
            "--unspent",
            "expire",
            "--json",
        )
    )
    assert made["limit"] == D("0.00")
    assert (made["start_date"], made["end_date"]) == (day("2025-01-01"), day("2025-12-31"))
    [schedule] = made["schedules"]
    assert (schedule["amount"], schedule["total"], schedule["instalments"]) == (
        D("100.00"),
        D("650.00"),
        7,
    )
    assert (schedule["frequency"], schedule["unspent"], schedule["start_date"]) == (
        "monthly",
        "expire",
        day("2025-01-01"),
    )
    [info] = Allocations(ledger).list_schedules("ml-proj")
    assert info.id == schedule["id"]
    assert info.schedule.total == Decimal(650)
    assert ledger.journal(account="ml-proj") == []  # nothing credited until it falls due
    summary = Allocations(ledger).process_due(ctx=ctx, today=date(2025, 3, 1))
    # --unspent expire: January's and February's unspent instalments were taken back.
    assert (summary.total_credited, summary.total_expired) == (Decimal(300), Decimal(200))
    assert ledger.get_account("ml-proj").limit_amount == Decimal(100)
    table = ok(asbb("account", "show", "ml-proj")).stdout
    assert "3/7" in table
    assert "$300.00" in table


def test_incremental_defaults_monthly_carry_from_today(asbb):
    made = data(
        asbb(
            "account",
            "create",
            "lab",
            "--incremental",
            "--total-budget",
            "300",
            "--allocation-amount",
            "100",
            "--json",
        )
    )
    [schedule] = made["schedules"]
    assert (schedule["frequency"], schedule["unspent"]) == ("monthly", "carry_over")
    assert schedule["start_date"] == day(datetime.now(UTC).date().isoformat())  # the CLI's clock


INCREMENTAL = ["--incremental", "--total-budget", "600", "--allocation-amount", "100"]


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--limit", "1.005"], "limit"),
        (["--limit", "-5"], "limit"),
        (["--limit", "ten"], "limit"),
        (["--start", "2026-02-01", "--end", "2026-01-01"], "end_date"),
        (["--start", "2026-13-01"], "start"),
        (["--partition-limit", "gpu-aws"], "partition-limit"),
        (["--partition-limit", "gpu-aws=1.005"], "partition_limits.gpu-aws"),
        (["--partition-limit", "gpu-aws=-1"], "partition_limits.gpu-aws"),
        (["--partition-limit", "bad part=1"], "partition"),
        (["--partition-limit", "a=1", "--partition-limit", "a=2"], "partition-limit"),
        (["--description", "x" * 501], "description"),
        (["--total-budget", "600"], "--total-budget"),
        (["--incremental", "--total-budget", "600"], "--allocation-amount"),
        ([*INCREMENTAL, "--limit", "5"], "limit"),
        (
            ["--incremental", "--total-budget", "600", "--allocation-amount", "1.005"],
            "allocation-amount",
        ),
        (
            ["--incremental", "--total-budget", "600", "--allocation-amount", "-100"],
            "allocation-amount",
        ),
        (["--incremental", "--total-budget", "50", "--allocation-amount", "100"], "total-budget"),
        (["--incremental", "--total-budget", "0", "--allocation-amount", "100"], "total-budget"),
        ([*INCREMENTAL, "--allocation-frequency", "fortnightly"], "allocation-frequency"),
        ([*INCREMENTAL, "--unspent", "keep"], "unspent"),
        ([*INCREMENTAL, "--start", "someday"], "start"),
        ([*INCREMENTAL, "--start", "2026-02-01", "--end", "2026-01-01"], "end_date"),
        (
            [
                "--incremental",
                "--total-budget",
                "1000000",
                "--allocation-amount",
                "1",
                "--allocation-frequency",
                "daily",
            ],
            "total-budget",
        ),
    ],
)
def test_create_refuses_bad_input_and_writes_nothing(asbb, db, physics, args, field):
    before = counts(db)
    one_error_line(asbb("account", "create", "newacct", *args), f"{field}")
    assert counts(db) == before


def test_create_refuses_a_taken_or_invalid_name(asbb, db, physics):
    before = counts(db)
    one_error_line(asbb("account", "create", "physics", "--limit", "5"), "already exists")
    one_error_line(asbb("account", "create", "Bad Name!"), "account:")
    one_error_line(asbb("account", "create", "physics", *INCREMENTAL), "already exists")
    assert counts(db) == before


# ---------------------------------------------------------------- show


def test_show_table_json_and_csv(asbb, ledger, ctx, physics):
    Allocations(ledger).create_schedule(
        "physics", amount="50", frequency="weekly", start_date=date(2026, 1, 5), ctx=ctx, total=100
    )
    table = ok(asbb("account", "show", "physics")).stdout
    assert "account physics" in table
    assert "$868.00" in table
    assert "gpu-aws" in table
    assert "$380.00" in table
    assert "weekly" in table

    shown = data(asbb("account", "show", "PHYSICS", "--json"))
    detail = ledger.get_account("physics")
    assert (shown["limit"], shown["used"], shown["held"], shown["available"]) == (
        D("1000.00"),
        D("120.00"),
        D("12.00"),
        D("868.00"),
    )
    assert Decimal(shown["used"]) == detail.used_amount
    assert shown["open_holds"] == 1
    assert shown["partition_limits"] == [
        {
            "partition": "gpu-aws",
            "limit": D("500.00"),
            "used": D("120.00"),
            "held": D("0.00"),
            "available": D("380.00"),
            "updated_at": shown["partition_limits"][0]["updated_at"],
        }
    ]
    [schedule] = shown["schedules"]
    assert (schedule["amount"], schedule["instalments"]) == (D("50.00"), 2)

    [record] = rows(asbb("account", "show", "physics", "--csv"))
    assert (record["available"], record["open_holds"]) == ("868.00", "1")
    made = ledger.get_account("physics").created_at.date().isoformat()
    assert record["start_date"].startswith(made)  # made without one: open since that day
    assert json.loads(record["partition_limits"])[0]["partition"] == "gpu-aws"


def test_show_unknown_account(asbb):
    one_error_line(asbb("account", "show", "ghost"), "ghost", "does not exist")
    one_error_line(asbb("account", "show", "ghost", "--json"), "does not exist")


# ---------------------------------------------------------------- update


@pytest.mark.single_admin
def test_update_limit_is_a_journaled_adjustment(asbb, ledger, db, physics):
    before = len(ledger.journal(account="physics"))
    shown = data(
        asbb(
            "account",
            "update",
            "physics",
            "--limit",
            "1500",
            "--reason",
            "second year",
            "--description",
            "Physics dept",
            "--json",
        )
    )
    assert (shown["limit"], shown["available"], shown["description"]) == (
        D("1500.00"),
        D("1368.00"),
        "Physics dept",
    )
    latest = ledger.journal(account="physics")
    assert len(latest) == before + 1
    assert (latest[0].kind, latest[0].limit_delta, latest[0].memo) == (
        EntryKind.ADJUSTMENT,
        Decimal(500),
        "second year",
    )
    assert latest[0].actor == os_login()
    # The same limit again is no movement (the description still changes).
    ok(asbb("account", "update", "physics", "--limit", "1500", "--description", "P"))
    assert len(ledger.journal(account="physics")) == before + 1
    assert ledger.get_account("physics").description == "P"
    assert verify_ledger(db).ok


def test_update_dates_and_status(asbb, ledger, physics):
    table = ok(
        asbb("account", "update", "physics", "--start", "2026-01-01", "--end", "2026-06-30")
    ).stdout
    assert "updated account physics" in table
    assert "2026-06-30" in table
    account = ledger.get_account("physics")
    assert (account.start_date, account.end_date) == (date(2026, 1, 1), date(2026, 6, 30))
    ok(asbb("account", "update", "physics", "--status", "suspended"))
    assert ledger.get_account("physics").status == AccountStatus.SUSPENDED
    [record] = rows(asbb("account", "update", "physics", "--status", "active", "--csv"))
    assert record["status"] == "active"
    ok(asbb("account", "update", "physics", "--clear-dates"))
    account = ledger.get_account("physics")
    assert (account.start_date, account.end_date) == (None, None)


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--limit", "2000"], "reason"),
        (["--limit", "1.005", "--reason", "r"], "limit"),
        (["--limit", "-1", "--reason", "r"], "limit"),
        (["--limit", "100", "--reason", "r"], "limit"),  # below the 132 used + held
        (["--end", "2020-01-01", "--start", "2021-01-01"], "end_date"),
        (["--end", "next week"], "end"),
        (["--status", "frozen"], "status"),
        (["--status", "closed"], "status"),
        # One transaction: the valid limit change is not kept when the dates are refused.
        (
            ["--limit", "2000", "--reason", "r", "--start", "2027-01-01", "--end", "2026-01-01"],
            "end_date",
        ),
        ([], "nothing to change"),
        (["--clear-dates", "--start", "2026-01-01"], "--clear-dates"),
    ],
)
@pytest.mark.single_admin
def test_update_refuses_bad_input_and_writes_nothing(asbb, ledger, db, physics, args, field):
    before = (counts(db), snapshot(ledger))
    one_error_line(asbb("account", "update", "physics", *args), field)
    assert (counts(db), snapshot(ledger)) == before


def test_update_unknown_account(asbb):
    one_error_line(asbb("account", "update", "ghost", "--description", "x"), "does not exist")


# ---------------------------------------------------------------- close


def test_close_needs_yes_without_a_terminal(asbb, ledger, ctx):
    ledger.create_account("done", ctx=ctx, limit="5")
    one_error_line(asbb("account", "close", "done"), "--yes")
    assert ledger.get_account("done").status == AccountStatus.ACTIVE
    closed = data(asbb("account", "close", "done", "--yes", "--json"))
    assert closed["status"] == "closed"
    assert ledger.get_account("done").status == AccountStatus.CLOSED
    again = ok(asbb("account", "close", "done", "--yes"))
    assert "already closed" in again.stderr
    one_error_line(asbb("account", "update", "done", "--status", "active"), "cannot be reopened")


def test_close_asks_on_a_terminal(asbb, ledger, ctx, monkeypatch):
    ledger.create_account("kept", ctx=ctx)
    ledger.create_account("gone", ctx=ctx)
    monkeypatch.setattr(accounts, "stdin_is_terminal", lambda: True)
    refused = asbb("account", "close", "kept", input="n\n")
    assert refused.exit_code == 1
    assert ledger.get_account("kept").status == AccountStatus.ACTIVE
    ok(asbb("account", "close", "gone", input="y\n"))
    assert ledger.get_account("gone").status == AccountStatus.CLOSED


def test_close_refused_with_open_holds(asbb, ledger, physics):
    one_error_line(asbb("account", "close", "physics", "--yes"), "open hold")
    assert ledger.get_account("physics").status == AccountStatus.ACTIVE
    one_error_line(asbb("account", "close", "ghost", "--yes"), "does not exist")


# ---------------------------------------------------------------- partition limits


def test_partition_limits_set_list_and_remove(asbb, ledger, physics):
    listed = data(asbb("partition-limit", "list", "physics", "--json"))
    assert [(c["partition"], c["used"], c["available"]) for c in listed] == [
        ("gpu-aws", D("120.00"), D("380.00"))
    ]
    # A new cap starts with what the partition used and holds so far.
    made = data(asbb("partition-limit", "set", "physics", "aws-cpu", "50", "--json"))
    assert (made["partition"], made["limit"], made["held"], made["available"]) == (
        "aws-cpu",
        D("50.00"),
        D("12.00"),
        D("38.00"),
    )
    changed = ok(asbb("partition-limit", "set", "physics", "gpu-aws", "600"))
    assert "$480.00" in changed.stdout
    assert {c.partition: c.limit_amount for c in ledger.partition_limits("physics")} == {
        "aws-cpu": Decimal(50),
        "gpu-aws": Decimal(600),
    }
    table = ok(asbb("partition-limit", "list", "physics")).stdout
    assert "aws-cpu" in table
    assert "$600.00" in table
    parsed = rows(asbb("partition-limit", "list", "physics", "--csv"))
    assert [(r["partition"], r["limit"]) for r in parsed] == [
        ("aws-cpu", "50.00"),
        ("gpu-aws", "600.00"),
    ]
    removed = ok(asbb("partition-limit", "remove", "physics", "aws-cpu"))
    assert "removed" in removed.stdout
    assert [c.partition for c in ledger.partition_limits("physics")] == ["gpu-aws"]
    ok(asbb("partition-limit", "remove", "physics", "gpu-aws"))
    empty = ok(asbb("partition-limit", "list", "physics"))
    assert empty.stdout == ""
    assert "no partition limits" in empty.stderr
    assert rows(asbb("partition-limit", "list", "physics", "--csv")) == []


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["set", "physics", "gpu-aws", "1.005"], "limit:"),
        (["set", "physics", "gpu-aws", "-5"], "limit:"),
        (["set", "physics", "bad part", "5"], "partition:"),
        (["set", "ghost", "gpu-aws", "5"], "does not exist"),
        (["remove", "physics", "local"], "partition 'local'"),
        (["remove", "ghost", "gpu-aws"], "does not exist"),
        (["list", "ghost"], "does not exist"),
    ],
)
def test_partition_limit_refusals_write_nothing(asbb, ledger, db, physics, args, fragment):
    before = (counts(db), snapshot(ledger))
    one_error_line(asbb("partition-limit", *args), fragment)
    assert (counts(db), snapshot(ledger)) == before
