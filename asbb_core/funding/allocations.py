"""Recurring allocations: a budget paid into an account in instalments.

The plan of a schedule (which instalment falls due when, for how much) is pure arithmetic
over the schedule's row; crediting is done by the ledger, each instalment exactly once.

How "exactly once" holds, across restarts and between racing schedulers (threads, processes,
several daemons): every instalment (and every expiry) is its own transaction
(one unit of work) that first locks the schedule's row (``SELECT ... FOR UPDATE`` on
PostgreSQL; ``BEGIN IMMEDIATE`` holds the database on SQLite), re-reads its cursor
(``next_period``), inserts the instalment's ``allocation_credits`` row -- unique per
(schedule, period) -- and only then deposits the money. A crash rolls all of it back (the next
run credits it); a racer waits for the lock and finds the cursor moved; should it get past the
lock anyway, the unique row refuses the second credit and it re-reads and moves on.

Periods: instalment ``k`` falls due on ``due_date(start, frequency, k)`` and its period ends on
the next one's due date (for the last, one frequency step after its own). With
``unspent=expire`` the money of an instalment not spent in its period is taken back when the
period ends: at most what is left of that instalment (its amount less the usage charged in the
period), and never more than the account has available -- held and used money stay.

>>> allocations = Allocations(ledger)                                        # doctest: +SKIP
>>> s = allocations.create_schedule("physics", amount="100", total="600",
...                                 frequency="monthly", start_date=date(2026, 1, 1), ctx=ctx)
>>> allocations.process_due(ctx=ctx, today=date(2026, 3, 15)).total_credited   # 300.00
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time
from decimal import ROUND_CEILING, Decimal
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from asbb_core.ledger import Ledger, MovementResult
from asbb_core.store import audit
from asbb_core.store.models import (
    Account,
    AccountStatus,
    AllocationCredit,
    AllocationSchedule,
    CreditOutcome,
    EntryKind,
    JournalEntry,
    ScheduleStatus,
    UnspentPolicy,
)
from asbb_core.store.operations import Operation
from asbb_core.store.periodic import PeriodicTask
from asbb_core.values.context import Context, Source
from asbb_core.values.errors import (
    AccountInactiveError,
    AsbbError,
    ConflictError,
    NotFoundError,
    ValidationError,
)
from asbb_core.values.money import ZERO, parse_money
from asbb_core.values.periods import Frequency, count_until, due_date, parse_date, parse_frequency
from asbb_core.values.text import clean_text, normalise_account_name

log = logging.getLogger("asbb.allocations")

MAX_ID = 2**63 - 1
MAX_INSTALMENTS = 10_000
"""Daily for more than 27 years; a larger count is a typo."""
_TEXT_LIMIT = 500


@dataclass(frozen=True)
class Instalment:
    period: int
    """0-based index of the instalment in its schedule."""
    due_date: date
    amount: Decimal


def planned_instalments(schedule: AllocationSchedule) -> list[Instalment]:
    """Every instalment of ``schedule``: ``amount`` each, the last one smaller when ``total``
    is not a multiple of it."""
    plan: list[Instalment] = []
    for k in range(schedule.instalments):
        amount = min(schedule.amount, schedule.total - schedule.amount * k)
        plan.append(Instalment(k, due_date(schedule.start_date, schedule.frequency, k), amount))
    return plan


def instalment(schedule: AllocationSchedule, k: int) -> Instalment:
    """Instalment ``k`` of ``schedule`` (one element of ``planned_instalments``)."""
    amount = min(schedule.amount, schedule.total - schedule.amount * k)
    return Instalment(k, due_date(schedule.start_date, schedule.frequency, k), amount)


def period_end(schedule: AllocationSchedule, k: int) -> date:
    """The day instalment ``k``'s period ends (exclusive): the next instalment's due date,
    or for the last one the date one frequency step after its own."""
    return due_date(schedule.start_date, schedule.frequency, k + 1)


def next_due(schedule: AllocationSchedule) -> date | None:
    """When the next instalment falls due (None once all are credited or skipped)."""
    if schedule.next_period >= schedule.instalments:
        return None
    return due_date(schedule.start_date, schedule.frequency, schedule.next_period)


# ---------------------------------------------------------------- argument checks


def _check_id(schedule_id: object) -> int:
    if isinstance(schedule_id, bool) or not isinstance(schedule_id, int):
        raise ValidationError("id: expected a whole number", field="id")
    if not 1 <= schedule_id <= MAX_ID:
        raise NotFoundError(f"allocation schedule {schedule_id} does not exist", field="id")
    return schedule_id


def _unspent(value: object) -> UnspentPolicy:
    try:
        return UnspentPolicy(str(value).lower())
    except ValueError:
        names = ", ".join(p.value for p in UnspentPolicy)
        raise ValidationError(f"unspent: must be one of {names}", field="unspent") from None


def _status(value: object) -> ScheduleStatus:
    try:
        return ScheduleStatus(str(value).lower())
    except ValueError:
        names = ", ".join(s.value for s in ScheduleStatus)
        raise ValidationError(f"status: must be one of {names}", field="status") from None


def _count(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError("instalments: expected a whole number", field="instalments")
    if not 1 <= value <= MAX_INSTALMENTS:
        raise ValidationError(
            f"instalments: must be from 1 to {MAX_INSTALMENTS}", field="instalments"
        )
    return value


def _clip(memo: str) -> str:
    return memo if len(memo) <= _TEXT_LIMIT else memo[: _TEXT_LIMIT - 3] + "..."


# ---------------------------------------------------------------- results


@dataclass(frozen=True)
class ScheduleInfo:
    """A schedule with its account's name and what it has moved so far."""

    schedule: AllocationSchedule
    account: str
    credited: Decimal
    """The sum of the instalments credited so far."""
    expired: Decimal
    """The sum taken back at period ends (``unspent=expire``)."""
    credits: list[AllocationCredit] = field(default_factory=list)
    """Every instalment credited or skipped, in period order (``get_schedule`` only)."""

    @property
    def id(self) -> int:
        assert self.schedule.id is not None
        return self.schedule.id

    @property
    def next_due(self) -> date | None:
        if self.schedule.status not in (ScheduleStatus.ACTIVE, ScheduleStatus.PAUSED):
            return None
        return next_due(self.schedule)

    @property
    def last_due(self) -> date:
        s = self.schedule
        return due_date(s.start_date, s.frequency, s.instalments - 1)


