"""Plumbing shared by every ``asbb`` command: output, errors, settings and the database.

Exit status, for every command: 0 success; 1 an error (one line ``error: ...`` on stderr);
2 a usage error; 3 over budget (``quick-check``: the job would be refused); 4 ``ledger verify``
found discrepancies.

Output: every list and show command prints a rich table by default, ``--json`` for scripts
(the API's wire format: money as exact JSON numbers) or ``--csv`` (a header row, then one row
per record); ``emit_rows`` and ``emit_record`` do all three from the same rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeAlias

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from typer.core import TyperGroup

from asbb_core.values.errors import AsbbError, DatabaseError

# SQLAlchemy, pydantic's settings and the rest of the core load when a command needs them,
# not at start: `asbb --help` and a completion Tab load typer and rich alone.
if TYPE_CHECKING:
    from datetime import date
    from decimal import Decimal

    from rich.text import Text

    from asbb_core.bank import Bank
    from asbb_core.integrations.cost_reports import SlurmLookup
    from asbb_core.ledger import Ledger
    from asbb_core.settings import Settings
    from asbb_core.store.database import Database
    from asbb_core.values.context import Clock, Context
    from asbb_core.values.wire import View

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_OVER_BUDGET = 3
EXIT_DISCREPANCIES = 4


def stdout() -> Console:
    return Console(highlight=False)


def stderr() -> Console:
    # Messages are single lines that scripts and people grep: never wrapped into several.
    return Console(stderr=True, highlight=False, soft_wrap=True)


@contextmanager
def working(message: str) -> Iterator[None]:
    """A spinner on stderr while one long call runs (only on a terminal: logs stay clean)."""
    err = stderr()
    if not err.is_terminal:
        yield
        return
    with err.status(message):
        yield


def progress_bar(label: str, *, disable: bool = False, transient: bool = True) -> Progress:
    """The progress bar of a long command, on stderr so ``--json`` output stays clean."""
    return Progress(
        TextColumn(f"[bold]{label}[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=stderr(),
        disable=disable,
        transient=transient,
    )


def fail(message: str) -> NoReturn:
    """Report one error line on stderr and exit 1."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(EXIT_ERROR)


def read_token_file(path: Path) -> str | None:
    """A daemon token kept in a file (surrounding blanks dropped; ``None`` if empty)."""
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except OSError as exc:
        fail(f"token file {path}: {exc.strerror or exc}")


def first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# The root command's options that every command takes, wherever they are written:
# `asbb account list --database URL` is `asbb --database URL account list`.
_GLOBAL_WITH_VALUE = ("--database",)
_GLOBAL_FLAGS = ("--noheader", "--parsable", "-P")


def globals_first(args: list[str]) -> list[str]:
    """``args`` with the global options (and their values) moved before the command, in
    their order; nothing after a ``--`` is touched."""
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest.extend(args[i:])
            break
        if arg in _GLOBAL_WITH_VALUE and i + 1 < len(args):
            front.extend(args[i : i + 2])
            i += 2
            continue
        if arg in _GLOBAL_FLAGS or arg.startswith(tuple(f"{o}=" for o in _GLOBAL_WITH_VALUE)):
            front.append(arg)
        else:
            rest.append(arg)
        i += 1
    return front + rest


class AsbbGroup(TyperGroup):
    """Turns the library's errors into one line on stderr and exit status 1, and takes the
    global options after the command as well as before it.

    Sub-commands run inside this group's ``invoke``, so one handler covers them all.
    """

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:  # type: ignore[override]
        if ctx.parent is None:  # the root: the whole command line
            args = globals_first(args)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except AsbbError as exc:
            fail(exc.message)
        except Exception as exc:
            known = _database_failure(exc)
            if known is None:
                raise
            fail(known)


@dataclass
class CliState:
    database_url: str | None = None


@dataclass(frozen=True)
class OutputOptions:
    """The global options for lists, set by the root command on every run."""

    noheader: bool = False
    """No header line over plain output (sacct's --noheader)."""
    parsable: bool = False
    """Plain output as fields split by '|' (sacct's -P): for cut and awk."""


_output = OutputOptions()


def use_output(options: OutputOptions) -> None:
    global _output
    _output = options


def cli_state(ctx: typer.Context) -> CliState:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, CliState) else CliState()


