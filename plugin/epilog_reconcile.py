#!/usr/bin/python3
"""asbb EpilogSlurmctld script: charge a finished job against its budget hold.

slurmctld runs it as root on the controller after every job that ran (slurm.conf:
``EpilogSlurmctld=/usr/local/lib/asbb/epilog_reconcile.py``). Standard library only; it runs
under the system python3, not asbb's virtualenv.

What it does
  1. Job id from SLURM_JOB_ID (an array task becomes
     ``<SLURM_ARRAY_JOB_ID>_<SLURM_ARRAY_TASK_ID>``).
  2. Reads the job with ``scontrol show job -o <id>`` (state, start, end, run time, allocated
     TRES, AdminComment, Comment); falls back to ``sacct -P -n -X -j <id>``.
  3. Takes the hold id from ``asbb:hold=<id>`` in AdminComment (written by job_submit.lua).
     A job accepted while the daemon was down under a fail-open policy (``asbb:unchecked``)
     ran without a hold: it is reconciled by account instead (account, partition and user
     from the environment slurmctld gives its epilog), so it is still charged. No asbb mark
     at all (an unbudgeted partition, or no plugin): it logs and exits 0.
  4. POSTs ``/api/v1/budget/reconcile`` {job_id, transaction_id, elapsed_seconds, nodes, cpus,
     gpus, memory, state, end_time, [actual_cost], job_metadata} with the plugin token, within
     ``timeout_ms`` in total. The AWS cost is sent as ``actual_cost`` when the job's comment
     carries ``aws_meta:{"actual_cost": ...}`` or when
     ``<asbx_dir>/job-<id>-asbb-reconciliation.json`` (written by aws-slurm-burst) exists;
     otherwise the daemon prices the real elapsed time.
  5. Daemon unreachable, too slow, or answering 5xx/429/401/403: the request is written
     atomically (temporary file + rename) to ``<spool_dir>/<epoch-ns>-<job_id>.json`` and the
     script exits 0 at once. ``asbb reconcile --replay`` (or the daemon's spool replayer) sends
     it later, exactly once. A request the daemon refuses for good (404 unknown hold, 422)
     goes to ``<spool_dir>/rejected/`` with a ``.reason`` file beside it.
  It always exits 0: a failing EpilogSlurmctld must never hurt slurmctld.

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
    asbx_dir    = /var/spool/asbx         # optional: aws-slurm-burst reconciliation files
    log_file    = /var/log/asbb/epilog.log  # optional; else stderr (slurmctld's log)
    scontrol    = scontrol                # optional paths of the Slurm commands
    sacct       = sacct
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime

DEFAULTS = {
    "daemon_url": "http://127.0.0.1:8770",
    "token_file": "/etc/asbb/plugin.token",
    "spool_dir": "/var/spool/asbb",
    "asbx_dir": "",
    "log_file": "",
    "scontrol": "scontrol",
    "sacct": "sacct",
}
ALIASES = {"url": "daemon_url", "daemon": "daemon_url", "token": "token_file", "spool": "spool_dir"}
CONFIG_PLACES = ("/etc/slurm/asbb_plugin.conf", "/etc/asbb/plugin.conf")
ENV_PLACES = ("ASBB_EPILOG_CONFIG", "ASBB_PLUGIN_CONF", "ASBB_PLUGIN_CONFIG")
HOLD = re.compile(r"asbb:hold=([A-Za-z0-9_.:\-]{1,40})")
SCONTROL_SPLIT = re.compile(r" (?=[A-Z][A-Za-z0-9_/:]*=)")
SACCT_FIELDS = ("JobID", "State", "Start", "End", "Elapsed", "AllocTRES", "Comment", "AdminComment")
UNSET = ("", "unknown", "none", "n/a", "(null)", "invalid")
RETRY_LATER = (401, 403, 408, 425, 429)  # not the request's fault: keep it and send it later
COMMAND_TIMEOUT = 2.0


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
    except (OSError, subprocess.SubprocessError):
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
    """[D-]HH:MM:SS -> seconds (None if unset)."""
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


def ended_state(fields):
    """The job's end state. While EpilogSlurmctld runs, scontrol usually still shows
    ``COMPLETING``; the reason and exit code then say how it ended."""
    state = (fields.get("JobState") or "").split(" ")[0].rstrip("+")
    if state != "COMPLETING":
        return state
    reason = fields.get("Reason") or ""
    code, _, signal = (fields.get("ExitCode") or "0:0").partition(":")
    if reason == "TimeLimit":
        return "TIMEOUT"
    if reason.startswith("Node") or reason == "NodeDown":
        return "NODE_FAIL"
    if signal not in ("", "0"):
        return "CANCELLED"
    if code not in ("", "0"):
        return "FAILED"
    return "COMPLETED"


def from_scontrol(config, raw_id):
    out = run([config["scontrol"], "show", "job", "-o", raw_id])
    line = next((x for x in (out or "").splitlines() if x.startswith("JobId=")), None)
    if line is None:
        return None
    fields = {}
    for part in SCONTROL_SPLIT.split(line.strip()):
        key, sep, value = part.partition("=")
        if sep and key not in fields:
            fields[key] = value
    job_id = fields.get("JobId", raw_id)
    if fields.get("ArrayJobId") and fields.get("ArrayTaskId", "").isdigit():
        job_id = f"{fields['ArrayJobId']}_{fields['ArrayTaskId']}"
    return {
        "job_id": job_id,
        "state": ended_state(fields),
        "start": parse_time(fields.get("StartTime")),
        "end": parse_time(fields.get("EndTime")),
        "elapsed": parse_elapsed(fields.get("RunTime")),
        "tres": parse_tres(fields.get("AllocTRES") or fields.get("TRES")),
        "admin_comment": "" if unset(fields.get("AdminComment")) else fields["AdminComment"],
        "comment": "" if unset(fields.get("Comment")) else fields["Comment"],
        "account": fields.get("Account"),
        "partition": fields.get("Partition"),
        "user": (fields.get("UserId") or "").split("(")[0] or None,
        "source": "scontrol",
    }


def from_sacct(config, job_id):
    fmt = "--format=" + ",".join(SACCT_FIELDS)
    out = run([config["sacct"], "-P", "-n", "-X", "-j", job_id, fmt], timeout=3.0)
    for line in (out or "").splitlines():
        parts = line.split("|", len(SACCT_FIELDS) - 1)
        if len(parts) < len(SACCT_FIELDS) or "." in parts[0]:
            continue
        row = dict(zip(SACCT_FIELDS, parts, strict=True))
        if row["JobID"] != job_id:
            continue
        return {
            "job_id": row["JobID"],
            "state": row["State"].split(" ")[0].rstrip("+"),
            "start": parse_time(row["Start"]),
            "end": parse_time(row["End"]),
            "elapsed": parse_elapsed(row["Elapsed"]),
            "tres": parse_tres(row["AllocTRES"]),
            "admin_comment": row["AdminComment"].strip(),
            "comment": row["Comment"].strip(),
            "source": "sacct",
        }
    return None


def env_job_id():
    array_job, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    if array_job and task and task.isdigit() and array_job.isdigit():
        return f"{array_job}_{task}"
    return os.environ.get("SLURM_JOB_ID") or os.environ.get("SLURM_JOBID") or ""


# ---------------------------------------------------------------- AWS cost


def aws_meta(text):
    """The JSON object after ``aws_meta:`` in a comment, if any."""
    at = (text or "").find("aws_meta:")
    if at < 0:
        return None
    try:
        value, _ = json.JSONDecoder().raw_decode(text[at + len("aws_meta:") :].lstrip())
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def asbx_record(config, ids):
    folder = config.get("asbx_dir")
    if not folder:
        return None
    for job_id in ids:
        path = os.path.join(folder, f"job-{job_id}-asbb-reconciliation.json")
        try:
            with open(path, encoding="utf-8") as fh:
                data = json.load(fh)
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("success", True) is not False:
            return data
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
    meta = aws_meta(job.get("admin_comment")) or aws_meta(job.get("comment"))
    record = asbx_record(config, dict.fromkeys([job["job_id"], raw_id]))
    cost = None
    if meta is not None:
        metadata["aws_meta"] = meta
        cost = meta.get("actual_cost")
    if record is not None:
        metadata["asbx"] = {k: record[k] for k in ("instance_types", "spot_savings") if k in record}
        cost = record.get("actual_cost", cost)
    if cost is not None:
        body["actual_cost"] = str(cost)
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
    job = from_scontrol(config, raw_id) or from_sacct(config, job_id)
    if job is None:
        log(config, f"job {job_id}: neither scontrol nor sacct knows it; recovery will resolve it")
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
