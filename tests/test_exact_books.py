"""The reported ways money was lost or charged twice, each reproduced as the caller does it:
over real HTTP to the daemon (the plugin's and the epilog's calls) or through the real CLI,
on both backends. docs/ledger.md gives the rules these hold to."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from asbb_core.ledger.verify import verify_ledger
from asbb_core.store.models import EntryKind
from asbb_tui.cli import app


@pytest.fixture
def plugin(live_daemon, ledger, ctx):
    ledger.create_account("ml-proj", ctx=ctx, limit="1000")
    ledger.create_account("acct-b", ctx=ctx, limit="100")
    with live_daemon.client("plugin") as client:
        yield client
    report = verify_ledger(ledger.db)
    assert report.ok, [str(p) for p in report.problems]


def check(client, **fields):
    body = {"account": "ml-proj", "partition": "aws-cpu", "cpus": 1, "wall_time": "00:10:00"}
    body.update(fields)
    reply = client.post("/api/v1/budget/check", json=body)
    assert reply.status_code == 200, reply.text
    return reply.json()


def reconcile(client, **fields):
    reply = client.post("/api/v1/budget/reconcile", json=fields)
    assert reply.status_code == 200, reply.text
    return reply.json()


def used(ledger, account="ml-proj") -> Decimal:
    return ledger.get_account(account).used_amount


def test_an_array_of_sub_cent_tasks_is_charged_what_it_cost(plugin, ledger):
    """100 tasks at $0.0033 were charged $0.00: posting rounded each task to the cent."""
    hold = check(plugin, array_size=100)["transaction_id"]
    for task in range(100):
        reconcile(plugin, job_id=f"400_{task}", transaction_id=hold, actual_cost="0.0033")
    assert used(ledger) == Decimal("0.33")
    account = ledger.get_account("ml-proj")
    assert account.carry_amount == Decimal("0")  # 100 x 0.0033 is a whole 33 cents


def test_many_short_jobs_priced_locally_add_up(plugin, ledger):
    """100 jobs of 179 s at $0.10 per CPU-hour ($0.50 in all) were charged $0.00."""
    for job in range(100):
        hold = check(plugin, cpus=2, wall_time="00:05:00")["transaction_id"]
        reconcile(plugin, job_id=str(500 + job), transaction_id=hold, elapsed_seconds=179, cpus=2)
    # each job costs 2 x 0.05 x 179/3600 = 0.004972...: 0.0050 at the journal's 4 places
    assert used(ledger) == Decimal("0.50")
    assert abs(ledger.get_account("ml-proj").carry_amount) <= Decimal("0.005")


def test_an_unheld_job_is_charged_once_whatever_the_spelling(plugin, ledger):
    """A fail-open job reconciled by account was charged once per spelling of the account."""
    for spelling in ("acct-b", "ACCT-B", " acct-b "):
        reconcile(plugin, job_id="600", account=spelling, actual_cost="1.00")
    assert used(ledger, "acct-b") == Decimal("1.00")
    charges = [e for e in ledger.journal(account="acct-b") if e.kind == EntryKind.CHARGE]
    assert len(charges) == 1


def test_a_posted_hold_named_by_another_job_is_not_charged_again(plugin, ledger):
    hold = check(plugin)["transaction_id"]
    reconcile(plugin, job_id="700", transaction_id=hold, actual_cost="1.00")
    reply = plugin.post(
        "/api/v1/budget/reconcile",
        json={"job_id": "701", "transaction_id": hold, "actual_cost": "1.00"},
    )
    assert reply.status_code in (200, 409), reply.text
    assert used(ledger) == Decimal("1.00")


def test_a_client_key_cannot_take_the_place_of_an_internal_one(plugin, ledger):
    """A check sent with the key asbb once used for a job's unheld charge made that charge
    vanish: callers' keys now live in a namespace of their own."""
    check(plugin, idempotency_key="reconcile:unheld:ml-proj:800")
    held = ledger.get_account("ml-proj").held_amount
    reconcile(plugin, job_id="800", account="ml-proj", actual_cost="2.00")
    assert used(ledger) == Decimal("2.00")
    assert ledger.get_account("ml-proj").held_amount == held


def test_a_later_cost_is_a_correction_and_the_hold_stays_final(plugin, ledger, live_daemon):
    hold = check(plugin)["transaction_id"]
    reconcile(plugin, job_id="900", transaction_id=hold, actual_cost="0.10")
    before = ledger.get_hold(hold)
    reply = plugin.post(
        "/api/v1/integration/cost-update",
        json={"job_id": "900", "actual_cost": "0.25", "reason": "the bill"},
    )
    assert reply.status_code in (200, 201), reply.text
    after = ledger.get_hold(hold)
    assert (after.state, after.charged, after.tasks_posted, after.resolved_at) == (
        before.state,
        before.charged,
        before.tasks_posted,
        before.resolved_at,
    )
    kinds = [e.kind for e in ledger.journal(hold_id=hold)]
    assert EntryKind.CORRECTION in kinds
    assert used(ledger) == Decimal("0.25")


def test_the_cli_charges_an_unheld_job_once_whatever_the_spelling(
    migrated_url, cli_environment, ledger, ctx
):
    ledger.create_account("acct-c", ctx=ctx, limit="10")
    runner = CliRunner()
    for spelling in ("acct-c", "ACCT-C", " acct-c "):
        done = runner.invoke(
            app,
            [
                "--database",
                migrated_url,
                "reconcile",
                "61",
                "--account",
                spelling,
                "--actual-cost",
                "1.00",
                "--json",
            ],
        )
        assert done.exit_code == 0, done.output
        json.loads(done.stdout)
    assert used(ledger, "acct-c") == Decimal("1.00")
    report = verify_ledger(ledger.db)
    assert report.ok, [str(p) for p in report.problems]


def test_an_unsuccessful_export_is_refused_by_every_route(plugin, ledger):
    """success: false was refused by the folder watcher and charged $55.00 through
    /asbx/reconcile; one rule now decides for all (CostReports.apply)."""
    hold = check(plugin)["transaction_id"]
    reconcile(plugin, job_id="950", transaction_id=hold, actual_cost="0.10")
    body = {
        "job_cost_data": {"slurm_job_id": "950", "aws_cost": 55.0, "success": False},
        "auto_reconcile": True,
    }
    reply = plugin.post("/api/v1/asbx/reconcile", json=body)
    assert reply.status_code == 422, reply.text
    assert reply.json()["error"]["field"] == "success"
    assert used(ledger) == Decimal("0.10")
