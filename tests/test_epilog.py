"""plugin/epilog_reconcile.py run as slurmctld runs it: a subprocess of the system python3,
with Slurm's environment, against a real daemon over HTTP.

The one stand-in: ``squeue``/``sacct``/``scontrol`` on PATH are tiny scripts that print what a
real Slurm 22.05 printed for the epilog's own commands, captured at EpilogSlurmctld time
(tests/fixtures/slurm/epilog_captures.json, forged jobs included: a JobName, a Comment and a
WorkDir carrying ``AdminComment=asbb:hold=<another job's hold>``, and an Account name with
``|`` in it on a cluster without accounting storage). tests/slurm/ does the same on a real
cluster.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import socket
import stat
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from types import ModuleType

import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from asbb_core.ledger.verify import verify_ledger
from tests.conftest import serve_in_thread

ROOT = Path(__file__).resolve().parents[1]
EPILOG = ROOT / "plugin" / "epilog_reconcile.py"
FIXTURES = ROOT / "tests" / "fixtures" / "slurm"
PYTHON = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable
CAPTURED = json.loads((FIXTURES / "epilog_captures.json").read_text())
JOBS = CAPTURED["jobs"]
VICTIM = CAPTURED["victim_hold"]
SQUEUE_ORDER = [
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
]
FORGED = ("forged_name", "forged_comment", "forged_workdir")


def captured(
    name: str, command: str = "squeue", hold_id: str | None = None, victim: str | None = None
) -> str:
    """What Slurm printed for job ``name``, with our holds put in for the captured ones."""
    job = JOBS[name]
    text = job[command]
    if hold_id is not None and job["hold"]:
        text = text.replace(job["hold"], hold_id)
    if victim is not None:  # the forged accounts were captured on a cluster of their own
        text = text.replace(job.get("victim_hold", VICTIM), victim)
    return text


def edit(text: str, **fields: str) -> str:
    """Change named fields of every squeue line (a test's own edit of trusted fields)."""
    lines = []
    for line in text.splitlines():
        parts = line.split("|", len(SQUEUE_ORDER) - 1)
        for key, value in fields.items():
            parts[SQUEUE_ORDER.index(key)] = value
        lines.append("|".join(parts))
    return "\n".join(lines) + "\n"


def one_hour(text: str) -> str:
    return edit(text, TimeUsed="1:00:00")


class Epilog:
    """Runs the epilog script with a config file, a fake-Slurm bin folder and a spool."""

    def __init__(self, tmp: Path, url: str, token: str) -> None:
        self.tmp = tmp
        self.bin = tmp / "bin"
        self.bin.mkdir()
        self.spool = tmp / "spool"
        self.asbx = tmp / "asbx"
        self.asbx.mkdir(exist_ok=True)
        (tmp / "token").write_text(token + "\n")
        self.config = tmp / "asbb_plugin.conf"
        self.configure(url)

    def configure(self, url: str, timeout_ms: int = 3000) -> None:
        self.config.write_text(
            "# as tests/slurm/cluster.py writes it, plus the epilog's own keys\n"
            f"url = {url}\n"
            f"token_file = {self.tmp / 'token'}\n"
            "timeout_ms = 500\n"
            f"epilog_timeout_ms = {timeout_ms}\n"
            "budgeted = aws-cpu, gpu-aws\n"
            "policy.aws-cpu = closed\n"
            f"spool_dir = {self.spool}\n"
            f"asbx_dir = {self.asbx}   # aws-slurm-burst files\n"
        )

    def fake(self, command: str, output: str, status: int = 0) -> None:
        (self.bin / f"{command}.out").write_text(output)
        script = self.bin / command
        script.write_text(
            f"#!/bin/sh\necho \"$@\" >> '{self.bin / (command + '.args')}'\n"
            f"cat '{self.bin / (command + '.out')}'\nexit {status}\n"
        )
        script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)

    def called(self, command: str) -> list[str]:
        path = self.bin / f"{command}.args"
        return path.read_text().splitlines() if path.exists() else []

    def run(self, job_id: str = "1", **env: str) -> tuple[subprocess.CompletedProcess[str], float]:
        environ = {
            # what slurmctld gives EpilogSlurmctld (captured), plus PATH (to find the fake
            # commands) and the config's place
            "SLURM_JOB_ID": job_id,
            "SLURM_JOBID": job_id,
            "SLURM_JOB_ACCOUNT": "ml-proj",
            "SLURM_JOB_PARTITION": "aws-cpu",
            "SLURM_JOB_USER": "root",
            "SLURM_SCRIPT_CONTEXT": "epilog_slurmctld",
            "PATH": f"{self.bin}:/usr/bin:/bin",
            "ASBB_EPILOG_CONFIG": str(self.config),
            **env,
        }
        started = time.monotonic()
        done = subprocess.run(
            [PYTHON, str(EPILOG)], env=environ, capture_output=True, text=True, timeout=30
        )
        return done, time.monotonic() - started

    def run_job(self, name: str, **env: str) -> tuple[subprocess.CompletedProcess[str], float]:
        """Run it for captured job ``name`` with the environment slurmctld gave it."""
        given = {k: v for k, v in JOBS[name]["env"].items() if not k.startswith("SLURM_JOB_")}
        job = JOBS[name]["job"]
        return self.run(job, **{**given, "SLURM_JOB_ID": job, "SLURM_JOBID": job, **env})

    def spooled(self) -> list[Path]:
        if not self.spool.is_dir():
            return []
        return sorted(p for p in self.spool.iterdir() if p.suffix == ".json")


