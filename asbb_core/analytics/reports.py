"""Reports for finance staff: a grant's compliance report per budget period, and an account
statement for any date range, each rendered as CSV, JSON or Markdown.

Every figure is aggregated in SQL (``asbb_core.ledger.spend`` for spend, ``GROUP BY`` / window
sums over the journal for statements); Python only formats. The formats and every CSV column
are described for finance staff in docs/reports.md. JSON is the reports' views
(``asbb_core.analytics.views``), exactly what the REST API sends.

CSV is written for spreadsheets: one header row, plain columns, money as plain decimal strings
("1300.00", no currency sign, no thousands separator), dates and times ISO 8601. Free text
(memos, names) that a spreadsheet would take for a formula (starting with ``=``, ``+``, ``-``,
``@``, tab or carriage return) is prefixed with ``'``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from asbb_core.analytics.burnrate import grant_burn_rate
from asbb_core.analytics.views import GrantReportView, StatementView
from asbb_core.funding.grants import (
    Figures,
    apportion,
    choose_period,
    drawn_by_period,
    grant_spend_by,
    load_grant,
    load_links,
    load_periods,
    months_of,
    percent,
    rate_percent,
    status_of,
    validate_grant_number,
)
from asbb_core.ledger.spend import day_start
from asbb_core.settings import Settings
from asbb_core.store.database import Database
from asbb_core.store.models import Account, JournalEntry
from asbb_core.store.sqltypes import Money
from asbb_core.values.context import utcnow
from asbb_core.values.errors import NotFoundError, ValidationError
from asbb_core.values.money import ZERO, format_money, money_str
from asbb_core.values.periods import parse_date
from asbb_core.values.text import normalise_account_name
from asbb_core.values.wire import dumps

FORMATS: tuple[str, ...] = ("csv", "json", "markdown")
NONE_KEY = "(none)"
"""How a group whose key was not recorded (no partition, no user) is shown."""

GRANT_CSV_COLUMNS: tuple[str, ...] = (
    "grant_number",
    "period",
    "period_start",
    "period_end",
    "section",
    "key",
    "direct",
    "indirect",
    "total",
    "percent_of_budget",
    "budget",
    "drawn",
    "remaining",
    "burn_rate_status",
)
"""The grant report's CSV columns, in order (documented in docs/reports.md)."""

STATEMENT_CSV_COLUMNS: tuple[str, ...] = (
    "time",
    "entry_id",
    "kind",
    "amount",
    "limit_delta",
    "used_delta",
    "held_delta",
    "limit",
    "used",
    "held",
    "available",
    "partition",
    "user",
    "job_id",
    "hold_id",
    "counterparty",
    "memo",
    "actor",
    "source",
)
"""The account statement's CSV columns, in order (documented in docs/reports.md)."""


# ---------------------------------------------------------------- grant compliance report


@dataclass(frozen=True)
class BurnStatus:
    """The burn rate of the reported period (asbb_core.analytics.burnrate), as of the report's day
    (clamped into the period)."""

    band: str
    score: int
    actual_daily: Decimal
    expected_daily: Decimal | None
    variance_percent: Decimal | None
    projected_exhaustion: date | None
    projected_balance_at_end: Decimal | None


@dataclass(frozen=True)
class GrantReport:
    number: str
    title: str
    agency: str
    program: str
    pi: str
    co_pis: list[str]
    institution: str
    department: str
    cfda: str
    total_award: Decimal
    start_date: date
    end_date: date
    indirect_rate: Decimal
    status: str
    period: int
    period_count: int
    period_start: date
    period_end: date
    period_state: str
    """``upcoming``, ``current`` or ``ended`` on ``today``."""
    budget: Decimal
    drawn: Decimal
    drawn_cost: Decimal
    direct: Decimal
    indirect: Decimal
    total: Decimal
    remaining: Decimal
    percent_used: Decimal
    by_month: list[Figures]
    by_partition: list[Figures]
    by_user: list[Figures]
    by_account: list[Figures]
    burn_rate: BurnStatus | None
    today: date
    generated_at: datetime


