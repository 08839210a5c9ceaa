"""``asbb account`` and ``asbb partition-limit``: budget accounts and their per-partition caps."""

from __future__ import annotations

import sys
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any

import typer

from asbb_core.values.errors import AsbbError
from asbb_tui.cli_base import (
    Column,
    CsvOption,
    JsonOption,
    check_output,
    cli_context,
    emit_record,
    emit_rows,
    fail,
    ledger_today,
    opened,
    page_hint,
    stderr,
    stdout,
)

if TYPE_CHECKING:
    from asbb_core.bank import Bank
    from asbb_core.ledger import Ledger
    from asbb_core.store.queries import AccountDetail

account_app = typer.Typer(
    help=(
        "Budget accounts, one per Slurm account: list, create (with a fixed limit or growing by "
        "a recurring allocation), show, update, close (delete: close one that never spent)."
    ),
    no_args_is_help=True,
)
partition_app = typer.Typer(
    help=(
        "Caps on what one partition may consume inside an account (e.g. gpu-aws at most $500); "
        "the account's own limit still applies."
    ),
    no_args_is_help=True,
)

NameArg = Annotated[str, typer.Argument(metavar="NAME", help="The account's (Slurm) name.")]
AccountArg = Annotated[
    str, typer.Argument(metavar="ACCOUNT", help="The account's (Slurm) name, e.g. physics.")
]
PartitionArg = Annotated[
    str, typer.Argument(metavar="PARTITION", help="The Slurm partition, e.g. gpu-aws.")
]


def _option(help_text: str, *names: str, metavar: str | None = None) -> Any:
    return typer.Option(*names, help=help_text, metavar=metavar, show_default=False)


DisplayNameOpt = Annotated[
    str | None,
    _option(
        'What people call the account, e.g. "ML Research Project" (at most 200 characters; '
        "the original tool's --name). NAME stays the Slurm account's.",
        "--name",
        "--display-name",
        metavar="TEXT",
    ),
]
DescriptionOpt = Annotated[
    str | None,
    _option("What the account is for (at most 500 characters).", "--description", metavar="TEXT"),
]
StartOpt = Annotated[
    str | None,
    _option("First day jobs may run, YYYY-MM-DD (or today, tomorrow).", "--start", metavar="DATE"),
]
EndOpt = Annotated[
    str | None,
    _option("Last day jobs may run, YYYY-MM-DD, included.", "--end", metavar="DATE"),
]


# ---------------------------------------------------------------- rows


ACCOUNT_COLUMNS = [
    Column("name"),
    Column("status"),
    Column("limit", money=True),
    Column("used", money=True),
    Column("held", money=True),
    Column("available", money=True),
    Column("percent_used", "% used"),
]
DETAIL_COLUMNS = [
    Column("name"),
    Column("display_name", "display name"),
    Column("description"),
    Column("status"),
    Column("start_date", "start"),
    Column("end_date", "end"),
    Column("limit", money=True),
    Column("used", money=True),
    Column("held", money=True),
    Column("available", money=True),
    Column("percent_used", "% used"),
    Column("open_holds", "open holds"),
    Column("created_at", "created"),
    Column("updated_at", "updated"),
]
DETAIL_CSV_COLUMNS = [*DETAIL_COLUMNS, Column("partition_limits"), Column("schedules")]
CAP_COLUMNS = [
    Column("partition"),
    Column("limit", money=True),
    Column("used", money=True),
    Column("held", money=True),
    Column("available", money=True),
    Column("updated_at", "updated"),
]
SCHEDULE_COLUMNS = [
    Column("id"),
    Column("instalment"),
    Column("done"),
    Column("credited", money=True),
    Column("total", money=True),
    Column("next_due_date", "next due"),
    Column("unspent"),
    Column("status"),
]


def _show_detail(
    bank: Bank,
    name: str,
    *,
    as_json: bool,
    as_csv: bool,
    title: str | None = None,
) -> None:
    """One account with its caps and allocation schedules: a table each, JSON or CSV."""
    from asbb_core.funding.views import ScheduleView
    from asbb_core.ledger.views import AccountDetailView, PartitionLimitView
    from asbb_core.store import queries
    from asbb_tui.commands.allocations import schedule_cells

    detail = queries.account_detail(bank.db, name)
    schedules = [ScheduleView.of(s) for s in bank.allocations.list_schedules(detail.account.name)]
    view = AccountDetailView.of_detail(detail)
    if as_json or as_csv:
        # The account as the API shows it, and its schedules as GET /allocations does.
        record = {**view.record(), "schedules": [s.record() for s in schedules]}
        emit_record(record, DETAIL_CSV_COLUMNS, as_json=as_json, as_csv=as_csv)
        return
    emit_record(view, DETAIL_COLUMNS, title=title or f"account {detail.account.name}")
    if detail.partition_limits:
        caps = [PartitionLimitView.of(c) for c in detail.partition_limits]
        emit_rows(caps, CAP_COLUMNS, title="partition limits", minutes=True)
    if schedules:
        emit_rows([schedule_cells(s) for s in schedules], SCHEDULE_COLUMNS, title="allocations")