@pytest.fixture
def daemon(live_daemon, ledger, ctx):
    ledger.create_account("ml-proj", ctx=ctx, limit="1000")
    ledger.create_account("victim-proj", ctx=ctx, limit="1000")
    yield live_daemon
    report = verify_ledger(ledger.db)
    assert report.ok, [str(p) for p in report.problems]


@pytest.fixture
def epilog(tmp_path, daemon):
    return Epilog(tmp_path, daemon.url, daemon.tokens["plugin"])


@pytest.fixture(scope="module")
def module() -> ModuleType:
    """The script imported in-process, for its parser alone."""
    spec = importlib.util.spec_from_file_location("epilog_reconcile_under_test", EPILOG)
    assert spec is not None
    assert spec.loader is not None
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded


def hold(daemon, **fields) -> str:
    body = {"account": "ml-proj", "partition": "gpu-aws", "cpus": 2, "gpus": 1}
    body.update({"wall_time": "02:00:00", **fields})
    with daemon.client("plugin") as client:
        reply = client.post("/api/v1/budget/check", json=body)
    assert reply.status_code == 200, reply.text
    return str(reply.json()["transaction_id"])


def the_charge(ledger, hold_id):
    (charge,) = [e for e in ledger.journal(hold_id=hold_id) if e.kind == "charge"]
    return charge


# ---------------------------------------------------------------- the parser, on real output


def parse(module, monkeypatch, command: str, text: str, raw_id: str):
    asked: list[list[str]] = []

    def fake_run(argv, timeout=2.0):
        asked.append(list(argv))
        return text

    monkeypatch.setattr(module, "run", fake_run)
    config = dict(module.DEFAULTS)
    reader = module.from_squeue if command == "squeue" else module.from_sacct
    return reader(config, raw_id), asked


def test_only_fields_no_user_can_set_are_asked_for(module, monkeypatch):
    """The whole defence: what users write (names, comments, paths, mail) is never printed,
    so nothing they write can sit where a field is read."""
    user_set = {
        "name", "jobname", "comment", "workdir", "command", "stdout", "stderr", "stdin",
        "mailuser", "features", "feature", "network", "licenses", "wckey", "dependency",
        "burstbuffer", "container", "reservation", "extra", "system_comment",
    }  # fmt: skip
    _, asked = parse(module, monkeypatch, "squeue", "", "12")
    (argv,) = asked
    fmt = argv[argv.index("-O") + 1]
    squeue_fields = [f.split(":")[0].lower() for f in fmt.split(",")]
    assert squeue_fields == [f.lower() for f in SQUEUE_ORDER]
    assert not user_set & set(squeue_fields)
    assert argv[:7] == ["squeue", "-h", "-t", "all", "-j", "12", "-O"]
    _, asked = parse(module, monkeypatch, "sacct", "", "12")
    (argv,) = asked
    sacct_fields = argv[-1].removeprefix("--format=").lower().split(",")
    assert not user_set & set(sacct_fields)
    # AdminComment last in both: a "|" an administrator writes in it cannot shift a field
    assert squeue_fields[-1] == "admin_comment"
    assert sacct_fields[-1] == "admincomment"
    # and the raw id again just before it, so a "|" in an earlier field (an Account) shows
    assert squeue_fields[-2] == squeue_fields[0] == "jobid"
    assert sacct_fields[-2] == sacct_fields[0] == "jobidraw"
    assert [f for f in sacct_fields if f.startswith("jobid")] == ["jobidraw", "jobidraw"]


