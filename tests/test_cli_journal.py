"""``asbb transactions ...`` and ``asbb holds ...`` through the real Typer app, on SQLite and
PostgreSQL."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import func, select
from typer.testing import CliRunner, Result

from asbb_core.access.identity import os_login
from asbb_core.ledger.verify import verify_ledger
from asbb_core.store.models import EntryKind, HoldState, JournalEntry
from asbb_tui.cli import app
from tests.wire import D, loads


@pytest.fixture(autouse=True)
def isolated(cli_environment: Path) -> None:
    """No ASBB_* variables from the caller; an empty config file; a private data folder."""


@pytest.fixture
def asbb(migrated_url: str) -> Any:
    """Run ``asbb --database <the test database> ARGS...``."""

    def run(*args: str, columns: int = 80) -> Result:
        env = {"COLUMNS": str(columns)}
        return CliRunner().invoke(app, ["--database", migrated_url, *args], env=env)

    return run


@dataclass
class Story:
    posted: str
    """physics' hold for job 101: 120 reserved, 90 charged, 30 released."""
    chem_open: str
    """chem's open hold for job 102 (12 reserved)."""
    physics_open: str
    """physics' open hold for job 103 (6 reserved)."""
    old_day: str
    """The day (UTC) the two accounts were opened, 40 days ago."""


@pytest.fixture
def story(ledger, ctx, clock) -> Story:
    """Two accounts opened 40 days ago (by the CLI's real clock); three holds today."""
    now = datetime.now(UTC)
    clock.now = now - timedelta(days=40)
    ledger.create_account("physics", ctx=ctx, limit="1000")  # entry 1
    ledger.create_account("chem", ctx=ctx, limit="500")  # entry 2
    clock.now = now
    posted = ledger.create_hold("physics", "100", ctx=ctx, partition="gpu-aws", job_id="101")
    ledger.post_hold(posted.hold_id, "90", ctx=ctx)  # entries 3-5: hold, charge, release
    chem = ledger.create_hold("chem", "10", ctx=ctx, job_id="102", user_name="ann")  # 6
    physics = ledger.create_hold("physics", "5", ctx=ctx, job_id="103")  # 7
    return Story(
        posted.hold_id, chem.hold_id, physics.hold_id, (now - timedelta(days=40)).date().isoformat()
    )


def ok(result: Result) -> Result:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result


def data(result: Result) -> Any:
    return loads(ok(result).stdout)


def rows(result: Result) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(ok(result).stdout)))


def one_error_line(result: Result, *fragments: str) -> None:
    assert result.exit_code == 1, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]


def journal_count(db) -> int:
    return db.read(lambda s: s.exec(select(func.count()).select_from(JournalEntry)).one())


