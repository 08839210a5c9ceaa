"""Recurring allocations on real databases (SQLite and PostgreSQL): each instalment credited
exactly once -- day by day, after downtime, between racing schedulers -- and the unspent rest
of a period expired without touching held or used money."""

from __future__ import annotations

import threading
import time as clock_time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import func, select

from asbb_core.funding.allocations import (
    Allocations,
    AllocationScheduler,
    ProcessSummary,
    instalment,
    period_end,
    planned_instalments,
)
from asbb_core.funding.views import ScheduleDetailView
from asbb_core.ledger import Ledger
from asbb_core.ledger.verify import verify_ledger
from asbb_core.settings import Settings
from asbb_core.store.database import Database
from asbb_core.store.models import (
    AllocationCredit,
    AllocationSchedule,
    CreditOutcome,
    EntryKind,
    JournalEntry,
    ScheduleStatus,
)
from asbb_core.values.context import Context, IdempotencyKey, Source
from asbb_core.values.errors import (
    AccountInactiveError,
    AsbbError,
    ConflictError,
    NotFoundError,
    ValidationError,
)
from tests.processes import racing_processes


def at(clock, day: date, hour: int = 12) -> date:
    """Move the test clock to ``day`` at ``hour`` (UTC); returns the day."""
    clock.now = datetime.combine(day, time(hour), tzinfo=UTC)
    return day


def assert_verified(db: Database) -> None:
    report = verify_ledger(db)
    assert report.ok, [str(p) for p in report.problems]


def journal_rows(db: Database, kind: EntryKind) -> list[JournalEntry]:
    return db.read(
        lambda s: list(
            s.exec(select(JournalEntry).where(JournalEntry.kind == kind).order_by(JournalEntry.id))
        )
    )


def count_rows(db: Database, model: type) -> int:
    return db.read(lambda s: s.exec(select(func.count()).select_from(model)).one())


@pytest.fixture
def allocations(ledger: Ledger, ctx: Context, clock) -> Allocations:
    at(clock, date(2026, 1, 1), hour=9)
    ledger.create_account("physics", ctx=ctx)
    ledger.create_account("ml-proj", ctx=ctx, limit="1000")
    return Allocations(ledger)


def monthly(allocations: Allocations, ctx: Context, **kwargs) -> AllocationSchedule:
    args = {
        "amount": "100",
        "frequency": "monthly",
        "start_date": date(2026, 1, 1),
        "instalments": 6,
    }
    args.update(kwargs)
    account = args.pop("account", "physics")
    return allocations.create_schedule(account, ctx=ctx, **args)


# ---------------------------------------------------------------- the plan


@pytest.mark.parametrize(
    ("total", "count", "last"),
    [("600", 6, "100.00"), ("650", 7, "50.00"), ("100", 1, "100.00"), ("100.01", 2, "0.01")],
)
def test_total_fixes_the_count_and_the_last_instalment_is_the_rest(
    allocations, ctx, total, count, last
):
    schedule = monthly(allocations, ctx, total=total, instalments=None)

    plan = planned_instalments(schedule)

    assert schedule.instalments == count
    assert schedule.total == Decimal(total)
    assert [p.amount for p in plan[:-1]] == [Decimal("100.00")] * (count - 1)
    assert plan[-1].amount == Decimal(last)
    assert sum(p.amount for p in plan) == Decimal(total)
    assert plan[0].due_date == date(2026, 1, 1)
    assert count == 1 or plan[1].due_date == date(2026, 2, 1)


def test_end_date_includes_every_due_date_up_to_it(allocations, ctx):
    weekly = allocations.create_schedule(
        "physics",
        amount="25",
        frequency="weekly",
        start_date="2026-01-01",
        end_date="2026-01-29",
        ctx=ctx,
    )
    quarterly = allocations.create_schedule(
        "physics",
        amount="1000",
        frequency="quarterly",
        start_date=date(2026, 1, 31),
        end_date=date(2026, 10, 30),
        ctx=ctx,
    )

    assert (weekly.instalments, weekly.total) == (5, Decimal("125.00"))
    assert [p.due_date for p in planned_instalments(quarterly)] == [
        date(2026, 1, 31),
        date(2026, 4, 30),
        date(2026, 7, 31),
    ]
    assert period_end(quarterly, 2) == date(2026, 10, 31)


# ---------------------------------------------------------------- crediting exactly once


