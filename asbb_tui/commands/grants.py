"""``asbb grant``: grants, their budget periods, linked accounts and draws into them.

Output: a table by default; ``--json`` prints what the REST API answers for the same result
(the views of ``asbb_core.funding.views``: money as exact strings); ``--csv`` has the view's
fields as its header (nested lists such as a grant's periods as JSON text).
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from asbb_tui.cli_base import (
    Column,
    CsvOption,
    JsonOption,
    check_output,
    cli_context,
    columns,
    emit_record,
    emit_rows,
    fail,
    opened,
    print_table,
    stderr,
    stdout,
)
from asbb_tui.commands import reports

if TYPE_CHECKING:
    from datetime import date
    from pathlib import Path

    from asbb_core.funding.grants import GrantDetail
    from asbb_core.funding.views import GrantView, PeriodStatusView
    from asbb_core.values.wire import View

app = typer.Typer(
    help=(
        "Grants: multi-year awards split into budget periods, with an indirect cost rate, that "
        "fund budget accounts. A draw ('asbb grant fund') moves direct money from the current "
        "period into a linked account and commits direct x (1 + rate) of the period's budget."
    ),
    no_args_is_help=True,
)


class GrantStatusChoice(StrEnum):
    """asbb_core.store.models.GrantStatus's values (not imported here: it would slow every
    command).
    """

    ACTIVE = "active"
    CLOSED = "closed"


class ListFormat(StrEnum):
    """What 'grant list --format' prints."""

    TABLE = "table"
    IDS = "ids"
    JSON = "json"
    CSV = "csv"


NumberArg = Annotated[str, typer.Argument(metavar="NUMBER", help="The grant's number.")]
AccountArg = Annotated[str, typer.Argument(metavar="ACCOUNT", help="A budget account's name.")]
PeriodArg = Annotated[
    int, typer.Argument(metavar="PERIOD", help="The budget period's number (1, 2, ...).", min=1)
]


def _option(help_text: str, *names: str) -> Any:
    return typer.Option(*names, help=help_text, show_default=False)


TitleOpt = Annotated[str | None, _option("The award's title.", "--title")]
AgencyOpt = Annotated[str | None, _option("The funding agency, e.g. NSF.", "--agency")]
ProgramOpt = Annotated[str | None, _option("The agency's program.", "--program")]
PiOpt = Annotated[str | None, _option("The principal investigator.", "--pi")]
CoPiOpt = Annotated[
    list[str] | None,
    _option(
        'A co-PI; repeat the option or separate names by commas: --co-pi "Dr. A,Dr. B".',
        "--co-pi",
    ),
]
InstitutionOpt = Annotated[str | None, _option("The institution.", "--institution")]
DepartmentOpt = Annotated[str | None, _option("The department.", "--department")]
CfdaOpt = Annotated[
    str | None,
    _option(
        "The assistance listing number (CFDA), e.g. 47.070; --federal-id is the same.",
        "--cfda",
        "--federal-id",
    ),
]


def _co_pis(given: list[str] | None) -> list[str] | None:
    """Co-PIs from repeated options, each of which may hold several names separated by
    commas (the original tool's ``--co-pi="Dr. A,Dr. B"``); blanks around names dropped."""
    if given is None:
        return None
    return [name.strip() for value in given for name in value.split(",") if name.strip()]


def _money(value: Any) -> str:
    from asbb_core.values.money import format_money

    return format_money(value)


def _percent(value: Any) -> str:
    from asbb_core.funding.grants import rate_percent

    return rate_percent(value)


def _fields(view: type[View]) -> list[Column]:
    """A view's fields as CSV columns, in order."""
    return columns(*view.model_fields)


def _list_table(found: list[GrantView]) -> None:
    """Grants as a table whose number, award and drawn columns never wrap (emit_rows' tables
    cannot say so, and a wrapped grant number is hard to read or copy)."""
    if not found:
        stderr().print("no grants (record one: asbb grant create NUMBER --award ...)")
        return
    table = Table()
    table.add_column("number", no_wrap=True)
    table.add_column("agency")
    table.add_column("PI")
    table.add_column("award", justify="right", no_wrap=True)
    table.add_column("dates")
    table.add_column("rate", justify="right")
    table.add_column("accounts")
    table.add_column("drawn", justify="right", no_wrap=True)
    table.add_column("status")
    for g in found:
        table.add_row(
            g.number,
            g.agency,
            g.pi,
            _money(g.total_award),
            f"{g.start_date} to {g.end_date} ({len(g.periods)} periods)",
            _percent(g.indirect_rate),
            ", ".join(a.name for a in g.accounts),
            _money(g.drawn),
            g.status,
        )
    print_table(table)


def _show(
    detail: GrantDetail, *, as_json: bool, as_csv: bool = False, today: date | None = None
) -> None:
    """One grant: JSON, a one-row CSV, or its facts and a table of its budget periods
    (``today`` says which period is current)."""
    from asbb_core.funding.views import GrantView

    g = GrantView.of(detail, today=today)
    if as_json or as_csv:
        emit_record(g, _fields(GrantView), as_json=as_json, as_csv=as_csv)
        return
    console = stdout()
    facts = Table(show_header=False, box=None, title=f"grant {g.number}", title_justify="left")
    facts.add_column(style="bold")
    facts.add_column()
    for label, value in (
        ("title", g.title),
        ("agency / program", " / ".join(x for x in (g.agency, g.program) if x)),
        ("PI", g.pi),
        ("co-PIs", ", ".join(g.co_pis)),
        ("institution", " / ".join(x for x in (g.institution, g.department) if x)),
        ("CFDA", g.cfda),
        ("award", f"{_money(g.total_award)} from {g.start_date} to {g.end_date}"),
        ("indirect rate", _percent(g.indirect_rate)),
        ("status", g.status),
        ("accounts", ", ".join(a.name for a in g.accounts) or "none linked"),
    ):
        facts.add_row(label, value or "-")
    console.print(facts)
    periods = Table("period", "start", "end", "budget", "drawn", "drawn + indirect")
    for p in g.periods:
        periods.add_row(
            str(p.number),
            p.start_date.isoformat(),
            p.end_date.isoformat(),
            _money(p.budget),
            _money(p.drawn),
            _money(p.drawn_cost),
        )
    console.print(periods)


# ---------------------------------------------------------------- commands


@app.command("create")
def create(
    ctx: typer.Context,
    award: Annotated[
        str,
        typer.Option(
            "--award",
            "--amount",
            help="Total award in dollars (direct + indirect), e.g. 300000 or 299999.50.",
        ),
    ],
    start: Annotated[str, typer.Option("--start", help="First day, YYYY-MM-DD, e.g. 2025-09-01.")],
    end: Annotated[
        str, typer.Option("--end", help="Last day, YYYY-MM-DD, included, e.g. 2028-08-31.")
    ],
    indirect_rate: Annotated[
        str,
        typer.Option(
            "--indirect-rate", "--indirect", help="A fraction from 0 to 1.5: 0.30 for 30%."
        ),
    ],
    number: Annotated[
        str | None,
        typer.Argument(
            metavar="NUMBER",
            help="The grant's number (or give it as --number).",
            show_default=False,
        ),
    ] = None,
    number_option: Annotated[
        str | None,
        _option(
            "The grant's number, the same as NUMBER (the original tool's spelling).", "--number"
        ),
    ] = None,
    period_months: Annotated[
        int,
        typer.Option(
            "--period-months",
            "--periods",
            help="Length of each budget period, in months (--periods is the same).",
            min=1,
        ),
    ] = 12,
    title: TitleOpt = None,
    agency: AgencyOpt = None,
    program: ProgramOpt = None,
    pi: PiOpt = None,
    co_pis: CoPiOpt = None,
    institution: InstitutionOpt = None,
    department: DepartmentOpt = None,
    cfda: CfdaOpt = None,
    project: Annotated[
        str | None,
        _option(
            "The original tool's internal project code: refused (asbb keeps none).", "--project"
        ),
    ] = None,
    cost_center: Annotated[
        str | None,
        _option("The original tool's cost center: refused (asbb keeps none).", "--cost-center"),
    ] = None,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Record a grant and generate its budget periods (budgets split evenly to the cent,
    the remainder on the last, adding up to the award exactly).

    Example: `asbb grant create NSF-2312345 --award 300000 --start 2025-01-01 --end
    2027-12-31 --indirect-rate 0.30 --agency NSF --pi "Ada Lovelace"`

    The original tool's spelling works too: `--number=NSF-2312345 --amount=300000
    --periods=12 --indirect=0.30 --federal-id=47.070` (--periods is the period's length in
    months, as it was there)."""
    check_output(as_json, as_csv)
    # The REST API refuses the same two fields: a value asbb would silently drop is lost data.
    for flag, given in (("--project", project), ("--cost-center", cost_center)):
        if given and given.strip():
            fail(f"{flag}: asbb does not keep this; put it in the grant's --title or leave it out")
    if number is None and number_option is None:
        raise typer.BadParameter(
            "give the grant's number: NUMBER or --number NUMBER", param_hint="NUMBER"
        )
    if number is not None and number_option is not None and number != number_option:
        raise typer.BadParameter(
            f"NUMBER {number!r} and --number {number_option!r} differ; give it once",
            param_hint="NUMBER/--number",
        )
    with opened(ctx) as bank:
        detail = bank.grants.create_grant(
            number if number is not None else str(number_option),
            total_award=award,
            start_date=start,
            end_date=end,
            indirect_rate=indirect_rate,
            ctx=cli_context(),
            period_months=period_months,
            title=title or "",
            agency=agency or "",
            program=program or "",
            pi=pi or "",
            co_pis=_co_pis(co_pis) or [],
            institution=institution or "",
            department=department or "",
            cfda=cfda or "",
        )
    _show(detail, as_json=as_json, as_csv=as_csv, today=bank.grants.today())


@app.command("list")
def list_grants(
    ctx: typer.Context,
    status: Annotated[
        GrantStatusChoice | None,
        typer.Option("--status", help="Only grants in this status.", show_default=False),
    ] = None,
    active: Annotated[
        bool,
        typer.Option(
            "--active",
            help="Only the active grants, and (without --json or --csv) just their numbers, "
            "one a line, for scripts: asbb grant list --active | xargs -I {} asbb burn-rate {}",
        ),
    ] = False,
    output_format: Annotated[
        ListFormat | None,
        typer.Option(
            "--format",
            help="table, ids (just the numbers, one a line: the original tool's --format=ids), "
            "json or csv.",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """List grants: number, agency, PI, award, dates, rate, periods, accounts, drawn.

    JSON: {"items": [...]}, as GET /api/v1/grants answers; CSV: one row per grant."""
    from asbb_core.funding.views import GrantList, GrantView

    if output_format is not None:
        if as_json or as_csv:
            raise typer.BadParameter(
                "give --format or --json / --csv, not both", param_hint="--format"
            )
        as_json = output_format is ListFormat.JSON
        as_csv = output_format is ListFormat.CSV
    check_output(as_json, as_csv)
    if active and status not in (None, GrantStatusChoice.ACTIVE):
        raise typer.BadParameter(
            f"--active and --status {status} disagree; give one", param_hint="--active/--status"
        )
    wanted = GrantStatusChoice.ACTIVE if active else status
    with opened(ctx) as bank:
        found = GrantList.of(
            bank.grants.list_grants(status=wanted.value if wanted else None),
            today=bank.grants.today(),
        )
    if as_json or as_csv:
        emit_rows(found.items, _fields(GrantView), as_json=as_json, as_csv=as_csv, json_data=found)
        return
    numbers_only = active if output_format is None else output_format is ListFormat.IDS
    if numbers_only:
        # Plain lines (no table, nothing on an empty list) so a pipe gets only numbers.
        for g in found.items:
            typer.echo(g.number)
        return
    _list_table(found.items)


@app.command("show")
def show(
    ctx: typer.Context, number: NumberArg, as_json: JsonOption = False, as_csv: CsvOption = False
) -> None:
    """One grant: its details, budget periods (with what was drawn) and linked accounts."""
    check_output(as_json, as_csv)
    with opened(ctx) as bank:
        detail = bank.grants.get_grant(number)
    _show(detail, as_json=as_json, as_csv=as_csv, today=bank.grants.today())


@app.command("update")
def update(
    ctx: typer.Context,
    number: NumberArg,
    title: TitleOpt = None,
    agency: AgencyOpt = None,
    program: ProgramOpt = None,
    pi: PiOpt = None,
    co_pis: CoPiOpt = None,
    clear_co_pis: Annotated[
        bool, typer.Option("--clear-co-pis", help="Remove every co-PI.")
    ] = False,
    institution: InstitutionOpt = None,
    department: DepartmentOpt = None,
    cfda: CfdaOpt = None,
    status: Annotated[
        GrantStatusChoice | None,
        typer.Option("--status", help="active, or closed (funds nothing).", show_default=False),
    ] = None,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Change a grant's descriptive fields or status; options left out stay as they are.
    --co-pi replaces the whole list."""
    check_output(as_json, as_csv)
    with opened(ctx) as bank:
        detail = bank.grants.update_grant(
            number,
            ctx=cli_context(),
            title=title,
            agency=agency,
            program=program,
            pi=pi,
            co_pis=[] if clear_co_pis else _co_pis(co_pis),
            institution=institution,
            department=department,
            cfda=cfda,
            status=status.value if status else None,
        )
    _show(detail, as_json=as_json, as_csv=as_csv, today=bank.grants.today())


@app.command("period")
def period(
    ctx: typer.Context,
    number: NumberArg,
    period_number: PeriodArg,
    start: Annotated[
        str | None, _option("New first day, YYYY-MM-DD, e.g. 2026-01-01.", "--start")
    ] = None,
    end: Annotated[
        str | None, _option("New last day, YYYY-MM-DD, included, e.g. 2026-12-31.", "--end")
    ] = None,
    budget: Annotated[
        str | None,
        _option("New budget in dollars (total cost, direct + indirect), e.g. 90000.", "--budget"),
    ] = None,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Edit one budget period. It stays inside the grant's dates, in order without
    overlapping the others; the budgets add up to no more than the award; a budget never
    drops below what was already drawn from the period (with indirect)."""
    check_output(as_json, as_csv)
    with opened(ctx) as bank:
        detail = bank.grants.set_period(
            number, period_number, ctx=cli_context(), start_date=start, end_date=end, budget=budget
        )
    _show(detail, as_json=as_json, as_csv=as_csv, today=bank.grants.today())


@app.command("regenerate")
def regenerate(
    ctx: typer.Context,
    number: NumberArg,
    period_months: Annotated[
        int,
        typer.Option(
            "--period-months", help="Length of each new budget period, in months, e.g. 6.", min=1
        ),
    ],
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Replace the grant's budget periods with fresh ones (budgets split evenly again).
    Refused once money was drawn from the grant."""
    check_output(as_json, as_csv)
    with opened(ctx) as bank:
        detail = bank.grants.regenerate_periods(number, period_months, ctx=cli_context())
    _show(detail, as_json=as_json, as_csv=as_csv, today=bank.grants.today())


@app.command("link")
def link(
    ctx: typer.Context,
    number: NumberArg,
    account: AccountArg,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Link an account to the grant: it can then be funded from the grant, and its spend
    counts towards the grant from today (UTC). An account draws from one grant at most."""
    from asbb_core.funding.views import LinkedAccountView

    check_output(as_json, as_csv)
    with opened(ctx) as bank:
        done = bank.grants.link_account(number, account, ctx=cli_context())
    if as_json or as_csv:
        view = LinkedAccountView.of(done)
        emit_record(view, _fields(LinkedAccountView), as_json=as_json, as_csv=as_csv)
        return
    stdout().print(
        f"account {done.name} draws from grant {number} (linked {done.linked_at:%Y-%m-%d})"
    )


@app.command("unlink")
def unlink(
    ctx: typer.Context,
    number: NumberArg,
    account: AccountArg,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Unlink an account from the grant. Refused once it drew money from the grant."""
    check_output(as_json, as_csv)
    with opened(ctx) as bank:
        bank.grants.unlink_account(number, account, ctx=cli_context())
    if as_json or as_csv:
        record = {"grant": number, "account": account, "unlinked": True}
        emit_record(record, columns(*record), as_json=as_json, as_csv=as_csv)
        return
    stdout().print(f"account {account} no longer draws from grant {number}")


@app.command("fund")
def fund(
    ctx: typer.Context,
    number: NumberArg,
    account: AccountArg,
    amount: Annotated[
        str,
        typer.Argument(
            metavar="AMOUNT",
            help="Direct money in dollars, more than 0 with at most two decimals, e.g. 1000.",
        ),
    ],
    memo: Annotated[str, typer.Option("--memo", help="A note for the journal.")] = "",
    idempotency_key: Annotated[
        str | None,
        _option("Run at most once: a retry with the same key moves nothing.", "--idempotency-key"),
    ] = None,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Move direct money from the grant's current budget period into a linked account's
    limit (journaled as an allocation). It commits AMOUNT x (1 + indirect rate) of the
    period's budget and is refused when that does not fit.

    Example: `asbb grant fund NSF-2312345 lab 1500 --memo "compute, spring"`"""
    from asbb_core.funding.views import DrawView

    check_output(as_json, as_csv)
    with opened(ctx) as bank:
        result = bank.grants.fund_account(
            number, account, amount, ctx=cli_context(idempotency_key), memo=memo
        )
    if as_json or as_csv:
        emit_record(DrawView.of(result), _fields(DrawView), as_json=as_json, as_csv=as_csv)
        return
    again = " (replayed: nothing moved)" if result.replayed else ""
    stdout().print(
        f"drew {_money(result.amount)} (+{_money(result.indirect)} indirect = "
        f"{_money(result.cost)}) from period {result.period} of grant {result.grant} into "
        f"{result.account}{again}; account available {_money(result.available)}; "
        f"period can still fund {_money(result.drawable)}"
    )


@app.command("status")
def status(
    ctx: typer.Context,
    number: NumberArg,
    period_number: Annotated[
        int | None,
        typer.Option("--period", help="The budget period (default: the current one).", min=1),
    ] = None,
    today: Annotated[
        str | None,
        _option("Report as of this day, YYYY-MM-DD (default: today, UTC).", "--today"),
    ] = None,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Where a budget period stands: budget, drawn, direct, indirect, consumed (direct +
    indirect), remaining and percent used."""
    from asbb_core.funding.views import PeriodStatusView
    from asbb_core.values.periods import parse_date

    check_output(as_json, as_csv)
    day = parse_date(today, field="today") if today else None
    with opened(ctx) as bank:
        st = PeriodStatusView.of(bank.grants.period_status(number, period_number, day))
    if as_json or as_csv:
        emit_record(st, _fields(PeriodStatusView), as_json=as_json, as_csv=as_csv)
        return
    table = Table(
        show_header=False,
        box=None,
        title=(
            f"grant {st.grant}, period {st.period}: {st.start_date} to {st.end_date} "
            f"({st.state}, {st.days_left} day(s) left)"
        ),
        title_justify="left",
    )
    table.add_column(style="bold")
    table.add_column(justify="right")
    for label, value in (
        ("budget", _money(st.budget)),
        ("direct", _money(st.direct)),
        (f"indirect ({_percent(st.indirect_rate)})", _money(st.indirect)),
        ("consumed", f"{_money(st.consumed)} ({st.percent_used}%)"),
        ("remaining", _money(st.remaining)),
        ("drawn", f"{_money(st.drawn)} ({_money(st.drawn_cost)} with indirect)"),
        ("can still draw", _money(st.drawable)),
    ):
        table.add_row(label, value)
    print_table(table)


def _periods_table(number: str, day: date, found: list[PeriodStatusView]) -> None:
    """The periods as a light table whose figures never wrap (emit_rows' tables cannot say
    so); the state shares the dates' cell, which folds, so that it fits in 100 columns."""
    from rich import box

    table = Table(
        title=f"grant {number}: budget periods on {day}",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        collapse_padding=True,
    )
    table.add_column("period", no_wrap=True)
    table.add_column("dates", min_width=10)
    for header in ("budget", "drawn", "direct", "indirect", "consumed", "remaining", "used"):
        table.add_column(header, justify="right", no_wrap=True)
    for st in found:
        table.add_row(
            str(st.period),
            f"{st.start_date} to {st.end_date} ({st.state})",
            *(
                _money(v)
                for v in (st.budget, st.drawn, st.direct, st.indirect, st.consumed, st.remaining)
            ),
            f"{st.percent_used}%",
        )
    print_table(table)


@app.command("periods")
def periods(
    ctx: typer.Context,
    number: NumberArg,
    today: Annotated[
        str | None,
        _option("Report as of this day, YYYY-MM-DD (default: today, UTC).", "--today"),
    ] = None,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Every budget period of a grant and where it stands, one row each: budget, drawn,
    direct, indirect, consumed (direct + indirect), remaining, percent used, and whether the
    period is upcoming, current or ended. The figures of `asbb grant status`, per period;
    --json and --csv carry its fields.

    Example: `asbb grant periods NSF-2312345 --csv > periods.csv`"""
    from asbb_core.funding.views import PeriodStatusView
    from asbb_core.values.periods import parse_date

    check_output(as_json, as_csv)
    day = parse_date(today, field="today") if today else None
    with opened(ctx) as bank:
        service = bank.grants
        day = day or service.today()
        found = [
            PeriodStatusView.of(service.period_status(number, p.number, day))
            for p in service.get_grant(number).periods
        ]
    if as_json or as_csv:
        emit_rows(found, _fields(PeriodStatusView), as_json=as_json, as_csv=as_csv)
        return
    _periods_table(number, day, found)


# ---------------------------------------------------------------- grant report


class ReportTypeChoice(StrEnum):
    """The original tool's report types (``--type``): financial and annual are the
    agency-required financial report of a budget period, compliance asbb's compliance report;
    technical (research progress) is not asbb's to write."""

    FINANCIAL = "financial"
    ANNUAL = "annual"
    COMPLIANCE = "compliance"
    TECHNICAL = "technical"


class AgencyFormatChoice(StrEnum):
    CSV = "csv"
    JSON = "json"
    PDF = "pdf"


class RateTypeChoice(StrEnum):
    """asbb_core.funding.agency_report.RATE_TYPES (not imported here: it would slow every
    command)."""

    PROVISIONAL = "provisional"
    PREDETERMINED = "predetermined"
    FINAL = "final"
    FIXED = "fixed"


AGENCY = "agency-required"
COMPLIANCE_FORMATS = ("csv", "json", "markdown")
AGENCY_SUFFIXES = {".csv": "csv", ".json": "json", ".pdf": "pdf"}


def stdout_is_terminal() -> bool:
    import sys

    return sys.stdout.isatty()


def _agency_format(
    key: str | None,
    as_: AgencyFormatChoice | None,
    output: Path | None,
    as_json: bool,
) -> str:
    """The agency report's file format: named by --as, --json, --format csv|json|pdf (with
    --type financial) or the --output file's extension, which must agree; JSON by default."""
    named: dict[str, str] = {}
    if key in ("csv", "json", "pdf"):
        named["--format"] = key
    if key == "markdown":
        raise typer.BadParameter(
            "the agency-required report comes as csv, json or pdf (not markdown)",
            param_hint="--format",
        )
    if as_ is not None:
        named["--as"] = as_.value
    if as_json:
        named["--json"] = "json"
    if output is not None:
        suffix = AGENCY_SUFFIXES.get(output.suffix.lower())
        if suffix is not None:
            named["--output"] = suffix
        elif not named:
            raise typer.BadParameter(
                f"cannot tell the format from {output.name!r} (.csv, .json or .pdf); give "
                "--as csv|json|pdf",
                param_hint="--output",
            )
    chosen = set(named.values())
    if len(chosen) > 1:
        said = ", ".join(f"{option} {value}" for option, value in named.items())
        raise typer.BadParameter(f"{said} disagree; name one format", param_hint="--as")
    return chosen.pop() if chosen else "json"


def _agency_report(
    ctx: typer.Context,
    number: str,
    period: int | None,
    today: str | None,
    fmt: str,
    output: Path | None,
    *,
    force: bool,
    rate_type: RateTypeChoice | None,
    start: str | None,
) -> None:
    """The agency-required report: read (nothing is written to the database), rendered,
    then printed or written to its file. ``start``: the original tool's window start, the
    first day of the period reported."""
    from asbb_core.funding.agency_report import agency_report, render_agency_report
    from asbb_core.values.periods import parse_date
    from asbb_tui.cli_base import working

    if output is None and fmt == "pdf" and stdout_is_terminal():
        fail(
            f"output: a PDF is not printed on a terminal; give --output FILE.pdf (e.g. "
            f"asbb grant report {number} --format {AGENCY} --output report.pdf) or redirect it"
        )
    day = parse_date(today, field="today") if today else None
    with opened(ctx) as bank, working(f"building the agency report of {number}"):
        found = agency_report(
            bank.db,
            number,
            period=period,
            today=day,
            start_date=start,
            rate_type=rate_type.value if rate_type else None,
        )
        data = render_agency_report(found, fmt)
    if output is None:
        typer.get_binary_stream("stdout").write(data)
        return
    reports.write_report(output, data, force=force)


@app.command(
    "report",
    help=f"{reports.grant.__doc__}\n\nThe same command as `asbb report grant`; "
    "docs/reports.md describes the formats.\n\n"
    f"--format {AGENCY} (or the original tool's --type financial, or --format pdf) gives "
    "instead the agency-required financial report of the period (the SF-425 figures: "
    "federal funds authorised, expenditures, indirect expense, unliquidated obligations, "
    "unobligated balance) as csv, json or pdf, chosen by --as or --output's extension: "
    f"`asbb grant report NSF-2312345 --format {AGENCY} --period 1 --output p1.pdf`. "
    "It reads the database and writes only the file; an existing file is kept unless "
    "--force.",
)
def report(
    ctx: typer.Context,
    number: NumberArg,
    period: Annotated[
        int | None,
        typer.Option("--period", help="The budget period (default: the current one).", min=1),
    ] = None,
    today: Annotated[
        str | None,
        _option("Report as of this day (YYYY-MM-DD; default: today, UTC).", "--today"),
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            metavar="FORMAT",
            help="csv (for spreadsheets), json, or markdown (the default); "
            f"{AGENCY}: the agency financial report (pdf: the same as PDF).",
            show_default=False,
        ),
    ] = None,
    output: reports.OutputOpt = None,
    as_json: reports.JsonFlag = False,
    report_type: Annotated[
        ReportTypeChoice | None,
        typer.Option(
            "--type",
            help="The original tool's report type: financial or annual (the agency-required "
            "report), compliance (the default).",
            case_sensitive=False,
            show_default=False,
        ),
    ] = None,
    as_: Annotated[
        AgencyFormatChoice | None,
        typer.Option(
            "--as",
            help=f"The {AGENCY} report's format (default: from --output's extension, else json).",
            case_sensitive=False,
            show_default=False,
        ),
    ] = None,
    force: reports.ForceFlag = False,
    start: Annotated[
        str | None,
        typer.Option(
            "--start",
            metavar="DATE",
            help=f"The original tool's report window ({AGENCY} report): its first day, which "
            "must be the first day of the budget period reported.",
            show_default=False,
        ),
    ] = None,
    end: Annotated[
        str | None,
        typer.Option(
            "--end",
            metavar="DATE",
            help="The original tool's report window: its last day, the day the report is as "
            "of (the same as --today) and whose budget period it reports by default.",
            show_default=False,
        ),
    ] = None,
    rate_type: Annotated[
        RateTypeChoice | None,
        typer.Option(
            "--rate-type",
            help=f"The indirect cost rate's type to print on the {AGENCY} report (asbb does "
            "not record it).",
            case_sensitive=False,
            show_default=False,
        ),
    ] = None,
) -> None:
    # --format is plain text here (not a choice) so that a format asbb does not make gets
    # an error that lists what it does make.
    key = fmt.strip().lower() if fmt is not None else None
    if report_type is ReportTypeChoice.TECHNICAL:
        fail(
            "type: asbb keeps the money, not the research: it has no technical report; "
            f"--type financial is the agency-required financial report, e.g. asbb grant "
            f"report {number} --type financial --as pdf --output report.pdf"
        )
    if end is not None and today is not None and end.strip() != today.strip():
        raise typer.BadParameter(
            f"--end {end} and --today {today} disagree: give one of them", param_hint="--end"
        )
    today = today if today is not None else end
    agency_type = report_type in (ReportTypeChoice.FINANCIAL, ReportTypeChoice.ANNUAL)
    agency = agency_type or key in (AGENCY, "pdf")
    if report_type is ReportTypeChoice.COMPLIANCE and key in (AGENCY, "pdf"):
        raise typer.BadParameter(
            f"--type compliance and --format {key} disagree: the compliance report comes as "
            "csv, json or markdown",
            param_hint="--type",
        )
    if key is not None and key not in (*COMPLIANCE_FORMATS, AGENCY, "pdf"):
        raise typer.BadParameter(
            f"{fmt!r} is not csv, json, markdown, {AGENCY} or pdf", param_hint="--format"
        )
    if agency:
        chosen = _agency_format(None if key == AGENCY else key, as_, output, as_json)
        _agency_report(
            ctx,
            number,
            period,
            today,
            chosen,
            output,
            force=force,
            rate_type=rate_type,
            start=start,
        )
        return
    for given, option in ((as_, "--as"), (rate_type, "--rate-type"), (start, "--start")):
        if given is not None:
            raise typer.BadParameter(
                f"{option} is for the agency-required report (--format {AGENCY})",
                param_hint=option,
            )
    reports.grant(
        ctx,
        number,
        period,
        today,
        reports.FormatChoice(key) if key is not None else None,
        output,
        as_json,
        force,
    )
