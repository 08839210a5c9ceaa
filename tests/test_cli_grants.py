"""``asbb grant ...`` and ``asbb report ...`` through the real Typer app, on both backends.

The command line runs on the real clock, so the test grant is laid around today: period 1 is
last year, period 2 this year, period 3 next year (UTC).
"""

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

from asbb_core.analytics.reports import GRANT_CSV_COLUMNS, STATEMENT_CSV_COLUMNS
from asbb_core.funding.grants import Grants
from asbb_core.funding.views import GrantView, PeriodStatusView
from asbb_core.ledger import Ledger
from asbb_core.ledger.verify import verify_ledger
from asbb_core.values.context import Context
from asbb_tui.cli import app
from tests.conftest import Clock
from tests.test_reports import documented_columns
from tests.wire import D, day, loads, rows_and_total

NUMBER = "NSF-2312345"
THIS_YEAR = datetime.now(UTC).year


@pytest.fixture(autouse=True)
def isolated(cli_environment: Path) -> None:
    """No ASBB_* variables from the caller; an empty config file; a private data folder."""


@pytest.fixture
def asbb(migrated_url: str, ledger: Ledger, ctx: Context, clock: Clock) -> Any:
    """Run ``asbb --database <the test database> ARGS...``; accounts 'lab' and 'other'."""
    clock.now = datetime.now(UTC)
    ledger.create_account("lab", ctx=ctx)
    ledger.create_account("other", ctx=ctx)

    def run(*args: str) -> Result:
        return CliRunner().invoke(app, ["--database", migrated_url, *args])

    run.url = migrated_url  # type: ignore[attr-defined]
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


def create(asbb: Any, *extra: str) -> Result:
    return asbb(
        "grant",
        "create",
        NUMBER,
        "--award",
        "300000",
        "--start",
        f"{THIS_YEAR - 1}-01-01",
        "--end",
        f"{THIS_YEAR + 1}-12-31",
        "--indirect-rate",
        "0.30",
        "--agency",
        "NSF",
        "--pi",
        "Ada Lovelace",
        "--co-pi",
        "Grace Hopper",
        "--co-pi",
        "Alan Turing",
        "--cfda",
        "47.070",
        *extra,
    )


