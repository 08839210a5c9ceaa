"""sbatch through the real job_submit.lua plugin against a real asbb-daemon.

Each test submits held jobs (``--hold``: they never run) and cancels them at the end.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

import pytest

from asbb_core.store.models import HoldState
from tests.slurm.cluster import SlurmCluster

pytestmark = [pytest.mark.slow, pytest.mark.slurm, pytest.mark.postgres]

HOLD = re.compile(r"^asbb:hold=(\S+)$")


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


def held(*args: str) -> list[str]:
    return ["--hold", "-o", "/dev/null", *args, "--wrap", "true"]


def hold_of(cluster: SlurmCluster, job_id: str) -> str:
    comment = cluster.scontrol_show_job(job_id).get("AdminComment", "")
    match = HOLD.match(comment.strip())
    assert match, f"AdminComment of job {job_id} is {comment!r}"
    return match.group(1)


@pytest.mark.parametrize(
    ("args", "amount", "tasks"),
    [
        # cpus x hours x rate x 1.2 (buffer)
        (["-c", "2", "-t", "60"], Decimal("1.20"), 1),
        (["-c", "1", "-t", "30", "--gres=gpu:2"], Decimal("3.90"), 1),  # (0.5 + 2 x 3) x 0.5 h
        (["-n", "2", "-t", "1:00:00"], Decimal("1.20"), 1),
        (["-c", "1"], Decimal("0.10"), 1),  # DefaultTime=10 of partition aws
        (["-c", "1", "-t", "60", "--array=0-3"], Decimal("2.40"), 4),
    ],
    ids=["cpus", "gpus", "tasks", "default-time", "array"],
)
def test_affordable_job_gets_a_hold(
    cluster: SlurmCluster, args: list[str], amount: Decimal, tasks: int
) -> None:
    rc, job_id, err = cluster.sbatch(held("-p", "aws", "-A", "rich", *args))
    assert rc == 0, err
    assert job_id
    hold = cluster.ledger.get_hold(hold_of(cluster, job_id.split("_")[0]))
    assert hold.state == HoldState.OPEN
    assert hold.amount == amount
    assert hold.partition == "aws"
    assert hold.task_count == tasks
    assert hold.user_name == "root"
    account = cluster.ledger.get_account("rich")
    assert hold.account_id == account.id


def test_over_budget_job_is_rejected_with_the_daemons_message(cluster: SlurmCluster) -> None:
    before = cluster.ledger.get_account("poor").held_amount
    rc, job_id, err = cluster.sbatch(held("-p", "aws", "-A", "poor", "-c", "2", "-t", "60"))
    assert rc != 0
    assert job_id is None
    assert "has $0.10 available" in err, err
    assert "Job rejected by asbb" in err
    assert cluster.ledger.get_account("poor").held_amount == before


def test_local_partition_makes_no_request(cluster: SlurmCluster) -> None:
    before = cluster.holds_total()
    for args in (["-p", "local"], []):  # explicit, and the default partition
        rc, job_id, err = cluster.sbatch(held("-A", "rich", "-c", "2", *args))
        assert rc == 0, err
        job = cluster.scontrol_show_job(str(job_id))
        assert job["Partition"] == "local"
        assert "asbb" not in job.get("AdminComment", "")
    assert cluster.holds_total() == before


def test_a_missing_plugin_config_is_logged(cluster: SlurmCluster) -> None:
    """Without asbb_plugin.conf no partition is budgeted: jobs pass unchecked, and
    slurmctld's log must say why on every submit."""
    aside = cluster.plugin_conf.with_suffix(".aside")
    cluster.plugin_conf.rename(aside)
    try:
        rc, job_id, err = cluster.sbatch(held("-p", "aws", "-A", "rich"))
    finally:
        aside.rename(cluster.plugin_conf)
    assert rc == 0, err
    assert "asbb" not in cluster.scontrol_show_job(str(job_id)).get("AdminComment", "")
    log = (cluster.log / "slurmctld.log").read_text(errors="replace")
    assert f"cannot read {cluster.plugin_conf} (using defaults)" in log


def test_daemon_down_fail_closed_and_fail_open(cluster: SlurmCluster) -> None:
    cluster.stop_daemon()
    try:
        rc, job_id, err = cluster.sbatch(held("-p", "aws", "-A", "rich", "-t", "10"))
        assert rc != 0
        assert job_id is None
        assert "budget service (asbb) could not check partition aws" in err, err

        rc, job_id, err = cluster.sbatch(held("-p", "aws-open", "-A", "rich", "-t", "10"))
        assert rc == 0, err
        assert cluster.scontrol_show_job(str(job_id))["AdminComment"] == "asbb:unchecked"

        # unbudgeted partitions never notice the outage
        rc, _, err = cluster.sbatch(held("-p", "local", "-A", "rich"))
        assert rc == 0, err
    finally:
        cluster.start_daemon()
    log = (cluster.log / "slurmctld.log").read_text()
    assert "accepted UNCHECKED (fail-open)" in log
    assert "rejected (fail-closed)" in log