def test_a_twelve_month_schedule_stepped_through_a_year_of_days_credits_twelve_times(
    allocations, ledger, ctx, clock
):
    schedule = allocations.create_schedule(
        "physics",
        amount="83.33",
        frequency="monthly",
        start_date=date(2026, 1, 31),  # clamped to 28 Feb, 30 Apr ... never drifting
        instalments=12,
        ctx=ctx,
        memo="FY26 compute",
    )
    day = date(2026, 1, 1)
    credited_on: list[date] = []
    while day <= date(2027, 2, 28):
        at(clock, day, hour=0)
        summary = allocations.process_due(ctx=ctx)
        credited_on += [day for _ in summary.credited]
        assert not summary.errors
        day += timedelta(days=1)

    plan = planned_instalments(schedule)
    assert credited_on == [p.due_date for p in plan]  # each on the day it fell due
    assert plan[1].due_date == date(2026, 2, 28)
    assert plan[2].due_date == date(2026, 3, 31)
    account = ledger.get_account("physics")
    assert account.limit_amount == Decimal("999.96")
    rows = journal_rows(ledger.db, EntryKind.ALLOCATION)
    assert [r.amount for r in rows] == [Decimal("83.33")] * 12
    assert all(r.memo.endswith("FY26 compute") for r in rows)
    info = allocations.get_schedule(schedule.id)
    assert info.schedule.status == ScheduleStatus.COMPLETED
    assert info.credited == Decimal("999.96")
    assert info.next_due is None
    assert [c.entry_id for c in info.credits] == [r.id for r in rows]
    assert_verified(ledger.db)


def test_after_three_months_down_one_run_catches_up_exactly_the_missed_ones(
    allocations, ledger, ctx, clock
):
    schedule = monthly(allocations, ctx, instalments=12)
    at(clock, date(2026, 1, 1))
    assert len(allocations.process_due(ctx=ctx).credited) == 1

    # Down from 2 January to 10 April: February, March and April were missed.
    at(clock, date(2026, 4, 10))
    assert allocations.count_due() == 3
    summary = allocations.process_due(ctx=ctx)

    assert [(e.period, e.due_date) for e in summary.credited] == [
        (1, date(2026, 2, 1)),
        (2, date(2026, 3, 1)),
        (3, date(2026, 4, 1)),
    ]
    assert summary.total_credited == Decimal("300.00")
    again = allocations.process_due(ctx=ctx)
    assert again.credited == []
    assert again.expired == []
    assert allocations.count_due() == 0
    assert ledger.get_account("physics").limit_amount == Decimal("400.00")
    assert allocations.get_schedule(schedule.id).schedule.next_period == 4
    assert_verified(ledger.db)


def test_a_start_date_in_the_past_is_caught_up_and_today_defaults_to_the_clock(
    allocations, ledger, ctx, clock
):
    at(clock, date(2026, 3, 15))
    monthly(allocations, ctx, start_date=date(2025, 12, 15), instalments=12)

    assert len(allocations.process_due(ctx=ctx).credited) == 4  # Dec, Jan, Feb, Mar
    assert len(allocations.process_due(ctx=ctx, today=date(2026, 5, 14)).credited) == 1


def _race(ledger: Ledger, workers: int, today: date) -> list[ProcessSummary]:
    start = threading.Barrier(workers)

    def worker(n: int) -> ProcessSummary:
        allocations = Allocations(ledger)
        start.wait()
        return allocations.process_due(
            ctx=Context(actor=f"scheduler-{n}", source=Source.SCHEDULER), today=today
        )

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(worker, range(workers)))


def _racing_schedules(allocations: Allocations, ctx: Context) -> None:
    for account in ("physics", "ml-proj"):
        monthly(allocations, ctx, account=account, instalments=12)
    monthly(allocations, ctx, amount="7.77", frequency="weekly", total="77", instalments=None)
    monthly(allocations, ctx, account="ml-proj", unspent="expire", instalments=4)


def _assert_credited_once(ledger: Ledger, credited: int, expired: int) -> None:
    db = ledger.db
    # 12 + 12 monthly, 10 weekly ($77 at $7.77: nine and $7.07), 4 expiring (all expired)
    assert credited == 38
    assert expired == 4
    assert count_rows(db, AllocationCredit) == 38
    assert len(journal_rows(db, EntryKind.ALLOCATION)) == 38
    assert len(journal_rows(db, EntryKind.EXPIRY)) == 4
    assert ledger.get_account("physics").limit_amount == Decimal("1277.00")
    # ml-proj: 1000 own + 1200 + 400 allocated, the 4 expiring instalments taken back
    assert ledger.get_account("ml-proj").limit_amount == Decimal("2200.00")
    assert_verified(db)


