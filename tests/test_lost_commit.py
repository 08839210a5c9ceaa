"""The COMMIT reaches the database and its reply is lost: every write is applied once.

A dropped connection after COMMIT is the one failure a retry cannot see through: the server
committed, the client got an error. The unit of work retries it under the operation's
idempotency key (one it makes itself when the caller gave none), so the retry finds the first
try's record and answers with its result instead of writing again. Here the database driver
really commits, then the connection is closed under it and a disconnect is raised, as a
network failure would.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from sqlalchemy import func
from sqlmodel import select
from typer.testing import CliRunner

from asbb_core.funding.allocations import Allocations
from asbb_core.funding.approvals import Approvals
from asbb_core.ledger import Ledger
from asbb_core.ledger.reconcile import JobEnd, reconcile_job
from asbb_core.ledger.verify import verify_ledger
from asbb_core.store.database import Database
from asbb_core.store.models import AdjustmentStatus, Hold, IdempotencyRecord, JournalEntry
from asbb_core.values.context import Context, IdempotencyKey, Source
from asbb_tui.cli import app
from tests.wire import D, loads


class LostReplies:
    def __init__(self, times: int) -> None:
        self.left = times
        self.lost = 0


def _disconnect(dialect_name: str) -> Exception:
    if dialect_name == "sqlite":
        return sqlite3.ProgrammingError("Cannot operate on a closed database.")
    return psycopg.OperationalError("server closed the connection unexpectedly")


@contextmanager
def commit_replies_lost(db: Database | None, backend: str, times: int = 1) -> Iterator[LostReplies]:
    """The next ``times`` COMMITs succeed and then fail as a dropped connection would.
    ``db=None`` patches every engine of the backend (a CLI run makes its own)."""
    state = LostReplies(times)
    target: Any = db.engine.dialect if db is not None else _dialect_class(backend)
    original = target.do_commit

    def do_commit(*args: Any) -> None:
        original(*args)  # (connection), or (dialect, connection) when patched on the class
        if state.left > 0:
            state.left -= 1
            state.lost += 1
            getattr(args[-1], "dbapi_connection", args[-1]).close()  # the driver's, not the pool's
            raise _disconnect(backend)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(target, "do_commit", do_commit)
        yield state


def _dialect_class(backend: str) -> type:
    if backend == "sqlite":
        from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite

        return SQLiteDialect_pysqlite
    from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg

    return PGDialect_psycopg


def journal_rows(db: Database) -> int:
    return db.read(lambda s: s.exec(select(func.count()).select_from(JournalEntry)).one())


def verified(db: Database) -> None:
    report = verify_ledger(db)
    assert report.ok, [str(p) for p in report.problems]


@pytest.fixture
def funded(ledger: Ledger, ctx: Context) -> Ledger:
    ledger.create_account("ml-proj", ctx=ctx, limit="1000")
    return ledger


def test_a_deposit_is_applied_once(backend, funded, ctx):
    before = journal_rows(funded.db)
    with commit_replies_lost(funded.db, backend) as lost:
        done = funded.deposit("ml-proj", "100", ctx=ctx)
    assert lost.lost == 1
    assert done.replayed  # the retry found the first try's record
    assert done.limit == Decimal("1100.00")
    assert funded.get_account("ml-proj").limit_amount == Decimal("1100.00")
    assert journal_rows(funded.db) == before + 1
    verified(funded.db)


def test_a_hold_is_made_once(backend, funded):
    plugin = Context(actor="slurmctld", source=Source.PLUGIN)
    with commit_replies_lost(funded.db, backend):
        hold = funded.create_hold("ml-proj", "10", ctx=plugin, buffer="1", job_id="71")
    holds = funded.db.read(lambda s: list(s.exec(select(Hold))))
    assert [h.id for h in holds] == [hold.hold_id]
    assert funded.get_account("ml-proj").held_amount == Decimal("10.00")
    verified(funded.db)


def test_a_reconcile_is_charged_once(backend, funded):
    plugin = Context(actor="slurmctld", source=Source.PLUGIN)
    hold = funded.create_hold("ml-proj", "10", ctx=plugin, buffer="1", job_id="72")
    end = JobEnd(job_id="72", hold_id=hold.hold_id, actual_cost=Decimal("7.5"))
    with commit_replies_lost(funded.db, backend):
        done = reconcile_job(funded, end, actor="epilog")
    assert done.charged == Decimal("7.50")
    account = funded.get_account("ml-proj")
    assert (account.used_amount, account.held_amount) == (Decimal("7.50"), Decimal("0.00"))
    verified(funded.db)


def test_an_allocation_run_credits_once(backend, funded, ctx, clock):
    clock.now = datetime(2026, 1, 1, 9, tzinfo=UTC)
    allocations = Allocations(funded)
    allocations.create_schedule(
        "ml-proj",
        ctx=ctx,
        amount="100",
        frequency="monthly",
        start_date=date(2026, 1, 1),
        instalments=3,
    )
    clock.now = datetime(2026, 2, 1, 9, tzinfo=UTC)
    with commit_replies_lost(funded.db, backend, times=2) as lost:
        allocations.process_due(ctx=ctx)
    assert lost.lost == 2
    # two instalments due (January, February), each once
    assert funded.get_account("ml-proj").limit_amount == Decimal("1200.00")
    verified(funded.db)


def test_an_approval_moves_money_once(backend, db, funded, settings, clock):
    approvals = Approvals(db, funded, settings, clock)
    asked = approvals.request(
        "credit", "ml-proj", "250", requested_by="alice", reason="top-up for the new grant"
    )
    with commit_replies_lost(db, backend):
        decided = approvals.approve(asked.id, approver="bob")
    assert decided.status == AdjustmentStatus.APPROVED
    assert funded.get_account("ml-proj").limit_amount == Decimal("1250.00")
    verified(db)


@pytest.mark.single_admin
def test_the_cli_opening_deposit_is_applied_once(
    monkeypatch, backend, migrated_url, cli_environment, db
):
    """The reported case: `account create --limit 100` raised the limit by 200."""
    with commit_replies_lost(None, backend) as lost:
        done = CliRunner().invoke(
            app,
            ["--database", migrated_url, "account", "create", "lost-reply", "--limit", "100"],
        )
    assert done.exit_code == 0, done.output
    assert lost.lost == 1
    shown = CliRunner().invoke(
        app, ["--database", migrated_url, "account", "show", "lost-reply", "--json"]
    )
    assert loads(shown.stdout)["limit"] == D("100.00")
    verified(db)


def test_the_records_of_unkeyed_writes_are_what_made_the_retry_safe(backend, funded):
    """A write without a caller's key still leaves a record (op:...) -- the retry's proof."""
    plugin = Context(actor="slurmctld", source=Source.PLUGIN)
    funded.create_hold("ml-proj", "1", ctx=plugin, buffer="1")
    keys = funded.db.read(lambda s: [r.key for r in s.exec(select(IdempotencyRecord))])
    assert any(key.startswith("op:") for key in keys)


def test_records_of_unkeyed_writes_are_purged_after_a_day_and_keyed_ones_kept(funded, ctx, clock):
    funded.deposit("ml-proj", "1", ctx=ctx)  # recorded under an op: key
    keyed = Context(actor="ops", source=Source.API, idempotency_key=IdempotencyKey.client("k1"))
    funded.deposit("ml-proj", "1", ctx=keyed)
    assert funded.purge_retry_records() == 0  # nothing is a day old yet
    clock.advance(timedelta(days=1, minutes=1))
    assert funded.purge_retry_records() >= 1
    records = funded.db.read(lambda s: list(s.exec(select(IdempotencyRecord))))
    assert "client:k1" in {r.key for r in records}
    day_ago = clock() - timedelta(days=1)
    assert all(r.created_at > day_ago for r in records if r.key.startswith("op:"))
