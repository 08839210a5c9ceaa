"""aws-slurm-burst's cost export, as its published code writes it, ingested end to end.

``aws-slurm-burst-export-performance --job-id=ID --format=asbb-reconciliation
--output-dir=DIR`` (scttfrdmn/aws-slurm-burst, cmd/export-performance) builds a Go map of the
job's cost facts, writes it with ``json.MarshalIndent`` (keys sorted, two-space indent, money
as JSON numbers, no newline at the end) straight into ``DIR/job-ID-asbb-reconciliation.json``
with ``os.WriteFile(..., 0600)`` (0644 in its earlier releases), after ``os.MkdirAll(DIR,
0755)``. Its own epilog also writes the cost into the job's Comment (``aws_meta:{...}``),
which the job's owner can rewrite: asbb must never charge from it.

These tests write the file exactly so, into a folder shaped like the default
``asbx.spool_dir`` under tmp, and read it with real permissions (a daemon user that may not
read a root-owned 0600 file is a real unprivileged process).
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import stat
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from asbb_core.integrations.cost_reports import (
    AsbxWatcher,
    CostReports,
    asbx_status,
    ingest_folder,
    slurm_lookup,
)
from asbb_core.integrations.recovery import recover
from asbb_core.integrations.slurm import Slurm
from asbb_core.ledger import Ledger
from asbb_core.ledger.verify import verify_ledger
from asbb_core.settings import AsbxSettings, Settings
from asbb_core.store.database import Database
from asbb_core.store.models import CostReport, EntryKind, HoldState

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FOLDER = "/var/spool/asbb/costs"
ACCOUNT = "nsf-abc123"
JOB = "1234"

# What json.MarshalIndent(reconciliationData, "", "  ") writes for aws-slurm-burst's map (its
# keys sorted by Go; float64s in their shortest form: 2 h is 2, not 2.0).
EXPORT = """{
  "account": "nsf-abc123",
  "actual_cost": 12.75,
  "compute_cost": 12.45,
  "duration_hours": 2,
  "export_time": "2026-12-03T10:41:27Z",
  "instance_types": [
    "c5n.xlarge"
  ],
  "job_id": "1234",
  "network_cost": 0.05,
  "partition": "aws-cpu",
  "plugin_version": "0.2.0",
  "spot_savings": 3.21,
  "storage_cost": 0.25,
  "success": true,
  "user_id": "researcher"
}"""
NAME = f"job-{JOB}-asbb-reconciliation.json"


def export_folder(base: Path) -> Path:
    """``base`` + the default folder, made as aws-slurm-burst makes it (MkdirAll, 0755)."""
    folder = base / DEFAULT_FOLDER.lstrip("/")
    folder.mkdir(mode=0o755, parents=True, exist_ok=True)
    return folder


def write_export(folder: Path, text: str = EXPORT, *, job: str = JOB, mode: int = 0o600) -> Path:
    """As os.WriteFile does: open O_WRONLY|O_CREATE|O_TRUNC with the mode, write in place;
    then aged past asbx.settle_seconds."""
    path = folder / f"job-{job}-asbb-reconciliation.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)
    then = time.time() - 60
    os.utime(path, (then, then))
    return path


def reports_of(ledger: Ledger) -> list[CostReport]:
    return list(ledger.db.read(lambda s: s.exec(select(CostReport)).all()))


@pytest.fixture
def nsf(ledger, ctx):
    ledger.create_account(ACCOUNT, ctx=ctx, limit="100")
    yield ledger
    report = verify_ledger(ledger.db)
    assert report.ok, [str(p) for p in report.problems]


def test_the_default_folder_is_the_one_aws_slurm_burst_names_for_asbb():
    """aws-slurm-burst's config calls asbb's folder asbb.reconciliation_dir =
    /var/spool/asbb/costs; asbb's default, its config template and its tmpfiles agree."""
    assert AsbxSettings().spool_dir == DEFAULT_FOLDER
    assert Settings.model_fields["asbx"].get_default(call_default_factory=True).spool_dir == (
        DEFAULT_FOLDER
    )
    from asbb_core.settings import render_config

    assert f'spool_dir = "{DEFAULT_FOLDER}"' in render_config("sqlite:///x")
    tmpfiles = (ROOT / "deploy" / "systemd" / "asbb.tmpfiles.conf").read_text(encoding="utf-8")
    line = next(x for x in tmpfiles.splitlines() if x.split()[1:2] == [DEFAULT_FOLDER])
    assert line.split()[2:5] == ["2770", "asbb", "asbb"]


