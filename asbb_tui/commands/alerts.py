"""``asbb alerts``: list, show, acknowledge and resolve alerts; evaluate and deliver on demand.

Output: a table by default; ``--json`` for scripts; ``--csv`` has the JSON's top-level keys as
its header (nested values such as an alert's details as JSON text).
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
    cli_actor,
    columns,
    emit_record,
    emit_rows,
    fail,
    opened,
    print_table,
    stdout,
)

if TYPE_CHECKING:
    from datetime import datetime

    from asbb_core.alerts.views import AlertView
    from asbb_core.values.wire import View

app = typer.Typer(
    help=(
        "Alerts: usage thresholds, overspending, projected exhaustion, grant periods ending "
        "with money left, stuck holds, spool backlog. Each fires once per breach and clears "
        "by itself when its condition ends. Acknowledge an alert to silence it; resolving one "
        "whose condition still holds makes the next evaluation open a fresh one."
    ),
    no_args_is_help=True,
)


class StatusChoice(StrEnum):
    """asbb_core.store.models.AlertStatus's values (not imported here: it would slow every
    command).
    """

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class SeverityChoice(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class KindChoice(StrEnum):
    USAGE = "usage"
    VARIANCE = "variance"
    EXHAUSTION = "exhaustion"
    GRANT_PERIOD = "grant-period"
    STUCK_HOLDS = "stuck-holds"
    SPOOL_BACKLOG = "spool-backlog"


AlertArg = Annotated[int, typer.Argument(metavar="ID", help="The alert's id.", min=1)]
_STYLE = {"info": "cyan", "warning": "yellow", "critical": "bold red"}


LIST_TABLE = [
    Column("id"),
    Column("severity"),
    Column("status"),
    Column("kind"),
    Column("subject", "account"),
    Column("title"),
    Column("opened_at", "opened"),
    Column("last_seen_at", "last seen"),
]
"""The table of 'list'; --csv has every field of the view (``AlertView``), --json the page."""


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value is not None else ""


def _severity(value: str) -> str:
    return f"[{_STYLE.get(value, '')}]{value}[/]" if value in _STYLE else value


def _status_line(alert: AlertView) -> str:
    if alert.status == "acknowledged":
        return f"acknowledged by {alert.acknowledged_by} at {_when(alert.acknowledged_at)}"
    if alert.status == "resolved":
        when = _when(alert.resolved_at)
        return f"resolved by {alert.resolved_by} at {when}: {alert.resolution}"
    return "open"


def _table_row(alert: AlertView) -> dict[str, Any]:
    """The alert's values plus the table's own cells (a coloured severity, its subject)."""
    return {
        **alert.values(),
        "severity": _severity(alert.severity),
        "subject": alert.account or alert.grant or "",
    }


def _fields(view: type[View]) -> list[Column]:
    """A view's fields as CSV columns, in order."""
    return columns(*view.model_fields)


@app.command("list")
def list_alerts(
    ctx: typer.Context,
    status: Annotated[
        StatusChoice | None,
        typer.Option("--status", help="Only alerts in this state.", show_default=False),
    ] = None,
    severity: Annotated[
        SeverityChoice | None,
        typer.Option("--severity", help="Only alerts of this severity.", show_default=False),
    ] = None,
    kind: Annotated[
        KindChoice | None,
        typer.Option("--kind", help="Only alerts of this kind.", show_default=False),
    ] = None,
    account: Annotated[
        str | None,
        typer.Option(
            "--account", metavar="A", help="Only this account's alerts.", show_default=False
        ),
    ] = None,
    grant: Annotated[
        str | None,
        typer.Option(
            "--grant",
            metavar="NUMBER",
            help="Only this grant's alerts and those of the accounts it funds.",
            show_default=False,
        ),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=1000, help="Page size: at most this many alerts.")
    ] = 50,
    offset: Annotated[
        int, typer.Option("--offset", min=0, help="Alerts to skip (the next page: --offset 50).")
    ] = 0,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """List alerts, newest first, a page at a time (--json adds the total for paging).

    Example: `asbb alerts list --status open --severity critical`, `asbb alerts list
    --grant NSF-2025-12345`"""
    from asbb_core.alerts.views import AlertPage, AlertView

    check_output(as_json, as_csv)
    with opened(ctx) as bank:
        service = bank.alerts
        filters = {
            "status": status.value if status else None,
            "severity": severity.value if severity else None,
            "kind": kind.value if kind else None,
            "account": account,
            "grant": grant,
        }
        rows = service.list_alerts(**filters, limit=limit, offset=offset)
        total = service.count_alerts(**filters)
    page = AlertPage(items=[AlertView.of(r) for r in rows], total=total, limit=limit, offset=offset)
    if as_json or as_csv:
        emit_rows(page.items, _fields(AlertView), as_json=as_json, as_csv=as_csv, json_data=page)
        return
    emit_rows(
        [_table_row(a) for a in page.items],
        LIST_TABLE,
        title=f"alerts ({len(rows)} of {total})",
        empty="no alerts" if not total else f"no alerts on this page ({total} in all)",
        minutes=True,
    )


