#!/usr/bin/python3
"""asbb EpilogSlurmctld script: charge a finished job against its budget hold.

slurmctld runs it as SlurmUser on the controller after every job that ran (slurm.conf:
``EpilogSlurmctld=/usr/local/lib/asbb/epilog_reconcile.py``). Standard library only; it runs
under the system python3, not asbb's virtualenv.

What it does
  1. Job id from SLURM_JOB_ID (an array task becomes
     ``<SLURM_ARRAY_JOB_ID>_<SLURM_ARRAY_TASK_ID>``).
  2. Reads slurmctld's record of the job with ``squeue -h -t all -j <id> -O <fields>``
     (state, start, end, run time, allocated TRES, account, partition, user, reason,
     AdminComment); when the controller has forgotten the job, from accounting with
     ``sacct -P -n -X -j <id> --format=<fields>``. Only fields that no user can set are asked
     for, the account name aside, which is fenced off (see "Why a user cannot forge what it
     reads" below).
  3. Takes the hold id from ``asbb:hold=<id>`` in AdminComment (written by job_submit.lua;
     only SlurmUser and root can set it). A job accepted while the daemon was down under a
     fail-open policy (``asbb:unchecked``) ran without a hold: it is reconciled by account
     instead (account, partition and user from the environment slurmctld gives its epilog),
     so it is still charged. No asbb mark at all (an unbudgeted partition, or no plugin): it
     logs and exits 0.
  4. POSTs ``/api/v1/budget/reconcile`` {job_id, transaction_id, elapsed_seconds, nodes, cpus,
     gpus, memory, state, end_time, [actual_cost], job_metadata} with the plugin token, within
     ``timeout_ms`` in total. The AWS cost is sent as ``actual_cost`` only from
     ``<asbx_dir>/job-<id>-asbb-reconciliation.json`` (written by aws-slurm-burst), read as a
     hostile file (see "The ASBX file" below); otherwise the daemon prices the real elapsed
     time and allocated resources. Nothing the user sets (Comment, JobName, WorkDir,
     environment) ever prices or names a job.
  5. Daemon unreachable, too slow, or answering 5xx/429/401/403: the request is written
     atomically (temporary file + rename) to ``<spool_dir>/<epoch-ns>-<job_id>.json`` and the
     script exits 0 at once. ``asbb reconcile --replay`` (or the daemon's spool replayer) sends
     it later, exactly once. A request the daemon refuses for good (404 unknown hold, 422)
     goes to ``<spool_dir>/rejected/`` with a ``.reason`` file beside it.
  It always exits 0: a failing EpilogSlurmctld must never hurt slurmctld.

Why a user cannot forge what it reads
  ``scontrol show job -o`` prints ``Key=Value`` pairs separated by spaces without escaping, and
  users set several values freely: JobName (printed before UserId, Account, JobState, ...),
  WorkDir and Command (just before AdminComment), Comment (just after it), StdOut, MailUser.
  A JobName of ``x AdminComment=asbb:hold=<another job's hold>`` is then indistinguishable
  from a real key, and no key order helps: AdminComment sits between two user-set fields, so
  two different jobs can print the very same line. Slurm 22.05 has no ``scontrol --json``, and
  ``squeue --json`` ignores ``-j`` (it dumps every job on each call). So the script asks
  squeue and sacct for a fixed list of fields no user writes free text into (ids, state,
  times, TRES, account, partition, user name, reason, AdminComment), ``|``-separated,
  AdminComment last, so even a ``|`` an administrator put in it stays inside it.
  The one value in those lines that Slurm does not always check is the Account. With
  accounting (slurmdbd) Slurm refuses an account nobody created, or replaces it by the
  user's default account, but a cluster without accounting storage keeps whatever
  ``--account`` says, ``|`` included (measured on Slurm 22.05). There
  ``--account 'x|p|u|r|asbb:hold=<another job's hold>'`` on an unbudgeted partition (no
  AdminComment of its own) shifts the fields and lands the victim's hold in AdminComment.
  Two fences:
  * the raw id is asked for twice, again just before AdminComment, and both copies must
    agree: a ``|`` in an earlier field moves the second copy, and the line is not used
    (logged). The daemon's reader (asbb_core/integrations/slurm.py) does the same; keep
    the two in step;
  * that alone is passed by an account that also names the job's own id, which is easy to
    guess (ids are sequential): ``x|p|u|r|<next id>|asbb:hold=<victim>``. So the account
    slurmctld gives the epilog itself (``SLURM_JOB_ACCOUNT``, not split from any line) is
    looked at first; one with a ``|`` (no asbb account has one) means nothing Slurm prints
    about the job is trusted, and it is not reconciled here (logged).
  And the line must name the job's own id and its typed fields (ids, state, times, exit
  code) must parse, or it is not used.

The ASBX file
  ``<asbx_dir>/job-<id>-asbb-reconciliation.json`` is used only if: it is not a symbolic link
  (opened with O_NOFOLLOW) and a regular file with one link; its owner is root, this
  script's user (SlurmUser), the folder's owner or, when the folder is group-writable, a
  member of its group; it is at most 1 MiB (checked before reading, and no more is read);
  its JSON nests at most 64 levels (counted before ``json.loads``); it is an object whose
  ``job_id`` (if given) is this job, ``success`` is not false and ``actual_cost`` is a
  non-negative amount. Any other file is ignored with a log line and the job is priced by
  the daemon's model; the daemon's own ASBX watcher still applies a good export later.

Configuration
  The submit plugin's own file, ``asbb_plugin.conf``: ``key = value`` lines (``#`` comments;
  quotes optional; keys case-insensitive, an ``ASBB_`` prefix ignored), or a JSON object. Keys
  this script does not know (budgeted, policy.*, ...) are ignored. The first found wins:
  ``$ASBB_EPILOG_CONFIG``, ``$ASBB_PLUGIN_CONF``, ``$ASBB_PLUGIN_CONFIG``, ``asbb_plugin.conf``
  beside slurm.conf (``$SLURM_CONF``, else slurmctld's, read from /proc/<ppid>: slurmctld gives
  its epilog a bare environment), beside this script, ``/etc/slurm/asbb_plugin.conf``,
  ``/etc/asbb/plugin.conf``.

    url         = http://127.0.0.1:8770   # also: daemon_url
    token_file  = /etc/asbb/plugin.token  # secret of a token: asbb token create NAME --role plugin
    epilog_timeout_ms = 3000              # the whole POST, connect included (default 3000;
                                          # the plugin's timeout_ms is used if this is absent)
    spool_dir   = /var/spool/asbb         # where undelivered reconciles wait
    asbx_dir    = /var/spool/asbb/costs   # optional: aws-slurm-burst reconciliation files
    log_file    = /var/log/asbb/epilog.log  # optional; else stderr (slurmctld's log)
    squeue      = squeue                  # optional paths of the Slurm commands
    sacct       = sacct
"""

