"""The ``asbb`` command line: a thin front over asbb_core (and the door to the console).

Exit status, for every command: 0 success; 1 an error (one line ``error: ...`` on stderr);
2 a usage error; 3 over budget (``quick-check``); 4 ``ledger verify`` found discrepancies.
JSON output (``--json``) is always valid JSON, with money as strings ("12.50").
"""

from __future__ import annotations

import json
import time
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import platformdirs
import typer
from rich.table import Table

from asbb_tui.cli_base import (
    EXIT_DISCREPANCIES,
    EXIT_USAGE,
    AsbbGroup,
    CliState,
    Column,
    CsvOption,
    DatabaseOption,
    JsonOption,
    OutputOptions,
    check_output,
    cli_actor,
    cli_state,
    columns,
    display_url,
    emit_rows,
    fail,
    iso_time,
    open_bank,
    opened,
    print_json,
    print_table,
    progress_bar,
    read_token_file,
    settings_of,
    stderr,
    stdout,
    use_output,
)
from asbb_tui.commands import (
    accounts,
    adjust,
    alerts,
    allocations,
    analytics,
    asbx,
    audit,
    grants,
    journal,
    reports,
    usage,
    user,
)

if TYPE_CHECKING:
    from asbb_core.demo import DemoSummary
    from asbb_core.settings import Settings


# ---------------------------------------------------------------- plumbing


def _migrate(url: str, revision: str = "head") -> int:
    """Upgrade with a progress bar (on stderr); returns how many revisions were applied."""
    from asbb_core.store.migrate import status, upgrade

    st = status(url)
    docs = dict(st.pending)
    todo = len(st.pending) if revision == "head" else None
    if not st.pending:
        stderr().print(f"database schema is up to date ({st.head})")
        return 0
    applied = 0
    with progress_bar("migrating", transient=False) as progress:
        task = progress.add_task("", total=todo)

        def on_step(rev: str) -> None:
            nonlocal applied
            applied += 1
            progress.update(task, advance=1, description=rev)
            progress.console.print(f"applied {rev}: {docs.get(rev, '')}".rstrip(": "))

        upgrade(url, revision, on_step=on_step)
    stderr().print(f"{applied} revision(s) applied; database is at {revision}")
    return applied


def _open_console(settings: Settings, *, read_only: bool) -> None:
    import sys

    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        # cron, a pipe, `ssh host asbb`: a full-screen app there would draw escape codes
        # into a file or wait for keys that never come.
        typer.echo(
            "error: the console needs a terminal (stdin and stdout are not one); run a "
            "command instead (asbb --help lists them, e.g. asbb status), or over SSH "
            "use ssh -t",
            err=True,
        )
        raise typer.Exit(EXIT_USAGE)
    from asbb_tui.console import AsbbConsole

    bank = open_bank(settings)
    try:
        app = AsbbConsole(
            bank.ledger,
            read_only=read_only,
            database_label=display_url(settings.database.url),
        )
        app.run()
    finally:
        bank.close()


# ---------------------------------------------------------------- the app

app = typer.Typer(
    cls=AsbbGroup,
    name="asbb",
    help=(
        "asbb, the budget bank for Slurm clusters bursting to AWS.\n\n"
        "Without a command it opens the console. Exit status: 0 ok, 1 error, 2 usage error, "
        "3 over budget (quick-check), 4 ledger discrepancies (ledger verify)."
    ),
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)
database_app = typer.Typer(help="Create and upgrade the database schema.")
ledger_app = typer.Typer(help="Inspect and check the ledger.")
config_app = typer.Typer(help="Write, show and validate the settings file.")
app.add_typer(database_app, name="database")
app.add_typer(ledger_app, name="ledger")
app.add_typer(config_app, name="config")
token_app = typer.Typer(help="Issue, list and revoke the daemon's API tokens.")
app.add_typer(token_app, name="token")
app.add_typer(allocations.app, name="allocations")
app.add_typer(grants.app, name="grant")
app.add_typer(reports.app, name="report")
app.add_typer(alerts.app, name="alerts")
app.add_typer(asbx.app, name="asbx")
app.add_typer(audit.app, name="audit")
for _module in (accounts, journal, adjust, usage, user, analytics):
    _module.register(app)