COMMANDS = [
    ["transactions"],
    ["transactions", "list"],
    ["transactions", "show"],
    ["holds"],
    ["holds", "list"],
    ["holds", "show"],
    ["holds", "void"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_explains_itself(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.stdout
    assert len(result.stdout.split("Options")[0].strip().splitlines()) >= 3


# ---------------------------------------------------------------- transactions


def test_list_table_json_and_csv_match_the_journal(asbb, ledger, story):
    table = ok(asbb("transactions", "list")).stdout
    assert "journal" in table
    assert "$90.00" in table  # the charge
    assert "$1,000.00" in table  # the opening deposit

    listed = data(asbb("transactions", "list", "--json"))
    journal = ledger.journal()
    assert listed["next_before_id"] is None
    assert [e["id"] for e in listed["items"]] == [e.id for e in journal]  # newest first
    assert [(e["type"], e["amount"]) for e in listed["items"]] == [
        (str(e.kind), D(f"{e.amount:.2f}")) for e in journal
    ]
    charge = next(e for e in listed["items"] if e["type"] == "charge")
    assert charge["completed_at"] == charge["created_at"]
    assert charge["created_at"].endswith("Z")
    assert loads(charge["metadata"]) == charge["job_metadata"]  # the original's: as JSON text
    moments = {"created_at": None, "completed_at": None}
    assert charge | moments | {"correlation_id": None, "actor": None} == {
        "id": charge["id"],
        "created_at": None,
        "account": "physics",
        "type": "charge",
        "amount": D("90.00"),
        "limit_delta": D("0.00"),
        "used_delta": D("90.00"),
        "held_delta": D("-90.00"),
        "partition": "gpu-aws",
        "hold_id": story.posted,
        "job_id": "101",
        "user": None,
        "counterparty": None,
        "overrun": False,
        "actor": None,
        "source": "cli",
        "correlation_id": None,
        "memo": charge["memo"],
        "job_metadata": charge["job_metadata"],
        "metadata": charge["metadata"],
        "account_id": ledger.get_account("physics").id,
        "transaction_id": str(charge["id"]),
        "parent_transaction_id": story.posted,
        "description": charge["memo"],
        "status": "completed",
        "completed_at": None,
    }

    parsed = rows(asbb("transactions", "list", "--csv"))
    assert "held_delta" in parsed[0]
    assert "correlation_id" in parsed[0]
    assert [(int(r["id"]), Decimal(r["amount"])) for r in parsed] == [
        (e.id, e.amount) for e in journal
    ]
    assert sum(Decimal(r["used_delta"]) for r in parsed) == Decimal(90)


def test_list_filters(asbb, ledger, story):
    def kinds(*args: str) -> list[tuple[str, str]]:
        items = data(asbb("transactions", "list", *args, "--json"))["items"]
        return [(e["account"], e["type"]) for e in items]

    assert kinds("--account", "CHEM") == [("chem", "hold"), ("chem", "deposit")]
    assert kinds("--job", "101") == [
        ("physics", "release"),
        ("physics", "charge"),
        ("physics", "hold"),
    ]
    assert kinds("--type", "charge") == [("physics", "charge")]
    assert kinds("--hold", story.physics_open) == [("physics", "hold")]
    assert kinds("--type", "deposit", "--last", "30d") == []
    assert kinds("--type", "deposit", "--last", "6w") == [
        ("chem", "deposit"),
        ("physics", "deposit"),
    ]
    assert len(kinds("--last", "1d")) == 5  # today's holds, charge and release
    assert kinds("--since", story.old_day, "--until", story.old_day) == [
        ("chem", "deposit"),
        ("physics", "deposit"),
    ]
    assert len(kinds("--since", "today")) == 5
    assert len(kinds("--until", "yesterday")) == 2


def test_list_pages_by_id(asbb, ledger, story):
    first = data(asbb("transactions", "list", "--limit", "3", "--json"))
    assert len(first["items"]) == 3
    cursor = first["next_before_id"]
    assert cursor == first["items"][-1]["id"]
    rest = data(asbb("transactions", "list", "--before-id", str(cursor), "--json"))
    assert rest["next_before_id"] is None
    seen = [e["id"] for e in first["items"] + rest["items"]]
    assert seen == [e.id for e in ledger.journal()]
    table = ok(asbb("transactions", "list", "--limit", "3"))
    assert f"more entries: --before-id {cursor}" in table.stderr
    nothing = ok(asbb("transactions", "list", "--type", "transfer"))
    assert nothing.stdout == ""
    assert "no journal entries" in nothing.stderr


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--type", "refund"], "type:"),
        (["--last", "0d"], "last:"),
        (["--last", "soon"], "last:"),
        (["--since", "2026-13-01"], "since:"),
        (["--last", "30d", "--since", "today"], "--last or --since"),
        (["--since", "today", "--until", "yesterday"], "until:"),
        (["--limit", "0"], "limit:"),
        (["--limit", "501"], "limit:"),
        (["--account", "ghost"], "does not exist"),
        (["--account", "Not A Name"], "account:"),
    ],
)
def test_list_refuses_bad_options(asbb, story, args, field):
    one_error_line(asbb("transactions", "list", *args), field)


def test_show_one_entry(asbb, ledger, story):
    entry = next(e for e in ledger.journal() if e.kind == EntryKind.CHARGE)
    table = ok(asbb("transactions", "show", str(entry.id))).stdout
    assert f"entry {entry.id}" in table
    assert "$90.00" in table
    assert story.posted in table
    shown = data(asbb("transactions", "show", str(entry.id), "--json"))
    assert (shown["id"], shown["type"], shown["used_delta"], shown["job_id"]) == (
        entry.id,
        "charge",
        D("90.00"),
        "101",
    )
    assert shown["correlation_id"] == entry.correlation_id
    [record] = rows(asbb("transactions", "show", str(entry.id), "--csv"))
    assert (record["amount"], record["held_delta"], record["overrun"]) == (
        "90.00",
        "-90.00",
        "False",
    )


def test_show_unknown_or_bad_id(asbb, story):
    one_error_line(asbb("transactions", "show", "999999"), "999999", "does not exist")
    assert asbb("transactions", "show", "0").exit_code == 2
    assert asbb("transactions", "show", "abc").exit_code == 2


# ---------------------------------------------------------------- holds


def test_holds_list_table_json_and_csv(asbb, ledger, story):
    table = ok(asbb("holds", "list", columns=160)).stdout  # a hold id wraps in 80 columns
    assert story.chem_open in table
    assert "$12.00" in table
    assert story.posted not in table  # open ones only by default

    listed = data(asbb("holds", "list", "--json"))
    assert listed["total"] == 2
    assert {h["id"] for h in listed["items"]} == {story.chem_open, story.physics_open}
    chem = next(h for h in listed["items"] if h["account"] == "chem")
    hold = ledger.get_hold(story.chem_open)
    assert (chem["amount"], chem["remaining"], chem["estimate"], chem["buffer"]) == (
        D("12.00"),
        D("12.00"),
        D("10.0000"),
        D("1.2"),
    )
    assert Decimal(chem["amount"]) == hold.amount
    assert (chem["job_id"], chem["user"], chem["state"]) == ("102", "ann", "open")

    parsed = rows(asbb("holds", "list", "--status", "all", "--csv"))
    assert "released" in parsed[0]
    assert "expires_at" in parsed[0]
    by_id = {r["id"]: r for r in parsed}
    assert set(by_id) == {story.posted, story.chem_open, story.physics_open}
    assert (by_id[story.posted]["charged"], by_id[story.posted]["released"]) == ("90.00", "30.00")


def test_holds_list_filters(asbb, story):
    def ids(*args: str) -> list[str]:
        return [h["id"] for h in data(asbb("holds", "list", *args, "--json"))["items"]]

    assert ids("--account", "chem") == [story.chem_open]
    assert ids("--status", "posted") == [story.posted]
    assert ids("--status", "voided") == []
    assert ids("--job", "103") == [story.physics_open]
    assert ids("--job", "101") == []  # posted, not open
    assert ids("--job", "101", "--status", "all") == [story.posted]
    page = data(asbb("holds", "list", "--status", "all", "--limit", "1", "--offset", "1", "--json"))
    assert (len(page["items"]), page["total"], page["offset"]) == (1, 3, 1)
    assert "next page: --offset 1" in ok(asbb("holds", "list", "--limit", "1")).stderr


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--status", "stuck"], "status:"),
        (["--account", "ghost"], "does not exist"),
        (["--limit", "0"], "limit:"),
        (["--offset", "-1"], "offset:"),
    ],
)
def test_holds_list_refuses_bad_options(asbb, story, args, field):
    one_error_line(asbb("holds", "list", *args), field)