def _today(today: date | None, now: datetime | None) -> tuple[date, datetime]:
    moment = now or utcnow()
    return (today or moment.astimezone(UTC).date()), moment


def grant_compliance_report(
    db: Database,
    settings: Settings,
    number: str,
    *,
    period: int | None = None,
    today: date | None = None,
    now: datetime | None = None,
) -> GrantReport:
    """One budget period of a grant (default: the one containing ``today``): direct,
    indirect and total cost, remaining, by month / partition / user / account, what was
    drawn, and the burn-rate status. Spend is counted up to and including ``today``
    (default: the UTC date of ``now``, itself defaulting to the current time)."""
    cleaned = validate_grant_number(number, field="grant")
    if period is not None and (
        isinstance(period, bool) or not isinstance(period, int) or period < 1
    ):
        raise ValidationError("period: expected a period number (1, 2, ...)", field="period")
    day, moment = _today(today, now)

    def query(s: Session) -> GrantReport:
        grant = load_grant(s, cleaned)
        assert grant.id is not None
        periods = load_periods(s, grant.id)
        chosen = choose_period(grant, periods, period, day)
        named = load_links(s, [grant.id])
        links = [link for link, _ in named]
        drawn = drawn_by_period(s, [grant.id]).get(chosen.id or 0, ZERO)
        status = status_of(s, grant, chosen, day, drawn, links)
        rate = grant.indirect_rate
        since, until = chosen.start_date, min(chosen.end_date, day)

        def grouped(group: Any) -> list[Figures]:
            return apportion(grant_spend_by(s, links, since, until, group), rate)

        spent_months = dict(grant_spend_by(s, links, since, until, "month"))
        months = [(m, spent_months.get(m, ZERO)) for m in months_of(since, chosen.end_date)]
        spent_accounts = dict(grant_spend_by(s, links, since, until, "account"))
        accounts = sorted({name for _, name in named} | {k for k in spent_accounts if k})
        return GrantReport(
            number=grant.number,
            title=grant.title,
            agency=grant.agency,
            program=grant.program,
            pi=grant.pi,
            co_pis=list(grant.co_pis),
            institution=grant.institution,
            department=grant.department,
            cfda=grant.cfda,
            total_award=grant.total_award,
            start_date=grant.start_date,
            end_date=grant.end_date,
            indirect_rate=rate,
            status=str(grant.status),
            period=chosen.number,
            period_count=len(periods),
            period_start=chosen.start_date,
            period_end=chosen.end_date,
            period_state=status.state,
            budget=chosen.budget,
            drawn=status.drawn,
            drawn_cost=status.drawn_cost,
            direct=status.direct,
            indirect=status.indirect,
            total=status.consumed,
            remaining=status.remaining,
            percent_used=status.percent_used,
            by_month=apportion(months, rate),
            by_partition=grouped("partition"),
            by_user=grouped("user"),
            by_account=apportion([(a, spent_accounts.get(a, ZERO)) for a in accounts], rate),
            burn_rate=None,
            today=day,
            generated_at=moment,
        )

    report = db.read(query)
    burn = grant_burn_rate(
        db,
        settings,
        report.number,
        window="period",
        today=min(max(day, report.period_start), report.period_end),
    )
    return _with_burn(
        report,
        BurnStatus(
            band=burn.health.band,
            score=burn.health.score,
            actual_daily=burn.actual_daily,
            expected_daily=burn.expected_daily,
            variance_percent=burn.variance_percent,
            projected_exhaustion=burn.projected_exhaustion,
            projected_balance_at_end=burn.projected_balance_at_end,
        ),
    )


def _with_burn(report: GrantReport, burn: BurnStatus) -> GrantReport:
    return replace(report, burn_rate=burn)


