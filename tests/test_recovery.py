"""Recovery decisions from Slurm's record, on a real database, with Slurm output captured from a
real Slurm 22.05 cluster (tests/fixtures/slurm/, hold ids swapped for this test's holds)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from asbb_core.integrations.recovery import RecoverySweeper, recover
from asbb_core.integrations.slurm import (
    Slurm,
    SlurmError,
    Tres,
    job_from_scontrol,
    parse_elapsed,
    parse_sacct,
    parse_scontrol_line,
)
from asbb_core.ledger.verify import verify_ledger

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "slurm"
# hold ids in the captured output (capture 2: tests/fixtures/slurm/*_all_*.txt, sacct_final.txt)
RAN = "ha548dc99ba304b609a338e8694789bad"  # job 1: ran 6 s (COMPLETED)
DEPENDENCY = "h02b47ca836aa46aa9644f9a64a14cdbf"  # job 2: pending on a dependency, cancelled
PENDING = "h8fbd99cea375497dab66bc8d683e7aae"  # job 3: pending for resources, cancelled
FUTURE = "h167d01212c0444019bc103442d6ed0b0"  # job 4: --begin=now+1hour, cancelled
ARRAY = "h8bd4b984e1ff4112b0c593e43323bc0a"  # job 5_[0-3]: cancelled before any task ran
# capture 1 (sacct_steps.txt): job 3 TIMEOUT after 00:01:25; job 2_0..2_2 array ran
TIMEOUT = "he57de146d8d74641bed48867d4267403"
ARRAY_RAN = "ha96431ac097e4e419b7fa5b3bd881e7c"
ENDED = datetime(2026, 11, 22, 6, 21, 33, tzinfo=UTC)


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


class FakeSlurm:
    """The runner: answers sacct and scontrol with (edited) captured output, records calls."""

    def __init__(self, sacct: str = "", scontrol: str = "") -> None:
        self.sacct, self.scontrol = sacct, scontrol
        self.calls: list[list[str]] = []
        self.down = False

    def __call__(self, argv: Sequence[str], timeout: float) -> str:
        self.calls.append(list(argv))
        if self.down:
            raise SlurmError("sacct: error: Problem talking to the database")
        return self.sacct if argv[0] == "sacct" else self.scontrol

    def swap(self, mapping: dict[str, str]) -> None:
        for old, new in mapping.items():
            self.sacct = self.sacct.replace(old, new)
            self.scontrol = self.scontrol.replace(old, new)


@pytest.fixture
def world(ledger, ctx, clock):
    clock.now = datetime(2026, 11, 22, 5, 0, tzinfo=UTC)  # the holds are taken before the jobs
    ledger.create_account("ml-proj", ctx=ctx, limit="1000")

    def hold(cpus: int = 2, tasks: int = 1, hours: int = 1) -> str:
        estimate = Decimal("0.05") * cpus * hours * tasks
        return ledger.create_hold(
            "ml-proj",
            estimate,
            ctx=ctx,
            partition="aws-cpu",
            task_count=tasks,
            time_limit=timedelta(hours=hours),
            metadata={"request": {"nodes": 1, "cpus": cpus, "gpus": 0, "memory_mb": "0"}},
        ).hold_id

    yield hold
    report = verify_ledger(ledger.db)
    assert report.ok, [str(p) for p in report.problems]


def at(clock, when: datetime) -> None:
    clock.now = when


def by_hold(report):
    return {a.hold_id: a for a in report.actions}


def test_parsing_real_output():
    line = fixture("scontrol_completed.txt")
    job = job_from_scontrol(parse_scontrol_line(line))
    assert (job.job_id, job.state, job.elapsed, job.hold_id) == (
        "1",
        "COMPLETED",
        timedelta(seconds=2),
        "h466030d59745486ca8f557217e4ba6b7",
    )
    assert job.tres == Tres(cpus=2, nodes=1, gpus=1, memory_mb=None)
    assert job.ran
    assert job.start == datetime(2026, 11, 22, 6, 18, 49, tzinfo=UTC)
    pending_cancelled = job_from_scontrol(
        parse_scontrol_line(fixture("scontrol_cancelled_pending.txt"))
    )
    # scontrol shows the *requested* TRES and Start == End for it: still, it never ran
    assert pending_cancelled.tres.memory_mb == Decimal(12052)
    assert (pending_cancelled.state, pending_cancelled.ran) == ("CANCELLED", False)
    tasks = [
        job_from_scontrol(parse_scontrol_line(x))
        for x in fixture("scontrol_array.txt").splitlines()
    ]
    assert [t.job_id for t in tasks] == ["2_2", "2_1", "2_0"]
    steps = parse_sacct(
        fixture("sacct_steps.txt"),
        (
            "JobID",
            "State",
            "Start",
            "End",
            "Elapsed",
            "AllocTRES",
            "Partition",
            "Account",
            "AdminComment",
        ),
    )
    assert [j.job_id for j in steps] == ["1", "3", "5", "6", "2_0", "2_1", "2_2"]
    assert steps[1].state == "TIMEOUT"
    assert steps[1].elapsed == timedelta(minutes=1, seconds=25)
    final = {j.job_id: j for j in parse_sacct(fixture("sacct_final.txt"))}
    assert final["3"].state == "CANCELLED"
    assert final["3"].raw_state == "CANCELLED by 0"
    assert not final["3"].ran
    assert final["5_[0-3]"].is_array_remainder
    assert final["1"].ran
    assert final["1"].end == ENDED
    assert parse_elapsed("1-02:03:04") == timedelta(days=1, hours=2, minutes=3, seconds=4)
    assert parse_elapsed("Unknown") is None


def test_controller_and_accounting_views_are_merged():
    slurm = Slurm(FakeSlurm(fixture("sacct_final.txt"), fixture("scontrol_all_cancelled.txt")))
    jobs = slurm.jobs_by_hold(datetime(2026, 11, 21, tzinfo=UTC))
    # job 2 (cancelled on a dependency) and job 4 (future begin) are not in sacct's window,
    # but the controller still knows them
    assert {k: [j.job_id for j in v] for k, v in jobs.items()} == {
        RAN: ["1"],
        PENDING: ["3"],
        ARRAY: ["5_[0-3]"],
        DEPENDENCY: ["2"],
        FUTURE: ["4"],
    }
    assert not any(j.ran for k, v in jobs.items() if k != RAN for j in v)


def test_each_case_is_decided_and_dry_run_changes_nothing(world, ledger, clock):
    ran, pending, array, never, future = (world(), world(), world(tasks=4), world(), world())
    dependency = world()
    fake = FakeSlurm(
        fixture("sacct_final.txt").replace("|00:00:06|", "|01:00:00|"),
        # after job 1 ended; job 2 (dependency) and 4 (future begin) only the controller knows
        fixture("scontrol_all_final.txt"),
    )
    fake.swap({RAN: ran, PENDING: pending, ARRAY: array, FUTURE: future, DEPENDENCY: dependency})
    at(clock, ENDED + timedelta(minutes=30))
    young = world()  # taken 0 minutes ago: within the grace period, not examined
    slurm = Slurm(fake)
    before = ledger.get_account("ml-proj")

    dry = recover(ledger, slurm, dry_run=True, older_than=timedelta(minutes=10))
    actions = by_hold(dry)
    assert dry.dry_run
    assert young not in actions
    assert (actions[ran].action, actions[ran].job_id, actions[ran].amount) == (
        "charge",
        "1",
        Decimal("0.10"),  # 2 CPUs x $0.05 x 1 h, as sacct reports it
    )
    assert (actions[pending].action, actions[pending].reason) == (
        "void",
        "job cancelled before it ran",
    )
    assert actions[array].action == "void"
    assert actions[future].action == "void"
    assert actions[dependency].action == "void"
    assert (actions[never].action, actions[never].reason) == (
        "void",
        "never became a job: no job in Slurm carries this hold",
    )
    assert not any(a.done for a in dry.actions)
    after = ledger.get_account("ml-proj")
    assert (after.used_amount, after.held_amount) == (before.used_amount, before.held_amount)
    assert all(
        ledger.get_hold(h).state == "open" for h in (ran, pending, array, never, future, dependency)
    )
    # sacct was asked for every job since a day before the oldest hold, with all users
    sacct = next(c for c in fake.calls if c[0] == "sacct")
    assert sacct[:4] == ["sacct", "-P", "-n", "-a"]
    assert (
        "--format=JobID,State,Start,End,Elapsed,AllocTRES,Partition,Account,NodeList,AdminComment"
        in sacct
    )
    assert sacct[sacct.index("-S") + 1] == "2026-11-21T05:00:00"

    real = recover(ledger, slurm, older_than=timedelta(minutes=10))
    assert all(a.done for a in real.actions)
    h = ledger.get_hold(ran)
    assert (h.state, h.charged, h.released) == ("posted", Decimal("0.10"), Decimal("0.02"))
    (charge,) = [e for e in ledger.journal(hold_id=ran) if e.kind == "charge"]
    assert (charge.source, charge.job_id, charge.job_metadata["recovered"]) == (
        "recovery",
        "1",
        True,
    )
    for voided in (pending, array, never, future, dependency):
        assert ledger.get_hold(voided).state == "voided"
    assert ledger.get_hold(young).state == "open"
    account = ledger.get_account("ml-proj")
    assert account.used_amount == Decimal("0.10")

    # a second run finds nothing left to do
    again = recover(ledger, slurm, older_than=timedelta(minutes=10))
    assert again.actions == []


def test_a_recovered_charge_and_the_epilogs_late_reconcile_charge_once(world, ledger, clock):
    """The same idempotency key as the daemon: whichever comes second charges nothing."""
    from asbb_core.integrations.spool import ledger_sender

    ran = world()
    fake = FakeSlurm(fixture("sacct_final.txt").replace("|00:00:06|", "|01:00:00|"), "")
    fake.swap({RAN: ran})
    at(clock, ENDED + timedelta(hours=1))
    recover(ledger, Slurm(fake), older_than=timedelta(minutes=10))
    # the epilog's spooled request arrives afterwards, with the same figures
    sent = ledger_sender(ledger)(
        {"job_id": "1", "transaction_id": ran, "elapsed_seconds": 3600, "cpus": 2, "nodes": 1}
    )
    assert sent.delivery == "delivered"
    assert "replayed" in sent.detail
    assert ledger.get_account("ml-proj").used_amount == Decimal("0.10")
    # ... or with the real AWS bill: the bill replaces the recovered estimate, once
    bill = {"job_id": "1", "transaction_id": ran, "actual_cost": "9.99"}
    other = ledger_sender(ledger)(bill)
    assert other.delivery == "delivered"
    assert ledger.get_account("ml-proj").used_amount == Decimal("9.99")
    assert ledger_sender(ledger)(bill).delivery == "delivered"  # sent twice: charged once
    assert ledger.get_account("ml-proj").used_amount == Decimal("9.99")
    # ... while a local-model price arriving after it leaves the bill standing
    assert ledger_sender(ledger)({**bill, "actual_cost": None, "elapsed_seconds": 60})
    assert ledger.get_account("ml-proj").used_amount == Decimal("9.99")


def test_jobs_still_pending_or_running_are_left(world, ledger, clock):
    ran, pending = world(), world()
    fake = FakeSlurm("", fixture("scontrol_all_pending.txt"))  # sacct does not know them yet
    fake.swap({RAN: ran, PENDING: pending})
    at(clock, ENDED + timedelta(hours=1))
    report = recover(ledger, Slurm(fake), older_than=timedelta(minutes=10))
    actions = by_hold(report)
    assert (actions[ran].action, actions[ran].reason) == ("leave", "job still running")
    assert (actions[pending].action, actions[pending].reason) == ("leave", "job still pending")
    assert ledger.get_hold(ran).state == ledger.get_hold(pending).state == "open"


def test_a_job_that_ended_moments_ago_is_left_to_its_epilog(world, ledger, clock):
    ran = world()
    fake = FakeSlurm(fixture("sacct_final.txt"), "")
    fake.swap({RAN: ran})
    at(clock, ENDED + timedelta(minutes=2))
    (action,) = recover(ledger, Slurm(fake), older_than=timedelta(minutes=10)).actions
    assert (action.action, action.reason) == (
        "leave",
        "job ended recently; waiting for its epilog reconcile",
    )


def test_timeout_kill_is_charged_and_an_array_is_charged_per_task(world, ledger, clock):
    timeout, array = world(cpus=1), world(cpus=1, tasks=5)
    fields = "JobID,State,Start,End,Elapsed,AllocTRES,Partition,Account,AdminComment"
    # capture 1 was taken without NodeList: give it the column where recovery asks for it
    lines = []
    for line in fixture("sacct_steps.txt").splitlines():
        parts = line.split("|")
        lines.append("|".join([*parts[:8], "vm" if parts[5] else "None assigned", parts[8]]))
    sacct = "\n".join(lines).replace("|00:01:25|", "|02:00:00|") + "\n"
    fake = FakeSlurm(sacct, "")
    fake.swap({TIMEOUT: timeout, ARRAY_RAN: array})
    at(clock, datetime(2026, 11, 22, 7, 0, tzinfo=UTC))
    report = recover(ledger, Slurm(fake), older_than=timedelta(minutes=10))
    assert fields  # the captured order, plus NodeList
    t = ledger.get_hold(timeout)
    assert (t.state, t.charged) == ("posted", Decimal("0.10"))  # 1 CPU x 0.05 x 2 h (TIMEOUT)
    a = ledger.get_hold(array)
    # three tasks ran (1 s each: 0.00); the other two never did: the hold closes
    assert (a.state, a.tasks_posted, a.remaining) == ("posted", 3, 0)
    kinds = [x.action for x in report.actions if x.hold_id == array]
    assert kinds == ["charge", "charge", "charge", "void"]
    charges = [e.job_id for e in ledger.journal(hold_id=array) if e.kind == "charge"]
    assert sorted(charges) == ["2_0", "2_1", "2_2"]


def test_expired_holds_expire(world, ledger, clock):
    hold_id = world()
    fake = FakeSlurm("", "")
    at(clock, clock.now + timedelta(hours=26))
    dry = recover(ledger, Slurm(fake), dry_run=True)
    assert [(a.action, a.done) for a in dry.actions] == [("expire", False)]
    assert ledger.get_hold(hold_id).state == "open"
    report = recover(ledger, Slurm(fake))
    assert [(a.action, a.done) for a in report.actions] == [("expire", True)]
    assert ledger.get_hold(hold_id).state == "expired"


def test_slurm_unavailable_changes_nothing(world, ledger, clock):
    hold_id = world()
    fake = FakeSlurm()
    fake.down = True
    at(clock, clock.now + timedelta(hours=1))
    with pytest.raises(SlurmError):
        recover(ledger, Slurm(fake))
    assert ledger.get_hold(hold_id).state == "open"


def test_two_recoveries_at_once_resolve_each_hold_once(world, ledger, clock):
    holds = [world() for _ in range(6)]
    text = fixture("sacct_final.txt").replace("|00:00:06|", "|01:00:00|")
    template = next(x for x in text.splitlines() if x.startswith("1|"))
    sacct = "\n".join(
        template.replace("1|", f"{100 + i}|", 1).replace(RAN, h) for i, h in enumerate(holds[:3])
    )
    fake = FakeSlurm(sacct + "\n", "")
    at(clock, ENDED + timedelta(hours=1))
    reports, errors = [], []

    def run() -> None:
        try:
            reports.append(recover(ledger, Slurm(fake), older_than=timedelta(minutes=10)))
        except Exception as exc:  # pragma: no cover - shown in the assertion
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    done = [a for r in reports for a in r.actions if a.done]
    assert sorted(a.hold_id for a in done) == sorted(holds)
    assert ledger.get_account("ml-proj").used_amount == Decimal("0.30")
    assert ledger.get_account("ml-proj").held_amount == 0


def test_cli_recover(world, ledger, clock, migrated_url, tmp_path, monkeypatch):
    # The CLI runs on the real clock: the hold is half an hour old, well inside its timeout.
    clock.now = datetime.now(UTC) - timedelta(minutes=30)
    hold_id = world()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for command in ("sacct", "scontrol"):
        script = bin_dir / command
        script.write_text("#!/bin/sh\nexit 0\n")  # Slurm knows no job: the hold never became one
        script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    runner = CliRunner()
    args = ["--database", migrated_url, "recover"]
    dry = runner.invoke(app_(), [*args, "--dry-run", "--json", "--older-than", "1m"])
    assert dry.exit_code == 0, dry.output
    body = json.loads(dry.stdout)
    assert body["dry_run"] is True
    assert body["summary"]["void"] == 1
    assert body["actions"][0]["hold_id"] == hold_id
    assert ledger.get_hold(hold_id).state == "open"
    real = runner.invoke(app_(), [*args, "--older-than", "1m"])
    assert real.exit_code == 0, real.output
    assert "never became a job" in real.stdout
    assert ledger.get_hold(hold_id).state == "voided"
    bad = runner.invoke(app_(), [*args, "--older-than", "soon"])
    assert bad.exit_code == 1
    assert bad.output.startswith("error: older-than")


def app_():
    from asbb_tui.cli import app

    return app


def test_the_sweeper_thread_resolves_orphans(world, ledger, clock):
    hold_id = world()
    at(clock, clock.now + timedelta(hours=1))
    sweeper = RecoverySweeper(ledger, Slurm(FakeSlurm()), interval=0.05)
    sweeper.start()
    try:
        deadline = time.monotonic() + 10
        while ledger.get_hold(hold_id).state == "open" and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        sweeper.stop()
    assert ledger.get_hold(hold_id).state == "voided"


def test_only_the_named_holds_are_looked_at(world, ledger, clock):
    mine, other = world(), world()
    at(clock, clock.now + timedelta(hours=30))  # both past their timeout
    report = recover(ledger, Slurm(FakeSlurm()), only={mine})
    assert [(a.hold_id, a.action) for a in report.actions] == [(mine, "expire")]
    assert ledger.get_hold(other).state == "open"
    recover(ledger, Slurm(FakeSlurm()))


def test_hold_of_a_job_from_its_admin_comment() -> None:
    running = FakeSlurm(scontrol=fixture("scontrol_running.txt"))
    job = Slurm(running).show_job("1")
    assert job is not None
    assert job.hold_id is not None
    assert Slurm(running).hold_of_job("1") == job.hold_id  # the controller's record
    gone = FakeSlurm(sacct=fixture("sacct_final.txt"))  # no longer in the controller
    assert Slurm(gone).hold_of_job("1") == "ha548dc99ba304b609a338e8694789bad"
    assert Slurm(gone).hold_of_job("999") is None
    down = FakeSlurm()
    down.down = True
    assert Slurm(down).hold_of_job("1") is None
