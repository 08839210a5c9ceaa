"""``asbb adjust ...`` through the real Typer app, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from asbb_core.access.identity import os_login
from asbb_core.funding.approvals import Approvals
from asbb_core.ledger import Ledger
from asbb_core.settings import Settings
from asbb_core.store.database import Database
from asbb_core.store.models import AdjustmentStatus
from asbb_core.values.context import Context
from asbb_tui.cli import app
from tests.wire import D, loads

# Two real logins of every Debian system: who acts is the real uid's login, never a variable.
MAKER = "daemon"
CHECKER = "bin"


@pytest.fixture(autouse=True)
def isolated(cli_environment: Path) -> None:
    """No ASBB_* variables from the caller; an empty config file; a private data folder."""


@pytest.fixture
def asbb(migrated_url: str, ledger: Ledger, ctx: Context, act_as: Callable[[str], None]) -> Any:
    """Run ``asbb --database <the test database> adjust ARGS...`` as ``actor``."""
    ledger.create_account("physics", ctx=ctx, limit="500")
    ledger.create_account("chem", ctx=ctx, limit="100")

    def run(*args: str, actor: str = MAKER) -> Result:
        act_as(actor)
        return CliRunner().invoke(app, ["--database", migrated_url, "adjust", *args])

    return run


@pytest.fixture
def approvals(db: Database, ledger: Ledger, settings: Settings) -> Approvals:
    return Approvals(db, ledger, settings)


def ok(result: Result) -> Result:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result


def data(result: Result) -> Any:
    return loads(ok(result).stdout)


def one_error_line(result: Result, *fragments: str) -> None:
    assert result.exit_code == 1, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.mark.parametrize(
    "command",
    [[], ["request"], ["list"], ["show"], ["approve"], ["reject"], ["cancel"]],
    ids=lambda c: " ".join(c) or "adjust",
)
def test_every_command_explains_itself(command: list[str]) -> None:
    result = CliRunner().invoke(app, ["adjust", *command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_request_then_approve_by_another(asbb: Any, ledger: Ledger) -> None:
    made = data(asbb("request", "credit", "physics", "250", "--reason", "new grant", "--json"))
    assert made["status"] == "pending"
    assert (made["kind"], made["account"], made["amount"]) == ("credit", "physics", D("250.00"))
    assert made["requested_by"] == MAKER
    assert ledger.get_account("physics").limit_amount == Decimal(500)  # nothing moved yet

    done = data(asbb("approve", str(made["id"]), "--reason", "ok", "--json", actor=CHECKER))
    assert done["status"] == "approved"
    assert done["decided_by"] == CHECKER
    assert done["correlation_id"] == f"adjustment-{made['id']}"
    assert ledger.get_account("physics").limit_amount == Decimal(750)
    (entry,) = [e for e in ledger.journal(account="physics") if e.actor == CHECKER]
    assert entry.amount == Decimal(250)
    assert MAKER in entry.memo
    assert CHECKER in entry.memo


def test_request_table_names_the_next_step(asbb: Any) -> None:
    result = ok(asbb("request", "debit", "physics", "40.50", "--reason", "overbilled"))
    assert "$40.50" in result.stdout
    assert "pending" in result.stdout
    assert "asbb adjust approve 1" in result.stderr


def test_self_approval_fails_and_moves_nothing(asbb: Any, ledger: Ledger) -> None:
    made = data(asbb("request", "credit", "physics", "10", "--reason", "r", "--json"))
    before = len(ledger.journal(account="physics"))
    one_error_line(asbb("approve", str(made["id"])), MAKER, "may not approve")
    assert len(ledger.journal(account="physics")) == before
    assert data(asbb("show", str(made["id"]), "--json"))["status"] == "pending"


def test_large_amount_needs_the_account_name(asbb: Any, ledger: Ledger) -> None:
    made = data(asbb("request", "credit", "physics", "5000", "--reason", "big", "--json"))
    assert made["needs_confirmation"] is True
    rid = str(made["id"])
    one_error_line(asbb("approve", rid, actor=CHECKER), "confirm:", "physics")
    one_error_line(asbb("approve", rid, "--confirm", "chem", actor=CHECKER), "confirm:")
    assert ledger.get_account("physics").limit_amount == Decimal(500)
    ok(asbb("approve", rid, "--confirm", "physics", actor=CHECKER))
    assert ledger.get_account("physics").limit_amount == Decimal(5500)


def test_transfer_limit_refund_and_hold_release(
    asbb: Any, ledger: Ledger, ctx: Context, approvals: Approvals
) -> None:
    moved = data(
        asbb("request", "transfer", "physics", "100", "--to", "chem", "--reason", "t", "--json")
    )
    assert moved["target_account"] == "chem"
    ok(asbb("approve", str(moved["id"]), actor=CHECKER))
    assert ledger.get_account("chem").limit_amount == Decimal(200)

    limit = data(asbb("request", "limit", "chem", "300", "--reason", "l", "--json"))
    ok(asbb("approve", str(limit["id"]), actor=CHECKER))
    assert ledger.get_account("chem").limit_amount == Decimal(300)

    hold = ledger.create_hold("physics", "20", ctx=ctx, buffer=1, partition="aws-cpu")
    ledger.post_hold(hold.hold_id, "20", ctx=ctx)
    refund = data(
        asbb(
            "request",
            "refund",
            "physics",
            "5",
            "--partition",
            "aws-cpu",
            "--reason",
            "r",
            "--json",
        )
    )
    assert refund["partition"] == "aws-cpu"
    ok(asbb("approve", str(refund["id"]), actor=CHECKER))
    assert ledger.get_account("physics").used_amount == Decimal(15)

    open_hold = ledger.create_hold("physics", "30", ctx=ctx, buffer=1)
    release = data(
        asbb(
            "request",
            "hold_release",
            "physics",
            "--hold",
            open_hold.hold_id,
            "--reason",
            "x",
            "--json",
        )
    )
    assert release["amount"] == D("30.00")
    ok(asbb("approve", str(release["id"]), actor=CHECKER))
    assert str(ledger.get_hold(open_hold.hold_id).state) == "voided"
    assert approvals.count(status="approved") == 4


def test_reject_and_cancel(asbb: Any, approvals: Approvals) -> None:
    first = data(asbb("request", "credit", "physics", "1", "--reason", "a", "--json"))
    second = data(asbb("request", "credit", "physics", "2", "--reason", "b", "--json"))
    one_error_line(asbb("reject", str(first["id"]), "--reason", "no"), "cancel it instead")
    one_error_line(asbb("reject", str(first["id"]), actor=CHECKER), "reason:")
    rejected = data(asbb("reject", str(first["id"]), "--reason", "no", "--json", actor=CHECKER))
    assert (rejected["status"], rejected["decision_reason"]) == ("rejected", "no")
    one_error_line(asbb("cancel", str(second["id"]), actor=CHECKER), "only", MAKER)
    cancelled = data(asbb("cancel", str(second["id"]), "--json"))
    assert cancelled["status"] == "cancelled"
    one_error_line(asbb("approve", str(second["id"]), actor=CHECKER), "already cancelled")
    assert approvals.get(second["id"]).status == AdjustmentStatus.CANCELLED


def test_list_filters_json_csv_and_table(asbb: Any, approvals: Approvals) -> None:
    for n in range(1, 6):
        ok(asbb("request", "credit", "physics", str(n), "--reason", f"reason {n}"))
    ok(asbb("request", "debit", "chem", "7", "--reason", "special"))
    ok(asbb("approve", "1", actor=CHECKER))

    listed = data(asbb("list", "--json"))
    assert [r["id"] for r in listed] == [6, 5, 4, 3, 2, 1]
    assert {r["id"]: r["amount"] for r in listed} == {
        r.id: D(f"{r.amount:.2f}") for r in approvals.list()
    }
    assert [r["id"] for r in data(asbb("list", "--status", "approved", "--json"))] == [1]
    assert [r["id"] for r in data(asbb("list", "--account", "chem", "--json"))] == [6]
    assert [r["id"] for r in data(asbb("list", "--search", "special", "--json"))] == [6]
    page = data(asbb("list", "--limit", "2", "--offset", "1", "--json"))
    assert [r["id"] for r in page] == [5, 4]

    rows = list(csv.DictReader(io.StringIO(ok(asbb("list", "--csv")).stdout)))
    assert [r["id"] for r in rows] == ["6", "5", "4", "3", "2", "1"]
    assert rows[-1]["amount"] == "1.00"
    assert rows[-1]["status"] == "approved"
    assert rows[0]["target_account"] == ""

    table = ok(asbb("list", "--limit", "2"))
    assert "$7.00" in table.stdout
    assert "adjustment requests 1-2 of 6; next page: --offset 2" in table.stderr

    empty = ok(asbb("list", "--status", "rejected"))
    assert empty.stdout == ""
    assert "no adjustment requests" in empty.stderr


def test_show_json_csv_and_table(asbb: Any) -> None:
    ok(asbb("request", "credit", "physics", "12.34", "--reason", "why not"))
    shown = data(asbb("show", "1", "--json"))
    assert shown["amount"] == D("12.34")
    assert shown["result"] is None
    (row,) = list(csv.DictReader(io.StringIO(ok(asbb("show", "1", "--csv")).stdout)))
    assert (row["kind"], row["amount"], row["reason"]) == ("credit", "12.34", "why not")
    table = ok(asbb("show", "1")).stdout
    assert "$12.34" in table
    assert "why not" in table
    one_error_line(asbb("show", "99"), "adjustment request 99 does not exist")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["request", "bonus", "physics", "5", "--reason", "r"], "kind:"),
        (["request", "credit", "nobody", "5", "--reason", "r"], "nobody"),
        (["request", "--reason", "r", "credit", "physics", "--", "-5"], "amount"),
        (["request", "credit", "physics", "1.005", "--reason", "r"], "amount"),
        (["request", "credit", "physics", "5"], "reason:"),
        (["request", "credit", "physics", "--reason", "r"], "amount:"),
        (["request", "transfer", "physics", "5", "--reason", "r"], "target_account:"),
        (["request", "credit", "physics", "5", "--to", "chem", "--reason", "r"], "target_account"),
        (["request", "hold_release", "physics", "--reason", "r"], "hold_id:"),
        (["request", "hold_release", "physics", "--hold", "nope", "--reason", "r"], "nope"),
        (["request", "debit", "physics", "5", "--partition", "gpu", "--reason", "r"], "partition"),
        (["list", "--status", "done"], "status:"),
        (["list", "--limit", "0"], "limit:"),
        (["list", "--offset", "-1"], "offset:"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    asbb: Any, approvals: Approvals, ledger: Ledger, args: list[str], fragment: str
) -> None:
    journal = len(ledger.journal())
    one_error_line(asbb(*args), fragment)
    assert approvals.count() == 0
    assert len(ledger.journal()) == journal


def test_usage_errors_exit_2(asbb: Any, approvals: Approvals) -> None:
    both = asbb("request", "credit", "physics", "5", "--reason", "r", "--json", "--csv")
    assert both.exit_code == 2
    assert approvals.count() == 0
    assert asbb("show", "abc").exit_code == 2
    assert asbb("approve", "0", actor=CHECKER).exit_code == 2


def test_actor_is_the_real_login(migrated_url: str, ledger: Ledger, ctx: Context) -> None:
    ledger.create_account("physics", ctx=ctx)
    result = CliRunner().invoke(
        app,
        [
            "--database",
            migrated_url,
            "adjust",
            "request",
            "credit",
            "physics",
            "1",
            "--reason",
            "r",
            "--json",
        ],
    )
    assert loads(ok(result).stdout)["requested_by"] == os_login()