def _print_version(wanted: bool) -> None:
    if wanted:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"asbb {version('asbb')}")
        except PackageNotFoundError:  # run from a checkout that was never installed
            typer.echo("asbb 0+unknown")
        raise typer.Exit()


@app.callback(invoke_without_command=True)
def root(
    ctx: typer.Context,
    database: DatabaseOption = None,
    show_version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print asbb's version and exit.",
            callback=_print_version,
            is_eager=True,
        ),
    ] = False,
    noheader: Annotated[
        bool,
        typer.Option(
            "--noheader",
            "-n",
            help="Lists: no header line (as sacct's --noheader). Lists print plain, whole "
            "values whenever stdout is not a terminal.",
        ),
    ] = False,
    parsable: Annotated[
        bool,
        typer.Option(
            "--parsable",
            "-P",
            help="Lists: fields split by '|', plain amounts (12.50), as sacct's -P.",
        ),
    ] = False,
) -> None:
    """asbb: exact, instant budget holds and charges for Slurm jobs that burst to AWS.

    Run without a command to open the console (on a terminal; elsewhere it says so and
    exits 2).
    """
    ctx.obj = CliState(database_url=database)
    use_output(OutputOptions(noheader=noheader, parsable=parsable))
    if ctx.invoked_subcommand is None:
        _open_console(settings_of(ctx), read_only=False)


@app.command()
def console(
    ctx: typer.Context,
    read_only: Annotated[
        bool, typer.Option("--read-only", help="Look, don't touch: hide every action that writes.")
    ] = False,
) -> None:
    """Open the full-screen console on the configured database: dashboard, accounts,
    approvals, alerts and grants. ':' switches views, '?' lists the keys, 'q' quits."""
    _open_console(settings_of(ctx), read_only=read_only)


# ---------------------------------------------------------------- demo


def demo_database_url() -> str:
    """The demo's own SQLite file, kept apart from the real database."""
    folder = Path(platformdirs.user_data_dir("asbb", appauthor=False))
    return f"sqlite:///{folder / 'demo.sqlite3'}"


def _delete_sqlite(url: str) -> Path | None:
    from sqlalchemy.engine import make_url

    from asbb_core.settings import normalise_database_url

    parsed = make_url(normalise_database_url(url))
    if parsed.get_backend_name() != "sqlite":
        fail(
            "--reset only deletes SQLite files; to reset a PostgreSQL database, drop and "
            "recreate it yourself, then run asbb demo again"
        )
    if not parsed.database or parsed.database == ":memory:":
        fail("--reset needs a SQLite file, not an in-memory database")
    path = Path(parsed.database).expanduser()
    found = path.exists()
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return path if found else None


def _print_summary(summary: DemoSummary, seconds: float) -> None:
    from asbb_core.values.money import format_money

    table = Table(title="demo data", show_header=False, box=None, padding=(0, 2))
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_row("accounts", f"{summary.accounts} ({summary.suspended} suspended)")
    table.add_row("partition limits", str(summary.partition_limits))
    table.add_row("jobs submitted", str(summary.jobs))
    table.add_row("  posted", f"{summary.posted} ({summary.overruns} with an overrun)")
    table.add_row("  voided / expired", f"{summary.voided} / {summary.expired}")
    table.add_row("  still running (open holds)", str(summary.open_holds))
    table.add_row(
        "allocation schedules", f"{summary.schedules} ({summary.instalments} instalments paid)"
    )
    table.add_row("grants", f"{summary.grants} ({summary.grant_draws} draws)")
    table.add_row("alerts open", str(summary.alerts))
    table.add_row("  rejected (budget short)", str(summary.rejected))
    table.add_row(
        "deposits / adjustments / transfers",
        f"{summary.deposits} / {summary.adjustments} / {summary.transfers}",
    )
    table.add_row("journal rows", str(summary.journal_rows))
    table.add_row("total limit", format_money(summary.total_limit))
    table.add_row("total used", format_money(summary.total_used))
    table.add_row("total held", format_money(summary.total_held))
    table.add_row("total available", format_money(summary.total_available))
    out = stdout()
    print_table(table, out)
    out.print(f"seeded {summary.first_day} .. {summary.last_day} in {seconds:.1f}s")