from __future__ import annotations

import contextlib
import errno
import grp
import json
import os
import pwd
import re
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from decimal import Decimal

DEFAULTS = {
    "daemon_url": "http://127.0.0.1:8770",
    "token_file": "/etc/asbb/plugin.token",
    "spool_dir": "/var/spool/asbb",
    "asbx_dir": "",
    "log_file": "",
    "squeue": "squeue",
    "sacct": "sacct",
}
ALIASES = {"url": "daemon_url", "daemon": "daemon_url", "token": "token_file", "spool": "spool_dir"}
CONFIG_PLACES = ("/etc/slurm/asbb_plugin.conf", "/etc/asbb/plugin.conf")
ENV_PLACES = ("ASBB_EPILOG_CONFIG", "ASBB_PLUGIN_CONF", "ASBB_PLUGIN_CONFIG")
HOLD = re.compile(r"asbb:hold=([A-Za-z0-9_.:\-]{1,40})")
# Only fields no user can set (module doc): squeue -O names, in this order, the raw id again
# just before AdminComment (both copies must agree), AdminComment last.
SQUEUE_FIELDS = (
    "JobID",
    "ArrayJobID",
    "ArrayTaskID",
    "State",
    "exit_code",
    "StartTime",
    "EndTime",
    "TimeUsed",
    "tres-alloc",
    "Account",
    "Partition",
    "UserName",
    "Reason",
    "JobID",
    "admin_comment",
)
SACCT_FIELDS = (
    "JobIDRaw",
    "State",
    "Start",
    "End",
    "Elapsed",
    "AllocTRES",
    "Account",
    "Partition",
    "User",
    "ExitCode",
    "JobIDRaw",
    "AdminComment",
)
JOB_ID = re.compile(r"[0-9]{1,12}")  # a raw Slurm job id
STATE = re.compile(r"[A-Z_]{2,32}")
STAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}|N/A|Unknown|None|")
UNSET = ("", "unknown", "none", "n/a", "(null)", "invalid")
RETRY_LATER = (401, 403, 408, 425, 429)  # not the request's fault: keep it and send it later
COMMAND_TIMEOUT = 2.0
ASBX_MAX_BYTES = 1 << 20  # the daemon's asbx.max_file_bytes default; an export is < 1 KiB
ASBX_MAX_DEPTH = 64  # as the daemon reads them; an export nests 2 levels
AMOUNT = re.compile(r"[0-9]{1,12}(\.[0-9]{1,12})?")
# A whole JSON string (possessive, so the scan is linear), a bracket, or an unclosed quote.
JSON_TOKENS = re.compile(r'"(?:[^"\\]++|\\.)*+"|[\[\]{}]|"', re.DOTALL)
OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


