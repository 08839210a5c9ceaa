"""End to end on a real Slurm: jobs end -> EpilogSlurmctld (plugin/epilog_reconcile.py) ->
reconcile; daemon down -> spool -> replay; orphan holds -> recovery from sacct/squeue."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator, Sequence
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from asbb_core.integrations.recovery import recover
from asbb_core.integrations.slurm import Slurm, SlurmError, parse_elapsed
from asbb_core.integrations.spool import http_sender, replay_spool
from asbb_core.ledger.pricing import JobShape, price_job
from asbb_core.values.money import round_internal
from tests.slurm.cluster import SlurmCluster

pytestmark = [pytest.mark.slurm, pytest.mark.slow]


@pytest.fixture
def spool(slurm_cluster: SlurmCluster, tmp_path: Path) -> Iterator[Path]:
    """Point the epilog's spool (a key of asbb_plugin.conf) at a fresh folder."""
    folder = tmp_path / "spool"
    original = slurm_cluster.plugin_conf.read_text()
    slurm_cluster.plugin_conf.write_text(original + f"spool_dir = {folder}\n")
    yield folder
    slurm_cluster.plugin_conf.write_text(original)


def runner(cluster: SlurmCluster):
    def run(argv: Sequence[str], timeout: float) -> str:
        done = subprocess.run(
            list(argv), env=cluster.env, capture_output=True, text=True, timeout=timeout
        )
        if done.returncode != 0:
            raise SlurmError(f"{argv[0]}: {done.stderr.strip()}")
        return done.stdout

    return run


def submit(cluster: SlurmCluster, *args: str) -> tuple[str, str]:
    """sbatch on the budgeted partition; returns (job id, hold id)."""
    rc, job_id, err = cluster.sbatch(["-p", "aws", "-A", "rich", *args])
    assert rc == 0, err
    assert job_id is not None
    comment = cluster.scontrol_show_job(job_id).get("AdminComment", "")
    assert comment.startswith("asbb:hold="), comment
    return job_id, comment.split("=", 1)[1].split()[0]


def wait_hold(cluster: SlurmCluster, hold_id: str, state: str = "posted", timeout: float = 60):
    deadline = time.monotonic() + timeout
    while True:
        hold = cluster.ledger.get_hold(hold_id)
        if hold.state == state or time.monotonic() > deadline:
            return hold
        time.sleep(0.2)


def expected_cost(cluster: SlurmCluster, job_id: str, *, cpus: int, gpus: int = 0) -> Decimal:
    """The local model over the elapsed time Slurm itself reports for the job, exact to the
    journal's 4 places (what is posted in cents depends on the account's carry)."""
    elapsed = parse_elapsed(cluster.scontrol_show_job(job_id).get("RunTime"))
    assert elapsed is not None
    job = JobShape(partition="aws", duration=elapsed, cpus=cpus, gpus=gpus)
    price = price_job(cluster.settings, job)
    assert price is not None
    return round_internal(price.total)


def charges(cluster: SlurmCluster, hold_id: str) -> list:
    return [e for e in cluster.ledger.journal(hold_id=hold_id, limit=1000) if e.kind == "charge"]


def exact_charge(cluster: SlurmCluster, hold_id: str) -> Decimal:
    """What the hold's job was charged exactly: its rows' whole cents plus the carried
    fraction (docs/ledger.md), corrections and late charges included."""
    rows = cluster.ledger.journal(hold_id=hold_id, limit=1000)
    return sum((e.used_delta + e.carry_delta for e in rows), Decimal(0))


def test_a_job_that_ran_is_charged_at_its_real_elapsed_time(slurm_cluster: SlurmCluster):
    job_id, hold_id = submit(
        slurm_cluster, "-t", "10", "-c", "2", "--gres=gpu:1", "--wrap", "sleep 4"
    )
    slurm_cluster.wait_for_state(job_id, "COMPLETED", timeout=60)
    hold = wait_hold(slurm_cluster, hold_id)
    assert hold.state == "posted"
    cost = expected_cost(slurm_cluster, job_id, cpus=2, gpus=1)
    assert exact_charge(slurm_cluster, hold_id) == cost
    assert hold.released == hold.amount - hold.charged
    (charge,) = charges(slurm_cluster, hold_id)
    assert (charge.job_id, charge.job_metadata["state"]) == (job_id, "COMPLETED")
    assert charge.job_metadata["read_from"] == "squeue"


def test_time_limit_kill_is_charged(slurm_cluster: SlurmCluster):
    job_id, hold_id = submit(slurm_cluster, "-t", "1", "--wrap", "sleep 600")
    slurm_cluster.wait_for_state(job_id, "TIMEOUT", timeout=180)
    hold = wait_hold(slurm_cluster, hold_id)
    assert hold.state == "posted"
    assert exact_charge(slurm_cluster, hold_id) == expected_cost(slurm_cluster, job_id, cpus=1)
    # killed a little past its limit, it can cost more than the buffered hold: then a linked
    # overrun row follows the charge
    rows = charges(slurm_cluster, hold_id)
    assert [c.overrun for c in rows].count(False) == 1
    assert {c.job_metadata["state"] for c in rows} == {"TIMEOUT"}


def test_an_array_of_ten_is_ten_charges_on_one_hold(slurm_cluster: SlurmCluster):
    job_id, hold_id = submit(slurm_cluster, "-t", "5", "--array=0-9", "--wrap", "sleep 1")
    hold = wait_hold(slurm_cluster, hold_id, timeout=120)
    assert (hold.state, hold.task_count, hold.tasks_posted) == ("posted", 10, 10)
    assert sorted(c.job_id for c in charges(slurm_cluster, hold_id)) == sorted(
        f"{job_id}_{i}" for i in range(10)
    )
    assert hold.remaining == 0
    assert hold.charged + hold.released == hold.amount


