"""Reported costs (aws-slurm-burst's exports, cost updates) and the export folder's ingestion."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlmodel import select

from asbb_core.integrations.cost_reports import (
    CostReports,
    HoldNotLinkedError,
    ingest_folder,
    parse_record,
    slurm_lookup,
)
from asbb_core.integrations.slurm import SACCT_FIELDS, Slurm, SlurmError
from asbb_core.ledger.reconcile import EARLIER, JobEnd, reconcile_job
from asbb_core.ledger.verify import verify_ledger
from asbb_core.store.models import CostReport, EntryKind, HoldState
from asbb_core.values.context import Context, Source
from asbb_core.values.errors import ValidationError
from tests.slurm_output import FakeSlurm, captured, line_of, renumbered


@pytest.fixture
def alpha(ledger, ctx):
    ledger.create_account("alpha", ctx=ctx, limit="100")
    return ledger


def hold_for(ledger, ctx, job: str, estimate: str = "10") -> str:
    """A budget check's hold for ``job`` (buffer 1.2: 10 -> 12.00 held)."""
    return ledger.create_hold("alpha", estimate, ctx=ctx, partition="aws-cpu", job_id=job).hold_id


def export(folder: Path, job: str, body: object, *, age: float = 60) -> Path:
    """Write an export file as aws-slurm-burst does, ``age`` seconds old."""
    folder.mkdir(exist_ok=True)
    path = folder / f"job-{job}-asbb-reconciliation.json"
    path.write_text(body if isinstance(body, str) else json.dumps(body))
    then = time.time() - age
    os.utime(path, (then, then))
    return path


def record(job: str, cost: str, **more: object) -> dict:
    return {
        "job_id": job,
        "account": "alpha",
        "user_id": "ann",
        "partition": "aws-cpu",
        "actual_cost": cost,
        "compute_cost": cost,
        "storage_cost": "0",
        "network_cost": "0",
        "spot_savings": "1.25",
        "instance_types": ["c5.xlarge"],
        "duration_hours": "1.5",
        "success": True,
        "export_time": "2026-03-02T12:00:00Z",
        **more,
    }


def account(ledger):
    return ledger.get_account("alpha")


def rows(ledger) -> int:
    return len(ledger.journal(limit=10_000))


def assert_consistent(ledger) -> None:
    report = verify_ledger(ledger.db)
    assert report.ok, [str(p) for p in report.problems]


# ---------------------------------------------------------------- parsing


def test_parse_accepts_the_spool_shape_and_asbx_api_names():
    spool = parse_record(record("501", "9.5"))
    assert (spool.job_id, spool.actual_cost, spool.account, spool.spot_savings) == (
        "501",
        Decimal("9.50"),
        "alpha",
        Decimal("1.25"),
    )
    api = parse_record(
        {
            "job_cost_data": {
                "slurm_job_id": "77_3",
                "aws_cost": 4.2,
                "budget_transaction_id": "h123",
                "cost_breakdown": {"compute": "3.9", "network": "0.3"},
            },
            "auto_reconcile": True,
        }
    )
    assert (api.job_id, api.actual_cost, api.hold_id) == ("77_3", Decimal("4.20"), "h123")
    assert (api.compute_cost, api.network_cost) == (Decimal("3.9"), Decimal("0.3"))
    assert parse_record(record("501", "9.5")).digest == spool.digest


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"actual_cost": "1"}, "job_id"),
        ({"job_id": "12a", "actual_cost": "1"}, "job_id"),
        ({"job_id": "12"}, "actual_cost"),
        ({"job_id": "12", "actual_cost": "-3"}, "actual_cost"),
        ({"job_id": "12", "actual_cost": "1", "instance_types": [1]}, "instance_types"),
        ({"job_id": "12", "actual_cost": "1", "success": "yes"}, "success"),
        ({"job_id": "12", "actual_cost": "1", "export_time": "noon"}, "export_time"),
    ],
)
def test_parse_names_the_bad_field(body, field):
    with pytest.raises(ValidationError) as caught:
        parse_record(body)
    assert caught.value.field == field


