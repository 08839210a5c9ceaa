"""The reconcile spool: replayed in order, each request charged exactly once, bad files aside."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from asbb_core.integrations.spool import (
    Delivery,
    Sent,
    SpoolReplayer,
    http_sender,
    ledger_sender,
    replay_spool,
)
from asbb_core.ledger.verify import verify_ledger
from asbb_tui.cli import app


@pytest.fixture
def account(ledger, ctx):
    ledger.create_account("ml-proj", ctx=ctx, limit="1000")
    yield "ml-proj"
    report = verify_ledger(ledger.db)
    assert report.ok, [str(p) for p in report.problems]


def new_hold(ledger, ctx, *, tasks: int = 1, cpus: int = 16) -> str:
    # 16 CPUs x $0.05 x 2 h = $1.60 per task, held x 1.2
    return ledger.create_hold(
        "ml-proj",
        Decimal("1.60") * tasks * cpus / 16,
        ctx=ctx,
        partition="aws-cpu",
        task_count=tasks,
        metadata={"request": {"nodes": 1, "cpus": cpus, "gpus": 0, "memory_mb": "0"}},
    ).hold_id


def spool_request(folder: Path, job_id: str, hold_id: str, stamp: int, **fields) -> Path:
    """As plugin/epilog_reconcile.py writes them."""
    folder.mkdir(exist_ok=True)
    body = {"job_id": job_id, "transaction_id": hold_id, "state": "COMPLETED", **fields}
    path = folder / f"{stamp}-{job_id}.json"
    path.write_text(json.dumps(body, indent=1) + "\n")
    return path


def test_replay_charges_each_request_once_in_file_order(tmp_path, ledger, ctx, account):
    spool = tmp_path / "spool"
    holds = [new_hold(ledger, ctx) for _ in range(3)]
    base = time.time_ns()
    # written out of order on purpose: replay goes by name (= by the time the job ended)
    for i in (2, 0, 1):
        spool_request(spool, str(100 + i), holds[i], base + i, elapsed_seconds=3600)
    seen: list[str] = []
    send = ledger_sender(ledger)

    def recording(body):
        seen.append(body["job_id"])
        return send(body)

    report = replay_spool(spool, recording)
    assert seen == ["100", "101", "102"]
    assert (len(report.delivered), report.rejected, report.remaining) == (3, [], 0)
    assert list(spool.glob("*.json")) == []
    for hold_id in holds:
        h = ledger.get_hold(hold_id)
        # 16 CPUs x $0.05 x 1 h
        assert (h.state, h.charged) == ("posted", Decimal("0.80"))
    assert ledger.get_account("ml-proj").used_amount == Decimal("2.40")
    # a second replay finds nothing to do
    again = replay_spool(spool, recording)
    assert (again.delivered, again.rejected, again.remaining) == ([], [], 0)
    assert seen == ["100", "101", "102"]


def test_a_request_replayed_twice_charges_once(tmp_path, ledger, ctx, account):
    """A crash between 'sent' and 'file removed' sends it again: nothing more is charged."""
    spool = tmp_path / "spool"
    hold_id = new_hold(ledger, ctx)
    path = spool_request(spool, "7", hold_id, 1, actual_cost="1.25")
    copy = path.read_text()
    assert replay_spool(spool, ledger_sender(ledger)).delivered == [path.name]
    path.write_text(copy)  # as if the removal had been lost
    report = replay_spool(spool, ledger_sender(ledger))
    assert report.delivered == [path.name]
    assert ledger.get_account("ml-proj").used_amount == Decimal("1.25")


def test_malformed_files_are_moved_aside_with_their_reason(tmp_path, ledger, ctx, account):
    spool = tmp_path / "spool"
    spool.mkdir()
    hold_id = new_hold(ledger, ctx)
    broken = spool / "1-broken.json"
    broken.write_text('{"job_id": "1", "transaction_')
    # Stopping short, it waits for its writer (spool_incomplete_wait_seconds); long left, it
    # is truncated.
    then = time.time() - 3600
    os.utime(broken, (then, then))
    (spool / "2-list.json").write_text("[1, 2]")
    (spool / "3-nohold.json").write_text('{"job_id": "3"}')
    (spool / "4-binary.json").write_bytes(b"\xff\xfe\x00")
    spool_request(spool, "5", hold_id, 5, elapsed_seconds=1800)
    spool_request(spool, "6", "hnosuchhold", 6, elapsed_seconds=60)
    spool_request(spool, "7", hold_id, 7)  # no cost and no elapsed time
    (spool / "notes.txt").write_text("not a request: left alone")
    report = replay_spool(spool, ledger_sender(ledger))
    assert report.delivered == ["5-5.json"]
    reasons = dict(report.rejected)
    assert set(reasons) == {
        "1-broken.json",
        "2-list.json",
        "3-nohold.json",
        "4-binary.json",
        "6-6.json",
        "7-7.json",
    }
    assert reasons["1-broken.json"].startswith("malformed: not JSON")
    assert reasons["2-list.json"] == "malformed: not a JSON object"
    assert "transaction_id" in reasons["3-nohold.json"]
    assert reasons["4-binary.json"] == "malformed: not UTF-8 text"
    assert reasons["6-6.json"].startswith("not_found: hold 'hnosuchhold' does not exist")
    assert "actual_cost" in reasons["7-7.json"]
    rejected = spool / "rejected"
    for name, reason in reasons.items():
        assert (rejected / name).exists()
        assert (rejected / f"{name}.reason").read_text().strip() == reason
    assert sorted(p.name for p in spool.iterdir() if p.is_file()) == [
        ".replay.lock",
        "notes.txt",
    ]
    assert ledger.get_hold(hold_id).charged == Decimal("0.40")


def test_replay_stops_at_the_first_connection_failure_and_keeps_the_rest(tmp_path):
    spool = tmp_path / "spool"
    for i in range(4):
        spool_request(spool, str(i), "hx", i, actual_cost="1")
    calls: list[str] = []

    def flaky(body):
        calls.append(body["job_id"])
        if body["job_id"] == "2":
            return Sent(Delivery.RETRY, "connection refused")
        return Sent(Delivery.DELIVERED)

    report = replay_spool(spool, flaky)
    assert calls == ["0", "1", "2"]
    assert (report.delivered, report.remaining, report.stopped) == (
        ["0-0.json", "1-1.json"],
        2,
        "connection refused",
    )
    assert sorted(p.name for p in spool.glob("*.json")) == ["2-2.json", "3-3.json"]


def test_a_sender_that_raises_loses_nothing(tmp_path):
    spool = tmp_path / "spool"
    spool_request(spool, "1", "hx", 1, actual_cost="1")

    def broken(body):
        raise RuntimeError("bug")

    report = replay_spool(spool, broken)
    assert (report.remaining, report.stopped) == (1, "RuntimeError: bug")
    assert len(list(spool.glob("*.json"))) == 1


def test_only_one_replay_at_a_time(tmp_path):
    spool = tmp_path / "spool"
    spool_request(spool, "1", "hx", 1, actual_cost="1")
    entered, release = threading.Event(), threading.Event()

    def slow(body):
        entered.set()
        release.wait(10)
        return Sent(Delivery.DELIVERED)

    first: list = []
    worker = threading.Thread(target=lambda: first.append(replay_spool(spool, slow)))
    worker.start()
    assert entered.wait(10)
    second = replay_spool(spool, slow)
    release.set()
    worker.join(10)
    assert second.stopped == "another replay of this spool is running"
    assert first[0].delivered == ["1-1.json"]


def test_replay_over_http_to_the_live_daemon(tmp_path, live_daemon, ledger, ctx, account):
    spool = tmp_path / "spool"
    holds = [new_hold(ledger, ctx) for _ in range(2)]
    spool_request(spool, "11", holds[0], 1, elapsed_seconds=3600, cpus=16)
    spool_request(spool, "12", holds[1], 2, actual_cost="0.50")
    spool_request(spool, "13", "hmissing", 3, actual_cost="0.50")
    spool_request(spool, "14", holds[1], 4, actual_cost="0.50", final=True)
    send = http_sender(live_daemon.url, live_daemon.tokens["plugin"])
    report = replay_spool(spool, send)
    assert report.delivered == ["1-11.json", "2-12.json", "4-14.json"]
    ((name, reason),) = report.rejected
    assert name == "3-13.json"
    assert reason.startswith("HTTP 404")
    assert ledger.get_hold(holds[0]).charged == Decimal("0.80")
    # job 14 naming the already-posted single-job hold of job 12: answered, not charged again
    assert ledger.get_hold(holds[1]).charged == Decimal("0.50")
    # and the same files again: replays, nothing charged twice
    spool_request(spool, "12", holds[1], 5, actual_cost="0.50")
    assert replay_spool(spool, send).delivered == ["5-12.json"]
    assert ledger.get_account("ml-proj").used_amount == Decimal("1.30")


def test_daemon_down_keeps_everything_for_later(tmp_path, ledger, ctx, account):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    spool = tmp_path / "spool"
    spool_request(spool, "1", new_hold(ledger, ctx), 1, actual_cost="1")
    report = replay_spool(spool, http_sender(f"http://127.0.0.1:{port}", "t", timeout=1))
    assert report.remaining == 1
    assert "ConnectError" in (report.stopped or "")


def test_the_replayer_thread_drains_the_spool(tmp_path, ledger, ctx, account):
    spool = tmp_path / "spool"
    hold_id = new_hold(ledger, ctx)
    replayer = SpoolReplayer(spool, ledger_sender(ledger), interval=0.05)
    replayer.start()
    try:
        spool_request(spool, "1", hold_id, 1, actual_cost="0.70")
        deadline = time.monotonic() + 10
        while list(spool.glob("*.json")) and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        replayer.stop()
    assert list(spool.glob("*.json")) == []
    assert ledger.get_hold(hold_id).charged == Decimal("0.70")


def test_cli_reconcile_one_job_and_replay(tmp_path, migrated_url, ledger, ctx, account):
    runner = CliRunner()
    hold_id = new_hold(ledger, ctx)
    args = ["--database", migrated_url, "reconcile", "42", "--hold", hold_id]
    done = runner.invoke(app, [*args, "--actual-cost", "1.10", "--json"])
    assert done.exit_code == 0, done.output
    body = json.loads(done.stdout)
    assert Decimal(str(body["charged"])) == Decimal("1.10")
    assert (body["state"], body["replayed"]) == ("posted", False)
    again = runner.invoke(app, [*args, "--actual-cost", "1.10"])
    assert again.exit_code == 0
    assert "already reconciled" in again.stdout
    # The real bill, later: the charge is corrected to it, once.
    billed = runner.invoke(app, [*args, "--actual-cost", "1.50"])
    assert billed.exit_code == 0, billed.output
    assert "charge corrected to 1.50: charged 0.40 more" in " ".join(billed.stdout.split())
    # a correction is a new entry: the posted hold stays as it was resolved
    assert ledger.get_hold(hold_id).charged == Decimal("1.10")
    assert ledger.get_account(account).used_amount == Decimal("1.50")
    bad = runner.invoke(app, ["--database", migrated_url, "reconcile"])
    assert bad.exit_code == 1
    assert bad.output.strip() == "error: give JOB_ID (or --replay)"
    # Without --hold, the hold is looked up in Slurm's record of the job: none for this one.
    unknown = runner.invoke(
        app, ["--database", migrated_url, "reconcile", "987654321", "--actual-cost", "1"]
    )
    assert unknown.exit_code == 1
    assert "job 987654321: no asbb hold found" in unknown.output

    spool = tmp_path / "spool"
    for i in range(3):  # (the CLI's own settings have no partition rates: costs are given)
        spool_request(spool, str(50 + i), new_hold(ledger, ctx), i, actual_cost="0.80")
    spool_request(spool, "60", "hmissing", 9, elapsed_seconds=60)
    done = runner.invoke(
        app, ["--database", migrated_url, "reconcile", "--replay", "--spool", str(spool)]
    )
    assert done.exit_code == 0, done.output
    assert "3 delivered, 1 rejected" in done.output
    assert ledger.get_account("ml-proj").used_amount == Decimal("1.50") + 3 * Decimal("0.80")
    empty = runner.invoke(
        app, ["--database", migrated_url, "reconcile", "--replay", "--spool", str(spool), "--json"]
    )
    assert json.loads(empty.stdout)["delivered"] == []
    missing = runner.invoke(
        app, ["--database", migrated_url, "reconcile", "--replay", "--spool", str(tmp_path / "x")]
    )
    assert missing.exit_code == 1
    assert missing.output.startswith("error: spool folder")


def test_a_job_accepted_unchecked_is_replayed_by_its_account(tmp_path, ledger, ctx, account):
    """Fail-open jobs have no hold, and their reconciles are the ones most often spooled
    (the daemon was down): the account in the request says whom to charge."""
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / "1-9.json").write_text(
        json.dumps({"job_id": "9", "account": "ml-proj", "actual_cost": "2.25"})
    )
    report = replay_spool(spool, ledger_sender(ledger))
    assert (report.delivered, report.rejected) == (["1-9.json"], [])
    assert ledger.get_account("ml-proj").used_amount == Decimal("2.25")


def test_an_unreadable_file_waits_instead_of_being_rejected(
    tmp_path, ledger, ctx, account, monkeypatch
):
    """A read error (permissions, I/O) is not the request's fault: it waits for a later round,
    and the requests behind it are delivered meanwhile (one file never stops the others)."""
    spool = tmp_path / "spool"
    spool.mkdir()
    path = spool_request(spool, "5", new_hold(ledger, ctx), 5, elapsed_seconds=60)
    behind = spool_request(spool, "6", new_hold(ledger, ctx), 6, actual_cost="0.30")
    opening = os.open

    def denied(file, *args, **kwargs):  # root reads whatever the mode says: refuse by hand
        if Path(file) == path:
            raise PermissionError(13, "Permission denied", str(file))
        return opening(file, *args, **kwargs)

    monkeypatch.setattr(os, "open", denied)
    report = replay_spool(spool, ledger_sender(ledger))
    assert (report.delivered, report.rejected, report.remaining) == ([behind.name], [], 1)
    assert report.stopped is not None
    # The reason names the file, whose it is, its mode and what to change.
    assert report.stopped.startswith(f"cannot read {path.name}: {path} cannot be read by uid ")
    assert "owned by uid 0 (root)" in report.stopped
    assert "mode 0644 (rw-r--r--)" in report.stopped
    assert "make it readable by that user" in report.stopped
    monkeypatch.setattr(os, "open", opening)
    assert replay_spool(spool, ledger_sender(ledger)).delivered == [path.name]
