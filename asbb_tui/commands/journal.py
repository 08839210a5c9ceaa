"""``asbb transactions`` (the journal, read-only) and ``asbb holds`` (open reservations)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import typer

from asbb_tui.cli_base import (
    Column,
    CsvOption,
    JsonOption,
    cents,
    check_output,
    cli_context,
    emit_record,
    emit_rows,
    fail,
    ledger_today,
    opened,
    page_hint,
    print_json,
    stderr,
    stdout,
)

if TYPE_CHECKING:
    from asbb_core.ledger import Ledger

transactions_app = typer.Typer(
    help=(
        "The journal: every movement of money (deposits, allocations, holds, charges, "
        "releases, adjustments, transfers, expiries), newest first. Read-only."
    ),
    no_args_is_help=True,
)
holds_app = typer.Typer(
    help=(
        "Holds: money reserved for a job when it is submitted, charged when it ends, or "
        "voided / expired if it never runs."
    ),
    no_args_is_help=True,
)

MAX_ID = 2**63 - 1
ENTRY_TYPES = "deposit, allocation, hold, charge, release, adjustment, transfer or expiry"
HOLD_STATES = "open (default), posted, voided, expired or all"

HoldArg = Annotated[str, typer.Argument(metavar="HOLD_ID", help="The hold's id.")]


def _option(help_text: str, *names: str, metavar: str | None = None) -> Any:
    return typer.Option(*names, help=help_text, metavar=metavar, show_default=False)


# ---------------------------------------------------------------- rows

ENTRY_TABLE_COLUMNS = [
    Column("id"),
    Column("created_at", "time"),
    Column("account"),
    Column("type"),
    Column("amount", money=True),
    Column("partition"),
    Column("job_id", "job"),
    Column("actor"),
    Column("memo"),
]
ENTRY_COLUMNS = [
    Column("id"),
    Column("created_at", "time"),
    Column("account"),
    Column("type"),
    Column("amount", money=True),
    Column("limit_delta", "limit change", money=True),
    Column("used_delta", "used change", money=True),
    Column("held_delta", "held change", money=True),
    Column("partition"),
    Column("hold_id", "hold"),
    Column("job_id", "job"),
    Column("user"),
    Column("counterparty"),
    Column("overrun"),
    Column("actor"),
    Column("source"),
    Column("correlation_id", "correlation id"),
    Column("memo"),
    Column("metadata"),
]
HOLD_TABLE_COLUMNS = [
    Column("id"),
    Column("account"),
    Column("job_id", "job"),
    Column("state"),
    Column("amount", money=True),
    Column("remaining", money=True),
    Column("expires_at", "expires"),
]
HOLD_COLUMNS = [
    Column("id"),
    Column("account"),
    Column("partition"),
    Column("user"),
    Column("job_id", "job"),
    Column("state"),
    Column("estimate", money=True),
    Column("buffer"),
    Column("amount", money=True),
    Column("remaining", money=True),
    Column("charged", money=True),
    Column("released", money=True),
    Column("task_count", "tasks"),
    Column("tasks_posted", "tasks posted"),
    Column("estimate_source", "estimated by"),
    Column("actor"),
    Column("source"),
    Column("created_at", "created"),
    Column("expires_at", "expires"),
    Column("resolved_at", "resolved"),
    Column("metadata"),
]


def _window(
    ledger: Ledger, last: str | None, since: str | None, until: str | None
) -> tuple[datetime | None, datetime | None]:
    """--last / --since / --until as the journal's [start, end) bounds, in UTC."""
    from asbb_core.values.periods import parse_day, parse_since

    today = ledger_today(ledger)
    first = None
    if last is not None:
        first = parse_since(last, field="last", today=today)
    elif since is not None:
        first = parse_day(since, field="since", today=today)
    end = parse_day(until, field="until", today=today) if until is not None else None
    start_at = datetime.combine(first, time(0), tzinfo=UTC) if first else None
    # --until names a day that is included: the bound is the next midnight.
    end_at = datetime.combine(end + timedelta(days=1), time(0), tzinfo=UTC) if end else None
    return start_at, end_at


# ---------------------------------------------------------------- transactions

_ENTRY_STATUS = {
    "pending": "open",  # the original tool's word
    "open": "open",
    "posted": "posted",
    "voided": "voided",
    "expired": "expired",
}


