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
    stdout,
)

if TYPE_CHECKING:
    from asbb_core.alerts.conditions import AlertRecord
    from asbb_core.store.models import AlertDelivery

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


ALERT_KEYS = (
    "id", "kind", "severity", "status", "dedup_key", "account", "grant", "title", "message",
    "details", "opened_at", "last_seen_at", "acknowledged_by", "acknowledged_at",
    "resolved_by", "resolved_at", "resolution",
)  # fmt: skip
"""AlertRecord.to_dict()'s keys, in order: the CSV header of 'list', 'ack' and 'resolve'
('show' adds 'deliveries')."""

LIST_TABLE = [
    Column("id"),
    Column("shown_severity", "severity"),
    Column("status"),
    Column("kind"),
    Column("subject", "account"),
    Column("title"),
    Column("opened", "opened"),
    Column("last_seen", "last seen"),
]


def _when(value: object) -> str:
    from datetime import datetime

    return value.strftime("%Y-%m-%d %H:%M") if isinstance(value, datetime) else ""


def _severity(value: str) -> str:
    return f"[{_STYLE.get(value, '')}]{value}[/]" if value in _STYLE else value


def _status_line(record: AlertRecord) -> str:
    a = record.alert
    if a.status == "acknowledged":
        return f"acknowledged by {a.acknowledged_by} at {_when(a.acknowledged_at)}"
    if a.status == "resolved":
        return f"resolved by {a.resolved_by} at {_when(a.resolved_at)}: {a.resolution}"
    return "open"


def _list_row(record: AlertRecord) -> dict[str, Any]:
    """The alert's JSON fields plus the table's cells."""
    a = record.alert
    return {
        **record.to_dict(),
        "shown_severity": _severity(str(a.severity)),
        "subject": record.account or record.grant or "",
        "opened": _when(a.opened_at),
        "last_seen": _when(a.last_seen_at),
    }


def _delivery_dict(d: AlertDelivery) -> dict[str, Any]:
    return {
        "id": d.id,
        "channel": d.channel,
        "event": d.event,
        "status": str(d.status),
        "attempts": d.attempts,
        "next_attempt_at": d.next_attempt_at.isoformat(),
        "last_error": d.last_error,
        "created_at": d.created_at.isoformat(),
        "sent_at": d.sent_at.isoformat() if d.sent_at else None,
    }


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

    Example: `asbb alerts list --status open --severity critical`"""
    check_output(as_json, as_csv)
    with opened(ctx) as bank:
        service = bank.alerts
        filters = {
            "status": status.value if status else None,
            "severity": severity.value if severity else None,
            "kind": kind.value if kind else None,
            "account": account,
        }
        rows = service.list_alerts(**filters, limit=limit, offset=offset)
        total = service.count_alerts(**filters)
    emit_rows(
        [_list_row(r) for r in rows],
        columns(*ALERT_KEYS) if as_csv else LIST_TABLE,
        as_json=as_json,
        as_csv=as_csv,
        title=f"alerts ({len(rows)} of {total})",
        empty="no alerts" if not total else f"no alerts on this page ({total} in all)",
        json_data={
            "items": [r.to_dict() for r in rows],
            "total": total,
            "limit": limit,
            "offset": offset,
        },
    )


@app.command("show")
def show_alert(
    ctx: typer.Context, alert_id: AlertArg, as_json: JsonOption = False, as_csv: CsvOption = False
) -> None:
    """One alert: its figures, who acknowledged or resolved it, and its deliveries."""
    check_output(as_json, as_csv)
    with opened(ctx) as bank:
        service = bank.alerts
        record = service.get_alert(alert_id)
        deliveries = service.deliveries(alert_id)
    if as_json or as_csv:
        data = record.to_dict()
        data["deliveries"] = [_delivery_dict(d) for d in deliveries]
        emit_record(data, columns(*ALERT_KEYS, "deliveries"), as_json=as_json, as_csv=as_csv)
        return
    a = record.alert
    out = stdout()
    head = Table(
        title=f"alert #{record.id}: {a.title}", show_header=False, box=None, padding=(0, 2)
    )
    head.add_column(style="bold")
    head.add_column(overflow="fold")
    head.add_row("severity", _severity(str(a.severity)))
    head.add_row("status", _status_line(record))
    head.add_row("kind", a.kind)
    head.add_row("key", a.dedup_key)
    if record.account:
        head.add_row("account", record.account)
    if record.grant:
        head.add_row("grant", record.grant)
    head.add_row("message", a.message)
    head.add_row("opened", _when(a.opened_at))
    head.add_row("last seen", _when(a.last_seen_at))
    for key, value in (a.details or {}).items():
        head.add_row(f"  {key}", str(value))
    out.print(head)
    if deliveries:
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
        for d in deliveries:
            table.add_row(
                d.channel,
                d.event,
                str(d.status),
                str(d.attempts),
                _when(d.next_attempt_at) if d.status == "pending" else "",
                _when(d.sent_at),
                d.last_error,
            )
        out.print(table)


@app.command("ack")
def acknowledge(
    ctx: typer.Context,
    alert_id: AlertArg,
    note: Annotated[
        str, typer.Option("--note", metavar="TEXT", help="Why, or what you are doing about it.")
    ] = "",
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Acknowledge an open alert: it stays active (nothing new is raised while its condition
    lasts) and still clears by itself when the condition ends.

    Example: `asbb alerts ack 12 --note "asked the PI for more budget"`"""
    check_output(as_json, as_csv)
    with opened(ctx) as bank:
        record = bank.alerts.acknowledge(alert_id, cli_actor(), note=note)
    if as_json or as_csv:
        emit_record(record.to_dict(), columns(*ALERT_KEYS), as_json=as_json, as_csv=as_csv)
        return
    stdout().print(f"alert {record.id} acknowledged by {record.alert.acknowledged_by}")


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
    check_output(as_json, as_csv)
    with opened(ctx) as bank:
        record = bank.alerts.resolve(alert_id, cli_actor(), note)
    if as_json or as_csv:
        emit_record(record.to_dict(), columns(*ALERT_KEYS), as_json=as_json, as_csv=as_csv)
        return
    stdout().print(f"alert {record.id} resolved by {record.alert.resolved_by}: {note}")


