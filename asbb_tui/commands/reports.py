"""``asbb report``: grant compliance reports and account statements (see docs/reports.md)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from asbb_tui.cli_base import fail, opened, stderr, working

app = typer.Typer(
    help=(
        "Reports for finance staff as CSV, JSON or Markdown: a grant's compliance report per "
        "budget period, and an account statement for any date range. The formats and every "
        "CSV column are described in docs/reports.md."
    ),
    no_args_is_help=True,
)


class FormatChoice(StrEnum):
    CSV = "csv"
    JSON = "json"
    MARKDOWN = "markdown"


FormatOpt = Annotated[
    FormatChoice | None,
    typer.Option(
        "--format",
        help="csv (for spreadsheets), json, or markdown (the default).",
        case_sensitive=False,
        show_default=False,
    ),
]
OutputOpt = Annotated[
    Path | None,
    typer.Option(
        "--output",
        "-o",
        metavar="FILE",
        help="Write the report to FILE instead of printing it.",
        dir_okay=False,
        show_default=False,
    ),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Same as --format json.")]
ForceFlag = Annotated[
    bool, typer.Option("--force", help="Overwrite --output's FILE if it exists (else refused).")
]


def _chosen(fmt: FormatChoice | None, as_json: bool) -> str:
    if as_json and fmt not in (None, FormatChoice.JSON):
        raise typer.BadParameter("--json and --format disagree", param_hint="--json")
    if as_json:
        return "json"
    return fmt.value if fmt is not None else "markdown"


def _emit(text: str, output: Path | None, *, force: bool) -> None:
    if output is None:
        typer.echo(text, nl=not text.endswith("\n"))
        return
    write_report(output, text.encode("utf-8"), force=force)  # bytes: CSV's CRLF kept as is


def write_report(path: Path, data: bytes, *, force: bool) -> None:
    """Write a report to ``path``: never over an existing file without ``force``."""
    from asbb_tui.output_files import create_file

    try:
        create_file(path, data, replace=force)
    except FileExistsError:
        fail(f"output: {path} already exists; give --force to overwrite it")
    except OSError as exc:
        fail(f"output: cannot write {path}: {exc.strerror or exc}")
    stderr().print(f"wrote {path} ({len(data)} bytes)")


@app.command("grant")
def grant(
    ctx: typer.Context,
    number: Annotated[str, typer.Argument(metavar="NUMBER", help="The grant's number.")],
    period: Annotated[
        int | None,
        typer.Option("--period", help="The budget period (default: the current one).", min=1),
    ] = None,
    today: Annotated[
        str | None,
        typer.Option(
            "--today",
            help="Report as of this day (YYYY-MM-DD; default: today, UTC).",
            show_default=False,
        ),
    ] = None,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    as_json: JsonFlag = False,
    force: ForceFlag = False,
) -> None:
    """The grant compliance report for one budget period: direct, indirect and total cost,
    remaining, by month / partition / user / account, drawn, and the burn-rate status."""
    from asbb_core.analytics.reports import grant_compliance_report, render_grant_report
    from asbb_core.values.periods import parse_date

    chosen = _chosen(fmt, as_json)
    day = parse_date(today, field="today") if today else None
    with opened(ctx) as bank, working(f"building the report of {number}"):
        report = grant_compliance_report(bank.db, bank.settings, number, period=period, today=day)
        text = render_grant_report(report, chosen)
    _emit(text, output, force=force)


@app.command("statement")
def statement(
    ctx: typer.Context,
    account: Annotated[str, typer.Argument(metavar="ACCOUNT", help="The account's name.")],
    since: Annotated[str, typer.Option("--since", help="First day (YYYY-MM-DD), included.")],
    until: Annotated[str, typer.Option("--until", help="Last day (YYYY-MM-DD), included.")],
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    as_json: JsonFlag = False,
    force: ForceFlag = False,
) -> None:
    """An account's statement for whole UTC days: opening balances, every movement with the
    balances after it, closing balances, and totals per kind of movement."""
    from asbb_core.analytics.reports import account_statement, render_statement

    chosen = _chosen(fmt, as_json)
    with opened(ctx) as bank, working(f"building the statement of {account}"):
        st = account_statement(bank.db, account, since, until)
        text = render_statement(st, chosen)
    _emit(text, output, force=force)
