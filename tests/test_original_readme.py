"""Every ``asbb`` command example of the original tool's documentation (aws-slurm-burst-budget:
its README, docs/GRANT_MANAGEMENT.md and docs/ASBX_INTEGRATION.md), run through the real CLI
on SQLite and PostgreSQL, each followed by a check of the database.

``EXAMPLES`` holds the examples exactly as those pages print them (line continuations, quotes,
``--flag=value`` and comma lists included); ``words()`` only splits one as a shell would. The
scenarios below run them in a sensible order (migrate, accounts, grants, spending, reports,
reconciles) and check what each did through asbb_core; ``test_every_example_is_run`` keeps
the two in step. What the pages leave as a placeholder is filled with this test's own
objects: the ``<account>``, ``<id>`` and ``<job_id>`` of the CLI Commands section, alert
``123``, hold ``txn_abc123`` and job ``job_12345`` of the grant and ASBX guides (asbb gives
out its own ids), and ``/etc/asbb/config.yaml`` (a test does not write /etc).

Examples that cannot work in asbb, each refused with a clear message (tested below, and said
in docs/migrating.md): ``grant create ... --project=...`` and ``--cost-center=...`` (asbb
keeps neither, as the REST API refuses them), ``asbb account update <account>`` with nothing
to change.

Not run: the README's synopses ``asbb account create [options]`` and ``asbb grant create
[options]`` (their real forms are the examples), and what is not an ``asbb`` command:
installing and building (curl, make, brew, git), ``createdb``, ``sudo vi``, the slurm.conf
lines, ``systemctl start asbb-service`` and ``./build/budget-service`` (asbb's service is
``asbb-daemon``), ``sbatch`` (its budget check is made below against the real daemon, as the
submit plugin makes it), and the ``curl`` calls of the ASBX and ASBA guides (the REST API's
tests run those). The ASBA guide has no ``asbb`` command.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, func, select
from typer.testing import CliRunner, Result

from asbb_core.alerts.conditions import AlertService
from asbb_core.analytics.reports import GRANT_CSV_COLUMNS
from asbb_core.funding.grants import Grants
from asbb_core.integrations.feedback import profile_summaries
from asbb_core.ledger import Ledger
from asbb_core.settings import load_settings
from asbb_core.store import queries
from asbb_core.store.database import Database
from asbb_core.store.migrate import status as schema_status
from asbb_core.store.models import Account, AllocationSchedule, Grant, JournalEntry
from asbb_core.values.context import Context
from asbb_tui.cli import app
from tests.conftest import Clock, LiveDaemon
from tests.test_maker_checker import MAKER

# ---------------------------------------------------------------- the examples, verbatim

EXAMPLES: dict[str, str] = {
    # README: Quick Start
    "migrate": "./build/asbb database migrate",
    "config-init": "./build/asbb config init --output /etc/asbb/config.yaml",
    "ml-proj-001": """asbb account create \\
  --name="ML Research Project" \\
  --account=ml-proj-001 \\
  --incremental \\
  --total-budget=600.00 \\
  --allocation-amount=100.00 \\
  --allocation-frequency=monthly \\
  --start=2025-01-01 \\
  --end=2025-12-31""",
    "account-show": "asbb account show ml-proj-001",
    "allocations-list-account": "asbb allocations list --account=ml-proj-001",
    "transactions-last": "asbb transactions list --account=ml-proj-001 --last=30d",
    # README: Incremental Budget Allocation Examples
    "research-alpha": """asbb account create \\
  --name="Research Project Alpha" \\
  --account=research-alpha \\
  --incremental \\
  --total-budget=1200.00 \\
  --allocation-amount=100.00 \\
  --allocation-frequency=monthly \\
  --start=2025-01-01 \\
  --end=2025-12-31""",
    "student-cs101": """asbb account create \\
  --name="Student Compute" \\
  --account=student-cs101 \\
  --incremental \\
  --total-budget=520.00 \\
  --allocation-amount=10.00 \\
  --allocation-frequency=weekly \\
  --start=2025-01-01 \\
  --end=2025-12-31""",
    "cs-dept": """asbb account create \\
  --name="CS Department" \\
  --account=cs-dept \\
  --incremental \\
  --total-budget=4000.00 \\
  --allocation-amount=1000.00 \\
  --allocation-frequency=quarterly \\
  --start=2025-01-01 \\
  --end=2025-12-31""",
    # README: Grant Management Examples
    "grant-nsf": """asbb grant create \\
  --number=NSF-2025-12345 \\
  --agency="National Science Foundation" \\
  --program="Computer and Information Science and Engineering" \\
  --pi="Dr. Jane Smith" \\
  --co-pi="Dr. Bob Johnson,Dr. Alice Chen" \\
  --institution="Research University" \\
  --department="Computer Science" \\
  --amount=750000 \\
  --start=2025-01-01 \\
  --end=2027-12-31 \\
  --periods=12 \\
  --indirect=0.30 \\
  --federal-id="47.070\"""",
    "grant-nih": """asbb grant create \\
  --number=NIH-R01-567890 \\
  --agency="National Institutes of Health" \\
  --program="National Cancer Institute" \\
  --pi="Dr. Medical Researcher" \\
  --institution="Medical University" \\
  --amount=1250000 \\
  --start=2025-07-01 \\
  --end=2030-06-30 \\
  --periods=12 \\
  --indirect=0.25""",
    "grant-doe": """asbb grant create \\
  --number=DOE-DE-SC-98765 \\
  --agency="Department of Energy" \\
  --program="Office of Science" \\
  --pi="Dr. Energy Expert" \\
  --amount=500000 \\
  --start=2025-10-01 \\
  --end=2027-09-30 \\
  --periods=6 \\
  --indirect=0.35""",
    # README: Burn Rate Analysis Examples (and GRANT_MANAGEMENT.md's, the same lines)
    "burn-nsf-90d": "asbb burn-rate NSF-2025-12345 --period=90d --projection",
    "burn-nsf-alerts": "asbb burn-rate NSF-2025-12345 --alerts-only",
    "burn-active-xargs": "asbb grant list --active | xargs -I {} asbb burn-rate {} --period=30d",
    "burn-account-30d": "asbb burn-rate ml-research-001 --period=30d",
    "burn-account-6m": "asbb burn-rate ml-research-001 --period=6m --projection",
    # README: CLI Commands
    "account-list": "asbb account list",
    "account-show-any": "asbb account show <account>",
    "account-update": "asbb account update <account>",
    "account-delete": "asbb account delete <account>",
    "grant-list": "asbb grant list",
    "grant-show": "asbb grant show <grant-number>",
    "grant-report": "asbb grant report <grant-number>",
    "grant-periods": "asbb grant periods <grant-number>",
    "burn-any": "asbb burn-rate <account|grant>",
    "burn-target-90d": "asbb burn-rate <target> --period=90d",
    "burn-target-projection": "asbb burn-rate <target> --projection",
    "burn-target-alerts": "asbb burn-rate <target> --alerts-only",
    "allocations-list": "asbb allocations list",
    "allocations-show": "asbb allocations show <id>",
    "allocations-process": "asbb allocations process",
    "allocations-pause": "asbb allocations pause <id>",
    "allocations-resume": "asbb allocations resume <id>",
    "usage-show": "asbb usage show <account>",
    "usage-summary": "asbb usage summary",
    "forecast": "asbb forecast <account>",
    "transactions-list": "asbb transactions list",
    "transactions-show": "asbb transactions show <id>",
    "reconcile-job": "asbb reconcile <job_id>",
    "recover": "asbb recover",
    # docs/GRANT_MANAGEMENT.md: its own spellings of the three grants
    "gm-grant-nsf": """asbb grant create \\
  --number=NSF-2025-12345 \\
  --agency="National Science Foundation" \\
  --program="Computer and Information Science and Engineering" \\
  --pi="Dr. Jane Smith" \\
  --co-pi="Dr. Bob Johnson,Dr. Alice Chen" \\
  --institution="Research University" \\
  --department="Computer Science" \\
  --amount=750000 \\
  --start=2025-01-01 \\
  --end=2027-12-31 \\
  --periods=12 \\
  --indirect=0.30 \\
  --federal-id="47.070" \\
  --project="ML-HPC-2025\"""",
    "gm-grant-nih": """asbb grant create \\
  --number=NIH-R01-567890 \\
  --agency="National Institutes of Health" \\
  --program="National Cancer Institute" \\
  --pi="Dr. Medical Researcher" \\
  --institution="Medical University" \\
  --department="Oncology Research" \\
  --amount=1250000 \\
  --start=2025-07-01 \\
  --end=2030-06-30 \\
  --periods=12 \\
  --indirect=0.25 \\
  --federal-id="93.393\"""",
    "gm-grant-doe": """asbb grant create \\
  --number=DOE-DE-SC-98765 \\
  --agency="Department of Energy" \\
  --program="Office of Science - Basic Energy Sciences" \\
  --pi="Dr. Energy Expert" \\
  --institution="National Lab Consortium" \\
  --amount=500000 \\
  --start=2025-10-01 \\
  --end=2027-09-30 \\
  --periods=6 \\
  --indirect=0.35 \\
  --cost-center="BES-Materials\"""",
    # docs/GRANT_MANAGEMENT.md: burn rates, portfolio, alerts, reports
    "burn-nsf": "asbb burn-rate NSF-2025-12345",
    "burn-nsf-6m": "asbb burn-rate NSF-2025-12345 --period=6m --projection",
    "burn-nsf-30d": "asbb burn-rate NSF-2025-12345 --period=30d",
    "burn-nsf-1y": "asbb burn-rate NSF-2025-12345 --period=1y --projection",
    "grant-list-active": "asbb grant list --active",
    "burn-portfolio": """for grant in $(asbb grant list --active --format=ids); do
  echo "=== $grant ==="
  asbb burn-rate $grant --period=30d --alerts-only
done""",
    "alerts-list": "asbb alerts list",
    "alerts-acknowledge": (
        'asbb alerts acknowledge 123 --user="Dr. Smith" --notes="Reviewing with finance team"'
    ),
    "alerts-list-grant": "asbb alerts list --grant=NSF-2025-12345 --severity=critical",
    "report-financial-pdf": (
        "asbb grant report NSF-2025-12345 --type=financial --format=pdf --period=1"
    ),
    "report-compliance-csv": "asbb grant report NIH-R01-567890 --type=compliance --format=csv",
    "report-range-json": """asbb grant report DOE-DE-SC-98765 --type=financial \\
  --start=2025-01-01 --end=2025-12-31 --format=json""",
    # docs/ASBX_INTEGRATION.md
    "asbx-reconcile": "asbb reconcile job_12345 --transaction=txn_abc123 --actual-cost=118.50",
    "asbx-pending-holds": "asbb transactions list --type=hold --status=pending",
    "asbx-recover": "asbb recover --reconcile-orphaned",
    "asbx-accuracy": "asbb analytics accuracy --period=30d",
    "asbx-performance": "asbb analytics performance --profile=compute_intensive",
}