def log(config, message):
    line = f"{datetime.now(UTC).isoformat(timespec='seconds')} asbb-epilog: {message}\n"
    target = config.get("log_file") if config else ""
    if target:
        try:
            with open(target, "a", encoding="utf-8") as fh:
                fh.write(line)
            return
        except OSError:
            pass
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.write(line)


# ---------------------------------------------------------------- configuration


def parse_config(text):
    """KEY=VALUE lines (or a JSON object) -> dict with lower-case, canonical keys."""
    data = {}
    stripped = text.strip()
    if stripped.startswith("{"):
        raw = json.loads(stripped)
        items = raw.items() if isinstance(raw, dict) else []
    else:
        items = []
        for line in text.splitlines():
            line = line.strip()
            if not line or line.startswith(("#", "--", ";")):
                continue
            key, sep, value = line.partition("=")
            if not sep:
                continue
            value = value.strip()
            if value[:1] in ("'", '"') and value[-1:] == value[:1] and len(value) >= 2:
                value = value[1:-1]
            else:
                value = re.split(r"\s+#|\s+--", value, maxsplit=1)[0].strip()
            items.append((key, value))
    for key, value in items:
        name = str(key).strip().lower()
        if name.startswith("asbb_"):
            name = name[5:]
        name = ALIASES.get(name, name)
        data[name] = "" if value is None else str(value)
    return data


def parent_slurm_conf():
    """slurmctld's SLURM_CONF: the epilog's own environment does not carry it."""
    ppid = os.getppid()
    try:
        with open(f"/proc/{ppid}/environ", "rb") as fh:
            for item in fh.read().split(b"\0"):
                if item.startswith(b"SLURM_CONF="):
                    return item[len(b"SLURM_CONF=") :].decode()
        with open(f"/proc/{ppid}/cmdline", "rb") as fh:
            args = [a.decode() for a in fh.read().split(b"\0")]
        if "-f" in args[:-1]:
            return args[args.index("-f") + 1]
    except (OSError, UnicodeDecodeError):
        pass
    return None