@app.command()
def demo(
    ctx: typer.Context,
    reset: Annotated[
        bool, typer.Option("--reset", help="Delete the (SQLite) demo database first.")
    ] = False,
    no_console: Annotated[
        bool,
        typer.Option("--no-console", help="Seed and print the summary; do not open the console."),
    ] = False,
    database: DatabaseOption = None,
) -> None:
    """Create a demo database: 8 accounts and 90 days of job history, then open the console.

    Uses its own SQLite file in your data folder unless --database (here or before the
    command) names one. A database that already has accounts is never seeded again: the
    console just opens on it (use --reset for a fresh one).
    """
    from asbb_core.demo import DemoClock, seed_demo
    from asbb_core.values.context import utcnow

    url = database or cli_state(ctx).database_url or demo_database_url()
    settings = settings_of(ctx, url)
    url = settings.database.url
    shown = display_url(url)
    if reset:
        deleted = _delete_sqlite(url)
        if deleted is not None:
            stderr().print(f"deleted {deleted}")
    _migrate(url)
    now = utcnow().replace(second=0, microsecond=0)
    bank = open_bank(settings, DemoClock(now))
    try:
        ledger = bank.ledger
        existing = len(ledger.list_accounts())
        if existing:
            stdout().print(
                f"{shown} already holds {existing} account(s): not seeding it again "
                "(asbb demo --reset starts over)."
            )
        else:
            started = time.monotonic()
            with progress_bar("seeding demo data", transient=False) as progress:
                task = progress.add_task("seed", total=None)

                def on_progress(done: int, total: int) -> None:
                    progress.update(task, completed=done, total=total)

                summary = seed_demo(ledger, now=now, on_progress=on_progress)
            _print_summary(summary, time.monotonic() - started)
            stdout().print(f"demo database: {shown}", soft_wrap=True)
            stdout().print(f"try: asbb --database {shown} ledger verify", soft_wrap=True)
        if not no_console:
            bank.close()
            _open_console(settings, read_only=False)
    finally:
        bank.close()


# ---------------------------------------------------------------- database


@database_app.command("migrate")
def database_migrate(
    ctx: typer.Context,
    revision: Annotated[
        str, typer.Option("--revision", metavar="REV", help="Revision to upgrade to.")
    ] = "head",
) -> None:
    """Upgrade the database schema (to the newest revision by default), one step at a time."""
    _migrate(settings_of(ctx).database.url, revision)


