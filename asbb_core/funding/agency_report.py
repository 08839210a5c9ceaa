"""Agency-required grant reports: the figures of a federal financial report (laid out like the
SF-425) for one budget period of a grant, as CSV, JSON or PDF.

asbb files nothing with an agency; it computes what a grants office copies onto the form, from
the ledger and the grant's records, exactly (Decimal, the cent rounding of
``asbb_core.funding.grants``), in one read unit of work (one snapshot on PostgreSQL). The
figures and where each comes from are described for grants staff in docs/reports.md
("Agency-required reports"). In short, for budget period N of the grant, as of the report day
(the period's last day once it ended, else today):

* authorised: period N's budget, and the budgets of periods 1..N (cumulative);
* expenditures (federal share): each period's direct cost (the linked accounts' net spend in
  it, as the compliance report counts it) with its indirect cost rounded once per period, for
  period N and summed over periods 1..N;
* indirect expense: one line per budget period 1..N at the grant's rate (asbb keeps one rate
  per award), its base being that period's direct cost; the rate type is not recorded in asbb
  and is printed only when the caller names it;
* unliquidated obligations: the money still held, at the end of the report day, by holds the
  linked accounts opened (since their link) for jobs not yet charged -- a reservation the
  grant is committed to pay -- with its indirect cost. A hold reserves the estimate times the
  buffer, so this is an upper bound of what those jobs will cost;
* total federal share = cumulative expenditures + unliquidated obligations; unobligated
  balance = cumulative authorised - total federal share;
* federal cash: what draws moved into the accounts (direct, and the budget they commit with
  indirect) against the expenditures; cash on hand is the difference.

asbb has no recipient cost share and no program income, so those lines of the form are not
reported; every figure here is federal.

CSV is for spreadsheets as in ``asbb_core.analytics.reports``: one header row, money as plain
decimals ("1300.00"), dates ISO 8601, text a spreadsheet would run as a formula prefixed with
``'``. JSON is the report's view (``asbb_core.funding.views.AgencyReportView``), what the REST
API sends. The PDF needs fpdf2, imported only when a PDF is written.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, or_
from sqlmodel import Session, col, func, select

from asbb_core.funding.grants import (
    choose_period,
    drawn_by_period,
    grant_spend_total,
    indirect_of,
    link_scopes,
    load_grant,
    load_links,
    load_periods,
    rate_percent,
    rate_str,
    total_cost,
    validate_grant_number,
)
from asbb_core.ledger.spend import day_start
from asbb_core.store.database import Database
from asbb_core.store.models import Hold, JournalEntry
from asbb_core.store.sqltypes import Money
from asbb_core.values.context import utcnow
from asbb_core.values.errors import ValidationError
from asbb_core.values.money import ZERO, format_money, money_str, round_posting
from asbb_core.values.periods import parse_date

if TYPE_CHECKING:
    from asbb_core.ledger.spend import Scope

FORMATS: tuple[str, ...] = ("csv", "json", "pdf")
MEDIA_TYPES: dict[str, str] = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "pdf": "application/pdf",
}
RATE_TYPES: tuple[str, ...] = ("provisional", "predetermined", "final", "fixed")
"""The indirect cost rate types of the form (asbb does not record which one a grant has)."""

AGENCY_CSV_COLUMNS: tuple[str, ...] = (
    "grant_number",
    "budget_period",
    "section",
    "figure",
    "this_period",
    "cumulative",
    "rate_type",
    "rate",
    "from_date",
    "to_date",
    "base",
    "amount",
    "value",
)
"""The agency report's CSV columns, in order (documented in docs/reports.md)."""


# ---------------------------------------------------------------- results


@dataclass(frozen=True)
class Share:
    """Direct, indirect and total (direct + indirect) federal money."""

    direct: Decimal
    indirect: Decimal

    @property
    def total(self) -> Decimal:
        return self.direct + self.indirect


@dataclass(frozen=True)
class Span:
    """A figure for the reported budget period and cumulative from the award's start."""

    this_period: Decimal
    cumulative: Decimal


@dataclass(frozen=True)
class IndirectLine:
    """One line of indirect expense: one budget period at the grant's rate."""

    rate_type: str | None
    rate: Decimal
    budget_period: int
    from_date: date
    to_date: date
    base: Decimal
    """The period's direct cost, which the rate applies to."""
    amount: Decimal
    """Indirect cost charged: base x rate, rounded to the cent once."""