def _day(value: str | None, *, field: str, ledger: Ledger) -> date | None:
    from asbb_core.values.periods import parse_day

    if value is None:
        return None
    return parse_day(value, field=field, today=ledger_today(ledger))


def _account_name(argument: str | None, option: str | None) -> str:
    """The account's name, given as NAME or as the original tool's ``--account``."""
    if argument is None and option is None:
        raise typer.BadParameter(
            "give the account's name: NAME or --account NAME", param_hint="NAME"
        )
    if argument is not None and option is not None and argument != option:
        raise typer.BadParameter(
            f"NAME {argument!r} and --account {option!r} differ; give the name once",
            param_hint="NAME/--account",
        )
    return argument if argument is not None else str(option)


def _partition_caps(specs: list[str] | None) -> dict[str, str]:
    """``gpu-aws=500`` options as {partition: amount}; the ledger checks names and amounts."""
    caps: dict[str, str] = {}
    for spec in specs or []:
        partition, sep, amount = spec.partition("=")
        if not sep or not partition.strip() or not amount.strip():
            fail(f"partition-limit: {spec!r} is not PARTITION=AMOUNT (e.g. gpu-aws=500)")
        if partition.strip() in caps:
            fail(f"partition-limit: partition {partition.strip()!r} is given twice")
        caps[partition.strip()] = amount.strip()
    return caps


# ---------------------------------------------------------------- incremental accounts


# The schedule's fields as this command's options call them.
SCHEDULE_OPTIONS = {
    "amount": "allocation-amount",
    "total": "total-budget",
    "frequency": "allocation-frequency",
    "start_date": "start",
}
UNSPENT_POLICIES = {"carry": "carry_over", "carry_over": "carry_over", "expire": "expire"}


def _in_option_terms(exc: AsbbError) -> AsbbError:
    """The core's error about a schedule field, renamed to this command's option."""
    option = SCHEDULE_OPTIONS.get(exc.field or "")
    if option is None:
        return exc
    message = exc.message.removeprefix(f"{exc.field}: ")
    return type(exc)(f"{option}: {message}", field=option, details=exc.details)


# ---------------------------------------------------------------- account commands


