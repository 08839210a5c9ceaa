"""Recovery decisions from Slurm's record, on a real database, with Slurm output captured from a
real Slurm 22.05 cluster (tests/fixtures/slurm/reader_captures.json; hold ids swapped for this
test's holds). How each line is read is tested in tests/test_slurm_reader.py."""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from asbb_core.integrations.recovery import RecoverySweeper, recover
from asbb_core.integrations.slurm import SACCT_FIELDS, Slurm, SlurmError
from asbb_core.ledger.verify import verify_ledger
from tests.slurm_output import FakeSlurm, captured, line_of, renumbered

# hold ids in the captures (their "jobs" say what each job did)
RAN = "h1c5cda85525e4def84f2c1f7b88ac340"  # job 1: ran 10 s on 2 CPUs (COMPLETED)
DEPENDENCY = "hc843af498a20486fa15c099a09c9d207"  # job 2: pending on a dependency, cancelled
PENDING = "h6773f47be132404da2d170f23be629c8"  # job 3: pending for resources, cancelled
FUTURE = "hb118f3db280844c397b6ef527912ab82"  # job 4: --begin=now+1hour, cancelled
ARRAY = "h4d68d7297c5c4a579ce5db5da890f420"  # job 5_[0-3]: cancelled before any task ran
THROTTLED = "hb471bc75bf81427cabc1e60e5a9cbe93"  # job 6_[0-3%1]: the same, throttled
ARRAY_RAN = "hf4e98729b86345f9b02d41dde6300f7a"  # job 7_0..7_2: every task ran 1 s
FAILED = "ha5ec5896d9b84b898c830ded10e1c43a"  # job 8: exit 3 after 0 s (it ran)
SPLIT = "hcdeb3d084ae846039335d33f26f723a6"  # job 11: task 0 ran 4 s, 11_[1-3] never did
TIMEOUT = "hde829a40bd9a48bb9331b9303c61532a"  # job 13: TIMEOUT after 1:26
ENDED = datetime(2026, 12, 3, 8, 41, 27, tzinfo=UTC)  # job 1's end
FORMAT = "--format=" + ",".join(SACCT_FIELDS)


