"""Agency-required grant reports (the SF-425 figures, asbb_core.funding.agency_report): every
figure checked to the cent on both backends, the CSV, JSON and PDF renderings, the
``asbb grant report --format=agency-required`` command, and the REST API over real HTTP.

The grant (3 years from 2025, 12-month periods of $100,000, 30% indirect) funds 'lab':

* 2025-06-10 linked, $1,000 drawn from period 1, a $500.25 job charged (ann);
* 2025-12-30 a $40 hold opened, charged 2026-01-05 (period 2): open at period 1's end;
* 2026-03-02 $2,000 drawn from period 2, a $600 job; 2026-04-10 a $400.10 job (bob);
* 2026-04-11 an $80 hold opened (still open) and a $30 hold opened and voided;
* 'other', not linked, spends $999 (never counted). The report is made on 2026-04-12.

Period 1: direct 500.25, indirect 150.075 -> 150.08. Period 2: direct 40 + 600 + 400.10 =
1040.10, indirect 312.03. Cumulative: 1540.35 direct, 462.11 indirect (each period rounded
once; 1540.35 x 0.30 rounded once would be 462.10).
"""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner, Result

from asbb_core.funding.agency_report import (
    AGENCY_CSV_COLUMNS,
    AgencyReport,
    agency_report,
    pdf_text,
    render_agency_report,
)
from asbb_core.funding.grants import Grants, indirect_of
from asbb_core.ledger import Ledger
from asbb_core.ledger.verify import verify_ledger
from asbb_core.store.database import Database
from asbb_core.values.context import Context
from asbb_core.values.errors import NotFoundError, ValidationError
from asbb_tui.cli import app
from tests.conftest import Clock
from tests.test_reports import documented_columns

D = Decimal
NUMBER = "NSF-2312345"
TODAY = date(2026, 4, 12)
NOW = datetime(2026, 4, 12, 12, 0, tzinfo=UTC)


def charge(ledger: Ledger, ctx: Context, account: str, cost: str, **kw: Any) -> None:
    hold = ledger.create_hold(account, cost, ctx=ctx, buffer=1, **kw)
    ledger.post_hold(hold.hold_id, cost, ctx=ctx)


@pytest.fixture
def funded(ledger: Ledger, clock: Clock, ctx: Context) -> Ledger:
    """The grant and its history (see the module's docstring); the clock left at NOW."""
    clock.now = datetime(2025, 6, 10, 9, 0, tzinfo=UTC)
    grants = Grants(ledger)
    grants.create_grant(
        NUMBER,
        total_award="300000",
        start_date=date(2025, 1, 1),
        end_date=date(2027, 12, 31),
        indirect_rate="0.30",
        ctx=ctx,
        title="=cloud bursting for genomics",
        agency="National Science Foundation",
        program="CSSI",
        pi="Ada Łovelace",
        co_pis=["Grace Hopper", "Alan Turing"],
        institution="State University",
        department="Biology",
        cfda="47.070",
    )
    ledger.create_account("lab", ctx=ctx)
    ledger.create_account("other", ctx=ctx)
    grants.link_account(NUMBER, "lab", ctx=ctx)
    grants.fund_account(NUMBER, "lab", "1000", ctx=ctx)
    charge(ledger, ctx, "lab", "500.25", user_name="ann", partition="aws-cpu")
    clock.now = datetime(2025, 12, 30, 9, 0, tzinfo=UTC)
    across = ledger.create_hold("lab", "40", ctx=ctx, buffer=1, time_limit=timedelta(days=10))
    clock.now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    ledger.post_hold(across.hold_id, "40", ctx=ctx)
    clock.now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    grants.fund_account(NUMBER, "lab", "2000", ctx=ctx)
    charge(ledger, ctx, "lab", "600", user_name="ann", partition="aws-cpu")
    ledger.deposit("other", "5000", ctx=ctx)
    charge(ledger, ctx, "other", "999")
    clock.now = datetime(2026, 4, 10, 12, 0, tzinfo=UTC)
    charge(ledger, ctx, "lab", "400.10", user_name="bob", partition="gpu-aws")
    clock.now = datetime(2026, 4, 11, 12, 0, tzinfo=UTC)
    ledger.create_hold("lab", "80", ctx=ctx, buffer=1, time_limit=timedelta(days=5))
    voided = ledger.create_hold("lab", "30", ctx=ctx, buffer=1, time_limit=timedelta(days=5))
    ledger.void_hold(voided.hold_id, ctx=ctx)
    clock.now = NOW
    return ledger