@account_app.command("list")
def list_accounts(
    ctx: typer.Context,
    status: Annotated[
        str | None,
        _option(
            "Only accounts in this status: active, suspended or closed.", "--status", metavar="S"
        ),
    ] = None,
    prefix: Annotated[
        str | None, _option("Only accounts whose name starts with this.", "--prefix", metavar="P")
    ] = None,
    sort: Annotated[
        str, typer.Option("--sort", metavar="KEY", help="Sort by name, available, used or limit.")
    ] = "name",
    descending: Annotated[bool, typer.Option("--desc", help="Largest (or Z) first.")] = False,
    limit: Annotated[
        int, typer.Option("--limit", metavar="N", help="At most N accounts (1 to 500).")
    ] = 100,
    offset: Annotated[
        int, typer.Option("--offset", metavar="N", help="Skip the first N (for the next page).")
    ] = 0,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """List accounts with their limit, used, held and available money.

    Filtered, sorted and paged in the database: `asbb account list --sort available --limit 20`
    shows the 20 with the least money left. JSON: {"items": [...], "total", "limit", "offset"}.
    """
    from asbb_core.store import queries

    check_output(as_json, as_csv)
    with opened(ctx) as bank:
        page = queries.list_accounts(
            bank.db,
            status=status,
            prefix=prefix,
            sort=sort,  # type: ignore[arg-type]  # the core names the allowed keys
            descending=descending,
            limit=limit,
            offset=offset,
        )
        from asbb_core.ledger.views import AccountPage

        view = AccountPage.of_accounts(bank.db, page)
    emit_rows(
        view.items,
        ACCOUNT_COLUMNS,
        as_json=as_json,
        as_csv=as_csv,
        title="accounts",
        empty="no accounts match (create one: asbb account create NAME --limit 100)",
        json_data=view,
    )
    if not as_json and not as_csv:
        page_hint("accounts", offset=page.offset, shown=len(view.items), total=page.total)


@account_app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[
        str | None,
        typer.Argument(
            metavar="NAME",
            help="The account's (Slurm) name, e.g. physics (or give it as --account).",
            show_default=False,
        ),
    ] = None,
    slurm_account: Annotated[
        str | None,
        _option(
            "The Slurm account, the same as NAME (the original tool's spelling: "
            "--account=ml-proj-001).",
            "--account",
            metavar="NAME",
        ),
    ] = None,
    display_name: DisplayNameOpt = None,
    limit: Annotated[
        str | None,
        _option(
            "The opening budget in dollars, e.g. 100 (journaled as a deposit; default 0). "
            "--budget is the same.",
            "--limit",
            "--budget",
            metavar="X",
        ),
    ] = None,
    description: DescriptionOpt = None,
    start: StartOpt = None,
    end: EndOpt = None,
    partition_limits: Annotated[
        list[str] | None,
        _option(
            "Cap a partition, e.g. gpu-aws=500 (repeat for more).",
            "--partition-limit",
            metavar="P=X",
        ),
    ] = None,
    incremental: Annotated[
        bool,
        typer.Option(
            "--incremental",
            help="Start at 0 and grow by a recurring allocation (needs --total-budget and "
            "--allocation-amount).",
        ),
    ] = False,
    total_budget: Annotated[
        str | None,
        _option(
            "With --incremental: the whole budget, e.g. 600 (600 at 100 is 6 instalments; "
            "650 is 7, the last 50).",
            "--total-budget",
            metavar="X",
        ),
    ] = None,
    allocation_amount: Annotated[
        str | None,
        _option(
            "With --incremental: each instalment, e.g. 100.", "--allocation-amount", metavar="X"
        ),
    ] = None,
    allocation_frequency: Annotated[
        str | None,
        _option(
            "With --incremental: daily, weekly, monthly (default), quarterly or yearly.",
            "--allocation-frequency",
            metavar="FREQ",
        ),
    ] = None,
    unspent: Annotated[
        str | None,
        _option(
            "With --incremental: carry (default) keeps unspent money; expire takes what is "
            "left of an instalment back when its period ends.",
            "--unspent",
            metavar="POLICY",
        ),
    ] = None,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Open an account, with a fixed budget or one paid in instalments.

    `asbb account create physics --limit 1000 --partition-limit gpu-aws=500`

    `asbb account create ml-proj --incremental --total-budget 600 --allocation-amount 100
    --allocation-frequency monthly --start 2025-01-01 --end 2025-12-31` opens ml-proj at 0
    with a schedule crediting 100 on the 1st of each month, from --start (default today),
    until 600 is paid. Bad input is refused before anything is written.

    The original tool's spelling works too: `asbb account create --name="ML Research"
    --account=ml-proj-001 --budget=1000` (--account is NAME, --name the display name).
    """
    check_output(as_json, as_csv)
    name = _account_name(name, slurm_account)
    caps = _partition_caps(partition_limits)
    schedule_options = {
        "--total-budget": total_budget,
        "--allocation-amount": allocation_amount,
        "--allocation-frequency": allocation_frequency,
        "--unspent": unspent,
    }
    if incremental:
        if limit is not None:
            fail("limit: an incremental account starts at 0 and grows by its allocations")
        missing = [o for o in ("--total-budget", "--allocation-amount") if not schedule_options[o]]
        if missing:
            fail(f"--incremental needs {' and '.join(missing)}")
    else:
        given = [option for option, value in schedule_options.items() if value is not None]
        if given:
            fail(f"{given[0]} is for incremental accounts; add --incremental")
    with opened(ctx) as bank:
        start_day = _day(start, field="start", ledger=bank.ledger)
        end_day = _day(end, field="end", ledger=bank.ledger)
        plan: dict[str, Any] | None = None
        if incremental:
            policy = (unspent or "carry").strip().lower()
            if policy not in UNSPENT_POLICIES:
                fail(f"unspent: {unspent!r} is not carry or expire")
            plan = {
                "amount": allocation_amount,
                "frequency": allocation_frequency or "monthly",
                "start_date": start_day or ledger_today(bank.ledger),
                "total": total_budget,
                "unspent": UNSPENT_POLICIES[policy],
                "memo": "incremental budget",
            }
        try:
            done = bank.desk.create_account(
                name,
                ctx=cli_context(),
                schedule=plan,
                limit=limit or "0",
                description=description or "",
                display_name=display_name or "",
                start_date=start_day,
                end_date=end_day,
                partition_limits=caps,
            )
        except AsbbError as exc:
            raise _in_option_terms(exc) from None
        account = done.account
        if done.request is not None:
            # The limit waits for a second person; say so where people and scripts look.
            from asbb_tui.commands.adjust import emit_pending

            emit_pending(
                done.request,
                f"the opening limit of {account.name}",
                as_json=False,
                as_csv=False,
                to_stderr=True,
            )
        _show_detail(
            bank,
            account.name,
            as_json=as_json,
            as_csv=as_csv,
            title=f"created account {account.name}",
        )


@account_app.command("show")
def show(
    ctx: typer.Context, name: NameArg, as_json: JsonOption = False, as_csv: CsvOption = False
) -> None:
    """One account: its money (limit, used, held, available), dates, partition limits,
    allocation schedules and how many holds are open."""
    check_output(as_json, as_csv)
    with opened(ctx) as bank:
        _show_detail(bank, name, as_json=as_json, as_csv=as_csv)


@account_app.command("update")
def update(
    ctx: typer.Context,
    name: NameArg,
    description: DescriptionOpt = None,
    display_name: DisplayNameOpt = None,
    limit: Annotated[
        str | None,
        _option(
            "Set the limit to this many dollars; journaled as the adjustment that gets there "
            "(needs --reason). It may not drop below what is used or held.",
            "--limit",
            metavar="X",
        ),
    ] = None,
    reason: Annotated[
        str | None,
        _option("Why the limit changes (kept in the journal).", "--reason", metavar="TEXT"),
    ] = None,
    start: StartOpt = None,
    end: EndOpt = None,
    clear_dates: Annotated[
        bool, typer.Option("--clear-dates", help="Remove both dates (jobs may run any day).")
    ] = False,
    status: Annotated[
        str | None,
        _option(
            "active, or suspended (no new jobs). To close: asbb account close.",
            "--status",
            metavar="S",
        ),
    ] = None,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Change an account's display name, description, limit, dates or status, all in one
    transaction; options left out stay as they are.

    `asbb account update physics --limit 1500 --reason "second year"`
    """

    check_output(as_json, as_csv)
    details = [description, display_name, start, end, status]
    if limit is None and not clear_dates and all(v is None for v in details):
        fail("nothing to change: give --name, --description, --limit, --start, --end or --status")
    if clear_dates and (start is not None or end is not None):
        fail("--clear-dates removes both dates; give it without --start and --end")
    if status is not None and status.strip().lower() == "closed":
        fail("status: close an account with: asbb account close NAME")
    with opened(ctx) as bank:
        start_day = _day(start, field="start", ledger=bank.ledger)
        end_day = _day(end, field="end", ledger=bank.ledger)
        done = bank.desk.change_account(
            name,
            ctx=cli_context(),
            limit=limit,
            reason=reason or "",
            description=description,
            display_name=display_name,
            start_date=start_day,
            end_date=end_day,
            clear_dates=clear_dates,
            status=status.strip().lower() if status is not None else None,
        )
        current = done.account
        if done.request is not None:
            from asbb_tui.commands.adjust import emit_pending

            emit_pending(
                done.request,
                f"the new limit of {current.name}",
                as_json=False,
                as_csv=False,
                to_stderr=True,
            )
        _show_detail(
            bank,
            current.name,
            as_json=as_json,
            as_csv=as_csv,
            title=f"updated account {current.name}",
        )


def stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


@account_app.command("close")
def close(
    ctx: typer.Context,
    name: NameArg,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Do not ask; needed when stdin is not a terminal.")
    ] = False,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Close an account for good: no new jobs are charged to it and it cannot be reopened.

    Refused while it has open holds (reconcile or void them first: asbb holds list --account
    NAME). Asks to confirm unless --yes is given.
    """
    _close(ctx, name, ask=not yes, must_confirm=True, as_json=as_json, as_csv=as_csv)


@account_app.command("delete")
def delete(
    ctx: typer.Context,
    name: NameArg,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask on a terminal.")] = False,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """The original tool's `asbb account delete NAME`: close an account that never spent
    money.

    asbb never deletes an account (its journal and audit trail stay): this closes it, as
    `asbb account close` does, so no job can be charged to it again. Refused, with the
    reason, while the account has money used or held or open holds; close it instead if it
    has spent money. On a terminal it asks to confirm unless --yes is given; from a script it
    goes ahead, as the original tool's command did.
    """
    _close(
        ctx, name, ask=not yes, must_confirm=False, as_json=as_json, as_csv=as_csv, spent_ok=False
    )


def _refuse_deleting(detail: AccountDetail) -> None:
    """``account delete`` is for an account that never moved money: say why this one may not
    (the rule is the ledger's, shared with the REST API's DELETE)."""
    from asbb_core.ledger.accounts import deletion_refusal

    refusal = deletion_refusal(detail.account, detail.open_holds)
    if refusal is not None:
        fail(f"{refusal} (asbb account close {detail.account.name})")


def _close(
    ctx: typer.Context,
    name: str,
    *,
    ask: bool,
    must_confirm: bool,
    as_json: bool,
    as_csv: bool,
    spent_ok: bool = True,
) -> None:
    """Close the account, asking first on a terminal when ``ask``; off a terminal, refuse
    without confirmation when ``must_confirm``, else go ahead. Unless ``spent_ok``, refuse an
    account with money used or held (``account delete``)."""
    from asbb_core.store import queries

    check_output(as_json, as_csv)
    with opened(ctx) as bank:
        detail = queries.account_detail(bank.db, name)
        account = detail.account
        if str(account.status) == "closed":
            stderr().print(f"account {account.name} is already closed")
        else:
            if not spent_ok:
                _refuse_deleting(detail)
            # With open holds the ledger refuses anyway: no point asking first.
            if ask and not detail.open_holds:
                if stdin_is_terminal():
                    typer.confirm(f"Close account {account.name} for good?", abort=True, err=True)
                elif must_confirm:
                    fail(f"closing account {account.name} cannot be undone; confirm with --yes")
            if spent_ok:
                bank.ledger.update_account(account.name, ctx=cli_context(), status="closed")
            else:  # checked again under the row lock, in case money moved meanwhile
                bank.ledger.delete_account(account.name, ctx=cli_context())
        _show_detail(
            bank,
            account.name,
            as_json=as_json,
            as_csv=as_csv,
            title=f"closed account {account.name}",
        )


# ---------------------------------------------------------------- partition limits


@partition_app.command("list")
def list_partition_limits(
    ctx: typer.Context, account: AccountArg, as_json: JsonOption = False, as_csv: CsvOption = False
) -> None:
    """The account's caps per partition, with what each has used and holds."""
    check_output(as_json, as_csv)
    with opened(ctx) as bank:
        caps = bank.ledger.partition_limits(account)
    from asbb_core.ledger.views import PartitionLimitView

    emit_rows(
        [PartitionLimitView.of(c) for c in caps],
        CAP_COLUMNS,
        minutes=True,
        as_json=as_json,
        as_csv=as_csv,
        title=f"partition limits of {account}",
        empty=f"account {account} has no partition limits",
    )


# A negative amount must reach the ledger (and be refused there), not read as an option.
@partition_app.command("set", context_settings={"ignore_unknown_options": True})
def set_partition_limit(
    ctx: typer.Context,
    account: AccountArg,
    partition: PartitionArg,
    amount: Annotated[str, typer.Argument(metavar="AMOUNT", help="The cap in dollars, e.g. 500.")],
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Cap what one partition may consume inside the account (or change its cap).

    A new cap starts with what the partition has used and holds so far; later budget checks
    on it honour the cap. `asbb partition-limit set physics gpu-aws 500`
    """
    check_output(as_json, as_csv)
    with opened(ctx) as bank:
        cap = bank.ledger.set_partition_limit(account, partition, amount, ctx=cli_context())
    assert cap is not None  # only a None amount removes
    from asbb_core.ledger.views import PartitionLimitView

    emit_record(
        PartitionLimitView.of(cap),
        CAP_COLUMNS,
        as_json=as_json,
        as_csv=as_csv,
        title=f"partition limit of {account} on {cap.partition}",
    )


@partition_app.command("remove")
def remove_partition_limit(
    ctx: typer.Context,
    account: AccountArg,
    partition: PartitionArg,
) -> None:
    """Remove a partition's cap; the account's own limit still applies."""
    from asbb_core.values.errors import NotFoundError
    from asbb_core.values.text import validate_partition_name

    part = validate_partition_name(partition)
    with opened(ctx) as bank:
        if all(c.partition != part for c in bank.ledger.partition_limits(account)):
            raise NotFoundError(
                f"account {account!r} has no limit on partition {part!r}",
                field="partition",
            )
        bank.ledger.set_partition_limit(account, partition, None, ctx=cli_context())
    stdout().print(f"removed the limit on partition {part} of account {account}")


def register(root: typer.Typer) -> None:
    """Add this module's commands to the ``asbb`` app."""
    root.add_typer(account_app, name="account")
    root.add_typer(partition_app, name="partition-limit")