def test_an_export_written_as_aws_slurm_burst_does_is_charged_once_at_its_exact_cost(
    nsf, ctx, tmp_path
):
    ledger = nsf
    hold = ledger.create_hold(ACCOUNT, "11", ctx=ctx, partition="aws-cpu", job_id=JOB).hold_id
    folder = export_folder(tmp_path)
    path = write_export(folder)
    info = path.stat()
    assert stat.S_IMODE(info.st_mode) == 0o600  # as aws-slurm-burst leaves it
    if os.geteuid() == 0:
        assert info.st_uid == 0  # root-owned, and this process (root) may read it

    watcher = AsbxWatcher(folder, CostReports(ledger), interval=30, link_wait=3600)
    first = watcher.run_once()
    assert first.applied == [(NAME, "reconciled")]
    assert (first.rejected, first.waiting, first.stopped) == ([], [], None)

    h = ledger.get_hold(hold)
    assert h.state == HoldState.POSTED
    assert (h.charged, h.released) == (Decimal("12.75"), Decimal("0.45"))  # held 13.20
    assert ledger.get_account(ACCOUNT).used_amount == Decimal("12.75")
    charges = [e for e in ledger.journal(hold_id=hold) if e.kind == EntryKind.CHARGE]
    assert [(e.amount, e.job_id) for e in charges] == [(Decimal("12.75"), JOB)]
    (stored,) = reports_of(ledger)
    assert (stored.job_id, stored.origin, stored.file_name) == (JOB, "spool", NAME)
    assert stored.actual_cost == Decimal("12.75")
    assert [p.name for p in (folder / "processed").iterdir()] == [NAME]
    assert not path.exists()

    # More rounds, and aws-slurm-burst exporting the same job again: charged once all the same.
    assert watcher.run_once().applied == []
    write_export(folder)
    again = watcher.run_once()
    assert again.applied == [(NAME, "unchanged")]
    assert ledger.get_account(ACCOUNT).used_amount == Decimal("12.75")
    assert [e.amount for e in ledger.journal(hold_id=hold) if e.kind == EntryKind.CHARGE] == [
        Decimal("12.75")
    ]


def test_links_files_others_may_change_and_oversized_files_are_still_refused(nsf, ctx, tmp_path):
    ledger = nsf
    folder = export_folder(tmp_path)
    for job in ("1", "2", "3", "4", "5"):
        ledger.create_hold(ACCOUNT, "11", ctx=ctx, partition="aws-cpu", job_id=job)
    body = json.loads(EXPORT)
    good = write_export(folder, json.dumps({**body, "job_id": "1"}, indent=2), job="1")
    outside = write_export(tmp_path, json.dumps({**body, "job_id": "2"}), job="2")
    (folder / "job-2-asbb-reconciliation.json").symlink_to(outside)
    write_export(folder, json.dumps({**body, "job_id": "3"}), job="3", mode=0o666)
    os.chmod(folder / "job-3-asbb-reconciliation.json", 0o666)  # past the umask
    padded = json.dumps({**body, "job_id": "4", "pad": "x" * (2 << 20)})
    write_export(folder, padded, job="4")
    group_writable = write_export(folder, json.dumps({**body, "job_id": "5"}), job="5")
    os.chmod(group_writable, 0o620)
    os.chown(group_writable, 0, 4242)  # a group that may not write the folder

    result = ingest_folder(folder, CostReports(ledger))
    assert result.applied == [(good.name, "reconciled")]
    reasons = dict(result.rejected)
    assert reasons["job-2-asbb-reconciliation.json"].startswith(
        f"validation_error: a symbolic link (to {outside})"
    )
    assert (
        "writable by every user (mode 0666 (rw-rw-rw-))"
        in reasons["job-3-asbb-reconciliation.json"]
    )
    assert "too large" in reasons["job-4-asbb-reconciliation.json"]
    assert (
        "writable by group 4242 (mode 0620 (rw--w----))"
        in reasons["job-5-asbb-reconciliation.json"]
    )
    assert ledger.get_account(ACCOUNT).used_amount == Decimal("12.75")  # job 1 alone
    assert json.loads(outside.read_text())["job_id"] == "2"  # the link's target untouched

    # A group-writable file is fine when its group is the folder's writing group (2770).
    folder.chmod(0o2770)
    os.chown(folder, 0, 4242)
    (folder / "rejected" / "job-5-asbb-reconciliation.json").rename(group_writable)
    assert ingest_folder(folder, CostReports(ledger)).applied == [
        (group_writable.name, "reconciled")
    ]