def report_of(db: Database, **kw: Any) -> AgencyReport:
    kw.setdefault("today", TODAY)
    return agency_report(db, NUMBER, now=NOW, **kw)


# ---------------------------------------------------------------- the figures


def test_period_2_figures_to_the_cent(funded: Ledger) -> None:
    r = report_of(funded.db)
    assert (r.budget_period, r.period_count, r.period_state, r.final) == (2, 3, "current", False)
    assert (r.period_start, r.period_end, r.as_of) == (date(2026, 1, 1), date(2026, 12, 31), TODAY)
    assert (r.authorised.this_period, r.authorised.cumulative) == (D("100000.00"), D("200000.00"))
    assert (r.expenditures.direct, r.expenditures.indirect, r.expenditures.total) == (
        D("1040.10"),
        D("312.03"),
        D("1352.13"),
    )
    c = r.cumulative_expenditures
    assert (c.direct, c.indirect, c.total) == (D("1540.35"), D("462.11"), D("2002.46"))
    # Each period's indirect is rounded once and the periods add up (1540.35 x 0.30 rounded
    # once would be a cent less): cumulative = the earlier reports' figures + this one.
    assert indirect_of(c.direct, r.indirect_rate) == D("462.10")
    assert [(x.budget_period, x.base, x.amount) for x in r.indirect_lines] == [
        (1, D("500.25"), D("150.08")),
        (2, D("1040.10"), D("312.03")),
    ]
    assert [(x.from_date, x.to_date, x.rate, x.rate_type) for x in r.indirect_lines] == [
        (date(2025, 1, 1), date(2025, 12, 31), D("0.30"), None),
        (date(2026, 1, 1), date(2026, 12, 31), D("0.30"), None),
    ]
    assert (r.indirect_base, r.indirect_amount) == (D("1540.35"), D("462.11"))
    # The $80 hold is open; the $30 one was voided, the $40 one charged.
    assert (r.unliquidated.direct, r.unliquidated.indirect, r.unliquidated.total) == (
        D("80.00"),
        D("24.00"),
        D("104.00"),
    )
    assert r.open_holds == 1
    assert r.total_federal_share == D("2106.46")
    assert r.unobligated_balance == D("197893.54")
    assert (r.drawn.this_period, r.drawn.cumulative) == (D("2000.00"), D("3000.00"))
    assert (r.receipts.this_period, r.receipts.cumulative) == (D("2600.00"), D("3900.00"))
    assert (r.disbursements.this_period, r.disbursements.cumulative) == (
        D("1352.13"),
        D("2002.46"),
    )
    assert r.cash_on_hand == D("1897.54")
    assert (r.grant_number, r.federal_award_id, r.funding_agency) == (
        NUMBER,
        "47.070",
        "National Science Foundation",
    )
    assert (r.principal_investigator, r.co_investigators) == (
        "Ada Łovelace",
        ["Grace Hopper", "Alan Turing"],
    )
    assert (r.total_award, r.award_start, r.award_end) == (
        D("300000.00"),
        date(2025, 1, 1),
        date(2027, 12, 31),
    )
    assert verify_ledger(funded.db).ok