SHELL = {"burn-active-xargs", "burn-portfolio"}
"""Examples that are shell pipelines or loops: run by sh, with asbb on its PATH."""

REFUSED = {"gm-grant-nsf", "gm-grant-doe", "account-update"}
"""Examples asbb refuses, with a message saying why (tested as such)."""

COVERED: dict[str, tuple[str, ...]] = {}
"""Each test's examples, as its ``@examples(...)`` declares them."""


def examples(*keys: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Declare the examples a test runs; the test runs each of them, and no other."""

    def mark(test: Callable[..., None]) -> Callable[..., None]:
        unknown = set(keys) - set(EXAMPLES)
        assert not unknown, unknown
        COVERED[test.__name__] = keys
        return test

    return mark


def words(command: str, fill: dict[str, str] | None = None) -> list[str]:
    """An example as the shell splits it, without its leading ``asbb``; a word (or the value
    of a ``--flag=value`` word) found in ``fill`` is replaced by what ``fill`` gives."""
    split = shlex.split(command.replace("\\\n", " "), comments=True)
    assert split[0] in ("asbb", "./build/asbb"), split
    out = []
    for word in split[1:]:
        flag, eq, value = word.partition("=")
        if fill and word in fill:
            word = fill[word]
        elif fill and eq and flag.startswith("--") and value in fill:
            word = f"{flag}={fill[value]}"
        out.append(word)
    return out


class Examples:
    """Runs the examples a test declared, through the CLI (or sh, for SHELL ones)."""

    def __init__(self, declared: tuple[str, ...]) -> None:
        self.declared = set(declared)
        self.ran: set[str] = set()

    def _take(self, key: str) -> str:
        assert key in self.declared, f"{key} is not in the test's @examples(...)"
        self.ran.add(key)
        return EXAMPLES[key]

    def __call__(self, key: str, fill: dict[str, str] | None = None) -> Result:
        assert key not in SHELL, key
        return CliRunner().invoke(app, words(self._take(key), fill))

    def shell(self, key: str) -> str:
        """Run a shell example with sh (asbb, this interpreter's, first on PATH): stdout."""
        assert key in SHELL, key
        scripts = str(Path(sys.executable).parent)
        env = {**os.environ, "PATH": f"{scripts}{os.pathsep}{os.environ.get('PATH', '')}"}
        done = subprocess.run(
            ["sh", "-c", self._take(key)], env=env, capture_output=True, text=True, timeout=180
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def all_run(self) -> None:
        assert self.ran == self.declared, self.declared - self.ran


def declared(request: pytest.FixtureRequest) -> tuple[str, ...]:
    keys = COVERED.get(request.function.__name__)
    assert keys is not None, "declare the test's examples: @examples(...)"
    return keys


def cli(command: str) -> Result:
    """A command that is not one of the examples (setting up what an example needs)."""
    return CliRunner().invoke(app, shlex.split(command))


# ---------------------------------------------------------------- running them


@pytest.fixture(autouse=True)
def real_time(clock: Clock) -> None:
    """The CLI runs on the real clock; the services the checks use run on the same time."""
    clock.now = datetime.now(UTC)


@pytest.fixture
def config(cli_environment: Path) -> Path:
    """The CLI's settings file: the test settings' priced partitions (the local model prices
    a job reconciled from Slurm's record with them)."""
    with cli_environment.open("a", encoding="utf-8") as out:
        out.write(
            '\n[partitions.aws-cpu]\nper_cpu_hour = "0.05"\n'
            '[partitions.gpu-aws]\nper_gpu_hour = "3.06"\nper_cpu_hour = "0.05"\n'
        )
    return cli_environment


@pytest.fixture
def asbb(
    migrated_url: str,
    config: Path,
    act_as: Callable[[str], None],
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> Examples:
    """The test's examples, run against the test database as MAKER."""
    monkeypatch.setenv("ASBB_DATABASE__URL", migrated_url)
    monkeypatch.setenv("COLUMNS", "200")  # tables wide enough that no cell wraps
    act_as(MAKER)
    return Examples(declared(request))


def ok(result: Result) -> Result:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result


def refused(result: Result, *fragments: str, code: int = 1) -> str:
    """The one ``error:`` line of a refusal, checked for each of ``fragments``."""
    assert result.exit_code == code, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def journal_rows(db: Database, account: str | None = None) -> int:
    def query(s: Any) -> int:
        stmt = select(func.count()).select_from(JournalEntry)
        if account is not None:
            stmt = stmt.join(Account, col(Account.id) == col(JournalEntry.account_id)).where(
                Account.name == account
            )
        return int(s.exec(stmt).one())

    return db.read(query)


def schedule_of(db: Database, account: str) -> AllocationSchedule:
    def query(s: Any) -> list[AllocationSchedule]:
        stmt = (
            select(AllocationSchedule)
            .join(Account, col(Account.id) == col(AllocationSchedule.account_id))
            .where(Account.name == account)
        )
        return list(s.exec(stmt))

    (schedule,) = db.read(query)
    return schedule


def grant_numbers(db: Database) -> list[str]:
    return db.read(lambda s: list(s.exec(select(Grant.number).order_by(col(Grant.number)))))


@pytest.fixture
def fake_slurm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """``squeue`` and ``sacct`` on PATH: the controller holds no job (``squeue -j`` fails as
    Slurm's does), accounting prints the lines given (the fields asbb's reader asks for)."""
    folder = tmp_path / "slurm-bin"
    folder.mkdir()
    squeue = folder / "squeue"
    squeue.write_text(
        '#!/bin/sh\ncase " $* " in *" -j "*)\n'
        "  echo 'slurm_load_jobs error: Invalid job id specified' >&2; exit 1;;\nesac\n"
    )
    squeue.chmod(0o755)
    lines = folder / "sacct.out"
    lines.write_text("")
    sacct = folder / "sacct"
    sacct.write_text(f"#!/bin/sh\ncat '{lines}'\n")
    sacct.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ.get('PATH', '')}")

    def accounting(text: str) -> None:
        lines.write_text(text)

    return accounting


def sacct_line(job: str, hold: str, account: str, *, cpus: int, hours: int) -> str:
    """sacct -P of a job that ran ``hours`` on ``cpus`` CPUs of aws-cpu, ended an hour ago."""
    end = datetime.now(UTC).replace(microsecond=0, tzinfo=None) - timedelta(hours=1)
    start = end - timedelta(hours=hours)
    return (
        f"{job}|{job}|COMPLETED|{start.isoformat()}|{end.isoformat()}|{hours:02d}:00:00|"
        f"billing={cpus},cpu={cpus},node=1|{account}|aws-cpu|vm|{job}|asbb:hold={hold}\n"
    )


# ---------------------------------------------------------------- Quick Start


@examples("migrate", "config-init")
def test_database_migrate_and_config_init(
    database_url: str,
    cli_environment: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    """A new, empty database: the schema is made; the settings file is written."""
    monkeypatch.setenv("ASBB_DATABASE__URL", database_url)
    asbb = Examples(declared(request))
    assert not schema_status(database_url).up_to_date
    ok(asbb("migrate"))
    assert schema_status(database_url).up_to_date

    target = tmp_path / "etc" / "asbb" / "config.yaml"
    ok(asbb("config-init", {"/etc/asbb/config.yaml": str(target)}))
    monkeypatch.setenv("ASBB_CONFIG", str(target))
    monkeypatch.delenv("ASBB_DATABASE__URL")
    written = load_settings()  # the YAML file asbb wrote is one it reads back
    assert written.partitions["gpu-aws"].per_gpu_hour == Decimal("3.06")
    asbb.all_run()


INCREMENTAL = {
    # account: display name, per instalment, total, frequency, instalments
    "ml-proj-001": ("ML Research Project", "100.00", "600.00", "monthly", 6),
    "research-alpha": ("Research Project Alpha", "100.00", "1200.00", "monthly", 12),
    "student-cs101": ("Student Compute", "10.00", "520.00", "weekly", 52),
    "cs-dept": ("CS Department", "1000.00", "4000.00", "quarterly", 4),
}


@examples(
    *INCREMENTAL,
    "account-show",
    "allocations-list-account",
    "transactions-last",
    "allocations-process",
    "allocations-list",
)
def test_accounts_with_incremental_allocations(
    asbb: Examples, ledger: Ledger, db: Database
) -> None:
    """Basic Usage and the three incremental examples, then Monitor Usage."""
    for name, (display, amount, total, frequency, instalments) in INCREMENTAL.items():
        ok(asbb(name))
        account = ledger.get_account(name)
        assert account.display_name == display
        assert (account.start_date, account.end_date) == (date(2025, 1, 1), date(2025, 12, 31))
        assert (account.limit_amount, account.used_amount) == (Decimal(0), Decimal(0))
        schedule = schedule_of(db, name)
        assert (schedule.amount, schedule.total) == (Decimal(amount), Decimal(total))
        assert (str(schedule.frequency), schedule.instalments) == (frequency, instalments)
        assert (schedule.start_date, str(schedule.status)) == (date(2025, 1, 1), "active")

    rows = journal_rows(db)
    shown = ok(asbb("account-show"))
    assert "ML Research Project" in shown.stdout
    listed = ok(asbb("allocations-list-account"))
    assert "$100.00 monthly" in listed.stdout
    assert "research-alpha" not in listed.stdout
    assert "no journal entries" in ok(asbb("transactions-last")).stderr
    assert journal_rows(db) == rows == 0  # reads move nothing

    # 2025 is over: every instalment is due; the scheduler's work, run by hand.
    ok(asbb("allocations-process"))
    for name, (_, _, total, _, instalments) in INCREMENTAL.items():
        assert ledger.get_account(name).limit_amount == Decimal(total)
        assert str(schedule_of(db, name).status) == "completed"
        assert journal_rows(db, name) == instalments
    everything = ok(asbb("allocations-list")).stdout
    assert all(name in everything for name in INCREMENTAL)
    # the history lists the 2025 instalments only when they were credited in the span
    history = ok(asbb("transactions-last"))
    assert history.stdout.count("instalment (due 2025-") == 6
    asbb.all_run()


# ---------------------------------------------------------------- grants


GRANTS = {
    # number: agency, PI, co-PIs, institution, department, CFDA, award, rate, periods' budgets
    "NSF-2025-12345": (
        "National Science Foundation",
        "Dr. Jane Smith",
        ["Dr. Bob Johnson", "Dr. Alice Chen"],
        "Research University",
        "Computer Science",
        "47.070",
        "750000",
        "0.30",
        ["250000.00"] * 3,
    ),
    "NIH-R01-567890": (
        "National Institutes of Health",
        "Dr. Medical Researcher",
        [],
        "Medical University",
        "",
        "",
        "1250000",
        "0.25",
        ["250000.00"] * 5,
    ),
    "DOE-DE-SC-98765": (
        "Department of Energy",
        "Dr. Energy Expert",
        [],
        "",
        "",
        "",
        "500000",
        "0.35",
        ["125000.00"] * 4,  # --periods=6: six-month periods, as the original counted them
    ),
}
GRANT_KEYS = {
    "NSF-2025-12345": "grant-nsf",
    "NIH-R01-567890": "grant-nih",
    "DOE-DE-SC-98765": "grant-doe",
}


@pytest.fixture
def funded(ledger: Ledger, ctx: Context) -> Callable[[], None]:
    """After the grants exist: nsf-ml-research, funded by NSF-2025-12345, has spent all of
    its $1,000 (an overrun: a critical usage alert); lab-other, funded by no grant, too."""

    def spend() -> None:
        for name in ("nsf-ml-research", "lab-other"):
            ledger.create_account(name, ctx=ctx, limit="1000")
            hold = ledger.create_hold(name, "500", ctx=ctx, partition="aws-cpu", job_id="77")
            ledger.post_hold(hold.hold_id, "1000", ctx=ctx)
        Grants(ledger).link_account("NSF-2025-12345", "nsf-ml-research", ctx=ctx)
        AlertService(ledger.db, ledger.settings, ledger.clock).evaluate()

    return spend


@examples(
    "grant-nsf",
    "grant-nih",
    "grant-doe",
    "burn-nsf",
    "burn-nsf-30d",
    "burn-nsf-90d",
    "burn-nsf-6m",
    "burn-nsf-1y",
    "burn-nsf-alerts",
    "grant-list-active",
    "alerts-list",
    "alerts-list-grant",
    "alerts-acknowledge",
    "report-financial-pdf",
    "report-compliance-csv",
)
def test_grants_burn_rates_alerts_and_reports(
    asbb: Examples,
    ledger: Ledger,
    db: Database,
    funded: Callable[[], None],
) -> None:
    grants = Grants(ledger)
    for number, key in GRANT_KEYS.items():
        ok(asbb(key))
        agency, pi, co_pis, institution, department, cfda, award, rate, budgets = GRANTS[number]
        g = grants.get_grant(number)
        assert (g.grant.agency, g.grant.pi, g.grant.co_pis) == (agency, pi, co_pis)
        assert (g.grant.institution, g.grant.department, g.grant.cfda) == (
            institution,
            department,
            cfda,
        )
        assert (g.grant.total_award, g.grant.indirect_rate) == (Decimal(award), Decimal(rate))
        assert [p.budget for p in g.periods] == [Decimal(b) for b in budgets]
    assert grants.get_grant("NSF-2025-12345").grant.program == (
        "Computer and Information Science and Engineering"
    )
    assert [p.end_date for p in grants.get_grant("DOE-DE-SC-98765").periods][:2] == [
        date(2026, 3, 31),
        date(2026, 9, 30),
    ]
    funded()
    rows = journal_rows(db)

    # Burn rates of the NSF grant's current budget period (its last, once it has ended)
    assert "grant NSF-2025-12345" in ok(asbb("burn-nsf")).stdout
    for key, window in (("burn-nsf-30d", "30d"), ("burn-nsf-90d", "90d")):
        assert f"grant NSF-2025-12345: {window}" in ok(asbb(key)).stdout
    for key in ("burn-nsf-6m", "burn-nsf-1y"):
        assert "projection at" in ok(asbb(key)).stdout
    ok(asbb("burn-nsf-alerts"))

    # The portfolio: the active grants' numbers, one a line (for xargs and loops)
    assert ok(asbb("grant-list-active")).stdout.splitlines() == sorted(GRANTS)
    assert journal_rows(db) == rows  # none of it moved money

    # Alerts: both accounts are at 100 %; only one is the NSF grant's
    service = AlertService(ledger.db, ledger.settings, ledger.clock)
    listed = ok(asbb("alerts-list")).stdout
    assert "nsf-ml-research" in listed
    assert "lab-other" in listed
    by_grant = ok(asbb("alerts-list-grant")).stdout
    assert "nsf-ml-research" in by_grant
    assert "lab-other" not in by_grant
    (alert,) = service.list_alerts(grant="NSF-2025-12345", severity="critical")
    assert alert.account == "nsf-ml-research"
    ok(asbb("alerts-acknowledge", {"123": str(alert.id)}))
    seen = service.get_alert(alert.id).alert
    assert (str(seen.status), seen.acknowledged_by) == ("acknowledged", MAKER)
    assert seen.details["note"] == "for Dr. Smith: Reviewing with finance team"
    again = asbb("alerts-acknowledge", {"123": str(alert.id)})
    refused(again, "already acknowledged")

    # Reports: read the books, write nothing
    pdf = ok(asbb("report-financial-pdf"))
    assert pdf.stdout_bytes.startswith(b"%PDF-")
    compliance = ok(asbb("report-compliance-csv")).stdout.splitlines()
    assert compliance[0] == ",".join(GRANT_CSV_COLUMNS)
    assert "NIH-R01-567890" in compliance[1]
    assert journal_rows(db) == rows
    asbb.all_run()


@pytest.mark.slow  # each asbb the shell starts is a new process
@examples("grant-nsf", "grant-doe", "burn-active-xargs", "burn-portfolio")
def test_the_portfolio_in_the_shell(asbb: Examples, ledger: Ledger, db: Database) -> None:
    """The active grants' numbers fed to burn-rate by xargs and by a for loop, in sh."""
    ok(asbb("grant-nsf"))
    ok(asbb("grant-doe"))
    ok(cli("grant update DOE-DE-SC-98765 --status closed"))
    rows = journal_rows(db)
    piped = asbb.shell("burn-active-xargs")
    assert "grant NSF-2025-12345: 30d" in piped
    assert "DOE-DE-SC-98765" not in piped  # closed: not active
    looped = asbb.shell("burn-portfolio")
    assert [line for line in looped.splitlines() if line.startswith("===")] == [
        "=== NSF-2025-12345 ==="
    ]
    assert journal_rows(db) == rows
    statuses = db.read(lambda s: list(s.exec(select(Grant.status).order_by(Grant.number))))
    assert [str(x) for x in statuses] == ["closed", "active"]  # DOE, NSF
    asbb.all_run()


@examples("grant-doe", "report-range-json")
def test_report_for_a_date_range(asbb: Examples, ledger: Ledger) -> None:
    """--start/--end: the agency report of the budget period the window ends in, as of --end;
    the window opens before the award, so the period's own first day is the report's."""
    ok(asbb("grant-doe"))
    report = json.loads(ok(asbb("report-range-json")).stdout)
    assert report["report_type"] == "agency-required"  # --type=financial
    assert report["identification"]["grant_number"] == "DOE-DE-SC-98765"
    window = report["report_period"]
    assert (window["budget_period"], window["start_date"], window["end_date"]) == (
        1,
        "2025-10-01T00:00:00Z",  # the award's first day: nothing is spent before it
        "2026-03-31T00:00:00Z",  # --periods=6: six months
    )
    assert window["as_of"] == "2025-12-31T00:00:00Z"  # --end
    assert report["authorised"]["this_period"] == 125000  # 500,000 over four periods
    asbb.all_run()


@examples("gm-grant-nih", "gm-grant-nsf", "gm-grant-doe")
def test_the_grant_guides_own_spellings(asbb: Examples, ledger: Ledger, db: Database) -> None:
    """GRANT_MANAGEMENT.md's grants: the NIH one as given; --project and --cost-center are
    refused (asbb keeps neither field), leaving no grant behind."""
    ok(asbb("gm-grant-nih"))
    nih = Grants(ledger).get_grant("NIH-R01-567890").grant
    assert (nih.department, nih.cfda) == ("Oncology Research", "93.393")
    refused(asbb("gm-grant-nsf"), "--project", "does not keep")
    refused(asbb("gm-grant-doe"), "--cost-center", "does not keep")
    assert grant_numbers(db) == ["NIH-R01-567890"]
    asbb.all_run()


# ---------------------------------------------------------------- an account's burn rate


@pytest.fixture
def ml_research(ledger: Ledger, ctx: Context) -> None:
    """ml-research-001: $3,000 for this year, $150 charged today (job 7)."""
    year = datetime.now(UTC).year
    ledger.create_account(
        "ml-research-001",
        ctx=ctx,
        limit="3000",
        start_date=date(year, 1, 1),
        end_date=date(year, 12, 31),
    )
    hold = ledger.create_hold("ml-research-001", "150", ctx=ctx, partition="aws-cpu", job_id="7")
    ledger.post_hold(hold.hold_id, "150", ctx=ctx)


@examples("burn-account-30d", "burn-account-6m")
def test_budget_performance_tracking(asbb: Examples, ml_research: None, db: Database) -> None:
    rows = journal_rows(db)
    month = ok(asbb("burn-account-30d")).stdout
    assert "account ml-research-001: 30d" in month
    assert "$150.00" in month
    half_year = ok(asbb("burn-account-6m")).stdout
    assert "account ml-research-001: 6m" in half_year
    assert "projection at" in half_year
    assert journal_rows(db) == rows
    asbb.all_run()


# ---------------------------------------------------------------- CLI Commands


@examples(
    "ml-proj-001",
    "grant-nsf",
    "account-list",
    "account-show-any",
    "account-update",
    "account-delete",
    "grant-list",
    "grant-show",
    "grant-report",
    "grant-periods",
    "burn-any",
    "burn-target-90d",
    "burn-target-projection",
    "burn-target-alerts",
    "allocations-list",
    "allocations-show",
    "allocations-process",
    "allocations-pause",
    "allocations-resume",
    "usage-show",
    "usage-summary",
    "forecast",
    "transactions-list",
    "transactions-show",
    "reconcile-job",
    "recover",
)
def test_cli_commands_section(
    asbb: Examples,
    ml_research: None,
    ledger: Ledger,
    db: Database,
    ctx: Context,
    clock: Clock,
    fake_slurm: Callable[[str], None],
) -> None:
    """The README's command list, its placeholders filled with this test's objects."""
    ok(asbb("ml-proj-001"))
    ok(asbb("grant-nsf"))
    account = {"<account>": "ml-research-001"}
    assert "ml-research-001" in ok(asbb("account-list")).stdout
    assert "$3,000.00" in ok(asbb("account-show-any", account)).stdout
    refused(asbb("account-update", account), "nothing to change", "--limit")
    assert ledger.get_account("ml-research-001").limit_amount == Decimal("3000.00")

    grant = {"<grant-number>": "NSF-2025-12345"}
    assert "NSF-2025-12345" in ok(asbb("grant-list")).stdout
    assert "Dr. Jane Smith" in ok(asbb("grant-show", grant)).stdout
    assert "compliance report: NSF-2025-12345" in ok(asbb("grant-report", grant)).stdout
    assert "(current)" in ok(asbb("grant-periods", grant)).stdout

    for target in ("ml-research-001", "NSF-2025-12345"):
        assert target in ok(asbb("burn-any", {"<account|grant>": target})).stdout
        assert ": 90d" in ok(asbb("burn-target-90d", {"<target>": target})).stdout
        assert "projection at" in ok(asbb("burn-target-projection", {"<target>": target})).stdout
        ok(asbb("burn-target-alerts", {"<target>": target}))

    # an allocation schedule still running: next year's
    ok(
        cli(
            f"account create later --incremental --total-budget=200 --allocation-amount=50 "
            f"--allocation-frequency=monthly --start={date.today().year + 1}-01-01"
        )
    )
    sid = {"<id>": str(schedule_of(db, "later").id)}
    assert "later" in ok(asbb("allocations-list")).stdout
    assert "$50.00 monthly" in ok(asbb("allocations-show", sid)).stdout
    ok(asbb("allocations-pause", sid))
    assert str(schedule_of(db, "later").status) == "paused"
    ok(asbb("allocations-process"))
    assert ledger.get_account("ml-proj-001").limit_amount == Decimal("600.00")
    assert ledger.get_account("later").limit_amount == Decimal(0)
    ok(asbb("allocations-resume", sid))
    assert str(schedule_of(db, "later").status) == "active"

    rows = journal_rows(db)
    assert "$150.00" in ok(asbb("usage-show", account)).stdout
    assert "$150.00" in ok(asbb("usage-summary")).stdout
    assert "ml-research-001" in ok(asbb("forecast", account)).stdout
    history = ok(asbb("transactions-list")).stdout
    assert "ml-research-001" in history
    assert "ml-proj-001" in history
    first = db.read(lambda s: s.exec(select(func.min(JournalEntry.id))).one())
    assert "ml-research-001" in ok(asbb("transactions-show", {"<id>": str(first)})).stdout
    assert journal_rows(db) == rows

    # reconcile <job_id>: the hold from the job's AdminComment, the cost from its record
    hold = ledger.create_hold("ml-research-001", "1", ctx=ctx, partition="aws-cpu").hold_id
    fake_slurm(sacct_line("4242", hold, "ml-research-001", cpus=4, hours=2))
    done = ok(asbb("reconcile-job", {"<job_id>": "4242"}))
    assert "charge" in done.stdout
    posted = ledger.get_hold(hold)
    assert (str(posted.state), posted.charged) == ("posted", Decimal("0.40"))  # 4 x 2 h x $0.05
    assert ledger.get_account("ml-research-001").used_amount == Decimal("150.40")
    refused(asbb("reconcile-job", {"<job_id>": "4242"}), "already posted")
    assert ledger.get_account("ml-research-001").used_amount == Decimal("150.40")

    # recover: an hour-old hold that Slurm knows no job of is voided
    clock.now = datetime.now(UTC) - timedelta(hours=1)
    stray = ledger.create_hold("ml-research-001", "5", ctx=ctx, partition="aws-cpu").hold_id
    fake_slurm("")
    assert "never became a job" in ok(asbb("recover")).stdout
    assert str(ledger.get_hold(stray).state) == "voided"
    assert ledger.get_account("ml-research-001").held_amount == Decimal(0)

    # account delete: refused for an account that spent money; one that never did is closed
    refused(asbb("account-delete", account), "cannot be deleted", "$150.40 used")
    assert str(ledger.get_account("ml-research-001").status) == "active"
    ok(asbb("account-delete", {"<account>": "later"}))
    assert str(ledger.get_account("later").status) == "closed"
    asbb.all_run()


# ---------------------------------------------------------------- the ASBX workflow


@examples(
    "asbx-pending-holds",
    "asbx-reconcile",
    "asbx-recover",
    "asbx-accuracy",
    "asbx-performance",
)
def test_asbx_workflow(
    asbb: Examples,
    live_daemon: LiveDaemon,
    ledger: Ledger,
    ctx: Context,
    clock: Clock,
    fake_slurm: Callable[[str], None],
) -> None:
    """ASBX_INTEGRATION.md: sbatch's budget check (made here as the submit plugin makes it,
    against the real daemon), the reconciliation queue, a manual reconcile at aws-slurm-burst's
    cost, recovery, and what the cost model learnt."""
    ledger.create_account("nsf-ml-research", ctx=ctx, limit="1000")
    with live_daemon.client("plugin") as plugin:
        checked = plugin.post(
            "/api/v1/budget/check",
            json={
                "account": "nsf-ml-research",
                "partition": "gpu-aws",
                "cpus": 4,
                "gpus": 4,
                "wall_time": "10:00:00",
                "user_id": "phd_student_1",
            },
        )
        assert checked.status_code == 200, checked.text
        answer = checked.json()
        assert answer["available"] is True
        hold = answer["transaction_id"]
        # 4 GPUs x 10 h x $3.06 + 4 CPUs x 10 h x $0.05 = $124.40, held with 20 % buffer
        assert Decimal(str(answer["estimated_cost"])) == Decimal("124.40")
        assert Decimal(str(answer["hold_amount"])) == Decimal("149.28")

    queue = ok(asbb("asbx-pending-holds")).stdout
    assert "nsf-ml-research" in queue
    assert "$149.28" in queue
    pending = queries.list_entries(ledger.db, kind="hold", hold_state="open")
    assert [r.entry.hold_id for r in pending.items] == [hold]

    # the guide's own hold id is not one asbb gave out: a clear refusal, nothing moved
    refused(asbb("asbx-reconcile"), "hold 'txn_abc123' does not exist")
    assert ledger.get_account("nsf-ml-research").held_amount == Decimal("149.28")

    ok(asbb("asbx-reconcile", {"txn_abc123": hold}))
    account = ledger.get_account("nsf-ml-research")
    assert (account.used_amount, account.held_amount) == (Decimal("118.50"), Decimal(0))
    posted = ledger.get_hold(hold)
    assert (str(posted.state), posted.charged) == ("posted", Decimal("118.50"))
    assert queries.list_entries(ledger.db, kind="charge", job_id="12345").items  # job_12345
    assert "no journal entries" in ok(asbb("asbx-pending-holds")).stderr

    # a hold an hour old whose job Slurm never saw: recovery voids it
    clock.now = datetime.now(UTC) - timedelta(hours=1)
    stray = ledger.create_hold("nsf-ml-research", "10", ctx=ctx, partition="gpu-aws").hold_id
    fake_slurm("")
    assert "never became a job" in ok(asbb("asbx-recover")).stdout
    assert str(ledger.get_hold(stray).state) == "voided"

    # the cost model: $118.50 charged against a $124.40 estimate
    accuracy = ok(asbb("asbx-accuracy")).stdout
    assert "nsf-ml-research" in accuracy
    assert "0.9526" in accuracy

    with live_daemon.client("plugin") as plugin:
        for job, profile, cpu in (("12345", "compute_intensive", 0.85), ("12346", "io_bound", 0.4)):
            sent = plugin.post(
                "/api/v1/integration/performance-feedback",
                json={
                    "job_id": job,
                    "account": "nsf-ml-research",
                    "cpu_efficiency": cpu,
                    "memory_efficiency": 0.78,
                    "gpu_efficiency": 0.92,
                    "actual_vs_estimated_ratio": 0.948,
                    "performance_profile": profile,
                },
            )
            assert sent.status_code == 201, sent.text
    (summary,) = profile_summaries(ledger.db, profile="compute_intensive")
    assert (summary.jobs, summary.cpu_efficiency) == (1, Decimal("0.8500"))
    shown = ok(asbb("asbx-performance")).stdout
    assert "compute_intensive" in shown
    assert "0.8500" in shown
    assert "io_bound" not in shown
    asbb.all_run()


# ---------------------------------------------------------------- the new spellings' edges


@examples()
def test_the_new_spellings_refuse_what_they_cannot_do(
    asbb: Examples, ledger: Ledger, ctx: Context, fake_slurm: Callable[[str], None]
) -> None:
    """What the spellings above accept and refuse beyond the examples; nothing moves."""
    ledger.create_account("lab", ctx=ctx, limit="100")
    hold = ledger.create_hold("lab", "10", ctx=ctx, partition="aws-cpu").hold_id
    before = (journal_rows(ledger.db), ledger.get_account("lab").held_amount)

    refused(cli("transactions list --status=completed"), "movement already made")
    refused(cli("transactions list --status=lost"), "not pending")
    listed = ok(cli("transactions list --type=hold --status=open --json"))
    assert [e["hold_id"] for e in json.loads(listed.stdout)["items"]] == [hold]

    running = sacct_line("51", hold, "lab", cpus=1, hours=1).replace("COMPLETED", "RUNNING")
    fake_slurm(running)
    refused(cli("reconcile job-51"), "job 51 is still running")
    fake_slurm(sacct_line("51", "h" + "0" * 32, "lab", cpus=1, hours=1))
    refused(cli(f"reconcile 51 --hold {hold}"), "names hold h000", f"not {hold}")
    fake_slurm("")
    refused(cli(f"reconcile 51 --transaction={hold}"), "no record of it")
    assert (journal_rows(ledger.db), ledger.get_account("lab").held_amount) == before
    assert str(ledger.get_hold(hold).state) == "open"

    assert cli("grant list --format=ids --json").exit_code == 2
    assert cli("grant list --format=xml").exit_code == 2
    nothing = ok(cli("alerts list --grant=NONE-1"))
    assert "no alerts" in nothing.stdout + nothing.stderr


# ---------------------------------------------------------------- every example is run


def test_every_example_is_run() -> None:
    """Each example is declared by one of this module's tests (each of which runs every
    example it declares, checked by ``all_run``), and each refusal is tested as one."""
    declared_keys = {key for keys in COVERED.values() for key in keys}
    assert sorted(set(EXAMPLES) - declared_keys) == []
    assert declared_keys >= REFUSED
    assert declared_keys >= SHELL
