"""``asbb adjust``: adjustment requests with maker-checker (one person asks, another approves).

Who acts is the login of the process's real uid, the same person in the CLI and the console
(``asbb_core.access.identity``); no environment variable changes it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from asbb_tui.cli_base import (
    Column,
    CsvOption,
    JsonOption,
    check_output,
    cli_actor,
    emit_record,
    emit_rows,
    opened,
    page_hint,
    stderr,
    stdout,
)

if TYPE_CHECKING:
    from asbb_core.store.models import AdjustmentRequest

KINDS = "credit, debit, limit, transfer, refund, hold_release"
STATUSES = "pending, approved, rejected, cancelled"

app = typer.Typer(
    help=(
        "Adjustment requests with maker-checker: a credit, debit, new limit, transfer, refund "
        "or hold release is asked for by one administrator and applied only when another "
        "approves it. You act as your login (the real uid's), in the CLI and the console alike."
    ),
    no_args_is_help=True,
)

IdArg = Annotated[
    int, typer.Argument(metavar="ID", help="The request's id (see: asbb adjust list).", min=1)
]

LIST_COLUMNS = [
    Column("id"),
    Column("kind"),
    Column("account"),
    Column("target_account", "to"),
    Column("amount", money=True),
    Column("status"),
    Column("requested_by", "requested by"),
    Column("requested_at", "requested at"),
    Column("decided_by", "decided by"),
    Column("reason"),
]
RECORD_COLUMNS = [
    Column("id"),
    Column("kind"),
    Column("account"),
    Column("target_account", "to account"),
    Column("hold_id", "hold"),
    Column("partition"),
    Column("amount", money=True),
    Column("needs_confirmation", "needs confirmation"),
    Column("reason"),
    Column("status"),
    Column("requested_by", "requested by"),
    Column("requested_at", "requested at"),
    Column("decided_by", "decided by"),
    Column("decided_at", "decided at"),
    Column("decision_reason", "decision reason"),
    Column("correlation_id", "journal correlation id"),
]


def _emit(row: AdjustmentRequest, *, as_json: bool, as_csv: bool, title: str) -> None:
    from asbb_core.funding.views import AdjustmentView

    emit_record(AdjustmentView.of(row), RECORD_COLUMNS, as_json=as_json, as_csv=as_csv, title=title)


def emit_pending(
    row: AdjustmentRequest, what: str, *, as_json: bool, as_csv: bool, to_stderr: bool = False
) -> None:
    """What a person's movement became while approval is required: the pending request, and
    how another person approves it (JSON and CSV: the request itself, ``status: pending``).
    ``to_stderr``: a note beside a command's own output (an account shown after it opened)."""
    from asbb_core.funding.views import AdjustmentView

    if as_json or as_csv:
        emit_record(AdjustmentView.of(row), RECORD_COLUMNS, as_json=as_json, as_csv=as_csv)
        return
    (stderr() if to_stderr else stdout()).print(
        f"approval required: {what} is adjustment request #{row.id} (pending); nothing "
        f"moved. Another person approves it with: asbb adjust approve {row.id}",
        soft_wrap=True,
        markup=False,
    )