# ---------------------------------------------------------------- account statement


@dataclass(frozen=True)
class Balances:
    limit: Decimal
    used: Decimal
    held: Decimal

    @property
    def available(self) -> Decimal:
        return self.limit - self.used - self.held


@dataclass(frozen=True)
class StatementRow:
    entry_id: int
    time: datetime
    kind: str
    amount: Decimal
    limit_delta: Decimal
    used_delta: Decimal
    held_delta: Decimal
    after: Balances
    """The account's figures just after this row."""
    partition: str | None
    user: str | None
    job_id: str | None
    hold_id: str | None
    counterparty: str | None
    memo: str
    actor: str
    source: str


@dataclass(frozen=True)
class KindTotal:
    kind: str
    count: int
    amount: Decimal
    limit_delta: Decimal
    used_delta: Decimal
    held_delta: Decimal


@dataclass(frozen=True)
class Statement:
    account: str
    description: str
    since: date
    until: date
    opening: Balances
    """As of the start of ``since`` (00:00 UTC)."""
    rows: list[StatementRow]
    closing: Balances
    """As of the end of ``until`` (24:00 UTC)."""
    totals: list[KindTotal]
    generated_at: datetime


def _money(value: Any) -> Decimal:
    return Decimal(value) if value is not None else ZERO


def account_statement(
    db: Database,
    account: str,
    since: date | str,
    until: date | str,
    *,
    now: datetime | None = None,
) -> Statement:
    """Every journal row of ``account`` from ``since`` to ``until`` (UTC days, inclusive)
    with the running figures after each, the opening figures (summed in SQL from the
    journal's deltas before ``since``), the closing figures and totals per kind."""
    name = normalise_account_name(account)
    first = parse_date(since, field="since")
    last = parse_date(until, field="until")
    if last < first:
        raise ValidationError(
            f"until: {last.isoformat()} is before since {first.isoformat()}", field="until"
        )
    start, end = day_start(first), day_start(last + timedelta(days=1))
    moment = now or utcnow()
    other = aliased(Account)

    def sums(*columns: Any) -> list[Any]:
        return [func.sum(c, type_=Money) for c in columns]

    deltas = (
        col(JournalEntry.limit_delta),
        col(JournalEntry.used_delta),
        col(JournalEntry.held_delta),
    )

    def query(s: Session) -> Statement:
        acct = s.exec(select(Account).where(Account.name == name)).first()
        if acct is None or acct.id is None:
            raise NotFoundError(f"account {name!r} does not exist", field="account")
        limit0, used0, held0 = s.exec(
            select(*sums(*deltas)).where(
                JournalEntry.account_id == acct.id, col(JournalEntry.created_at) < start
            )
        ).one()
        opening = Balances(_money(limit0), _money(used0), _money(held0))
        order = (col(JournalEntry.created_at), col(JournalEntry.id))
        running = [func.sum(d, type_=Money).over(order_by=order) for d in deltas]
        in_range = (
            JournalEntry.account_id == acct.id,
            col(JournalEntry.created_at) >= start,
            col(JournalEntry.created_at) < end,
        )
        stmt: Any = (
            select(JournalEntry, other.name, *running)
            .outerjoin(other, col(other.id) == JournalEntry.counterparty_account_id)
            .where(*in_range)
            .order_by(*order)
        )
        rows = [
            StatementRow(
                entry_id=e.id or 0,
                time=e.created_at,
                kind=str(e.kind),
                amount=e.amount,
                limit_delta=e.limit_delta,
                used_delta=e.used_delta,
                held_delta=e.held_delta,
                after=Balances(
                    opening.limit + _money(lim),
                    opening.used + _money(used),
                    opening.held + _money(held),
                ),
                partition=e.partition,
                user=e.user_name,
                job_id=e.job_id,
                hold_id=e.hold_id,
                counterparty=counterparty,
                memo=e.memo,
                actor=e.actor,
                source=str(e.source),
            )
            for e, counterparty, lim, used, held in s.exec(stmt)
        ]
        totals = [
            KindTotal(str(kind), int(n), _money(amount), _money(lim), _money(used), _money(held))
            for kind, n, amount, lim, used, held in s.exec(
                select(
                    col(JournalEntry.kind),
                    func.count(col(JournalEntry.id)),
                    *sums(col(JournalEntry.amount), *deltas),
                )
                .where(*in_range)
                .group_by(col(JournalEntry.kind))
                .order_by(col(JournalEntry.kind))
            )
        ]
        closing = Balances(
            opening.limit + sum((t.limit_delta for t in totals), ZERO),
            opening.used + sum((t.used_delta for t in totals), ZERO),
            opening.held + sum((t.held_delta for t in totals), ZERO),
        )
        return Statement(
            account=acct.name,
            description=acct.description,
            since=first,
            until=last,
            opening=opening,
            rows=rows,
            closing=closing,
            totals=totals,
            generated_at=moment,
        )

    return db.read(query)


