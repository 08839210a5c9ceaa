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
from rich.markup import escape
from rich.table import Table

from asbb_tui.cli_base import (
    JsonOption,
    cli_actor,
    columns,
    emit_record,
    fail,
    opened,
    print_json,
    print_table,
    progress_bar,
    stdout,
)

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
    from asbb_core.integrations.views import IngestView
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
    view = IngestView.of(result)
    if as_json:
        print_json(view.record())
    else:
        out = stdout()
        if not (view.applied or view.rejected or view.waiting):
            out.print(f"no export files in {where}")
        table = Table("file", "result", "detail", title=str(where), show_lines=False)
        for done in view.applied:
            table.add_row(escape(done.file), done.outcome, "")
        for refused in view.rejected:
            table.add_row(escape(refused.file), "[red]rejected[/]", escape(refused.reason))
        for kept in view.waiting:
            table.add_row(escape(kept.file), "[yellow]waiting[/]", escape(kept.reason))
        if table.rows:
            print_table(table, out)
        if view.stopped:
            out.print(f"[yellow]stopped:[/] {escape(view.stopped)}")
    if view.rejected:
        raise typer.Exit(1)


@app.command("status")
def status(ctx: typer.Context, folder: FolderOption = None, as_json: JsonOption = False) -> None:
    """Files waiting, processed and rejected, the cost reports applied by outcome, and what is
    wrong (the same answer as the daemon's GET /api/v1/asbx/status)."""
    from asbb_core.integrations.cost_reports import asbx_status
    from asbb_core.integrations.views import AsbxStatusView

    with opened(ctx) as bank:
        view = AsbxStatusView.of(asbx_status(bank.cost_reports, folder))
    emit_record(
        view, columns(*AsbxStatusView.model_fields), as_json=as_json, title="aws-slurm-burst"
    )