# ---------------------------------------------------------------- a daemon that may not read it


@pytest.fixture
def open_base() -> Iterator[Path]:
    """A folder an unprivileged user can reach (pytest's own tmp is root's alone)."""
    base = Path(tempfile.mkdtemp(prefix="asbb-asbx-", dir="/tmp"))
    base.chmod(0o755)
    yield base
    shutil.rmtree(base, ignore_errors=True)


def as_user(user: pwd.struct_passwd, work: Callable[[], Any]) -> Any:
    """``work()`` in a child process that runs as ``user`` (real and effective ids, no
    supplementary groups), as the daemon runs as its own user; its JSON-able result, or the
    child's error raised here. Forked: the interpreter (under root's home here) is already
    loaded, so only what ``work`` touches must be the user's."""
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        status = 0
        try:
            os.close(reader)
            os.setgroups([])
            os.setresgid(user.pw_gid, user.pw_gid, user.pw_gid)
            os.setresuid(user.pw_uid, user.pw_uid, user.pw_uid)
            out = json.dumps({"result": work()})
        except BaseException as exc:  # reported to the parent, which fails the test
            out = json.dumps({"error": f"{type(exc).__name__}: {exc}"})
            status = 1
        finally:
            with os.fdopen(writer, "w") as fh:
                fh.write(out)
            os._exit(status)
    os.close(writer)
    with os.fdopen(reader) as fh:
        answer = json.loads(fh.read() or '{"error": "no answer"}')
    os.waitpid(pid, 0)
    assert "error" not in answer, answer["error"]
    return answer["result"]


def test_a_root_owned_0600_export_waits_until_the_daemons_user_may_read_it(
    open_base, sqlite_template, clock, ctx
):
    """The daemon runs as its own user (asbb); aws-slurm-burst run as root leaves a 0600
    file only root can read. The file waits, saying whose it is, its mode and what to change;
    once it is made readable (the folder's group, 0640) the same user charges it, once."""
    if os.geteuid() != 0:
        pytest.skip("needs root: the export is root's, the daemon another user")
    try:
        daemon = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user 'nobody' here")
    database = open_base / "asbb.sqlite3"
    shutil.copyfile(sqlite_template, database)
    url = f"sqlite:///{database}"
    folder = export_folder(open_base)
    settings = Settings(
        database={"url": url},
        partitions={"aws-cpu": {"per_cpu_hour": Decimal("0.05")}},
        asbx={"spool_dir": str(folder), "interval_seconds": 30},
    )
    db = Database(url, clock=clock)
    ledger = Ledger(db, settings, clock=clock)
    ledger.create_account(ACCOUNT, ctx=ctx, limit="100")
    hold = ledger.create_hold(ACCOUNT, "11", ctx=ctx, partition="aws-cpu", job_id=JOB).hold_id
    # Every module the watcher and the status need, loaded while root may read them.
    assert ingest_folder(folder, CostReports(ledger)).applied == []
    asbx_status(CostReports(ledger), folder)
    db.dispose()
    for path in (open_base, *open_base.rglob("*")):  # the daemon's user owns its state
        os.chown(path, daemon.pw_uid, daemon.pw_gid, follow_symlinks=False)
    folder.chmod(0o2770)  # as asbb.tmpfiles.conf makes it, the daemon's user's group
    path = write_export(folder)  # aws-slurm-burst, run as root
    assert (path.stat().st_uid, stat.S_IMODE(path.stat().st_mode)) == (0, 0o600)

    def watcher_round() -> dict[str, Any]:
        mine = Database(url, clock=clock)
        try:
            reports = CostReports(Ledger(mine, settings, clock=clock))
            done = AsbxWatcher(folder, reports, interval=30, link_wait=3600).run_once()
            status = asbx_status(reports, folder)
            return {
                "uid": os.geteuid(),
                "applied": done.applied,
                "rejected": done.rejected,
                "waiting": done.waiting,
                "problems": status.problems,
            }
        finally:
            mine.dispose()

    waited = as_user(daemon, watcher_round)
    assert waited["uid"] == daemon.pw_uid
    assert (waited["applied"], waited["rejected"]) == ([], [])  # not the file's fault
    ((name, reason),) = waited["waiting"]
    assert name == NAME
    assert reason.startswith(f"{path} cannot be read by uid {daemon.pw_uid} (nobody)")
    assert "owned by uid 0 (root)" in reason
    assert "mode 0600 (rw-------)" in reason
    assert "runuser -u nobody" in reason
    assert "chmod 0640" in reason
    assert path.exists()
    (problem,) = waited["problems"]  # the daemon's status says it, and nothing else
    assert problem.startswith(f"1 export file(s) cannot be read, e.g. {path} cannot be read")
    assert "mode 0600" in problem

    os.chown(path, 0, daemon.pw_gid)  # chgrp <the folder's group>; chmod 0640
    path.chmod(0o640)
    done = as_user(daemon, watcher_round)
    assert done["applied"] == [[NAME, "reconciled"]]
    assert done["problems"] == []
    assert as_user(daemon, watcher_round)["applied"] == []

    db = Database(url, clock=clock)
    try:
        ledger = Ledger(db, settings, clock=clock)
        assert ledger.get_hold(hold).charged == Decimal("12.75")
        assert ledger.get_account(ACCOUNT).used_amount == Decimal("12.75")
        assert len(reports_of(ledger)) == 1
    finally:
        db.dispose()