@pytest.mark.parametrize(
    "command",
    [
        ["grant"],
        *[
            ["grant", c]
            for c in (
                "create",
                "list",
                "show",
                "update",
                "period",
                "regenerate",
                "link",
                "unlink",
                "fund",
                "status",
                "periods",
                "report",
            )
        ],
        ["report"],
        ["report", "grant"],
        ["report", "statement"],
    ],
    ids=" ".join,
)
def test_every_command_explains_itself(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.stdout
    assert len(result.stdout.split("Options")[0].strip().splitlines()) >= 2


def test_grant_fund_spend_report(
    asbb: Any, ledger: Ledger, ctx: Context, clock: Clock, tmp_path: Path
) -> None:
    made = data(create(asbb, "--json"))
    assert [p["budget"] for p in made["periods"]] == [D("100000.00")] * 3
    assert made["co_pis"] == ["Grace Hopper", "Alan Turing"]
    assert made["indirect_rate"] == D("0.30")
    ok(asbb("grant", "link", NUMBER, "lab"))
    draw = data(asbb("grant", "fund", NUMBER, "lab", "1500", "--memo", "compute", "--json"))
    assert (draw["period"], draw["amount"], draw["indirect"], draw["cost"]) == (
        2,
        D("1500.00"),
        D("450.00"),
        D("1950.00"),
    )
    clock.now = datetime.now(UTC)
    hold = ledger.create_hold("lab", "1000", ctx=ctx, buffer=1, user_name="ann")
    ledger.post_hold(hold.hold_id, "1000", ctx=ctx)

    status = data(asbb("grant", "status", NUMBER, "--json"))
    assert (status["period"], status["direct"], status["indirect"], status["consumed"]) == (
        2,
        D("1000.00"),
        D("300.00"),
        D("1300.00"),
    )
    human = ok(asbb("grant", "status", NUMBER, "--period", "2")).stdout
    assert "$1,300.00 (1.3%)" in human

    out = tmp_path / "p2.csv"
    written = ok(
        asbb("report", "grant", NUMBER, "--period", "2", "--format", "csv", "-o", str(out))
    )
    assert str(out) in written.stderr
    kept = out.read_bytes()
    # A second export to the same file is refused and leaves it as it was; --force replaces.
    again = ("report", "grant", NUMBER, "--period", "1", "--format", "csv", "-o", str(out))
    one_error_line(asbb(*again), str(out), "already exists", "--force")
    assert out.read_bytes() == kept
    ok(asbb(*again, "--force"))
    assert out.read_bytes() != kept  # period 1 now
    ok(asbb(*again[:4], "2", *again[5:], "--force"))
    assert out.read_bytes() == kept
    one_error_line(asbb(*again[:-1], str(tmp_path / "missing" / "p.csv")), "cannot write")
    with out.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == documented_columns("### Grant report CSV columns")
        assert reader.fieldnames == list(GRANT_CSV_COLUMNS)
        rows = list(reader)
    total = next(r for r in rows if r["section"] == "period")
    assert (total["direct"], total["indirect"], total["total"]) == ("1000.00", "300.00", "1300.00")
    for period in ("1", "3"):
        text = ok(asbb("report", "grant", NUMBER, "--period", period, "--format", "csv")).stdout
        row = next(r for r in csv.DictReader(io.StringIO(text)) if r["section"] == "period")
        assert (row["direct"], row["indirect"], row["total"]) == ("0.00", "0.00", "0.00")
    report = data(asbb("report", "grant", NUMBER, "--json"))
    assert report["summary"]["total"] == D("1300.00")
    assert report["by_user"][0]["key"] == "ann"
    markdown = ok(asbb("report", "grant", NUMBER)).stdout
    assert markdown.startswith(f"# Grant compliance report: {NUMBER}, budget period 2")

    today = datetime.now(UTC).date().isoformat()
    st = data(
        asbb("report", "statement", "lab", "--since", "2000-01-01", "--until", today, "--json")
    )
    account = ledger.get_account("lab")
    assert st["closing"]["limit"] == account.limit_amount == D("1500.00")
    assert st["closing"]["available"] == D("500.00")
    out = tmp_path / "lab.csv"
    ok(
        asbb(
            "report", "statement", "lab", "--since", "2000-01-01", "--until", today,
            "--format", "csv", "--output", str(out),
        )
    )  # fmt: skip
    with out.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == list(STATEMENT_CSV_COLUMNS)
        kinds = [r["kind"] for r in reader]
    assert kinds == ["opening", "allocation", "hold", "charge", "closing"]
    assert verify_ledger(ledger.db).ok


def test_show_list_update_periods(asbb: Any) -> None:
    ok(create(asbb))
    shown = ok(asbb("grant", "show", NUMBER)).stdout
    assert "Ada Lovelace" in shown
    assert "$100,000.00" in shown
    listed = ok(asbb("grant", "list")).stdout
    assert NUMBER in listed
    assert "30%" in listed
    # A page, as an object: {"items": [...]} (the API sends the rows as an array).
    assert [g["number"] for g in data(asbb("grant", "list", "--json"))["items"]] == [NUMBER]
    updated = data(
        asbb(
            "grant",
            "update",
            NUMBER,
            "--title",
            "New",
            "--clear-co-pis",
            "--status",
            "closed",
            "--json",
        )
    )
    assert (updated["title"], updated["co_pis"], updated["status"]) == ("New", [], "closed")
    assert data(asbb("grant", "list", "--status", "active", "--json")) == {"items": []}
    edited = data(asbb("grant", "period", NUMBER, "1", "--budget", "90000", "--json"))
    assert edited["periods"][0]["budget"] == D("90000.00")
    regenerated = data(asbb("grant", "regenerate", NUMBER, "--period-months", "6", "--json"))
    assert len(regenerated["periods"]) == 6
    ok(asbb("grant", "update", NUMBER, "--status", "active"))
    ok(asbb("grant", "link", NUMBER, "other"))
    assert "no longer" in ok(asbb("grant", "unlink", NUMBER, "other")).stdout
    assert data(asbb("grant", "show", NUMBER, "--json"))["accounts"] == []


def test_json_is_what_the_api_answers(asbb: Any, live_daemon: Any) -> None:
    """One view behind both: the CLI's --json of a result is the REST API's body for it."""
    ok(create(asbb))
    linked = data(asbb("grant", "link", NUMBER, "lab", "--json"))
    draw = data(asbb("grant", "fund", NUMBER, "lab", "1500", "--json"))

    with live_daemon.client("reader") as reader:
        assert (
            data(asbb("grant", "show", NUMBER, "--json"))
            == reader.get(f"/api/v1/grants/{NUMBER}").json()
        )
        api_rows, api_total = rows_and_total(reader.get("/api/v1/grants"))
        assert data(asbb("grant", "list", "--json")) == {"items": api_rows}
        assert api_total == len(api_rows) == 1
        api_status = reader.get(f"/api/v1/grants/{NUMBER}/periods/2/status").json()
    assert data(asbb("grant", "status", NUMBER, "--period", "2", "--json")) == api_status
    assert api_status["indirect_rate"] == D("0.30")
    with live_daemon.client("admin") as admin:
        api_link = admin.post(f"/api/v1/grants/{NUMBER}/accounts", json={"account": "other"})
        api_draw = admin.post(
            f"/api/v1/grants/{NUMBER}/fund", json={"account": "other", "amount": "10"}
        )
    assert list(linked) == list(api_link.json()) == ["name", "linked_by", "linked_at"]
    assert list(draw) == list(api_draw.json())
    assert (draw["cost"], api_draw.json()["cost"]) == (D("1950.00"), D("13.00"))


def test_errors_are_one_line(asbb: Any) -> None:
    one_error_line(create(asbb, "--title", "x", "--cfda", "47.7"), "cfda:")
    one_error_line(asbb("grant", "show", "NOPE-1"), "grant 'NOPE-1' does not exist")
    ok(create(asbb))
    one_error_line(create(asbb), "already exists")
    one_error_line(asbb("grant", "fund", NUMBER, "lab", "10"), "not linked")
    ok(asbb("grant", "link", NUMBER, "lab"))
    one_error_line(asbb("grant", "fund", NUMBER, "lab", "99999"), "amount:", "at most $76,923.08")
    one_error_line(asbb("grant", "period", NUMBER, "2", "--start", "1999-01-01"), "start_date:")
    one_error_line(asbb("report", "grant", NUMBER, "--period", "9"), "period:")
    one_error_line(
        asbb("report", "statement", "lab", "--since", "2026-03-02", "--until", "2026-03-01"),
        "until:",
    )
    one_error_line(asbb("grant", "status", NUMBER, "--today", "soon"), "today:")
    clash = asbb("report", "grant", NUMBER, "--json", "--format", "csv")
    assert clash.exit_code == 2


def test_report_for_a_future_day_outside_the_grant(asbb: Any) -> None:
    ok(create(asbb))
    one_error_line(
        asbb("report", "grant", NUMBER, "--today", date(THIS_YEAR + 5, 1, 1).isoformat()),
        "no budget period containing",
    )


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


def test_csv_matches_the_database(asbb: Any, ledger: Ledger) -> None:
    (made,) = csv_rows(create(asbb, "--title", 'Big, "quoted" science', "--csv"))
    grants = Grants(ledger)
    today = grants.today()  # the test clock is the real one: the CLI's day
    assert made == csv_cells(GrantView.of(grants.get_grant(NUMBER), today=today).values())
    assert made["current_budget_period"] == "2"
    assert made["start_date"] == f"{THIS_YEAR - 1}-01-01"
    assert list(made) == list(GrantView.model_fields)
    assert made["title"] == 'Big, "quoted" science'
    assert json.loads(made["co_pis"]) == ["Grace Hopper", "Alan Turing"]
    (linked,) = csv_rows(asbb("grant", "link", NUMBER, "lab", "--csv"))
    assert (list(linked), linked["name"]) == (["name", "linked_by", "linked_at"], "lab")

    (draw,) = csv_rows(asbb("grant", "fund", NUMBER, "lab", "1500", "--csv"))

    assert (draw["amount"], draw["indirect"], draw["cost"]) == ("1500.00", "450.00", "1950.00")
    assert draw["limit"] == f"{ledger.get_account('lab').limit_amount:.2f}" == "1500.00"
    detail = grants.get_grant(NUMBER)
    listed = csv_rows(asbb("grant", "list", "--csv"))
    assert listed == [csv_cells(GrantView.of(detail, today=today).values())]
    assert listed[0]["drawn"] == f"{detail.drawn:.2f}" == "1500.00"
    assert [p["drawn_cost"] for p in json.loads(listed[0]["periods"])] == [
        "0.00",
        "1950.00",
        "0.00",
    ]
    assert csv_rows(asbb("grant", "show", NUMBER, "--csv")) == listed
    (st,) = csv_rows(asbb("grant", "status", NUMBER, "--csv"))
    status = grants.period_status(NUMBER)
    assert (st["period"], st["drawn_cost"], st["drawable"]) == (
        str(status.period),
        f"{status.drawn_cost:.2f}",
        f"{status.drawable:.2f}",
    )
    (edited,) = csv_rows(asbb("grant", "period", NUMBER, "3", "--budget", "90000", "--csv"))
    assert json.loads(edited["periods"])[2]["budget"] == "90000.00"
    (updated,) = csv_rows(asbb("grant", "update", NUMBER, "--status", "closed", "--csv"))
    assert updated["status"] == "closed"
    assert csv_rows(asbb("grant", "list", "--status", "active", "--csv")) == []
    header = ok(asbb("grant", "list", "--status", "active", "--csv")).stdout
    assert header == ",".join(GrantView.model_fields) + "\n"


@pytest.mark.parametrize(
    "args",
    [
        ["grant", "list"],
        ["grant", "show", NUMBER],
        ["grant", "status", NUMBER],
        ["grant", "periods", NUMBER],
        ["grant", "fund", NUMBER, "lab", "10"],
        ["grant", "update", NUMBER, "--title", "changed"],
        ["grant", "unlink", NUMBER, "lab"],
    ],
    ids=lambda a: a[1],
)
def test_json_and_csv_together_is_a_usage_error_that_writes_nothing(
    asbb: Any, ledger: Ledger, args: list[str]
) -> None:
    ok(create(asbb))
    ok(asbb("grant", "link", NUMBER, "lab"))
    before = (len(ledger.journal()), data(asbb("grant", "list", "--json")))

    result = asbb(*args, "--json", "--csv")

    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert "--json" in result.stderr
    assert result.stdout == ""
    assert (len(ledger.journal()), data(asbb("grant", "list", "--json"))) == before


def test_creating_with_json_and_csv_writes_nothing(asbb: Any) -> None:
    assert create(asbb, "--json", "--csv").exit_code == 2
    assert data(asbb("grant", "list", "--json")) == {"items": []}


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["grant", "fund", NUMBER, "lab", "--", "-5"], "amount:"),
        (["grant", "fund", NUMBER, "lab", "1.005"], "amount:"),
        (["grant", "fund", NUMBER, "nobody", "5"], "nobody"),
        (["grant", "fund", "NOPE-1", "lab", "5"], "NOPE-1"),
        (["grant", "link", NUMBER, "nobody"], "nobody"),
        (["grant", "period", NUMBER, "1", "--budget", "1.005"], "budget:"),
        (["grant", "period", NUMBER, "1", "--budget", "-1"], "budget:"),
        (["grant", "period", NUMBER, "2", "--end", f"{THIS_YEAR - 3}-01-01"], "end_date:"),
        (["grant", "update", NUMBER, "--cfda", "x"], "cfda:"),
        (["grant", "status", NUMBER, "--period", "9"], "period:"),
        (["grant", "periods", "NOPE-1"], "grant 'NOPE-1' does not exist"),
        (["grant", "periods", NUMBER, "--today", "2026-02-30"], "today:"),
        (["grant", "report", "NOPE-1"], "grant 'NOPE-1' does not exist"),
        (["grant", "report", NUMBER, "--period", "9"], "period:"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    asbb: Any, ledger: Ledger, args: list[str], fragment: str
) -> None:
    ok(create(asbb))
    ok(asbb("grant", "link", NUMBER, "lab"))
    before = (len(ledger.journal()), data(asbb("grant", "list", "--json")))

    one_error_line(asbb(*args), fragment)

    assert (len(ledger.journal()), data(asbb("grant", "list", "--json"))) == before
    assert ledger.get_account("lab").limit_amount == 0


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--award", "-300000"], "total_award:"),
        (["--award", "300000.005"], "total_award:"),
        (["--end", f"{THIS_YEAR - 2}-12-31"], "end_date:"),
        (["--indirect-rate", "2"], "indirect_rate"),
    ],
)
def test_bad_create_is_one_line_and_writes_nothing(
    asbb: Any, extra: list[str], fragment: str
) -> None:
    one_error_line(create(asbb, *extra), fragment)  # the later option wins
    assert data(asbb("grant", "list", "--json")) == {"items": []}


