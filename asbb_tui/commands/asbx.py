"""``asbb asbx``: ingest aws-slurm-burst's cost exports now, and show the integration's state.

The daemon ingests ``asbx.spool_dir`` every ``asbx.interval_seconds`` by itself; ``ingest``
is for a host without the daemon, a first import of a backlog, or an admin who has moved a
rejected file back after fixing it. Both are safe beside the daemon (one ingest per folder at
a time; a report applied twice moves the money once).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from asbb_tui.cli_base import JsonOption, cli_actor, fail, opened, print_json, progress_bar, stdout

app = typer.Typer(
    help=(
        "aws-slurm-burst's cost exports (`job-<id>-asbb-reconciliation.json` in asbx.spool_dir): "
        "each charged once as the job's real cost, then moved to processed/ (bad ones to "
        "rejected/ with a .reason file)."
    ),
    no_args_is_help=True,
)

FolderOption = Annotated[
    Path | None,
    typer.Option("--dir", metavar="DIR", help="The export folder (default: asbx.spool_dir)."),
]


@app.command("ingest")
def ingest(
    ctx: typer.Context,
    folder: FolderOption = None,
    link_wait: Annotated[
        str | None,
        typer.Option(
            "--link-wait",
            metavar="AGE",
            help="Move a file aside when its job's hold is still not found after this long "
            "(e.g. 1h; default: asbx.link_wait_seconds).",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Apply every export file in the folder now (exit 1 if any was rejected)."""
    from asbb_core.integrations.cost_reports import (
        ingest_folder,
        report_files,
        slurm_lookup,
    )
    from asbb_core.integrations.slurm import Slurm
    from asbb_core.values.durations import parse_duration

    with opened(ctx, cost_lookup=slurm_lookup(Slurm(timeout=10))) as bank:
        where = folder or Path(bank.settings.asbx.spool_dir)
        if not where.is_dir():
            fail(f"{where} is not a folder (asbx.spool_dir, or --dir)")
        wait = (
            parse_duration(link_wait, field="link-wait").total_seconds()
            if link_wait
            else bank.settings.asbx.link_wait_seconds
        )
        with progress_bar("ingesting", disable=as_json) as progress:
            task = progress.add_task("", total=len(report_files(where)))
            result = ingest_folder(
                where,
                bank.cost_reports,
                actor=cli_actor(),
                link_wait_seconds=wait,
                on_item=lambda name, _: progress.update(task, advance=1, description=name),
            )
    if as_json:
        print_json(result.to_dict())
    else:
        out = stdout()
        if not (result.applied or result.rejected or result.waiting):
            out.print(f"no export files in {where}")
        table = Table("file", "result", "detail", title=str(where), show_lines=False)
        for name, outcome in result.applied:
            table.add_row(name, outcome, "")
        for name, reason in result.rejected:
            table.add_row(name, "[red]rejected[/]", reason)
        for name, why in result.waiting:
            table.add_row(name, "[yellow]waiting[/]", why)
        if table.rows:
            out.print(table)
        if result.stopped:
            out.print(f"[yellow]stopped:[/] {result.stopped}")
    if result.rejected:
        raise typer.Exit(1)


@app.command("status")
def status(ctx: typer.Context, folder: FolderOption = None, as_json: JsonOption = False) -> None:
    """Files waiting, processed and rejected, and the cost reports applied by outcome."""
    from asbb_core.integrations.cost_reports import (
        PROCESSED,
        REJECTED,
        count_files,
        report_files,
    )

    with opened(ctx) as bank:
        where = folder or Path(bank.settings.asbx.spool_dir)
        stats = bank.cost_reports.status()
    body = {
        "spool_dir": str(where),
        "exists": where.is_dir(),
        "files_waiting": len(report_files(where)),
        "files_processed": count_files(where, PROCESSED),
        "files_rejected": count_files(where, REJECTED),
        "reports_by_outcome": stats.by_outcome,
        "jobs": stats.jobs,
        "last_received": stats.last_received.isoformat() if stats.last_received else None,
        "cost_model_accuracy": str(stats.accuracy) if stats.accuracy is not None else None,
    }
    if as_json:
        print_json(body)
        return
    table = Table("", "", title="aws-slurm-burst exports", show_header=False)
    for key, value in body.items():
        table.add_row(key.replace("_", " "), str(value))
    stdout().print(table)