@pytest.mark.parametrize("name", FORGED)
def test_the_captures_are_real_forgeries_of_scontrol(name):
    """Proof the fixtures are the attack: reading scontrol -o by its first ``Key=`` (as the
    epilog once did) or by its last (as a naive fix would) finds the victim's hold."""
    line = captured(name, "scontrol").splitlines()[0]
    split = re.compile(r" (?=[A-Z][A-Za-z0-9_/:]*=)")
    first: dict[str, str] = {}
    last: dict[str, str] = {}
    for part in split.split(line.strip()):
        key, _, value = part.partition("=")
        first.setdefault(key, value.strip())
        last[key] = value.strip()
    fooled = last if name == "forged_comment" else first  # the Comment comes after it

    def hold_in(comment: str) -> str:
        match = re.match(r"asbb:hold=(\w+)", comment)
        assert match, comment
        return match.group(1)

    assert hold_in(fooled["AdminComment"]) == VICTIM
    assert JOBS[name]["hold"] in {hold_in(first["AdminComment"]), hold_in(last["AdminComment"])}
    if name == "forged_name":
        assert (first["Account"], first["JobState"], first["TRES"]) == (
            "poor",
            "CANCELLED",
            "cpu=0",
        )
        assert first["UserId"] == "nobody(65534)"


@pytest.mark.parametrize("name", FORGED)
@pytest.mark.parametrize("command", ["squeue", "sacct_later"])
def test_the_parser_reads_the_forged_jobs_true_record(module, monkeypatch, name, command):
    job = JOBS[name]
    text = captured(name, command)
    found, _ = parse(module, monkeypatch, command.split("_")[0], text, job["job"])
    assert found is not None
    assert found["admin_comment"] == f"asbb:hold={job['hold']}"
    assert VICTIM not in json.dumps(found, default=str)
    assert (found["account"], found["user"], found["state"]) == ("rich", "root", "COMPLETED")
    assert found["partition"] == "aws"
    if name == "forged_name":
        assert found["tres"] == {"cpus": 2, "nodes": 1, "gpus": 1}
        assert found["elapsed"] == 3
    assert found["source"] == command.split("_")[0]


@pytest.mark.parametrize(
    ("name", "state", "elapsed"),
    [("failed", "FAILED", 0), ("timeout", "TIMEOUT", 82), ("cancelled", "CANCELLED", 4)],
)
def test_the_end_state_is_read_while_slurm_still_shows_completing(
    module, monkeypatch, name, state, elapsed
):
    """squeue shows COMPLETING to EpilogSlurmctld: the reason (TimeLimit) and the wait
    status (768 = exit 3, 15 = SIGTERM) say how the job ended."""
    text = captured(name)
    assert "|COMPLETING|" in text
    found, _ = parse(module, monkeypatch, "squeue", text, JOBS[name]["job"])
    assert (found["state"], found["elapsed"]) == (state, elapsed)
    later, _ = parse(module, monkeypatch, "sacct", captured(name, "sacct"), JOBS[name]["job"])
    assert later["state"] == state  # sacct already had the final state for these


def test_an_arrays_own_id_lists_every_task_and_only_its_own_line_is_read(module, monkeypatch):
    text = captured("array_last_task")
    assert len(text.splitlines()) == 3  # squeue -j 15 lists tasks 21, 22 and 15
    found, _ = parse(module, monkeypatch, "squeue", text, "15")
    assert found["job_id"] == "15_2"
    task0, _ = parse(module, monkeypatch, "squeue", text, "21")
    assert task0["job_id"] == "15_0"
    nothing, _ = parse(module, monkeypatch, "squeue", text, "99")
    assert nothing is None


def test_a_line_that_is_not_what_slurm_prints_is_not_used(module, monkeypatch):
    good = captured("forged_name")
    assert parse(module, monkeypatch, "squeue", good, "12")[0] is not None
    parts = good.rstrip("\n").split("|")
    short = "|".join(parts[:5]) + "\n"  # fields missing
    bad_state = good.replace("|COMPLETING|", "|completing x|")
    bad_time = good.replace(f"|{parts[5]}|", "|yesterday|")  # StartTime
    bad_exit = good.replace("|COMPLETING|0|", "|COMPLETING|0:0|")
    for text in (short, bad_state, bad_time, bad_exit, "", "slurm_load_jobs error\n"):
        assert parse(module, monkeypatch, "squeue", text, "12")[0] is None, text
    # a "|" in AdminComment (only an administrator can write it) stays in AdminComment
    piped = good.replace(f"asbb:hold={JOBS['forged_name']['hold']}", "asbb:hold=hX|note|more")
    found, _ = parse(module, monkeypatch, "squeue", piped, "12")
    assert found["admin_comment"] == "asbb:hold=hX|note|more"


