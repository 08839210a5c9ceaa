"""``asbb allocations``: recurring allocations (a budget paid in instalments) and one-off ones.

Output: a table by default; ``--json`` prints what the REST API answers for the same result
(the views of ``asbb_core.funding.views``); ``--csv`` has the view's fields as its header
(nested lists such as a schedule's credits as JSON text).
"""

from __future__ import annotations

from collections.abc import Callable
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
    opened,
    print_table,
    progress_bar,
    stderr,
    stdout,
)

if TYPE_CHECKING:
    from asbb_core.funding.allocations import ProcessSummary, ScheduleInfo
    from asbb_core.funding.views import AllocationEventView, ScheduleView
    from asbb_core.values.wire import View

app = typer.Typer(
    help=(
        "Recurring allocations: a budget paid into an account in instalments (daily, weekly, "
        "monthly, quarterly, yearly), credited once each by the daemon's scheduler or by "
        "'asbb allocations process'; and one-off allocations."
    ),
    no_args_is_help=True,
)

PROGRESS_FROM = 20
"""'process' shows a progress bar (on stderr) when at least this many steps are due."""


class FrequencyChoice(StrEnum):
    """asbb_core.values.periods.Frequency's values (not imported here: it would slow every
    command).
    """

    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    YEARLY = "yearly"


class UnspentChoice(StrEnum):
    """asbb_core.store.models.UnspentPolicy's values."""

    CARRY_OVER = "carry_over"
    EXPIRE = "expire"


def _completer(choices: type[StrEnum]) -> Callable[[str], list[str]]:
    """Offer ``choices`` to shell completion. The options stay plain text so that the core
    validates them: a typo is then one line naming the field (exit 1), not a usage box."""

    def complete(incomplete: str) -> list[str]:
        return [c.value for c in choices if c.value.startswith(incomplete)]

    return complete


def _metavar(choices: type[StrEnum]) -> str:
    return "[" + "|".join(c.value for c in choices) + "]"