# ---------------------------------------------------------------- rendering helpers


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ValidationError(f"format: must be one of {', '.join(FORMATS)}", field="format")
    return fmt


def _safe(text: str | None) -> str:
    """Free text for a CSV cell: a leading formula character is neutralised with ``'``."""
    if not text:
        return ""
    return f"'{text}" if text[0] in "=+-@\t\r" else text


def _csv(columns: Sequence[str], rows: Iterable[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    return out.getvalue()


def _md_cell(value: object) -> str:
    text = "" if value is None else str(value)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("\r", " ")


def _md_table(
    headers: Sequence[str],
    rows: Iterable[Sequence[object]],
    right: int = 0,
    *,
    figures: Collection[int] = (),
) -> str:
    """A Markdown table; the last ``right`` columns and those at ``figures`` (indexes) are
    right-aligned (amounts)."""
    first = len(headers) - right
    align = ["---:" if i >= first or i in figures else "---" for i in range(len(headers))]
    lines = [
        "| " + " | ".join(_md_cell(h) for h in headers) + " |",
        "| " + " | ".join(align) + " |",
    ]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


# ---------------------------------------------------------------- grant report rendering


def _grant_csv(report: GrantReport) -> str:
    base = {
        "grant_number": report.number,
        "period": str(report.period),
        "period_start": report.period_start.isoformat(),
        "period_end": report.period_end.isoformat(),
    }

    def line(section: str, fig: Figures, **extra: str) -> dict[str, str]:
        return {
            **base,
            "section": section,
            "key": _safe(fig.key if fig.key is not None else NONE_KEY),
            "direct": money_str(fig.direct),
            "indirect": money_str(fig.indirect),
            "total": money_str(fig.total),
            "percent_of_budget": str(percent(fig.total, report.budget)),
            "budget": "",
            "drawn": "",
            "remaining": "",
            "burn_rate_status": "",
            **extra,
        }

    rows = [
        line(
            "period",
            Figures("total", report.direct, report.indirect, report.total),
            budget=money_str(report.budget),
            drawn=money_str(report.drawn),
            remaining=money_str(report.remaining),
            burn_rate_status=report.burn_rate.band if report.burn_rate else "",
        )
    ]
    for section, figures in (
        ("month", report.by_month),
        ("partition", report.by_partition),
        ("user", report.by_user),
        ("account", report.by_account),
    ):
        rows += [line(section, f) for f in figures]
    return _csv(GRANT_CSV_COLUMNS, rows)


def _grant_markdown(report: GrantReport) -> str:
    pct = rate_percent(report.indirect_rate)
    co = ", ".join(report.co_pis) or "none"
    header = [
        ("Title", report.title or "-"),
        ("Agency / program", f"{report.agency or '-'} / {report.program or '-'}"),
        ("PI", report.pi or "-"),
        ("Co-PIs", co),
        ("Institution / department", f"{report.institution or '-'} / {report.department or '-'}"),
        ("Assistance listing (CFDA)", report.cfda or "-"),
        (
            "Award",
            f"{format_money(report.total_award)}, {report.start_date.isoformat()} to "
            f"{report.end_date.isoformat()}",
        ),
        ("Indirect cost rate", pct),
        ("Grant status", report.status),
        (
            "Budget period",
            f"{report.period} of {report.period_count}: {report.period_start.isoformat()} to "
            f"{report.period_end.isoformat()} ({report.period_state})",
        ),
        ("As of", f"{report.today.isoformat()} (generated {report.generated_at.isoformat()})"),
    ]
    summary = [
        ("Budget", format_money(report.budget)),
        ("Direct cost", format_money(report.direct)),
        (f"Indirect cost ({pct})", format_money(report.indirect)),
        ("Total consumed", f"{format_money(report.total)} ({report.percent_used}%)"),
        ("Remaining", format_money(report.remaining)),
        (
            "Drawn into accounts",
            f"{format_money(report.drawn)} direct ({format_money(report.drawn_cost)} with "
            "indirect)",
        ),
    ]
    parts = [
        f"# Grant compliance report: {report.number}, budget period {report.period}",
        "",
        _md_table(["Field", "Value"], header),
        "",
        "## Summary",
        "",
        _md_table(["Figure", "Amount"], summary, right=1),
        "",
    ]
    burn = report.burn_rate
    if burn is not None:
        expected = "-" if burn.expected_daily is None else format_money(burn.expected_daily)
        variance = "-" if burn.variance_percent is None else f"{burn.variance_percent}%"
        exhaustion = (
            "not projected"
            if burn.projected_exhaustion is None
            else burn.projected_exhaustion.isoformat()
        )
        at_end = (
            "-"
            if burn.projected_balance_at_end is None
            else format_money(burn.projected_balance_at_end)
        )
        parts += [
            "## Burn rate",
            "",
            _md_table(
                ["Figure", "Value"],
                [
                    ("Status", f"{burn.band} (score {burn.score} of 100)"),
                    ("Actual spend per day", format_money(burn.actual_daily)),
                    ("Expected spend per day", expected),
                    ("Variance", variance),
                    ("Projected exhaustion", exhaustion),
                    ("Projected balance at period end", at_end),
                ],
            ),
            "",
        ]
    for title, label, figures in (
        ("By month", "Month", report.by_month),
        ("By partition", "Partition", report.by_partition),
        ("By user", "User", report.by_user),
        ("By account", "Account", report.by_account),
    ):
        parts += [f"## {title}", ""]
        if not figures:
            parts += ["No spend.", ""]
            continue
        rows = [
            (
                f.key if f.key is not None else NONE_KEY,
                format_money(f.direct),
                format_money(f.indirect),
                format_money(f.total),
            )
            for f in figures
        ]
        rows.append(
            (
                "**Total**",
                format_money(report.direct),
                format_money(report.indirect),
                format_money(report.total),
            )
        )
        parts += [_md_table([label, "Direct", "Indirect", "Total"], rows, right=3), ""]
    parts.append(
        f"Indirect cost is {pct} of direct cost, rounded to the cent once on the total; the "
        "groups' indirect figures are apportioned so that each column adds up to the total."
    )
    return "\n".join(parts) + "\n"


def render_grant_report(report: GrantReport, fmt: str) -> str:
    """The report as ``csv``, ``json`` or ``markdown`` text."""
    check_format(fmt)
    if fmt == "csv":
        return _grant_csv(report)
    if fmt == "json":
        return dumps(GrantReportView.of(report), indent=2) + "\n"
    return _grant_markdown(report)


# ---------------------------------------------------------------- statement rendering


def _balances(b: Balances) -> dict[str, str]:
    return {
        "limit": money_str(b.limit),
        "used": money_str(b.used),
        "held": money_str(b.held),
        "available": money_str(b.available),
    }


def _statement_csv(statement: Statement) -> str:
    blank = dict.fromkeys(STATEMENT_CSV_COLUMNS, "")

    def edge(kind: str, when: date, b: Balances) -> dict[str, str]:
        return {**blank, "time": when.isoformat(), "kind": kind, **_balances(b)}

    rows = [edge("opening", statement.since, statement.opening)]
    for r in statement.rows:
        rows.append(
            {
                "time": r.time.isoformat(),
                "entry_id": str(r.entry_id),
                "kind": r.kind,
                "amount": money_str(r.amount),
                "limit_delta": money_str(r.limit_delta),
                "used_delta": money_str(r.used_delta),
                "held_delta": money_str(r.held_delta),
                **_balances(r.after),
                "partition": r.partition or "",
                "user": _safe(r.user),
                "job_id": r.job_id or "",
                "hold_id": r.hold_id or "",
                "counterparty": r.counterparty or "",
                "memo": _safe(r.memo),
                "actor": _safe(r.actor),
                "source": r.source,
            }
        )
    rows.append(edge("closing", statement.until, statement.closing))
    return _csv(STATEMENT_CSV_COLUMNS, rows)


def _statement_markdown(statement: Statement) -> str:
    def money_row(label: str, b: Balances) -> tuple[str, str, str, str, str]:
        return (
            label,
            format_money(b.limit),
            format_money(b.used),
            format_money(b.held),
            format_money(b.available),
        )

    parts = [
        f"# Account statement: {statement.account}",
        "",
        f"{statement.since.isoformat()} to {statement.until.isoformat()} (UTC days, inclusive); "
        f"generated {statement.generated_at.isoformat()}.",
        "",
    ]
    if statement.description:
        parts += [_md_cell(statement.description), ""]
    parts += [
        "## Balances",
        "",
        _md_table(
            ["", "Limit", "Used", "Held", "Available"],
            [
                money_row(f"Opening ({statement.since.isoformat()} 00:00 UTC)", statement.opening),
                money_row(f"Closing ({statement.until.isoformat()} 24:00 UTC)", statement.closing),
            ],
            right=4,
        ),
        "",
        "## Totals by kind",
        "",
    ]
    if statement.totals:
        parts += [
            _md_table(
                ["Kind", "Rows", "Amount", "Limit change", "Used change", "Held change"],
                [
                    (
                        t.kind,
                        t.count,
                        format_money(t.amount),
                        format_money(t.limit_delta, sign=True),
                        format_money(t.used_delta, sign=True),
                        format_money(t.held_delta, sign=True),
                    )
                    for t in statement.totals
                ],
                right=5,
            ),
            "",
        ]
    else:
        parts += ["No movements in this range.", ""]
    parts += ["## Movements", ""]
    if statement.rows:
        parts.append(
            _md_table(
                ["Time", "Kind", "Amount", "Available after", "Partition", "User", "Job", "Memo"],
                [
                    (
                        r.time.isoformat(),
                        r.kind,
                        format_money(r.amount),
                        format_money(r.after.available),
                        r.partition or "",
                        r.user or "",
                        r.job_id or "",
                        r.memo,
                    )
                    for r in statement.rows
                ],
                figures=(2, 3),
            )
        )
        parts.append("")
    else:
        parts += ["No movements in this range.", ""]
    return "\n".join(parts)


def render_statement(statement: Statement, fmt: str) -> str:
    """The statement as ``csv``, ``json`` or ``markdown`` text."""
    check_format(fmt)
    if fmt == "csv":
        return _statement_csv(statement)
    if fmt == "json":
        return dumps(StatementView.of(statement), indent=2) + "\n"
    return _statement_markdown(statement)
