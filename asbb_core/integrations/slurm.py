"""What Slurm says about a job: a small wrapper over ``squeue`` and ``sacct`` (stdlib only).

The commands are run through an injectable *runner* (``argv, timeout -> stdout``), so tests
feed it real captured output (tests/fixtures/slurm/reader_captures.json) and production runs
the real binaries.

Why a user cannot forge what it reads
  ``scontrol show job -o`` is not used: it prints ``Key=Value`` pairs separated by spaces,
  unescaped, and a user sets several of the values (JobName, WorkDir, Command, Comment,
  StdOut, ...). A JobName of ``x AdminComment=asbb:hold=<another job's hold>`` is then
  indistinguishable from the real key. Instead slurmctld's record is read with
  ``squeue -h -a -t all [-j <id>] -O <fields>`` and accounting's with
  ``sacct -P -n -X ... --format=<fields>``, asking only for fields that Slurm, SlurmUser or
  root set (ids, state, times, run time, TRES, account, partition, nodes, AdminComment), each
  followed by ``|``. No user-written text is printed at all, so nothing can shift a field or
  fake a line. Every line is checked before any of it is used:

  * it has exactly the fields asked for; AdminComment is last, so a ``|`` an administrator
    put in it stays inside it;
  * the raw job id is asked for twice, the second time just before AdminComment, and both
    must agree: a ``|`` that reached an earlier field (a future Slurm printing something
    new) moves it and the line fails. Account and partition names are the only text in
    the line not made by Slurm itself, and they are names an administrator created (with
    accounting, Slurm refuses or replaces any other account), so this is a second fence:
    to pass it a made-up name would also have to predict the job's id;
  * ids, states, timestamps, run times and TRES must look exactly as Slurm prints them.

  A line that fails is skipped with a logged warning, never half used. A listing with a
  skipped line is incomplete, so ``jobs_by_hold`` (what recovery decides from, where a job
  missing from the listing gets its hold voided) raises ``SlurmError`` then and changes
  nothing. This is the daemon-side twin of the epilog's reader
  (``plugin/epilog_reconcile.py``, standard library only, so it keeps its own copy of these
  rules; keep the two in step).

Slurm 22.05's formats (as captured here)
  * squeue's ``JobID`` is the raw id; an array task is ``ArrayJobID``/``ArrayTaskID``
    (``7``/``0`` -> ``7_0``), tasks not yet split off show their range (``5``/``0-3`` ->
    ``5_[0-3]``, ``6``/``0-3%1`` -> ``6_[0-3%1]``, as sacct spells them). ``TimeUsed`` is
    ``M:SS``/``H:MM:SS``/``D-HH:MM:SS``. A pending job shows its *requested* TRES, an expected
    start (or ``N/A``) and no nodes; a job cancelled while pending keeps all that with
    Start == End: ``NodeList`` (empty) is what tells it never ran.
  * sacct's ``JobID`` is ``123``, ``7_0`` or ``5_[0-3]``, ``JobIDRaw`` the raw id; with ``-X``
    only allocations are listed (steps, ``123.batch``, are dropped if they appear). A job that
    never ran has ``NodeList`` "None assigned" and an empty AllocTRES; a pending one
    ``Start``/``End`` "Unknown", a cancelled pending one ``Start`` "None".
  * Timestamps are the controller's local time; ``Unknown``/``None``/``N/A`` mean unset;
    an empty AdminComment is ``(null)`` in squeue and empty in sacct.
"""

from __future__ import annotations

import logging
import re
import subprocess
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

from asbb_core.values.errors import AsbbError, ValidationError
from asbb_core.values.text import normalise_account_name

log = logging.getLogger("asbb.slurm")

Runner = Callable[[Sequence[str], float], str]
"""Runs a command and returns its standard output; raises ``SlurmError`` on failure."""

HOLD_PATTERN = re.compile(r"asbb:hold=([A-Za-z0-9_.:\-]{1,40})")
UNCHECKED_MARK = "asbb:unchecked"
SQUEUE_FIELDS = (
    "JobID",
    "ArrayJobID",
    "ArrayTaskID",
    "State",
    "StartTime",
    "EndTime",
    "TimeUsed",
    "tres-alloc",
    "Account",
    "Partition",
    "NodeList",
    "JobID",
    "admin_comment",
)
"""What is asked of ``squeue -O`` (see the module doc): only fields no user can set, the raw id
again just before AdminComment, AdminComment last."""
SACCT_FIELDS = (
    "JobID",
    "JobIDRaw",
    "State",
    "Start",
    "End",
    "Elapsed",
    "AllocTRES",
    "Account",
    "Partition",
    "NodeList",
    "JobIDRaw",
    "AdminComment",
)
"""What is asked of ``sacct --format`` (see the module doc), in the same spirit."""

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