def test_sacct_before_accounting_caught_up_has_no_hold(module, monkeypatch):
    """At EpilogSlurmctld time accounting may still show the task PENDING, with no TRES and
    no AdminComment: nothing to charge from it (recovery resolves such a job later)."""
    lagging = captured("array_task_0", "sacct_lagging")  # an earlier capture (fixture's _about)
    found, _ = parse(module, monkeypatch, "sacct", lagging, "21")
    assert (found["state"], found["admin_comment"], found["tres"]) == ("PENDING", "", {})


# ---------------------------------------------------------------- an Account with "|" in it

PIPED = ("forged_account", "forged_account_own_id")


def forged_sacct(name: str, victim: str | None = None) -> str:
    """What sacct would print for job ``name`` had accounting kept its forged Account. It
    never does (slurmdbd refuses such a name or replaces it by the user's default, and the
    cluster that took it had no accounting): this is the captured sacct line of the
    unbudgeted job ``local`` with that job's id, user and account put in."""
    job = JOBS[name]
    parts = JOBS["local"]["sacct_later"].rstrip("\n").split("|")
    account = job["env"]["SLURM_JOB_ACCOUNT"]
    if victim is not None:
        account = account.replace(job["victim_hold"], victim)
    parts[0] = parts[-2] = job["job"]  # JobIDRaw, twice
    parts[6], parts[8] = account, job["env"]["SLURM_JOB_USER"]  # Account, User
    return "|".join(parts) + "\n"


@pytest.mark.parametrize("name", PIPED)
def test_the_captures_are_real_forgeries_of_the_account(module, monkeypatch, name):
    """Proof the fixtures are the attack: read with the old field list (AdminComment right
    after Reason), both lines put the victim's hold in AdminComment; and an account naming
    the job's own id gets past the two id copies, which is why the environment's account is
    looked at first."""
    job = JOBS[name]
    line = captured(name)
    assert f"|x|p|u|r|{'43|' if name.endswith('own_id') else ''}asbb:hold=" in line
    old = [*SQUEUE_ORDER[:-2], "admin_comment"]
    admin = line.rstrip("\n").split("|", len(old) - 1)[-1]
    assert module.HOLD.search(admin).group(1) == job["victim_hold"]
    assert "|" in job["env"]["SLURM_JOB_ACCOUNT"]
    assert job["env"]["SLURM_JOB_USER"] == "nobody"
    assert job["sacct_stderr"] == "Slurm accounting storage is disabled\n"
    found, _ = parse(module, monkeypatch, "squeue", line, job["job"])
    if name == "forged_account":
        assert found is None
    else:
        assert module.HOLD.search(found["admin_comment"]).group(1) == job["victim_hold"]


@pytest.mark.parametrize("command", ["squeue", "sacct"])
def test_an_account_with_a_pipe_is_refused_by_the_id_copies(module, monkeypatch, capsys, command):
    """``--account 'x|p|u|r|asbb:hold=<victim>'`` on an unbudgeted partition: the fields after
    Account shift, so the second id copy is not the job's id and the line is not used."""
    job = JOBS["forged_account"]
    text = captured("forged_account") if command == "squeue" else forged_sacct("forged_account")
    found, _ = parse(module, monkeypatch, command, text, job["job"])
    assert found is None
    err = capsys.readouterr().err
    name = "JobID" if command == "squeue" else "JobIDRaw"
    why = f"job 33: {command} printed a line whose two {name} fields differ ('33', 'asbb:hold="
    assert why in err, err
    assert err.count("not used") == 1
    # the same line with an account that has no "|" is read, and has no hold at all
    plain = text.replace(job["env"]["SLURM_JOB_ACCOUNT"], "x")
    read, _ = parse(module, monkeypatch, command, plain, job["job"])
    assert (read["account"], read["admin_comment"], read["job_id"]) == ("x", "", "33")
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("name", PIPED)
def test_a_job_whose_account_has_a_pipe_is_never_reconciled(epilog, daemon, ledger, name):
    """What slurmctld gives the epilog as SLURM_JOB_ACCOUNT is the whole name, not split from
    a line: with a ``|`` in it nothing Slurm prints about the job is trusted, so even an
    account that names the job's own id (it passes the id copies) charges nothing."""
    victim = hold(daemon, account="victim-proj")
    job = JOBS[name]
    epilog.fake("squeue", captured(name, victim=victim))
    epilog.fake("sacct", forged_sacct(name, victim))
    account = job["env"]["SLURM_JOB_ACCOUNT"].replace(job["victim_hold"], victim)
    done, _ = epilog.run_job(name, SLURM_JOB_ACCOUNT=account, SLURM_JOB_USER="nobody")
    assert done.returncode == 0, done.stderr
    assert f"job {job['job']}: its account {account[:80]!r} contains '|'" in done.stderr
    assert "not reconciled here" in done.stderr
    assert (epilog.called("squeue"), epilog.called("sacct")) == ([], [])
    assert epilog.spooled() == []
    assert [e.kind for e in ledger.journal(hold_id=victim)] == ["hold"]
    assert ledger.get_hold(victim).state == "open"