def test_racing_schedulers_in_threads_credit_each_instalment_once(allocations, ledger, ctx):
    _racing_schedules(allocations, ctx)

    summaries = _race(ledger, 8, date(2027, 6, 1))

    _assert_credited_once(
        ledger,
        sum(len(s.credited) for s in summaries),
        sum(len(s.expired) for s in summaries),
    )
    assert all(not s.errors for s in summaries)


def _process_worker(url: str, n: int, barrier, today: date) -> tuple[int, int]:
    db = Database(url, pool_size=2)
    try:
        allocations = Allocations(Ledger(db, Settings(database={"url": url})))
        barrier.wait()
        summary = allocations.process_due(
            ctx=Context(actor=f"daemon-{n}", source=Source.SCHEDULER), today=today
        )
        return len(summary.credited), len(summary.expired)
    finally:
        db.dispose()


@pytest.mark.slow
def test_racing_schedulers_in_processes_credit_each_instalment_once(
    allocations, ledger, ctx, migrated_url
):
    _racing_schedules(allocations, ctx)
    racers = racing_processes()
    workers = 4
    barrier = racers.Manager().Barrier(workers)

    with racers.Pool(workers) as pool:
        results = pool.starmap(
            _process_worker,
            [(migrated_url, n, barrier, date(2027, 6, 1)) for n in range(workers)],
        )

    _assert_credited_once(ledger, sum(c for c, _ in results), sum(e for _, e in results))


def test_a_lost_race_on_the_unique_row_is_re_read_not_credited_twice(
    allocations, ledger, ctx, clock
):
    """Should a racer get past the lock (it may not, but the constraint is the backstop), the
    unique (schedule, period) row refuses its credit and it moves on."""
    schedule = monthly(allocations, ctx, instalments=2)
    at(clock, date(2026, 2, 1))
    allocations.process_due(ctx=ctx)

    # Rewind the cursor by hand, as a stale reader would see it.
    def rewind(session):
        row = session.get(AllocationSchedule, schedule.id)
        row.next_period = 1
        row.status = ScheduleStatus.ACTIVE

    ledger.db.run(rewind)
    with pytest.raises(IntegrityError):
        allocations._step(schedule.id, date(2026, 2, 1), ctx)
    assert ledger.get_account("physics").limit_amount == Decimal("200.00")
    assert_verified(ledger.db)


# ---------------------------------------------------------------- unspent money


def _charge(ledger: Ledger, ctx: Context, account: str, amount: str) -> None:
    hold = ledger.create_hold(account, amount, ctx=ctx, buffer="1")
    ledger.post_hold(hold.hold_id, amount, ctx=ctx)


def test_expiry_takes_back_only_what_is_left_of_the_instalment(allocations, ledger, ctx, clock):
    schedule = monthly(allocations, ctx, account="ml-proj", instalments=2, unspent="expire")
    at(clock, date(2026, 1, 1))
    allocations.process_due(ctx=ctx)
    at(clock, date(2026, 1, 10))
    _charge(ledger, ctx, "ml-proj", "30")  # spent in January
    at(clock, date(2026, 1, 20))
    ledger.create_hold("ml-proj", "50", ctx=ctx, buffer="1")  # still running at month end

    at(clock, date(2026, 2, 1))
    summary = allocations.process_due(ctx=ctx)

    # 100 allocated, 30 of it spent: 70 expires (the account's own 1000 is not touched)
    assert [(e.action, e.period, e.amount) for e in summary.events] == [
        ("expired", 0, Decimal("70.00")),
        ("credited", 1, Decimal("100.00")),
    ]
    account = ledger.get_account("ml-proj")
    assert account.limit_amount == Decimal("1130.00")
    assert (account.used_amount, account.held_amount) == (Decimal("30.00"), Decimal("50.00"))
    (expiry,) = journal_rows(ledger.db, EntryKind.EXPIRY)
    assert (expiry.amount, expiry.limit_delta) == (Decimal("70.00"), Decimal("-70.00"))
    credit = allocations.get_schedule(schedule.id).credits[0]
    assert (credit.expired_amount, credit.expiry_entry_id) == (Decimal("70.00"), expiry.id)
    # Expired once: running again takes nothing more.
    assert allocations.process_due(ctx=ctx).expired == []
    assert_verified(ledger.db)