def test_status_names_an_unreadable_export_in_process(nsf, tmp_path, monkeypatch):
    """The same reason through asbx_status, without a second user: opening is refused."""
    folder = export_folder(tmp_path)
    path = write_export(folder)
    opening = os.open

    def denied(file, *args, **kwargs):  # root reads whatever the mode says: refuse by hand
        if Path(file) == path:
            raise PermissionError(13, "Permission denied", str(file))
        return opening(file, *args, **kwargs)

    monkeypatch.setattr(os, "open", denied)
    status = asbx_status(CostReports(nsf), folder)
    (problem,) = [p for p in status.problems if "cannot be read" in p]
    assert f"{path} cannot be read by uid {os.geteuid()}" in problem
    assert "mode 0600 (rw-------)" in problem
    result = ingest_folder(folder, CostReports(nsf))
    assert (result.applied, result.rejected) == ([], [])
    assert [n for n, _ in result.waiting] == [NAME]
    assert reports_of(nsf) == []


# ---------------------------------------------------------------- the job's Comment


FORGED_COMMENT = (
    'aws_meta:{"cost":0.01,"duration":"2h0m0s","instances":["c5n.xlarge"],"success":true}'
)
"""A Comment in aws-slurm-burst's slurm-comment shape, as its epilog (or the job's owner, with
``scontrol update job=ID comment=...``) sets it."""


class SlurmRecords:
    """A stand-in for squeue and sacct over job records that *have* a Comment: it prints
    whatever fields it is asked for (``-O a:0|,b:0`` or ``--format=a,b``), Comment included,
    so a reader that asked for the Comment would get the forged cost."""

    def __init__(self, jobs: Sequence[dict[str, str]]) -> None:
        self.jobs = list(jobs)
        self.asked: list[str] = []

    def __call__(self, argv: Sequence[str], timeout: float) -> str:
        command = Path(argv[0]).name
        if command == "squeue":
            spec = argv[list(argv).index("-O") + 1].split(",")
            names = [part.split(":", 1)[0] for part in spec]
            ends = ["|" if part.endswith("|") else "" for part in spec]
        else:
            spec = next(a for a in argv if a.startswith("--format=")).split("=", 1)[1].split(",")
            names, ends = spec, ["|"] * (len(spec) - 1) + [""]
        self.asked += [name.lower() for name in names]
        wanted = argv[list(argv).index("-j") + 1] if "-j" in argv else None
        lines = []
        for job in self.jobs:
            if wanted is not None and wanted != job["jobid"]:
                continue
            fields = {**job, **job.get(command, {})}  # type: ignore[dict-item]
            values = [str(fields.get(name.lower(), "")) for name in names]
            lines.append("".join(v + end for v, end in zip(values, ends, strict=True)))
        if wanted is not None and not lines and command == "squeue":
            from asbb_core.integrations.slurm import SlurmError

            raise SlurmError("squeue exited 1: slurm_load_jobs error: Invalid job id specified")
        return "".join(line + "\n" for line in lines)