def load_config():
    """The first config file found (see the module doc), over the defaults.

    Also makes sure the Slurm commands it runs find the right slurm.conf and a PATH.
    """
    here = os.path.dirname(os.path.abspath(__file__))
    slurm_conf = os.environ.get("SLURM_CONF") or parent_slurm_conf()
    if slurm_conf:
        os.environ["SLURM_CONF"] = slurm_conf
    os.environ.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
    places = [os.environ.get(v) for v in ENV_PLACES]
    if slurm_conf:
        places.append(os.path.join(os.path.dirname(slurm_conf), "asbb_plugin.conf"))
    places += [os.path.join(here, "asbb_plugin.conf"), *CONFIG_PLACES]
    config = dict(DEFAULTS)
    for place in places:
        if place and os.path.isfile(place):
            try:
                with open(place, encoding="utf-8") as fh:
                    config.update(parse_config(fh.read()))
            except (OSError, ValueError) as exc:
                log(config, f"config {place} unreadable ({exc}); using defaults")
            config["_path"] = place
            break
    return config


# ---------------------------------------------------------------- reading the job


def run(argv, timeout=COMMAND_TIMEOUT):
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    return done.stdout if done.returncode == 0 else None


def unset(value):
    return value is None or value.strip().lower() in UNSET


def parse_time(text):
    """Slurm's local-time stamp -> aware UTC datetime (None if unset)."""
    if unset(text):
        return None
    try:
        return datetime.strptime(text.strip(), "%Y-%m-%dT%H:%M:%S").astimezone(UTC)
    except ValueError:
        return None


def parse_elapsed(text):
    """[D-][[HH:]MM:]SS -> seconds (None if unset). squeue prints ``0:05``, sacct
    ``00:00:05``."""
    if unset(text):
        return None
    value, days = text.strip(), 0
    if "-" in value:
        head, value = value.split("-", 1)
        if not head.isdigit():
            return None
        days = int(head)
    parts = value.split(":")
    if len(parts) > 3 or not all(p.isdigit() for p in parts):
        return None
    numbers = [0] * (3 - len(parts)) + [int(p) for p in parts]
    return days * 86400 + numbers[0] * 3600 + numbers[1] * 60 + numbers[2]


def parse_tres(text):
    values = {}
    for part in (text or "").split(","):
        key, sep, value = part.partition("=")
        if sep:
            values[key.strip()] = value.strip()
    out = {}
    for key, name in (("cpu", "cpus"), ("node", "nodes"), ("gres/gpu", "gpus")):
        if values.get(key, "").isdigit():
            out[name] = int(values[key])
    if "gpus" not in out:
        typed = [int(v) for k, v in values.items() if k.startswith("gres/gpu:") and v.isdigit()]
        if typed:
            out["gpus"] = sum(typed)
    if values.get("mem"):
        out["memory"] = values["mem"]
    return out


def ended_state(state, reason, exit_status):
    """The job's end state. While EpilogSlurmctld runs, squeue usually still shows
    ``COMPLETING``; the reason and the exit status (a wait(2) status: signal in the low 7
    bits, exit code in the next byte) then say how it ended."""
    if state != "COMPLETING":
        return state
    if reason == "TimeLimit":
        return "TIMEOUT"
    if reason.startswith("Node"):
        return "NODE_FAIL"
    if exit_status & 0x7F:
        return "CANCELLED"
    if (exit_status >> 8) & 0xFF:
        return "FAILED"
    return "COMPLETED"


def split_fields(line, names):
    """``a|b|...|z`` -> its values, the last field taking the rest of the line (so a ``|``
    inside AdminComment stays there); None when fields are missing."""
    parts = line.rstrip("\n").split("|", len(names) - 1)
    return parts if len(parts) == len(names) else None


def copies_differ(parts, names):
    """Why a field asked for twice (the raw id, again just before AdminComment) has two
    different values, or None when the copies agree. A ``|`` in an earlier field (an Account
    name on a cluster that does not check them) moves the second copy: the line is not used."""
    first = {}
    for name, value in zip(names, parts, strict=True):
        if first.setdefault(name, value) != value:
            return f"two {name} fields differ ({first[name]!r}, {value[:40]!r})"
    return None