def test_without_the_environments_account_both_lines_are_refused(epilog, daemon, ledger):
    """Should the environment not name the account, the id copies still refuse the forged
    squeue line and then the sacct one, each with its own log line, and nothing is charged."""
    victim = hold(daemon, account="victim-proj")
    epilog.fake("squeue", captured("forged_account", victim=victim))
    epilog.fake("sacct", forged_sacct("forged_account", victim))
    done, _ = epilog.run_job("forged_account", SLURM_JOB_ACCOUNT="", SLURM_JOB_USER="nobody")
    assert done.returncode == 0, done.stderr
    for command, name in (("squeue", "JobID"), ("sacct", "JobIDRaw")):
        why = f"{command} printed a line whose two {name} fields differ ('33', 'asbb:hold="
        assert why in done.stderr, done.stderr
        assert len(epilog.called(command)) == 1
    assert "job 33: no usable record in squeue or sacct" in done.stderr
    assert "reconciled against" not in done.stderr
    assert [e.kind for e in ledger.journal(hold_id=victim)] == ["hold"]
    assert ledger.get_hold(victim).state == "open"
    assert epilog.spooled() == []


# ---------------------------------------------------------------- the script, end to end


def test_a_finished_job_is_charged_at_its_real_elapsed_time(epilog, daemon, ledger):
    hold_id = hold(daemon)  # 2 h estimate: (2 x 0.05 + 3.06) x 2 = 6.32, held 7.58
    epilog.fake("squeue", one_hour(captured("forged_name", hold_id=hold_id)))
    done, _ = epilog.run_job("forged_name")
    assert done.returncode == 0, done.stderr
    assert "reconciled" in done.stderr
    h = ledger.get_hold(hold_id)
    # the allocation was 2 CPUs and 1 GPU for one hour: 2 x 0.05 + 3.06 = 3.16
    assert (h.state, h.charged, h.released) == ("posted", Decimal("3.16"), Decimal("4.42"))
    charge = the_charge(ledger, hold_id)
    assert (charge.job_id, charge.source, charge.job_metadata["state"]) == (
        "12",
        "epilog",  # a reconcile sent with the plugin token comes from the epilog
        "COMPLETED",
    )
    assert charge.job_metadata["read_from"] == "squeue"
    assert epilog.spooled() == []
    # slurmctld may run it again (a requeue, a retry): nothing is charged twice
    again, _ = epilog.run_job("forged_name")
    assert again.returncode == 0
    assert ledger.get_account("ml-proj").used_amount == Decimal("3.16")


@pytest.mark.parametrize("name", FORGED)
def test_a_forged_job_is_charged_its_real_cost_to_its_own_hold(epilog, daemon, ledger, name):
    """The job's name, comment or working folder carries ``AdminComment=asbb:hold=<victim>``
    (and ``Account=``, ``UserId=``, ``JobState=``, ``TRES=``, an ``aws_meta`` cost of 0.00):
    scontrol shows them as keys, and a fake scontrol here prints exactly that, but the epilog
    reads only trusted fields."""
    victim = hold(daemon, account="victim-proj")
    # held as submitted: JobName's job had 2 CPUs and 1 GPU, the others 1 CPU
    own = hold(daemon) if name == "forged_name" else hold(daemon, cpus=1, gpus=0)
    epilog.fake("squeue", one_hour(captured(name, hold_id=own, victim=victim)))
    epilog.fake("scontrol", captured(name, "scontrol", hold_id=own, victim=victim))
    epilog.fake("sacct", captured(name, "sacct", hold_id=own, victim=victim))
    done, _ = epilog.run_job(name)
    assert done.returncode == 0, done.stderr
    assert f"reconciled against {own}" in done.stderr
    assert victim not in done.stderr
    assert epilog.called("scontrol") == []
    # an hour each, at the model's price
    cost = Decimal("3.16") if name == "forged_name" else Decimal("0.05")
    h = ledger.get_hold(own)
    assert (h.state, h.charged) == ("posted", cost)
    charge = the_charge(ledger, own)
    assert "aws_meta" not in charge.job_metadata
    assert charge.job_metadata["state"] == "COMPLETED"
    v = ledger.get_hold(victim)
    assert (v.state, v.charged, v.released) == ("open", 0, 0)
    assert [e.kind for e in ledger.journal(hold_id=victim)] == ["hold"]
    assert ledger.get_account("victim-proj").used_amount == 0