@database_app.command("status")
def database_status(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Show the database's schema revision, the newest one, and what is pending.

    Exit status 0 either way; see "up_to_date" in the JSON.
    """
    from asbb_core.store.migrate import status

    url = settings_of(ctx).database.url
    st = status(url)
    if as_json:
        print_json(
            {
                "database": display_url(url),
                "current": st.current,
                "head": st.head,
                "up_to_date": st.up_to_date,
                "pending": [{"revision": r, "description": d} for r, d in st.pending],
            }
        )
        return
    out = stdout()
    out.print(f"database: {display_url(url)}")
    out.print(f"current:  {st.current or '(empty: never migrated)'}")
    out.print(f"head:     {st.head}")
    if st.up_to_date:
        out.print("up to date")
        return
    table = Table("revision", "description", title=f"{len(st.pending)} pending")
    for rev, doc in st.pending:
        table.add_row(rev, doc)
    print_table(table, out)
    out.print("run: asbb database migrate")


# ---------------------------------------------------------------- ledger


@ledger_app.command("verify")
def ledger_verify(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Recompute every cached total from the journal and compare (it never fixes anything).

    Exit status: 0 every invariant holds; 4 discrepancies were found (listed); 1 error.
    """
    from asbb_core.ledger.verify import verify_ledger

    with opened(ctx) as bank:
        report = verify_ledger(bank.db)
    if as_json:
        from asbb_core.ledger.views import VerifyView

        print_json(VerifyView.of(report).record())
    elif report.ok:
        stdout().print(
            f"ledger verified: {report.accounts} accounts, {report.holds} holds, "
            f"{report.journal_rows} journal rows, no discrepancies"
        )
    else:
        table = Table(
            "check",
            "subject",
            "field",
            "journal says",
            "cached",
            title=f"{len(report.problems)} discrepancies",
        )
        for p in report.problems:
            table.add_row(p.check, p.subject, p.field, p.journal, p.cached)
        print_table(table)
    if not report.ok:
        raise typer.Exit(EXIT_DISCREPANCIES)


# ---------------------------------------------------------------- reconcile and recover

DEFAULT_SPOOL = "/var/spool/asbb"


@app.command("reconcile")
def reconcile_job(
    ctx: typer.Context,
    job_id: Annotated[
        str | None, typer.Argument(help="The Slurm job (array task: 1234_5).", show_default=False)
    ] = None,
    hold: Annotated[
        str | None,
        typer.Option(
            "--hold",
            "--transaction",
            metavar="H",
            help="The hold id (asbb:hold=... in AdminComment; the budget check's "
            "transaction_id, hence the original tool's --transaction).",
        ),
    ] = None,
    account: Annotated[
        str | None,
        typer.Option(
            "--account",
            "-A",
            metavar="A",
            help="For a job that ran without a hold (accepted fail-open): the account to charge.",
        ),
    ] = None,
    actual_cost: Annotated[
        str | None,
        typer.Option("--actual-cost", metavar="X", help="The real cost, e.g. 12.50."),
    ] = None,
    elapsed: Annotated[
        str | None,
        typer.Option("--elapsed", metavar="T", help="Price the real run time instead (HH:MM:SS)."),
    ] = None,
    final: Annotated[bool, typer.Option("--final", help="Close a job array's hold now.")] = False,
    replay: Annotated[
        bool, typer.Option("--replay", help="Send the spooled reconciles (in order, once).")
    ] = False,
    spool: Annotated[
        Path,
        typer.Option("--spool", metavar="DIR", help="The epilog's spool folder (with --replay)."),
    ] = Path(DEFAULT_SPOOL),
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            metavar="URL",
            help="Replay through this daemon (default: straight into the database).",
        ),
    ] = None,
    token_file: Annotated[
        Path | None,
        typer.Option("--token-file", metavar="FILE", help="The daemon token (with --url)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Charge a finished job against its hold, or replay the epilog's spool.

    `asbb reconcile 1234 --actual-cost 12.50` charges one job (its hold is read from the
    job's AdminComment through squeue or sacct, or give `--hold H`; a replay of the same
    job and hold charges nothing more). Without a cost, `asbb reconcile 1234` prices the
    job from Slurm's accounting record of it (elapsed time and allocated resources), as
    `asbb recover` would. A job that ran without a hold is charged to `--account A`, once
    per job however the account is spelt. `asbb reconcile --replay [--spool DIR]` sends
    every request the epilog spooled while the daemon was down. Requests refused for good
    are moved to DIR/rejected/ with a .reason file. The original tool's job ids with a
    prefix (job_1234, job-1234) name job 1234.
    """
    if replay:
        if job_id is not None or hold is not None or account is not None:
            fail("give either --replay or JOB_ID --hold H, not both")
        _replay(
            ctx,
            spool,
            url,
            read_token_file(token_file) if token_file is not None else None,
            as_json=as_json,
        )
        return
    if job_id is None:
        fail("give JOB_ID (or --replay)")
    job_id = _unprefixed_job(job_id)
    if hold is not None and account is not None:
        fail("give --hold H or --account A (a job without a hold), not both")
    if hold is None and account is None:
        from asbb_core.integrations.slurm import Slurm

        hold = Slurm().hold_of_job(job_id)
        if hold is None:
            fail(
                f"job {job_id}: no asbb hold found in Slurm's record of it; "
                "give --hold H (the asbb:hold=... of its AdminComment)"
            )
    if actual_cost is not None and elapsed is not None:
        fail("give one of --actual-cost X or --elapsed T, not both")
    if actual_cost is None and elapsed is None:
        if hold is None:
            fail("a job that ran without a hold needs its cost: --actual-cost X or --elapsed T")
        _reconcile_from_slurm(ctx, job_id, hold, as_json=as_json)
        return
    from asbb_core.integrations.spool import reconcile
    from asbb_core.values.context import Source

    body: dict[str, Any] = {"job_id": job_id, "transaction_id": hold}
    if account is not None:
        body["account"] = account
    if actual_cost is not None:
        body["actual_cost"] = actual_cost
    if elapsed is not None:
        body["elapsed"] = elapsed
    if final:
        body["final"] = True
    with opened(ctx) as bank:
        result = reconcile(bank.ledger, body, actor=cli_actor(), source=Source.CLI)
    if as_json:
        from asbb_core.ledger.views import ReconciledView

        print_json(ReconciledView.of(result).record())
        return
    if result.replayed:
        what = "already reconciled; nothing charged again"
    elif result.cost_source == "corrected":  # reconciled before, at another cost
        what = f"charge corrected to {actual_cost}: " + (
            f"charged {result.charged:.2f} more"
            if result.charged
            else f"refunded {result.released:.2f}"
        )
    else:
        what = f"charged {result.charged:.2f}, released {result.released:.2f}"
    stdout().print(
        f"job {job_id} on hold {result.hold_id} ({result.account}): {what}; hold {result.state}"
    )


def _unprefixed_job(job_id: str) -> str:
    """``job_1234`` and ``job-1234`` (the original tool's and aws-slurm-burst's spellings in
    their docs) as Slurm's ``1234``; any other id is kept as given."""
    for prefix in ("job_", "job-"):
        rest = job_id.strip()[len(prefix) :]
        if job_id.strip().lower().startswith(prefix) and rest[:1].isdigit():
            return rest
    return job_id


def _reconcile_from_slurm(ctx: typer.Context, job_id: str, hold: str, *, as_json: bool) -> None:
    """Charge a job at its cost by the local model over what Slurm's accounting says it
    used: the recovery sweep's decision (asbb_core.integrations.recovery) for its one hold,
    once the job is known to have ended and to carry that hold."""
    from datetime import timedelta

    from asbb_core.integrations.recovery import recover
    from asbb_core.integrations.slurm import Slurm
    from asbb_core.integrations.views import RecoveryView

    slurm = Slurm()
    job = slurm.accounting(job_id)
    if job is None:
        fail(
            f"job {job_id}: Slurm's accounting has no record of it (yet); give its cost: "
            "--actual-cost X or --elapsed T"
        )
    if job.hold_id != hold:
        fail(f"job {job_id}: Slurm's record of it names hold {job.hold_id or 'none'}, not {hold}")
    if job.active:
        fail(f"job {job_id} is still {job.state.lower()}: reconcile it once it has ended")
    with opened(ctx) as bank:
        state = bank.ledger.get_hold(hold).state
        if state != "open":
            fail(f"hold {hold} of job {job_id} is already {state}: nothing to reconcile")
        report = recover(
            bank.ledger, slurm, older_than=timedelta(0), actor=cli_actor(), only={hold}
        )
    emit_rows(
        RecoveryView.of(report).actions,
        RECOVERY_COLUMNS,
        as_json=as_json,
        json_data=RecoveryView.of(report),
        title=f"job {job_id}, priced from Slurm's record",
    )


def _replay(
    ctx: typer.Context, spool: Path, url: str | None, token: str | None, *, as_json: bool
) -> None:
    from asbb_core.integrations.files import spool_limits
    from asbb_core.integrations.spool import (
        Sent,
        http_sender,
        ledger_sender,
        replay_spool,
        spooled_files,
    )
    from asbb_core.integrations.views import ReplayView

    if not spool.is_dir():
        fail(f"spool folder {spool} does not exist")
    total = len(spooled_files(spool))
    bank = None
    if url:
        send = http_sender(url, token)
    else:
        bank = open_bank(settings_of(ctx))
        send = ledger_sender(bank.ledger, actor=cli_actor())
    try:
        with progress_bar("replaying", disable=as_json or total == 0, transient=False) as progress:
            task = progress.add_task("", total=total)

            def on_item(path: Path, sent: Sent) -> None:
                progress.update(task, advance=1, description=f"{path.name}: {sent.delivery}")

            limits = spool_limits(settings_of(ctx).daemon)
            report = replay_spool(spool, send, on_item=on_item, limits=limits)
    finally:
        if bank is not None:
            bank.close()
    view = ReplayView.of(report)
    if as_json:
        print_json(view.record())
    else:
        out = stderr()
        out.print(
            f"{len(view.delivered)} delivered, {len(view.rejected)} rejected "
            f"(moved to {spool / 'rejected'}), {view.remaining} waiting"
        )
        for refused in view.rejected:
            out.print(f"rejected {refused.file}: {refused.reason}", markup=False)
    if report.stopped and report.remaining:
        fail(f"replay stopped: {report.stopped}; {report.remaining} request(s) still spooled")


RECOVERY_COLUMNS = [
    Column("hold_id", "hold", fold=True),
    Column("account"),
    Column("job_id", "job"),
    Column("action"),
    Column("amount", money=True),
    Column("reason", fold=True),
]


@app.command("recover")
def recover_holds(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Decide and report; change nothing.")
    ] = False,
    older_than: Annotated[
        str,
        typer.Option(
            "--older-than",
            metavar="AGE",
            help="Only holds (and job ends) older than this, e.g. 10m, 2h.",
        ),
    ] = "10m",
    reconcile_orphaned: Annotated[
        bool,
        typer.Option(
            "--reconcile-orphaned",
            help="The original tool's spelling of what recover always does (accepted).",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Resolve orphan holds from Slurm's record (sacct): charge jobs that ended without a
    reconcile, void holds whose job was cancelled while pending or never existed, expire
    holds past their timeout. Safe to run again, and beside the daemon."""
    del reconcile_orphaned  # what every run does
    from asbb_core.integrations.recovery import recover
    from asbb_core.integrations.slurm import Slurm
    from asbb_core.integrations.views import RecoveryView
    from asbb_core.values.durations import parse_duration

    grace = parse_duration(older_than, field="older-than")
    with opened(ctx) as bank, progress_bar("recovering", disable=as_json) as progress:
        task = progress.add_task("", total=None)
        report = recover(
            bank.ledger,
            Slurm(),
            dry_run=dry_run,
            older_than=grace,
            actor=cli_actor(),
            on_hold=lambda h: progress.update(task, advance=1, description=h.id),
        )
    view = RecoveryView.of(report)
    if not as_json and not view.actions:
        stdout().print(f"nothing to recover ({view.holds_examined} open hold(s) examined)")
        return
    emit_rows(
        view.actions,
        RECOVERY_COLUMNS,
        as_json=as_json,
        json_data=view,
        title="recovery (dry run: nothing changed)" if dry_run else "recovery",
    )


# ---------------------------------------------------------------- config


@config_app.command("init")
def config_init(
    ctx: typer.Context,
    path: Annotated[
        Path | None,
        typer.Option(
            "--path",
            "--output",
            metavar="P",
            help="Where to write (default: $ASBB_CONFIG, else /etc/asbb/config.toml); "
            "--output is the same. TOML, or YAML when the name ends in .yaml or .yml (as the "
            "original tool's config.yaml; the TOML has a comment on every key).",
            show_default=False,
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented settings file with every section and example partitions: TOML, or
    YAML for a name ending in .yaml/.yml. What it writes loads back as the same settings."""
    import os

    from asbb_core.settings import (
        SYSTEM_CONFIG,
        default_database_url,
        normalise_database_url,
        render_config,
        render_config_yaml,
    )

    target = path or Path(os.environ.get("ASBB_CONFIG") or SYSTEM_CONFIG)
    target = target.expanduser()
    as_yaml = target.suffix.lower() in (".yaml", ".yml")  # the original tool's config.yaml
    if target.exists() and not force:
        fail(f"{target} already exists (use --force to overwrite it)")
    url = cli_state(ctx).database_url or default_database_url()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        render = render_config_yaml if as_yaml else render_config
        target.write_text(render(normalise_database_url(url)), encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {target}: {exc.strerror or exc}")
    stdout().print(f"wrote {target}")
    if os.environ.get("ASBB_CONFIG") != str(target) and target != SYSTEM_CONFIG:
        # Absolute: the variable must still name the file from another folder.
        stdout().print(f"use it with: export ASBB_CONFIG={target.absolute()}")


def _redacted(settings: Settings) -> dict[str, Any]:
    data = settings.model_dump(mode="json")
    data["database"]["url"] = display_url(settings.database.url)
    return data


def _flatten(data: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            rows.extend(_flatten(value, f"{name}."))
        else:
            rows.append((name, json.dumps(value) if not isinstance(value, str) else value))
    return rows


@config_app.command("show")
def config_show(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Show the effective settings (file, environment and --database combined)."""
    from asbb_core.settings import config_path

    settings = settings_of(ctx)
    data = _redacted(settings)
    if as_json:
        print_json(data)
        return
    source = config_path()
    table = Table(title=f"settings (file: {source or 'none, defaults'})")
    table.add_column("setting", no_wrap=True)
    table.add_column("value", overflow="fold")
    for name, value in _flatten(data):
        table.add_row(name, value)
    print_table(table)


@config_app.command("validate")
def config_validate(ctx: typer.Context) -> None:
    """Check the settings file and environment; exit 1 naming the first bad field."""
    from asbb_core.settings import config_path

    settings_of(ctx)
    source = config_path()
    stdout().print(f"settings are valid (file: {source or 'none, defaults and environment'})")


# ---------------------------------------------------------------- token


class TokenRole(StrEnum):
    """asbb_core.store.models.Role's values (not imported here: it would slow every command)."""

    PLUGIN = "plugin"
    ADMIN = "admin"
    READER = "reader"


@token_app.command("create")
def token_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A name for the token, e.g. slurmctld-plugin.")],
    role: Annotated[
        TokenRole,
        typer.Option(
            "--role",
            help="plugin: budget check and reconcile; admin: everything; reader: read-only.",
            case_sensitive=False,
            show_default=False,
        ),
    ],
    accounts: Annotated[
        list[str] | None,
        typer.Option(
            "--account",
            metavar="A",
            help="Limit a reader token to this account (repeat for more; default: all).",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON (with the secret) instead of text.")
    ] = False,
) -> None:
    """Issue a token for the daemon's API. Its secret is printed once and never again.

    Give it to the caller as `Authorization: Bearer <secret>`; asbb keeps only a hash.
    """
    with opened(ctx) as bank:
        issued = bank.tokens.create(name, role.value, actor=cli_actor(), accounts=accounts or [])
    token = issued.token
    if as_json:
        print_json(
            {
                "name": token.name,
                "role": str(token.role),
                "accounts": list(token.accounts),
                "secret": issued.secret,
                "prefix": token.prefix,
            }
        )
        return
    scope = ", ".join(token.accounts) or "all accounts"
    typer.echo(issued.secret)
    stderr().print(
        f"created {token.role} token {token.name!r} ({scope}); "
        "this secret is shown only once: store it now"
    )


TOKEN_COLUMNS = columns("name", "prefix", "role", "accounts", "created_by", "created", "revoked")


@token_app.command("list")
def token_list(
    ctx: typer.Context,
    include_revoked: Annotated[
        bool, typer.Option("--all/--live", help="Include revoked tokens (default) or not.")
    ] = True,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """List tokens: name, prefix, role, accounts, created, revoked. Secrets are never shown."""
    check_output(as_json, as_csv)
    with opened(ctx) as bank:
        tokens = bank.tokens.list(include_revoked=include_revoked)
    rows = [
        {
            "name": t.name,
            "prefix": t.prefix,
            "role": str(t.role),
            "accounts": list(t.accounts),
            "created_by": t.created_by,
            # Times as they are: --json writes them in the wire's RFC 3339, --csv in ISO 8601.
            "created": t.created_at,
            "revoked": t.revoked_at,
        }
        for t in tokens
    ]
    if as_json or as_csv:
        emit_rows(rows, TOKEN_COLUMNS, as_json=as_json, as_csv=as_csv)
        return
    for row, t in zip(rows, tokens, strict=True):  # the table: times to the minute
        row["prefix"] = f"{t.prefix}..."
        row["accounts"] = ", ".join(t.accounts) or "all"
        row["created"] = t.created_at.strftime("%Y-%m-%d %H:%M")
        row["revoked"] = t.revoked_at.strftime("%Y-%m-%d %H:%M") if t.revoked_at else ""
    emit_rows(
        rows,
        [c for c in TOKEN_COLUMNS if c.key != "created_by"],
        empty="no tokens (create one: asbb token create NAME --role plugin)",
    )


@token_app.command("revoke")
def token_revoke(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The token's name.")],
) -> None:
    """Revoke a token: the daemon refuses it from now on (after its token cache expires)."""
    with opened(ctx) as bank:
        token = bank.tokens.revoke(name, actor=cli_actor())
    stdout().print(f"revoked token {token.name!r} (revoked at {iso_time(token.revoked_at)})")


def main() -> None:
    """Entry point of the ``asbb`` console script."""
    app(prog_name="asbb")


if __name__ == "__main__":
    main()


__all__ = ["app", "demo_database_url", "main"]