def typed(row, id_key, state_key, time_keys):
    """Are the typed fields what Slurm prints? A line that is not cannot be trusted."""
    return (
        JOB_ID.fullmatch(row[id_key]) is not None
        and STATE.fullmatch(row[state_key].split(" ")[0].rstrip("+")) is not None
        and all(STAMP.fullmatch(row[k]) for k in time_keys)
    )


def from_squeue(config, raw_id):
    """slurmctld's record of job ``raw_id`` (the raw id: an array task's own id)."""
    fmt = ",".join(f"{name}:0|" for name in SQUEUE_FIELDS[:-1]) + f",{SQUEUE_FIELDS[-1]}:0"
    out = run([config["squeue"], "-h", "-t", "all", "-j", raw_id, "-O", fmt])
    for line in (out or "").splitlines():  # -j of an array's own id lists all its tasks
        parts = split_fields(line, SQUEUE_FIELDS)
        if parts is None or parts[0] != raw_id:  # JobID, the first field
            continue
        why = copies_differ(parts, SQUEUE_FIELDS)
        if why is not None:
            log(config, f"job {raw_id}: squeue printed a line whose {why}; not used: {line!r}")
            return None
        row = dict(zip(SQUEUE_FIELDS, parts, strict=True))  # the copies agree: either will do
        if not typed(row, "JobID", "State", ("StartTime", "EndTime")):
            log(config, f"job {raw_id}: squeue printed an unexpected line; not used: {line!r}")
            return None
        if not row["exit_code"].isdigit():
            return None
        job_id = raw_id
        if row["ArrayTaskID"].isdigit() and JOB_ID.fullmatch(row["ArrayJobID"]):
            job_id = f"{row['ArrayJobID']}_{row['ArrayTaskID']}"
        admin = row["admin_comment"]
        return {
            "job_id": job_id,
            "state": ended_state(row["State"], row["Reason"], int(row["exit_code"])),
            "start": parse_time(row["StartTime"]),
            "end": parse_time(row["EndTime"]),
            "elapsed": parse_elapsed(row["TimeUsed"]),
            "tres": parse_tres(row["tres-alloc"]),
            "admin_comment": "" if unset(admin) else admin.strip(),
            "account": None if unset(row["Account"]) else row["Account"],
            "partition": None if unset(row["Partition"]) else row["Partition"],
            "user": None if unset(row["UserName"]) else row["UserName"],
            "source": "squeue",
        }
    return None


def from_sacct(config, raw_id):
    """Accounting's record of job ``raw_id``: for a job the controller no longer holds."""
    fmt = "--format=" + ",".join(SACCT_FIELDS)
    out = run([config["sacct"], "-P", "-n", "-X", "-j", raw_id, fmt], timeout=3.0)
    for line in (out or "").splitlines():
        parts = split_fields(line, SACCT_FIELDS)
        if parts is None or parts[0] != raw_id:  # JobIDRaw; not steps (123.batch), other ids
            continue
        why = copies_differ(parts, SACCT_FIELDS)
        if why is not None:
            log(config, f"job {raw_id}: sacct printed a line whose {why}; not used: {line!r}")
            return None
        row = dict(zip(SACCT_FIELDS, parts, strict=True))  # the copies agree: either will do
        if not typed(row, "JobIDRaw", "State", ("Start", "End")):
            log(config, f"job {raw_id}: sacct printed an unexpected line; not used: {line!r}")
            return None
        return {
            "job_id": raw_id,
            "state": row["State"].split(" ")[0].rstrip("+"),
            "start": parse_time(row["Start"]),
            "end": parse_time(row["End"]),
            "elapsed": parse_elapsed(row["Elapsed"]),
            "tres": parse_tres(row["AllocTRES"]),
            "admin_comment": "" if unset(row["AdminComment"]) else row["AdminComment"].strip(),
            "account": None if unset(row["Account"]) else row["Account"],
            "partition": None if unset(row["Partition"]) else row["Partition"],
            "user": None if unset(row["User"]) else row["User"],
            "source": "sacct",
        }
    return None