def test_an_array_task_is_reconciled_as_its_own_job(epilog, daemon, ledger):
    hold_id = hold(daemon, cpus=1, gpus=0, array_size=3)
    epilog.fake("squeue", captured("array_last_task", hold_id=hold_id))
    done, _ = epilog.run_job("array_task_0")
    assert done.returncode == 0, done.stderr
    h = ledger.get_hold(hold_id)
    assert (h.state, h.tasks_posted, h.task_count) == ("open", 1, 3)
    assert the_charge(ledger, hold_id).job_id == "15_0"


def test_the_asbx_reconciliation_file_is_charged(epilog, daemon, ledger):
    hold_id = hold(daemon)
    (epilog.asbx / "job-12-asbb-reconciliation.json").write_text(
        json.dumps(
            {
                "job_id": "12",
                "account": "ml-proj",
                "actual_cost": 2.75,
                "instance_types": ["g5.xlarge"],
                "spot_savings": 0.5,
                "success": True,
            }
        )
    )
    epilog.fake("squeue", captured("forged_name", hold_id=hold_id))
    done, _ = epilog.run_job("forged_name")
    assert done.returncode == 0, done.stderr
    assert ledger.get_hold(hold_id).charged == Decimal("2.75")
    asbx = the_charge(ledger, hold_id).job_metadata["asbx"]
    assert asbx == {"instance_types": ["g5.xlarge"], "spot_savings": "0.5"}


def deep(levels: int) -> str:
    return "[" * levels + "]" * levels


def big() -> str:
    return json.dumps({"job_id": "12", "actual_cost": "1.00", "pad": "x" * 1_100_000})


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ('{"job_id": "12", "actual_cost": "0.01", "x": ' + deep(5_000) + "}", "nested deeper"),
        (big(), "too large"),
        ('{"job_id": "99", "actual_cost": "0.01"}', "written for job '99'"),
        ('{"job_id": "12", "actual_cost": "-5.00"}', "not a non-negative amount"),
        ('{"job_id": "12", "actual_cost": NaN}', "not JSON"),
        ('{"job_id": "12", "actual_cost": 1e-300}', "not a non-negative amount"),
        ('{"job_id": "12", "actual_cost": true}', "no actual_cost"),
        ('{"job_id": "12", "actual_co', "not JSON"),
        ('["12", "0.01"]', "not a JSON object"),
        (b'{"job_id": "12", "actual_cost": "0.01", "n": "\xff"}', "not UTF-8"),
    ],
    ids=["deep", "large", "other-job", "negative", "nan", "float", "bool", "truncated", "list",
         "utf8"],
)  # fmt: skip
def test_a_bad_asbx_file_is_ignored_with_a_log_line(epilog, daemon, ledger, content, why):
    hold_id = hold(daemon)
    path = epilog.asbx / "job-12-asbb-reconciliation.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    epilog.fake("squeue", one_hour(captured("forged_name", hold_id=hold_id)))
    done, took = epilog.run_job("forged_name")
    assert done.returncode == 0, done.stderr
    assert f"{path}: ignored: " in done.stderr
    assert why in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert took < 10
    # priced by the model instead, never by the file
    assert ledger.get_hold(hold_id).charged == Decimal("3.16")


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("[" * 64 + "]" * 64, True),
        ("[" * 65 + "]" * 65, False),
        ('{"a": "' + "[" * 5000 + '"}', True),  # brackets inside a string do not count
        (r'{"a": "\\"' + "[" * 70 + "]" * 70 + "}", False),  # an escaped backslash, then the end
        (r'{"a": "\\", "b": [[[[' + "[" * 70, False),
        (r'{"a": "\"' + "[" * 70, True),  # an escaped quote: still inside
        ('{"a": "' + "[" * 70, True),  # an unclosed string: the rest is inside it
    ],
)
def test_the_depth_is_counted_outside_strings(module, text, ok):
    assert module.json_depth_ok(text, 64) is ok


def test_brackets_inside_strings_do_not_refuse_a_good_export(epilog, daemon, ledger):
    hold_id = hold(daemon)
    body = {"job_id": "12", "actual_cost": "2.00", "note": "[" * 5000 + "{" * 5000}
    (epilog.asbx / "job-12-asbb-reconciliation.json").write_text(json.dumps(body))
    epilog.fake("squeue", captured("forged_name", hold_id=hold_id))
    done, _ = epilog.run_job("forged_name")
    assert done.returncode == 0, done.stderr
    assert "ignored" not in done.stderr
    assert ledger.get_hold(hold_id).charged == Decimal("2.00")