def test_an_ended_period_counts_to_its_last_day(funded: Ledger) -> None:
    r = report_of(funded.db, period=1)
    assert (r.period_state, r.as_of, r.final) == ("ended", date(2025, 12, 31), False)
    assert (r.expenditures.total, r.cumulative_expenditures.total) == (D("650.33"), D("650.33"))
    # The $40 hold was open when period 1 ended (it was charged in period 2).
    assert (r.unliquidated.total, r.open_holds) == (D("52.00"), 1)
    assert r.total_federal_share == D("702.33")
    assert (r.authorised.this_period, r.authorised.cumulative) == (D("100000.00"),) * 2
    assert r.unobligated_balance == D("99297.67")
    assert (r.drawn.cumulative, r.receipts.cumulative, r.cash_on_hand) == (
        D("1000.00"),
        D("1300.00"),
        D("649.67"),
    )


def test_upcoming_and_final_periods(funded: Ledger) -> None:
    upcoming = report_of(funded.db, period=3)
    assert (upcoming.period_state, upcoming.as_of, upcoming.final) == ("upcoming", TODAY, False)
    assert upcoming.expenditures.total == 0
    assert upcoming.cumulative_expenditures.total == D("2002.46")
    assert upcoming.authorised.cumulative == D("300000.00")
    assert [x.budget_period for x in upcoming.indirect_lines] == [1, 2, 3]
    final = report_of(funded.db, period=3, today=date(2028, 2, 1))
    assert (final.period_state, final.as_of, final.final) == ("ended", date(2027, 12, 31), True)
    assert final.unliquidated.total == D("104.00")  # never resolved: still an obligation


def test_one_read_and_nothing_written(funded: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    db = funded.db
    reads: list[object] = []
    real_read = db.read

    def counting(query: Any) -> Any:
        reads.append(query)
        return real_read(query)

    def no_write(*_: Any, **__: Any) -> Any:
        raise AssertionError("a report must not write")

    monkeypatch.setattr(db, "read", counting)
    monkeypatch.setattr(db, "run", no_write)
    report_of(db)
    assert len(reads) == 1


def test_errors_name_the_field(funded: Ledger) -> None:
    db = funded.db
    with pytest.raises(NotFoundError) as missing:
        agency_report(db, "NOPE-1", now=NOW)
    assert missing.value.field == "grant"
    assert "'NOPE-1' does not exist" in missing.value.message
    with pytest.raises(NotFoundError) as nine:
        report_of(db, period=9)
    assert nine.value.field == "period"
    assert "has no period 9 (it has 3)" in nine.value.message
    with pytest.raises(NotFoundError) as outside:
        report_of(db, today=date(2031, 1, 1))
    assert outside.value.field == "period"
    for bad in (0, -1, True, "2"):
        with pytest.raises(ValidationError) as zero:
            report_of(db, period=bad)
        assert zero.value.field == "period"
    with pytest.raises(ValidationError) as kind:
        report_of(db, rate_type="negotiated")
    assert kind.value.field == "rate_type"
    assert "provisional, predetermined, final, fixed" in kind.value.message
    with pytest.raises(ValidationError) as start:
        report_of(db, period=2, start_date="2026-02-01")
    assert start.value.field == "start_date"
    assert "2: 2026-01-01 to 2026-12-31" in start.value.message
    assert report_of(db, period=2, start_date="2026-01-01").budget_period == 2
    with pytest.raises(ValidationError) as fmt:
        render_agency_report(report_of(db), "markdown")
    assert fmt.value.field == "format"


# ---------------------------------------------------------------- renderings


def csv_rows(data: bytes) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(data.decode("utf-8"), newline=""))
    assert reader.fieldnames == list(AGENCY_CSV_COLUMNS)
    return list(reader)


def figure(rows: list[dict[str, str]], section: str, name: str) -> dict[str, str]:
    (found,) = [r for r in rows if r["section"] == section and r["figure"] == name]
    return found