def _hold_state(status: str) -> str:
    """--status as a hold state. The original tool's completed, failed and cancelled name
    no set of asbb's rows: its journal holds only movements made, so they are refused."""
    given = status.strip().lower()
    if given in ("completed", "failed", "cancelled"):
        fail(
            f"status: {status!r}: every journal entry is a movement already made; give pending "
            "(holds waiting for their job's reconcile), posted, voided or expired"
        )
    if given not in _ENTRY_STATUS:
        fail(f"status: {status!r} is not pending (open), posted, voided or expired")
    return _ENTRY_STATUS[given]


@transactions_app.command("list")
def list_transactions(
    ctx: typer.Context,
    account: Annotated[
        str | None, _option("Only this account's entries.", "--account", metavar="A")
    ] = None,
    job: Annotated[
        str | None, _option("Only this Slurm job's entries, e.g. 1234.", "--job", metavar="J")
    ] = None,
    hold: Annotated[
        str | None, _option("Only the entries of this hold.", "--hold", metavar="H")
    ] = None,
    entry_type: Annotated[
        str | None, _option(f"Only entries of this type: {ENTRY_TYPES}.", "--type")
    ] = None,
    status: Annotated[
        str | None,
        _option(
            "Only the entries of holds in this state: pending or open (money still reserved, "
            "waiting for the job's reconcile), posted, voided or expired.",
            "--status",
            metavar="S",
        ),
    ] = None,
    last: Annotated[
        str | None,
        _option(
            "Only the last span, counted back from today (UTC): 30d, 2w, 6m (months), 1y.",
            "--last",
            metavar="SPAN",
        ),
    ] = None,
    since: Annotated[
        str | None,
        _option("Only entries from this day on: YYYY-MM-DD, today, yesterday.", "--since"),
    ] = None,
    until: Annotated[
        str | None,
        _option("Only entries up to this day, included: YYYY-MM-DD, today.", "--until"),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", metavar="N", help="At most N entries (1 to 500).")
    ] = 50,
    before_id: Annotated[
        int | None,
        _option(
            "Only entries older than this id: the next page (printed under the table).",
            "--before-id",
            metavar="ID",
        ),
    ] = None,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """List journal entries, newest first.

    `asbb transactions list --account physics --type charge --last 30d`; the holds waiting
    for their reconcile: `asbb transactions list --type hold --status pending`. JSON:
    {"items": [...], "next_before_id": N} (null on the last page); CSV has every field.
    """
    from asbb_core.store import queries

    check_output(as_json, as_csv)
    if last is not None and since is not None:
        fail("give --last or --since, not both")
    hold_state = _hold_state(status) if status is not None else None
    with opened(ctx) as bank:
        start_at, end_at = _window(bank.ledger, last, since, until)
        if account is not None:
            queries.account_detail(bank.db, account, field="account")  # a typo is an error, not []
        page = queries.list_entries(
            bank.db,
            account=account,
            job_id=job,
            kind=entry_type,
            since=start_at,
            until=end_at,
            hold_id=hold,
            limit=limit,
            before_id=before_id,
            hold_state=hold_state,
        )
    from asbb_core.ledger.views import EntryPage, EntryView

    view = EntryPage(
        items=[EntryView.of(r) for r in page.items], next_before_id=page.next_before_id
    )
    emit_rows(
        view.items,
        ENTRY_COLUMNS if as_csv else ENTRY_TABLE_COLUMNS,
        as_json=as_json,
        as_csv=as_csv,
        title="journal",
        empty="no journal entries match",
        json_data=view,
        minutes=True,
    )
    if page.next_before_id is not None and not as_json and not as_csv:
        stderr().print(f"more entries: --before-id {page.next_before_id}")


@transactions_app.command("show")
def show_transaction(
    ctx: typer.Context,
    entry_id: Annotated[
        int, typer.Argument(metavar="ID", help="The journal entry's id.", min=1, max=MAX_ID)
    ],
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """One journal entry with every field: what it did to the limit, used and held money,
    its job, hold, actor and correlation id."""
    from asbb_core.ledger.views import EntryView
    from asbb_core.store import queries

    check_output(as_json, as_csv)
    with opened(ctx) as bank:
        row = queries.get_entry(bank.db, entry_id)
    emit_record(
        EntryView.of(row), ENTRY_COLUMNS, as_json=as_json, as_csv=as_csv, title=f"entry {entry_id}"
    )


# ---------------------------------------------------------------- holds


@holds_app.command("list")
def list_holds(
    ctx: typer.Context,
    account: Annotated[
        str | None, _option("Only this account's holds.", "--account", metavar="A")
    ] = None,
    status: Annotated[
        str, typer.Option("--status", metavar="S", help=f"Holds in this state: {HOLD_STATES}.")
    ] = "open",
    job: Annotated[
        str | None, _option("Only this Slurm job's holds, e.g. 1234.", "--job", metavar="J")
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", metavar="N", help="At most N holds (1 to 500).")
    ] = 100,
    offset: Annotated[
        int, typer.Option("--offset", metavar="N", help="Skip the first N (for the next page).")
    ] = 0,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """List holds, newest first: the open ones unless --status says otherwise.

    JSON: {"items": [...], "total", "limit", "offset"}; CSV has every field.
    """
    from asbb_core.store import queries
    from asbb_core.values.errors import ValidationError

    check_output(as_json, as_csv)
    state = status.strip().lower()
    with opened(ctx) as bank:
        if account is not None:
            queries.account_detail(bank.db, account, field="account")  # a typo is an error, not []
        try:
            page = queries.list_holds(
                bank.db,
                account=account,
                state=None if state == "all" else state,
                job_id=job,
                limit=limit,
                offset=offset,
            )
        except ValidationError as exc:
            if exc.field != "state":
                raise
            raise ValidationError(
                f"status: {status!r} is not open, posted, voided, expired or all", field="status"
            ) from None
    from asbb_core.ledger.views import HoldPage, HoldView

    view = HoldPage.of(page, [HoldView.of(r) for r in page.items])
    emit_rows(
        view.items,
        HOLD_COLUMNS if as_csv else HOLD_TABLE_COLUMNS,
        as_json=as_json,
        as_csv=as_csv,
        title=f"holds ({state})",
        empty=f"no {'' if state == 'all' else state + ' '}holds match",
        json_data=view,
        minutes=True,
    )
    if not as_json and not as_csv:
        page_hint("holds", offset=page.offset, shown=len(view.items), total=page.total)


@holds_app.command("show")
def show_hold(
    ctx: typer.Context, hold_id: HoldArg, as_json: JsonOption = False, as_csv: CsvOption = False
) -> None:
    """One hold: what it reserved, charged and released, its job and its state."""
    from asbb_core.ledger.views import HoldView
    from asbb_core.store import queries

    check_output(as_json, as_csv)
    with opened(ctx) as bank:
        row = queries.get_hold(bank.db, hold_id)
    emit_record(
        HoldView.of(row), HOLD_COLUMNS, as_json=as_json, as_csv=as_csv, title=f"hold {hold_id}"
    )


@holds_app.command("void")
def void_hold(
    ctx: typer.Context,
    hold_id: HoldArg,
    reason: Annotated[
        str,
        typer.Option(
            "--reason", metavar="TEXT", help="Why, e.g. 'job cancelled' (kept in the journal)."
        ),
    ],
    as_json: JsonOption = False,
) -> None:
    """Release everything an open hold still reserves, e.g. for a job that will never run.

    A hold resolves exactly once: voiding one already posted, voided or expired is refused.
    A job array's hold that already has charges closes as posted.
    """
    from asbb_core.ledger.views import HoldView, VoidView
    from asbb_core.store import queries

    with opened(ctx) as bank:
        done = bank.desk.void_hold(hold_id, ctx=cli_context(), reason=reason)
        hold = HoldView.of(queries.get_hold(bank.db, hold_id))
    if done.request is not None:
        from asbb_tui.commands.adjust import emit_pending

        emit_pending(done.request, f"voiding hold {hold_id}", as_json=as_json, as_csv=False)
        return
    result = done.result
    assert result is not None
    released: Decimal = cents(result.released)
    if as_json:
        print_json(VoidView(hold=hold, released=released, replayed=result.replayed).record())
        return
    from asbb_core.values.money import format_money

    stdout().print(
        f"hold {result.hold_id} of account {result.account} is {result.state}: "
        f"released {format_money(released)}",
        soft_wrap=True,
    )


def register(root: typer.Typer) -> None:
    """Add this module's commands to the ``asbb`` app."""
    root.add_typer(transactions_app, name="transactions")
    root.add_typer(holds_app, name="holds")
