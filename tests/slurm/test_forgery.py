"""End to end on a real Slurm: what a user writes into a job never prices it or names its hold.

A user (``nobody``, unprivileged) submits jobs whose JobName, Comment or working folder carry
``AdminComment=asbb:hold=<another account's hold>``, ``Account=``, ``UserId=``, ``JobState=``,
``TRES=``, ``RunTime=`` and an ``aws_meta`` cost of 0.00: ``scontrol show job -o`` prints them
as if they were keys. The real EpilogSlurmctld (plugin/epilog_reconcile.py) must charge each
job its real cost, on its own hold, and leave the victim's hold alone; also when it has to
read the job from accounting (sacct) instead of the controller.

What the tests themselves read about a job comes from ``squeue -O`` fields no user can set
(a ``Key=Value`` parser of ``scontrol -o`` would be fooled by the same forgeries).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from asbb_core.integrations.slurm import parse_elapsed
from asbb_core.ledger.pricing import JobShape, price_job
from asbb_core.values.money import round_internal
from tests.slurm.cluster import EPILOG, SlurmCluster
from tests.slurm.test_reconcile import charges, exact_charge, wait_hold

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

ATTACKER = "nobody"


def trusted(cluster: SlurmCluster, job_id: str, field: str) -> str:
    """One field of the job as slurmctld holds it (``squeue -O``: no user text is printed)."""
    done = cluster.run(["squeue", "-h", "-t", "all", "-j", job_id, "-O", f"JobID:0|,{field}:0"])
    for line in done.stdout.splitlines():
        got_id, _, value = line.partition("|")
        if got_id == job_id:
            return value.strip()
    raise AssertionError(f"squeue does not show job {job_id}: {done.stdout!r}")


def wait_done(cluster: SlurmCluster, job_id: str, timeout: float = 90) -> None:
    """Until the job is COMPLETED (cluster.wait_for_state would read a forged JobState)."""
    deadline = time.monotonic() + timeout
    while (state := trusted(cluster, job_id, "State")) != "COMPLETED":
        assert state in ("PENDING", "CONFIGURING", "RUNNING", "COMPLETING"), state
        assert time.monotonic() < deadline, state
        time.sleep(0.2)


def hold_of(cluster: SlurmCluster, job_id: str) -> str:
    comment = trusted(cluster, job_id, "admin_comment")
    assert comment.startswith("asbb:hold="), comment
    return comment.removeprefix("asbb:hold=")


def real_cost(cluster: SlurmCluster, job_id: str, *, cpus: int, gpus: int = 0) -> Decimal:
    """The local model over the run time slurmctld reports, exact to 4 places."""
    elapsed = parse_elapsed(trusted(cluster, job_id, "TimeUsed"))
    assert elapsed is not None
    assert elapsed.total_seconds() >= 2
    price = price_job(
        cluster.settings, JobShape(partition="aws", duration=elapsed, cpus=cpus, gpus=gpus)
    )
    assert price is not None
    return round_internal(price.total)


@pytest.fixture(scope="module")
def victim(slurm_cluster: SlurmCluster) -> Iterator[tuple[str, str]]:
    """Another account's pending job and its hold: (job id, hold id)."""
    slurm_cluster.add_account("victim", "100")
    with contextlib.suppress(RuntimeError):  # test_submit may have added it already
        slurm_cluster.add_slurm_accounts(["rich"], users=[ATTACKER], default=True)
    rc, job_id, err = slurm_cluster.sbatch(
        ["-p", "aws", "-A", "victim", "-t", "30", "--hold", "-o", "/dev/null", "--wrap", "true"]
    )
    assert rc == 0, err
    assert job_id is not None
    yield job_id, hold_of(slurm_cluster, job_id)
    slurm_cluster.scancel(job_id)


def untouched(cluster: SlurmCluster, hold_id: str) -> None:
    hold = cluster.ledger.get_hold(hold_id)
    assert (hold.state, hold.charged, hold.released) == ("open", 0, 0)
    assert [e.kind for e in cluster.ledger.journal(hold_id=hold_id, limit=100)] == ["hold"]
    assert cluster.ledger.get_account("victim").used_amount == 0