def test_csv_parses_back_with_the_documented_columns(funded: Ledger) -> None:
    data = render_agency_report(report_of(funded.db, rate_type="Predetermined"), "csv")
    assert data.startswith(b"grant_number,budget_period,section,figure,")
    assert b"\r\n" in data
    assert documented_columns("### Agency report CSV columns") == list(AGENCY_CSV_COLUMNS)
    rows = csv_rows(data)
    assert {r["grant_number"] for r in rows} == {NUMBER}
    assert {r["budget_period"] for r in rows} == {"2"}
    spent = figure(rows, "expenditures", "total")
    assert (spent["this_period"], spent["cumulative"]) == ("1352.13", "2002.46")
    authorised = figure(rows, "authorised", "federal_funds_authorised")
    assert (authorised["this_period"], authorised["cumulative"]) == ("100000.00", "200000.00")
    assert figure(rows, "unliquidated_obligations", "total")["cumulative"] == "104.00"
    assert figure(rows, "unliquidated_obligations", "open_holds")["value"] == "1"
    assert figure(rows, "totals", "total_federal_share")["cumulative"] == "2106.46"
    assert figure(rows, "totals", "unobligated_balance")["cumulative"] == "197893.54"
    assert figure(rows, "cash", "cash_on_hand")["cumulative"] == "1897.54"
    lines = [r for r in rows if r["section"] == "indirect_expense" and r["figure"] == "rate"]
    assert [
        (r["value"], r["rate_type"], r["rate"], r["from_date"], r["base"], r["amount"])
        for r in lines
    ] == [
        ("1", "predetermined", "0.30", "2025-01-01", "500.25", "150.08"),
        ("2", "predetermined", "0.30", "2026-01-01", "1040.10", "312.03"),
    ]
    total = figure(rows, "indirect_expense", "total")
    assert (total["base"], total["amount"]) == ("1540.35", "462.11")
    assert figure(rows, "identification", "federal_award_id")["value"] == "47.070"
    assert figure(rows, "identification", "principal_investigator")["value"] == "Ada Łovelace"
    assert (
        figure(rows, "identification", "co_investigators")["value"] == "Grace Hopper; Alan Turing"
    )
    # A title a spreadsheet would run as a formula is shown, never run.
    assert figure(rows, "identification", "title")["value"] == "'=cloud bursting for genomics"
    assert figure(rows, "report_period", "as_of")["value"] == "2026-04-12"
    assert figure(rows, "report_period", "final")["value"] == "no"


def as_decimal(value: Any) -> Decimal:
    return Decimal(str(value))


def as_day(value: str) -> date:
    return date.fromisoformat(value[:10])


def check_json(body: dict[str, Any]) -> None:
    """The period-2 report's JSON (money as exact strings or numbers, days as dates or
    date-times: either wire form)."""
    assert body["report_type"] == "agency-required"
    ident = body["identification"]
    assert (ident["grant_number"], ident["federal_award_id"], ident["funding_agency"]) == (
        NUMBER,
        "47.070",
        "National Science Foundation",
    )
    assert ident["co_investigators"] == ["Grace Hopper", "Alan Turing"]
    assert as_decimal(ident["indirect_rate"]) == D("0.30")
    assert as_day(ident["award_start_date"]) == date(2025, 1, 1)
    period = body["report_period"]
    assert (period["budget_period"], period["state"], period["final"]) == (2, "current", False)
    assert as_day(period["as_of"]) == TODAY
    assert as_day(period["start_date"]) == date(2026, 1, 1)
    spent = body["expenditures"]
    assert {k: as_decimal(v) for k, v in spent["this_period"].items()} == {
        "direct": D("1040.10"),
        "indirect": D("312.03"),
        "total": D("1352.13"),
    }
    assert as_decimal(spent["cumulative"]["indirect"]) == D("462.11")
    assert as_decimal(body["authorised"]["cumulative"]) == D("200000.00")
    lines = body["indirect_expense"]["lines"]
    assert [(x["budget_period"], as_decimal(x["amount"])) for x in lines] == [
        (1, D("150.08")),
        (2, D("312.03")),
    ]
    assert as_decimal(body["indirect_expense"]["amount"]) == D("462.11")
    owed = body["unliquidated_obligations"]
    assert (as_decimal(owed["total"]), owed["open_holds"]) == (D("104.00"), 1)
    assert as_decimal(body["total_federal_share"]) == D("2106.46")
    assert as_decimal(body["unobligated_balance"]) == D("197893.54")
    assert as_decimal(body["cash"]["on_hand"]) == D("1897.54")
    assert as_decimal(body["cash"]["receipts"]["cumulative"]) == D("3900.00")