def test_links_fifos_and_strangers_files_in_the_asbx_folder_are_not_read(
    epilog, daemon, ledger, tmp_path
):
    outside = tmp_path / "outside.json"
    outside.write_text('{"job_id": "12", "actual_cost": "0.01"}')
    name = "job-12-asbb-reconciliation.json"
    cases: list[tuple[str, str]] = [("symlink", "a symbolic link"), ("hardlink", "hard links")]
    cases.append(("fifo", "not a regular file"))
    if os.geteuid() == 0:
        cases.append(("stranger", "owned by uid 65534"))
    for kind, why in cases:
        path = epilog.asbx / name
        path.unlink(missing_ok=True)
        if kind == "symlink":
            path.symlink_to(outside)
        elif kind == "hardlink":
            os.link(outside, path)
        elif kind == "fifo":
            os.mkfifo(path)  # opened, it would block a reader for ever
        else:
            path.write_text('{"job_id": "12", "actual_cost": "0.01"}')
            os.chown(path, 65534, 65534)  # nobody, in a folder only root may write
        hold_id = hold(daemon)
        epilog.fake("squeue", one_hour(captured("forged_name", hold_id=hold_id)))
        done, took = epilog.run_job("forged_name")
        assert done.returncode == 0, (kind, done.stderr)
        assert took < 10, kind
        assert f"{path}: ignored: " in done.stderr, (kind, done.stderr)
        assert why in done.stderr, (kind, done.stderr)
        assert ledger.get_hold(hold_id).charged == Decimal("3.16"), kind
        path.unlink()


def test_sacct_is_the_fallback_when_the_controller_forgot_the_job(epilog, daemon, ledger):
    victim = hold(daemon, account="victim-proj")
    hold_id = hold(daemon)
    epilog.fake("squeue", "slurm_load_jobs error: Invalid job id specified\n", status=1)
    # accounting's record of the forged-name job; a stray step line must not count
    text = captured("forged_name", "sacct_later", hold_id=hold_id, victim=victim)
    text = text.replace("|00:00:03|", "|01:00:00|")
    epilog.fake("sacct", text + "12.batch|COMPLETED|||01:00:00|cpu=9|rich|aws|root|0:0|\n")
    done, _ = epilog.run_job("forged_name")
    assert done.returncode == 0, done.stderr
    h = ledger.get_hold(hold_id)
    assert (h.state, h.charged) == ("posted", Decimal("3.16"))
    assert the_charge(ledger, hold_id).job_metadata["read_from"] == "sacct"
    assert ledger.get_hold(victim).state == "open"
    (asked,) = epilog.called("sacct")
    assert asked.startswith("-P -n -X -j 12 --format=JobIDRaw,")


def test_a_job_without_any_asbb_mark_is_logged_and_left(epilog, daemon, ledger):
    epilog.fake("squeue", captured("local"))
    done, _ = epilog.run_job("local")
    assert done.returncode == 0
    assert "no asbb hold; not reconciled here" in done.stderr
    assert epilog.spooled() == []
    assert ledger.get_account("ml-proj").used_amount == 0


def test_a_job_accepted_unchecked_is_charged_by_account(epilog, daemon, ledger):
    """Fail-open: the daemon was down at submit, so the job ran without a hold; it is still
    charged at its end (and a second run of the epilog charges nothing more). Its account,
    partition and user come from the environment slurmctld gives the epilog."""
    epilog.fake("squeue", one_hour(captured("unchecked")))
    done, _ = epilog.run_job("unchecked")
    assert done.returncode == 0, done.stderr
    assert "(no hold)" in done.stderr
    used = ledger.get_account("ml-proj").used_amount
    assert used == Decimal("0.05")  # 1 CPU for an hour on aws-cpu at $0.05 (GPUs unpriced)
    (charge,) = [e for e in ledger.journal(account="ml-proj") if e.kind == "charge"]
    assert (charge.hold_id, charge.job_id, charge.overrun, charge.partition) == (
        None,
        "20",
        True,
        "aws-cpu",
    )
    assert charge.user_name == "root"
    again, _ = epilog.run_job("unchecked")
    assert again.returncode == 0
    assert ledger.get_account("ml-proj").used_amount == used