def asbb_account(slurm_account: str | None) -> str | None:
    """Slurm's account name as asbb spells it; None when it is not one asbb could hold. A hold
    is its account's: a job whose record names another account's hold is not that hold's job
    (text a ``|`` in an account name pushed into AdminComment, on a cluster that does not
    enforce associations)."""
    try:
        return normalise_account_name(slurm_account) if slurm_account else None
    except ValidationError:
        return None


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
    """``[D-]HH:MM:SS`` / ``MM:SS`` (as sacct and squeue print run times)."""
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
    """Never read (the job's owner writes it): always empty. Kept for callers' sake."""
    partition: str | None = None
    account: str | None = None
    raw_state: str = ""
    node_list: str | None = None
    """Where it ran; ``None`` when not asked for; empty or "None assigned" if it never ran."""
    raw_id: str = ""
    """Slurm's own id of the job (an array task's is not its array's: ``7_0`` may be ``9``)."""

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
        then shows Start == End, no nodes, and (in squeue) the *requested* TRES."""
        if self.elapsed:
            return True
        if self.node_list is not None:
            return self.node_list.strip().lower() not in _NO_NODES
        return self.start is not None and not self.tres.empty

    @property
    def is_array_remainder(self) -> bool:
        return "[" in self.job_id


# ---------------------------------------------------------------- reading lines

JOB_ID = re.compile(r"[0-9]{1,12}(?:_[0-9]{1,10}|\+[0-9]{1,6})?")
"""A job id a caller may ask about: ``123``, an array task ``123_4``, a het component ``123+0``."""

_TRES_PART = r"[A-Za-z][A-Za-z0-9_/:.\-]{0,63}=[0-9]{1,20}(?:\.[0-9]{1,6})?[KMGTPE]?"
_CHECKS: dict[str, str] = {
    # squeue -O names
    "JobID": r"[0-9]{1,12}(?:\+[0-9]{1,6})?",
    "ArrayJobID": r"[0-9]{1,12}|N/A",
    "ArrayTaskID": r"N/A|[0-9][0-9,\-%:]{0,1023}",
    "State": r"[A-Z_]{2,32}",
    "StartTime": r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}|N/A|Unknown|None|",
    "TimeUsed": r"(?:[0-9]{1,5}-)?(?:[0-9]{1,2}:)?[0-9]{1,2}:[0-9]{2}|INVALID|N/A|",
    "tres-alloc": rf"(?:{_TRES_PART}(?:,{_TRES_PART})*)?|N/A|\(null\)",
    "Account": r"[^\s|]{0,256}",
    "NodeList": r"[^\s|]{0,4096}|None assigned",
    "exit_code": r"[0-9]{1,10}",
    "UserName": r"[^\s|]{0,256}",
    "Reason": r"[^|]{0,1024}",
    # sacct --format names (JobID is sacct's own: array tasks and steps spelt out)
    "JobIDRaw": r"[0-9]{1,12}(?:\+[0-9]{1,6})?(?:\.[A-Za-z0-9_+\-]{1,32})?",
    "Elapsed": r"(?:[0-9]{1,5}-)?[0-9]{2}:[0-9]{2}:[0-9]{2}|INVALID|",
    "ExitCode": r"[0-9]{1,10}:[0-9]{1,10}",
}
_CHECKS.update(
    EndTime=_CHECKS["StartTime"],
    Start=_CHECKS["StartTime"],
    End=_CHECKS["StartTime"],
    AllocTRES=_CHECKS["tres-alloc"],
    Partition=_CHECKS["Account"],
    User=_CHECKS["UserName"],
)
_SACCT_CHECKS = {
    **_CHECKS,
    "JobID": r"[0-9]{1,12}(?:_[0-9]{1,10}|_\[[0-9,\-%:]{1,1024}\]|\+[0-9]{1,6})?"
    r"(?:\.[A-Za-z0-9_+\-]{1,32})?",
    "State": r"[A-Z_]{2,32}(?: by [0-9]{1,10})?\+?",
}
_SQUEUE_RULES = {name: re.compile(rule) for name, rule in _CHECKS.items()}
_SACCT_RULES = {name: re.compile(rule) for name, rule in _SACCT_CHECKS.items()}


def squeue_format(fields: Sequence[str] = SQUEUE_FIELDS) -> str:
    """The ``squeue -O`` argument: every field at full width (``:0``), ``|`` after each but
    the last."""
    return ",".join(f"{name}:0|" for name in fields[:-1]) + f",{fields[-1]}:0"


def split_fields(line: str, fields: Sequence[str]) -> list[str] | None:
    """``a|b|...|z`` -> its values, the last field taking the rest of the line (so a ``|``
    inside AdminComment stays there); None when fields are missing."""
    parts = line.split("|", len(fields) - 1)
    return parts if len(parts) == len(fields) else None


def _why_not(
    parts: list[str] | None, fields: Sequence[str], rules: Mapping[str, re.Pattern[str]]
) -> str | None:
    """Why a line's values cannot be trusted (module doc), or None when they can."""
    if parts is None:
        return f"not {len(fields)} '|'-separated fields"
    first: dict[str, str] = {}
    for name, value in zip(fields[:-1], parts[:-1], strict=True):
        if first.setdefault(name, value) != value:
            return f"its {name} fields differ ({first[name]!r}, {value[:40]!r})"
        if rules[name].fullmatch(value) is None:
            return f"{name} {value[:40]!r} is not as Slurm prints it"
    return None