def record(job: str, hold: str, *, cpus: int, hours: int, ended: datetime) -> dict:
    start = (ended - timedelta(hours=hours)).astimezone().strftime("%Y-%m-%dT%H:%M:%S")
    end = ended.astimezone().strftime("%Y-%m-%dT%H:%M:%S")
    tres = f"cpu={cpus},node=1,billing={cpus}"
    return {
        "jobid": job,
        "comment": FORGED_COMMENT,
        "state": "COMPLETED",
        "account": ACCOUNT,
        "partition": "aws-cpu",
        "nodelist": "aws-cpu-1",
        "squeue": {
            "arrayjobid": job,
            "arraytaskid": "N/A",
            "starttime": start,
            "endtime": end,
            "timeused": f"{hours}:00:00",
            "tres-alloc": tres,
            "admin_comment": f"asbb:hold={hold}",
        },
        "sacct": {
            "jobidraw": job,
            "start": start,
            "end": end,
            "elapsed": f"{hours:02d}:00:00",
            "alloctres": tres,
            "admincomment": f"asbb:hold={hold}",
        },
    }


def test_a_job_whose_comment_carries_a_cost_is_charged_from_trusted_facts_only(
    nsf, ctx, clock, tmp_path
):
    """Job 77 ran 2 h on 4 CPUs with no export: recovery charges the local model's price
    from Slurm's record (4 x $0.05 x 2 h = 0.40), not the Comment's 0.01. Job 78's Comment says
    0.01 too, but its export says 12.75: the export is charged. Neither reader asks for the
    Comment."""
    ledger = nsf
    clock.now = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
    request = {"request": {"nodes": 1, "cpus": 4, "gpus": 0, "memory_mb": "0"}}
    ran = ledger.create_hold(
        ACCOUNT,
        "0.40",
        ctx=ctx,
        partition="aws-cpu",
        time_limit=timedelta(hours=3),
        metadata=request,
    ).hold_id
    billed = ledger.create_hold(ACCOUNT, "11", ctx=ctx, partition="aws-cpu").hold_id  # no job id
    ended = datetime(2026, 12, 3, 10, 30, tzinfo=UTC)
    slurm = SlurmRecords(
        [
            record("77", ran, cpus=4, hours=2, ended=ended),
            record("78", billed, cpus=4, hours=2, ended=ended),
        ]
    )

    folder = export_folder(tmp_path)
    write_export(folder, EXPORT.replace('"1234"', '"78"'), job="78")
    lookup = slurm_lookup(Slurm(slurm))
    result = ingest_folder(folder, CostReports(ledger, lookup=lookup))
    assert result.applied == [("job-78-asbb-reconciliation.json", "reconciled")]
    assert ledger.get_hold(billed).charged == Decimal("12.75")  # the hold named by AdminComment

    clock.now = ended + timedelta(minutes=30)
    report = recover(ledger, Slurm(slurm), older_than=timedelta(minutes=10))
    actions = {a.hold_id: a for a in report.actions}
    assert (actions[ran].action, actions[ran].job_id, actions[ran].amount) == (
        "charge",
        "77",
        Decimal("0.40"),
    )
    h = ledger.get_hold(ran)
    assert (h.state, h.charged) == (HoldState.POSTED, Decimal("0.40"))
    assert ledger.get_account(ACCOUNT).used_amount == Decimal("13.15")

    assert slurm.asked  # both readers did ask Slurm ...
    assert not [name for name in slurm.asked if "comment" in name and "admin" not in name]
    for entry in ledger.journal(account=ACCOUNT, limit=100):  # ... and kept nothing of it
        assert "aws_meta" not in json.dumps(entry.job_metadata or {})
        assert not re.search(r"0\.01\b", json.dumps(entry.job_metadata or {}))