def test_daemon_down_spools_the_request_and_exits_0_at_once(epilog, daemon, ledger):
    hold_id = hold(daemon)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    epilog.configure(f"http://127.0.0.1:{port}")
    epilog.fake("squeue", one_hour(captured("forged_name", hold_id=hold_id)))
    done, took = epilog.run_job("forged_name")
    assert done.returncode == 0
    assert took < 2.0, took
    (path,) = epilog.spooled()
    stamp, job = path.stem.split("-", 1)
    assert job == "12"
    assert stamp.isdigit()
    assert abs(int(stamp) / 1e9 - time.time()) < 60
    body = json.loads(path.read_text())
    assert body["transaction_id"] == hold_id
    assert (body["job_id"], body["elapsed_seconds"], body["cpus"], body["gpus"]) == (
        "12",
        3600,
        2,
        1,
    )
    assert [p.name for p in epilog.spool.iterdir() if p.name.startswith(".")] == []
    assert ledger.get_hold(hold_id).state == "open"


def test_a_daemon_that_does_not_answer_is_given_up_on_within_the_timeout(epilog, daemon):
    hold_id = hold(daemon)
    with socket.socket() as silent:  # accepts connections (backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        epilog.configure(f"http://127.0.0.1:{silent.getsockname()[1]}", timeout_ms=1000)
        epilog.fake("squeue", captured("forged_name", hold_id=hold_id))
        done, took = epilog.run_job("forged_name")
    assert done.returncode == 0
    assert took < 2.5, took
    assert len(epilog.spooled()) == 1


def test_a_5xx_answer_is_spooled(epilog, daemon):
    hold_id = hold(daemon)

    async def broken(_request):
        return JSONResponse({"error": {"code": "database_error"}}, status_code=503)

    url, stop = serve_in_thread(
        Starlette(routes=[Route("/api/v1/budget/reconcile", broken, methods=["POST"])])
    )
    try:
        epilog.configure(url)
        epilog.fake("squeue", captured("forged_name", hold_id=hold_id))
        done, _ = epilog.run_job("forged_name")
    finally:
        stop()
    assert done.returncode == 0
    assert len(epilog.spooled()) == 1
    assert "HTTP 503" in done.stderr


def test_a_refused_request_is_kept_aside_with_its_reason(epilog, daemon, ledger):
    epilog.fake("squeue", captured("forged_name", hold_id="hdoesnotexist"))
    done, _ = epilog.run_job("forged_name")
    assert done.returncode == 0
    assert epilog.spooled() == []
    rejected = sorted((epilog.spool / "rejected").iterdir())
    assert [p.suffix for p in rejected] == [".json", ".reason"]
    assert "HTTP 404" in rejected[1].read_text()
    assert "hdoesnotexist" in rejected[1].read_text()


def test_it_never_fails_slurmctld(epilog, tmp_path):
    epilog.config.write_text("url = http://127.0.0.1:1\nspool_dir = /proc/forbidden\n")
    epilog.fake("squeue", captured("forged_name", hold_id="hwhatever"))
    done, took = epilog.run_job("forged_name")
    assert done.returncode == 0
    assert took < 5
    # no job id at all, or one that is not a job id
    for env in ({}, {"SLURM_JOB_ID": "12; rm -rf /"}):
        bare = subprocess.run(
            [PYTHON, str(EPILOG)],
            env={"PATH": "/usr/bin:/bin", "ASBB_EPILOG_CONFIG": str(epilog.config), **env},
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert bare.returncode == 0
        assert "no SLURM_JOB_ID" in bare.stderr or "is not a job id" in bare.stderr


def test_the_submit_plugins_config_is_read_beside_slurm_conf(tmp_path, epilog, daemon, ledger):
    hold_id = hold(daemon)
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "slurm.conf").write_text("ClusterName=lab\n")
    (etc / "asbb_plugin.conf").write_text(epilog.config.read_text())
    epilog.fake("squeue", captured("forged_name", hold_id=hold_id))
    done, _ = epilog.run_job(
        "forged_name", ASBB_EPILOG_CONFIG="", SLURM_CONF=str(etc / "slurm.conf")
    )
    assert done.returncode == 0, done.stderr
    assert ledger.get_hold(hold_id).state == "posted"


def test_config_parser_accepts_both_formats(module):
    text = (
        "# comment\nurl = http://x:1  # trailing\nASBB_TOKEN_FILE='/t'\n"
        "policy.aws = open\n-- lua style\n"
    )
    assert module.parse_config(text) == {
        "daemon_url": "http://x:1",
        "token_file": "/t",
        "policy.aws": "open",
    }
    assert module.parse_config('{"daemon_url": "http://y", "timeout_ms": 900}') == {
        "daemon_url": "http://y",
        "timeout_ms": "900",
    }