@dataclass(frozen=True)
class AgencyReport:
    # identification
    grant_number: str
    federal_award_id: str
    """The assistance listing number (CFDA) asbb keeps as the grant's ``cfda``; the original
    tool's name for it."""
    funding_agency: str
    agency_program: str
    principal_investigator: str
    co_investigators: list[str]
    institution: str
    department: str
    title: str
    status: str
    total_award: Decimal
    award_start: date
    award_end: date
    indirect_rate: Decimal
    # the report period
    budget_period: int
    period_count: int
    period_start: date
    period_end: date
    period_state: str
    """``upcoming``, ``current`` or ``ended`` on ``as_of``."""
    as_of: date
    """The last day whose movements the figures count: the period's end, or the report day
    if earlier."""
    final: bool
    """The grant's last budget period, ended: the award's final report."""
    generated_at: datetime
    # the figures
    authorised: Span
    expenditures: Share
    """Period ``budget_period`` alone."""
    cumulative_expenditures: Share
    """Periods 1..``budget_period``."""
    indirect_lines: list[IndirectLine]
    unliquidated: Share
    open_holds: int
    """How many holds the unliquidated obligations are."""
    drawn: Span
    """Direct money drawn into the linked accounts."""
    receipts: Span
    """What the draws commit of the budget: drawn + its indirect cost."""

    @property
    def indirect_base(self) -> Decimal:
        return sum((line.base for line in self.indirect_lines), ZERO)

    @property
    def indirect_amount(self) -> Decimal:
        return sum((line.amount for line in self.indirect_lines), ZERO)

    @property
    def total_federal_share(self) -> Decimal:
        """Cumulative expenditures + unliquidated obligations (the form's line 10g)."""
        return self.cumulative_expenditures.total + self.unliquidated.total

    @property
    def unobligated_balance(self) -> Decimal:
        """Cumulative authorised - total federal share (line 10h); negative when overspent."""
        return self.authorised.cumulative - self.total_federal_share

    @property
    def disbursements(self) -> Span:
        """Expenditures (total cost), this period and cumulative (line 10b)."""
        return Span(self.expenditures.total, self.cumulative_expenditures.total)

    @property
    def cash_on_hand(self) -> Decimal:
        """Cumulative receipts - cumulative disbursements (line 10c)."""
        return self.receipts.cumulative - self.cumulative_expenditures.total


# ---------------------------------------------------------------- validation


def check_format(fmt: object) -> str:
    if fmt not in FORMATS:
        raise ValidationError(f"format: {fmt!r} is not one of {', '.join(FORMATS)}", field="format")
    return str(fmt)


def parse_rate_type(value: object) -> str | None:
    """One of ``RATE_TYPES`` (any case), or None when not given."""
    if value is None or value == "":
        return None
    text = str(value).strip().lower()
    if text not in RATE_TYPES:
        raise ValidationError(
            f"rate_type: {value!r} is not one of {', '.join(RATE_TYPES)}", field="rate_type"
        )
    return text