def test_holds_show(asbb, story):
    assert story.posted in ok(asbb("holds", "show", story.posted)).stdout
    shown = data(asbb("holds", "show", story.posted, "--json"))
    assert (shown["state"], shown["charged"], shown["released"]) == (
        "posted",
        D("90.00"),
        D("30.00"),
    )
    [record] = rows(asbb("holds", "show", story.posted, "--csv"))
    assert record["amount"] == "120.00"
    one_error_line(asbb("holds", "show", "nope"), "does not exist")


@pytest.mark.single_admin
def test_void_releases_the_hold_once(asbb, ledger, db, story):
    before = ledger.get_account("physics")
    voided = data(asbb("holds", "void", story.physics_open, "--reason", "job cancelled", "--json"))
    assert (voided["released"], voided["replayed"]) == (D("6.00"), False)
    assert (voided["hold"]["state"], voided["hold"]["remaining"]) == ("voided", D("0.00"))
    assert ledger.get_hold(story.physics_open).state == HoldState.VOIDED
    after = ledger.get_account("physics")
    assert after.held_amount == before.held_amount - Decimal(6)
    [release] = ledger.journal(hold_id=story.physics_open, limit=1)
    assert (release.kind, release.memo) == (EntryKind.RELEASE, "job cancelled")
    assert release.actor == os_login()

    count = journal_count(db)
    one_error_line(asbb("holds", "void", story.physics_open, "--reason", "again"), "already voided")
    one_error_line(asbb("holds", "void", story.posted, "--reason", "late"), "already posted")
    one_error_line(asbb("holds", "void", "nope", "--reason", "x"), "does not exist")
    one_error_line(asbb("holds", "void", story.chem_open, "--reason", "x" * 501), "reason:")
    assert asbb("holds", "void", story.chem_open).exit_code == 2  # --reason is required
    assert journal_count(db) == count
    assert ledger.get_hold(story.chem_open).state == HoldState.OPEN

    text = ok(asbb("holds", "void", story.chem_open, "--reason", "node failure")).stdout
    assert f"hold {story.chem_open} of account chem is voided: released $12.00" in text
    assert verify_ledger(db).ok