def _database_failure(exc: Exception) -> str | None:
    """The one-line error for a failure of the database layer, or None for anything else.
    Only an exception raised by SQLAlchemy or Alembic can be one, and then those modules are
    loaded already: checking costs no import."""
    if not type(exc).__module__.startswith(("sqlalchemy", "alembic")):
        return None
    from alembic.util import CommandError
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    if isinstance(exc, CommandError):  # e.g. a database migrated by a newer asbb
        return f"migrations: {first_line(exc)}"
    if isinstance(exc, ArgumentError):
        return f"database URL: {first_line(exc)}"
    if isinstance(exc, SQLAlchemyError):
        return f"database: {first_line(exc)}"
    return None


def settings_of(ctx: typer.Context, url: str | None = None) -> Settings:
    """Effective settings; ``--database`` (the command's, else the global one) wins."""
    from asbb_core.settings import load_settings

    chosen = url or cli_state(ctx).database_url
    if chosen:
        return load_settings(database={"url": chosen})
    return load_settings()


def display_url(url: str) -> str:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def open_database(settings: Settings) -> Database:
    """The configured database, refused unless its schema is at this code's head."""
    from asbb_core.store.database import Database
    from asbb_core.store.migrate import status

    url = settings.database.url
    st = status(url)
    if not st.up_to_date:
        where = f"is at schema {st.current}" if st.current else "has no schema yet"
        raise DatabaseError(
            f"database {display_url(url)} {where} (this asbb needs {st.head}); "
            "run: asbb database migrate"
        )
    return Database(url, pool_size=settings.database.pool_size, echo=settings.database.echo)


def print_json(data: Any) -> None:
    """``data`` in the wire format (asbb_core.values.wire): money as exact JSON numbers, times
    as RFC 3339, as the API sends them."""
    from asbb_core.values.wire import dumps

    typer.echo(dumps(data, indent=2))


DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database",
        metavar="URL",
        help="Database URL (sqlite:///path, postgresql://, mysql://...); overrides database.url.",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
CsvOption = Annotated[bool, typer.Option("--csv", help="Print CSV instead of a table.")]


@dataclass(frozen=True)
class Column:
    """One column of a command's output: ``key`` in each row (and the CSV header), the
    table's ``header``, and whether it holds money (right-aligned, formatted in the table)."""

    key: str
    header: str = ""
    money: bool = False
    fold: bool = False
    """Fold a long value onto more lines instead of cutting it short (names, ids)."""

    @property
    def title(self) -> str:
        return self.header or self.key.replace("_", " ")


def columns(*keys: str) -> list[Column]:
    """Plain columns named by their keys (what the JSON calls them)."""
    return [Column(key) for key in keys]


def _cell(value: Any, money: bool) -> str:
    from decimal import Decimal

    from asbb_core.values.money import format_money

    if value is None:
        return "-"
    if money and isinstance(value, Decimal):
        return format_money(value)
    plain = jsonable(value)
    if isinstance(plain, list):
        return ", ".join(str(v) for v in plain)
    if isinstance(plain, dict):
        return json.dumps(plain, sort_keys=True) if plain else "-"
    return str(plain)


def _csv_value(value: Any) -> str:
    plain = jsonable(value)
    if plain is None:
        return ""
    if isinstance(plain, list | dict):
        return json.dumps(plain, sort_keys=True)
    return str(plain)


def check_output(as_json: bool, as_csv: bool) -> None:
    if as_json and as_csv:
        raise typer.BadParameter("choose one of --json and --csv", param_hint="--json/--csv")


Row: TypeAlias = "dict[str, Any] | View"
"""A row of output: a view (its JSON form for --json and --csv, its values for the table) or
a plain dict."""


def _json_row(row: Row) -> dict[str, Any]:
    from asbb_core.values.wire import View

    return row.record() if isinstance(row, View) else row


def _table_row(row: Row, *, minutes: bool = False) -> dict[str, Any]:
    from asbb_core.values.wire import View

    values = row.values() if isinstance(row, View) else row
    return table_times(values) if minutes else values


def table_times(row: dict[str, Any]) -> dict[str, Any]:
    """A row for a list's table: times to the minute, so the columns fit (JSON, CSV and the
    show commands keep them exact)."""
    return {
        k: v.strftime("%Y-%m-%d %H:%M") if isinstance(v, datetime) else v for k, v in row.items()
    }