def test_json_carries_the_same_figures(funded: Ledger) -> None:
    data = render_agency_report(report_of(funded.db), "json")
    body = json.loads(data, parse_float=Decimal)
    check_json(body)
    # Exact in the text itself: never a float on the way.
    assert re.search(rb'"total_federal_share": "?2106\.46"?', data)
    assert body["indirect_expense"]["lines"][0]["rate_type"] is None


def pdf_strings(data: bytes) -> list[str]:
    """The text a PDF shows: its ``(...) Tj`` strings (asbb writes it uncompressed)."""
    found = re.findall(rb"\(((?:[^()\\]|\\.)*)\) ?Tj", data)
    unescape = re.compile(rb"\\(.)")
    return [unescape.sub(rb"\1", s).decode("latin-1") for s in found]


def test_pdf_shows_the_figures(funded: Ledger) -> None:
    data = render_agency_report(report_of(funded.db, rate_type="fixed"), "pdf")
    assert data.startswith(b"%PDF-")
    assert data.rstrip().endswith(b"%%EOF")
    text = pdf_strings(data)
    for shown in (
        "Federal financial report (SF-425 figures)",
        NUMBER,
        "47.070",
        "National Science Foundation",
        "Ada Lovelace",  # the core fonts are Latin-1: L with stroke is spelled L
        "$1,352.13",
        "$2,002.46",
        "$104.00",
        "$2,106.46",
        "$197,893.54",
        "$200,000.00",
        "$1,897.54",
        "$462.11",
        "fixed",
        "30%",
        "10h Unobligated balance of Federal funds (d - g)",
    ):
        assert shown in text, shown
    # The same figures, the same file (its creation date is the report's own).
    assert render_agency_report(report_of(funded.db, rate_type="fixed"), "pdf") == data


def test_pdf_text_keeps_latin_1_and_spells_the_rest() -> None:
    assert pdf_text("Müller") == "Müller"
    assert pdf_text("Łódź — Ōsaka") == "Lódz - Osaka"  # ó is Latin-1
    assert pdf_text("研究") == "??"