# ---------------------------------------------------------------- applying


def test_open_hold_is_reconciled_and_the_epilog_after_it_charges_nothing(alpha, ctx):
    ledger = alpha
    hold = hold_for(ledger, ctx, "501")
    reports = CostReports(ledger)
    done = reports.apply(parse_record(record("501", "9.50")), origin="api", actor="asbx")
    assert (done.outcome, done.hold_id, done.charged, done.refunded) == (
        "reconciled",
        hold,
        Decimal("9.50"),
        Decimal("2.50"),
    )
    assert (account(ledger).used_amount, account(ledger).held_amount) == (Decimal("9.50"), 0)
    # The epilog comes later, pricing the job by the local model: the real cost stands.
    before = rows(ledger)
    late = reconcile_job(
        ledger,
        JobEnd(job_id="501", hold_id=hold, elapsed=timedelta(minutes=30), cpus=4),
        actor="epilog",
    )
    assert (late.cost_source, late.replayed, late.charged) == (EARLIER, True, Decimal("9.50"))
    assert rows(ledger) == before
    assert account(ledger).used_amount == Decimal("9.50")
    assert_consistent(ledger)


def test_a_later_cost_corrects_the_charge_up_and_down(alpha, ctx):
    ledger = alpha
    hold = hold_for(ledger, ctx, "502")
    reconcile_job(ledger, JobEnd(job_id="502", hold_id=hold, actual_cost=Decimal("8")), actor="e")
    reports = CostReports(ledger)
    up = reports.apply(parse_record(record("502", "11")), origin="spool", actor="asbx")
    assert (up.outcome, up.previous_charge, up.charged, up.refunded) == (
        "corrected",
        Decimal("8.00"),
        Decimal("3.00"),
        Decimal("0"),
    )
    down = reports.apply(
        parse_record({"job_id": "502", "actual_cost": "7.25", "reason": "spot credit"}),
        origin="cost-update",
        actor="admin",
    )
    assert (down.outcome, down.charged, down.refunded) == ("corrected", 0, Decimal("3.75"))
    same = reports.apply(
        parse_record({"job_id": "502", "actual_cost": "7.25"}), origin="api", actor="x"
    )
    assert (same.outcome, same.charged, same.refunded) == ("unchanged", 0, 0)
    assert account(ledger).used_amount == Decimal("7.25")
    assert ledger.get_hold(hold).charged == Decimal("8.00")  # resolved is final
    kinds = [e.kind for e in ledger.journal(hold_id=hold)]
    assert kinds[:2] == [EntryKind.CORRECTION, EntryKind.CORRECTION]  # refund, then the rise
    assert_consistent(ledger)


def test_a_job_that_ran_without_a_hold_is_charged_to_its_account(alpha, ctx):
    """Slurm knows the job and it has no AdminComment: it was accepted fail-open."""
    # job 14 ran on the unbudgeted partition: squeue shows its AdminComment as (null)
    done_jobs = captured("forged_done", "squeue")
    fake = FakeSlurm(one={("squeue", "601"): renumbered(line_of(done_jobs, "14"), "601")})
    reports = CostReports(alpha, lookup=slurm_lookup(Slurm(fake)))
    done = reports.apply(parse_record(record("601", "4.40")), origin="spool", actor="asbx")
    assert (done.outcome, done.hold_id, done.charged) == ("charged", None, Decimal("4.40"))
    # no hold in the controller's record: accounting was asked too (it knows nothing more)
    assert fake.commands("sacct") == [
        ["sacct", "-P", "-n", "-X", "-j", "601", "--format=" + ",".join(SACCT_FIELDS)]
    ]
    again = reports.apply(parse_record(record("601", "5.00")), origin="spool", actor="asbx")
    assert (again.outcome, again.charged) == ("corrected", Decimal("0.60"))
    assert account(alpha).used_amount == Decimal("5.00")
    assert_consistent(alpha)


