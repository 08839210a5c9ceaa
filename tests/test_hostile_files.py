"""Files in the ASBX export folder and the reconcile spool are hostile input (issue 16).

Real files in tmp folders: a 100,000-level nested file, links to outside files, a stranger's
file, a FIFO, a writer pausing mid-file, a file over the size cap, content that must not be
stored whole. Each bad file goes to ``rejected/`` with its reason and the others go on.
"""

from __future__ import annotations

import json
import os
import pwd
import time
from decimal import Decimal
from pathlib import Path

import pytest
from sqlmodel import select

from asbb_core.integrations.cost_reports import (
    KEPT_CHARS,
    KEPT_FIELDS,
    AsbxWatcher,
    CostReports,
    ingest_folder,
    report_files,
)
from asbb_core.integrations.files import (
    FileLimits,
    NotReadyError,
    check_depth,
    read_json,
)
from asbb_core.integrations.spool import ledger_sender, replay_spool
from asbb_core.ledger.verify import verify_ledger
from asbb_core.store.models import CostReport
from asbb_core.values.errors import ValidationError

DEEP = "[" * 100_000 + "]" * 100_000
MIB = 1 << 20
STRANGER = 4242  # a uid with no business writing these folders


# ---------------------------------------------------------------- helpers


def export_name(job: str) -> str:
    return f"job-{job}-asbb-reconciliation.json"


def age(path: Path, seconds: float) -> Path:
    then = time.time() - seconds
    os.utime(path, (then, then), follow_symlinks=False)
    return path


def write(path: Path, text: str | bytes, *, old: float = 60) -> Path:
    """A file as a writer leaves it, ``old`` seconds ago (past every settle time)."""
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return age(path, old)


def report_body(job: str, cost: str, **more: object) -> dict:
    return {"job_id": job, "account": "alpha", "actual_cost": cost, "success": True, **more}


def rchar() -> int:
    """Bytes this process has read with read(2) so far (files and sockets alike)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


def sparse(path: Path, size: int) -> Path:
    path.parent.mkdir(exist_ok=True)
    with open(path, "wb") as fh:
        fh.truncate(size)
    return age(path, 60)


def stored(ledger) -> list[CostReport]:
    return list(ledger.db.read(lambda s: s.exec(select(CostReport)).all()))


@pytest.fixture
def alpha(ledger, ctx):
    ledger.create_account("alpha", ctx=ctx, limit="100")
    yield ledger
    report = verify_ledger(ledger.db)
    assert report.ok, [str(p) for p in report.problems]


def hold_for(ledger, ctx, job: str | None = None, estimate: str = "10") -> str:
    """A budget check's hold (buffer 1.2: 10 -> 12.00 held)."""
    return ledger.create_hold("alpha", estimate, ctx=ctx, partition="aws-cpu", job_id=job).hold_id


def used(ledger) -> Decimal:
    return ledger.get_account("alpha").used_amount


def rows(ledger) -> int:
    return len(ledger.journal(limit=10_000))


# ---------------------------------------------------------------- the reader


def test_depth_is_counted_before_parsing_and_strings_do_not_count():
    with pytest.raises(ValidationError) as caught:
        check_depth(DEEP)
    assert "nested 100000 levels deep" in caught.value.message
    check_depth("[" * 64 + "]" * 64)
    # Brackets inside strings, escaped quotes included, are text, not nesting.
    check_depth(json.dumps({"a": "[" * 1000, "b": '\\"' + "{" * 1000}))
    with pytest.raises(ValidationError):
        check_depth('{"a": "\\"[[", "b": ' + "[" * 65)
    # A string never closed: what follows is inside it.
    check_depth('{"a": "' + "[" * 1000)


def test_a_deep_file_is_refused_without_recursion(tmp_path):
    path = write(tmp_path / "deep.json", DEEP)
    with pytest.raises(ValidationError) as caught:
        read_json(path, FileLimits())
    assert caught.value.message.startswith(
        "nested 100000 levels deep (objects and lists inside each other); at most 64"
    )