class StatusChoice(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


ScheduleArg = Annotated[int, typer.Argument(metavar="ID", help="The schedule's id.", min=1)]


def _money(value: Any) -> str:
    from asbb_core.values.money import format_money

    return format_money(value)


def _fields(view: type[View]) -> list[Column]:
    """A view's fields as CSV columns, in order."""
    return columns(*view.model_fields)


LIST_TABLE = [
    Column("id"),
    Column("account"),
    Column("instalment"),
    Column("done"),
    Column("progress", "credited"),
    Column("next_due_date", "next due"),
    Column("state", "status"),
]
EVENT_TABLE = [
    Column("schedule"),
    Column("account"),
    Column("done", "#"),
    Column("due_date", "due"),
    Column("action"),
    Column("amount", money=True),
    Column("entry_id", "entry"),
]


def schedule_cells(view: ScheduleView) -> dict[str, Any]:
    """The schedule's values plus the table's combined cells (also 'account show''s)."""
    expiring = " (expire)" if view.unspent == "expire" else ""
    return {
        **view.values(),
        "instalment": f"{_money(view.amount)} {view.frequency}",
        "done": f"{view.next_period}/{view.instalments}",
        "progress": f"{_money(view.credited)} of {_money(view.total)}",
        "state": f"{view.status}{expiring}",
    }


def _event_cells(event: AllocationEventView) -> dict[str, Any]:
    return {
        **event.values(),
        "schedule": f"#{event.schedule_id}",
        "done": f"{event.period + 1}/{event.instalments}",
    }


def _show(
    info: ScheduleInfo, *, as_json: bool, as_csv: bool = False, title: str | None = None
) -> None:
    """One schedule with its instalments: JSON, a one-row CSV, or two tables."""
    from asbb_core.funding.views import ScheduleDetailView

    view = ScheduleDetailView.of(info)
    if as_json or as_csv:
        emit_record(view, _fields(ScheduleDetailView), as_json=as_json, as_csv=as_csv)
        return
    out = stdout()
    head = Table(
        title=title or f"allocation schedule #{view.id}",
        show_header=False,
        box=None,
        padding=(0, 2),
    )
    head.add_column(style="bold")
    head.add_column()
    head.add_row("account", view.account)
    head.add_row("status", view.status)
    head.add_row("instalment", f"{_money(view.amount)} {view.frequency}")
    head.add_row("total", f"{_money(view.total)} in {view.instalments} instalment(s)")
    head.add_row("dates", f"{view.start_date.isoformat()} .. {view.last_due_date.isoformat()}")
    head.add_row("unspent money", view.unspent.replace("_", " "))
    head.add_row(
        "credited", f"{_money(view.credited)} ({view.next_period} of {view.instalments} done)"
    )
    if view.expired:
        head.add_row("expired", _money(view.expired))
    head.add_row("next due", view.next_due_date.isoformat() if view.next_due_date else "-")
    if view.paused_at:
        head.add_row("paused at", view.paused_at.strftime("%Y-%m-%d %H:%M"))
    if view.memo:
        head.add_row("memo", view.memo)
    head.add_row("created", f"{view.created_at.strftime('%Y-%m-%d %H:%M')} by {view.created_by}")
    out.print(head)
    if view.credits:
        table = Table("#", "due", "amount", "outcome", "entry", "expired", title="instalments")
        for c in view.credits:
            table.add_row(
                f"{c.period + 1}/{view.instalments}",
                c.due_date.isoformat(),
                _money(c.amount),
                c.outcome,
                str(c.entry_id or ""),
                _money(c.expired_amount) if c.expired_at else "",
            )
        print_table(table, out)


def _print_summary(summary: ProcessSummary, *, as_json: bool, as_csv: bool = False) -> None:
    """JSON: the whole summary; CSV: one row per event (failures on stderr); else a table of
    the events and a one-line total."""
    from asbb_core.funding.views import AllocationEventView, ProcessView

    for failure in summary.errors if not as_json else ():
        stderr().print(f"schedule #{failure.schedule_id}: {failure.message}")
    events = [AllocationEventView.of(e) for e in summary.events]
    if as_json or as_csv:
        emit_rows(
            events,
            _fields(AllocationEventView),
            as_json=as_json,
            as_csv=as_csv,
            json_data=ProcessView.of(summary),
        )
        return
    out = stdout()
    if events:
        emit_rows([_event_cells(e) for e in events], EVENT_TABLE)
    out.print(
        f"{summary.today.isoformat()}: {len(summary.credited)} credited "
        f"({_money(summary.total_credited)}), {len(summary.skipped)} skipped, "
        f"{len(summary.expired)} expired ({_money(summary.total_expired)})"
    )
    for sid in summary.completed:
        out.print(f"schedule #{sid} completed")


StartOpt = Annotated[
    str | None,
    typer.Option(
        "--start",
        metavar="DATE",
        help="The first due date, YYYY-MM-DD, e.g. 2026-01-01 (default: today, UTC).",
        show_default=False,
    ),
]


@app.command("create")
def create(
    ctx: typer.Context,
    account: Annotated[str, typer.Argument(help="The account that receives the instalments.")],
    amount: Annotated[
        str,
        typer.Option(
            "--amount",
            metavar="X",
            help="Each instalment in dollars, more than 0 with at most two decimals, e.g. 100.00.",
        ),
    ],
    frequency: Annotated[
        str,
        typer.Option(
            "--frequency",
            metavar=_metavar(FrequencyChoice),
            help="How often an instalment falls due: daily, weekly, monthly, quarterly or yearly.",
            autocompletion=_completer(FrequencyChoice),
        ),
    ] = FrequencyChoice.MONTHLY.value,
    start: StartOpt = None,
    total: Annotated[
        str | None,
        typer.Option(
            "--total",
            metavar="X",
            help="The whole budget in dollars: 600 at 100 is 6 instalments (650 is 7, the "
            "last 50).",
        ),
    ] = None,
    end: Annotated[
        str | None,
        typer.Option(
            "--end",
            metavar="DATE",
            help="Every due date up to and including this one, YYYY-MM-DD, e.g. 2026-12-31.",
        ),
    ] = None,
    count: Annotated[
        int | None,
        typer.Option("--count", metavar="N", help="How many instalments, e.g. 12."),
    ] = None,
    unspent: Annotated[
        str,
        typer.Option(
            "--unspent",
            metavar=_metavar(UnspentChoice),
            help="carry_over keeps unspent money; expire takes what is left of an instalment "
            "back when its period ends.",
            autocompletion=_completer(UnspentChoice),
        ),
    ] = UnspentChoice.CARRY_OVER.value,
    memo: Annotated[str, typer.Option("--memo", help="A note, shown on every credit.")] = "",
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Create a recurring allocation; give exactly one of --total, --end or --count.

    Nothing is credited now: the daemon's scheduler (or `asbb allocations process`) credits
    each instalment when it falls due, catching up any it missed.

    Example: `asbb allocations create physics --amount 500 --frequency monthly --count 12`
    """
    check_output(as_json, as_csv)
    with opened(ctx) as bank:
        allocations = bank.allocations
        schedule = allocations.create_schedule(
            account,
            amount=amount,
            frequency=frequency,
            start_date=start if start is not None else allocations.today(),
            ctx=cli_context(),
            total=total,
            end_date=end,
            instalments=count,
            unspent=unspent,
            memo=memo,
        )
        assert schedule.id is not None
        info = allocations.get_schedule(schedule.id)
    _show(info, as_json=as_json, as_csv=as_csv, title=f"created allocation schedule #{info.id}")


@app.command("list")
def list_(
    ctx: typer.Context,
    account: Annotated[
        str | None, typer.Option("--account", metavar="A", help="Only this account's.")
    ] = None,
    status: Annotated[
        StatusChoice | None,
        typer.Option("--status", help="Only schedules in this status.", case_sensitive=False),
    ] = None,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """List allocation schedules: account, instalment, progress, next due date."""
    from asbb_core.funding.views import ScheduleView

    check_output(as_json, as_csv)
    with opened(ctx) as bank:
        infos = bank.allocations.list_schedules(account, status.value if status else None)
    views = [ScheduleView.of(i) for i in infos]
    if as_json or as_csv:
        emit_rows(views, _fields(ScheduleView), as_json=as_json, as_csv=as_csv)
        return
    emit_rows(
        [schedule_cells(v) for v in views],
        LIST_TABLE,
        empty="no allocation schedules (create one: asbb allocations create ...)",
    )


@app.command("show")
def show(
    ctx: typer.Context,
    schedule_id: ScheduleArg,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Show one schedule and every instalment credited or skipped so far."""
    check_output(as_json, as_csv)
    with opened(ctx) as bank:
        info = bank.allocations.get_schedule(schedule_id)
    _show(info, as_json=as_json, as_csv=as_csv)


@app.command("pause")
def pause(
    ctx: typer.Context,
    schedule_id: ScheduleArg,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Pause an active schedule: nothing more is credited until it is resumed.

    What fell due before the pause is credited first.
    """
    check_output(as_json, as_csv)
    with opened(ctx) as bank:
        info = bank.allocations.pause(schedule_id, cli_context())
    _show(info, as_json=as_json, as_csv=as_csv, title=f"paused allocation schedule #{info.id}")


@app.command("resume")
def resume(
    ctx: typer.Context,
    schedule_id: ScheduleArg,
    catch_up: Annotated[
        bool,
        typer.Option(
            "--catch-up", help="Credit the instalments that fell due while it was paused."
        ),
    ] = False,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Resume a paused schedule.

    Instalments that fell due while it was paused are recorded as skipped (or credited, with
    --catch-up); what is due today is credited at once. --json and --csv print the schedule as
    'show' does (its credits include what the resume did), as the REST API answers.
    """
    check_output(as_json, as_csv)
    with opened(ctx) as bank:
        summary = bank.allocations.resume(schedule_id, cli_context(), catch_up=catch_up)
        info = bank.allocations.get_schedule(schedule_id)
    if as_json or as_csv:
        _show(info, as_json=as_json, as_csv=as_csv)
        return
    _print_summary(summary, as_json=False)
    _show(info, as_json=False, title=f"resumed allocation schedule #{info.id}")


@app.command("cancel")
def cancel(
    ctx: typer.Context,
    schedule_id: ScheduleArg,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Cancel a schedule for good: no further instalments; what was credited stays."""
    check_output(as_json, as_csv)
    with opened(ctx) as bank:
        info = bank.allocations.cancel(schedule_id, cli_context())
    _show(info, as_json=as_json, as_csv=as_csv, title=f"cancelled allocation schedule #{info.id}")


@app.command("process")
def process(
    ctx: typer.Context,
    today: Annotated[
        str | None,
        typer.Option(
            "--today",
            metavar="DATE",
            help="Process as of this date, YYYY-MM-DD, e.g. 2026-03-15 (default: today, UTC).",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Credit every instalment due now, as the daemon's scheduler does.

    Missed periods are caught up, each instalment is credited exactly once (safe beside the
    daemon), and with unspent=expire the unspent rest of ended periods is taken back.
    Schedules that cannot move (e.g. their account is closed) are listed; exit status 1 then.
    --csv prints one row per instalment credited, skipped or expired.
    """
    from asbb_core.values.periods import parse_date

    check_output(as_json, as_csv)
    day = parse_date(today, field="today") if today is not None else None
    with opened(ctx) as bank:
        allocations = bank.allocations
        steps = allocations.count_due(today=day)
        with progress_bar("crediting allocations", disable=steps < PROGRESS_FROM) as progress:
            task = progress.add_task("", total=steps)
            summary = allocations.process_due(
                ctx=cli_context(), today=day, on_event=lambda _: progress.advance(task)
            )
    _print_summary(summary, as_json=as_json, as_csv=as_csv)
    if summary.errors:
        raise typer.Exit(1)


@app.command("once")
def once(
    ctx: typer.Context,
    account: Annotated[str, typer.Argument(help="The account to allocate to.")],
    amount: Annotated[
        str,
        typer.Argument(
            metavar="AMOUNT",
            help="How much in dollars, more than 0 with at most two decimals, e.g. 250.00.",
        ),
    ],
    memo: Annotated[str, typer.Option("--memo", help="Why (shown in the journal).")] = "",
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Allocate money to an account once (journaled as an allocation): its limit grows.

    Example: `asbb allocations once physics 250.00 --memo "bridge funding"`
    """
    check_output(as_json, as_csv)
    with opened(ctx) as bank:
        done = bank.desk.allocate_once(account, amount, ctx=cli_context(), memo=memo)
    if done.request is not None:
        from asbb_tui.commands.adjust import emit_pending

        what = f"allocating {_money(done.request.amount)} to {done.request.account}"
        emit_pending(done.request, what, as_json=as_json, as_csv=as_csv)
        return
    result = done.result
    assert result is not None
    if as_json or as_csv:
        from asbb_core.ledger.views import MovementView

        emit_record(MovementView.of(result), _fields(MovementView), as_json=as_json, as_csv=as_csv)
        return
    stdout().print(
        f"allocated {_money(result.amount)} to {result.account}: limit {_money(result.limit)}, "
        f"available {_money(result.available)} (journal entry {result.entry_ids[0]})"
    )
