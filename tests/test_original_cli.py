"""The original tool's README (aws-slurm-burst-budget), run verbatim through the real CLI on
SQLite and PostgreSQL, each example checked in the database afterwards.

Sites migrating from the original run its README's commands as they are written, so each
example below is the README's text, line continuations and all; ``original()`` only splits it
as a shell would. The database comes from ``ASBB_DATABASE__URL``, so no ``--database`` is
added. The placeholders of its "CLI Commands" section (``<account>``, ``<id>``) are filled
with this test's accounts, grants and schedules; two examples come from the original CLI's
own help (``--budget``, an incremental account without ``--end``).

README examples not run here, and why:
- installing, building and packaging (curl, make, brew, git tag, ``make test``), ``createdb``,
  ``sudo vi``, the slurm.conf / plugstack.conf lines, ``sbatch``, ``systemctl start
  asbb-service`` and ``./build/budget-service``: not asbb commands (asbb's service is
  ``asbb-daemon``; its Slurm plugin is plugin/job_submit.lua). ``./build/asbb X`` is run as
  ``asbb X``, the installed command.
- ``asbb config init --output /etc/asbb/config.yaml``: run with the path below the test's
  own folder (a test must not write /etc); the YAML it writes is read back as settings.
- ``asbb reconcile <job_id>``: asbb charges a job only at a cost it is given (``--actual-cost``
  or ``--elapsed``) and finds its hold in Slurm's record of the job (squeue / sacct), which
  these tests have no Slurm for; test_cli.py covers reconcile with ``--hold``.
- ``asbb account update <account>`` alone changes nothing and says which options to give
  (checked); the original tool had no such command to copy options from.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, func, select
from typer.testing import CliRunner, Result

from asbb_core.analytics.reports import GRANT_CSV_COLUMNS
from asbb_core.funding.grants import Grants
from asbb_core.ledger import Ledger
from asbb_core.settings import default_database_url, load_settings
from asbb_core.store import audit
from asbb_core.store.database import Database
from asbb_core.store.migrate import status as schema_status
from asbb_core.store.models import (
    Account,
    AdjustmentRequest,
    AllocationSchedule,
    Grant,
    JournalEntry,
)
from asbb_core.values.context import Context
from asbb_tui.cli import app
from tests.conftest import Clock
from tests.test_maker_checker import CHECKER, MAKER
from tests.wire import loads

THIS_YEAR = datetime.now(UTC).year


def original(command: str) -> list[str]:
    """A README command as the shell would split it, without its leading ``asbb``."""
    words = shlex.split(command.replace("\\\n", " "), comments=True)
    assert words[0] in ("asbb", "./build/asbb"), words
    return words[1:]


@pytest.fixture
def asbb(
    migrated_url: str,
    cli_environment: Path,
    act_as: Callable[[str], None],
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[..., Result]:
    """Run a README command verbatim against the test database (as MAKER by default)."""
    monkeypatch.setenv("ASBB_DATABASE__URL", migrated_url)
    monkeypatch.setenv("COLUMNS", "200")  # tables wide enough that no cell wraps

    def run(command: str, *, actor: str = MAKER, input: str | None = None) -> Result:
        act_as(actor)
        return CliRunner().invoke(app, original(command), input=input)

    return run


def ok(result: Result) -> Result:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result


def one_error_line(result: Result, *fragments: str, code: int = 1) -> str:
    assert result.exit_code == code, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def schedules_of(db: Database, account: str) -> list[AllocationSchedule]:
    def query(s: Any) -> list[AllocationSchedule]:
        stmt = (
            select(AllocationSchedule)
            .join(Account, col(Account.id) == col(AllocationSchedule.account_id))
            .where(Account.name == account)
        )
        return list(s.exec(stmt))

    return db.read(query)


def grant_rows(session: Any) -> list[tuple[Any, ...]]:
    """Every grant's number, status, award and last change: what a read must not alter."""
    grants = session.exec(select(Grant).order_by(col(Grant.number)))
    return [(g.number, str(g.status), g.total_award, g.updated_at) for g in grants]


def journal_rows(db: Database, account: str | None = None) -> int:
    def query(s: Any) -> int:
        stmt = select(func.count()).select_from(JournalEntry)
        if account is not None:
            stmt = stmt.join(Account, col(Account.id) == col(JournalEntry.account_id)).where(
                Account.name == account
            )
        return int(s.exec(stmt).one())

    return db.read(query)