@app.command("show")
def show_alert(
    ctx: typer.Context, alert_id: AlertArg, as_json: JsonOption = False, as_csv: CsvOption = False
) -> None:
    """One alert: its figures, who acknowledged or resolved it, and its deliveries."""
    from asbb_core.alerts.views import AlertDetailView

    check_output(as_json, as_csv)
    with opened(ctx) as bank:
        service = bank.alerts
        view = AlertDetailView.of_detail(service.get_alert(alert_id), service.deliveries(alert_id))
    if as_json or as_csv:
        emit_record(view, _fields(AlertDetailView), as_json=as_json, as_csv=as_csv)
        return
    out = stdout()
    head = Table(
        title=f"alert #{view.id}: {view.title}", show_header=False, box=None, padding=(0, 2)
    )
    head.add_column(style="bold")
    head.add_column(overflow="fold")
    head.add_row("severity", _severity(view.severity))
    head.add_row("status", _status_line(view))
    head.add_row("kind", view.kind)
    head.add_row("key", view.dedup_key)
    if view.account:
        head.add_row("account", view.account)
    if view.grant:
        head.add_row("grant", view.grant)
    head.add_row("message", view.message)
    head.add_row("opened", _when(view.opened_at))
    head.add_row("last seen", _when(view.last_seen_at))
    for key, value in view.details.items():
        head.add_row(f"  {key}", str(value))
    out.print(head)
    if view.deliveries:
        table = Table(
            "channel",
            "event",
            "status",
            "attempts",
            "next attempt",
            "sent",
            "error",
            title="deliveries",
        )
        for d in view.deliveries:
            table.add_row(
                d.channel,
                d.event,
                d.status,
                str(d.attempts),
                _when(d.next_attempt_at) if d.status == "pending" else "",
                _when(d.sent_at),
                d.last_error,
            )
        print_table(table, out)


@app.command("ack")
def acknowledge(
    ctx: typer.Context,
    alert_id: AlertArg,
    note: Annotated[
        str,
        typer.Option(
            "--note", "--notes", metavar="TEXT", help="Why, or what you are doing about it."
        ),
    ] = "",
    for_whom: Annotated[
        str | None,
        typer.Option(
            "--user",
            metavar="NAME",
            help="Whom you acknowledge it for (kept in the note; the one who acknowledges is "
            "always your login).",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Acknowledge an open alert: it stays active (nothing new is raised while its condition
    lasts) and still clears by itself when the condition ends.

    Example: `asbb alerts ack 12 --note "asked the PI for more budget"`. The original tool's
    `asbb alerts acknowledge 12 --user="Dr. Smith" --notes="..."` works too; its --user is
    kept in the note ("for Dr. Smith: ..."), since who acknowledges is your real login."""
    from asbb_core.alerts.views import AlertView

    check_output(as_json, as_csv)
    if for_whom is not None and for_whom.strip():
        note = f"for {for_whom.strip()}: {note}" if note.strip() else f"for {for_whom.strip()}"
    with opened(ctx) as bank:
        view = AlertView.of(bank.alerts.acknowledge(alert_id, cli_actor(), note=note))
    if as_json or as_csv:
        emit_record(view, _fields(AlertView), as_json=as_json, as_csv=as_csv)
        return
    stdout().print(f"alert {view.id} acknowledged by {view.acknowledged_by}")


# The original tool's name for 'ack'.
app.command("acknowledge", help="The same as 'asbb alerts ack' (the original tool's name).")(
    acknowledge
)


@app.command("resolve")
def resolve(
    ctx: typer.Context,
    alert_id: AlertArg,
    note: Annotated[
        str, typer.Option("--note", metavar="TEXT", help="Why it is resolved (required).")
    ],
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Resolve an alert by hand. If its condition still holds, the next evaluation opens a
    fresh alert: use 'asbb alerts ack' to silence one instead.

    Example: `asbb alerts resolve 12 --note "limit raised to 5000"`"""
    from asbb_core.alerts.views import AlertView

    check_output(as_json, as_csv)
    with opened(ctx) as bank:
        view = AlertView.of(bank.alerts.resolve(alert_id, cli_actor(), note))
    if as_json or as_csv:
        emit_record(view, _fields(AlertView), as_json=as_json, as_csv=as_csv)
        return
    stdout().print(f"alert {view.id} resolved by {view.resolved_by}: {note}")


@app.command("evaluate")
def evaluate(ctx: typer.Context, as_json: JsonOption = False, as_csv: CsvOption = False) -> None:
    """Evaluate every alert condition now (the daemon also does it on a timer): open new
    alerts, update those still holding, resolve those whose condition cleared. Safe beside
    the daemon. --json and --csv give the alert ids in each group."""
    from asbb_core.alerts.views import EvaluationView

    check_output(as_json, as_csv)
    with opened(ctx) as bank:
        view = EvaluationView.of(bank.alerts.evaluate())
    if as_json or as_csv:
        emit_record(view, _fields(EvaluationView), as_json=as_json, as_csv=as_csv)
    else:
        stdout().print(
            f"{len(view.opened)} opened, {len(view.still_open)} still open, "
            f"{len(view.resolved)} resolved"
        )
    if view.failed:
        fail(
            "some alert checks failed (their alerts were left as they were): "
            + "; ".join(f"{kind}: {error}" for kind, error in view.failed.items())
        )


@app.command("deliver")
def deliver(ctx: typer.Context, as_json: JsonOption = False, as_csv: CsvOption = False) -> None:
    """Send the due webhook and email notices now (the daemon also does it on a timer).
    Failures are recorded and retried later with doubling waits. Safe beside the daemon:
    each notice is sent once. --json and --csv give the delivery ids in each group."""
    from asbb_core.alerts.delivery import DeliveryService
    from asbb_core.alerts.views import DeliveryReportView

    check_output(as_json, as_csv)
    with opened(ctx) as bank:
        view = DeliveryReportView.of(DeliveryService(bank.db, bank.settings).deliver_due())
    if as_json or as_csv:
        emit_record(view, _fields(DeliveryReportView), as_json=as_json, as_csv=as_csv)
        return
    stdout().print(
        f"{len(view.sent)} sent, {len(view.retrying)} to retry, "
        f"{len(view.failed)} given up"
        + (f", {view.skipped} taken by another dispatcher" if view.skipped else "")
    )