def emit_rows(
    rows: Sequence[Row],
    columns: list[Column],
    *,
    as_json: bool = False,
    as_csv: bool = False,
    title: str | None = None,
    empty: str = "nothing to show",
    json_data: Any = None,
    minutes: bool = False,
) -> None:
    """Print ``rows`` as a table, as JSON (``json_data`` if given, else the rows) or as CSV
    (the ``columns``' keys as the header). ``minutes``: the table shows times to the minute."""
    import csv
    import sys

    from rich.table import Table

    from asbb_core.values.wire import to_json

    check_output(as_json, as_csv)
    if as_json:
        data = [_json_row(r) for r in rows] if json_data is None else to_json(json_data)
        print_json(data)
        return
    if as_csv:
        # A spreadsheet's forms: days as 2025-09-01, amounts as 12.50.
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow([c.key for c in columns])
        for row in rows:
            values = _table_row(row)
            writer.writerow([_csv_value(values.get(c.key)) for c in columns])
        return
    if not rows:
        stderr().print(empty)
        return
    records = [_table_row(row, minutes=minutes) for row in rows]
    numeric = [c.money or _all_numbers(r.get(c.key) for r in records) for c in columns]
    if _plain_output():
        _plain(records, columns, numeric, _output, title=title)
        return
    table = Table(title=title, title_justify="left")
    for c, right in zip(columns, numeric, strict=True):
        table.add_column(
            c.title,
            justify="right" if right else "left",
            no_wrap=right,
            overflow="fold" if c.fold else "ellipsis",
        )
    for values in records:
        table.add_row(*(_styled(_cell(values.get(c.key), c.money)) for c in columns))
    stdout().print(table)


def print_table(table: Any, console: Console | None = None) -> None:
    """Print a rich table a command built: boxed on a terminal; in a pipe or a file (or with
    --parsable / --noheader) as plain lines like ``emit_rows``'s, every value whole."""
    from rich.text import Text

    if not _plain_output():
        (console or stdout()).print(table)
        return

    def plain(cell: Any) -> str:
        if isinstance(cell, Text):
            return cell.plain
        return _styled(str(cell)).plain if isinstance(cell, str) else str(cell)

    titles = [plain(c.header) for c in table.columns]
    rows = [[plain(cell) for cell in c.cells] for c in table.columns]
    lines = [list(row) for row in zip(*rows, strict=True)] if rows else []
    if _output.parsable:
        if not _output.noheader:
            typer.echo("|".join(titles))
        for line in lines:
            typer.echo("|".join(" ".join(v.split()) for v in line))
        return
    right = [c.justify == "right" for c in table.columns]
    title = plain(table.title) if table.title else None
    _echo_aligned(lines, right, header=titles, title=title, noheader=_output.noheader)


def _plain_output() -> bool:
    """Lists print plain: in a pipe or a file, or when --parsable or --noheader asks."""
    import sys

    return _output.parsable or _output.noheader or not sys.stdout.isatty()


def _echo_aligned(
    lines: list[list[str]],
    right: list[bool],
    *,
    header: list[str],
    title: str | None,
    noheader: bool,
) -> None:
    """Plain lines in columns aligned by spaces (``right``: numbers, to the right), under
    ``title`` and ``header`` unless ``noheader``."""
    if not noheader:
        if title:
            typer.echo(title)
        lines = [header, *lines]
    widths = [max((len(line[i]) for line in lines), default=0) for i in range(len(header))]
    for line in lines:
        parts = [
            text.rjust(width) if r else text.ljust(width)
            for text, width, r in zip(line, widths, right, strict=True)
        ]
        typer.echo("  ".join(parts).rstrip())


def _styled(cell: str) -> Text:
    """A cell's text with its styling ("[yellow]warning[/]"); text that is not valid markup
    (a memo reading "x[/]") is shown as it is rather than failing the command."""
    from rich.errors import MarkupError
    from rich.text import Text

    try:
        return Text.from_markup(cell)
    except MarkupError:
        return Text(cell)


def _all_numbers(values: Iterable[Any]) -> bool:
    """A column of counts and amounts (blanks allowed), right-aligned as numbers are."""
    from decimal import Decimal

    seen = [v for v in values if v is not None]
    return bool(seen) and all(
        isinstance(v, int | Decimal) and not isinstance(v, bool) for v in seen
    )