def _rows(
    text: str, fields: Sequence[str], rules: Mapping[str, re.Pattern[str]], command: str
) -> tuple[list[dict[str, str]], int]:
    """The lines of ``text`` that pass every check, as {field: value}, and how many did not."""
    unknown = [name for name in fields[:-1] if name not in rules]
    if unknown:  # a programming error: every field but the last needs its rule
        raise ValueError(f"no rule for {command} field(s) {', '.join(unknown)}")
    rows: list[dict[str, str]] = []
    skipped = 0
    for line in text.split("\n"):  # not splitlines(): only a newline ends a line
        if not line.strip():
            continue
        parts = split_fields(line, fields)
        why = _why_not(parts, fields, rules)
        if why is not None or parts is None:
            skipped += 1
            log.warning("%s: a line was skipped, %s: %.300r", command, why, line)
            continue
        row: dict[str, str] = {}
        for name, value in zip(fields, parts, strict=True):
            row.setdefault(name, value)
        rows.append(row)
    return rows, skipped


def _set(value: str | None) -> str | None:
    return None if value is None or value.strip().lower() in _UNSET else value.strip()


def _job(
    row: Mapping[str, str],
    job_id: str,
    raw_id: str,
    *,
    start: str,
    end: str,
    elapsed: str,
    tres: str,
    admin: str,
) -> SlurmJob:
    return SlurmJob(
        job_id=job_id,
        raw_id=raw_id,
        state=base_state(row.get("State")),
        start=parse_timestamp(row.get(start)),
        end=parse_timestamp(row.get(end)),
        elapsed=parse_elapsed(row.get(elapsed)),
        tres=Tres.parse(row.get(tres)),
        admin_comment=_set(row.get(admin)) or "",
        partition=_set(row.get("Partition")),
        account=_set(row.get("Account")),
        raw_state=row.get("State", ""),
        node_list=row.get("NodeList"),
    )


def _squeue_jobs(text: str, fields: Sequence[str]) -> tuple[list[SlurmJob], int]:
    rows, skipped = _rows(text, fields, _SQUEUE_RULES, "squeue")
    jobs = []
    for row in rows:
        raw = row["JobID"]
        array_job, task = row.get("ArrayJobID", "N/A"), row.get("ArrayTaskID", "N/A")
        job_id = raw
        if array_job.isdigit() and task.isdigit():
            job_id = f"{array_job}_{task}"
        elif array_job.isdigit() and _set(task) is not None:  # tasks not yet split off
            job_id = f"{array_job}_[{task}]"
        jobs.append(
            _job(
                row,
                job_id,
                raw,
                start="StartTime",
                end="EndTime",
                elapsed="TimeUsed",
                tres="tres-alloc",
                admin=fields[-1],
            )
        )
    return jobs, skipped


def _sacct_jobs(text: str, fields: Sequence[str]) -> tuple[list[SlurmJob], int]:
    rows, skipped = _rows(text, fields, _SACCT_RULES, "sacct")
    jobs = []
    for row in rows:
        raw = row.get("JobIDRaw", "")
        job_id = row.get("JobID") or raw
        if "." in job_id or "." in raw:  # a step (123.batch, 123.extern, 123.0), not the job
            continue
        jobs.append(
            _job(
                row,
                job_id,
                raw or job_id,
                start="Start",
                end="End",
                elapsed="Elapsed",
                tres="AllocTRES",
                admin=fields[-1],
            )
        )
    return jobs, skipped