def test_an_unknown_status_is_a_usage_error(asbb: Any) -> None:
    assert asbb("grant", "list", "--status", "pending").exit_code == 2


def spend_in_period_2(asbb: Any, ledger: Ledger, ctx: Context, clock: Clock) -> None:
    """Draw 1500 from period 2 (this year) into 'lab' and charge a job of 1000 there."""
    ok(create(asbb))
    ok(asbb("grant", "link", NUMBER, "lab"))
    ok(asbb("grant", "fund", NUMBER, "lab", "1500"))
    clock.now = datetime.now(UTC)
    hold = ledger.create_hold("lab", "1000", ctx=ctx, buffer=1, user_name="ann")
    ledger.post_hold(hold.hold_id, "1000", ctx=ctx)


def test_periods_shows_where_each_period_stands(
    asbb: Any, ledger: Ledger, ctx: Context, clock: Clock
) -> None:
    spend_in_period_2(asbb, ledger, ctx, clock)
    grants = Grants(ledger)

    rows = data(asbb("grant", "periods", NUMBER, "--json"))

    assert [(r["period"], r["state"]) for r in rows] == [
        (1, "ended"),
        (2, "current"),
        (3, "upcoming"),
    ]
    assert all(list(r) == list(PeriodStatusView.model_fields) for r in rows)
    for row in rows:  # the very figures 'asbb grant status --period N' gives
        assert row == data(asbb("grant", "status", NUMBER, "--period", str(row["period"]),
                                "--json"))  # fmt: skip
        st = grants.period_status(NUMBER, row["period"])
        assert (row["budget"], row["consumed"], row["remaining"]) == (
            st.budget,
            st.consumed,
            st.remaining,
        )
    assert (rows[1]["drawn"], rows[1]["direct"], rows[1]["indirect"]) == (
        D("1500.00"),
        D("1000.00"),
        D("300.00"),
    )
    assert rows[1]["remaining"] == D("98700.00")
    assert [r["consumed"] for r in (rows[0], rows[2])] == [D("0.00"), D("0.00")]

    listed = csv_rows(asbb("grant", "periods", NUMBER, "--csv"))
    assert listed == [
        csv_cells(PeriodStatusView.of(grants.period_status(NUMBER, r["period"])).values())
        for r in rows
    ]
    assert (listed[1]["remaining"], listed[1]["start_date"]) == ("98700.00", f"{THIS_YEAR}-01-01")
    assert list(listed[0]) == list(PeriodStatusView.model_fields)

    wide = CliRunner(env={"COLUMNS": "160"})
    table = ok(wide.invoke(app, ["--database", asbb.url, "grant", "periods", NUMBER])).stdout
    (line,) = [t for t in table.splitlines() if "(current)" in t]
    assert line.split()[0] == "2"
    for figure in ("$100,000.00", "$1,500.00", "$1,000.00", "$300.00", "$1,300.00", "$98,700.00",
                   "1.3%"):  # fmt: skip
        assert figure in line, line
    assert "(ended)" in table
    assert "(upcoming)" in table