def test_links_fifos_and_strangers_files_are_refused_unread(tmp_path):
    outside = write(tmp_path / "outside.json", '{"secret": 1}')
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "link.json").symlink_to(outside)
    os.link(outside, folder / "hard.json")
    os.mkfifo(folder / "pipe.json")  # would block a plain open() forever
    theirs = write(folder / "theirs.json", "{}")
    os.chown(theirs, STRANGER, STRANGER)
    limits = FileLimits()
    reasons = {}
    for name in ("link.json", "hard.json", "pipe.json", "theirs.json"):
        with pytest.raises(ValidationError) as caught:
            read_json(folder / name, limits)
        reasons[name] = caught.value.message
    assert reasons["link.json"].startswith(f"a symbolic link (to {outside})")
    assert reasons["hard.json"].startswith("has 2 hard links")
    assert reasons["pipe.json"] == "a FIFO, not a regular file: not read"
    assert reasons["theirs.json"].startswith(f"owned by uid {STRANGER}: only root")


def test_a_user_of_the_folders_group_may_write_when_the_folder_lets_them(tmp_path):
    """deploy/systemd/asbb.tmpfiles.conf: asbb:asbb 2770, SlurmUser in group asbb writes."""
    try:
        member = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user 'nobody' here")
    folder = tmp_path / "spool"
    folder.mkdir()
    os.chown(folder, 0, member.pw_gid)
    path = write(folder / "1-1.json", '{"job_id": "1"}')
    os.chown(path, member.pw_uid, member.pw_gid)
    folder.chmod(0o2770)
    assert read_json(path, FileLimits()) == {"job_id": "1"}
    folder.chmod(0o2750)  # the group may not write here: its files are strangers' files
    with pytest.raises(ValidationError) as caught:
        read_json(path, FileLimits())
    assert f"owned by uid {member.pw_uid} (nobody)" in caught.value.message


def test_a_file_over_the_cap_is_refused_from_its_size(tmp_path):
    path = sparse(tmp_path / "big.json", 100 * MIB)
    before = rchar()
    with pytest.raises(ValidationError) as caught:
        read_json(path, FileLimits(max_bytes=MIB, setting="asbx.max_file_bytes"))
    assert rchar() - before < MIB  # not read, let alone whole
    assert caught.value.message == (
        f"too large: {100 * MIB} bytes; at most {MIB} are read (asbx.max_file_bytes)"
    )


def test_a_file_still_being_written_is_not_ready_and_truncated_only_when_left(tmp_path):
    limits = FileLimits(settle_seconds=2, incomplete_wait_seconds=600)
    fresh = write(tmp_path / "fresh.json", '{"job_id": "1"}', old=0)
    with pytest.raises(NotReadyError) as waiting:
        read_json(fresh, limits)
    assert "read once it has been still for 2s" in waiting.value.reason
    halves = ('{"job_id": "1", "actual_co', '{"job_id": "1", "actual_cost": 1.', "", "{", "[1, tr")
    for half in halves:
        path = write(tmp_path / "half.json", half, old=30)
        with pytest.raises(NotReadyError) as waiting:
            read_json(path, limits)
        assert "waiting for the writer" in waiting.value.reason
        age(path, 601)
        with pytest.raises(ValidationError) as caught:
            read_json(path, limits)
        assert caught.value.message.startswith("not JSON: truncated")
    # Wrong midway is wrong at once, however young; a huge integer is refused, not raised.
    for bad in ("{not json", "{oops", "[1, trux", '{"a": 1}}', '{"a": ' + "9" * 5000 + "}"):
        path = write(tmp_path / "bad.json", bad, old=30)
        with pytest.raises(ValidationError) as caught:
            read_json(path, limits)
        assert caught.value.message.startswith("not JSON:")
    cut = write(tmp_path / "cut.json", '{"who": "Zoë"}'.encode()[:-3], old=30)  # mid-character
    with pytest.raises(NotReadyError):
        read_json(cut, limits)


# ---------------------------------------------------------------- the ASBX folder


def test_a_deep_export_is_rejected_and_the_valid_ones_are_charged_in_the_same_round(
    alpha, ctx, tmp_path
):
    ledger = alpha
    folder = tmp_path / "asbx"
    # The poison file is the oldest: it is met first, as it stopped every round on main.
    write(folder / export_name("700"), DEEP, old=120)
    for job, cost in (("701", "4.50"), ("702", "3.25")):
        hold_for(ledger, ctx, job)
        write(folder / export_name(job), json.dumps(report_body(job, cost)))
    result = ingest_folder(folder, CostReports(ledger))
    assert sorted(result.applied) == [
        (export_name("701"), "reconciled"),
        (export_name("702"), "reconciled"),
    ]
    ((name, reason),) = result.rejected
    assert name == export_name("700")
    assert reason.startswith("validation_error: nested 100000 levels deep")
    assert (folder / "rejected" / name).read_text() == DEEP
    assert (folder / "rejected" / f"{name}.reason").read_text().strip() == reason
    assert used(ledger) == Decimal("7.75")
    (row,) = [r for r in stored(ledger) if r.outcome == "rejected"]
    assert (row.job_id, row.file_name, row.record) == ("700", name, {})


