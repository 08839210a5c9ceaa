"""``asbb quick-check`` (the installed command) agrees with what ``sbatch`` through the plugin
is then held for, on a real Slurm with a real asbb-daemon.

Jobs are submitted with ``--hold`` (they never run) and cancelled at the end of each test.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from asbb_core.store.models import HoldState
from asbb_core.values.money import round_posting
from tests.slurm.cluster import SlurmCluster
from tests.slurm.test_submit import held, hold_of

pytestmark = [pytest.mark.slow, pytest.mark.slurm, pytest.mark.postgres]


@pytest.fixture
def cluster(slurm_cluster: SlurmCluster) -> Iterator[SlurmCluster]:
    """The session cluster; every job a test submitted is cancelled afterwards."""
    submitted: list[str] = []
    original = slurm_cluster.sbatch

    def sbatch(args: list[str], user: str | None = None) -> tuple[int, str | None, str]:
        rc, job_id, err = original(args, user=user)
        if job_id:
            submitted.append(job_id)
        return rc, job_id, err

    slurm_cluster.sbatch = sbatch  # type: ignore[method-assign]
    try:
        yield slurm_cluster
    finally:
        slurm_cluster.sbatch = original  # type: ignore[method-assign]
        slurm_cluster.scancel(*submitted)


@pytest.fixture
def quick_check(cluster: SlurmCluster, tmp_path: Path):
    """Run ``asbb quick-check ARGS --json`` as a user would: the console script, the daemon's
    address and the plugin's token in the environment, Slurm's config for sacctmgr."""
    exe = Path(sys.executable).parent / "asbb"
    empty = tmp_path / "config.toml"
    empty.write_text("", encoding="utf-8")
    env = {k: v for k, v in cluster.env.items() if not k.startswith("ASBB_")}
    env |= {"ASBB_URL": cluster.url, "ASBB_TOKEN": str(cluster.token), "ASBB_CONFIG": str(empty)}

    def run(*args: str) -> tuple[int, dict[str, Any]]:
        done = subprocess.run(
            [str(exe), "quick-check", *args, "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            cwd=cluster.work,
        )
        assert done.returncode in (0, 3), (done.returncode, done.stdout, done.stderr)
        return done.returncode, json.loads(done.stdout, parse_float=Decimal)

    return run


@pytest.mark.parametrize(
    ("sbatch_args", "check_args", "amount"),
    [
        (["-c", "2", "-t", "60"], ["-c", "2", "--time", "60m"], "1.20"),
        (
            ["-c", "1", "-t", "30", "--gres=gpu:2"],
            ["--cpus", "1", "--gpus", "2", "--time", "30m"],
            "3.90",
        ),
        (["-n", "2", "-t", "1:00:00"], ["-n", "2", "-t", "1:00:00"], "1.20"),
        (["-n", "2", "-c", "2", "-t", "30"], ["-n", "2", "-c", "2", "-t", "30m"], "1.20"),
        (
            ["-c", "2", "--mem=4G", "-t", "1-00:00:00"],
            ["--cpus", "2", "--memory", "4G", "--time", "1d"],
            "28.80",
        ),
        (
            ["-c", "1", "-t", "60", "--array=0-3"],
            ["--cpus", "1", "--time", "1h", "--array", "4"],
            "2.40",
        ),
    ],
    ids=["cpus", "gpus", "tasks", "tasks-x-cpus", "memory-day", "array"],
)
def test_quick_check_agrees_with_the_hold_sbatch_takes(
    cluster: SlurmCluster, quick_check, sbatch_args: list[str], check_args: list[str], amount: str
) -> None:
    before = cluster.holds_total()
    rc, quote = quick_check("-A", "rich", "-p", "aws", *check_args)
    assert rc == 0
    assert quote["would_accept"] is True
    assert cluster.holds_total() == before  # a quote is not a budget check: no hold

    rc, job_id, err = cluster.sbatch(held("-p", "aws", "-A", "rich", *sbatch_args))
    assert rc == 0, err
    assert job_id
    hold = cluster.ledger.get_hold(hold_of(cluster, job_id.split("_")[0]))
    assert hold.state == HoldState.OPEN
    assert Decimal(quote["hold_amount"]) == hold.amount == Decimal(amount)
    assert Decimal(quote["estimated_cost"]) == round_posting(hold.estimate)
    assert quote["partition"] == hold.partition == "aws"


def test_over_budget_refused_by_both(cluster: SlurmCluster, quick_check) -> None:
    rc, quote = quick_check("-A", "poor", "-p", "aws", "--cpus", "2", "--time", "1h")
    assert rc == 3
    assert quote["would_accept"] is False
    assert (quote["hold_amount"], quote["budget_remaining"]) == (Decimal("1.20"), Decimal("0.10"))
    rc, job_id, err = cluster.sbatch(held("-p", "aws", "-A", "poor", "-c", "2", "-t", "60"))
    assert rc != 0
    assert job_id is None
    assert quote["message"] in " ".join(err.split()), err


def test_account_from_the_users_slurm_default(cluster: SlurmCluster, quick_check) -> None:
    rc, quote = quick_check("-p", "aws", "--time", "60")  # root's default account: rich
    assert rc == 0
    assert quote["account"] == "rich"
    rc, job_id, err = cluster.sbatch(held("-p", "aws", "-t", "60"))
    assert rc == 0, err
    hold = cluster.ledger.get_hold(hold_of(cluster, str(job_id)))
    assert hold.account_id == cluster.ledger.get_account("rich").id
    assert Decimal(quote["hold_amount"]) == hold.amount == Decimal("0.60")


def test_unbudgeted_partition_needs_no_hold(cluster: SlurmCluster, quick_check) -> None:
    rc, quote = quick_check("-A", "rich", "-p", "local", "--time", "1h")
    assert rc == 0
    assert (quote["would_accept"], quote["hold_amount"]) == (True, Decimal("0.00"))
