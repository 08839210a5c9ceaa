"""End to end on a real Slurm: aws-slurm-burst's cost exports reach the right hold.

The daemon watches ``asbx_dir``; it finds a job's hold from the ledger or, for a job not
reconciled yet, from the ``asbb:hold=...`` slurmctld keeps in the job's AdminComment. Whichever
of the export and the epilog comes first, the job ends up charged its real AWS cost, once.
"""

from __future__ import annotations

import json
import os
import time
from decimal import Decimal

import pytest

from tests.slurm.cluster import SlurmCluster
from tests.slurm.test_reconcile import charges, exact_charge, submit, wait_hold

pytestmark = [pytest.mark.slurm, pytest.mark.slow]


def export(cluster: SlurmCluster, job_id: str, cost: str) -> None:
    """Write the export as aws-slurm-burst does (atomically, then old enough to be read)."""
    path = cluster.asbx_dir / f"job-{job_id}-asbb-reconciliation.json"
    tmp = path.with_name(f".{path.name}.tmp")
    body = {"job_id": job_id, "account": "rich", "partition": "aws", "actual_cost": cost}
    tmp.write_text(json.dumps({**body, "instance_types": ["c5.large"], "success": True}))
    then = time.time() - 5
    os.utime(tmp, (then, then))
    tmp.rename(path)


def processed(cluster: SlurmCluster, job_id: str, timeout: float = 60) -> None:
    name = f"job-{job_id}-asbb-reconciliation.json"
    deadline = time.monotonic() + timeout
    while not (cluster.asbx_dir / "processed" / name).exists():
        rejected = cluster.asbx_dir / "rejected" / f"{name}.reason"
        assert not rejected.exists(), rejected.read_text()
        assert time.monotonic() < deadline, f"{name} not ingested: {cluster.tail('asbb-daemon')}"
        time.sleep(0.2)


def test_an_export_after_the_epilog_corrects_its_charge(slurm_cluster: SlurmCluster):
    job_id, hold_id = submit(slurm_cluster, "-t", "10", "-c", "1", "--wrap", "sleep 2")
    slurm_cluster.wait_for_state(job_id, "COMPLETED", timeout=60)
    local = wait_hold(slurm_cluster, hold_id).charged  # the epilog's local-model price
    export(slurm_cluster, job_id, "0.4321")
    processed(slurm_cluster, job_id)
    hold = slurm_cluster.ledger.get_hold(hold_id)
    assert hold.charged == local  # resolved is final: the export's bill is a correction
    assert exact_charge(slurm_cluster, hold_id) == Decimal("0.4321")
    assert [c.job_id for c in charges(slurm_cluster, hold_id)][-1] == job_id


def test_an_export_before_the_epilog_is_linked_through_slurm_and_stands(
    slurm_cluster: SlurmCluster,
):
    job_id, hold_id = submit(slurm_cluster, "-t", "10", "-c", "1", "--wrap", "sleep 8")
    slurm_cluster.wait_for_state(job_id, "RUNNING", timeout=60)
    assert slurm_cluster.ledger.get_hold(hold_id).job_id is None  # only Slurm links them
    export(slurm_cluster, job_id, "1.25")
    processed(slurm_cluster, job_id)
    assert slurm_cluster.ledger.get_hold(hold_id).state == "posted"
    slurm_cluster.wait_for_state(job_id, "COMPLETED", timeout=60)
    time.sleep(2)  # the epilog's reconcile, at the local model's price, arrives after it
    hold = slurm_cluster.ledger.get_hold(hold_id)
    assert hold.state == "posted"
    rows = charges(slurm_cluster, hold_id)  # what the hold covered, and the overrun above it
    assert {str(c.source) for c in rows} == {"asbx"}
    assert exact_charge(slurm_cluster, hold_id) == Decimal("1.25")
