"""The ledger's use cases on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from asbb_core.ledger import Ledger
from asbb_core.ledger.verify import verify_ledger
from asbb_core.store.models import EntryKind, Hold, JournalEntry
from asbb_core.values.context import Context, IdempotencyKey, Source
from asbb_core.values.errors import (
    AccountInactiveError,
    ConflictError,
    HoldResolvedError,
    IdempotencyConflictError,
    InsufficientFundsError,
    NotFoundError,
    ValidationError,
)


def keyed(key: str) -> Context:
    return Context(
        actor="slurmctld", source=Source.PLUGIN, idempotency_key=IdempotencyKey.client(key)
    )


def snapshot(ledger: Ledger) -> tuple[int, int, list[tuple[str, Decimal, Decimal, Decimal]]]:
    """Everything a refused request must leave untouched."""

    def query(s):
        rows = s.exec(select(func.count()).select_from(JournalEntry)).one()
        holds = s.exec(select(func.count()).select_from(Hold)).one()
        return rows, holds

    rows, holds = ledger.db.read(query)
    totals = [
        (a.name, a.limit_amount, a.used_amount, a.held_amount) for a in ledger.list_accounts()
    ]
    return rows, holds, totals


@pytest.fixture(autouse=True)
def _ledger_stays_verified(db):
    """After every test here, the journal and the cached totals still agree."""
    yield
    report = verify_ledger(db)
    assert report.ok, [str(p) for p in report.problems]


@pytest.fixture
def funded(ledger: Ledger, ctx: Context) -> Ledger:
    ledger.create_account(
        "ml-proj", ctx=ctx, limit="1000", description="ML", partition_limits={"gpu-aws": "500"}
    )
    return ledger


# -- accounts ---------------------------------------------------------------


def test_create_account_journals_the_opening_deposit(ledger, ctx):
    account = ledger.create_account("ML-Proj", ctx=ctx, limit="1000.50")
    assert account.name == "ml-proj"  # Slurm account names are case-insensitive
    assert account.available == Decimal("1000.50")
    (entry,) = ledger.journal(account="ml-proj")
    assert entry.kind == EntryKind.DEPOSIT
    assert entry.limit_delta == Decimal("1000.50")
    assert (entry.actor, entry.source) == ("test-admin", Source.CLI)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": "bad name"}, "account"),
        ({"name": "ok", "limit": "-5"}, "limit"),
        ({"name": "ok", "limit": 10.5}, "limit"),
        ({"name": "ok", "limit": "1.001"}, "limit"),
        ({"name": "ok", "start_date": date(2026, 2, 1), "end_date": date(2026, 1, 1)}, "end_date"),
        ({"name": "ok", "partition_limits": {"gpu aws": "5"}}, "partition"),
    ],
)
def test_bad_account_input_names_the_field_and_writes_nothing(ledger, ctx, kwargs, field):
    before = snapshot(ledger)
    kwargs = dict(kwargs)
    name = kwargs.pop("name")
    with pytest.raises(ValidationError) as info:
        ledger.create_account(name, ctx=ctx, **kwargs)
    assert info.value.field == field
    assert snapshot(ledger) == before


def test_duplicate_account_is_a_conflict(funded, ctx):
    with pytest.raises(ConflictError, match="already exists"):
        funded.create_account("ml-proj", ctx=ctx, limit="5")
    assert funded.get_account("ml-proj").limit_amount == Decimal("1000")


def test_unknown_account(ledger, ctx):
    with pytest.raises(NotFoundError) as info:
        ledger.create_hold("nobody", "1", ctx=ctx)
    assert info.value.field == "account"


# -- holds: refusal -------------------------------------------------------------


def test_hold_above_available_is_refused_saying_what_is_available(funded, ctx):
    funded.create_hold("ml-proj", "700", ctx=ctx)  # holds 840.00
    before = snapshot(funded)
    with pytest.raises(InsufficientFundsError) as info:
        funded.create_hold("ml-proj", "150", ctx=ctx, partition="aws-cpu")
    assert info.value.message == (
        "account ml-proj has $160.00 available; this job needs an estimated $180.00 hold on aws-cpu"
    )
    assert info.value.details["available"] == Decimal("160.00")
    assert snapshot(funded) == before


def test_hold_above_the_partition_limit_is_refused(funded, ctx):
    funded.create_hold("ml-proj", "300", ctx=ctx, partition="gpu-aws")  # 360 of 500
    before = snapshot(funded)
    with pytest.raises(InsufficientFundsError) as info:
        funded.create_hold("ml-proj", "150", ctx=ctx, partition="gpu-aws")
    assert info.value.field == "partition"
    assert "partition gpu-aws of account ml-proj has $140.00 available of its $500.00 limit" in (
        info.value.message
    )
    assert snapshot(funded) == before
    # The same amount on another partition fits in the account.
    funded.create_hold("ml-proj", "150", ctx=ctx, partition="aws-cpu")


def test_a_cap_set_later_counts_what_the_partition_already_spent(funded, ctx):
    hold = funded.create_hold("ml-proj", "100", ctx=ctx, partition="aws-cpu")
    funded.post_hold(hold.hold_id, "90", ctx=ctx)
    funded.create_hold("ml-proj", "10", ctx=ctx, partition="aws-cpu")  # 12.00 held
    cap = funded.set_partition_limit("ml-proj", "aws-cpu", "150", ctx=ctx)
    assert cap is not None
    assert (cap.used_amount, cap.held_amount) == (Decimal("90"), Decimal("12"))
    with pytest.raises(InsufficientFundsError):
        funded.create_hold("ml-proj", "45", ctx=ctx, partition="aws-cpu")  # 54 > 48
    assert funded.set_partition_limit("ml-proj", "aws-cpu", None, ctx=ctx) is None
    funded.create_hold("ml-proj", "45", ctx=ctx, partition="aws-cpu")


def test_suspended_and_out_of_dates_accounts_take_no_holds(funded, ctx, clock):
    funded.update_account("ml-proj", ctx=ctx, status="suspended")
    with pytest.raises(AccountInactiveError, match="suspended"):
        funded.create_hold("ml-proj", "1", ctx=ctx)
    funded.update_account("ml-proj", ctx=ctx, status="active", end_date=clock().date())
    funded.create_hold("ml-proj", "1", ctx=ctx)
    clock.advance(timedelta(days=1))
    with pytest.raises(AccountInactiveError, match="ended on"):
        funded.create_hold("ml-proj", "1", ctx=ctx)


def test_closing_needs_no_open_holds(funded, ctx):
    hold = funded.create_hold("ml-proj", "1", ctx=ctx)
    with pytest.raises(ConflictError, match="1 open hold"):
        funded.update_account("ml-proj", ctx=ctx, status="closed")
    funded.void_hold(hold.hold_id, ctx=ctx)
    assert funded.update_account("ml-proj", ctx=ctx, status="closed").status == "closed"
    with pytest.raises(ConflictError, match="cannot be reopened"):
        funded.update_account("ml-proj", ctx=ctx, status="active")


# -- holds: resolution ----------------------------------------------------------


def test_hold_reserves_estimate_times_buffer(funded, ctx, clock):
    hold = funded.create_hold("ml-proj", "10", ctx=ctx, job_id="42", user_name="alice")
    assert hold.amount == Decimal("12.00")
    assert hold.expires_at == clock() + timedelta(hours=24)
    account = funded.get_account("ml-proj")
    assert (account.held_amount, account.available) == (Decimal("12"), Decimal("988"))
    stored = funded.get_hold(hold.hold_id)
    assert (stored.job_id, stored.user_name, stored.state) == ("42", "alice", "open")


@pytest.mark.parametrize(
    ("cost", "charged", "released", "overrun"),
    [
        ("7.5", "7.50", "4.50", "0.00"),
        ("12", "12.00", "0.00", "0.00"),
        ("15", "15.00", "0.00", "3.00"),
    ],
    ids=["under", "exact", "over"],
)
def test_post_charges_and_releases_the_rest(funded, ctx, cost, charged, released, overrun):
    hold = funded.create_hold("ml-proj", "10", ctx=ctx, partition="gpu-aws")
    result = funded.post_hold(hold.hold_id, cost, ctx=ctx)
    assert (result.charged, result.released, result.overrun) == (
        Decimal(charged),
        Decimal(released),
        Decimal(overrun),
    )
    assert result.state == "posted"
    account = funded.get_account("ml-proj")
    assert account.used_amount == Decimal(charged)
    assert account.held_amount == 0
    (cap,) = funded.partition_limits("ml-proj")
    assert (cap.used_amount, cap.held_amount) == (Decimal(charged), 0)
    overruns = [e for e in funded.journal(hold_id=hold.hold_id) if e.overrun]
    assert sum(e.amount for e in overruns) == Decimal(overrun)


def test_every_resolution_happens_exactly_once(funded, ctx, clock):
    posted = funded.create_hold("ml-proj", "10", ctx=ctx)
    voided = funded.create_hold("ml-proj", "10", ctx=ctx)
    expired = funded.create_hold("ml-proj", "10", ctx=ctx, time_limit=timedelta(hours=1))
    funded.post_hold(posted.hold_id, "5", ctx=ctx)
    funded.void_hold(voided.hold_id, ctx=ctx, reason="job cancelled")
    clock.advance(timedelta(hours=24))  # its time limit has passed, the grace has not
    with pytest.raises(ConflictError, match="not yet"):
        funded.expire_hold(expired.hold_id, ctx=ctx)
    clock.advance(timedelta(hours=2))
    assert [r.hold_id for r in funded.expire_holds(ctx=ctx)] == [expired.hold_id]
    assert funded.expire_holds(ctx=ctx) == []

    before = snapshot(funded)
    for hold_id in (posted.hold_id, voided.hold_id, expired.hold_id):
        with pytest.raises(HoldResolvedError):
            funded.post_hold(hold_id, "1", ctx=ctx)
        with pytest.raises(HoldResolvedError):
            funded.void_hold(hold_id, ctx=ctx)
    assert snapshot(funded) == before
    states = {
        h: funded.get_hold(h).state for h in (posted.hold_id, voided.hold_id, expired.hold_id)
    }
    assert list(states.values()) == ["posted", "voided", "expired"]
    assert funded.get_account("ml-proj").used_amount == Decimal("5")


def test_job_array_hold_takes_one_post_per_task(funded, ctx):
    hold = funded.create_hold("ml-proj", "30", ctx=ctx, task_count=3)  # 36.00
    first = funded.post_hold(hold.hold_id, "10", ctx=ctx)
    assert (first.state, first.released, first.tasks_posted) == ("open", 0, 1)
    funded.post_hold(hold.hold_id, "10", ctx=ctx)
    last = funded.post_hold(hold.hold_id, "11", ctx=ctx)
    assert (last.state, last.total_charged, last.released) == (
        "posted",
        Decimal("31"),
        Decimal("5"),
    )
    with pytest.raises(HoldResolvedError):
        funded.post_hold(hold.hold_id, "1", ctx=ctx)


def test_array_hold_closed_early_by_a_final_post_or_a_void(funded, ctx):
    early = funded.create_hold("ml-proj", "30", ctx=ctx, task_count=3)
    funded.post_hold(early.hold_id, "10", ctx=ctx)
    result = funded.void_hold(early.hold_id, ctx=ctx, reason="rest of the array cancelled")
    assert (result.state, result.released) == ("posted", Decimal("26"))
    final = funded.create_hold("ml-proj", "30", ctx=ctx, task_count=3)
    done = funded.post_hold(final.hold_id, "10", ctx=ctx, final=True)
    assert (done.state, done.released) == ("posted", Decimal("26"))


# -- idempotency ----------------------------------------------------------------


def test_replayed_hold_returns_the_first_result(funded):
    first = funded.create_hold("ml-proj", "10", ctx=keyed("submit-1"), job_id="7")
    rows = snapshot(funded)
    again = funded.create_hold("ml-proj", "10", ctx=keyed("submit-1"), job_id="7")
    assert again.replayed
    assert not first.replayed
    assert (again.hold_id, again.amount, again.expires_at) == (
        first.hold_id,
        first.amount,
        first.expires_at,
    )
    assert snapshot(funded) == rows
    with pytest.raises(IdempotencyConflictError) as info:
        funded.create_hold("ml-proj", "11", ctx=keyed("submit-1"), job_id="7")
    assert info.value.field == "idempotency_key"


def test_replayed_post_and_void_move_nothing_twice(funded):
    hold = funded.create_hold("ml-proj", "10", ctx=keyed("h"))
    first = funded.post_hold(hold.hold_id, "8", ctx=keyed("reconcile-42"))
    rows = snapshot(funded)
    again = funded.post_hold(hold.hold_id, "8", ctx=keyed("reconcile-42"))
    assert again.replayed
    assert (again.charged, again.released) == (first.charged, first.released)
    assert snapshot(funded) == rows

    other = funded.create_hold("ml-proj", "10", ctx=keyed("h2"))
    funded.void_hold(other.hold_id, ctx=keyed("void-1"))
    rows = snapshot(funded)
    assert funded.void_hold(other.hold_id, ctx=keyed("void-1")).replayed
    assert snapshot(funded) == rows


def test_replayed_deposit_and_transfer(funded, ctx):
    funded.create_account("other", ctx=ctx)
    funded.deposit("ml-proj", "50", ctx=keyed("dep-1"))
    funded.deposit("ml-proj", "50", ctx=keyed("dep-1"))
    funded.transfer("ml-proj", "other", "25", ctx=keyed("tr-1"), reason="share")
    funded.transfer("ml-proj", "other", "25", ctx=keyed("tr-1"), reason="share")
    assert funded.get_account("ml-proj").limit_amount == Decimal("1025")
    assert funded.get_account("other").limit_amount == Decimal("25")


# -- rounding and floats ----------------------------------------------------------


def test_amounts_round_as_documented_through_the_database(funded, ctx):
    third = funded.create_hold("ml-proj", Decimal(1) / Decimal(3), ctx=ctx)
    assert third.estimate == Decimal("0.3333")
    assert third.amount == Decimal("0.40")  # 0.3333 x 1.2 = 0.39996 -> 0.40
    result = funded.post_hold(third.hold_id, Decimal("0.1") + Decimal("0.2"), ctx=ctx)
    assert result.charged == Decimal("0.30")
    assert funded.get_account("ml-proj").used_amount == Decimal("0.30")
    cheap = funded.create_hold("ml-proj", "1", ctx=ctx)
    assert funded.post_hold(cheap.hold_id, "0.125", ctx=ctx).charged == Decimal("0.12")


@pytest.mark.parametrize(
    "call",
    [
        lambda lg, c: lg.deposit("ml-proj", 0.1, ctx=c),
        lambda lg, c: lg.create_hold("ml-proj", 0.1, ctx=c),
        lambda lg, c: lg.adjust("ml-proj", 1.5, ctx=c, reason="x"),
        lambda lg, c: lg.create_account("x", ctx=c, limit=100.0),
    ],
)
def test_float_input_is_rejected_and_nothing_written(funded, ctx, call):
    before = snapshot(funded)
    with pytest.raises(ValidationError, match="floats are not accepted"):
        call(funded, ctx)
    assert snapshot(funded) == before


def test_post_with_float_cost_is_rejected(funded, ctx):
    hold = funded.create_hold("ml-proj", "10", ctx=ctx)
    with pytest.raises(ValidationError) as info:
        funded.post_hold(hold.hold_id, 9.99, ctx=ctx)
    assert info.value.field == "actual_cost"
    assert funded.get_hold(hold.hold_id).state == "open"


# -- adjustments and transfers ----------------------------------------------------


def test_adjustments(funded, ctx):
    funded.adjust("ml-proj", "100", ctx=ctx, reason="top-up")
    funded.adjust("ml-proj", "-50", ctx=ctx, reason="correction")
    hold = funded.create_hold("ml-proj", "10", ctx=ctx, partition="gpu-aws")
    funded.post_hold(hold.hold_id, "10", ctx=ctx)
    funded.adjust(
        "ml-proj", "-4", ctx=ctx, reason="refund bad node", target="used", partition="gpu-aws"
    )
    account = funded.get_account("ml-proj")
    assert (account.limit_amount, account.used_amount) == (Decimal("1050"), Decimal("6"))
    (cap,) = funded.partition_limits("ml-proj")
    assert cap.used_amount == Decimal("6")
    before = snapshot(funded)
    with pytest.raises(InsufficientFundsError, match=r"has \$1,044.00 available"):
        funded.adjust("ml-proj", "-2000", ctx=ctx, reason="too much")
    with pytest.raises(ValidationError, match="more than the"):
        funded.adjust("ml-proj", "-7", ctx=ctx, reason="too much", target="used")
    with pytest.raises(ValidationError, match="needs a reason"):
        funded.adjust("ml-proj", "5", ctx=ctx, reason="  ")
    assert snapshot(funded) == before


def test_set_limit_cannot_drop_below_what_is_committed(funded, ctx):
    funded.create_hold("ml-proj", "100", ctx=ctx)  # 120 held
    assert funded.set_limit("ml-proj", "500", ctx=ctx, reason="cut").limit == Decimal("500")
    with pytest.raises(InsufficientFundsError, match="below the"):
        funded.set_limit("ml-proj", "100", ctx=ctx, reason="cut")
    (latest, *_) = funded.journal(account="ml-proj")
    assert (latest.kind, latest.limit_delta, latest.memo) == (
        EntryKind.ADJUSTMENT,
        Decimal("-500"),
        "cut",
    )


def test_transfer_moves_limit_between_accounts(funded, ctx):
    funded.create_account("other", ctx=ctx, limit="10")
    result = funded.transfer("ml-proj", "other", "400", ctx=ctx, reason="shared project")
    assert result.available == Decimal("600")
    assert funded.get_account("other").available == Decimal("410")
    out, into = sorted(funded.journal(limit=2), key=lambda e: e.id)
    assert out.correlation_id == into.correlation_id
    assert (out.limit_delta, into.limit_delta) == (Decimal("-400"), Decimal("400"))
    before = snapshot(funded)
    with pytest.raises(InsufficientFundsError):
        funded.transfer("ml-proj", "other", "600.01", ctx=ctx, reason="x")
    with pytest.raises(NotFoundError) as info:
        funded.transfer("ml-proj", "ghost", "1", ctx=ctx, reason="x")
    assert info.value.field == "destination"
    with pytest.raises(ValidationError):
        funded.transfer("ml-proj", "ml-proj", "1", ctx=ctx, reason="x")
    assert snapshot(funded) == before


def test_journal_rows_carry_the_audit_trail(funded):
    request = Context(
        actor="slurmctld",
        source=Source.PLUGIN,
        correlation_id="req-9",
        idempotency_key=IdempotencyKey.client("job-9"),
    )
    hold = funded.create_hold(
        "ml-proj",
        "10",
        ctx=request,
        job_id="9",
        user_name="bob",
        partition="gpu-aws",
        metadata={"research_domain": "ml", "grant_number": "NSF-1", "project_code": "P7"},
    )
    (row,) = funded.journal(hold_id=hold.hold_id)
    assert (row.actor, row.source, row.correlation_id, row.idempotency_key) == (
        "slurmctld",
        "plugin",
        "req-9",
        "client:job-9",
    )
    assert (row.job_id, row.user_name, row.partition) == ("9", "bob", "gpu-aws")
    assert row.job_metadata["grant_number"] == "NSF-1"
    assert row.created_at.tzinfo is not None


# -- composing use cases and late charges -----------------------------------------


def test_use_cases_in_one_unit_of_work_commit_all_or_nothing(funded, ctx):
    funded.create_account("other", ctx=ctx)
    before = snapshot(funded)

    def deposit_then_overdraw(session: Session) -> None:
        funded.deposit("ml-proj", "5", ctx=ctx)
        funded.transfer("ml-proj", "other", "5000", ctx=ctx, reason="too much")

    with pytest.raises(InsufficientFundsError):
        funded.run(deposit_then_overdraw)
    assert snapshot(funded) == before

    def deposit_overdraw_and_fit(session: Session) -> None:
        funded.deposit("ml-proj", "5", ctx=ctx)
        with pytest.raises(InsufficientFundsError):  # fails inside its savepoint only
            funded.transfer("ml-proj", "other", "5000", ctx=ctx, reason="too much")
        funded.transfer("ml-proj", "other", "5", ctx=ctx, reason="fits")
        # Reads inside the unit of work see its own writes, on the same session.
        assert funded.get_account("other").limit_amount == Decimal("5")

    funded.run(deposit_overdraw_and_fit)
    assert funded.get_account("ml-proj").limit_amount == Decimal("1000")
    assert funded.get_account("other").limit_amount == Decimal("5")


def test_a_job_that_ran_is_charged_even_after_its_hold_expired(funded, clock):
    hold = funded.create_hold("ml-proj", "10", ctx=keyed("h"))
    clock.advance(timedelta(hours=25))
    funded.expire_holds(ctx=keyed("sweep"))
    with pytest.raises(HoldResolvedError):
        funded.post_hold(hold.hold_id, "9", ctx=keyed("r1"))
    late = funded.post_hold(hold.hold_id, "9", ctx=keyed("r2"), late=True, job_id="77")
    # Resolved is final: the hold stays expired; the cost is a late charge linked to it.
    assert (late.charged, late.overrun, late.released, late.state, late.late) == (
        Decimal("9"),
        Decimal("9"),
        Decimal("0"),
        "expired",
        True,
    )
    assert funded.post_hold(hold.hold_id, "9", ctx=keyed("r2"), late=True, job_id="77").replayed
    account = funded.get_account("ml-proj")
    assert (account.used_amount, account.held_amount) == (Decimal("9"), Decimal("0"))
    (charge, *_) = funded.journal(hold_id=hold.hold_id)
    assert (charge.kind, charge.overrun, charge.job_id) == (EntryKind.LATE_CHARGE, True, "77")
    assert "after the hold was expired" in charge.memo