def test_expiry_never_takes_held_money_and_completes_after_the_last_period(
    allocations, ledger, ctx, clock
):
    schedule = monthly(allocations, ctx, instalments=2, unspent="expire")
    at(clock, date(2026, 1, 1))
    allocations.process_due(ctx=ctx)
    at(clock, date(2026, 1, 20))
    ledger.create_hold("physics", "80", ctx=ctx, buffer="1")

    at(clock, date(2026, 2, 1))
    first = allocations.process_due(ctx=ctx)

    # Nothing of the instalment was spent, but 80 of it is held: only 20 can go.
    assert [e.amount for e in first.expired] == [Decimal("20.00")]
    account = ledger.get_account("physics")
    assert account.held_amount == Decimal("80.00")
    assert account.available == Decimal("100.00")  # February's instalment
    assert allocations.get_schedule(schedule.id).schedule.status == ScheduleStatus.ACTIVE

    at(clock, date(2026, 3, 1))  # February's period ends one month after its due date
    last = allocations.process_due(ctx=ctx)

    assert [e.amount for e in last.expired] == [Decimal("100.00")]
    assert last.completed == [schedule.id]
    account = ledger.get_account("physics")
    assert (account.available, account.held_amount) == (Decimal("0.00"), Decimal("80.00"))
    assert allocations.get_schedule(schedule.id).schedule.status == ScheduleStatus.COMPLETED
    assert_verified(ledger.db)


def test_carry_over_keeps_unspent_money(allocations, ledger, ctx, clock):
    schedule = monthly(allocations, ctx, instalments=2)
    at(clock, date(2026, 1, 1))
    allocations.process_due(ctx=ctx)
    at(clock, date(2026, 2, 1))
    summary = allocations.process_due(ctx=ctx)
    at(clock, date(2026, 6, 1))
    later = allocations.process_due(ctx=ctx)

    assert summary.expired == []
    assert later.expired == []
    assert later.credited == []
    assert summary.completed == [schedule.id]
    assert ledger.get_account("physics").limit_amount == Decimal("200.00")
    assert journal_rows(ledger.db, EntryKind.EXPIRY) == []


def test_catching_up_an_expiring_schedule_expires_the_ended_periods(
    allocations, ledger, ctx, clock
):
    monthly(allocations, ctx, instalments=6, unspent="expire")
    at(clock, date(2026, 3, 15))
    assert allocations.count_due() == 5  # 3 credits, 2 expiries

    summary = allocations.process_due(ctx=ctx)

    assert [(e.action, e.period) for e in summary.events] == [
        ("credited", 0),
        ("expired", 0),
        ("credited", 1),
        ("expired", 1),
        ("credited", 2),
    ]
    assert ledger.get_account("physics").limit_amount == Decimal("100.00")  # March's
    assert_verified(ledger.db)


# ---------------------------------------------------------------- pause, resume, cancel


def test_resume_skips_what_fell_due_while_paused(allocations, ledger, ctx, clock):
    schedule = monthly(allocations, ctx)
    at(clock, date(2026, 1, 1))
    allocations.process_due(ctx=ctx)
    at(clock, date(2026, 1, 15))
    paused = allocations.pause(schedule.id, ctx)
    assert paused.schedule.status == ScheduleStatus.PAUSED
    assert paused.next_due == date(2026, 2, 1)

    at(clock, date(2026, 4, 15))
    assert allocations.process_due(ctx=ctx).credited == []  # paused: nothing moves
    summary = allocations.resume(schedule.id, ctx)

    assert [(e.action, e.period) for e in summary.skipped] == [
        ("skipped", 1),
        ("skipped", 2),
        ("skipped", 3),
    ]
    assert summary.credited == []
    info = allocations.get_schedule(schedule.id)
    assert [c.outcome for c in info.credits] == [CreditOutcome.CREDITED] + [
        CreditOutcome.SKIPPED
    ] * 3
    assert all(c.entry_id is None for c in info.credits[1:])
    assert info.next_due == date(2026, 5, 1)
    assert info.schedule.paused_at is None
    assert ledger.get_account("physics").limit_amount == Decimal("100.00")
    at(clock, date(2026, 5, 1))
    assert [e.period for e in allocations.process_due(ctx=ctx).credited] == [4]
    assert_verified(ledger.db)


