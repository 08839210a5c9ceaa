"""asbb's reader of Slurm's record (asbb_core.integrations.slurm), on output captured from a real
Slurm 22.05 (tests/fixtures/slurm/reader_captures.json and the epilog's epilog_captures.json).

The reader must never take a job's hold or account from text the job's owner wrote: JobName,
WorkDir and Comment may carry ``AdminComment=asbb:hold=<another job's hold>``, ``Account=``
and ``|``. The captures include such jobs, submitted by an unprivileged user."""

from __future__ import annotations

import importlib.util
import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import ModuleType

import pytest

from asbb_core.integrations.slurm import (
    SACCT_FIELDS,
    SQUEUE_FIELDS,
    Slurm,
    SlurmError,
    SlurmJob,
    Tres,
    parse_elapsed,
    parse_sacct,
    parse_squeue,
    squeue_format,
)
from tests.slurm_output import EPILOG, READER, ROOT, VICTIM, FakeSlurm, captured, line_of

OWN = {  # the forged jobs' own holds (job 16: JobName, 17: Comment, 18: working folder)
    "16": "h073f8e3da3f543f198a790b190fcdf38",
    "17": "h0cfa3d299798475cbb0cbd9caf7ad80b",
    "18": "h65d4a4b083a1432ba4ff56947889a239",
}
# what a user may write into a job; none of it may ever be asked for
USER_SET = {"name", "jobname", "workdir", "comment", "command", "stdout", "stderr", "stdin"}
USER_SET |= {"mailuser", "licenses", "reqnodes", "dependency", "features", "wckey"}