def test_a_link_to_an_outside_export_is_not_applied_nor_stored(alpha, ctx, tmp_path):
    ledger = alpha
    hold = hold_for(ledger, ctx, "710")
    marker = "read-through-a-link"
    outside = write(tmp_path / "elsewhere" / "forged.json", "")
    outside.write_text(json.dumps(report_body("710", "0.01", reason=marker)))
    folder = tmp_path / "asbx"
    folder.mkdir()
    link = folder / export_name("710")
    link.symlink_to(outside)
    age(link, 60)
    before = rows(ledger)
    assert report_files(folder) == []  # not counted as an export waiting
    result = ingest_folder(folder, CostReports(ledger))
    assert result.applied == []
    ((name, reason),) = result.rejected
    assert reason.startswith(f"validation_error: a symbolic link (to {outside})")
    assert ledger.get_hold(hold).state == "open"
    assert rows(ledger) == before
    moved = folder / "rejected" / name
    assert moved.is_symlink()  # the link itself moved, its target untouched
    assert outside.read_text().count(marker) == 1
    assert all(
        marker not in json.dumps(r.record) and r.outcome == "rejected" for r in stored(ledger)
    )
    # The same goes for a hard link and a stranger's file.
    os.link(outside, folder / export_name("711"))
    theirs = write(folder / export_name("712"), json.dumps(report_body("712", "1")))
    os.chown(theirs, STRANGER, STRANGER)
    again = ingest_folder(folder, CostReports(ledger))
    reasons = dict(again.rejected)
    assert "hard links" in reasons[export_name("711")]
    assert f"owned by uid {STRANGER}" in reasons[export_name("712")]
    assert ledger.get_hold(hold).state == "open"
    assert all(marker not in json.dumps(r.record) for r in stored(ledger))


def test_an_export_written_in_two_halves_with_a_pause_is_charged_once_when_complete(
    alpha, ctx, tmp_path
):
    """The writer stops for 9 s mid-file (longer than a settle time and a watcher round)."""
    ledger = alpha
    hold = hold_for(ledger, ctx, "720")
    text = json.dumps(report_body("720", "6.40", instance_types=["c5.xlarge"]))
    path = write(tmp_path / "asbx" / export_name("720"), text[:40], old=9)
    reports = CostReports(ledger)
    paused = ingest_folder(tmp_path / "asbx", reports)
    assert (paused.applied, paused.rejected) == ([], [])
    assert paused.waiting == [(path.name, paused.waiting[0][1])]
    assert "stops short" in paused.waiting[0][1]
    with open(path, "a") as fh:  # the second half, just now
        fh.write(text[40:])
    settling = ingest_folder(tmp_path / "asbx", reports)
    assert (settling.applied, settling.rejected, len(settling.waiting)) == ([], [], 1)
    assert "read once it has been still for 2s" in settling.waiting[0][1]
    age(path, 3)
    done = ingest_folder(tmp_path / "asbx", reports)
    assert (done.applied, done.rejected) == ([(path.name, "reconciled")], [])
    assert ingest_folder(tmp_path / "asbx", reports).applied == []
    assert (ledger.get_hold(hold).state, used(ledger)) == ("posted", Decimal("6.40"))
    assert not (tmp_path / "asbx" / "rejected").exists()


def test_the_watcher_waits_for_a_writer_that_pauses_for_many_rounds(alpha, ctx, tmp_path):
    ledger = alpha
    hold = hold_for(ledger, ctx, "730")
    folder = tmp_path / "asbx"
    folder.mkdir()
    seen: list[str] = []
    watcher = AsbxWatcher(
        folder,
        CostReports(ledger),
        interval=0.05,
        link_wait=3600,
        on_item=lambda name, outcome: seen.append(outcome),
        limits=FileLimits(settle_seconds=0.2, incomplete_wait_seconds=600),
    )
    text = json.dumps(report_body("730", "2.10"))
    path = folder / export_name("730")
    watcher.start()
    try:
        with open(path, "w") as fh:
            fh.write(text[:30])
            fh.flush()
            time.sleep(1.0)  # 20 watcher rounds, 5 settle times
            fh.write(text[30:])
        deadline = time.monotonic() + 10
        while not (folder / "processed" / path.name).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)  # a few more rounds: nothing more happens
    finally:
        watcher.stop()
    assert seen == ["reconciled"]
    assert not (folder / "rejected").exists()
    assert (ledger.get_hold(hold).charged, used(ledger)) == (Decimal("2.10"), Decimal("2.10"))