def test_pending_job_modify_is_priced_again(cluster: SlurmCluster) -> None:
    cluster.add_account("modpoor", "0.10")
    rc, job_id, err = cluster.sbatch(held("-p", "aws", "-A", "modpoor", "-t", "10"))
    assert rc == 0, err
    first = hold_of(cluster, str(job_id))
    assert cluster.ledger.get_hold(first).amount == Decimal("0.10")

    # ten hours cannot be afforded: the update is refused and the job keeps its limit
    done = cluster.run(["scontrol", "update", f"JobId={job_id}", "TimeLimit=600"], check=False)
    assert done.returncode != 0
    # Slurm 22.05 does not pass log_user() text to scontrol update: its log has the reason
    assert "Invalid account" in done.stderr, done.stderr
    log = (cluster.log / "slurmctld.log").read_text()
    assert f"modify job {job_id} rejected account=modpoor" in log
    assert "modpoor has $0.00 available" in log
    assert cluster.scontrol_show_job(str(job_id))["TimeLimit"] == "00:10:00"

    # an affordable change on a rich account: a new hold, for the new shape
    rc, job_id, err = cluster.sbatch(held("-p", "aws", "-A", "rich", "-t", "10"))
    assert rc == 0, err
    old = hold_of(cluster, str(job_id))
    cluster.run(["scontrol", "update", f"JobId={job_id}", "TimeLimit=120"])
    job = cluster.scontrol_show_job(str(job_id))
    assert job["TimeLimit"] == "02:00:00"
    new = hold_of(cluster, str(job_id))
    assert new != old
    hold = cluster.ledger.get_hold(new)
    assert hold.amount == Decimal("1.20")  # 1 cpu x 2 h x 0.50 x 1.2
    assert hold.job_id == str(job_id)


def test_account_defaults_to_the_users_default_account(cluster: SlurmCluster) -> None:
    rc, job_id, err = cluster.sbatch(held("-p", "aws", "-t", "60"))  # root's default: rich
    assert rc == 0, err
    hold = cluster.ledger.get_hold(hold_of(cluster, str(job_id)))
    assert hold.account_id == cluster.ledger.get_account("rich").id
    assert hold.amount == Decimal("0.60")


@contextmanager
def fake_daemon(reply: bytes | None) -> Iterator[str]:
    """A TCP server that answers every request with ``reply`` (None: never answers)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    stop = threading.Event()
    held_open: list[socket.socket] = []

    def serve() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            if reply is None:
                held_open.append(conn)  # read nothing, answer nothing
                continue
            conn.settimeout(2)
            with contextlib.suppress(OSError):
                conn.recv(65536)
                conn.sendall(reply)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=5)
        for conn in held_open:
            conn.close()
        server.close()


@pytest.mark.parametrize(
    "reply",
    [
        None,
        b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\ncurl: (7) Failed to connect",
        b'HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{"available": "yes"}',
        b'HTTP/1.0 500 Internal Server Error\r\n\r\n{"error": {"message": "boom"}}',
    ],
    ids=["timeout", "garbage", "wrong-shape", "http-500"],
)
def test_unusable_reply_follows_the_fail_policy(cluster: SlurmCluster, reply: bytes | None) -> None:
    config = cluster.plugin_conf.read_text()
    with fake_daemon(reply) as url:
        cluster.plugin_conf.write_text(
            re.sub(r"(?m)^url = .*$", f"url = {url}", config).replace(
                "timeout_ms = ", "timeout_ms = 300\n# was: "
            )
        )
        try:
            began = time.monotonic()
            rc, job_id, err = cluster.sbatch(held("-p", "aws", "-A", "rich", "-t", "10"))
            assert time.monotonic() - began < 5
            assert rc != 0
            assert "could not check partition aws" in err, err
            rc, job_id, err = cluster.sbatch(held("-p", "aws-open", "-A", "rich", "-t", "10"))
            assert rc == 0, err
            assert cluster.scontrol_show_job(str(job_id))["AdminComment"] == "asbb:unchecked"
        finally:
            cluster.plugin_conf.write_text(config)


def test_account_unknown_to_asbb_is_rejected(cluster: SlurmCluster) -> None:
    cluster.add_slurm_accounts(["ghost"])  # known to Slurm, not to the ledger
    rc, job_id, err = cluster.sbatch(held("-p", "aws", "-A", "ghost", "-t", "10"))
    assert rc != 0
    assert job_id is None
    assert "Job rejected by asbb (account ghost)" in err, err


def test_other_users_job_is_held_in_their_name(cluster: SlurmCluster) -> None:
    cluster.add_slurm_accounts(["rich"], users=["nobody"], default=True)
    rc, job_id, err = cluster.sbatch(held("-p", "aws", "-t", "60"), user="nobody")
    assert rc == 0, err
    hold = cluster.ledger.get_hold(hold_of(cluster, str(job_id)))
    assert hold.user_name == "nobody"
    assert hold.account_id == cluster.ledger.get_account("rich").id