@dataclass(frozen=True)
class AllocationEvent:
    """One thing a run did: an instalment credited or skipped, or a period's rest expired."""

    schedule_id: int
    account: str
    period: int
    """0-based, as in the schedule's plan."""
    instalments: int
    due_date: date
    action: str
    """credited, skipped or expired."""
    amount: Decimal
    entry_id: int | None
    completed: bool = False
    """This step finished the schedule."""


@dataclass(frozen=True)
class ScheduleFailure:
    """A schedule a run could not move (e.g. its account was closed); retried next run."""

    schedule_id: int
    message: str
    code: str


@dataclass
class ProcessSummary:
    """What one run of ``process_due`` (or a ``resume``) did."""

    today: date
    credited: list[AllocationEvent] = field(default_factory=list)
    skipped: list[AllocationEvent] = field(default_factory=list)
    expired: list[AllocationEvent] = field(default_factory=list)
    completed: list[int] = field(default_factory=list)
    """Schedules this run finished."""
    errors: list[ScheduleFailure] = field(default_factory=list)
    events: list[AllocationEvent] = field(default_factory=list)
    """Everything above, in the order it happened."""

    @property
    def total_credited(self) -> Decimal:
        return sum((e.amount for e in self.credited), ZERO)

    @property
    def total_expired(self) -> Decimal:
        return sum((e.amount for e in self.expired), ZERO)

    def add(self, event: AllocationEvent) -> None:
        self.events.append(event)
        {"credited": self.credited, "skipped": self.skipped, "expired": self.expired}[
            event.action
        ].append(event)
        if event.completed:
            self.completed.append(event.schedule_id)


OnEvent = Callable[[AllocationEvent], None]


# ---------------------------------------------------------------- the service