@app.command("request")
def request(
    ctx: typer.Context,
    kind: Annotated[str, typer.Argument(metavar="KIND", help=f"One of {KINDS}.")],
    account: Annotated[str, typer.Argument(metavar="ACCOUNT", help="The account it applies to.")],
    amount: Annotated[
        str | None,
        typer.Argument(
            metavar="AMOUNT",
            help="credit, debit, transfer, refund: the amount, e.g. 250.00; limit: the new "
            "limit; hold_release: none (the hold's remainder is released).",
            show_default=False,
        ),
    ] = None,
    reason: Annotated[
        str, typer.Option("--reason", metavar="TEXT", help="Why (required; kept in the journal).")
    ] = "",
    to: Annotated[
        str | None,
        typer.Option("--to", metavar="ACCOUNT", help="transfer: the account the money goes to."),
    ] = None,
    hold: Annotated[
        str | None, typer.Option("--hold", metavar="HOLD_ID", help="hold_release: the hold.")
    ] = None,
    partition: Annotated[
        str | None,
        typer.Option(
            "--partition", metavar="P", help="refund: the partition whose usage is corrected."
        ),
    ] = None,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Ask for an adjustment. It is checked in full now, stored as pending, and moves nothing
    until another administrator approves it.

    Examples: `asbb adjust request credit physics 250 --reason "new grant"`,
    `asbb adjust request transfer physics 100 --to chem --reason "shared run"`,
    `asbb adjust request hold_release physics --hold H --reason "job lost"`.
    """
    check_output(as_json, as_csv)
    with opened(ctx) as bank:
        row = bank.approvals.request(
            kind,
            account,
            amount,
            requested_by=cli_actor(),
            reason=reason,
            target_account=to,
            hold_id=hold,
            partition=partition,
        )
    _emit(row, as_json=as_json, as_csv=as_csv, title=f"adjustment request #{row.id} (pending)")
    if not (as_json or as_csv):
        stderr().print(f"another administrator approves it with: asbb adjust approve {row.id}")


@app.command("list")
def list_(
    ctx: typer.Context,
    status: Annotated[
        str | None,
        typer.Option(
            "--status", metavar="STATUS", help=f"Only requests in this status: {STATUSES}."
        ),
    ] = None,
    account: Annotated[
        str | None,
        typer.Option("--account", metavar="A", help="Only requests touching this account."),
    ] = None,
    search: Annotated[
        str | None,
        typer.Option(
            "--search",
            metavar="TEXT",
            help="Only requests whose accounts, kind, requester, decider or reason contain it.",
        ),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", metavar="N", help="At most N (1-1000).")] = 50,
    offset: Annotated[
        int, typer.Option("--offset", metavar="N", help="Skip the N newest first (paging).")
    ] = 0,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """List adjustment requests, newest first."""
    check_output(as_json, as_csv)
    with opened(ctx) as bank:
        approvals = bank.approvals
        rows = approvals.list(
            status=status, account=account, search=search, limit=limit, offset=offset
        )
        total = approvals.count(status=status, account=account, search=search)
    from asbb_core.funding.views import AdjustmentView

    emit_rows(
        [AdjustmentView.of(r) for r in rows],
        LIST_COLUMNS,
        as_json=as_json,
        as_csv=as_csv,
        title="adjustment requests",
        empty="no adjustment requests (ask for one: asbb adjust request ...)",
    )
    if not (as_json or as_csv):
        page_hint("adjustment requests", offset=offset, shown=len(rows), total=total)


@app.command("show")
def show(
    ctx: typer.Context, request_id: IdArg, as_json: JsonOption = False, as_csv: CsvOption = False
) -> None:
    """Show one request: what it asks, who asked, and its decision."""
    check_output(as_json, as_csv)
    with opened(ctx) as bank:
        row = bank.approvals.get(request_id)
    _emit(row, as_json=as_json, as_csv=as_csv, title=f"adjustment request #{row.id}")


@app.command("approve")
def approve(
    ctx: typer.Context,
    request_id: IdArg,
    reason: Annotated[
        str, typer.Option("--reason", metavar="TEXT", help="Why you approve (optional).")
    ] = "",
    confirm: Annotated[
        str | None,
        typer.Option(
            "--confirm",
            metavar="ACCOUNT",
            help="The account's name, required when the amount is above approvals.confirm_above "
            "(the request shows 'needs confirmation: True').",
        ),
    ] = None,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Approve a pending request: its movement is applied and the request marked approved,
    both in one transaction.

    You may not approve your own request (another administrator must, unless
    approvals.require_approval is off). If the ledger refuses the movement (say, a debit above
    what is available) the request stays pending.
    """
    from asbb_core.values.context import Source

    check_output(as_json, as_csv)
    with opened(ctx) as bank:
        row = bank.approvals.approve(
            request_id, approver=cli_actor(), reason=reason, confirm=confirm, source=Source.CLI
        )
    _emit(row, as_json=as_json, as_csv=as_csv, title=f"approved adjustment request #{row.id}")


@app.command("reject")
def reject(
    ctx: typer.Context,
    request_id: IdArg,
    reason: Annotated[
        str, typer.Option("--reason", metavar="TEXT", help="Why (required; the requester sees it).")
    ] = "",
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Turn a pending request down. Nothing moves. Its requester cancels instead."""
    check_output(as_json, as_csv)
    with opened(ctx) as bank:
        row = bank.approvals.reject(request_id, approver=cli_actor(), reason=reason)
    _emit(row, as_json=as_json, as_csv=as_csv, title=f"rejected adjustment request #{row.id}")


@app.command("cancel")
def cancel(
    ctx: typer.Context,
    request_id: IdArg,
    reason: Annotated[
        str, typer.Option("--reason", metavar="TEXT", help="Why you withdraw it (optional).")
    ] = "",
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Withdraw your own pending request. Nothing moves; only its requester may."""
    check_output(as_json, as_csv)
    with opened(ctx) as bank:
        row = bank.approvals.cancel(request_id, cli_actor(), reason=reason)
    _emit(row, as_json=as_json, as_csv=as_csv, title=f"cancelled adjustment request #{row.id}")


def register(root: typer.Typer) -> None:
    """Add ``asbb adjust ...`` to the ``asbb`` app."""
    root.add_typer(app, name="adjust")
