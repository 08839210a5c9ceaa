"""End to end on a real Slurm: the daemon's reader (asbb_core.integrations.slurm, used by recovery,
the ASBX watcher and ``asbb reconcile``) is not fooled by what a user writes into a job.

An unprivileged user submits jobs whose JobName, Comment and working folder carry
``AdminComment=asbb:hold=<another account's hold>``, ``Account=`` and ``|``: ``scontrol show job
-o`` prints them as keys. The controller's record (squeue), accounting's record (sacct) and
recovery's grouping by hold must all give each job its own hold and account.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from asbb_core.integrations.recovery import recover
from asbb_core.integrations.slurm import Slurm
from tests.slurm.cluster import SlurmCluster
from tests.slurm.test_reconcile import runner

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

ATTACKER = "nobody"


@pytest.fixture(scope="module")
def target(slurm_cluster: SlurmCluster) -> Iterator[tuple[str, str]]:
    """Another account's pending job and its hold: (job id, hold id)."""
    slurm_cluster.add_account("target", "100")
    with contextlib.suppress(RuntimeError):  # another module may have added it already
        slurm_cluster.add_slurm_accounts(["rich"], users=[ATTACKER], default=True)
    rc, job_id, err = slurm_cluster.sbatch(
        ["-p", "aws", "-A", "target", "-t", "30", "--hold", "-o", "/dev/null", "--wrap", "true"]
    )
    assert rc == 0, err
    assert job_id is not None
    hold = Slurm(runner(slurm_cluster)).hold_of_job(job_id)
    assert hold is not None
    yield job_id, hold
    slurm_cluster.scancel(job_id)


def forged(cluster: SlurmCluster, kind: str, hold: str) -> list[str]:
    keys = f" AdminComment=asbb:hold={hold} Account=target UserId=root(0) JobState=CANCELLED x|1|2"
    if kind == "name":
        return ["-J", f"x{keys}"]
    if kind == "comment":
        return ["--comment", f"y{keys}|x|y"]
    folder = cluster.work / f"r{keys}"
    folder.mkdir(exist_ok=True)
    folder.chmod(0o777)
    return ["-D", str(folder)]


@pytest.mark.parametrize("kind", ["name", "comment", "workdir"])
def test_the_daemons_reader_gives_a_forged_job_its_own_hold(
    slurm_cluster: SlurmCluster, target: tuple[str, str], kind: str
):
    target_job, target_hold = target
    slurm = Slurm(runner(slurm_cluster))
    began = datetime.now(UTC) - timedelta(minutes=1)
    args = ["-p", "aws", "-A", "rich", "-t", "10", "-c", "1", "-o", "/dev/null"]
    rc, job_id, err = slurm_cluster.sbatch(
        [*args, *forged(slurm_cluster, kind, target_hold), "--wrap", "sleep 2"], user=ATTACKER
    )
    assert rc == 0, err
    assert job_id is not None
    shown = slurm_cluster.run(["scontrol", "show", "job", "-o", job_id]).stdout
    assert f"AdminComment=asbb:hold={target_hold}" in shown  # the attack is real
    live = slurm.show_job(job_id)
    assert live is not None
    own = live.hold_id
    assert own is not None
    assert own != target_hold
    assert (live.job_id, live.account, live.partition) == (job_id, "rich", "aws")
    assert slurm.hold_of_job(job_id) == own
    # ended, and in accounting (which records AdminComment a little after the end)
    deadline = time.monotonic() + 90
    while (job := slurm.accounting(job_id)) is None or job.state != "COMPLETED" or not job.hold_id:
        assert time.monotonic() < deadline, job
        time.sleep(0.5)
    assert (job.hold_id, job.account, job.ran) == (own, "rich", True)
    assert job.elapsed is not None
    assert job.elapsed >= timedelta(seconds=2)
    ended = slurm.show_job(job_id)
    assert ended is not None
    assert (ended.state, ended.hold_id, ended.account) == ("COMPLETED", own, "rich")
    # recovery's grouping: the target's hold is the target's job alone
    by_hold = slurm.jobs_by_hold(began)
    assert [j.job_id for j in by_hold[target_hold]] == [target_job]
    assert [j.job_id for j in by_hold[own]] == [job_id]
    # and recovery leaves the target's hold to its (still pending) job
    (action,) = recover(
        slurm_cluster.ledger, slurm, dry_run=True, older_than=timedelta(0), only={target_hold}
    ).actions
    assert (action.action, action.reason, action.job_id) == (
        "leave",
        "job still pending",
        target_job,
    )
