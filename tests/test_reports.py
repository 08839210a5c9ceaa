"""Grant compliance reports and account statements (asbb_core.analytics.reports), on both
backends.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from asbb_core.analytics.burnrate import BANDS
from asbb_core.analytics.reports import (
    GRANT_CSV_COLUMNS,
    STATEMENT_CSV_COLUMNS,
    account_statement,
    grant_compliance_report,
    rate_percent,
    render_grant_report,
    render_statement,
)
from asbb_core.funding.grants import Grants, rate_str
from asbb_core.ledger import Ledger
from asbb_core.settings import Settings
from asbb_core.values.context import Context
from asbb_core.values.errors import NotFoundError, ValidationError
from tests.conftest import Clock
from tests.wire import day, loads

D = Decimal
DOCS = Path(__file__).resolve().parents[1] / "docs" / "reports.md"
NUMBER = "NSF-2312345"


def documented_columns(heading: str) -> list[str]:
    """The column names listed (first cell, in backticks) in the table under ``heading``
    in docs/reports.md."""
    text = DOCS.read_text(encoding="utf-8")
    section = text.split(heading, 1)[1]
    section = re.split(r"\n#{1,3} ", section, maxsplit=1)[0]
    return re.findall(r"^\| `([a-z_]+)` \|", section, flags=re.MULTILINE)


def charge(ledger: Ledger, ctx: Context, account: str, cost: str, **kw: str) -> None:
    hold = ledger.create_hold(account, cost, ctx=ctx, buffer=1, **kw)
    ledger.post_hold(hold.hold_id, cost, ctx=ctx)


@pytest.fixture
def funded(ledger: Ledger, clock: Clock, ctx: Context) -> Grants:
    """A 3-year grant (12-month periods, 30% indirect) funding account 'lab'; on
    2 March 2026 (period 2) ann spends $600 on aws-cpu, on 10 April bob $400 on gpu-aws."""
    clock.now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    grants = Grants(ledger)
    grants.create_grant(
        NUMBER,
        total_award="300000",
        start_date=date(2025, 1, 1),
        end_date=date(2027, 12, 31),
        indirect_rate="0.30",
        ctx=ctx,
        title="Cloud bursting | genomics",
        agency="NSF",
        pi="Ada Lovelace",
        co_pis=["Grace Hopper"],
        cfda="47.070",
    )
    ledger.create_account("lab", ctx=ctx)
    ledger.create_account("idle", ctx=ctx)
    grants.link_account(NUMBER, "lab", ctx=ctx)
    grants.link_account(NUMBER, "idle", ctx=ctx)
    grants.fund_account(NUMBER, "lab", "2000", ctx=ctx)
    charge(ledger, ctx, "lab", "600", partition="aws-cpu", user_name="ann")
    clock.now = datetime(2026, 4, 10, 9, 0, tzinfo=UTC)
    charge(ledger, ctx, "lab", "400", partition="gpu-aws", user_name="bob")
    return grants


# ---------------------------------------------------------------- the requirement


def test_csv_report_shows_1000_direct_300_indirect_1300_in_period_2_only(
    funded: Grants, settings: Settings, clock: Clock
) -> None:
    db = funded.db
    documented = documented_columns("### Grant report CSV columns")
    assert documented == list(GRANT_CSV_COLUMNS)

    def period_row(period: int) -> dict[str, str]:
        report = grant_compliance_report(db, settings, NUMBER, period=period, now=clock.now)
        text = render_grant_report(report, "csv")
        reader = csv.DictReader(io.StringIO(text))
        assert reader.fieldnames == documented
        rows = list(reader)
        totals = [r for r in rows if r["section"] == "period"]
        assert len(totals) == 1
        return totals[0] | {"_rows": rows}  # type: ignore[operator]

    two = period_row(2)
    assert (two["direct"], two["indirect"], two["total"]) == ("1000.00", "300.00", "1300.00")
    assert (two["budget"], two["remaining"], two["drawn"]) == ("100000.00", "98700.00", "2000.00")
    assert (two["period_start"], two["period_end"]) == ("2026-01-01", "2026-12-31")
    assert two["percent_of_budget"] == "1.3"
    assert two["burn_rate_status"] in BANDS
    for other in (1, 3):
        row = period_row(other)
        assert (row["direct"], row["indirect"], row["total"]) == ("0.00", "0.00", "0.00")
        assert row["remaining"] == "100000.00"

    rows = two["_rows"]
    months = {r["key"]: r for r in rows if r["section"] == "month"}  # type: ignore[index]
    assert len(months) == 12
    assert (months["2026-03"]["direct"], months["2026-03"]["indirect"]) == ("600.00", "180.00")
    assert months["2026-04"]["total"] == "520.00"
    assert months["2026-05"]["total"] == "0.00"
    by = {(r["section"], r["key"]): r["total"] for r in rows}  # type: ignore[index]
    assert by[("partition", "aws-cpu")] == "780.00"
    assert by[("partition", "gpu-aws")] == "520.00"
    assert by[("user", "ann")] == "780.00"
    assert by[("user", "bob")] == "520.00"
    assert by[("account", "lab")] == "1300.00"
    assert by[("account", "idle")] == "0.00"
    for section in ("month", "partition", "user", "account"):
        column = [D(r["total"]) for r in rows if r["section"] == section]  # type: ignore[index]
        assert sum(column) == D("1300.00"), section


def test_json_and_markdown_carry_the_same_figures(
    funded: Grants, settings: Settings, clock: Clock
) -> None:
    report = grant_compliance_report(funded.db, settings, NUMBER, now=clock.now)
    assert report.period == 2
    assert report.period_state == "current"
    rendered = render_grant_report(report, "json")
    data = loads(rendered)
    assert data["summary"] == {
        "budget": D("100000.00"),
        "direct": D("1000.00"),
        "indirect": D("300.00"),
        "total": D("1300.00"),
        "remaining": D("98700.00"),
        "percent_used": D("1.3"),
        "drawn": D("2000.00"),
        "drawn_cost": D("2600.00"),
    }
    assert '"remaining": 98700.00,' in rendered  # a JSON number, to the cent
    assert data["grant"]["indirect_rate"] == D("0.30")
    assert data["grant"]["cfda"] == "47.070"  # a catalogue number, not an amount
    assert data["period"] == {
        "number": 2,
        "count": 3,
        "start_date": day("2026-01-01"),
        "end_date": day("2026-12-31"),
        "state": "current",
        "budget": D("100000.00"),
    }
    assert data["as_of"] == day(report.today.isoformat())
    assert data["generated_at"].endswith("Z")  # RFC 3339 in UTC, as the wire writes times
    assert data["burn_rate"]["status"] in BANDS
    assert 0 <= data["burn_rate"]["score"] <= 100
    assert data["by_user"] == [
        {"key": "ann", "direct": D("600.00"), "indirect": D("180.00"), "total": D("780.00")},
        {"key": "bob", "direct": D("400.00"), "indirect": D("120.00"), "total": D("520.00")},
    ]
    text = render_grant_report(report, "markdown")
    assert text.startswith("# Grant compliance report: NSF-2312345, budget period 2")
    assert "| Total consumed | $1,300.00 (1.3%) |" in text
    assert "| Indirect cost (30%) | $300.00 |" in text
    assert "Cloud bursting \\| genomics" in text  # a pipe cannot break the table
    assert "| **Total** | $1,000.00 | $300.00 | $1,300.00 |" in text


def test_breakdowns_add_up_exactly_to_the_total(
    ledger: Ledger, settings: Settings, clock: Clock, ctx: Context
) -> None:
    clock.now = datetime(2026, 3, 2, tzinfo=UTC)
    grants = Grants(ledger)
    grants.create_grant(
        "G-1",
        total_award="1000",
        start_date=date(2026, 1, 1),
        end_date=date(2026, 12, 31),
        indirect_rate="0.30",
        ctx=ctx,
    )
    ledger.create_account("lab", ctx=ctx, limit="10")
    grants.link_account("G-1", "lab", ctx=ctx)
    for user in ("u1", "u2", "u3"):
        charge(ledger, ctx, "lab", "0.05", user_name=user)
    report = grant_compliance_report(ledger.db, settings, "G-1", now=clock.now)
    # 0.15 direct -> 0.045 -> 0.04 indirect (half-even), apportioned 0.02 + 0.01 + 0.01
    assert (report.direct, report.indirect, report.total) == (D("0.15"), D("0.04"), D("0.19"))
    assert [f.indirect for f in report.by_user] == [D("0.02"), D("0.01"), D("0.01")]
    assert sum(f.total for f in report.by_user) == report.total
    assert [f.key for f in report.by_partition] == [None]
    rows = list(csv.DictReader(io.StringIO(render_grant_report(report, "csv"))))
    assert [r["key"] for r in rows if r["section"] == "partition"] == ["(none)"]


def test_report_errors(funded: Grants, settings: Settings, clock: Clock) -> None:
    db = funded.db
    with pytest.raises(NotFoundError) as caught:
        grant_compliance_report(db, settings, NUMBER, period=4, now=clock.now)
    assert caught.value.field == "period"
    with pytest.raises(NotFoundError) as caught:
        grant_compliance_report(db, settings, NUMBER, today=date(2031, 1, 1))
    assert caught.value.field == "period"
    with pytest.raises(NotFoundError) as caught:
        grant_compliance_report(db, settings, "NOPE-1")
    assert caught.value.field == "grant"
    report = grant_compliance_report(db, settings, NUMBER, now=clock.now)
    with pytest.raises(ValidationError) as caught_v:
        render_grant_report(report, "pdf")
    assert caught_v.value.field == "format"


def test_rates_render_plainly() -> None:
    assert (rate_str(D("0.3000")), rate_percent(D("0.3000"))) == ("0.30", "30%")
    assert (rate_str(D("0.5750")), rate_percent(D("0.5750"))) == ("0.575", "57.5%")
    assert (rate_str(D("0")), rate_percent(D("0"))) == ("0.00", "0%")
    assert (rate_str(D("1.5")), rate_percent(D("1.5"))) == ("1.50", "150%")


# ---------------------------------------------------------------- statements


@pytest.fixture
def busy(ledger: Ledger, clock: Clock, ctx: Context) -> Ledger:
    """Account 'lab': 1 March deposit 500; 2 March a $40 job (held 48, charged 40); 3 March
    a $100 transfer to 'other' with a memo a spreadsheet would run; 4 March an open hold."""
    clock.now = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    ledger.create_account("lab", ctx=ctx)
    ledger.create_account("other", ctx=ctx)
    ledger.deposit("lab", "500", ctx=ctx, memo="opening award")
    clock.now += timedelta(days=1)
    hold = ledger.create_hold("lab", "40", ctx=ctx, partition="aws-cpu", user_name="ann")
    ledger.post_hold(hold.hold_id, "40", ctx=ctx)
    clock.now += timedelta(days=1)
    ledger.transfer("lab", "other", "100", ctx=ctx, reason="=SUM(A1:A9)")
    clock.now += timedelta(days=1)
    ledger.create_hold("lab", "10", ctx=ctx, buffer=1, job_id="77")
    return ledger


def test_statement_closing_equals_cached_totals(busy: Ledger, clock: Clock) -> None:
    st = account_statement(busy.db, "lab", date(2026, 3, 1), clock.now.date())
    acct = busy.get_account("lab")
    assert (st.closing.limit, st.closing.used, st.closing.held) == (
        acct.limit_amount,
        acct.used_amount,
        acct.held_amount,
    )
    assert st.closing.available == acct.available == D("350.00")
    assert (st.opening.limit, st.opening.available) == (0, 0)
    assert [r.kind for r in st.rows] == ["deposit", "hold", "charge", "release", "transfer", "hold"]
    assert [r.after.available for r in st.rows] == [
        D(500),
        D(452),
        D(452),
        D(460),
        D(360),
        D(350),
    ]
    assert st.rows[4].counterparty == "other"
    totals = {t.kind: (t.count, t.amount) for t in st.totals}
    assert totals == {
        "charge": (1, D(40)),
        "deposit": (1, D(500)),
        "hold": (2, D(58)),
        "release": (1, D(8)),
        "transfer": (1, D(100)),
    }
    # A later "until" changes nothing; one far in the future neither.
    later = account_statement(busy.db, "lab", date(2026, 3, 1), date(2027, 1, 1))
    assert later.closing == st.closing


def test_statement_of_a_middle_range_opens_with_the_figures_before_it(busy: Ledger) -> None:
    st = account_statement(busy.db, "lab", "2026-03-02", "2026-03-02")
    assert (st.opening.limit, st.opening.used, st.opening.held) == (D(500), 0, 0)
    assert [r.kind for r in st.rows] == ["hold", "charge", "release"]
    assert (st.closing.limit, st.closing.used, st.closing.held) == (D(500), D(40), 0)
    empty = account_statement(busy.db, "lab", date(2026, 2, 1), date(2026, 2, 28))
    assert empty.rows == []
    assert empty.totals == []
    assert empty.opening == empty.closing


def test_statement_csv_parses_back_with_the_documented_columns(busy: Ledger, clock: Clock) -> None:
    st = account_statement(busy.db, "lab", date(2026, 3, 1), clock.now.date())
    text = render_statement(st, "csv")
    reader = csv.DictReader(io.StringIO(text))
    documented = documented_columns("### Statement CSV columns")
    assert reader.fieldnames == documented == list(STATEMENT_CSV_COLUMNS)
    rows = list(reader)
    assert next(r["kind"] for r in rows) == "opening"
    assert [r["kind"] for r in rows][-1] == "closing"
    assert rows[-1]["available"] == "350.00"
    assert rows[-1]["time"] == clock.now.date().isoformat()
    charge_row = rows[3]
    assert (charge_row["kind"], charge_row["amount"], charge_row["used_delta"]) == (
        "charge",
        "40.00",
        "40.00",
    )
    assert (charge_row["partition"], charge_row["user"]) == ("aws-cpu", "ann")
    assert datetime.fromisoformat(charge_row["time"]) == datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    transfer = rows[5]
    assert transfer["memo"] == "'=SUM(A1:A9)"
    assert transfer["limit_delta"] == "-100.00"
    assert transfer["counterparty"] == "other"
    for row in rows:
        for column in ("amount", "limit", "used", "held", "available"):
            if row[column]:
                assert re.fullmatch(r"-?\d+\.\d\d", row[column]), (column, row[column])


def test_statement_json_and_markdown(busy: Ledger, clock: Clock) -> None:
    st = account_statement(busy.db, "lab", date(2026, 3, 1), clock.now.date())
    data = loads(render_statement(st, "json"))
    assert data["closing"] == {
        "limit": D("400.00"),
        "used": D("40.00"),
        "held": D("10.00"),
        "available": D("350.00"),
    }
    assert len(data["rows"]) == 6
    assert data["rows"][0]["memo"] == "opening award"
    text = render_statement(st, "markdown")
    assert text.startswith("# Account statement: lab")
    assert "| transfer | 1 | $100.00 | -$100.00 | $0.00 | $0.00 |" in text


def test_statement_errors(busy: Ledger) -> None:
    with pytest.raises(ValidationError) as caught:
        account_statement(busy.db, "lab", date(2026, 3, 2), date(2026, 3, 1))
    assert caught.value.field == "until"
    with pytest.raises(ValidationError) as caught:
        account_statement(busy.db, "lab", "yesterday", date(2026, 3, 1))
    assert caught.value.field == "since"
    with pytest.raises(NotFoundError):
        account_statement(busy.db, "ghost", date(2026, 3, 1), date(2026, 3, 2))
    st = account_statement(busy.db, "lab", date(2026, 3, 1), date(2026, 3, 2))
    with pytest.raises(ValidationError) as caught:
        render_statement(st, "xlsx")
    assert caught.value.field == "format"