_VERBS = {"paused": "pause", "resumed": "resume", "cancelled": "cancel"}
"""The audit action of each schedule change."""


class Allocations:
    """Allocation schedules and their instalments; money moves through ``ledger``."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.db = ledger.db

    def today(self) -> date:
        """The ledger clock's date, in UTC."""
        return self.ledger.clock().astimezone(UTC).date()

    # -- creating ------------------------------------------------------------------

    def open_account(
        self,
        name: str,
        *,
        ctx: Context,
        schedule: Mapping[str, Any] | None = None,
        **account: Any,
    ) -> Account:
        """Open an account (``Ledger.create_account``'s arguments) and, with ``schedule``
        (``create_schedule``'s), its allocation schedule: one unit of work, so a schedule the
        rules refuse leaves no account behind."""

        def use_case(session: Session) -> Account:
            opened = self.ledger.create_account(name, ctx=ctx, **account)
            if schedule is not None:
                self.create_schedule(opened.name, ctx=ctx, **schedule)
            return opened

        payload = {"name": name, "account": account, "schedule": dict(schedule or {})}
        return self.ledger.run(use_case, Operation("open_account", payload, actor=ctx.actor))

    def create_schedule(
        self,
        account: str,
        *,
        amount: object,
        frequency: Frequency | str,
        start_date: date | str,
        ctx: Context,
        total: object = None,
        end_date: date | str | None = None,
        instalments: int | None = None,
        unspent: UnspentPolicy | str = UnspentPolicy.CARRY_OVER,
        memo: str = "",
    ) -> AllocationSchedule:
        """Pay ``amount`` into ``account`` every ``frequency`` from ``start_date``.

        Exactly one of ``total`` ($600 at $100 is 6 instalments; $650 is 7, the last $50),
        ``end_date`` (every due date up to and including it) or ``instalments`` (a count)
        says how many. ``unspent``: ``carry_over`` keeps unspent money in the account,
        ``expire`` takes what is left of an instalment back when its period ends.
        Nothing is credited here: ``process_due`` (the daemon's scheduler) credits what is due.
        """
        name = normalise_account_name(account)
        value = parse_money(amount, field="amount", allow_zero=False)
        freq = parse_frequency(frequency)
        start = parse_date(start_date, field="start_date")
        given = [n for n, v in (("total", total), ("end_date", end_date)) if v is not None]
        if instalments is not None:
            given.append("instalments")
        if len(given) != 1:
            field_name = given[1] if len(given) > 1 else "total"
            raise ValidationError(
                f"{field_name}: give exactly one of total, end_date or instalments "
                f"(got {', '.join(given) or 'none'})",
                field=field_name,
            )
        if total is not None:
            whole = parse_money(total, field="total", allow_zero=False)
            if whole < value:
                raise ValidationError(
                    f"total: {whole} is less than one instalment of {value}", field="total"
                )
            count = int((whole / value).to_integral_value(rounding=ROUND_CEILING))
            if count > MAX_INSTALMENTS:
                raise ValidationError(
                    f"total: {whole} at {value} is {count} instalments; at most {MAX_INSTALMENTS}",
                    field="total",
                )
        elif end_date is not None:
            end = parse_date(end_date, field="end_date")
            if end < start:
                raise ValidationError(
                    f"end_date: {end.isoformat()} is before start_date {start.isoformat()}",
                    field="end_date",
                )
            count = count_until(start, freq, end)
            if count > MAX_INSTALMENTS:
                raise ValidationError(
                    f"end_date: {count} {freq} instalments until {end.isoformat()}; at most "
                    f"{MAX_INSTALMENTS}",
                    field="end_date",
                )
            whole = value * count
        else:
            count = _count(instalments)
            whole = value * count
        try:  # the last period's end must be a date the calendar has
            due_date(start, freq, count)
        except (ValueError, OverflowError):
            raise ValidationError(
                f"start_date: {count} {freq} instalments from {start.isoformat()} run past "
                "the year 9999",
                field="start_date",
            ) from None
        policy = _unspent(unspent)
        note = clean_text(memo, field="memo")

        def use_case(session: Session) -> AllocationSchedule:
            found = session.exec(select(Account).where(Account.name == name)).first()
            if found is None:
                raise NotFoundError(f"account {name!r} does not exist", field="account")
            if found.status == AccountStatus.CLOSED:
                raise AccountInactiveError(f"account {name!r} is closed", field="account")
            now = self.ledger.clock()
            row = AllocationSchedule(
                account_id=found.id,  # type: ignore[arg-type]
                amount=value,
                total=whole,
                frequency=freq,
                start_date=start,
                instalments=count,
                unspent=policy,
                memo=note,
                created_by=ctx.actor,
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            session.flush()
            audit.record(
                session,
                ctx,
                "schedule.create",
                f"schedule:{row.id}",
                at=now,
                after={
                    "account": name,
                    "amount": value,
                    "frequency": str(freq),
                    "start_date": start,
                    "instalments": count,
                    "total": whole,
                    "unspent": str(policy),
                    "memo": note,
                },
            )
            return row

        schedule = self.ledger.run(use_case)  # joins the unit of work running here, if any
        log.info(
            "allocation schedule %s created for %s by %s: %s x %d %s from %s",
            schedule.id,
            name,
            ctx.actor,
            value,
            count,
            freq,
            start,
        )
        return schedule

    # -- reading -------------------------------------------------------------------

    def _infos(
        self, session: Session, rows: list[tuple[AllocationSchedule, str]]
    ) -> list[ScheduleInfo]:
        ids = [s.id for s, _ in rows]
        sums: dict[int, tuple[Decimal, Decimal]] = {}
        if ids:
            credited = func.coalesce(
                func.sum(AllocationCredit.amount).filter(
                    col(AllocationCredit.outcome) == CreditOutcome.CREDITED
                ),
                ZERO,
            )
            expired = func.coalesce(func.sum(AllocationCredit.expired_amount), ZERO)
            for sid, paid, taken in session.exec(
                select(AllocationCredit.schedule_id, credited, expired)
                .where(col(AllocationCredit.schedule_id).in_(ids))
                .group_by(col(AllocationCredit.schedule_id))
            ):
                sums[sid] = (Decimal(paid), Decimal(taken))
        infos = []
        for sched, name in rows:
            paid, taken = sums.get(sched.id or 0, (ZERO, ZERO))
            infos.append(ScheduleInfo(sched, name, paid, taken))
        return infos

    def list_schedules(
        self,
        account: str | None = None,
        status: ScheduleStatus | str | None = None,
        *,
        accounts: Collection[str] | None = None,
    ) -> list[ScheduleInfo]:
        """Schedules in creation order, optionally of one account and/or in one status;
        ``accounts`` (a reader's scope) keeps only schedules of those accounts."""
        name = normalise_account_name(account) if account is not None else None
        wanted = _status(status) if status is not None else None

        def query(s: Session) -> list[ScheduleInfo]:
            stmt = select(AllocationSchedule, Account.name).join(
                Account, col(Account.id) == col(AllocationSchedule.account_id)
            )
            if name is not None:
                if s.exec(select(Account.id).where(Account.name == name)).first() is None:
                    raise NotFoundError(f"account {name!r} does not exist", field="account")
                stmt = stmt.where(Account.name == name)
            if wanted is not None:
                stmt = stmt.where(AllocationSchedule.status == wanted)
            if accounts is not None:
                stmt = stmt.where(col(Account.name).in_(sorted(set(accounts))))
            rows = [(sched, n) for sched, n in s.exec(stmt.order_by(col(AllocationSchedule.id)))]
            return self._infos(s, rows)

        return self.db.read(query)

    def get_schedule(self, schedule_id: int) -> ScheduleInfo:
        """One schedule with every instalment credited or skipped so far."""
        sid = _check_id(schedule_id)

        def query(s: Session) -> ScheduleInfo:
            row = s.exec(
                select(AllocationSchedule, Account.name)
                .join(Account, col(Account.id) == col(AllocationSchedule.account_id))
                .where(AllocationSchedule.id == sid)
            ).first()
            if row is None:
                raise NotFoundError(f"allocation schedule {sid} does not exist", field="id")
            (info,) = self._infos(s, [(row[0], row[1])])
            credits = list(
                s.exec(
                    select(AllocationCredit)
                    .where(AllocationCredit.schedule_id == sid)
                    .order_by(col(AllocationCredit.period))
                )
            )
            return ScheduleInfo(info.schedule, info.account, info.credited, info.expired, credits)

        return self.db.read(query)

    def count_due(self, *, today: date | None = None) -> int:
        """How many steps (instalments to credit, periods to expire) ``process_due`` would
        take today: for progress bars; computed from the schedules' cursors, no journal scan."""
        day = today or self.today()

        def query(s: Session) -> int:
            pending = dict(
                s.exec(
                    select(AllocationCredit.schedule_id, func.min(AllocationCredit.period))
                    .join(
                        AllocationSchedule,
                        col(AllocationSchedule.id) == col(AllocationCredit.schedule_id),
                    )
                    .where(
                        AllocationSchedule.status == ScheduleStatus.ACTIVE,
                        AllocationCredit.outcome == CreditOutcome.CREDITED,
                        col(AllocationCredit.expired_at).is_(None),
                        AllocationSchedule.unspent == UnspentPolicy.EXPIRE,
                    )
                    .group_by(col(AllocationCredit.schedule_id))
                ).all()
            )
            steps = 0
            for sched in s.exec(
                select(AllocationSchedule).where(AllocationSchedule.status == ScheduleStatus.ACTIVE)
            ):
                fallen = count_until(sched.start_date, sched.frequency, day)
                steps += max(0, min(sched.instalments, fallen) - sched.next_period)
                if sched.unspent == UnspentPolicy.EXPIRE:
                    first = pending.get(sched.id or 0, sched.next_period)
                    steps += max(0, min(sched.instalments, fallen - 1) - first)
            return steps

        return self.db.read(query)

    # -- crediting -------------------------------------------------------------------

    def process_due(
        self,
        *,
        ctx: Context,
        today: date | None = None,
        on_event: OnEvent | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> ProcessSummary:
        """Credit every instalment due by ``today`` (default: the ledger clock's date, UTC)
        of every active schedule, oldest period first -- all the missed ones after downtime --
        and expire the unspent rest of periods that ended (``unspent=expire``).

        Each step is its own transaction, so a crash loses nothing and a retry credits
        nothing twice; two schedulers racing credit each instalment once. A schedule that
        cannot move (its account closed) is reported in ``errors`` and the others go on.
        """
        day = self.today() if today is None else parse_date(today, field="today")
        summary = ProcessSummary(today=day)
        for sid in self._with_work(day):
            if should_stop is not None and should_stop():
                break
            self._settle(sid, day, ctx, summary, on_event=on_event, should_stop=should_stop)
        if summary.credited or summary.expired or summary.errors:
            log.info(
                "allocations processed for %s: %d credited (%s), %d expired (%s), %d error(s)",
                day,
                len(summary.credited),
                summary.total_credited,
                len(summary.expired),
                summary.total_expired,
                len(summary.errors),
            )
        return summary

    def _with_work(self, day: date) -> list[int]:
        """Active schedules with an instalment due, or a period to expire, by ``day``."""

        def query(s: Session) -> list[int]:
            expiring = set(
                s.exec(
                    select(AllocationCredit.schedule_id)
                    .join(
                        AllocationSchedule,
                        col(AllocationSchedule.id) == col(AllocationCredit.schedule_id),
                    )
                    .where(
                        AllocationSchedule.status == ScheduleStatus.ACTIVE,
                        AllocationSchedule.unspent == UnspentPolicy.EXPIRE,
                        AllocationCredit.outcome == CreditOutcome.CREDITED,
                        col(AllocationCredit.expired_at).is_(None),
                    )
                    .distinct()
                ).all()
            )
            ids: list[int] = []
            for sched in s.exec(
                select(AllocationSchedule)
                .where(AllocationSchedule.status == ScheduleStatus.ACTIVE)
                .order_by(col(AllocationSchedule.id))
            ):
                due = next_due(sched)
                if sched.id in expiring or (due is not None and due <= day):
                    ids.append(sched.id)  # type: ignore[arg-type]
            return ids

        return self.db.read(query)

    def _settle(
        self,
        sid: int,
        day: date,
        ctx: Context,
        summary: ProcessSummary,
        *,
        while_paused: bool = False,
        on_event: OnEvent | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> None:
        """Take every step of one schedule due by ``day``, one transaction each."""
        step_ctx = Context(actor=ctx.actor, source=ctx.source, correlation_id=ctx.correlation_id)
        while should_stop is None or not should_stop():
            try:
                event = self._step(sid, day, step_ctx, while_paused=while_paused)
            except AsbbError as exc:
                log.warning("allocation schedule %s: %s", sid, exc.message)
                summary.errors.append(ScheduleFailure(sid, exc.message, exc.code))
                return
            if event is None:
                return
            summary.add(event)
            if on_event is not None:
                on_event(event)

    @staticmethod
    def _lock(session: Session, sid: int) -> AllocationSchedule:
        stmt = (
            select(AllocationSchedule)
            .where(AllocationSchedule.id == sid)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        row = session.exec(stmt).first()
        if row is None:
            raise NotFoundError(f"allocation schedule {sid} does not exist", field="id")
        return row

    @staticmethod
    def _first_unexpired(session: Session, sched: AllocationSchedule) -> AllocationCredit | None:
        if sched.unspent != UnspentPolicy.EXPIRE:
            return None
        return session.exec(
            select(AllocationCredit)
            .where(
                AllocationCredit.schedule_id == sched.id,
                AllocationCredit.outcome == CreditOutcome.CREDITED,
                col(AllocationCredit.expired_at).is_(None),
            )
            .order_by(col(AllocationCredit.period))
            .limit(1)
            .execution_options(populate_existing=True)
        ).first()

    def _finished(self, session: Session, sched: AllocationSchedule) -> bool:
        if sched.next_period < sched.instalments:
            return False
        return self._first_unexpired(session, sched) is None

    def _step(
        self, sid: int, day: date, ctx: Context, *, while_paused: bool = False
    ) -> AllocationEvent | None:
        """One step of one schedule, in one transaction: expire the oldest ended period, or
        credit the next instalment due -- whichever comes first -- or nothing (None)."""
        allowed = {ScheduleStatus.ACTIVE} | ({ScheduleStatus.PAUSED} if while_paused else set())

        def use_case(session: Session) -> AllocationEvent | None:
            sched = self._lock(session, sid)
            if sched.status not in allowed:
                return None
            account = session.get(Account, sched.account_id)
            assert account is not None  # accounts are never deleted
            pending = self._first_unexpired(session, sched)
            due = next_due(sched)
            if pending is not None and period_end(sched, pending.period) <= day:
                event = self._expire(session, sched, account, pending, ctx)
            elif due is not None and due <= day:
                event = self._credit(session, sched, account, ctx)
            else:
                return None
            if self._finished(session, sched):
                sched.status = ScheduleStatus.COMPLETED
                event = replace(event, completed=True)
            sched.updated_at = self.ledger.clock()
            session.flush()
            return event

        # A racing scheduler that credited this period first: the unique (schedule, period)
        # row refuses ours, and the unit of work runs the step again, which sees it.
        payload = {"schedule": sid, "day": day, "while_paused": while_paused}
        return self.ledger.run(use_case, Operation("allocation_step", payload, actor=ctx.actor))

    def _memo(self, sched: AllocationSchedule, k: int, what: str) -> str:
        memo = f"{what} {k + 1}/{sched.instalments} of allocation schedule #{sched.id}"
        if sched.memo:
            memo += f": {sched.memo}"
        return _clip(memo)

    def _credit(
        self, session: Session, sched: AllocationSchedule, account: Account, ctx: Context
    ) -> AllocationEvent:
        due = instalment(sched, sched.next_period)
        credit = AllocationCredit(
            schedule_id=sched.id,  # type: ignore[arg-type]
            period=due.period,
            due_date=due.due_date,
            amount=due.amount,
            outcome=CreditOutcome.CREDITED,
            created_at=self.ledger.clock(),
        )
        session.add(credit)
        session.flush()  # the unique (schedule, period) row first: a racer fails here
        result = self.ledger.deposit(
            account.name,
            due.amount,
            ctx=ctx,
            memo=self._memo(sched, due.period, f"instalment (due {due.due_date.isoformat()})"),
            kind=EntryKind.ALLOCATION,
        )
        credit.entry_id = result.entry_ids[0]
        sched.next_period = due.period + 1
        return AllocationEvent(
            schedule_id=sched.id,  # type: ignore[arg-type]
            account=account.name,
            period=due.period,
            instalments=sched.instalments,
            due_date=due.due_date,
            action="credited",
            amount=due.amount,
            entry_id=credit.entry_id,
        )

    def _expire(
        self,
        session: Session,
        sched: AllocationSchedule,
        account: Account,
        credit: AllocationCredit,
        ctx: Context,
    ) -> AllocationEvent:
        """Take back what is left of ``credit``'s instalment at its period's end: its amount
        less the usage charged from when it was credited to the period's end, and at most
        what the account has available (the ledger decides that under the account's lock)."""
        ends = datetime.combine(period_end(sched, credit.period), time(0), tzinfo=UTC)
        spent = ZERO
        if credit.created_at < ends:
            used = session.exec(
                select(func.coalesce(func.sum(JournalEntry.used_delta), 0)).where(
                    JournalEntry.account_id == account.id,
                    col(JournalEntry.created_at) >= credit.created_at,
                    col(JournalEntry.created_at) < ends,
                )
            ).one()
            spent = Decimal(used)
        left = min(credit.amount, max(ZERO, credit.amount - spent))
        taken = ZERO
        if left > 0:
            result = self.ledger.expire_unspent(
                account.name,
                left,
                ctx=ctx,
                memo=self._memo(sched, credit.period, "unspent rest of instalment"),
            )
            taken = result.amount
            credit.expiry_entry_id = result.entry_ids[0] if result.entry_ids else None
        credit.expired_amount = taken
        credit.expired_at = self.ledger.clock()
        session.flush()
        return AllocationEvent(
            schedule_id=sched.id,  # type: ignore[arg-type]
            account=account.name,
            period=credit.period,
            instalments=sched.instalments,
            due_date=credit.due_date,
            action="expired",
            amount=taken,
            entry_id=credit.expiry_entry_id,
        )

    # -- pause, resume, cancel -----------------------------------------------------

    def _change(
        self,
        sid: int,
        verb: str,
        allowed: set[ScheduleStatus],
        apply: Callable[[Session, AllocationSchedule], None],
        ctx: Context,
    ) -> None:
        def use_case(session: Session) -> None:
            sched = self._lock(session, sid)
            if sched.status not in allowed:
                wanted = " or ".join(sorted(str(s) for s in allowed))
                raise ConflictError(
                    f"allocation schedule {sid} is {sched.status}; only a {wanted} schedule "
                    f"can be {verb}",
                    field="id",
                    details={"status": str(sched.status)},
                )
            before = {"status": str(sched.status), "next_period": sched.next_period}
            apply(session, sched)
            sched.updated_at = self.ledger.clock()
            session.flush()
            audit.record(
                session,
                ctx,
                f"schedule.{_VERBS[verb]}",
                f"schedule:{sid}",
                at=sched.updated_at,
                before=before,
                after={"status": str(sched.status), "next_period": sched.next_period},
            )

        self.db.run(use_case)

    def pause(self, schedule_id: int, ctx: Context) -> ScheduleInfo:
        """Stop crediting a schedule until it is resumed. What fell due before the pause is
        credited first (it is not the pause's to skip)."""
        sid = _check_id(schedule_id)
        self.get_schedule(sid)  # 404 before anything moves
        day = self.today()
        self._settle(sid, day, ctx, ProcessSummary(today=day))

        def apply(_: Session, sched: AllocationSchedule) -> None:
            sched.status = ScheduleStatus.PAUSED
            sched.paused_at = self.ledger.clock()

        self._change(sid, "paused", {ScheduleStatus.ACTIVE}, apply, ctx)
        log.info("allocation schedule %s paused by %s", sid, ctx.actor)
        return self.get_schedule(sid)

    def resume(self, schedule_id: int, ctx: Context, catch_up: bool = False) -> ProcessSummary:
        """Start a paused schedule again. The instalments that fell due while it was paused
        are recorded as skipped -- or, with ``catch_up=True``, credited now -- and what is due
        today is credited at once."""
        sid = _check_id(schedule_id)
        info = self.get_schedule(sid)
        day = self.today()
        summary = ProcessSummary(today=day)
        paused_at = info.schedule.paused_at
        paused_day = paused_at.astimezone(UTC).date() if paused_at else day
        if info.schedule.status == ScheduleStatus.PAUSED:
            # Whatever fell due before the pause and was not credited yet is owed regardless.
            self._settle(sid, min(day, paused_day), ctx, summary, while_paused=True)

        def apply(session: Session, sched: AllocationSchedule) -> None:
            if not catch_up:
                now = self.ledger.clock()
                for k in range(sched.next_period, sched.instalments):
                    due = instalment(sched, k)
                    if due.due_date > day or due.due_date <= paused_day:
                        break
                    session.add(
                        AllocationCredit(
                            schedule_id=sid,
                            period=k,
                            due_date=due.due_date,
                            amount=due.amount,
                            outcome=CreditOutcome.SKIPPED,
                            created_at=now,
                        )
                    )
                    sched.next_period = k + 1
                    summary.add(
                        AllocationEvent(
                            schedule_id=sid,
                            account=info.account,
                            period=k,
                            instalments=sched.instalments,
                            due_date=due.due_date,
                            action="skipped",
                            amount=due.amount,
                            entry_id=None,
                        )
                    )
                session.flush()
            sched.status = ScheduleStatus.ACTIVE
            sched.paused_at = None
            if self._finished(session, sched):
                sched.status = ScheduleStatus.COMPLETED
                summary.completed.append(sid)

        self._change(sid, "resumed", {ScheduleStatus.PAUSED}, apply, ctx)
        log.info("allocation schedule %s resumed by %s (catch_up=%s)", sid, ctx.actor, catch_up)
        self._settle(sid, day, ctx, summary)
        return summary

    def cancel(self, schedule_id: int, ctx: Context) -> ScheduleInfo:
        """Stop a schedule for good: no further instalments (or expiries). What was credited
        stays in the account."""
        sid = _check_id(schedule_id)

        def apply(_: Session, sched: AllocationSchedule) -> None:
            sched.status = ScheduleStatus.CANCELLED
            sched.paused_at = None

        self._change(sid, "cancelled", {ScheduleStatus.ACTIVE, ScheduleStatus.PAUSED}, apply, ctx)
        log.info("allocation schedule %s cancelled by %s", sid, ctx.actor)
        return self.get_schedule(sid)

    # -- one-off -------------------------------------------------------------------

    def allocate_once(
        self, account: str, amount: object, *, ctx: Context, memo: str = ""
    ) -> MovementResult:
        """A manual one-off allocation: ``amount`` added to the account's limit, journaled
        as an allocation (idempotent with ``ctx.idempotency_key``)."""
        return self.ledger.deposit(
            account,
            amount,
            ctx=ctx,
            memo=clean_text(memo, field="memo") or "one-off allocation",
            kind=EntryKind.ALLOCATION,
        )


class AllocationScheduler(PeriodicTask):
    """Credits due instalments every ``interval`` seconds in the daemon (0: never).

    Safe with several daemons (and ``asbb allocations process``) running at once: each
    instalment is credited once, under its schedule's row lock.
    """

    def __init__(self, ledger: Ledger, interval: float) -> None:
        super().__init__("allocation-scheduler", interval, self.run_once, join_timeout=30)
        self.allocations = Allocations(ledger)

    def run_once(self) -> ProcessSummary:
        return self.allocations.process_due(
            ctx=Context(actor="scheduler", source=Source.SCHEDULER),
            should_stop=self._stop.is_set,
        )
