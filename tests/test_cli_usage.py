"""``asbb usage show`` and ``asbb usage summary`` through the real Typer app, both backends."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from asbb_core.analytics.usage import usage_summary
from asbb_core.ledger import Ledger
from asbb_core.store.database import Database
from asbb_core.values.context import Context
from asbb_tui.cli import app
from tests.conftest import Clock
from tests.wire import D, loads

MARCH = ["--since", "2026-03-01", "--until", "2026-03-31"]


@pytest.fixture(autouse=True)
def isolated(cli_environment: Path) -> None:
    """No ASBB_* variables from the caller; an empty config file; a private data folder."""


def charge(ledger: Ledger, clock: Clock, ctx: Context, when: datetime, account: str, cost: str,
           **kw: str) -> None:  # fmt: skip
    clock.now = when
    hold = ledger.create_hold(account, cost, ctx=ctx, buffer=1, **kw)
    ledger.post_hold(hold.hold_id, cost, ctx=ctx)


def at(day: str, hour: int = 12) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


@pytest.fixture
def charged(ledger: Ledger, clock: Clock, ctx: Context) -> None:
    """physics: 100 (ann, aws-cpu) + 50.50 (bob, gpu-aws) in March, 40 in April, 7 in February;
    chem: 20 (ann, aws-cpu) in March."""
    clock.now = at("2026-01-01", 0)
    ledger.create_account("physics", ctx=ctx, limit="1000")
    ledger.create_account("chem", ctx=ctx, limit="1000")
    charge(ledger, clock, ctx, at("2026-02-20"), "physics", "7", partition="aws-cpu")
    charge(ledger, clock, ctx, at("2026-03-01", 0), "physics", "100", partition="aws-cpu",
           user_name="ann")  # fmt: skip
    charge(ledger, clock, ctx, at("2026-03-15"), "physics", "50.50", partition="gpu-aws",
           user_name="bob")  # fmt: skip
    charge(ledger, clock, ctx, at("2026-03-31", 23), "chem", "20", partition="aws-cpu",
           user_name="ann")  # fmt: skip
    charge(ledger, clock, ctx, at("2026-04-01", 0), "physics", "40", partition="aws-cpu")


@pytest.fixture
def asbb(migrated_url: str, charged: None) -> Any:
    def run(*args: str) -> Result:
        return CliRunner().invoke(app, ["--database", migrated_url, "usage", *args])

    return run


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
    "command", [[], ["show"], ["summary"]], ids=lambda c: " ".join(c) or "usage"
)
def test_every_command_explains_itself(command: list[str]) -> None:
    result = CliRunner().invoke(app, ["usage", *command, "--help"])
    assert result.exit_code == 0, result.output


def test_show_by_partition(asbb: Any, db: Database) -> None:
    body = data(asbb("show", "physics", *MARCH, "--json"))
    assert (body["charged"], body["jobs"], body["average_per_job"]) == (D("150.50"), 2, D("75.25"))
    assert [(g["key"], g["charged"], g["jobs"]) for g in body["groups"]] == [
        ("aws-cpu", D("100.00"), 1),
        ("gpu-aws", D("50.50"), 1),
    ]
    direct = usage_summary(
        db,
        group_by="partition",
        account="physics",
        since=at("2026-03-01", 0),
        until=at("2026-04-01", 0),
    )
    assert body["charged"] == direct.charged
    # times as the API's /usage/summary writes them
    assert (body["since"], body["until"]) == ("2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z")

    table = ok(asbb("show", "physics", *MARCH)).stdout
    assert "$150.50" in table  # the total row
    assert "$75.25" in table
    assert "gpu-aws" in table

    rows = list(csv.DictReader(io.StringIO(ok(asbb("show", "physics", *MARCH, "--csv")).stdout)))
    assert [(r["key"], r["charged"], r["average_per_job"]) for r in rows] == [
        ("aws-cpu", "100.00", "100.00"),
        ("gpu-aws", "50.50", "50.50"),
    ]


def test_show_by_user_day_and_month(asbb: Any) -> None:
    users = data(asbb("show", "physics", *MARCH, "--by", "user", "--json"))
    assert [(g["key"], g["charged"]) for g in users["groups"]] == [
        ("ann", D("100.00")),
        ("bob", D("50.50")),
    ]
    days = data(asbb("show", "physics", *MARCH, "--by", "day", "--json"))
    assert [g["key"] for g in days["groups"]] == ["2026-03-01", "2026-03-15"]
    months = data(
        asbb(
            "show",
            "physics",
            "--since",
            "2026-02-10",
            "--until",
            "2026-04-30",
            "--by",
            "month",
            "--json",
        )
    )
    assert months["group_by"] == "month"
    assert [(g["key"], g["charged"], g["jobs"]) for g in months["groups"]] == [
        ("2026-02", D("7.00"), 1),
        ("2026-03", D("150.50"), 2),
        ("2026-04", D("40.00"), 1),
    ]
    assert (months["charged"], months["jobs"]) == (D("197.50"), 4)


def test_summary_by_account_and_partition(asbb: Any) -> None:
    body = data(asbb("summary", *MARCH, "--json"))
    assert [(g["key"], g["charged"], g["jobs"]) for g in body["groups"]] == [
        ("chem", D("20.00"), 1),
        ("physics", D("150.50"), 2),
    ]
    assert body["charged"] == D("170.50")
    parts = data(asbb("summary", *MARCH, "--by", "partition", "--json"))
    assert [(g["key"], g["charged"]) for g in parts["groups"]] == [
        ("aws-cpu", D("120.00")),
        ("gpu-aws", D("50.50")),
    ]
    rows = list(csv.DictReader(io.StringIO(ok(asbb("summary", *MARCH, "--csv")).stdout)))
    assert [r["key"] for r in rows] == ["chem", "physics"]
    assert "$170.50" in ok(asbb("summary", *MARCH)).stdout


def test_last_is_a_lookback_from_today(
    migrated_url: str, ledger: Ledger, clock: Clock, ctx: Context
) -> None:
    now = datetime.now(UTC)
    clock.now = now - timedelta(days=100)
    ledger.create_account("recent", ctx=ctx, limit="100")
    charge(ledger, clock, ctx, now - timedelta(days=40), "recent", "3")
    charge(ledger, clock, ctx, now - timedelta(days=5), "recent", "4")

    def run(*args: str) -> Any:
        cmd = ["--database", migrated_url, "usage", "show", "recent", *args, "--json"]
        return data(CliRunner().invoke(app, cmd))

    assert run()["charged"] == D("4.00")  # the default: the last 30 days
    assert run("--last", "2m")["charged"] == D("7.00")
    assert run("--last", "1w")["charged"] == D("4.00")


def test_nothing_charged_says_so(asbb: Any) -> None:
    empty = ok(asbb("show", "physics", "--since", "2025-01-01", "--until", "2025-01-31"))
    assert empty.stdout == ""
    assert "no charges to physics" in empty.stderr
    body = data(asbb("show", "physics", "--since", "2025-01-01", "--until", "2025-01-31", "--json"))
    assert (body["groups"], body["charged"], body["jobs"]) == ([], D("0.00"), 0)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["show", "nobody!", *MARCH], "account"),
        (["show", "physics", "--since", "2026-03-10", "--until", "2026-03-09"], "until:"),
        (["show", "physics", "--since", "2026-02-30"], "since:"),
        (["show", "physics", "--last", "3q"], "last:"),
        (["show", "physics", "--last", "0d"], "last:"),
        (["show", "physics", "--by", "week"], "by:"),
        (["show", "physics", "--by", "account"], "by:"),
        (["summary", "--by", "hour"], "by:"),
    ],
)
def test_bad_input_is_one_line(asbb: Any, args: list[str], fragment: str) -> None:
    one_error_line(asbb(*args), fragment)


def test_usage_errors_exit_2(asbb: Any) -> None:
    assert asbb("show", "physics", "--last", "7d", "--since", "2026-03-01").exit_code == 2
    assert asbb("summary", "--json", "--csv").exit_code == 2