@app.command("evaluate")
def evaluate(ctx: typer.Context, as_json: JsonOption = False, as_csv: CsvOption = False) -> None:
    """Evaluate every alert condition now (the daemon also does it on a timer): open new
    alerts, update those still holding, resolve those whose condition cleared. Safe beside
    the daemon. --json and --csv give the alert ids in each group."""
    check_output(as_json, as_csv)
    with opened(ctx) as bank:
        summary = bank.alerts.evaluate()
    if as_json or as_csv:
        record = summary.to_dict()
        emit_record(record, columns(*record), as_json=as_json, as_csv=as_csv)
    else:
        stdout().print(
            f"{len(summary.opened)} opened, {len(summary.still_open)} still open, "
            f"{len(summary.resolved)} resolved"
        )
    if summary.failed:
        fail(
            "some alert checks failed (their alerts were left as they were): "
            + "; ".join(f"{kind}: {error}" for kind, error in summary.failed.items())
        )


@app.command("deliver")
def deliver(ctx: typer.Context, as_json: JsonOption = False, as_csv: CsvOption = False) -> None:
    """Send the due webhook and email notices now (the daemon also does it on a timer).
    Failures are recorded and retried later with doubling waits. Safe beside the daemon:
    each notice is sent once. --json and --csv give the delivery ids in each group."""
    from asbb_core.alerts.delivery import DeliveryService

    check_output(as_json, as_csv)
    with opened(ctx) as bank:
        report = DeliveryService(bank.db, bank.settings).deliver_due()
    if as_json or as_csv:
        record = report.to_dict()
        emit_record(record, columns(*record), as_json=as_json, as_csv=as_csv)
        return
    stdout().print(
        f"{len(report.sent)} sent, {len(report.retrying)} to retry, "
        f"{len(report.failed)} given up"
        + (f", {report.skipped} taken by another dispatcher" if report.skipped else "")
    )