def env_job_id():
    array_job, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    if array_job and task and task.isdigit() and array_job.isdigit():
        return f"{array_job}_{task}"
    return os.environ.get("SLURM_JOB_ID") or os.environ.get("SLURM_JOBID") or ""


# ---------------------------------------------------------------- AWS cost (the ASBX file)


class RefusedFileError(Exception):
    """An ASBX file that must not be used; the message says why."""


def may_write(uid, folder):
    """May ``uid`` write into the folder (stat result)? The writers an export can come from."""
    if uid in (0, os.geteuid(), folder.st_uid):
        return True
    if not folder.st_mode & stat.S_IWGRP:
        return False
    try:
        user = pwd.getpwuid(uid)
        return user.pw_gid == folder.st_gid or user.pw_name in grp.getgrgid(folder.st_gid).gr_mem
    except KeyError:
        return False


def json_depth_ok(text, limit):
    """Does JSON ``text`` nest at most ``limit`` levels (brackets in strings not counted)?
    Linear and without parsing, so it is safe on any text; json.loads would recurse."""
    if text.count("[") + text.count("{") <= limit:
        return True
    depth = 0
    for match in JSON_TOKENS.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > limit:
                return False
        elif token in "]}":
            depth = max(depth - 1, 0)
        elif token == '"':  # an unclosed string: the rest is inside it
            return True
    return True


def refuse_constant(name):
    raise ValueError(f"{name} is not a number")