def test_the_hold_is_found_through_slurm(alpha, ctx):
    alpha.create_account("rich", ctx=ctx, limit="100")  # the captured job's account
    hold = alpha.create_hold("rich", "10", ctx=ctx, partition="aws-cpu").hold_id  # no job id
    # job 16 (a JobName forging another job's hold) as the controller and accounting saw it
    own = "h073f8e3da3f543f198a790b190fcdf38"
    fake = FakeSlurm(
        one={
            ("squeue", "16"): captured("forged_done", "squeue_16"),
            ("sacct", "16"): captured("forged_done", "sacct_16"),
        }
    )
    fake.swap({own: hold})
    reports = CostReports(alpha, lookup=slurm_lookup(Slurm(fake)))
    done = reports.apply(parse_record(record("16", "6")), origin="spool", actor="asbx")
    assert (done.outcome, done.hold_id) == ("reconciled", hold)
    assert fake.commands("sacct") == []  # the controller's record named the hold
    # gone from the controller: accounting's record names it just the same
    gone = FakeSlurm(one={("sacct", "16"): captured("forged_done", "sacct_16")})
    gone.swap({own: hold})
    assert slurm_lookup(Slurm(gone))("16") == (True, hold, "rich")
    assert slurm_lookup(Slurm(gone))("17") == (False, None, None)


def test_a_job_naming_another_accounts_hold_is_not_charged_to_it(alpha, ctx):
    """Were a job's record to name a hold of another account (text a "|" in an account name
    pushed into AdminComment, on a cluster that does not enforce associations), the hold's
    account is not charged for it."""
    victim = alpha.create_hold("alpha", "10", ctx=ctx, partition="aws-cpu").hold_id
    fake = FakeSlurm(one={("squeue", "16"): captured("forged_done", "squeue_16")})
    fake.swap({"h073f8e3da3f543f198a790b190fcdf38": victim})  # job 16 runs under "rich"
    before = rows(alpha)
    with pytest.raises(ValidationError, match="runs under 'rich'; not charged"):
        CostReports(alpha, lookup=slurm_lookup(Slurm(fake))).apply(
            parse_record(record("16", "6")), origin="spool", actor="asbx"
        )
    assert rows(alpha) == before
    assert alpha.get_hold(victim).state == HoldState.OPEN


def test_an_unlinked_job_waits_and_changes_nothing(alpha, ctx):
    def down(argv: Sequence[str], timeout: float) -> str:
        raise SlurmError("slurm_load_jobs error: Unable to contact slurm controller")

    before = rows(alpha)
    for lookup in (None, slurm_lookup(Slurm(down))):
        with pytest.raises(HoldNotLinkedError):
            CostReports(alpha, lookup=lookup).apply(
                parse_record(record("999", "1")), origin="api", actor="asbx"
            )
    assert rows(alpha) == before
    assert alpha.db.read(lambda s: s.exec(select(CostReport)).all()) == []


# ---------------------------------------------------------------- the export folder