def parse_squeue(text: str, fields: Sequence[str] = SQUEUE_FIELDS) -> list[SlurmJob]:
    """``squeue -h -O <fields>`` output (``squeue_format``): one job per line; a line that
    fails a check (module doc) is skipped with a warning. ``fields`` end with AdminComment."""
    return _squeue_jobs(text, fields)[0]


def parse_sacct(text: str, fields: Sequence[str] = SACCT_FIELDS) -> list[SlurmJob]:
    """``sacct -P -n -X --format=<fields>`` output: one job per line, steps dropped; a line
    that fails a check (module doc) is skipped with a warning. ``fields`` end with
    AdminComment; without ``JobID`` the raw id names the job."""
    return _sacct_jobs(text, fields)[0]


def _pick(jobs: Sequence[SlurmJob], job_id: str) -> SlurmJob | None:
    """The line about ``job_id`` (the last, should Slurm list a job twice): named so, else
    by its raw id (``-j`` of an array's own id lists all its tasks; only one is that id)."""
    named = [j for j in jobs if j.job_id == job_id] or [j for j in jobs if j.raw_id == job_id]
    return named[-1] if named else None


# ---------------------------------------------------------------- the client


class Slurm:
    """Reads jobs from Slurm. ``runner`` runs the commands (tests inject captured output)."""

    def __init__(
        self,
        runner: Runner = run_command,
        *,
        timeout: float = 30.0,
        sacct: str = "sacct",
        squeue: str = "squeue",
    ) -> None:
        self.runner = runner
        self.timeout = timeout
        self.sacct = sacct
        self.squeue = squeue

    def _controller(self, job_id: str | None = None) -> tuple[list[SlurmJob], int]:
        one = ["-j", job_id] if job_id is not None else []
        argv = [self.squeue, "-h", "-a", "-t", "all", *one, "-O", squeue_format()]
        return _squeue_jobs(self.runner(argv, self.timeout), SQUEUE_FIELDS)

    def show_job(self, job_id: str) -> SlurmJob | None:
        """The controller's view of a job still in memory (``MinJobAge``), else ``None`` (also
        when the controller cannot be asked, or ``job_id`` is not a job id)."""
        if JOB_ID.fullmatch(job_id) is None:
            return None
        try:
            jobs, _ = self._controller(job_id)
        except SlurmError:  # "Invalid job id specified": not (or no longer) in memory
            return None
        return _pick(jobs, job_id)

    def controller_jobs(self) -> list[SlurmJob]:
        """Every job slurmctld holds in memory (pending, running, ended < MinJobAge ago)."""
        return self._controller()[0]

    def accounting(self, job_id: str) -> SlurmJob | None:
        """The accounting record of one job or array task (``sacct -j``); ``None`` when
        accounting has none (or ``job_id`` is not a job id). ``SlurmError``: sacct failed."""
        if JOB_ID.fullmatch(job_id) is None:
            return None
        out = self.runner(
            [self.sacct, "-P", "-n", "-X", "-j", job_id, "--format=" + ",".join(SACCT_FIELDS)],
            self.timeout,
        )
        return _pick(_sacct_jobs(out, SACCT_FIELDS)[0], job_id)

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

    def _since(self, since: datetime) -> tuple[list[SlurmJob], int]:
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
        return _sacct_jobs(out, SACCT_FIELDS)

    def jobs_since(self, since: datetime) -> list[SlurmJob]:
        """Every job (all users, allocations only) Slurm knows of since ``since``."""
        return self._since(since)[0]

    def jobs_by_hold(self, since: datetime) -> dict[str, list[SlurmJob]]:
        """Jobs since ``since`` grouped by the hold id in their AdminComment.

        The accounting records (sacct), completed by the controller's own view: a job still
        pending with a begin time in the future is not in sacct's window yet, and the
        controller's state is the newer one for a job that is still active.

        ``SlurmError`` when a line of either listing was skipped: a hold whose job is missing
        is voided by recovery, so it must never decide from an incomplete listing.
        """
        accounted, skipped = self._since(since)
        controller, skipped_too = self._controller()
        if skipped or skipped_too:
            raise SlurmError(
                f"{skipped} line(s) of sacct and {skipped_too} of squeue could not be read "
                "(logged as warnings); no decision is taken on an incomplete listing",
                details={"sacct_skipped": skipped, "squeue_skipped": skipped_too},
            )
        jobs = {job.job_id: job for job in accounted}
        for job in controller:
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
    "JOB_ID",
    "SACCT_FIELDS",
    "SQUEUE_FIELDS",
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
    "parse_squeue",
    "parse_timestamp",
    "run_command",
    "split_fields",
    "squeue_format",
]