def test_periods_as_of_another_day(asbb: Any) -> None:
    ok(create(asbb))

    rows = data(asbb("grant", "periods", NUMBER, "--today", f"{THIS_YEAR - 2}-06-01", "--json"))

    assert [r["state"] for r in rows] == ["upcoming"] * 3
    assert {r["today"] for r in rows} == {day(f"{THIS_YEAR - 2}-06-01")}


@pytest.mark.parametrize(
    "options",
    [
        [],
        ["--period", "2", "--format", "csv"],
        ["--period", "1", "--json"],
        ["--format", "markdown"],
    ],
    ids=lambda o: " ".join(o) or "default",
)
def test_grant_report_is_report_grant(
    asbb: Any, ledger: Ledger, ctx: Context, clock: Clock, options: list[str]
) -> None:
    spend_in_period_2(asbb, ledger, ctx, clock)

    mine = ok(asbb("grant", "report", NUMBER, *options)).stdout
    theirs = ok(asbb("report", "grant", NUMBER, *options)).stdout

    assert mine.splitlines()[0] == theirs.splitlines()[0]
    # Only the 'generated' time stamp may differ between two runs.
    differing = [
        (a, b) for a, b in zip(mine.splitlines(), theirs.splitlines(), strict=True) if a != b
    ]
    assert all("generated" in a for a, _ in differing), differing


def test_grant_report_writes_a_file(
    asbb: Any, ledger: Ledger, ctx: Context, clock: Clock, tmp_path: Path
) -> None:
    spend_in_period_2(asbb, ledger, ctx, clock)
    out = tmp_path / "report.csv"

    written = ok(asbb("grant", "report", NUMBER, "--format", "csv", "-o", str(out)))

    assert str(out) in written.stderr
    assert written.stdout == ""
    with out.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    total = next(r for r in rows if r["section"] == "period")
    assert (total["direct"], total["indirect"], total["total"]) == ("1000.00", "300.00", "1300.00")
    assert asbb("grant", "report", NUMBER, "--json", "--format", "csv").exit_code == 2