def forged_keys(victim_hold: str) -> str:
    return (
        f" AdminComment=asbb:hold={victim_hold} Account=victim UserId=root(0)"
        " JobState=CANCELLED TRES=cpu=0,node=0 RunTime=00:00:00"
    )


def attack_args(cluster: SlurmCluster, kind: str, victim_hold: str) -> list[str]:
    keys = forged_keys(victim_hold)
    if kind == "name":
        return ["-J", f"x{keys}"]
    if kind == "comment":
        return ["--comment", f'aws_meta:{{"actual_cost":"0.00"}}{keys}']
    folder = cluster.work / f"d{keys}"  # a working folder is any path the user can make
    folder.mkdir(exist_ok=True)
    folder.chmod(0o777)
    return ["-D", str(folder)]


@pytest.mark.parametrize("kind", ["name", "comment", "workdir"])
def test_a_forged_job_is_charged_its_real_cost_to_its_own_hold(
    slurm_cluster: SlurmCluster, victim: tuple[str, str], kind: str
):
    _, victim_hold = victim
    args = ["-p", "aws", "-A", "rich", "-t", "10", "-c", "2", "--gres=gpu:1", "-o", "/dev/null"]
    args += attack_args(slurm_cluster, kind, victim_hold)
    rc, job_id, err = slurm_cluster.sbatch([*args, "--wrap", "sleep 3"], user=ATTACKER)
    assert rc == 0, err
    assert job_id is not None
    # the attack is real: scontrol prints the forged keys beside the real ones
    shown = slurm_cluster.run(["scontrol", "show", "job", "-o", job_id]).stdout
    assert f"AdminComment=asbb:hold={victim_hold}" in shown
    own = hold_of(slurm_cluster, job_id)
    assert own != victim_hold
    wait_done(slurm_cluster, job_id)
    hold = wait_hold(slurm_cluster, own)
    assert hold.state == "posted"
    cost = real_cost(slurm_cluster, job_id, cpus=2, gpus=1)
    assert cost > 0  # not the 0.00 of the forged aws_meta, nor the forged cpu=0 / RunTime
    assert exact_charge(slurm_cluster, own) == cost
    (charge,) = charges(slurm_cluster, own)
    assert (charge.job_id, charge.job_metadata["state"]) == (job_id, "COMPLETED")
    assert charge.job_metadata["read_from"] == "squeue"
    assert "aws_meta" not in charge.job_metadata
    assert hold.account_id == slurm_cluster.ledger.get_account("rich").id
    assert hold.user_name == ATTACKER
    untouched(slurm_cluster, victim_hold)


def test_a_cost_written_into_the_comment_later_is_not_charged(
    slurm_cluster: SlurmCluster, victim: tuple[str, str]
):
    """``scontrol update Comment=`` by the job's owner, after submit: still the real cost."""
    _, victim_hold = victim
    args = ["-p", "aws", "-A", "rich", "-t", "10", "-c", "1", "--hold", "-o", "/dev/null"]
    rc, job_id, err = slurm_cluster.sbatch([*args, "--wrap", "sleep 3"], user=ATTACKER)
    assert rc == 0, err
    assert job_id is not None
    comment = f'Comment=aws_meta:{{"actual_cost":"0.00"}}{forged_keys(victim_hold)}'
    slurm_cluster.run(["scontrol", "update", f"JobId={job_id}", comment], user=ATTACKER)
    # the owner may not write AdminComment itself: only SlurmUser and root can
    refused = slurm_cluster.run(
        ["scontrol", "update", f"JobId={job_id}", f"AdminComment=asbb:hold={victim_hold}"],
        user=ATTACKER,
        check=False,
    )
    assert refused.returncode != 0
    own = hold_of(slurm_cluster, job_id)
    assert own != victim_hold
    slurm_cluster.run(["scontrol", "release", job_id], user=ATTACKER)
    wait_done(slurm_cluster, job_id)
    hold = wait_hold(slurm_cluster, own)
    assert hold.state == "posted"
    assert exact_charge(slurm_cluster, own) == real_cost(slurm_cluster, job_id, cpus=1) > 0
    untouched(slurm_cluster, victim_hold)