def read_export(path):
    """The JSON object in ``path``, read as a hostile file (module doc); None if absent."""
    folder = os.stat(os.path.dirname(path))
    try:
        before = os.lstat(path)
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(before.st_mode):
        raise RefusedFileError("a symbolic link: links are not followed")
    if not stat.S_ISREG(before.st_mode):  # looked at first, so a device is never opened
        raise RefusedFileError("not a regular file")
    try:
        fd = os.open(path, OPEN_FLAGS)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # became a link after the look
            raise RefusedFileError("a symbolic link: links are not followed") from None
        raise RefusedFileError(f"cannot be opened ({exc.strerror})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or (info.st_dev, info.st_ino) != (
            before.st_dev,
            before.st_ino,
        ):
            raise RefusedFileError("replaced while it was opened")
        if info.st_nlink != 1:
            raise RefusedFileError(f"has {info.st_nlink} hard links (another name elsewhere)")
        if not may_write(info.st_uid, folder):
            raise RefusedFileError(
                f"owned by uid {info.st_uid}: only root, uid {os.geteuid()} (this script), "
                f"the folder's owner or its group may write exports"
            )
        if info.st_size > ASBX_MAX_BYTES:
            raise RefusedFileError(f"too large ({info.st_size} bytes; at most {ASBX_MAX_BYTES})")
        chunks, size = [], 0
        while size <= ASBX_MAX_BYTES:
            chunk = os.read(fd, ASBX_MAX_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > ASBX_MAX_BYTES:
        raise RefusedFileError(f"grew past {ASBX_MAX_BYTES} bytes while read")
    try:
        text = b"".join(chunks).decode("utf-8")
    except UnicodeDecodeError:
        raise RefusedFileError("not UTF-8") from None
    if not json_depth_ok(text, ASBX_MAX_DEPTH):
        raise RefusedFileError(f"JSON nested deeper than {ASBX_MAX_DEPTH} levels")
    try:
        data = json.loads(text, parse_float=Decimal, parse_constant=refuse_constant)
    except ValueError as exc:  # JSONDecodeError too
        raise RefusedFileError(f"not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise RefusedFileError("not a JSON object")
    return data


def export_cost(data, ids):
    """(cost as text, its metadata) from an export's fields, or RefusedFileError."""
    if "job_id" in data and str(data["job_id"]) not in ids:
        raise RefusedFileError(f"written for job {str(data['job_id'])[:40]!r}, not this one")
    cost = data.get("actual_cost")
    if isinstance(cost, bool) or not isinstance(cost, str | int | Decimal):
        raise RefusedFileError("no actual_cost amount")
    text = str(cost).strip()
    if not AMOUNT.fullmatch(text):
        raise RefusedFileError(f"actual_cost {text[:40]!r} is not a non-negative amount")
    meta = {}
    kinds = data.get("instance_types")
    if isinstance(kinds, list) and all(isinstance(k, str) for k in kinds):
        meta["instance_types"] = [k[:64] for k in kinds[:16]]
    saved = data.get("spot_savings")
    if isinstance(saved, int | Decimal) and not isinstance(saved, bool):
        meta["spot_savings"] = str(saved)
    return text, meta


def asbx_record(config, ids):
    """(cost, metadata) from aws-slurm-burst's export for this job, or None. A bad file is
    logged and ignored: the job is then priced by the daemon's model."""
    folder = config.get("asbx_dir")
    if not folder:
        return None
    for job_id in ids:
        if not re.fullmatch(r"[0-9]{1,12}(_[0-9]{1,12})?", job_id or ""):
            continue
        path = os.path.join(folder, f"job-{job_id}-asbb-reconciliation.json")
        try:
            data = read_export(path)
            if data is None:
                continue
            if data.get("success", True) is False:
                log(config, f"{path}: reports success=false; not used")
                continue
            return export_cost(data, ids)
        except RefusedFileError as exc:
            log(config, f"{path}: ignored: {exc}")
        except OSError as exc:  # the folder itself is missing or unreadable
            log(config, f"{path}: ignored: {exc}")
            return None
    return None


# ---------------------------------------------------------------- building and sending


def build_request(config, job, raw_id):
    body = {"job_id": job["job_id"], "transaction_id": job["hold_id"]}
    elapsed = job.get("elapsed")
    if elapsed is None and job.get("start") and job.get("end"):
        elapsed = max(0, int((job["end"] - job["start"]).total_seconds()))
    if elapsed is not None:
        body["elapsed_seconds"] = elapsed
    body.update(job.get("tres") or {})
    if job.get("state"):
        body["state"] = job["state"][:32]
    if job.get("end"):
        body["end_time"] = job["end"].isoformat()
    metadata = {"reported_by": "epilog", "read_from": job.get("source")}
    cost = None
    record = asbx_record(config, list(dict.fromkeys([job["job_id"], raw_id])))
    if record is not None:
        cost, metadata["asbx"] = record
        body["actual_cost"] = cost
    if elapsed is None and cost is None:
        body["elapsed_seconds"] = 0  # it never ran long enough to be timed
    body["job_metadata"] = metadata
    return body


def read_token(config):
    try:
        with open(config["token_file"], encoding="utf-8") as fh:
            return fh.read().strip()
    except OSError:
        return ""


def post(config, body, deadline):
    """-> (status, text). status 0 means no answer (connection refused, timeout, ...)."""
    left = deadline - time.monotonic()
    if left <= 0.05:
        return 0, "no time left to reach the daemon"
    url = config["daemon_url"].rstrip("/") + "/api/v1/budget/reconcile"
    headers = {"Content-Type": "application/json", "User-Agent": "asbb-epilog"}
    token = read_token(config)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=left) as reply:
            return reply.status, reply.read(65536).decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        try:
            text = exc.read(65536).decode("utf-8", "replace")
        except OSError:
            text = ""
        return exc.code, text
    except (OSError, ValueError) as exc:  # URLError, timeouts, refused, bad URL
        return 0, str(getattr(exc, "reason", exc))


def safe_name(job_id):
    return re.sub(r"[^A-Za-z0-9_.\-]", "_", job_id)[:64] or "job"


def write_atomically(folder, name, data):
    os.makedirs(folder, mode=0o700, exist_ok=True)
    final = os.path.join(folder, name)
    tmp = os.path.join(folder, f".{name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, final)
    return final


def spool(config, body, why):
    name = f"{time.time_ns()}-{safe_name(body['job_id'])}.json"
    path = write_atomically(config["spool_dir"], name, json.dumps(body, indent=1) + "\n")
    log(config, f"job {body['job_id']}: spooled to {path} ({why})")
    return path


def reject(config, body, status, text):
    name = f"{time.time_ns()}-{safe_name(body['job_id'])}.json"
    folder = os.path.join(config["spool_dir"], "rejected")
    path = write_atomically(folder, name, json.dumps(body, indent=1) + "\n")
    write_atomically(folder, name + ".reason", f"HTTP {status}: {text.strip()[:2000]}\n")
    log(config, f"job {body['job_id']}: refused by the daemon (HTTP {status}); kept in {path}")


def main():
    started = time.monotonic()
    config = load_config()
    try:
        chosen = config.get("epilog_timeout_ms") or config.get("timeout_ms") or 3000
        budget = min(30.0, max(0.5, int(chosen) / 1000))
    except ValueError:
        budget = 3.0
    raw_id = os.environ.get("SLURM_JOB_ID") or os.environ.get("SLURM_JOBID") or ""
    job_id = env_job_id()
    if not raw_id:
        log(config, "no SLURM_JOB_ID in the environment; nothing to do")
        return 0
    if not JOB_ID.fullmatch(raw_id):
        log(config, f"SLURM_JOB_ID {raw_id[:40]!r} is not a job id; nothing to do")
        return 0
    account = os.environ.get("SLURM_JOB_ACCOUNT") or ""
    if "|" in account:  # see "Why a user cannot forge what it reads"
        log(
            config,
            f"job {job_id}: its account {account[:80]!r} contains '|', so Slurm's "
            "'|'-separated lines about it cannot be trusted; not reconciled here",
        )
        return 0
    job = from_squeue(config, raw_id) or from_sacct(config, raw_id)
    if job is None:
        log(config, f"job {job_id}: no usable record in squeue or sacct; recovery will resolve it")
        return 0
    if job_id and "_" in job_id:
        job["job_id"] = job_id  # the environment names array tasks reliably
    comment = job.get("admin_comment") or ""
    hold = HOLD.search(comment)
    if hold is None and "asbb:unchecked" not in comment:
        log(config, f"job {job['job_id']}: no asbb hold; not reconciled here")
        return 0
    job["hold_id"] = hold.group(1) if hold else None
    body = build_request(config, job, raw_id)
    if hold is None:  # accepted fail-open: it ran without a hold, so charge it by account
        del body["transaction_id"]
        body["account"] = os.environ.get("SLURM_JOB_ACCOUNT") or job.get("account")
        body["partition"] = os.environ.get("SLURM_JOB_PARTITION") or job.get("partition")
        body["user_id"] = os.environ.get("SLURM_JOB_USER") or job.get("user")
        if not body["account"]:
            log(config, f"job {job['job_id']}: unchecked job without an account; not charged")
            return 0
    deadline = started + budget
    status, text = post(config, body, deadline)
    if 200 <= status < 300:
        against = body.get("transaction_id") or f"account {body.get('account')} (no hold)"
        log(config, f"job {body['job_id']}: reconciled against {against}")
        return 0
    if status == 0 or status >= 500 or status in RETRY_LATER:
        spool(config, body, f"HTTP {status}: {text[:200]}" if status else text[:200])
        return 0
    reject(config, body, status, text)
    return 0


def entry():
    try:
        main()
    except BaseException as exc:  # never fail slurmctld's epilog
        with contextlib.suppress(BaseException):
            log(None, f"unexpected error: {type(exc).__name__}: {exc}")
    return 0


if __name__ == "__main__":
    sys.exit(entry())