def test_cancelled_while_pending_is_voided_by_recovery(slurm_cluster: SlurmCluster):
    job_id, hold_id = submit(slurm_cluster, "-t", "5", "--begin=now+1hour", "--wrap", "sleep 1")
    slurm_cluster.scancel(job_id)
    slurm_cluster.wait_for_state(job_id, "CANCELLED", timeout=30)
    time.sleep(1)
    slurm = Slurm(runner(slurm_cluster))
    dry = recover(
        slurm_cluster.ledger, slurm, dry_run=True, older_than=timedelta(0), only={hold_id}
    )
    (action,) = dry.actions
    assert (action.action, action.job_id, action.done) == ("void", job_id, False)
    assert slurm_cluster.ledger.get_hold(hold_id).state == "open"
    report = recover(slurm_cluster.ledger, slurm, older_than=timedelta(0), only={hold_id})
    (action,) = report.actions
    assert (action.action, action.reason, action.done) == (
        "void",
        "job cancelled before it ran",
        True,
    )
    hold = slurm_cluster.ledger.get_hold(hold_id)
    assert (hold.state, hold.charged, hold.released) == ("voided", 0, hold.amount)


def test_a_hold_whose_job_never_existed_is_voided(slurm_cluster: SlurmCluster):
    reply = httpx.post(
        f"{slurm_cluster.url}/api/v1/budget/check",
        headers={"Authorization": f"Bearer {slurm_cluster.token}"},
        json={"account": "rich", "partition": "aws", "cpus": 1, "wall_time": "00:10:00"},
        timeout=10,
    )
    hold_id = reply.json()["transaction_id"]
    slurm = Slurm(runner(slurm_cluster))
    report = recover(slurm_cluster.ledger, slurm, older_than=timedelta(0), only={hold_id})
    (action,) = report.actions
    assert (action.action, action.done) == ("void", True)
    assert action.reason.startswith("never became a job")
    assert slurm_cluster.ledger.get_hold(hold_id).state == "voided"


def test_daemon_down_while_jobs_end_spool_then_replay_charges_each_once(
    slurm_cluster: SlurmCluster, spool: Path
):
    jobs = [submit(slurm_cluster, "-t", "5", "--wrap", "sleep 3") for _ in range(3)]
    slurm_cluster.stop_daemon()
    try:
        for job_id, _ in jobs:
            slurm_cluster.wait_for_state(job_id, "COMPLETED", timeout=60)
        deadline = time.monotonic() + 30
        while len(list(spool.glob("*.json"))) < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        slurm_cluster.start_daemon()
    files = sorted(spool.glob("*.json"))
    # named <epoch-ns>-<job>.json, so by name is by the order the jobs ended
    assert sorted(f.name.split("-", 1)[1] for f in files) == sorted(f"{j}.json" for j, _ in jobs)
    for _, hold_id in jobs:
        assert slurm_cluster.ledger.get_hold(hold_id).state == "open"
    send = http_sender(slurm_cluster.url, slurm_cluster.token)
    report = replay_spool(spool, send)
    assert (len(report.delivered), report.rejected, report.remaining) == (3, [], 0)
    for job_id, hold_id in jobs:
        hold = slurm_cluster.ledger.get_hold(hold_id)
        assert hold.state == "posted"
        assert exact_charge(slurm_cluster, hold_id) == expected_cost(slurm_cluster, job_id, cpus=1)
        assert len(charges(slurm_cluster, hold_id)) == 1
    assert replay_spool(spool, send).delivered == []
    # recovery afterwards finds them all resolved
    slurm = Slurm(runner(slurm_cluster))
    only = {hold_id for _, hold_id in jobs}
    assert recover(slurm_cluster.ledger, slurm, older_than=timedelta(0), only=only).actions == []


def test_a_job_accepted_fail_open_is_still_charged_at_its_end(slurm_cluster: SlurmCluster):
    """The daemon was down at submit: the fail-open partition accepted the job unchecked, with
    no hold. The daemon is back by the time it ends, and the epilog charges it by account."""
    before = slurm_cluster.ledger.get_account("rich").used_amount
    slurm_cluster.stop_daemon()
    try:
        job = ["-p", "aws-open", "-A", "rich", "-t", "10", "-c", "2", "--gres=gpu:2"]
        rc, job_id, err = slurm_cluster.sbatch([*job, "--hold", "--wrap", "sleep 8"])
        assert rc == 0, err
        assert job_id is not None
        assert slurm_cluster.scontrol_show_job(job_id)["AdminComment"] == "asbb:unchecked"
    finally:
        slurm_cluster.start_daemon()
    slurm_cluster.run(["scontrol", "release", job_id])
    slurm_cluster.wait_for_state(job_id, "COMPLETED", timeout=60)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = [
            e
            for e in slurm_cluster.ledger.journal(account="rich", limit=50)
            if e.kind == "charge" and e.job_id == job_id
        ]
        if found:
            break
        time.sleep(0.2)
    (charge,) = found
    elapsed = parse_elapsed(slurm_cluster.scontrol_show_job(job_id).get("RunTime"))
    assert elapsed is not None
    price = price_job(
        slurm_cluster.settings,
        JobShape(partition="aws-open", duration=elapsed, cpus=2, gpus=2),
    )
    assert price is not None
    assert (charge.hold_id, charge.overrun, charge.partition) == (None, True, "aws-open")
    # (2 x 0.50 + 2 x 3.00) x ~8 s, exact; in cents with the account's carry
    assert charge.amount + charge.carry_delta == round_internal(price.total) > 0
    assert slurm_cluster.ledger.get_account("rich").used_amount == before + charge.amount