def test_resume_with_catch_up_credits_what_fell_due_while_paused(allocations, ledger, ctx, clock):
    schedule = monthly(allocations, ctx)
    at(clock, date(2026, 1, 1))
    allocations.process_due(ctx=ctx)
    at(clock, date(2026, 1, 15))
    allocations.pause(schedule.id, ctx)
    at(clock, date(2026, 4, 15))

    summary = allocations.resume(schedule.id, ctx, catch_up=True)

    assert [e.period for e in summary.credited] == [1, 2, 3]
    assert summary.skipped == []
    assert ledger.get_account("physics").limit_amount == Decimal("400.00")
    assert allocations.get_schedule(schedule.id).schedule.status == ScheduleStatus.ACTIVE


def test_pausing_first_credits_what_fell_due_before_the_pause(allocations, ledger, ctx, clock):
    schedule = monthly(allocations, ctx)
    at(clock, date(2026, 2, 10))  # the scheduler never ran: January and February are owed

    allocations.pause(schedule.id, ctx)
    at(clock, date(2026, 3, 20))
    summary = allocations.resume(schedule.id, ctx)

    assert [e.period for e in summary.skipped] == [2]
    assert ledger.get_account("physics").limit_amount == Decimal("200.00")


def test_pause_resume_and_cancel_refuse_the_wrong_state(allocations, ledger, ctx, clock):
    schedule = monthly(allocations, ctx)
    with pytest.raises(ConflictError) as caught:
        allocations.resume(schedule.id, ctx)
    assert caught.value.field == "id"
    assert "active" in caught.value.message

    allocations.pause(schedule.id, ctx)
    with pytest.raises(ConflictError):
        allocations.pause(schedule.id, ctx)
    allocations.cancel(schedule.id, ctx)  # a paused schedule can be cancelled
    for change in (allocations.pause, allocations.resume, allocations.cancel):
        with pytest.raises(ConflictError):
            change(schedule.id, ctx)
    with pytest.raises(NotFoundError):
        allocations.pause(10**6, ctx)


def test_cancel_stops_future_instalments_and_keeps_what_was_credited(
    allocations, ledger, ctx, clock
):
    schedule = monthly(allocations, ctx, unspent="expire")
    at(
        clock,
        date(
            2026,
            2,
            1,
        ),
    )
    allocations.process_due(ctx=ctx)  # January credited (then expired), February credited
    limit = ledger.get_account("physics").limit_amount

    cancelled = allocations.cancel(schedule.id, ctx)
    at(clock, date(2026, 12, 1))
    summary = allocations.process_due(ctx=ctx)

    assert cancelled.schedule.status == ScheduleStatus.CANCELLED
    assert cancelled.next_due is None
    assert summary.credited == []
    assert summary.expired == []
    assert ledger.get_account("physics").limit_amount == limit == Decimal("100.00")
    assert allocations.list_schedules(status="cancelled")[0].id == schedule.id


# ---------------------------------------------------------------- one-off, listing, errors


def test_a_one_off_allocation_is_journaled_as_an_allocation(allocations, ledger, ctx):
    keyed = Context(
        actor="ops", source=Source.CLI, idempotency_key=IdempotencyKey.client("grant-topup-7")
    )

    first = allocations.allocate_once("physics", "250", ctx=keyed, memo="top-up")
    again = allocations.allocate_once("physics", "250", ctx=keyed, memo="top-up")

    assert (first.amount, first.limit, first.replayed) == (Decimal(250), Decimal(250), False)
    assert again.replayed
    assert again.entry_ids == first.entry_ids
    (row,) = journal_rows(ledger.db, EntryKind.ALLOCATION)
    assert (row.amount, row.limit_delta, row.memo, row.actor) == (
        Decimal("250.00"),
        Decimal("250.00"),
        "top-up",
        "ops",
    )
    with pytest.raises(ValidationError) as caught:
        allocations.allocate_once("physics", "0", ctx=ctx)
    assert caught.value.field == "amount"


