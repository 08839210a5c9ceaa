"""`ledger verify` catches each invariant broken in turn, on both backends.

A healthy ledger with every kind of movement is built, then one thing is corrupted by hand
the way a bug or a careless UPDATE would: with the database's own guards off (its CHECK
constraints and the triggers that keep the journal append-only and resolved holds final),
since those refuse every one of these writes. verify must name what broke.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import DBAPIError

from asbb_core.funding.allocations import Allocations
from asbb_core.funding.grants import Grants
from asbb_core.ledger import Ledger
from asbb_core.ledger.verify import verify_ledger
from asbb_core.store.constraints import CHECKS
from asbb_core.store.database import Database
from asbb_core.store.models import (
    Account,
    AllocationCredit,
    EntryKind,
    GrantDraw,
    Hold,
    JournalEntry,
    PartitionLimit,
)
from asbb_core.values.context import Context

D = Decimal


@dataclass
class Books:
    posted: str
    open: str
    transfer: str


@pytest.fixture
def books(ledger: Ledger, ctx: Context, clock) -> Books:
    clock.now = datetime(2026, 1, 1, 9, tzinfo=UTC)
    ledger.create_account("lab", ctx=ctx, limit="1000", partition_limits={"gpu-aws": "500"})
    ledger.create_account("other", ctx=ctx, limit="10")
    allocations = Allocations(ledger)
    allocations.create_schedule(
        "lab", ctx=ctx, amount="50", frequency="monthly", start_date=date(2026, 1, 1), instalments=3
    )
    allocations.process_due(ctx=ctx)
    grants = Grants(ledger)
    grants.create_grant(
        "NSF-1",
        total_award="1000",
        start_date=date(2025, 7, 1),
        end_date=date(2027, 6, 30),
        indirect_rate="0.5",
        ctx=ctx,
    )
    grants.link_account("NSF-1", "lab", ctx=ctx)
    grants.fund_account("NSF-1", "lab", "20", ctx=ctx)
    posted = ledger.create_hold("lab", "10", ctx=ctx, partition="gpu-aws", buffer="1.2")
    ledger.post_hold(posted.hold_id, "8.0033", ctx=ctx)
    still_open = ledger.create_hold("lab", "5", ctx=ctx, partition="gpu-aws", buffer="1")
    moved = ledger.transfer("lab", "other", "3", ctx=ctx, reason="share")
    clock.advance(timedelta(minutes=5))
    report = verify_ledger(ledger.db)
    assert report.ok, [str(p) for p in report.problems]
    transfer = ledger.db.read(
        lambda s: s.get(JournalEntry, moved.entry_ids[0]).correlation_id  # type: ignore[union-attr]
    )
    return Books(posted.hold_id, still_open.hold_id, transfer)


@contextmanager
def guards_off(db: Database, *checks: tuple[str, str]) -> Iterator[Connection]:
    """A connection that writes past the triggers and the named CHECK constraints, committed
    at the end; the constraints come back afterwards (NOT VALID on PostgreSQL: the bad row
    stays, as it would after a hand edit)."""
    with db.engine.connect() as conn:
        if db.backend == "sqlite":
            conn.exec_driver_sql("PRAGMA ignore_check_constraints = ON")
            triggers = conn.exec_driver_sql(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"
            ).all()
            for name, _ in triggers:
                conn.exec_driver_sql(f'DROP TRIGGER "{name}"')
            yield conn
            for _, sql in triggers:
                conn.exec_driver_sql(sql)
            conn.commit()
            conn.exec_driver_sql("PRAGMA ignore_check_constraints = OFF")
            return
        conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        for table, name in checks:
            conn.exec_driver_sql(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
        yield conn
        for table, name in checks:
            sql = CHECKS[table][name]
            conn.exec_driver_sql(
                f"ALTER TABLE {table} ADD CONSTRAINT {name} CHECK ({sql}) NOT VALID"
            )
        conn.commit()


def _first(conn: Connection, *where: Any) -> int:
    """The first journal row matching ``where``, read on the tampering connection (another
    would wait on its locks)."""
    found = conn.execute(
        select(JournalEntry.id).where(*where).order_by(JournalEntry.id)  # type: ignore[arg-type]
    ).scalar()
    assert found is not None
    return int(found)


def _bump_account(column: str) -> Callable[[Connection, Database, Books], None]:
    def corrupt(conn: Connection, db: Database, books: Books) -> None:
        conn.execute(
            update(Account)
            .where(Account.name == "lab")  # type: ignore[arg-type]
            .values({column: getattr(Account, column) + D("1")})
        )

    return corrupt


def _hold(**values: Any) -> Callable[[Connection, Database, Books], None]:
    def corrupt(conn: Connection, db: Database, books: Books) -> None:
        target = books.open if values.get("open") else books.posted
        changes = {k: v for k, v in values.items() if k != "open"}
        conn.execute(update(Hold).where(Hold.id == target).values(changes))  # type: ignore[arg-type]

    return corrupt


def _carry_too_big(conn: Connection, db: Database, books: Books) -> None:
    # moved on the row and the account alike, so only the half-cent bound is broken
    charge = _first(conn, JournalEntry.kind == EntryKind.CHARGE)
    conn.execute(
        update(JournalEntry).where(JournalEntry.id == charge).values(carry_delta=D("0.0400"))  # type: ignore[arg-type]
    )
    conn.execute(
        update(Account).where(Account.name == "lab").values(carry_amount=D("0.0400"))  # type: ignore[arg-type]
    )


def _partition_used(conn: Connection, db: Database, books: Books) -> None:
    conn.execute(update(PartitionLimit).values(used_amount=PartitionLimit.used_amount + D("2")))


def _row_after_resolution(conn: Connection, db: Database, books: Books) -> None:
    table = JournalEntry.__table__  # type: ignore[attr-defined]
    template = conn.execute(select(table).where(table.c.hold_id == books.posted)).mappings().first()
    assert template is not None
    row = {name: value for name, value in template.items() if name != "id"}
    row.update(
        kind=EntryKind.RELEASE,
        amount=D(0),
        held_delta=D(0),
        used_delta=D(0),
        carry_delta=D(0),
        created_at=datetime(2030, 1, 1, tzinfo=UTC),
    )
    conn.execute(insert(JournalEntry).values(row))


def _deposit_row(**values: Any) -> Callable[[Connection, Database, Books], None]:
    def corrupt(conn: Connection, db: Database, books: Books) -> None:
        deposit = _first(conn, JournalEntry.kind == EntryKind.DEPOSIT)
        conn.execute(update(JournalEntry).where(JournalEntry.id == deposit).values(values))  # type: ignore[arg-type]

    return corrupt


def _transfer_unbalanced(conn: Connection, db: Database, books: Books) -> None:
    row = _first(
        conn,
        JournalEntry.correlation_id == books.transfer,
        JournalEntry.kind == EntryKind.TRANSFER,
    )
    conn.execute(
        update(JournalEntry)
        .where(JournalEntry.id == row)  # type: ignore[arg-type]
        .values(limit_delta=JournalEntry.limit_delta * 2, amount=JournalEntry.amount * 2)
    )


def _grant_draw(conn: Connection, db: Database, books: Books) -> None:
    conn.execute(update(GrantDraw).values(amount=D("25")))


def _allocation_credit(conn: Connection, db: Database, books: Books) -> None:
    conn.execute(update(AllocationCredit).values(amount=D("40")))


DELTAS = ("journal", "ck_journal_deltas")
CORRUPTIONS: dict[str, tuple[Callable[..., None], tuple[tuple[str, str], ...], tuple[str, str]]] = {
    "account limit": (_bump_account("limit_amount"), (), ("account", "limit")),
    "account used": (_bump_account("used_amount"), (), ("account", "used")),
    "account held": (_bump_account("held_amount"), (), ("holds", "held")),
    "account carry": (_carry_too_big, (), ("account", "carry")),
    "partition used": (_partition_used, (), ("partition", "used")),
    "hold remaining": (_hold(open=True, remaining=D("1")), (), ("hold", "remaining")),
    "hold charged": (_hold(charged=D("1")), (), ("hold", "charged")),
    "hold released": (
        _hold(released=D("0"), amount=D("12")),
        (("holds", "ck_holds_money"),),
        ("hold", "released"),
    ),
    "hold amount": (_hold(amount=D("99")), (), ("hold", "amount")),
    "hold tasks": (
        _hold(tasks_posted=2),
        (("holds", "ck_holds_tasks"),),
        ("hold", "tasks_posted"),
    ),
    "resolved hold changed": (_row_after_resolution, (), ("hold", "state")),
    "row deltas": (_deposit_row(amount=D("7")), (DELTAS,), ("row", "deltas")),
    "row cents": (
        _deposit_row(amount=D("0.005"), limit_delta=D("0.005")),
        (DELTAS,),
        ("row", "cents"),
    ),
    "row carry": (
        _deposit_row(carry_delta=D("0.001")),
        (("journal", "ck_journal_carry"),),
        ("row", "carry"),
    ),
    "transfer": (_transfer_unbalanced, (), ("transfer", "limit")),
    "grant draw": (_grant_draw, (("grant_draws", "ck_grant_draws_amount"),), ("grant", "entry")),
    "allocation credit": (_allocation_credit, (), ("allocation", "entry")),
}


@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_verify_catches_each_broken_invariant(ledger, books, corruption):
    corrupt, checks, (check, field) = CORRUPTIONS[corruption]
    with guards_off(ledger.db, *checks) as conn:
        corrupt(conn, ledger.db, books)
    report = verify_ledger(ledger.db)
    found = {(p.check, p.field) for p in report.problems}
    assert (check, field) in found, [str(p) for p in report.problems]


def test_the_database_itself_refuses_these_writes(ledger, books):
    """With the guards on, the same corruptions do not get in at all."""
    db = ledger.db
    refused = 0
    for corrupt in (
        _hold(charged=D("1")),  # a resolved hold is final
        _hold(tasks_posted=2),
        _deposit_row(amount=D("7")),  # the journal is append-only
    ):
        with db.engine.connect() as conn:
            try:
                corrupt(conn, db, books)
                conn.commit()
            except DBAPIError:
                refused += 1
    assert refused == 3
    assert verify_ledger(db).ok