@pytest.fixture
def world(ledger, ctx, clock):
    clock.now = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)  # the holds are taken before the jobs
    ledger.create_account("rich", ctx=ctx, limit="1000")

    def hold(cpus: int = 2, tasks: int = 1, hours: int = 1) -> str:
        estimate = Decimal("0.05") * cpus * hours * tasks
        return ledger.create_hold(
            "rich",
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


def test_controller_and_accounting_views_are_merged():
    # b..f cancelled while pending, job 1 still running: accounting does not have job 1's
    # AdminComment yet, and never records job 2 (it never became eligible)
    fake = FakeSlurm(captured("cancelled", "sacct"), captured("cancelled", "squeue"))
    jobs = Slurm(fake).jobs_by_hold(datetime(2026, 12, 2, tzinfo=UTC))
    assert {k: [j.job_id for j in v] for k, v in jobs.items()} == {
        PENDING: ["3"],
        FUTURE: ["4"],
        ARRAY: ["5_[0-3]"],
        THROTTLED: ["6_[0-3%1]"],
        RAN: ["1"],  # the controller's newer view of a job still active
        DEPENDENCY: ["2"],  # only the controller knows it
    }
    assert (jobs[RAN][0].state, jobs[RAN][0].ran) == ("RUNNING", True)
    assert not any(j.ran for k, v in jobs.items() if k != RAN for j in v)
    assert [c[0] for c in fake.calls] == ["sacct", "squeue"]
    assert fake.commands("squeue")[0][:5] == ["squeue", "-h", "-a", "-t", "all"]
    assert "-j" not in fake.commands("squeue")[0]


def test_each_case_is_decided_and_dry_run_changes_nothing(world, ledger, clock):
    ran, pending, array, never, future = (world(), world(), world(tasks=4), world(), world())
    dependency, throttled = world(), world(tasks=4)
    fake = FakeSlurm(
        # after job 1 ended (made to run an hour); job 2 (dependency) only the controller knows
        captured("final", "sacct").replace("|00:00:10|", "|01:00:00|"),
        captured("final", "squeue"),
    )
    fake.swap(
        {
            RAN: ran,
            PENDING: pending,
            ARRAY: array,
            FUTURE: future,
            DEPENDENCY: dependency,
            THROTTLED: throttled,
        }
    )
    at(clock, ENDED + timedelta(minutes=30))
    young = world()  # taken 0 minutes ago: within the grace period, not examined
    slurm = Slurm(fake)
    before = ledger.get_account("rich")

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
    for voided in (array, future, dependency, throttled):
        assert (actions[voided].action, actions[voided].reason) == (
            "void",
            "job cancelled before it ran",
        )
    assert (actions[never].action, actions[never].reason) == (
        "void",
        "never became a job: no job in Slurm carries this hold",
    )
    assert not any(a.done for a in dry.actions)
    after = ledger.get_account("rich")
    assert (after.used_amount, after.held_amount) == (before.used_amount, before.held_amount)
    assert all(
        ledger.get_hold(h).state == "open"
        for h in (ran, pending, array, never, future, dependency, throttled)
    )
    # sacct was asked for every job since a day before the oldest hold, with all users
    (sacct,) = fake.commands("sacct")
    assert sacct[:5] == ["sacct", "-P", "-n", "-a", "-X"]
    assert FORMAT in sacct
    assert sacct[sacct.index("-S") + 1] == "2026-12-02T08:00:00"

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
    for voided in (pending, array, never, future, dependency, throttled):
        assert ledger.get_hold(voided).state == "voided"
    assert ledger.get_hold(young).state == "open"
    account = ledger.get_account("rich")
    assert account.used_amount == Decimal("0.10")

    # a second run finds nothing left to do
    again = recover(ledger, slurm, older_than=timedelta(minutes=10))
    assert again.actions == []


def test_a_recovered_charge_and_the_epilogs_late_reconcile_charge_once(world, ledger, clock):
    """The same idempotency key as the daemon: whichever comes second charges nothing."""
    from asbb_core.integrations.spool import ledger_sender

    ran = world()
    fake = FakeSlurm(captured("final", "sacct").replace("|00:00:10|", "|01:00:00|"))
    fake.swap({RAN: ran})
    at(clock, ENDED + timedelta(hours=1))
    recover(ledger, Slurm(fake), older_than=timedelta(minutes=10))
    # the epilog's spooled request arrives afterwards, with the same figures
    sent = ledger_sender(ledger)(
        {"job_id": "1", "transaction_id": ran, "elapsed_seconds": 3600, "cpus": 2, "nodes": 1}
    )
    assert sent.delivery == "delivered"
    assert "replayed" in sent.detail
    assert ledger.get_account("rich").used_amount == Decimal("0.10")
    # ... or with the real AWS bill: the bill replaces the recovered estimate, once
    bill = {"job_id": "1", "transaction_id": ran, "actual_cost": "9.99"}
    other = ledger_sender(ledger)(bill)
    assert other.delivery == "delivered"
    assert ledger.get_account("rich").used_amount == Decimal("9.99")
    assert ledger_sender(ledger)(bill).delivery == "delivered"  # sent twice: charged once
    assert ledger.get_account("rich").used_amount == Decimal("9.99")
    # ... while a local-model price arriving after it leaves the bill standing
    assert ledger_sender(ledger)({**bill, "actual_cost": None, "elapsed_seconds": 60})
    assert ledger.get_account("rich").used_amount == Decimal("9.99")


def test_jobs_still_pending_or_running_are_left(world, ledger, clock):
    ran, pending = world(), world()
    # job 1 runs, job 3 waits; accounting has no AdminComment for them yet
    fake = FakeSlurm(captured("pending", "sacct"), captured("pending", "squeue"))
    fake.swap({RAN: ran, PENDING: pending})
    at(clock, ENDED + timedelta(hours=1))
    report = recover(ledger, Slurm(fake), older_than=timedelta(minutes=10))
    actions = by_hold(report)
    assert (actions[ran].action, actions[ran].reason) == ("leave", "job still running")
    assert (actions[pending].action, actions[pending].reason) == ("leave", "job still pending")
    assert ledger.get_hold(ran).state == ledger.get_hold(pending).state == "open"


def test_a_job_that_ended_moments_ago_is_left_to_its_epilog(world, ledger, clock):
    ran = world()
    fake = FakeSlurm(captured("final", "sacct"))
    fake.swap({RAN: ran})
    at(clock, ENDED + timedelta(minutes=2))
    (action,) = recover(ledger, Slurm(fake), older_than=timedelta(minutes=10)).actions
    assert (action.action, action.reason) == (
        "leave",
        "job ended recently; waiting for its epilog reconcile",
    )


def test_timeout_kill_is_charged_and_an_array_is_charged_per_task(world, ledger, clock):
    timeout, array = world(cpus=1), world(cpus=1, tasks=5)
    split, failed = world(cpus=2, tasks=4), world(cpus=1)
    fake = FakeSlurm(  # the timed-out job made to run 2 h
        captured("forged_done", "sacct").replace("|00:01:26|", "|02:00:00|"),
        captured("forged_done", "squeue"),
    )
    fake.swap({TIMEOUT: timeout, ARRAY_RAN: array, SPLIT: split, FAILED: failed})
    at(clock, datetime(2026, 12, 3, 9, 30, tzinfo=UTC))
    report = recover(ledger, Slurm(fake), older_than=timedelta(minutes=10))
    t = ledger.get_hold(timeout)
    assert (t.state, t.charged) == ("posted", Decimal("0.10"))  # 1 CPU x 0.05 x 2 h (TIMEOUT)
    a = ledger.get_hold(array)
    # three tasks ran (1 s each: 0.00); the other two never did: the hold closes
    assert (a.state, a.tasks_posted, a.remaining) == ("posted", 3, 0)
    kinds = [x.action for x in report.actions if x.hold_id == array]
    assert kinds == ["charge", "charge", "charge", "void"]
    charges = [e.job_id for e in ledger.journal(hold_id=array) if e.kind == "charge"]
    assert sorted(charges) == ["7_0", "7_1", "7_2"]
    # task 0 of job 11 ran 4 s before the cancel; its pending remainder 11_[1-3] never ran
    actions = [(x.action, x.job_id) for x in report.actions if x.hold_id == split]
    assert actions == [("charge", "11_0"), ("void", None)]
    assert ledger.get_hold(split).state == "posted"
    # a job that failed at once still ran (it had its node): charged, for 0 s
    (f,) = [x for x in report.actions if x.hold_id == failed]
    assert (f.action, f.job_id, f.amount, f.reason) == (
        "charge",
        "8",
        Decimal("0.00"),
        "job failed after 0:00:00 without a reconcile",
    )


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
    text = captured("final", "sacct").replace("|00:00:10|", "|01:00:00|")
    template = line_of(text, "1")
    sacct = "".join(
        renumbered(template, str(100 + i)).replace(RAN, h) for i, h in enumerate(holds[:3])
    )
    fake = FakeSlurm(sacct)
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
    assert ledger.get_account("rich").used_amount == Decimal("0.30")
    assert ledger.get_account("rich").held_amount == 0


def test_cli_recover(world, ledger, clock, migrated_url, tmp_path, monkeypatch):
    # The CLI runs on the real clock: the hold is half an hour old, well inside its timeout.
    clock.now = datetime.now(UTC) - timedelta(minutes=30)
    hold_id = world()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for command in ("sacct", "squeue"):
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
    # what squeue -j 1 prints while job 1 runs: its line of the listing
    running = FakeSlurm(one={("squeue", "1"): line_of(captured("pending", "squeue"), "1")})
    job = Slurm(running).show_job("1")
    assert job is not None
    assert (job.state, job.hold_id) == ("RUNNING", RAN)
    assert Slurm(running).hold_of_job("1") == RAN  # the controller's record
    assert running.commands("sacct") == []
    # no longer in the controller (squeue -j fails for it): accounting's record
    gone = FakeSlurm(one={("sacct", "1"): captured("final", "sacct_1")})
    assert Slurm(gone).hold_of_job("1") == RAN
    assert Slurm(gone).hold_of_job("999") is None
    assert gone.commands("sacct")[-1] == ["sacct", "-P", "-n", "-X", "-j", "999", FORMAT]
    down = FakeSlurm()
    down.down = True
    assert Slurm(down).hold_of_job("1") is None


def test_a_job_naming_another_accounts_hold_is_not_its_job(ledger, ctx, clock, caplog):
    """Were a job's record to name a hold of another account (a "|" in an account name
    pushing text into AdminComment, on a cluster that does not enforce associations), that
    job is not taken for the hold's: the hold's account is never charged for it."""
    clock.now = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
    ledger.create_account("victim", ctx=ctx, limit="100")
    victim = ledger.create_hold("victim", "1", ctx=ctx, partition="aws-cpu").hold_id
    fake = FakeSlurm(captured("final", "sacct"), captured("final", "squeue"))
    fake.swap({RAN: victim})  # job 1 ran under "rich" and now names the victim's hold
    at(clock, ENDED + timedelta(minutes=30))
    with caplog.at_level(logging.WARNING, logger="asbb.recovery"):
        report = recover(ledger, Slurm(fake), dry_run=True, older_than=timedelta(minutes=10))
    action = by_hold(report)[victim]
    assert action.action != "charge"
    assert action.job_id is None
    assert "runs under rich; ignored" in caplog.text