def _period_number(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10_000:
        raise ValidationError("period: expected a period number (1, 2, ...)", field="period")
    return value


def check_start(
    grant: str, chosen: int, periods: Sequence[tuple[int, date, date]], start: date
) -> None:
    """asbb reports by budget period: a report's start date (the original tool's window)
    must be the first day of the period chosen, ``periods`` being (number, first, last);
    for the first period any earlier day will do, as nothing is spent on an award
    before it starts (the report then says the period's own first day)."""
    first = next(begin for n, begin, _ in periods if n == chosen)
    if start == first or (chosen == min(n for n, _, _ in periods) and start < first):
        return
    listed = ", ".join(
        f"{n}: {begin.isoformat()} to {end.isoformat()}" for n, begin, end in periods
    )
    raise ValidationError(
        f"start_date: {start.isoformat()} is not the first day of period {chosen} of grant "
        f"{grant} ({first.isoformat()}); reports cover whole budget periods ({listed})",
        field="start_date",
    )


# ---------------------------------------------------------------- the figures


def _held(session: Session, scopes: Sequence[Scope], cutoff: datetime) -> tuple[Decimal, int]:
    """Money still held at ``cutoff`` by holds the scoped accounts opened from their scope's
    day on, and how many holds that is: each hold's rows' ``held_delta`` before ``cutoff``
    (a hold's remaining is the sum of its rows, ``asbb_core.ledger.verify``)."""
    if not scopes:
        return ZERO, 0
    opened = or_(
        *(
            and_(
                col(JournalEntry.account_id) == scope.account_id,
                col(Hold.created_at) >= day_start(scope.since),
            )
            for scope in scopes
        )
    )
    per_hold = (
        select(
            col(JournalEntry.hold_id),
            func.sum(col(JournalEntry.held_delta), type_=Money).label("held"),
        )
        .join(Hold, col(Hold.id) == col(JournalEntry.hold_id))
        .where(
            opened,
            col(Hold.created_at) < cutoff,
            # A hold resolved before the cutoff holds nothing then: skip its rows (most holds).
            or_(col(Hold.resolved_at).is_(None), col(Hold.resolved_at) >= cutoff),
            col(JournalEntry.created_at) < cutoff,
        )
        .group_by(col(JournalEntry.hold_id))
        .having(func.sum(col(JournalEntry.held_delta)) != 0)
        .subquery()
    )
    total, count = session.exec(select(func.sum(per_hold.c.held, type_=Money), func.count())).one()
    return (ZERO if total is None else Decimal(total)), int(count)


def agency_report(
    db: Database,
    number: str,
    *,
    period: int | None = None,
    today: date | None = None,
    now: datetime | None = None,
    start_date: object | None = None,
    rate_type: object | None = None,
) -> AgencyReport:
    """The agency-required figures of budget period ``period`` (default: the one containing
    ``today``) of grant ``number``, counted up to and including ``today`` (default: the UTC
    date of ``now``, itself defaulting to the current time). ``start_date``, when given,
    must be the chosen period's first day (the original tool's report window); ``rate_type``
    is printed on the indirect expense lines (asbb does not record it)."""
    cleaned = validate_grant_number(number, field="grant")
    wanted = _period_number(period)
    start = None if start_date is None else parse_date(start_date, field="start_date")
    kind = parse_rate_type(rate_type)
    moment = now or utcnow()
    day = today or moment.astimezone(UTC).date()

    def query(s: Session) -> AgencyReport:
        grant = load_grant(s, cleaned)
        assert grant.id is not None
        periods = load_periods(s, grant.id)
        chosen = choose_period(grant, periods, wanted, day)
        if start is not None:
            spans = [(p.number, p.start_date, p.end_date) for p in periods]
            check_start(grant.number, chosen.number, spans, start)
        links = [link for link, _ in load_links(s, [grant.id])]
        drawn = drawn_by_period(s, [grant.id])
        # The rate as reports write it (2 to 4 decimals: 0.30, not 0.3000); the same number.
        rate = Decimal(rate_str(grant.indirect_rate))
        lines: list[IndirectLine] = []
        budgets = ZERO
        drawn_total = receipts_total = ZERO
        for p in periods:
            if p.number > chosen.number:
                break
            budgets += round_posting(p.budget)
            direct = round_posting(grant_spend_total(s, links, p.start_date, min(p.end_date, day)))
            lines.append(
                IndirectLine(
                    kind,
                    rate,
                    p.number,
                    p.start_date,
                    p.end_date,
                    direct,
                    indirect_of(direct, rate),
                )
            )
            moved = drawn.get(p.id or 0, ZERO)
            drawn_total += round_posting(moved)
            receipts_total += total_cost(moved, rate)
        last = lines[-1]
        as_of = min(chosen.end_date, day)
        held, holds = _held(
            s, link_scopes(links, grant.start_date), day_start(as_of + timedelta(days=1))
        )
        held = round_posting(held)
        if day < chosen.start_date:
            state = "upcoming"
        elif day > chosen.end_date:
            state = "ended"
        else:
            state = "current"
        moved_here = drawn.get(chosen.id or 0, ZERO)
        return AgencyReport(
            grant_number=grant.number,
            federal_award_id=grant.cfda,
            funding_agency=grant.agency,
            agency_program=grant.program,
            principal_investigator=grant.pi,
            co_investigators=list(grant.co_pis or []),
            institution=grant.institution,
            department=grant.department,
            title=grant.title,
            status=str(grant.status),
            total_award=round_posting(grant.total_award),
            award_start=grant.start_date,
            award_end=grant.end_date,
            indirect_rate=rate,
            budget_period=chosen.number,
            period_count=len(periods),
            period_start=chosen.start_date,
            period_end=chosen.end_date,
            period_state=state,
            as_of=as_of,
            final=chosen.number == periods[-1].number and state == "ended",
            generated_at=moment,
            authorised=Span(round_posting(chosen.budget), budgets),
            expenditures=Share(last.base, last.amount),
            cumulative_expenditures=Share(
                sum((line.base for line in lines), ZERO), sum((line.amount for line in lines), ZERO)
            ),
            indirect_lines=lines,
            unliquidated=Share(held, indirect_of(held, rate)),
            open_holds=holds,
            drawn=Span(round_posting(moved_here), drawn_total),
            receipts=Span(total_cost(moved_here, rate), receipts_total),
        )

    return db.read(query)


# ---------------------------------------------------------------- CSV


def _safe(text: str | None) -> str:
    """Free text for a CSV cell: a leading formula character is neutralised with ``'`` (the
    rule of ``asbb_core.analytics.reports``)."""
    if not text:
        return ""
    return f"'{text}" if text[0] in "=+-@\t\r" else text


def _csv(report: AgencyReport) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(AGENCY_CSV_COLUMNS), lineterminator="\r\n")
    writer.writeheader()
    blank = dict.fromkeys(AGENCY_CSV_COLUMNS, "")
    base = {"grant_number": report.grant_number, "budget_period": str(report.budget_period)}

    def row(section: str, figure: str, **cells: str) -> None:
        writer.writerow({**blank, **base, "section": section, "figure": figure, **cells})

    def text(section: str, figure: str, value: str) -> None:
        row(section, figure, value=_safe(value))

    def span(section: str, figure: str, this: Decimal | None, total: Decimal) -> None:
        row(
            section,
            figure,
            this_period="" if this is None else money_str(this),
            cumulative=money_str(total),
        )

    for figure, value in (
        ("grant_number", report.grant_number),
        ("federal_award_id", report.federal_award_id),
        ("funding_agency", report.funding_agency),
        ("agency_program", report.agency_program),
        ("principal_investigator", report.principal_investigator),
        ("co_investigators", "; ".join(report.co_investigators)),
        ("institution", report.institution),
        ("department", report.department),
        ("title", report.title),
        ("status", report.status),
        ("award_start_date", report.award_start.isoformat()),
        ("award_end_date", report.award_end.isoformat()),
        ("total_award", money_str(report.total_award)),
    ):
        text("identification", figure, value)
    for figure, value in (
        ("period_start", report.period_start.isoformat()),
        ("period_end", report.period_end.isoformat()),
        ("period_count", str(report.period_count)),
        ("state", report.period_state),
        ("as_of", report.as_of.isoformat()),
        ("final", "yes" if report.final else "no"),
        ("generated_at", report.generated_at.isoformat()),
    ):
        text("report_period", figure, value)
    span("authorised", "federal_funds_authorised", *_pair(report.authorised))
    for figure, this, total in (
        ("direct", report.expenditures.direct, report.cumulative_expenditures.direct),
        ("indirect", report.expenditures.indirect, report.cumulative_expenditures.indirect),
        ("total", report.expenditures.total, report.cumulative_expenditures.total),
    ):
        span("expenditures", figure, this, total)
    for line in report.indirect_lines:
        row(
            "indirect_expense",
            "rate",
            rate_type=line.rate_type or "",
            rate=rate_str(line.rate),
            from_date=line.from_date.isoformat(),
            to_date=line.to_date.isoformat(),
            base=money_str(line.base),
            amount=money_str(line.amount),
            value=str(line.budget_period),
        )
    row(
        "indirect_expense",
        "total",
        base=money_str(report.indirect_base),
        amount=money_str(report.indirect_amount),
    )
    for figure, amount in (
        ("direct", report.unliquidated.direct),
        ("indirect", report.unliquidated.indirect),
        ("total", report.unliquidated.total),
    ):
        span("unliquidated_obligations", figure, None, amount)
    text("unliquidated_obligations", "open_holds", str(report.open_holds))
    span("totals", "total_federal_share", None, report.total_federal_share)
    span("totals", "unobligated_balance", None, report.unobligated_balance)
    span("cash", "drawn", *_pair(report.drawn))
    span("cash", "receipts", *_pair(report.receipts))
    span("cash", "disbursements", *_pair(report.disbursements))
    span("cash", "cash_on_hand", None, report.cash_on_hand)
    return out.getvalue()