def test_ingestion_charges_good_files_once_and_moves_bad_ones_aside(alpha, ctx, tmp_path):
    ledger = alpha
    reports = CostReports(ledger)
    hold_for(ledger, ctx, "501")
    held = hold_for(ledger, ctx, "502")
    reconcile_job(ledger, JobEnd(job_id="502", hold_id=held, actual_cost=Decimal("8")), actor="e")
    spool = tmp_path / "asbx"
    export(spool, "501", record("501", "9.50"))
    export(spool, "502", record("502", "11"))
    export(spool, "503", "{not json")
    export(spool, "504", record("504", "-2"))
    export(spool, "505", record("506", "1"))
    export(spool, "507", record("507", "1", success=False))
    export(spool, "508", record("508", "3"))  # no hold for it yet
    young = export(spool, "509", record("509", "3"), age=0)
    (spool / "notes.json").write_text("{}")  # not an export: left alone

    first = ingest_folder(spool, reports, link_wait_seconds=3600)
    assert sorted(first.applied) == [
        ("job-501-asbb-reconciliation.json", "reconciled"),
        ("job-502-asbb-reconciliation.json", "corrected"),
    ]
    reasons = dict(first.rejected)
    assert "not JSON" in reasons["job-503-asbb-reconciliation.json"]
    assert "actual_cost" in reasons["job-504-asbb-reconciliation.json"]
    assert "named for job 505" in reasons["job-505-asbb-reconciliation.json"]
    assert "unsuccessful" in reasons["job-507-asbb-reconciliation.json"]
    assert [n for n, _ in first.waiting] == [
        "job-508-asbb-reconciliation.json",
        "job-509-asbb-reconciliation.json",
    ]
    assert account(ledger).used_amount == Decimal("20.50")  # 9.50 + 11
    for name, reason in first.rejected:
        assert (spool / "rejected" / name).exists()
        assert (spool / "rejected" / f"{name}.reason").read_text().strip() == reason
    assert sorted(p.name for p in (spool / "processed").iterdir()) == [
        "job-501-asbb-reconciliation.json",
        "job-502-asbb-reconciliation.json",
    ]

    # The same export again (aws-slurm-burst re-ran): recorded, nothing charged twice.
    before = rows(ledger)
    export(spool, "501", record("501", "9.50"))
    again = ingest_folder(spool, reports, link_wait_seconds=3600)
    assert ("job-501-asbb-reconciliation.json", "unchanged") in again.applied
    assert rows(ledger) == before
    assert {p.name for p in (spool / "processed").iterdir()} >= {
        "job-501-asbb-reconciliation.json",
        "job-501-asbb-reconciliation.1.json",
    }

    # A file waiting longer than link_wait_seconds is moved aside with the reason.
    os.utime(young, (time.time() - 60, time.time() - 60))
    late = ingest_folder(spool, reports, link_wait_seconds=30)
    assert {n for n, _ in late.rejected} == {
        "job-508-asbb-reconciliation.json",
        "job-509-asbb-reconciliation.json",
    }
    assert "hold_not_found_yet" in dict(late.rejected)["job-508-asbb-reconciliation.json"]

    # Nothing lost: every export is in processed/ or rejected/, and every one is recorded.
    assert [p.name for p in spool.iterdir() if p.name.startswith("job-")] == []
    assert (spool / "notes.json").exists()
    stored = ledger.db.read(lambda s: s.exec(select(CostReport)).all())
    assert sorted(r.outcome for r in stored) == sorted(
        ["reconciled", "corrected", "unchanged"] + ["rejected"] * 6
    )
    assert account(ledger).used_amount == Decimal("20.50")
    assert_consistent(ledger)


def test_a_crash_between_charging_and_moving_the_file_charges_nothing_twice(alpha, ctx, tmp_path):
    ledger = alpha
    hold_for(ledger, ctx, "501")
    reports = CostReports(ledger)
    spool = tmp_path / "asbx"
    path = export(spool, "501", record("501", "9.50"))
    # The ingest applied the file, then the process died before moving it.
    reports.apply(parse_record(json.loads(path.read_text())), origin="spool", actor="asbx")
    before = rows(ledger)
    after = ingest_folder(spool, reports)
    assert after.applied == [("job-501-asbb-reconciliation.json", "unchanged")]
    assert rows(ledger) == before
    assert account(ledger).used_amount == Decimal("9.50")


def test_one_ingest_per_folder_at_a_time(alpha, ctx, tmp_path):
    from asbb_core.integrations.spool import folder_lock

    spool = tmp_path / "asbx"
    export(spool, "501", record("501", "9.50"))
    with folder_lock(spool) as locked:
        assert locked
        busy = ingest_folder(spool, CostReports(alpha))
    assert busy.stopped == "another ingest of this folder is running"
    assert (spool / "job-501-asbb-reconciliation.json").exists()


def test_settle_refuses_a_job_without_hold_or_account(alpha):
    with pytest.raises(ValidationError) as caught:
        alpha.settle_job_cost("5", "1", ctx=Context(actor="t", source=Source.CLI))
    assert caught.value.field == "account"