@pytest.fixture
def epilog_config(slurm_cluster: SlurmCluster) -> Iterator[Path]:
    original = slurm_cluster.plugin_conf.read_text()
    yield slurm_cluster.plugin_conf
    slurm_cluster.plugin_conf.write_text(original)


def test_a_forged_job_read_from_accounting_is_charged_to_its_own_hold(
    slurm_cluster: SlurmCluster, victim: tuple[str, str], epilog_config: Path
):
    """The fallback for a job the controller forgot: real sacct on the real slurmdbd. The
    epilog slurmctld runs at the job's end is kept from reading anything (both commands point
    at /bin/false), then it is run again as slurmctld runs it, with squeue still blind."""
    _, victim_hold = victim
    original = epilog_config.read_text()
    epilog_config.write_text(original + "squeue = /bin/false\nsacct = /bin/false\n")
    args = ["-p", "aws", "-A", "rich", "-t", "10", "-c", "2", "--gres=gpu:1", "-o", "/dev/null"]
    keys = forged_keys(victim_hold)
    args += ["-J", f"x{keys}", "--comment", f"y{keys}|x|y"]
    rc, job_id, err = slurm_cluster.sbatch([*args, "--wrap", "sleep 3"], user=ATTACKER)
    assert rc == 0, err
    assert job_id is not None
    own = hold_of(slurm_cluster, job_id)
    wait_done(slurm_cluster, job_id)
    deadline = time.monotonic() + 60  # accounting catches up a little after the end
    while (
        slurm_cluster.sacct(job_id, "JobIDRaw,State,AdminComment").get("AdminComment")
        != (f"asbb:hold={own}")
        or slurm_cluster.sacct(job_id, "JobIDRaw,State").get("State") != "COMPLETED"
    ):
        assert time.monotonic() < deadline, slurm_cluster.sacct(job_id)
        time.sleep(0.5)
    time.sleep(1)
    assert slurm_cluster.ledger.get_hold(own).state == "open"  # the blind epilog charged nothing
    epilog_config.write_text(original + "squeue = /bin/false\n")
    env = {  # what slurmctld gives its epilog (a bare environment) plus where slurm.conf is
        "PATH": "/usr/bin:/bin:/usr/sbin:/sbin",
        "SLURM_CONF": str(slurm_cluster.slurm_conf),
        "SLURM_JOB_ID": job_id,
        "SLURM_JOBID": job_id,
        "SLURM_JOB_ACCOUNT": "rich",
        "SLURM_JOB_PARTITION": "aws",
        "SLURM_JOB_USER": ATTACKER,
        "SLURM_JOB_NAME": f"x{keys}",
        "SLURM_SCRIPT_CONTEXT": "epilog_slurmctld",
    }
    done = subprocess.run(
        [str(EPILOG)], env=env, capture_output=True, text=True, timeout=30, cwd="/"
    )
    assert done.returncode == 0
    assert f"reconciled against {own}" in done.stderr, done.stderr
    hold = slurm_cluster.ledger.get_hold(own)
    assert hold.state == "posted"
    elapsed = slurm_cluster.sacct(job_id, "JobIDRaw,ElapsedRaw")["ElapsedRaw"]
    price = price_job(
        slurm_cluster.settings,
        JobShape(partition="aws", duration=timedelta(seconds=int(elapsed)), cpus=2, gpus=1),
    )
    assert price is not None
    assert exact_charge(slurm_cluster, own) == round_internal(price.total) > 0
    (charge,) = charges(slurm_cluster, own)
    assert charge.job_metadata["read_from"] == "sacct"
    untouched(slurm_cluster, victim_hold)
    assert os.access(EPILOG, os.X_OK)