def test_an_export_over_the_cap_is_rejected_without_being_read(alpha, ctx, tmp_path):
    ledger = alpha
    hold_for(ledger, ctx, "740")
    folder = tmp_path / "asbx"
    big = sparse(folder / export_name("740"), 100 * MIB)
    write(folder / export_name("741"), json.dumps(report_body("741", "1.00")))
    before = rchar()
    result = ingest_folder(folder, CostReports(ledger))
    assert rchar() - before < MIB
    assert dict(result.rejected) == {
        big.name: f"validation_error: too large: {100 * MIB} bytes; at most {MIB} are read "
        "(asbx.max_file_bytes)"
    }
    assert result.waiting == [(export_name("741"), result.waiting[0][1])]  # no hold yet: waits
    (row,) = stored(ledger)
    assert row.record == {}


def test_what_is_stored_of_a_report_is_bounded(alpha, ctx, tmp_path):
    ledger = alpha
    folder = tmp_path / "asbx"
    padding = "x" * (900 * 1024)  # under the 1 MiB cap: parsed, but never stored whole
    hold_for(ledger, ctx, "750")
    write(folder / export_name("750"), json.dumps(report_body("750", "2", notes=padding)))
    wide = {f"extra_{i:03}": i for i in range(100)}
    write(
        folder / export_name("751"),
        json.dumps(report_body("751", "not money", reason=padding, **wide)),
    )
    hold_for(ledger, ctx, "752")
    write(
        folder / export_name("752"),
        json.dumps(report_body("752", "2", compute_cost="1." + "0" * 100_000)),
    )
    result = ingest_folder(folder, CostReports(ledger))
    assert result.applied == [(export_name("750"), "reconciled")]
    reasons = dict(result.rejected)
    assert reasons[export_name("751")] == "validation_error: reason: at most 500 characters"
    assert reasons[export_name("752")].startswith("validation_error: compute_cost: ")
    assert len(reasons[export_name("752")]) < 300  # the reason does not carry the value whole
    by_job = {r.job_id: r for r in stored(ledger)}
    applied = by_job["750"].record
    assert "notes" not in applied
    assert applied["actual_cost"] == "2.0000"
    rejected = by_job["751"].record
    assert len(rejected) == KEPT_FIELDS + 1
    assert rejected["_not_kept"] == f"{len(wide) + 5 - KEPT_FIELDS} more fields"
    assert (rejected["actual_cost"], rejected["account"]) == ("not money", "alpha")
    # The report's own fields are kept first; a long one is cut, saying how long it was.
    assert (
        rejected["reason"]
        == f"{json.dumps(padding)[:KEPT_CHARS]}... ({len(padding) + 2} characters)"
    )
    assert "extra_000" in rejected
    assert "extra_099" not in rejected
    for row in by_job.values():
        assert len(json.dumps(row.record)) < (KEPT_FIELDS + 1) * (KEPT_CHARS + 100)
    assert all(len(json.dumps(e.job_metadata)) < 4096 for e in ledger.journal(limit=1000))


@pytest.mark.parametrize("sub", ["rejected", "processed"])
def test_a_link_planted_as_a_subfolder_is_not_followed(alpha, ctx, tmp_path, sub):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    folder = tmp_path / "asbx"
    folder.mkdir()
    (folder / sub).symlink_to(outside)
    bad = write(folder / export_name("760"), "{not json")
    hold_for(alpha, ctx, "761")
    good = write(folder / export_name("761"), json.dumps(report_body("761", "1")))
    result = ingest_folder(folder, CostReports(alpha))
    assert (result.applied, result.rejected) == ([], [])
    assert result.stopped == (
        f"{folder / sub} is a symbolic link, not a folder: files are not moved there"
    )
    assert list(outside.iterdir()) == []
    assert bad.exists()
    assert good.exists()
    assert (stored(alpha), used(alpha)) == ([], 0)  # nothing recorded round after round


# ---------------------------------------------------------------- the reconcile spool