def _pair(value: Span) -> tuple[Decimal, Decimal]:
    return value.this_period, value.cumulative


# ---------------------------------------------------------------- PDF


# Letters and marks with no Latin-1 form and no decomposition to one: their usual spelling.
_LATIN1_SPELLING = str.maketrans(
    {
        "\u0141": "L",  # L with stroke
        "\u0142": "l",
        "\u0110": "D",  # D with stroke
        "\u0111": "d",
        "\u0152": "OE",
        "\u0153": "oe",
        "\u0131": "i",  # dotless i
        "\u2013": "-",  # en dash
        "\u2014": "-",  # em dash
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2026": "...",
    }
)


def pdf_text(text: str) -> str:
    """``text`` in the PDF core fonts' Latin-1: accents kept where Latin-1 has them, other
    letters by their plain form (NFKD, or their usual spelling), anything else as ``?``. CSV
    and JSON keep the exact text; the PDF is for reading and filing."""
    try:
        text.encode("latin-1")
        return text
    except UnicodeEncodeError:
        pass
    out: list[str] = []
    for char in text.translate(_LATIN1_SPELLING):
        try:
            char.encode("latin-1")
            out.append(char)
            continue
        except UnicodeEncodeError:
            pass
        plain = "".join(
            c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)
        )
        out.append(plain if plain and plain.isascii() else "?")
    return "".join(out)


