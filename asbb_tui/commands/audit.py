"""``asbb audit``: the audit trail of every change that is not money (money is the journal's:
``asbb transactions list``)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from asbb_tui.cli_base import (
    Column,
    CsvOption,
    JsonOption,
    check_output,
    emit_rows,
    ledger_today,
    opened,
    stderr,
)

app = typer.Typer(
    help=(
        "The audit trail: who changed an account's status, description or dates, a partition "
        "limit, a token (and more), when, from where, before and after. Append-only."
    ),
    no_args_is_help=True,
)

TABLE_COLUMNS = [
    Column("id"),
    Column("at", "time"),
    Column("actor", fold=True),
    Column("subject", fold=True),
    Column("change", fold=True),
]
CSV_COLUMNS = [
    Column("id"),
    Column("at"),
    Column("actor"),
    Column("source"),
    Column("action"),
    Column("subject"),
    Column("before"),
    Column("after"),
    Column("correlation_id"),
]


def _option(help_text: str, *names: str, metavar: str | None = None) -> Any:
    return typer.Option(*names, help=help_text, metavar=metavar, show_default=False)


@app.command("list")
def list_events(
    ctx: typer.Context,
    subject: Annotated[
        str | None,
        _option(
            "Only this subject (account:physics, token:ops) or kind (account, grant, token).",
            "--subject",
            metavar="SUBJECT",
        ),
    ] = None,
    actor: Annotated[
        str | None, _option("Only changes by this actor.", "--actor", metavar="NAME")
    ] = None,
    action: Annotated[
        str | None, _option("Only this action, e.g. account.update.", "--action", metavar="ACTION")
    ] = None,
    since: Annotated[
        str | None,
        _option(
            "From this day on: YYYY-MM-DD, today, or a span back (30d).", "--since", metavar="DAY"
        ),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=1000, metavar="N", help="Rows per page.")
    ] = 100,
    before_id: Annotated[
        int | None,
        typer.Option("--before-id", min=1, metavar="ID", help="Older than this id (next page)."),
    ] = None,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Changes, newest first. `asbb audit list --subject account:physics` shows who
    suspended, renamed or re-dated an account; JSON: {"items": [...], "next_before_id": N}."""
    from datetime import UTC, datetime, time

    from asbb_core.store import audit
    from asbb_core.values.periods import parse_since

    check_output(as_json, as_csv)
    with opened(ctx) as bank:
        start = None
        if since is not None:
            day = parse_since(since, field="since", today=ledger_today(bank.ledger))
            start = datetime.combine(day, time(), tzinfo=UTC)
        page = audit.list_events(
            bank.db,
            subject=subject,
            actor=actor,
            action=action,
            since=start,
            before_id=before_id,
            limit=limit,
        )
    view = audit.AuditPageView.of(page)
    table = as_json or as_csv
    emit_rows(
        view.items
        if table
        else [
            {**e.values(), "change": audit.summary(e.action, e.before, e.after)} for e in view.items
        ],
        CSV_COLUMNS if as_csv else TABLE_COLUMNS,
        as_json=as_json,
        as_csv=as_csv,
        title="audit trail",
        empty="no changes match",
        json_data=view,
        minutes=True,
    )
    if page.next_before_id is not None and not as_json and not as_csv:
        stderr().print(f"more changes: --before-id {page.next_before_id}")