def test_list_and_get_schedules(allocations, ctx, clock):
    a = monthly(allocations, ctx)
    b = monthly(allocations, ctx, account="ml-proj", unspent="expire")
    at(clock, date(2026, 2, 1))
    allocations.process_due(ctx=ctx)

    assert [i.id for i in allocations.list_schedules()] == [a.id, b.id]
    (mine,) = allocations.list_schedules("physics")
    assert (mine.account, mine.credited, mine.expired, mine.credits) == (
        "physics",
        Decimal("200.00"),
        Decimal("0.00"),
        [],
    )
    (other,) = allocations.list_schedules(accounts={"ml-proj"})
    assert other.expired == Decimal("100.00")
    assert allocations.list_schedules(status="completed") == []
    detail = allocations.get_schedule(b.id)
    assert [c.period for c in detail.credits] == [0, 1]
    assert ScheduleDetailView.of(detail).record()["credits"][0]["expired_amount"] == Decimal(
        "100.00"
    )
    with pytest.raises(NotFoundError):
        allocations.get_schedule(999)
    with pytest.raises(NotFoundError):
        allocations.list_schedules("nobody")
    with pytest.raises(ValidationError) as caught:
        allocations.list_schedules(status="running")
    assert caught.value.field == "status"


BASE = {"amount": "100", "frequency": "monthly", "start_date": "2026-01-01", "instalments": 3}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"amount": "0"}, "amount"),
        ({"amount": "-5"}, "amount"),
        ({"amount": 1.5}, "amount"),
        ({"amount": "1.005"}, "amount"),
        ({"frequency": "fortnightly"}, "frequency"),
        ({"start_date": "2026-13-01"}, "start_date"),
        ({"start_date": None}, "start_date"),
        ({"start_date": "9999-06-01", "frequency": "yearly"}, "start_date"),
        ({"start_date": "9999-12-20", "frequency": "weekly"}, "start_date"),
        ({"instalments": None}, "total"),
        ({"total": "600"}, "instalments"),
        ({"instalments": None, "total": "99"}, "total"),
        ({"instalments": None, "total": "0"}, "total"),
        ({"instalments": None, "total": "1000001"}, "total"),
        ({"instalments": None, "end_date": "2025-12-31"}, "end_date"),
        ({"instalments": None, "end_date": "soon"}, "end_date"),
        ({"instalments": 0}, "instalments"),
        ({"instalments": True}, "instalments"),
        ({"instalments": 10_001}, "instalments"),
        ({"unspent": "keep"}, "unspent"),
        ({"memo": "x" * 501}, "memo"),
        ({"account": "nobody"}, "account"),
        ({"account": "Not A Name!"}, "account"),
    ],
)
def test_bad_input_names_the_field_and_changes_nothing(allocations, ctx, changes, field):
    args = {**BASE, **changes}
    account = args.pop("account", "physics")

    with pytest.raises(AsbbError) as caught:
        allocations.create_schedule(account, ctx=ctx, **args)

    assert caught.value.field == field
    assert caught.value.message.startswith(f"{field}: ") or field == "account"
    assert count_rows(allocations.db, AllocationSchedule) == 0


def test_a_closed_account_takes_no_new_schedule_and_its_schedule_reports_an_error(
    allocations, ledger, ctx, clock
):
    stuck = monthly(allocations, ctx)
    fine = monthly(allocations, ctx, account="ml-proj")
    ledger.update_account("physics", ctx=ctx, status="closed")
    with pytest.raises(AccountInactiveError):
        monthly(allocations, ctx)

    at(clock, date(2026, 1, 1))
    summary = allocations.process_due(ctx=ctx)

    assert [e.schedule_id for e in summary.credited] == [fine.id]
    assert [(f.schedule_id, f.code) for f in summary.errors] == [(stuck.id, "account_inactive")]
    assert allocations.get_schedule(stuck.id).credits == []  # rolled back, retried next run
    assert_verified(ledger.db)


def test_the_scheduler_credits_in_the_background(allocations, ledger, ctx, clock):
    monthly(allocations, ctx, instalments=3)
    at(clock, date(2026, 3, 1))
    scheduler = AllocationScheduler(ledger, 0.05)
    scheduler.start()
    try:
        deadline = clock_time.monotonic() + 20
        while ledger.get_account("physics").limit_amount < 300:
            assert clock_time.monotonic() < deadline, "the scheduler credited nothing"
            clock_time.sleep(0.05)
    finally:
        scheduler.stop()
    rows = journal_rows(ledger.db, EntryKind.ALLOCATION)
    assert [(r.actor, r.source) for r in rows] == [("scheduler", Source.SCHEDULER)] * 3
    assert ledger.get_account("physics").limit_amount == Decimal("300.00")


def test_instalment_matches_the_plan(allocations, ctx):
    schedule = monthly(allocations, ctx, total="650", instalments=None)
    assert [instalment(schedule, k) for k in range(7)] == planned_instalments(schedule)