# ---------------------------------------------------------------- Quick Start


def test_database_migrate(
    database_url: str, cli_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASBB_DATABASE__URL", database_url)
    assert not schema_status(database_url).up_to_date
    result = CliRunner().invoke(app, original("./build/asbb database migrate"))
    ok(result)
    assert schema_status(database_url).up_to_date


def test_config_init_output(
    asbb: Callable[..., Result], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The README writes /etc/asbb/config.yaml; the same command here writes below tmp_path.
    readme = f"./build/asbb config init --output {tmp_path}/yaml/config.yaml"
    written = tmp_path / "yaml" / "config.yaml"
    ok(asbb(readme))
    database = os.environ["ASBB_DATABASE__URL"]
    monkeypatch.setenv("ASBB_CONFIG", str(written))
    monkeypatch.delenv("ASBB_DATABASE__URL")
    from_yaml = load_settings()
    assert from_yaml.database.url == default_database_url()
    assert from_yaml.partitions  # the example partitions, priced
    monkeypatch.setenv("ASBB_DATABASE__URL", database)

    target = tmp_path / "etc" / "config.toml"
    ok(asbb(f"asbb config init --output {target}"))
    text = target.read_text(encoding="utf-8")
    assert tomllib.loads(text)["database"]["url"] == default_database_url()
    # The file is one asbb reads back as its settings.
    monkeypatch.setenv("ASBB_CONFIG", str(target))
    monkeypatch.delenv("ASBB_DATABASE__URL")
    assert load_settings().database.url == default_database_url()
    again = asbb(f"asbb config init --output {target}")
    one_error_line(again, "already exists", "--force")
    assert target.read_text(encoding="utf-8") == text


ML_PROJ = """
asbb account create \\
  --name="ML Research Project" \\
  --account=ml-proj-001 \\
  --incremental \\
  --total-budget=600.00 \\
  --allocation-amount=100.00 \\
  --allocation-frequency=monthly \\
  --start=2025-01-01 \\
  --end=2025-12-31
"""


def test_basic_usage(asbb: Callable[..., Result], ledger: Ledger, db: Database) -> None:
    """Quick Start's account, then its 'Monitor Usage' commands."""
    ok(asbb(ML_PROJ))
    account = ledger.get_account("ml-proj-001")
    # the original's --name is what people call the account: asbb's display name
    assert (account.display_name, account.description) == ("ML Research Project", "")
    assert (account.start_date, account.end_date) == (date(2025, 1, 1), date(2025, 12, 31))
    assert account.limit_amount == Decimal(0)

    listed = ok(asbb("asbb allocations list --account=ml-proj-001"))
    assert "ml-proj-001" in listed.stdout
    assert "$100.00 monthly" in listed.stdout

    # Every instalment of 2025 is due by now: the scheduler's job, run by hand.
    ok(asbb("asbb allocations process"))
    assert ledger.get_account("ml-proj-001").limit_amount == Decimal("600.00")

    shown = ok(asbb("asbb account show ml-proj-001"))
    assert "$600.00" in shown.stdout
    assert "ML Research Project" in shown.stdout

    rows = journal_rows(db, "ml-proj-001")
    assert rows == 6
    history = ok(asbb("asbb transactions list --account=ml-proj-001 --last=30d"))
    assert history.stdout.count("instalment (due 2025-") == rows
    assert journal_rows(db, "ml-proj-001") == rows


# ---------------------------------------------------------------- incremental allocation

INCREMENTAL = {
    "ml-proj-001": (ML_PROJ, "ML Research Project", "100.00", "600.00", "monthly", 6),
    "research-alpha": (
        """
        asbb account create \\
          --name="Research Project Alpha" \\
          --account=research-alpha \\
          --incremental \\
          --total-budget=1200.00 \\
          --allocation-amount=100.00 \\
          --allocation-frequency=monthly \\
          --start=2025-01-01 \\
          --end=2025-12-31
        """,
        "Research Project Alpha",
        "100.00",
        "1200.00",
        "monthly",
        12,
    ),
    "student-cs101": (
        """
        asbb account create \\
          --name="Student Compute" \\
          --account=student-cs101 \\
          --incremental \\
          --total-budget=520.00 \\
          --allocation-amount=10.00 \\
          --allocation-frequency=weekly \\
          --start=2025-01-01 \\
          --end=2025-12-31
        """,
        "Student Compute",
        "10.00",
        "520.00",
        "weekly",
        52,
    ),
    "cs-dept": (
        """
        asbb account create \\
          --name="CS Department" \\
          --account=cs-dept \\
          --incremental \\
          --total-budget=4000.00 \\
          --allocation-amount=1000.00 \\
          --allocation-frequency=quarterly \\
          --start=2025-01-01 \\
          --end=2025-12-31
        """,
        "CS Department",
        "1000.00",
        "4000.00",
        "quarterly",
        4,
    ),
    # The original CLI's own help: no --end.
    "proj001": (
        'asbb account create --name="Research" --account=proj001 --incremental '
        "--total-budget=600 --allocation-amount=100 --allocation-frequency=monthly "
        "--start=2025-01-01",
        "Research",
        "100",
        "600",
        "monthly",
        6,
    ),
}


@pytest.mark.parametrize("name", INCREMENTAL)
def test_incremental_accounts(
    asbb: Callable[..., Result], ledger: Ledger, db: Database, name: str
) -> None:
    command, display, amount, total, frequency, instalments = INCREMENTAL[name]
    ok(asbb(command))
    account = ledger.get_account(name)
    assert (account.display_name, account.description) == (display, "")
    assert account.start_date == date(2025, 1, 1)
    assert account.end_date == (None if name == "proj001" else date(2025, 12, 31))
    assert (account.limit_amount, account.used_amount) == (Decimal(0), Decimal(0))
    (schedule,) = schedules_of(db, name)
    assert (schedule.amount, schedule.total) == (Decimal(amount), Decimal(total))
    assert (str(schedule.frequency), schedule.instalments) == (frequency, instalments)
    assert schedule.start_date == date(2025, 1, 1)
    # An incremental account opens at zero: no limit request waits for approval.
    assert db.read(lambda s: list(s.exec(select(AdjustmentRequest)))) == []

    ok(asbb("asbb allocations process"))
    assert ledger.get_account(name).limit_amount == Decimal(total)


SIMPLE = (
    'asbb account create --name="Research" --account=proj001 --budget=1000 '
    "--start=2025-01-01 --end=2025-12-31"
)


def test_a_budget_waits_for_a_second_person(
    asbb: Callable[..., Result], ledger: Ledger, db: Database
) -> None:
    created = ok(asbb(SIMPLE))
    assert "approval required" in created.stderr
    account = ledger.get_account("proj001")
    assert (account.display_name, account.limit_amount) == ("Research", Decimal(0))
    (request,) = db.read(lambda s: list(s.exec(select(AdjustmentRequest))))
    assert (str(request.kind), request.amount, request.requested_by) == (
        "limit",
        Decimal("1000.00"),
        MAKER,
    )
    ok(asbb(f"asbb adjust approve {request.id} --reason checked", actor=CHECKER))
    assert ledger.get_account("proj001").limit_amount == Decimal("1000.00")


@pytest.mark.single_admin
def test_a_budget_opens_at_once_for_a_single_admin(
    asbb: Callable[..., Result], ledger: Ledger
) -> None:
    ok(asbb(SIMPLE))
    assert ledger.get_account("proj001").limit_amount == Decimal("1000.00")
    assert ledger.get_account("proj001").display_name == "Research"


def test_the_original_spellings_are_refused_when_they_disagree(
    asbb: Callable[..., Result], ledger: Ledger
) -> None:
    both = asbb("asbb account create physics --account=chem --budget=5")
    assert both.exit_code == 2
    assert "differ" in both.stderr
    neither = asbb('asbb account create --name="No Slurm account" --budget=5')
    assert neither.exit_code == 2
    assert "--account" in neither.stderr
    with_description = 'asbb account create --name="Shown" --account=lab --description="Kept"'
    ok(asbb(with_description))
    lab = ledger.get_account("lab")
    assert (lab.display_name, lab.description) == ("Shown", "Kept")
    assert [a.name for a in ledger.list_accounts()] == ["lab"]
    long_name = asbb(f'asbb account create --name="{"x" * 201}" --account=long')
    one_error_line(long_name, "display_name:", "200")
    assert [a.name for a in ledger.list_accounts()] == ["lab"]


def test_the_display_name_is_shown_and_changed(
    asbb: Callable[..., Result], ledger: Ledger, db: Database
) -> None:
    """The original's --name is asbb's display name: shown by account show (and --json, as
    the REST API's display_name), changed by account update --name, and audited."""
    ok(asbb('asbb account create --name="CS Department" --account=cs-dept'))
    shown = ok(asbb("asbb account show cs-dept"))
    assert "CS Department" in shown.stdout
    assert "display name" in shown.stdout
    as_json = loads(ok(asbb("asbb account show cs-dept --json")).stdout)
    assert (as_json["name"], as_json["display_name"], as_json["slurm_account"]) == (
        "cs-dept",
        "CS Department",
        "cs-dept",
    )
    ok(asbb('asbb account update cs-dept --name="Computer Science"'))
    assert ledger.get_account("cs-dept").display_name == "Computer Science"
    ok(asbb('asbb account update cs-dept --display-name="CS"'))
    assert ledger.get_account("cs-dept").display_name == "CS"
    [update, _] = [
        e
        for e in audit.list_events(db, subject="account:cs-dept").items
        if e.action == "account.update"
    ]
    assert (update.before, update.after) == (
        {"display_name": "Computer Science"},
        {"display_name": "CS"},
    )


# ---------------------------------------------------------------- grants

GRANTS: dict[str, tuple[str, dict[str, Any], list[str]]] = {
    "NSF-2025-12345": (
        """
        asbb grant create \\
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
          --federal-id="47.070"
        """,
        {
            "agency": "National Science Foundation",
            "program": "Computer and Information Science and Engineering",
            "pi": "Dr. Jane Smith",
            "co_pis": ["Dr. Bob Johnson", "Dr. Alice Chen"],
            "institution": "Research University",
            "department": "Computer Science",
            "total_award": Decimal(750000),
            "start_date": date(2025, 1, 1),
            "end_date": date(2027, 12, 31),
            "indirect_rate": Decimal("0.30"),
            "cfda": "47.070",
        },
        ["250000.00"] * 3,
    ),
    "NIH-R01-567890": (
        """
        asbb grant create \\
          --number=NIH-R01-567890 \\
          --agency="National Institutes of Health" \\
          --program="National Cancer Institute" \\
          --pi="Dr. Medical Researcher" \\
          --institution="Medical University" \\
          --amount=1250000 \\
          --start=2025-07-01 \\
          --end=2030-06-30 \\
          --periods=12 \\
          --indirect=0.25
        """,
        {
            "agency": "National Institutes of Health",
            "program": "National Cancer Institute",
            "pi": "Dr. Medical Researcher",
            "co_pis": [],
            "institution": "Medical University",
            "total_award": Decimal(1250000),
            "start_date": date(2025, 7, 1),
            "end_date": date(2030, 6, 30),
            "indirect_rate": Decimal("0.25"),
            "cfda": "",
        },
        ["250000.00"] * 5,
    ),
    "DOE-DE-SC-98765": (
        """
        asbb grant create \\
          --number=DOE-DE-SC-98765 \\
          --agency="Department of Energy" \\
          --program="Office of Science" \\
          --pi="Dr. Energy Expert" \\
          --amount=500000 \\
          --start=2025-10-01 \\
          --end=2027-09-30 \\
          --periods=6 \\
          --indirect=0.35
        """,
        {
            "agency": "Department of Energy",
            "program": "Office of Science",
            "pi": "Dr. Energy Expert",
            "institution": "",
            "total_award": Decimal(500000),
            "start_date": date(2025, 10, 1),
            "end_date": date(2027, 9, 30),
            "indirect_rate": Decimal("0.35"),
        },
        ["125000.00"] * 4,
    ),
}


@pytest.mark.parametrize("number", GRANTS)
def test_grant_create(asbb: Callable[..., Result], ledger: Ledger, number: str) -> None:
    command, fields, budgets = GRANTS[number]
    ok(asbb(command))
    detail = Grants(ledger).get_grant(number)
    for field, value in fields.items():
        assert getattr(detail.grant, field) == value, field
    assert [p.budget for p in detail.periods] == [Decimal(b) for b in budgets]
    assert detail.periods[0].start_date == fields["start_date"]
    assert detail.periods[-1].end_date == fields["end_date"]


def test_grant_list_active_feeds_burn_rate(
    asbb: Callable[..., Result], ledger: Ledger, db: Database
) -> None:
    """'Monitor Grant Spending', the xargs pipeline run by a real shell."""
    ok(asbb(GRANTS["NSF-2025-12345"][0]))
    ok(asbb(GRANTS["DOE-DE-SC-98765"][0]))
    ok(asbb("asbb grant update DOE-DE-SC-98765 --status closed"))
    grants_before = db.read(grant_rows)

    assert ok(asbb("asbb grant list --active")).stdout.splitlines() == ["NSF-2025-12345"]

    projected = ok(asbb("asbb burn-rate NSF-2025-12345 --period=90d --projection"))
    assert "grant NSF-2025-12345: 90d" in projected.stdout
    assert "projection at" in projected.stdout
    ok(asbb("asbb burn-rate NSF-2025-12345 --alerts-only"))

    if shutil.which("xargs") is None:
        pytest.skip("no xargs on this machine")
    scripts = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{scripts}{os.pathsep}{os.environ.get('PATH', '')}"}
    pipeline = "asbb grant list --active | xargs -I {} asbb burn-rate {} --period=30d"
    done = subprocess.run(
        ["sh", "-c", pipeline], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "grant NSF-2025-12345: 30d" in done.stdout
    assert "DOE-DE-SC-98765" not in done.stdout
    assert db.read(grant_rows) == grants_before


def test_grant_report_formats(asbb: Callable[..., Result], ledger: Ledger) -> None:
    # A grant around today, so that the report has a current budget period.
    ok(
        asbb(
            f"asbb grant create --number=NOW-1 --agency=NSF --pi=Ada --amount=300000 "
            f"--start={THIS_YEAR - 1}-01-01 --end={THIS_YEAR + 1}-12-31 --periods=12 "
            '--indirect=0.30 --co-pi="A. One, B. Two"'
        )
    )
    assert Grants(ledger).get_grant("NOW-1").grant.co_pis == ["A. One", "B. Two"]
    report = ok(asbb("asbb grant report NOW-1"))
    assert "# Grant compliance report: NOW-1, budget period 2" in report.stdout
    csv_report = ok(asbb("asbb grant report NOW-1 --format=CSV"))
    assert csv_report.stdout.startswith(",".join(GRANT_CSV_COLUMNS))
    agency = ok(asbb("asbb grant report NOW-1 --format=agency-required"))
    assert '"report_type": "agency-required"' in agency.stdout
    assert ok(asbb("asbb grant report NOW-1 --format=pdf")).stdout_bytes.startswith(b"%PDF-")
    one_error_line(asbb("asbb grant report NOW-1 --type=technical"), "no technical report")
    assert asbb("asbb grant report NOW-1 --format=xml").exit_code == 2
    ok(asbb('asbb grant update NOW-1 --co-pi="C. Three,D. Four"'))
    assert Grants(ledger).get_grant("NOW-1").grant.co_pis == ["C. Three", "D. Four"]
    conflict = asbb("asbb grant list --active --status closed")
    assert conflict.exit_code == 2


# ---------------------------------------------------------------- burn rate of an account


@pytest.fixture
def ml_research(ledger: Ledger, ctx: Context, clock: Clock) -> None:
    """ml-research-001: $3,000 for this year, $150 charged today."""
    clock.now = datetime.now(UTC)
    ledger.create_account(
        "ml-research-001",
        ctx=ctx,
        limit="3000",
        start_date=date(THIS_YEAR, 1, 1),
        end_date=date(THIS_YEAR, 12, 31),
    )
    hold = ledger.create_hold("ml-research-001", "150", ctx=ctx, partition="aws-cpu", job_id="7")
    ledger.post_hold(hold.hold_id, "150", ctx=ctx)


def test_budget_performance_tracking(
    asbb: Callable[..., Result], ml_research: None, db: Database
) -> None:
    rows = journal_rows(db)
    month = ok(asbb("asbb burn-rate ml-research-001 --period=30d"))
    assert "account ml-research-001: 30d" in month.stdout
    assert "$150.00" in month.stdout
    half_year = ok(asbb("asbb burn-rate ml-research-001 --period=6m --projection"))
    assert "6m" in half_year.stdout
    assert "projection at" in half_year.stdout
    assert journal_rows(db) == rows


# ---------------------------------------------------------------- "CLI Commands"


def test_cli_commands_section(
    asbb: Callable[..., Result], ml_research: None, ledger: Ledger, db: Database
) -> None:
    """The README's command list, with its placeholders filled in."""
    ok(asbb(ML_PROJ))
    ok(
        asbb(
            'asbb account create --name="Later" --account=later --incremental '
            "--total-budget=200 --allocation-amount=100 --allocation-frequency=monthly "
            f"--start={THIS_YEAR + 1}-01-01"
        )
    )
    listed = ok(asbb("asbb account list"))
    for name in ("ml-proj-001", "ml-research-001", "later"):
        assert name in listed.stdout
    assert "ml-research-001" in ok(asbb("asbb account show ml-research-001")).stdout
    one_error_line(asbb("asbb account update ml-proj-001"), "nothing to change", "--limit")

    later = schedules_of(db, "later")[0].id
    ml_proj = schedules_of(db, "ml-proj-001")[0].id
    assert "later" in ok(asbb("asbb allocations list")).stdout
    assert "ml-proj-001" in ok(asbb(f"asbb allocations show {ml_proj}")).stdout
    ok(asbb(f"asbb allocations pause {later}"))
    assert str(schedules_of(db, "later")[0].status) == "paused"
    ok(asbb("asbb allocations process"))
    assert ledger.get_account("ml-proj-001").limit_amount == Decimal("600.00")
    assert ledger.get_account("later").limit_amount == Decimal(0)
    ok(asbb(f"asbb allocations resume {later}"))
    assert str(schedules_of(db, "later")[0].status) == "active"

    rows = journal_rows(db)
    assert "$150.00" in ok(asbb("asbb usage show ml-research-001")).stdout
    assert "$150.00" in ok(asbb("asbb usage summary")).stdout
    assert "ml-research-001" in ok(asbb("asbb forecast ml-research-001")).stdout
    history = ok(asbb("asbb transactions list"))
    assert "ml-research-001" in history.stdout
    assert "ml-proj-001" in history.stdout
    first = db.read(lambda s: s.exec(select(func.min(JournalEntry.id))).one())
    assert "ml-research-001" in ok(asbb(f"asbb transactions show {first}")).stdout
    assert "nothing to recover" in ok(asbb("asbb recover")).stdout
    assert journal_rows(db) == rows

    ok(
        asbb(
            f"asbb grant create --number=NOW-1 --agency=NSF --pi=Ada --amount=300000 "
            f"--start={THIS_YEAR - 1}-01-01 --end={THIS_YEAR + 1}-12-31 --periods=12 "
            "--indirect=0.30"
        )
    )
    assert "NOW-1" in ok(asbb("asbb grant list")).stdout
    assert "NSF" in ok(asbb("asbb grant show NOW-1")).stdout
    assert "(current)" in ok(asbb("asbb grant periods NOW-1")).stdout
    assert "compliance report: NOW-1" in ok(asbb("asbb grant report NOW-1")).stdout

    # account delete: refused for an account that spent money, else it closes the account.
    refused = asbb("asbb account delete ml-research-001")
    one_error_line(refused, "cannot be deleted", "$150.00 used", "asbb account close")
    assert str(ledger.get_account("ml-research-001").status) == "active"
    ok(asbb("asbb account delete later"))
    assert str(ledger.get_account("later").status) == "closed"
    assert "later" in [a.name for a in ledger.list_accounts()]  # kept, not deleted


def test_account_delete_refuses_open_holds(
    asbb: Callable[..., Result], ledger: Ledger, ctx: Context
) -> None:
    ledger.create_account("busy", ctx=ctx, limit="100")
    ledger.create_hold("busy", "10", ctx=ctx, partition="aws-cpu", job_id="9")
    refused = asbb("asbb account delete busy")
    one_error_line(refused, "cannot be deleted", "held", "1 open hold(s)")
    assert str(ledger.get_account("busy").status) == "active"
    ledger.create_account("idle", ctx=ctx, limit="100")
    ok(asbb("asbb account delete idle"))
    assert str(ledger.get_account("idle").status) == "closed"
    again = ok(asbb("asbb account delete idle"))
    assert "already closed" in again.stderr


def test_account_delete_asks_on_a_terminal(
    asbb: Callable[..., Result], ledger: Ledger, ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    from asbb_tui.commands import accounts

    monkeypatch.setattr(accounts, "stdin_is_terminal", lambda: True)
    ledger.create_account("idle", ctx=ctx)
    declined = asbb("asbb account delete idle", input="n\n")
    assert declined.exit_code == 1
    assert "Close account idle for good?" in declined.stderr
    assert str(ledger.get_account("idle").status) == "active"
    ok(asbb("asbb account delete idle", input="y\n"))
    assert str(ledger.get_account("idle").status) == "closed"