def test_the_command_line_does_not_load_fpdf() -> None:
    code = (
        "import sys\n"
        "import asbb_tui.cli, asbb_tui.commands.grants, asbb_core.funding.agency_report\n"
        "import asbb_core.funding.views, daemon.routes.agency_reports\n"
        "assert 'fpdf' not in sys.modules, sorted(m for m in sys.modules if 'fpdf' in m)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


# ---------------------------------------------------------------- the command line


@pytest.fixture
def asbb(
    funded: Ledger, migrated_url: str, cli_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Result]:
    monkeypatch.setenv("COLUMNS", "200")  # usage errors on one line, unwrapped

    def run(*args: str) -> Result:
        return CliRunner().invoke(app, ["--database", migrated_url, *args])

    return run


def ok(result: Result) -> Result:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result


def one_error_line(result: Result, *fragments: str, code: int = 1) -> None:
    assert result.exit_code == code, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    if code == 1:
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


def report_cmd(*extra: str) -> list[str]:
    return ["grant", "report", NUMBER, "--format=agency-required", "--today", "2026-04-12", *extra]


def test_cli_prints_json_and_writes_csv_and_pdf(asbb: Any, tmp_path: Path) -> None:
    check_json(json.loads(ok(asbb(*report_cmd())).stdout))
    check_json(json.loads(ok(asbb(*report_cmd("--as", "json", "--period", "2"))).stdout))
    rows = csv_rows(ok(asbb(*report_cmd("--as", "csv"))).stdout_bytes)
    assert figure(rows, "totals", "total_federal_share")["cumulative"] == "2106.46"

    out = tmp_path / "nsf-p1.csv"
    written = ok(asbb(*report_cmd("--period", "1", "--output", str(out))))
    assert written.stdout == ""
    assert f"wrote {out}" in written.stderr
    period_1 = csv_rows(out.read_bytes())
    assert figure(period_1, "totals", "total_federal_share")["cumulative"] == "702.33"

    pdf = tmp_path / "nsf.PDF"
    ok(asbb(*report_cmd("--output", str(pdf), "--rate-type", "provisional")))
    assert pdf.read_bytes().startswith(b"%PDF-")
    assert "provisional" in pdf_strings(pdf.read_bytes())
    # The original tool's spellings: --type financial (or annual) and --format pdf.
    other = tmp_path / "annual.pdf"
    ok(
        asbb(
            "grant", "report", NUMBER, "--type=annual", "--format=pdf", "--period=1",
            "--today=2026-04-12", f"--output={other}",
        )
    )  # fmt: skip
    assert "$702.33" in pdf_strings(other.read_bytes())
    financial = ok(asbb("grant", "report", NUMBER, "--type", "financial", "--today", "2026-04-12"))
    check_json(json.loads(financial.stdout))
    # A file of another name takes --as.
    plain = tmp_path / "report.txt"
    ok(asbb(*report_cmd("--as", "csv", "-o", str(plain))))
    assert plain.read_bytes().startswith(b"grant_number,")


def test_cli_never_overwrites_without_force(asbb: Any, tmp_path: Path) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    out = folder / "report.json"
    out.write_text("keep me", encoding="utf-8")
    refused = asbb(*report_cmd("--output", str(out)))
    one_error_line(refused, f"output: {out} already exists; give --force to overwrite it")
    assert out.read_text(encoding="utf-8") == "keep me"
    ok(asbb(*report_cmd("--output", str(out), "--force")))
    check_json(json.loads(out.read_text(encoding="utf-8")))
    assert [p.name for p in folder.iterdir()] == ["report.json"]  # no spare file left
    missing = asbb(*report_cmd("--output", str(tmp_path / "no" / "such" / "r.csv")))
    one_error_line(missing, "output: ", "No such file or directory")


def test_cli_usage_errors(asbb: Any, tmp_path: Path) -> None:
    tmp_path = tmp_path / "out"
    tmp_path.mkdir()
    one_error_line(
        asbb(*report_cmd("--as", "pdf", "--output", str(tmp_path / "r.csv"))),
        "--as pdf",
        "--output csv",
        "disagree",
        code=2,
    )
    one_error_line(asbb(*report_cmd("--output", str(tmp_path / "r.txt"))), "--as", code=2)
    one_error_line(asbb(*report_cmd("--json", "--as", "csv")), "disagree", code=2)
    one_error_line(asbb("grant", "report", NUMBER, "--as", "csv"), "agency-required", code=2)
    one_error_line(
        asbb("grant", "report", NUMBER, "--type", "compliance", "--format", "pdf"),
        "disagree",
        code=2,
    )
    one_error_line(
        asbb("grant", "report", NUMBER, "--type", "financial", "--format", "markdown"),
        "csv, json or pdf",
        code=2,
    )
    one_error_line(asbb("grant", "report", NUMBER, "--format", "xml"), "xml", code=2)
    one_error_line(asbb(*report_cmd("--rate-type", "negotiated")), "negotiated", code=2)
    one_error_line(asbb("grant", "report", NUMBER, "--type", "technical"), "no technical report")
    assert list(tmp_path.iterdir()) == []


def test_cli_unknown_grant_and_bad_period(asbb: Any) -> None:
    one_error_line(
        asbb("grant", "report", "NOPE-1", "--format=agency-required"),
        "grant 'NOPE-1' does not exist",
    )
    one_error_line(asbb(*report_cmd("--period", "9")), "period: grant NSF-2312345 has no period 9")
    one_error_line(asbb(*report_cmd("--period", "0")), "--period", code=2)
    one_error_line(asbb(*report_cmd()[:-2], "--today", "2031-01-01"), "period: ")
    # The compliance report is still the default.
    assert ok(asbb("grant", "report", NUMBER, "--today", "2026-04-12")).stdout.startswith(
        "# Grant compliance report: NSF-2312345, budget period 2"
    )


def test_cli_refuses_a_pdf_on_a_terminal(asbb: Any, migrated_url: str) -> None:
    """Through a real pseudo-terminal: the command refuses before reading anything."""
    command = Path(sys.executable).with_name("asbb")
    main, secondary = pty.openpty()
    env = {**os.environ, "ASBB_DATABASE__URL": migrated_url, "COLUMNS": "200"}
    try:
        done = subprocess.run(
            [str(command), *report_cmd("--as", "pdf")],
            stdout=secondary,
            stderr=subprocess.PIPE,
            env=env,
            timeout=120,
            check=False,
        )
    finally:
        os.close(secondary)
        os.close(main)
    assert done.returncode == 1, done.stderr
    assert b"a PDF is not printed on a terminal" in done.stderr


def test_cli_pdf_goes_to_a_pipe(asbb: Any) -> None:
    result = ok(asbb(*report_cmd("--as", "pdf")))
    assert result.stdout_bytes.startswith(b"%PDF-")


# ---------------------------------------------------------------- the REST API


@pytest.fixture
def daemon(funded: Ledger, live_daemon: Any) -> Any:
    return live_daemon


def client_for(live_daemon: Any, name: str, role: str, **kwargs: Any) -> httpx.Client:
    secret = live_daemon.services.tokens.tokens.create(name, role, actor="tests", **kwargs).secret
    return httpx.Client(
        base_url=live_daemon.url, headers={"Authorization": f"Bearer {secret}"}, timeout=30
    )


def error_of(reply: httpx.Response, status: int, field: str | None = None) -> dict[str, Any]:
    assert reply.status_code == status, reply.text
    error: dict[str, Any] = reply.json()["error"]
    if field is not None:
        assert error["field"] == field, error
    return error


def test_api_agency_report_in_three_formats(daemon: Any) -> None:
    path = f"/api/v1/grants/{NUMBER}/agency-report"
    with daemon.client("reader") as reader:
        reply = reader.get(path)
        assert reply.status_code == 200, reply.text
        assert reply.headers["content-type"].startswith("application/json")
        check_json(reply.json())
        as_csv = reader.get(path, params={"period": 1, "format": "csv"})
        assert as_csv.status_code == 200, as_csv.text
        assert as_csv.headers["content-type"] == "text/csv; charset=utf-8"
        assert (
            as_csv.headers["content-disposition"]
            == f'attachment; filename="agency-report-{NUMBER}-period-1.csv"'
        )
        rows = csv_rows(as_csv.content)
        assert figure(rows, "totals", "total_federal_share")["cumulative"] == "702.33"
        as_pdf = reader.get(path, params={"format": "pdf", "rate_type": "final"})
        assert as_pdf.status_code == 200, as_pdf.text
        assert as_pdf.headers["content-type"] == "application/pdf"
        assert as_pdf.content.startswith(b"%PDF-")
        assert {"$2,106.46", "final"} <= set(pdf_strings(as_pdf.content))


def test_api_original_report_request(daemon: Any) -> None:
    path = f"/api/v1/grants/{NUMBER}/reports"
    with daemon.client("reader") as reader:
        pdf = reader.post(
            path, json={"report_type": "financial", "budget_period": 1, "format": "pdf"}
        )
        assert pdf.status_code == 200, pdf.text
        assert pdf.headers["content-type"] == "application/pdf"
        assert "$702.33" in pdf_strings(pdf.content)
        annual = reader.post(
            path,
            json={
                "grant_number": NUMBER,
                "report_type": "annual",
                "start_date": "2026-01-01T00:00:00Z",
                "end_date": "2026-04-12T23:59:59Z",
                "format": "json",
                "include_details": True,
            },
        )
        assert annual.status_code == 200, annual.text
        check_json(annual.json())
        as_csv = reader.post(path, json={"report_type": "financial", "format": "csv"})
        assert as_csv.headers["content-type"] == "text/csv; charset=utf-8"
        assert figure(csv_rows(as_csv.content), "expenditures", "total")["this_period"] == "1352.13"
        compliance = reader.post(path, json={"report_type": "compliance", "budget_period": 2})
        assert compliance.status_code == 200, compliance.text
        assert as_decimal(compliance.json()["summary"]["total"]) == D("1352.13")
        markdown = reader.post(path, json={"report_type": "compliance", "format": "markdown"})
        assert markdown.headers["content-type"] == "text/markdown; charset=utf-8"
        assert markdown.text.startswith("# Grant compliance report: NSF-2312345, budget period 2")

        for body, status, field in (
            ({"report_type": "technical"}, 422, "report_type"),
            ({"report_type": "compliance", "format": "pdf"}, 422, "format"),
            ({"report_type": "financial", "format": "markdown"}, 422, "format"),
            ({"grant_number": "NSF-9999999"}, 422, "grant_number"),
            ({"budget_period": 2, "start_date": "2026-02-01"}, 422, "start_date"),
            ({"report_type": "compliance", "start_date": "2025-06-01"}, 422, "start_date"),
            ({"budget_period": 9}, 404, "period"),
            ({"budget_period": 0}, 422, None),
            ({"report_type": "quarterly"}, 422, None),
            ({"format": "xml"}, 422, None),
            ({"surprise": 1}, 422, None),
        ):
            error_of(reader.post(path, json=body), status, field)


def test_api_errors_and_scope(daemon: Any) -> None:
    path = f"/api/v1/grants/{NUMBER}/agency-report"
    with daemon.client("reader") as reader:
        error = error_of(reader.get("/api/v1/grants/NOPE-1/agency-report"), 404, "grant")
        assert "'NOPE-1' does not exist" in error["message"]
        error = error_of(reader.get(path, params={"period": 9}), 404, "period")
        assert "has no period 9" in error["message"]
        error_of(reader.get(path, params={"period": 0}), 422)
        error_of(reader.get(path, params={"format": "markdown"}), 422)
        error_of(reader.get(path, params={"rate_type": "negotiated"}), 422)
        error_of(reader.get(path, params={"perod": 1}), 422, "perod")
        error_of(reader.post("/api/v1/grants/NOPE-1/reports", json={}), 404, "grant")
    with daemon.client(None) as anonymous:
        error_of(anonymous.get(path), 401)
        error_of(anonymous.post(f"/api/v1/grants/{NUMBER}/reports", json={}), 401)
    with client_for(daemon, "lab-reader", "reader", accounts=["lab"]) as lab:
        assert lab.get(path).status_code == 200
    with client_for(daemon, "other-reader", "reader", accounts=["other"]) as other:
        error_of(other.get(path), 403, "grant")
        error_of(other.post(f"/api/v1/grants/{NUMBER}/reports", json={}), 403, "grant")


def test_cli_takes_the_original_report_window(asbb: Any) -> None:
    """--start/--end (the original tool's window): --end is the as-of day, choosing the budget
    period; --start must be that period's first day (or, for period 1, any day before it)."""
    base = ["grant", "report", NUMBER, "--type=financial", "--format=json"]
    window = json.loads(ok(asbb(*base, "--start=2026-01-01", "--end=2026-04-12")).stdout)
    assert json.loads(ok(asbb(*report_cmd("--period", "2"))).stdout) | {
        "generated_at": None
    } == window | {"generated_at": None}  # the same as --period 2 --today 2026-04-12
    assert window["report_period"]["budget_period"] == 2
    early = json.loads(ok(asbb(*base, "--start=2024-06-01", "--end=2025-12-31")).stdout)
    assert early["report_period"]["start_date"] == "2025-01-01T00:00:00Z"  # period 1's own
    one_error_line(
        asbb(*base, "--start=2026-02-01", "--end=2026-04-12"),
        "start_date: 2026-02-01 is not the first day of period 2",
        "reports cover whole budget periods",
    )
    one_error_line(asbb(*base, "--end=2026-04-12", "--today=2026-04-13"), "disagree", code=2)
    one_error_line(
        asbb("grant", "report", NUMBER, "--start=2026-01-01"), "--start", "agency-required", code=2
    )
