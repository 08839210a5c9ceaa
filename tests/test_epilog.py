"""plugin/epilog_reconcile.py run as slurmctld runs it: a subprocess of the system python3,
with Slurm's environment, against a real daemon over HTTP.

The one stand-in: ``scontrol``/``sacct`` on PATH are tiny scripts that print output captured
from a real Slurm 22.05 (tests/fixtures/slurm/). tests/slurm/test_reconcile.py does the same
on a real cluster.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

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
CAPTURED_HOLD = {
    "scontrol_completed.txt": "h466030d59745486ca8f557217e4ba6b7",
    "scontrol_array.txt": "ha96431ac097e4e419b7fa5b3bd881e7c",
    "scontrol_failed.txt": "h46b5034ab02f4884b2f7140c8d59d379",
}


def captured(name: str, hold_id: str | None = None, **replace: str) -> str:
    """A captured ``scontrol show job -o`` output, with our hold id (and edits) put in."""
    text = (FIXTURES / name).read_text()
    if hold_id is not None:
        text = text.replace(CAPTURED_HOLD[name], hold_id)
    for old, new in replace.items():
        text = text.replace(old.replace("__", "="), new)
    return text


class Epilog:
    """Runs the epilog script with a config file, a fake-Slurm bin folder and a spool."""

    def __init__(self, tmp: Path, url: str, token: str) -> None:
        self.tmp = tmp
        self.bin = tmp / "bin"
        self.bin.mkdir()
        self.spool = tmp / "spool"
        self.asbx = tmp / "asbx"
        self.asbx.mkdir()
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
        script.write_text(f"#!/bin/sh\ncat '{self.bin / (command + '.out')}'\nexit {status}\n")
        script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)

    def run(self, job_id: str = "1", **env: str) -> tuple[subprocess.CompletedProcess[str], float]:
        environ = {
            # what slurmctld gives EpilogSlurmctld (generated/epilog_ctld.2.env), plus PATH
            # (to find the fake commands) and the config's place
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

    def spooled(self) -> list[Path]:
        if not self.spool.is_dir():
            return []
        return sorted(p for p in self.spool.iterdir() if p.suffix == ".json")


@pytest.fixture
def daemon(live_daemon, ledger, ctx):
    ledger.create_account("ml-proj", ctx=ctx, limit="1000")
    yield live_daemon
    report = verify_ledger(ledger.db)
    assert report.ok, [str(p) for p in report.problems]


@pytest.fixture
def epilog(tmp_path, daemon):
    return Epilog(tmp_path, daemon.url, daemon.tokens["plugin"])


def hold(daemon, **fields) -> str:
    body = {"account": "ml-proj", "partition": "gpu-aws", "cpus": 2, "gpus": 1}
    body.update({"wall_time": "02:00:00", **fields})
    with daemon.client("plugin") as client:
        reply = client.post("/api/v1/budget/check", json=body)
    assert reply.status_code == 200, reply.text
    return str(reply.json()["transaction_id"])


def one_hour(text: str) -> str:
    return text.replace("RunTime=00:00:02", "RunTime=01:00:00").replace(
        "EndTime=2026-11-22T06:18:51", "EndTime=2026-11-22T07:18:49"
    )


def test_a_finished_job_is_charged_at_its_real_elapsed_time(epilog, daemon, ledger):
    hold_id = hold(daemon)  # 2 h estimate: (2 x 0.05 + 3.06) x 2 = 6.32, held 7.58
    epilog.fake("scontrol", one_hour(captured("scontrol_completed.txt", hold_id)))
    done, _ = epilog.run("1")
    assert done.returncode == 0, done.stderr
    assert "reconciled" in done.stderr
    h = ledger.get_hold(hold_id)
    # the allocation was 2 CPUs and 1 GPU for one hour: 2 x 0.05 + 3.06 = 3.16
    assert (h.state, h.charged, h.released) == ("posted", Decimal("3.16"), Decimal("4.42"))
    (charge,) = [e for e in ledger.journal(hold_id=hold_id) if e.kind == "charge"]
    assert (charge.job_id, charge.source, charge.job_metadata["state"]) == (
        "1",
        "epilog",  # a reconcile sent with the plugin token comes from the epilog
        "COMPLETED",
    )
    assert charge.job_metadata["read_from"] == "scontrol"
    assert epilog.spooled() == []
    # slurmctld may run it again (a requeue, a retry): nothing is charged twice
    again, _ = epilog.run("1")
    assert again.returncode == 0
    assert ledger.get_account("ml-proj").used_amount == Decimal("3.16")


@pytest.mark.parametrize(
    ("reason", "exit_code", "state"),
    [("None", "0:0", "COMPLETED"), ("TimeLimit", "0:15", "TIMEOUT"), ("None", "3:0", "FAILED")],
)
def test_the_end_state_is_read_while_slurm_still_shows_completing(
    epilog, daemon, ledger, reason, exit_code, state
):
    """What a real slurmctld shows its EpilogSlurmctld (seen in tests/slurm)."""
    hold_id = hold(daemon)
    text = captured("scontrol_completed.txt", hold_id)
    text = text.replace("JobState=COMPLETED Reason=None", f"JobState=COMPLETING Reason={reason}")
    epilog.fake("scontrol", text.replace("ExitCode=0:0", f"ExitCode={exit_code}"))
    done, _ = epilog.run("1")
    assert done.returncode == 0, done.stderr
    (charge,) = [e for e in ledger.journal(hold_id=hold_id) if e.kind == "charge"]
    assert charge.job_metadata["state"] == state


def test_an_array_task_is_reconciled_as_its_own_job(epilog, daemon, ledger):
    hold_id = hold(daemon, cpus=1, gpus=0, array_size=3)
    lines = captured("scontrol_array.txt", hold_id).splitlines()
    task_1 = next(line for line in lines if "ArrayTaskId=1 " in line)
    epilog.fake("scontrol", task_1 + "\n")
    done, _ = epilog.run("8", SLURM_ARRAY_JOB_ID="2", SLURM_ARRAY_TASK_ID="1")
    assert done.returncode == 0, done.stderr
    h = ledger.get_hold(hold_id)
    assert (h.state, h.tasks_posted, h.task_count) == ("open", 1, 3)
    (charge,) = [e for e in ledger.journal(hold_id=hold_id) if e.kind == "charge"]
    assert charge.job_id == "2_1"


def test_the_aws_cost_in_the_comment_is_charged(epilog, daemon, ledger):
    hold_id = hold(daemon)
    meta = 'aws_meta:{"actual_cost": 1.23, "instance_type": "g5.xlarge"}'
    text = captured("scontrol_completed.txt", hold_id).replace(
        f"AdminComment=asbb:hold={hold_id} ", f"AdminComment=asbb:hold={hold_id} {meta} "
    )
    epilog.fake("scontrol", text)
    done, _ = epilog.run("1")
    assert done.returncode == 0, done.stderr
    h = ledger.get_hold(hold_id)
    assert (h.state, h.charged) == ("posted", Decimal("1.23"))
    (charge,) = [e for e in ledger.journal(hold_id=hold_id) if e.kind == "charge"]
    assert charge.job_metadata["aws_meta"]["instance_type"] == "g5.xlarge"


def test_the_asbx_reconciliation_file_is_charged(epilog, daemon, ledger):
    hold_id = hold(daemon)
    (epilog.asbx / "job-1-asbb-reconciliation.json").write_text(
        json.dumps(
            {
                "job_id": "1",
                "account": "ml-proj",
                "actual_cost": 2.75,
                "instance_types": ["g5.xlarge"],
                "success": True,
            }
        )
    )
    epilog.fake("scontrol", captured("scontrol_completed.txt", hold_id))
    done, _ = epilog.run("1")
    assert done.returncode == 0, done.stderr
    assert ledger.get_hold(hold_id).charged == Decimal("2.75")


def test_sacct_is_the_fallback_when_the_controller_forgot_the_job(epilog, daemon, ledger):
    hold_id = hold(daemon)
    epilog.fake("scontrol", "slurm_load_jobs error: Invalid job id specified\n", status=1)
    epilog.fake(
        "sacct",
        f"1|COMPLETED|2026-11-22T06:18:49|2026-11-22T07:18:49|01:00:00|"
        f"billing=2,cpu=2,gres/gpu=1,node=1|asbb:hold={hold_id}\n"
        # sacct -X shows no steps, but a stray step line must not count
        "1.batch|COMPLETED|2026-11-22T06:18:49|2026-11-22T07:18:49|01:00:00|cpu=2,node=1|\n",
    )
    # the script asks for Comment too: JobID,State,Start,End,Elapsed,AllocTRES,Comment,AdminComment
    epilog.fake(
        "sacct",
        f"1|COMPLETED|2026-11-22T06:18:49|2026-11-22T07:18:49|01:00:00|"
        f"billing=2,cpu=2,gres/gpu=1,node=1||asbb:hold={hold_id}\n",
    )
    done, _ = epilog.run("1")
    assert done.returncode == 0, done.stderr
    h = ledger.get_hold(hold_id)
    assert (h.state, h.charged) == ("posted", Decimal("3.16"))
    (charge,) = [e for e in ledger.journal(hold_id=hold_id) if e.kind == "charge"]
    assert charge.job_metadata["read_from"] == "sacct"


def test_a_job_without_any_asbb_mark_is_logged_and_left(epilog, daemon, ledger):
    epilog.fake("scontrol", captured("scontrol_local.txt"))
    done, _ = epilog.run("5")
    assert done.returncode == 0
    assert "no asbb hold; not reconciled here" in done.stderr
    assert epilog.spooled() == []
    assert ledger.get_account("ml-proj").used_amount == 0


def test_a_job_accepted_unchecked_is_charged_by_account(epilog, daemon, ledger):
    """Fail-open: the daemon was down at submit, so the job ran without a hold; it is still
    charged at its end (and a second run of the epilog charges nothing more)."""
    text = (
        captured("scontrol_local.txt")
        .replace("RunTime=00:00:01", "RunTime=01:00:00")
        .replace("WorkDir=", "AdminComment=asbb:unchecked WorkDir=")
    )
    epilog.fake("scontrol", text)
    done, _ = epilog.run("5")
    assert done.returncode == 0, done.stderr
    assert "(no hold)" in done.stderr
    used = ledger.get_account("ml-proj").used_amount
    assert used == Decimal("0.05")  # 1 CPU for an hour on aws-cpu at $0.05
    (charge,) = [e for e in ledger.journal(account="ml-proj") if e.kind == "charge"]
    assert (charge.hold_id, charge.job_id, charge.overrun, charge.partition) == (
        None,
        "5",
        True,
        "aws-cpu",
    )
    assert charge.user_name == "root"
    again, _ = epilog.run("5")
    assert again.returncode == 0
    assert ledger.get_account("ml-proj").used_amount == used


def test_daemon_down_spools_the_request_and_exits_0_at_once(epilog, daemon, ledger):
    hold_id = hold(daemon)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    epilog.configure(f"http://127.0.0.1:{port}")
    epilog.fake("scontrol", one_hour(captured("scontrol_completed.txt", hold_id)))
    done, took = epilog.run("1")
    assert done.returncode == 0
    assert took < 2.0, took
    (path,) = epilog.spooled()
    stamp, job = path.stem.split("-", 1)
    assert job == "1"
    assert stamp.isdigit()
    assert abs(int(stamp) / 1e9 - time.time()) < 60
    body = json.loads(path.read_text())
    assert body["transaction_id"] == hold_id
    assert (body["job_id"], body["elapsed_seconds"], body["cpus"], body["gpus"]) == (
        "1",
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
        epilog.fake("scontrol", captured("scontrol_completed.txt", hold_id))
        done, took = epilog.run("1")
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
        epilog.fake("scontrol", captured("scontrol_completed.txt", hold_id))
        done, _ = epilog.run("1")
    finally:
        stop()
    assert done.returncode == 0
    assert len(epilog.spooled()) == 1
    assert "HTTP 503" in done.stderr


def test_a_refused_request_is_kept_aside_with_its_reason(epilog, daemon, ledger):
    epilog.fake("scontrol", captured("scontrol_completed.txt", "hdoesnotexist"))
    done, _ = epilog.run("1")
    assert done.returncode == 0
    assert epilog.spooled() == []
    rejected = sorted((epilog.spool / "rejected").iterdir())
    assert [p.suffix for p in rejected] == [".json", ".reason"]
    assert "HTTP 404" in rejected[1].read_text()
    assert "hdoesnotexist" in rejected[1].read_text()


def test_it_never_fails_slurmctld(epilog, tmp_path):
    epilog.config.write_text("url = http://127.0.0.1:1\nspool_dir = /proc/forbidden\n")
    epilog.fake("scontrol", captured("scontrol_completed.txt", "hwhatever"))
    done, took = epilog.run("1")
    assert done.returncode == 0
    assert took < 5
    # no job id at all
    bare = subprocess.run(
        [PYTHON, str(EPILOG)],
        env={"PATH": "/usr/bin:/bin", "ASBB_EPILOG_CONFIG": str(epilog.config)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert bare.returncode == 0
    assert "no SLURM_JOB_ID" in bare.stderr


def test_the_submit_plugins_config_is_read_beside_slurm_conf(tmp_path, epilog, daemon, ledger):
    hold_id = hold(daemon)
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "slurm.conf").write_text("ClusterName=lab\n")
    (etc / "asbb_plugin.conf").write_text(epilog.config.read_text())
    epilog.fake("scontrol", captured("scontrol_completed.txt", hold_id))
    done, _ = epilog.run("1", ASBB_EPILOG_CONFIG="", SLURM_CONF=str(etc / "slurm.conf"))
    assert done.returncode == 0, done.stderr
    assert ledger.get_hold(hold_id).state == "posted"


def test_config_parser_accepts_both_formats():
    sys.path.insert(0, str(EPILOG.parent))
    try:
        import epilog_reconcile as module
    finally:
        sys.path.remove(str(EPILOG.parent))
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
    assert os.path.basename(module.__file__) == "epilog_reconcile.py"