def epilog_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("epilog", ROOT / "plugin/epilog_reconcile.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def by_id(jobs: list[SlurmJob]) -> dict[str, SlurmJob]:
    return {j.job_id: j for j in jobs}


def at(hour: int, minute: int, second: int) -> datetime:
    return datetime(2026, 12, 3, hour, minute, second, tzinfo=UTC)


# ---------------------------------------------------------------- the formats


def test_the_commands_are_the_captured_ones():
    assert f"-O '{squeue_format()}'" in READER["commands"]["squeue"]
    assert f"--format={','.join(SACCT_FIELDS)}" in READER["commands"]["sacct"]
    # only fields Slurm sets; AdminComment last; the raw id again just before it
    for fields, comment, raw in (
        (SQUEUE_FIELDS, "admin_comment", "JobID"),
        (SACCT_FIELDS, "AdminComment", "JobIDRaw"),
    ):
        assert not {f.lower().replace("_", "") for f in fields} & USER_SET
        assert fields[-1] == comment
        assert fields[-2] == raw
        assert fields.count(raw) == 2


def test_the_controllers_listing():
    jobs = by_id(parse_squeue(captured("forged_done", "squeue")))
    assert len(jobs) == 18
    done = jobs["1"]
    assert (done.state, done.raw_id, done.ran, done.hold_id) == (
        "COMPLETED",
        "1",
        True,
        "h1c5cda85525e4def84f2c1f7b88ac340",
    )
    assert (done.start, done.end, done.elapsed) == (
        at(8, 41, 17),
        at(8, 41, 27),
        timedelta(seconds=10),
    )
    assert done.tres == Tres(cpus=2, nodes=1)
    assert (done.account, done.partition, done.node_list) == ("rich", "aws", "vm")
    # cancelled while pending: squeue shows the *requested* TRES and Start == End, no nodes
    never = jobs["3"]
    assert (never.state, never.ran, never.node_list) == ("CANCELLED", False, "")
    assert never.tres.memory_mb == Decimal(12052)
    assert never.start == never.end
    # arrays: a task is <array>_<task> whatever its own id; tasks not split off keep a range
    assert (jobs["7_0"].raw_id, jobs["7_1"].raw_id, jobs["7_2"].raw_id) == ("9", "10", "7")
    assert (jobs["5_[0-3]"].is_array_remainder, jobs["5_[0-3]"].ran) == (True, False)
    assert "6_[0-3%1]" in jobs  # throttled: spelt as sacct spells it
    assert (jobs["11_0"].ran, jobs["11_0"].elapsed) == (True, timedelta(seconds=4))
    assert not jobs["11_[1-3]"].ran
    # failed at once: 0 s, yet it ran (it had its node)
    assert (jobs["8"].state, jobs["8"].elapsed, jobs["8"].ran) == ("FAILED", timedelta(0), True)
    assert (jobs["13"].state, jobs["13"].elapsed) == ("TIMEOUT", timedelta(minutes=1, seconds=26))
    assert (jobs["14"].admin_comment, jobs["14"].hold_id) == ("", None)  # (null): no mark
    pending = jobs["15"]  # held: no expected start
    assert (pending.state, pending.start, pending.active, pending.account) == (
        "PENDING",
        None,
        True,
        "victim",
    )
    assert all(j.comment == "" for j in jobs.values())  # the owner's Comment is never read


def test_accountings_listing():
    jobs = by_id(parse_sacct(captured("split_cancelled", "sacct")))
    assert list(jobs) == ["1", "3", "4", "5_[0-3]", "6_[0-3%1]", "8", "7_0", "7_1", "7_2",
                          "11_0", "11_[1-3]"]  # fmt: skip
    cancelled = jobs["3"]
    assert (cancelled.state, cancelled.raw_state, cancelled.start, cancelled.ran) == (
        "CANCELLED",
        "CANCELLED by 0",
        None,
        False,
    )
    assert (cancelled.node_list, cancelled.tres.empty) == ("None assigned", True)
    assert (jobs["7_0"].raw_id, jobs["7_0"].tres) == ("9", Tres(cpus=1, nodes=1))
    assert (jobs["11_0"].state, jobs["11_0"].ran) == ("CANCELLED", True)
    assert jobs["1"].end == at(8, 41, 27)
    # while they ran, accounting had no AdminComment for them yet
    early = by_id(parse_sacct(captured("forged_running", "sacct")))
    assert (early["13"].state, early["13"].hold_id, early["13"].end) == ("RUNNING", None, None)
    assert parse_elapsed("1-02:03:04") == timedelta(days=1, hours=2, minutes=3, seconds=4)
    assert parse_elapsed("1:26") == timedelta(minutes=1, seconds=26)
    assert parse_elapsed("Unknown") is None


def test_steps_are_not_jobs():
    line = line_of(captured("final", "sacct"), "1")
    step = line.replace("1|1|", "1.batch|1.batch|", 1).replace("|vm|1|", "|vm|1.batch|")
    assert [j.job_id for j in parse_sacct(line + step)] == ["1"]


# ---------------------------------------------------------------- one job


def test_one_job_by_any_of_its_ids():
    fake = FakeSlurm(
        one={
            ("squeue", "7"): captured("split", "squeue_7"),  # -j of the array: all its tasks
            ("squeue", "9"): line_of(captured("split", "squeue"), "9"),
            ("squeue", "5_2"): captured("pending", "squeue_5_2"),
            ("sacct", "7"): captured("split", "sacct_7"),
            ("sacct", "7_1"): captured("split", "sacct_7_1"),
        }
    )
    slurm = Slurm(fake)
    assert [(j.job_id, j.raw_id) for j in [slurm.show_job("7"), slurm.show_job("9")] if j] == [
        ("7_2", "7"),  # the task that kept the array's own id
        ("7_0", "9"),
    ]
    remainder = slurm.show_job("5_2")  # a task of a pending array not split off yet
    assert remainder is not None
    assert (remainder.state, remainder.hold_id) == ("PENDING", "h4d68d7297c5c4a579ce5db5da890f420")
    one = slurm.accounting("7_1")
    assert one is not None
    assert (one.job_id, one.raw_id, one.state) == ("7_1", "10", "COMPLETED")
    whole = slurm.accounting("7")
    assert whole is not None
    assert whole.job_id == "7_2"
    assert fake.commands("squeue")[0] == [
        "squeue", "-h", "-a", "-t", "all", "-j", "7", "-O", squeue_format(),
    ]  # fmt: skip
    # unknown to the controller (squeue -j exits 1) and to accounting (sacct prints nothing)
    assert slurm.show_job("999999") is None
    assert slurm.accounting("999999") is None
    assert slurm.hold_of_job("999999") is None
    # not a job id: nothing is run
    before = len(fake.calls)
    for bad in ("-h", "1 2", "", "1.batch", "x"):
        assert slurm.show_job(bad) is None
        assert slurm.accounting(bad) is None
    assert len(fake.calls) == before


def test_accounting_failing_is_an_error_the_controller_failing_is_not_found():
    fake = FakeSlurm()
    fake.down = True
    assert Slurm(fake).show_job("1") is None
    with pytest.raises(SlurmError):
        Slurm(fake).accounting("1")
    with pytest.raises(SlurmError):
        Slurm(fake).jobs_by_hold(datetime(2026, 12, 3, tzinfo=UTC))


# ---------------------------------------------------------------- forgeries


@pytest.mark.parametrize("job_id", sorted(OWN))
def test_a_forged_job_is_read_with_its_own_hold_and_account(job_id):
    # the attack is real: scontrol prints the victim's hold as this job's AdminComment key
    (shown,) = [x for x in captured("forged_running", "scontrol").splitlines()
                if x.startswith(f"JobId={job_id} ")]  # fmt: skip
    assert f"AdminComment=asbb:hold={VICTIM}" in shown
    assert "Account=victim" in shown
    assert "|" in shown
    listing, accounting = captured("forged_done", "squeue"), captured("forged_done", "sacct")
    fake = FakeSlurm(
        accounting,
        listing,
        one={
            ("squeue", job_id): line_of(listing, job_id),
            ("sacct", job_id): line_of(accounting, job_id),
        },
    )
    slurm = Slurm(fake)
    for job in (slurm.show_job(job_id), slurm.accounting(job_id)):
        assert job is not None
        assert (job.job_id, job.hold_id, job.account, job.state) == (
            job_id,
            OWN[job_id],
            "rich",
            "COMPLETED",
        )
        assert job.elapsed == timedelta(seconds=2)
    assert slurm.hold_of_job(job_id) == OWN[job_id]
    # recovery's view: the victim's hold belongs to the victim's job alone
    holds = slurm.jobs_by_hold(datetime(2026, 12, 2, tzinfo=UTC))
    assert [j.job_id for j in holds[VICTIM]] == ["15"]
    assert [j.job_id for j in holds[OWN[job_id]]] == [job_id]


@pytest.mark.parametrize("name", ["forged_name", "forged_comment", "forged_workdir"])
def test_the_epilogs_captures_of_forged_jobs_read_the_same(name):
    """The epilog's captures (its own field lists, other forged jobs) through this reader."""
    epilog = epilog_module()
    job = EPILOG["jobs"][name]
    assert f"AdminComment=asbb:hold={EPILOG['victim_hold']}" in job["scontrol"]
    (live,) = parse_squeue(job["squeue"], epilog.SQUEUE_FIELDS)
    (accounted,) = parse_sacct(job.get("sacct_later", job["sacct"]), epilog.SACCT_FIELDS)
    for read in (live, accounted):
        assert (read.job_id, read.hold_id, read.account) == (job["job"], job["hold"], "rich")


def test_scontrol_output_is_not_half_used(caplog):
    """Fed where squeue output belongs, a forged scontrol line is refused whole."""
    with caplog.at_level(logging.WARNING, logger="asbb.slurm"):
        assert parse_squeue(captured("forged_running", "scontrol")) == []
        assert parse_sacct(captured("forged_running", "scontrol")) == []
    assert len(caplog.records) == 6


def test_a_pipe_that_reaches_a_field_is_caught(caplog):
    """Were a value someone wrote ever printed (an account name on a cluster that does not
    check them), its ``|`` would move the fields after it: the line is then skipped, and a
    listing with a skipped line is not decided on."""
    listing = captured("forged_done", "squeue")
    line = line_of(listing, "16")
    forged = line.replace("|rich|", f"|rich|aws|vm|99|asbb:hold={VICTIM}|", 1)
    sacct_line = line_of(captured("forged_done", "sacct"), "16")
    forged_sacct = sacct_line.replace("|rich|", f"|x|aws|vm|99|asbb:hold={VICTIM}|", 1)
    with caplog.at_level(logging.WARNING, logger="asbb.slurm"):
        assert parse_squeue(forged) == []
        assert parse_sacct(forged_sacct) == []
    assert [r.getMessage().split(": ")[1] for r in caplog.records] == [
        "a line was skipped, its JobID fields differ ('16', '99')",
        "a line was skipped, its JobIDRaw fields differ ('16', '99')",
    ]
    fake = FakeSlurm(captured("forged_done", "sacct"), listing.replace(line, forged))
    assert "16" not in by_id(Slurm(fake).controller_jobs())  # skipped, the rest read
    with pytest.raises(SlurmError, match="1 of squeue could not be read"):
        Slurm(fake).jobs_by_hold(datetime(2026, 12, 2, tzinfo=UTC))
    # an administrator's own | inside AdminComment stays in it
    noted = line.replace(f"asbb:hold={OWN['16']}", f"asbb:hold={OWN['16']}|checked|ok")
    (job,) = parse_squeue(noted)
    assert (job.hold_id, job.admin_comment) == (OWN["16"], f"asbb:hold={OWN['16']}|checked|ok")


@pytest.mark.parametrize(
    ("old", "new", "why"),
    [
        ("|COMPLETED|", "|Completed|", "State 'Completed'"),
        ("|2026-12-03T08:41:49|", "|2026-12-03 08:41:49|", "StartTime '2026-12-03 08:41:49'"),
        ("|0:02|", "|2 s|", "TimeUsed '2 s'"),
        ("|cpu=1,node=1,billing=1|", "|cpu=1 node=1|", "tres-alloc 'cpu=1 node=1'"),
        ("|vm|", "|vm extra|", "NodeList 'vm extra'"),
        ("|rich|", "|ri|ch|", "its JobID fields differ ('16', 'vm')"),
        ("16|16|N/A|", "16 |16|N/A|", "JobID '16 '"),
    ],
)
def test_a_line_not_as_slurm_prints_it_is_skipped(caplog, old, new, why):
    listing = captured("forged_done", "squeue")
    line = line_of(listing, "16")
    assert old in line
    with caplog.at_level(logging.WARNING, logger="asbb.slurm"):
        jobs = parse_squeue(listing.replace(line, line.replace(old, new, 1)))
    assert "16" not in by_id(jobs)
    assert len(jobs) == 17  # every other line is read
    (record,) = caplog.records
    assert why in record.getMessage()


def test_too_few_fields_and_unknown_fields():
    assert parse_squeue("16|16|N/A|COMPLETED\n") == []
    assert parse_sacct("16|16|COMPLETED\n") == []
    with pytest.raises(ValueError, match="no rule for squeue field"):
        parse_squeue("x|y\n", ("Name", "admin_comment"))