def _identification(report: AgencyReport) -> list[tuple[str, str]]:
    return [
        ("Federal agency", report.funding_agency or "-"),
        ("Agency program", report.agency_program or "-"),
        ("Federal grant number", report.grant_number),
        ("Assistance listing (CFDA)", report.federal_award_id or "-"),
        ("Principal investigator", report.principal_investigator or "-"),
        ("Co-investigators", ", ".join(report.co_investigators) or "-"),
        ("Recipient", " / ".join(x for x in (report.institution, report.department) if x) or "-"),
        ("Title", report.title or "-"),
        (
            "Project / grant period",
            f"{report.award_start.isoformat()} to {report.award_end.isoformat()} "
            f"({format_money(report.total_award)} awarded, {report.status})",
        ),
        (
            "Budget period reported",
            f"{report.budget_period} of {report.period_count}: {report.period_start.isoformat()} "
            f"to {report.period_end.isoformat()} ({report.period_state})",
        ),
        ("Figures as of", f"{report.as_of.isoformat()} (end of day, UTC)"),
        ("Final report", "yes" if report.final else "no"),
    ]


def _pdf(report: AgencyReport) -> bytes:
    from fpdf import FPDF  # only here: the CLI's start-up must not load it

    generated = report.generated_at.astimezone(UTC).isoformat()

    class Report(FPDF):
        def footer(self) -> None:
            self.set_y(-12)
            self.set_font("Helvetica", size=7)
            self.cell(
                0,
                5,
                pdf_text(
                    f"asbb agency-required report, grant {report.grant_number} period "
                    f"{report.budget_period}; generated {generated}; page {self.page_no()}"
                ),
                align="C",
            )

    pdf = Report(format="letter", unit="mm")
    # Uncompressed: a page or two of text, which stays greppable; the creation date is the
    # report's own, so the same figures give the same file.
    pdf.set_compression(False)
    pdf.set_creation_date(report.generated_at.astimezone(UTC))
    pdf.set_title(pdf_text(f"Federal financial report: {report.grant_number}"))
    pdf.set_author("asbb")
    pdf.set_auto_page_break(auto=True, margin=16)
    pdf.add_page()
    width = pdf.epw

    def heading(text: str, size: int = 11) -> None:
        pdf.set_font("Helvetica", "B", size)
        pdf.ln(2)
        pdf.cell(width, 7, pdf_text(text), new_x="LMARGIN", new_y="NEXT")

    def table(
        headers: Sequence[str],
        rows: Iterable[Sequence[str]],
        widths: Sequence[float],
        text_columns: int = 1,
    ) -> None:
        """A bordered table: the first ``text_columns`` are text, the rest figures
        (right-aligned)."""
        for font, cells in (
            (("Helvetica", "B", 8), headers),
            *((("Helvetica", "", 8), r) for r in rows),
        ):
            pdf.set_font(*font)
            for i, (cell, w) in enumerate(zip(cells, widths, strict=True)):
                pdf.cell(w, 6, pdf_text(cell), border=1, align="L" if i < text_columns else "R")
            pdf.ln()

    pdf.set_font("Helvetica", "B", 14)
    pdf.cell(width, 8, "Federal financial report (SF-425 figures)", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=8)
    pdf.multi_cell(
        width,
        4,
        "Figures for the grants office to report to the funding agency, computed by asbb "
        "from its ledger. Federal share only: asbb records no recipient cost share and no "
        "program income. Amounts in US dollars.",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    heading("Recipient and award")
    pdf.set_font("Helvetica", size=8)
    for label, value in _identification(report):
        pdf.set_font("Helvetica", "B", 8)
        pdf.cell(50, 5, pdf_text(label))
        pdf.set_font("Helvetica", size=8)
        pdf.multi_cell(width - 50, 5, pdf_text(value), new_x="LMARGIN", new_y="NEXT")

    money = format_money
    e, c = report.expenditures, report.cumulative_expenditures
    u = report.unliquidated
    heading("Federal expenditures and unobligated balance")
    table(
        ("Line", "This budget period", "Cumulative"),
        [
            (
                "10a Cash receipts (draws with indirect)",
                money(report.receipts.this_period),
                money(report.receipts.cumulative),
            ),
            (
                "10b Cash disbursements",
                money(report.disbursements.this_period),
                money(report.disbursements.cumulative),
            ),
            ("10c Cash on hand (a - b)", "", money(report.cash_on_hand)),
            (
                "10d Total Federal funds authorized",
                money(report.authorised.this_period),
                money(report.authorised.cumulative),
            ),
            ("10e Federal share of expenditures: direct", money(e.direct), money(c.direct)),
            (
                f"      indirect ({rate_percent(report.indirect_rate)})",
                money(e.indirect),
                money(c.indirect),
            ),
            ("      total", money(e.total), money(c.total)),
            ("10f Federal share of unliquidated obligations", "", money(u.total)),
            ("10g Total Federal share (e + f)", "", money(report.total_federal_share)),
            (
                "10h Unobligated balance of Federal funds (d - g)",
                "",
                money(report.unobligated_balance),
            ),
        ],
        (width * 0.52, width * 0.24, width * 0.24),
    )
    pdf.set_font("Helvetica", size=7)
    pdf.multi_cell(
        width,
        4,
        pdf_text(
            f"10f: {report.open_holds} open hold(s) for running or queued jobs, "
            f"{money(u.direct)} direct + {money(u.indirect)} indirect, as held at the end of "
            f"{report.as_of.isoformat()} (a hold reserves the estimate with a buffer). Direct "
            f"money drawn into the grant's accounts: {money(report.drawn.this_period)} this "
            f"period, {money(report.drawn.cumulative)} cumulative."
        ),
        new_x="LMARGIN",
        new_y="NEXT",
    )

    heading("11 Indirect expense")
    table(
        ("Period", "Type", "Rate", "From", "To", "Base", "Amount charged"),
        [
            (
                str(line.budget_period),
                line.rate_type or "not recorded",
                rate_percent(line.rate),
                line.from_date.isoformat(),
                line.to_date.isoformat(),
                money(line.base),
                money(line.amount),
            )
            for line in report.indirect_lines
        ]
        + [("Total", "", "", "", "", money(report.indirect_base), money(report.indirect_amount))],
        (
            width * 0.1,
            width * 0.16,
            width * 0.1,
            width * 0.14,
            width * 0.14,
            width * 0.18,
            width * 0.18,
        ),
        text_columns=2,
    )
    pdf.set_font("Helvetica", size=7)
    pdf.multi_cell(
        width,
        4,
        "The base is the period's direct cost (the accounts' net spend on jobs); the amount is "
        "base x rate, rounded to the cent once per period. The Federal share of each line is "
        "its whole amount.",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    data: Any = pdf.output()
    return bytes(data)


# ---------------------------------------------------------------- rendering


def render_agency_report(report: AgencyReport, fmt: str) -> bytes:
    """The report as ``csv`` (UTF-8 text), ``json`` (UTF-8 text) or ``pdf`` bytes."""
    check_format(fmt)
    if fmt == "csv":
        return _csv(report).encode("utf-8")
    if fmt == "json":
        from asbb_core.funding.views import AgencyReportView
        from asbb_core.values.wire import dumps

        return (dumps(AgencyReportView.of(report), indent=2) + "\n").encode("utf-8")
    return _pdf(report)


def report_filename(report: AgencyReport, fmt: str) -> str:
    """A file name for a download: ``agency-report-NSF-2312345-period-2.pdf``."""
    return f"agency-report-{report.grant_number}-period-{report.budget_period}.{fmt}"