def _plain(
    records: list[dict[str, Any]],
    columns: list[Column],
    numeric: list[bool],
    state: OutputOptions,
    *,
    title: str | None,
) -> None:
    """A table for a pipe or a file: every value whole, no box, no colour. Columns are
    aligned by spaces, numbers to the right, under the title and the columns' titles (none
    with --noheader); with --parsable, fields split by '|' in the CSV's plain forms under a
    line of the columns' keys."""
    if state.parsable:
        lines = [] if state.noheader else ["|".join(c.key for c in columns)]
        lines += ["|".join(_csv_value(r.get(c.key)) for c in columns) for r in records]
        typer.echo("\n".join(lines))
        return
    cells = [[_styled(_cell(r.get(c.key), c.money)).plain for c in columns] for r in records]
    _echo_aligned(
        cells,
        numeric,
        header=[c.title for c in columns],
        title=_styled(title).plain if title else None,
        noheader=state.noheader,
    )


def page_hint(noun: str, *, offset: int, shown: int, total: int) -> None:
    """Under a paged table, on stderr: which rows these are, and how to get the next ones."""
    end = offset + shown
    if shown and (offset or end < total):
        more = f"; next page: --offset {end}" if end < total else ""
        stderr().print(f"{noun} {offset + 1}-{end} of {total}{more}")


def emit_record(
    record: Row,
    columns: list[Column],
    *,
    as_json: bool = False,
    as_csv: bool = False,
    title: str | None = None,
    json_data: Any = None,
) -> None:
    """Print one record: a two-column field/value table, JSON, or a one-row CSV."""
    from rich.table import Table

    check_output(as_json, as_csv)
    if as_json or as_csv:
        emit_rows(
            [record],
            columns,
            as_json=as_json,
            as_csv=as_csv,
            json_data=json_data if json_data is not None else _json_row(record),
        )
        return
    values = _table_row(record)
    table = Table(title=title, title_justify="left", show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    for c in columns:
        table.add_row(c.title, _cell(values.get(c.key), c.money))
    stdout().print(table)


def cli_actor() -> str:
    """Who acts in the journal and the approvals: the login of the process's real uid, the
    same name the console uses (``asbb_core.access.identity``; never an environment variable)."""
    from asbb_core.access.identity import os_login

    return os_login()


def cli_context(idempotency_key: str | None = None) -> Context:
    """The context of one write made from the command line."""
    from asbb_core.values.context import Context, IdempotencyKey, Source

    key = IdempotencyKey.client(idempotency_key) if idempotency_key is not None else None
    return Context(actor=cli_actor(), source=Source.CLI, idempotency_key=key)


def cents(value: Decimal) -> Decimal:
    """Money as posted (to the cent): JSON and CSV then show "12.50" on every backend."""
    from asbb_core.values.money import round_posting

    return round_posting(value)


def ledger_today(ledger: Ledger) -> date:
    """Today (UTC) by the ledger's clock: what 'today' and '30d' count from."""
    from datetime import UTC

    return ledger.clock().astimezone(UTC).date()


def iso_time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def open_bank(
    settings: Settings, clock: Clock | None = None, *, cost_lookup: SlurmLookup | None = None
) -> Bank:
    """A bank over the configured database (refused unless at head); ``bank.close()`` it."""
    from asbb_core.bank import Bank
    from asbb_core.values.context import utcnow

    return Bank.over(open_database(settings), settings, clock or utcnow, cost_lookup=cost_lookup)


@contextmanager
def opened(ctx: typer.Context, *, cost_lookup: SlurmLookup | None = None) -> Iterator[Bank]:
    """A bank over the database (at head) and the effective settings, closed at the end.

    ``cost_lookup``: how the bank's cost reports find a job's hold in Slurm (default none).
    """
    bank = open_bank(settings_of(ctx), cost_lookup=cost_lookup)
    try:
        yield bank
    finally:
        bank.close()


def jsonable(value: Any) -> Any:
    """Dataclasses, Decimals (as exact strings), dates and enums made JSON-ready."""
    import dataclasses
    from datetime import date
    from decimal import Decimal
    from enum import Enum

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, date):  # datetimes too
        return value.isoformat()
    return value