def spooled(folder: Path, stamp: int, body: object, *, old: float = 60) -> Path:
    text = body if isinstance(body, str) else json.dumps(body)
    return write(folder / f"{stamp}-x.json", text, old=old)


def test_a_deep_spooled_file_is_rejected_and_the_valid_ones_are_delivered(alpha, ctx, tmp_path):
    ledger = alpha
    spool = tmp_path / "spool"
    spooled(spool, 1, DEEP)
    holds = [hold_for(ledger, ctx) for _ in range(2)]
    for i, hold in enumerate(holds, start=2):
        spooled(spool, i, {"job_id": str(800 + i), "transaction_id": hold, "actual_cost": "1.5"})
    report = replay_spool(spool, ledger_sender(ledger))
    assert report.delivered == ["2-x.json", "3-x.json"]
    ((name, reason),) = report.rejected
    assert (name, report.remaining, report.stopped) == ("1-x.json", 0, None)
    assert reason.startswith("malformed: nested 100000 levels deep")
    assert (spool / "rejected" / f"{name}.reason").read_text().strip() == reason
    assert [ledger.get_hold(h).state for h in holds] == ["posted", "posted"]


def test_a_spooled_link_to_an_outside_request_is_not_applied(alpha, ctx, tmp_path):
    ledger = alpha
    hold = hold_for(ledger, ctx)
    outside = write(
        tmp_path / "elsewhere" / "r.json",
        json.dumps({"job_id": "810", "transaction_id": hold, "actual_cost": "0.01"}),
    )
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / "1-810.json").symlink_to(outside)
    theirs = spooled(spool, 2, {"job_id": "811", "transaction_id": hold, "actual_cost": "0.01"})
    os.chown(theirs, STRANGER, STRANGER)
    report = replay_spool(spool, ledger_sender(ledger))
    assert report.delivered == []
    reasons = dict(report.rejected)
    assert reasons["1-810.json"].startswith(f"malformed: a symbolic link (to {outside})")
    assert reasons["2-x.json"].startswith(f"malformed: owned by uid {STRANGER}")
    assert (spool / "rejected" / "1-810.json").is_symlink()
    assert outside.exists()
    assert ledger.get_hold(hold).state == "open"


def test_a_spooled_file_written_in_two_halves_waits_and_is_delivered_once(alpha, ctx, tmp_path):
    ledger = alpha
    hold = hold_for(ledger, ctx)
    spool = tmp_path / "spool"
    text = json.dumps({"job_id": "820", "transaction_id": hold, "actual_cost": "3.30"})
    path = spooled(spool, 1, text[:25], old=9)  # a writer that does not rename, paused
    after = spooled(spool, 2, {"job_id": "821", "account": "alpha", "actual_cost": "1"})
    first = replay_spool(spool, ledger_sender(ledger))
    assert (first.delivered, first.rejected, first.remaining) == ([after.name], [], 1)
    assert first.stopped is None  # not ready is not a failure
    with open(path, "a") as fh:
        fh.write(text[25:])
    second = replay_spool(spool, ledger_sender(ledger))
    assert (second.delivered, second.rejected, second.remaining) == ([path.name], [], 0)
    assert replay_spool(spool, ledger_sender(ledger)).delivered == []
    assert ledger.get_hold(hold).charged == Decimal("3.30")
    assert used(ledger) == Decimal("4.30")


def test_a_spooled_file_over_the_cap_is_rejected_without_being_read(alpha, ctx, tmp_path):
    spool = tmp_path / "spool"
    sparse(spool / "1-830.json", 100 * MIB)
    before = rchar()
    report = replay_spool(spool, ledger_sender(alpha))
    assert rchar() - before < MIB
    assert report.rejected == [
        (
            "1-830.json",
            f"malformed: too large: {100 * MIB} bytes; at most {MIB} are read "
            "(daemon.spool_max_file_bytes)",
        )
    ]


def test_a_link_planted_as_the_lock_file_is_not_followed(tmp_path):
    spool = tmp_path / "spool"
    spool.mkdir()
    target = tmp_path / "created-through-the-link"
    (spool / ".replay.lock").symlink_to(target)
    spooled(spool, 1, {"job_id": "1", "transaction_id": "h1", "actual_cost": "1"})

    def send(body):
        raise AssertionError("nothing is sent without the lock")

    report = replay_spool(spool, send)
    assert "cannot open" in (report.stopped or "")
    assert (report.delivered, report.remaining) == ([], 1)
    assert not target.exists()
