"""What Slurm says about a job: a small wrapper over ``scontrol`` and ``sacct`` (stdlib only).

The commands are run through an injectable *runner* (``argv, timeout -> stdout``), so tests
feed it real captured output and production runs the real binaries. Parsing follows Slurm
22.05's formats:

* ``scontrol show job -o ID``: one line of ``Key=Value`` pairs separated by spaces (a value may
  itself contain spaces, e.g. a comment, so a new pair starts only at `` Key=`` where Key begins
  with a capital letter). 22.05 shows the allocated TRES as ``TRES=``; later releases as
  ``AllocTRES=`` (both are read).
* ``sacct -P -n``: ``|``-separated fields in the order asked for; job steps (``123.batch``)
  are dropped; timestamps are the controller's local time; ``Unknown``/``None`` mean unset.

The epilog script (``plugin/epilog_reconcile.py``) runs under the system python3 without this
package, so it carries its own copy of the few parsing rules it needs; keep the two in step.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

from asbb_core.values.errors import AsbbError

Runner = Callable[[Sequence[str], float], str]
"""Runs a command and returns its standard output; raises ``SlurmError`` on failure."""

HOLD_PATTERN = re.compile(r"asbb:hold=([A-Za-z0-9_.:\-]{1,40})")
UNCHECKED_MARK = "asbb:unchecked"
SACCT_FIELDS = (
    "JobID",
    "State",
    "Start",
    "End",
    "Elapsed",
    "AllocTRES",
    "Partition",
    "Account",
    "NodeList",
    "AdminComment",
)
"""What recovery asks ``sacct`` for. AdminComment is last: a ``|`` inside it stays in it."""

PENDING_STATES = frozenset({"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD"})
ACTIVE_STATES = frozenset(
    {
        "RUNNING",
        "SUSPENDED",
        "COMPLETING",
        "CONFIGURING",
        "RESIZING",
        "SIGNALING",
        "STAGE_OUT",
        "STOPPED",
        "SPECIAL_EXIT",
    }
)
FINISHED_STATES = frozenset(
    {
        "COMPLETED",
        "CANCELLED",
        "FAILED",
        "TIMEOUT",
        "NODE_FAIL",
        "PREEMPTED",
        "BOOT_FAIL",
        "DEADLINE",
        "OUT_OF_MEMORY",
        "REVOKED",
    }
)
_NO_NODES = frozenset({"", "none assigned", "(null)", "none"})
_UNSET = frozenset({"", "unknown", "none", "n/a", "(null)", "invalid"})
_SCONTROL_SPLIT = re.compile(r" (?=[A-Z][A-Za-z0-9_/:]*=)")
_MEMORY = re.compile(r"^(\d+(?:\.\d+)?)([KMGTP]?)$", re.IGNORECASE)
_MB = {"K": Decimal(1) / 1024, "": Decimal(1), "M": Decimal(1), "G": Decimal(1024)}
_MB.update({"T": Decimal(1024**2), "P": Decimal(1024**3)})


class SlurmError(AsbbError):
    """A Slurm command failed, timed out, or is not installed."""

    code = "slurm_error"
    http_status = 503


def run_command(argv: Sequence[str], timeout: float) -> str:
    """The production runner: run ``argv`` and return its stdout (raises ``SlurmError``)."""
    try:
        done = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=timeout, check=False
        )
    except FileNotFoundError:
        raise SlurmError(f"{argv[0]}: command not found (is Slurm installed?)") from None
    except subprocess.TimeoutExpired:
        raise SlurmError(f"{argv[0]}: no answer within {timeout:g} s") from None
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise SlurmError(
            f"{argv[0]} exited {done.returncode}: {detail[0] if detail else 'no output'}",
            details={"argv": list(argv), "returncode": done.returncode},
        )
    return done.stdout


# ---------------------------------------------------------------- value parsing


def hold_id_of(comment: str | None) -> str | None:
    """The hold id the submit plugin wrote into AdminComment (``asbb:hold=<id>``), if any."""
    match = HOLD_PATTERN.search(comment or "")
    return match.group(1) if match else None


def parse_timestamp(text: str | None) -> datetime | None:
    """A Slurm timestamp (the controller's local time, ``2026-11-22T05:33:13``) as UTC."""
    if text is None or text.strip().lower() in _UNSET:
        return None
    try:
        return datetime.strptime(text.strip(), "%Y-%m-%dT%H:%M:%S").astimezone(UTC)
    except ValueError:
        return None


def format_timestamp(when: datetime) -> str:
    """A moment in the form ``sacct -S`` takes (local time, like Slurm prints it)."""
    local = when.astimezone() if when.tzinfo else when
    return local.strftime("%Y-%m-%dT%H:%M:%S")


def parse_elapsed(text: str | None) -> timedelta | None:
    """``[D-]HH:MM:SS`` / ``MM:SS`` (as sacct and scontrol print run times)."""
    if text is None or text.strip().lower() in _UNSET:
        return None
    value = text.strip()
    days = 0
    if "-" in value:
        head, value = value.split("-", 1)
        if not head.isdigit():
            return None
        days = int(head)
    parts = value.split(":")
    if not parts or not all(p.isdigit() for p in parts) or len(parts) > 3:
        return None
    numbers = [int(p) for p in parts]
    while len(numbers) < 3:
        numbers.insert(0, 0)
    hours, minutes, seconds = numbers
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


def memory_mb(text: str | None) -> Decimal | None:
    """A TRES memory figure (``21694M``, ``1.50G``, ``512``) in megabytes."""
    if not text:
        return None
    match = _MEMORY.match(text.strip())
    if not match:
        return None
    try:
        return Decimal(match.group(1)) * _MB[match.group(2).upper()]
    except InvalidOperation:
        return None


@dataclass(frozen=True)
class Tres:
    """Allocated trackable resources of a whole job (``cpu=2,mem=4G,node=1,gres/gpu=1``)."""

    cpus: int | None = None
    nodes: int | None = None
    gpus: int | None = None
    memory_mb: Decimal | None = None

    @property
    def empty(self) -> bool:
        return self.cpus is None and self.nodes is None and self.memory_mb is None

    @classmethod
    def parse(cls, text: str | None) -> Tres:
        values: dict[str, str] = {}
        for part in (text or "").split(","):
            key, sep, value = part.partition("=")
            if sep:
                values[key.strip()] = value.strip()

        def count(key: str) -> int | None:
            raw = values.get(key)
            return int(raw) if raw is not None and raw.isdigit() else None

        gpus = count("gres/gpu")
        if gpus is None:  # only typed counts given (gres/gpu:a100=2): add them up
            typed = [int(v) for k, v in values.items() if k.startswith("gres/gpu:") and v.isdigit()]
            gpus = sum(typed) if typed else None
        return cls(
            cpus=count("cpu"),
            nodes=count("node"),
            gpus=gpus,
            memory_mb=memory_mb(values.get("mem")),
        )


def base_state(raw: str | None) -> str:
    """``CANCELLED by 0`` -> ``CANCELLED``; ``COMPLETED+`` -> ``COMPLETED``."""
    word = (raw or "").strip().split(" ", 1)[0].rstrip("+").upper()
    return word or "UNKNOWN"


@dataclass(frozen=True)
class SlurmJob:
    """One job (or array task) as Slurm recorded it."""

    job_id: str
    """``123``; an array task ``123_4``; a not-yet-split pending array ``123_[5-9]``."""
    state: str
    start: datetime | None = None
    end: datetime | None = None
    elapsed: timedelta | None = None
    tres: Tres = field(default_factory=Tres)
    admin_comment: str = ""
    comment: str = ""
    partition: str | None = None
    account: str | None = None
    raw_state: str = ""
    node_list: str | None = None
    """Where it ran; ``None`` when not asked for; empty or "None assigned" if it never ran."""

    @property
    def hold_id(self) -> str | None:
        return hold_id_of(self.admin_comment)

    @property
    def finished(self) -> bool:
        return self.state in FINISHED_STATES

    @property
    def active(self) -> bool:
        """Still pending, running or ending: its cost is not known yet."""
        return not self.finished

    @property
    def ran(self) -> bool:
        """It got nodes and ran (even for 0 s). A job cancelled while pending did not: Slurm
        then shows Start == End, no nodes, and (in scontrol) the *requested* TRES."""
        if self.elapsed:
            return True
        if self.node_list is not None:
            return self.node_list.strip().lower() not in _NO_NODES
        return self.start is not None and not self.tres.empty

    @property
    def is_array_remainder(self) -> bool:
        return "[" in self.job_id


def parse_scontrol_line(line: str) -> dict[str, str]:
    """``scontrol show job -o`` output (one job per line) as a dict of its fields."""
    out: dict[str, str] = {}
    for part in _SCONTROL_SPLIT.split(line.strip()):
        key, sep, value = part.partition("=")
        if sep:
            out.setdefault(key, value.strip())
    return out


def job_from_scontrol(fields: dict[str, str]) -> SlurmJob:
    job_id = fields.get("JobId", "")
    array_job, array_task = fields.get("ArrayJobId"), fields.get("ArrayTaskId")
    if array_job and array_task and array_task.isdigit():
        job_id = f"{array_job}_{array_task}"
    elif array_job and array_task and array_task.lower() not in _UNSET:
        job_id = f"{array_job}_[{array_task.split('%')[0]}]"  # tasks not yet split off
    start, end = parse_timestamp(fields.get("StartTime")), parse_timestamp(fields.get("EndTime"))
    elapsed = parse_elapsed(fields.get("RunTime"))
    return SlurmJob(
        job_id=job_id,
        state=base_state(fields.get("JobState")),
        start=start,
        end=end,
        elapsed=elapsed,
        tres=Tres.parse(fields.get("AllocTRES") or fields.get("TRES")),
        admin_comment=_unset_to_empty(fields.get("AdminComment")),
        comment=_unset_to_empty(fields.get("Comment")),
        partition=fields.get("Partition") or None,
        account=fields.get("Account") or None,
        raw_state=fields.get("JobState", ""),
        node_list=fields.get("NodeList", ""),
    )


def _unset_to_empty(value: str | None) -> str:
    return "" if value is None or value.strip() == "(null)" else value


def parse_sacct(text: str, fields: Sequence[str] = SACCT_FIELDS) -> list[SlurmJob]:
    """``sacct -P -n --format=<fields>`` output: one job per line, steps dropped."""
    jobs: list[SlurmJob] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = line.split("|", len(fields) - 1)
        if len(parts) < len(fields):
            parts += [""] * (len(fields) - len(parts))
        row = dict(zip(fields, parts, strict=True))
        job_id = row.get("JobID", "").strip()
        if not job_id or "." in job_id:  # a step (123.batch, 123.extern, 123.0)
            continue
        elapsed = parse_elapsed(row.get("Elapsed"))
        if elapsed is None and (row.get("ElapsedRaw") or "").isdigit():
            elapsed = timedelta(seconds=int(row["ElapsedRaw"]))
        jobs.append(
            SlurmJob(
                job_id=job_id,
                state=base_state(row.get("State")),
                start=parse_timestamp(row.get("Start")),
                end=parse_timestamp(row.get("End")),
                elapsed=elapsed,
                tres=Tres.parse(row.get("AllocTRES")),
                admin_comment=row.get("AdminComment", "").strip(),
                comment=row.get("Comment", "").strip(),
                partition=row.get("Partition") or None,
                account=row.get("Account") or None,
                raw_state=row.get("State", ""),
                node_list=row.get("NodeList"),
            )
        )
    return jobs


# ---------------------------------------------------------------- the client


class Slurm:
    """Reads jobs from Slurm. ``runner`` runs the commands (tests inject captured output)."""

    def __init__(
        self,
        runner: Runner = run_command,
        *,
        timeout: float = 30.0,
        sacct: str = "sacct",
        scontrol: str = "scontrol",
    ) -> None:
        self.runner = runner
        self.timeout = timeout
        self.sacct = sacct
        self.scontrol = scontrol

    def show_job(self, job_id: str) -> SlurmJob | None:
        """The controller's view of a job still in memory (``MinJobAge``), else ``None``."""
        try:
            out = self.runner([self.scontrol, "show", "job", "-o", job_id], self.timeout)
        except SlurmError:
            return None
        for line in out.splitlines():
            if line.startswith("JobId="):
                return job_from_scontrol(parse_scontrol_line(line))
        return None

    def controller_jobs(self) -> list[SlurmJob]:
        """Every job slurmctld holds in memory (pending, running, ended < MinJobAge ago)."""
        out = self.runner([self.scontrol, "show", "job", "-o"], self.timeout)
        return [
            job_from_scontrol(parse_scontrol_line(line))
            for line in out.splitlines()
            if line.startswith("JobId=")
        ]

    def accounting(self, job_id: str) -> SlurmJob | None:
        """The accounting record of one job or array task (``sacct -j``)."""
        out = self.runner(
            [
                self.sacct,
                "-P",
                "-n",
                "-X",
                "-j",
                job_id,
                "--format=" + ",".join(SACCT_FIELDS),
            ],
            self.timeout,
        )
        jobs = [j for j in parse_sacct(out) if j.job_id == job_id]
        return jobs[-1] if jobs else None

    def hold_of_job(self, job_id: str) -> str | None:
        """The hold the submit plugin took for a job: from its AdminComment, as the
        controller still shows it, else as accounting recorded it (``None``: not found)."""
        job = self.show_job(job_id)
        if job is None or job.hold_id is None:
            try:
                job = self.accounting(job_id)
            except SlurmError:
                return None
        return job.hold_id if job is not None else None

    def jobs_since(self, since: datetime) -> list[SlurmJob]:
        """Every job (all users, allocations only) Slurm knows of since ``since``."""
        out = self.runner(
            [
                self.sacct,
                "-P",
                "-n",
                "-a",
                "-X",
                "--format=" + ",".join(SACCT_FIELDS),
                "-S",
                format_timestamp(since),
                # a job cancelled while waiting for a future --begin time is only in a
                # window that reaches its eligible time
                "-E",
                "now+7days",
            ],
            self.timeout,
        )
        return parse_sacct(out)

    def jobs_by_hold(self, since: datetime) -> dict[str, list[SlurmJob]]:
        """Jobs since ``since`` grouped by the hold id in their AdminComment.

        The accounting records (sacct), completed by the controller's own view: a job still
        pending with a begin time in the future is not in sacct's window yet, and the
        controller's state is the newer one for a job that is still active.
        """
        jobs = {job.job_id: job for job in self.jobs_since(since)}
        for job in self.controller_jobs():
            known = jobs.get(job.job_id)
            if known is None or job.active or known.active:
                jobs[job.job_id] = job
        return group_by_hold(jobs.values())


def group_by_hold(jobs: Iterable[SlurmJob]) -> dict[str, list[SlurmJob]]:
    out: dict[str, list[SlurmJob]] = {}
    for job in jobs:
        hold = job.hold_id
        if hold is not None:
            out.setdefault(hold, []).append(job)
    return out


__all__ = [
    "FINISHED_STATES",
    "SACCT_FIELDS",
    "Runner",
    "Slurm",
    "SlurmError",
    "SlurmJob",
    "Tres",
    "format_timestamp",
    "group_by_hold",
    "hold_id_of",
    "parse_elapsed",
    "parse_sacct",
    "parse_scontrol_line",
    "parse_timestamp",
    "run_command",
]
