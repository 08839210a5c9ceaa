"""Two-phase holds: reserve a job's estimate at submit, charge its real cost at its end (in
full, or per array task), void or expire the rest -- each hold resolved exactly once, and
never changed after. Late costs and corrections are new journal entries linked to the hold.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from asbb_core.ledger.acceptance import account_refusal, hold_terms, partition_refusal
from asbb_core.ledger.journal import (
    INSERT_HOLD,
    INSERT_JOURNAL,
    RESERVE_ACCOUNT,
    RESERVE_PARTITION,
    LedgerCore,
)
from asbb_core.ledger.results import (
    HoldQuote,
    HoldResult,
    MovementResult,
    PostResult,
    ReleaseResult,
    SettleResult,
)
from asbb_core.settings import Settings
from asbb_core.store.models import (
    Account,
    EntryKind,
    Hold,
    HoldState,
    IdempotencyRecord,
    JournalEntry,
    PartitionLimit,
)
from asbb_core.store.operations import decode
from asbb_core.store.queries import job_charged
from asbb_core.values.context import Context, IdempotencyKey
from asbb_core.values.errors import (
    AccountInactiveError,
    AlreadyChargedError,
    ConflictError,
    HoldResolvedError,
    InsufficientFundsError,
    NotFoundError,
    ValidationError,
)
from asbb_core.values.money import ZERO, format_money, money_value, parse_cost
from asbb_core.values.text import (
    clean_text,
    clean_user_name,
    normalise_account_name,
    validate_partition_name,
)

MAX_TASKS = 1_000_000


def hold_lifetime(settings: Settings, time_limit: timedelta | None) -> timedelta:
    """How long a hold lives before it expires: its job's time limit (a hold that is not a
    job's has none) plus ``holds.timeout_hours``. The one definition, for every caller."""
    if time_limit is not None and time_limit < timedelta(0):
        raise ValidationError("time_limit: must not be negative", field="time_limit")
    grace = timedelta(seconds=int(settings.holds.timeout_hours * 3600))
    return (time_limit or timedelta(0)) + grace


class HoldUseCases(LedgerCore):
    # -- holds -----------------------------------------------------------------

    def create_hold(
        self,
        account_name: str,
        estimate: object,
        *,
        ctx: Context,
        partition: str | None = None,
        buffer: object | None = None,
        job_id: str | None = None,
        user_name: str | None = None,
        task_count: int = 1,
        time_limit: timedelta | None = None,
        estimate_source: str = "local",
        metadata: dict[str, Any] | None = None,
        calibration: object = 1,
    ) -> HoldResult:
        """Reserve ``estimate x calibration x buffer`` (rounded to the cent) if the account can
        afford it. ``calibration`` is the learned actual/estimate factor (1: none); the hold
        keeps the model's own ``estimate`` so what is learned never feeds on itself.

        Refused with ``InsufficientFundsError`` -- saying how much is available -- when the
        account's or the partition's available balance is smaller; nothing is written then.

        The hold expires ``time_limit`` (the job's own, none for a hold that is not a job's)
        plus ``holds.timeout_hours`` after it is made (``hold_lifetime``).
        """
        terms = hold_terms(
            account_name,
            estimate,
            partition=partition,
            buffer=buffer,
            calibration=calibration,
            default_buffer=self.settings.holds.buffer,
        )
        name, part, amount = terms.name, terms.partition, terms.amount
        if (
            isinstance(task_count, bool)
            or not isinstance(task_count, int)
            or not 1 <= task_count <= MAX_TASKS
        ):
            raise ValidationError(
                f"task_count: must be a whole number from 1 to {MAX_TASKS}", field="task_count"
            )
        lifetime = hold_lifetime(self.settings, time_limit)
        job = clean_text(job_id, field="job_id", limit=64) or None
        user = clean_user_name(user_name, field="user_name")
        meta = dict(metadata or {})
        payload = {
            "account": name,
            "partition": part,
            "estimate": str(terms.estimate),
            "buffer": str(terms.buffer),
            "calibration": str(terms.calibration),
            "job_id": job,
            "user": user,
            "tasks": task_count,
            "lifetime_seconds": int(lifetime.total_seconds()),
        }

        def use_case(session: Session) -> HoldResult:
            # The hot path (every sbatch): plain SQL, no ORM unit of work. The new rows are
            # written first, before any lock is taken...
            account_id = self._account_id(session, name)
            now = self.clock()
            hold_id = f"h{uuid.uuid4().hex}"
            expires_at = now + lifetime
            reserve = {"b_amount": amount, "b_now": now}
            # ...except on MySQL: InnoDB checks the rows' foreign keys under a shared lock on
            # the account's row, and many holds holding it would deadlock on its UPDATE. There
            # the UPDATE comes first (the same lock, taken a few statements earlier).
            lock_first = session.get_bind().dialect.name == "mysql"
            if lock_first:
                account = RESERVE_ACCOUNT(session, {**reserve, "b_id": account_id})
            session.execute(
                INSERT_HOLD,
                {
                    "id": hold_id,
                    "account_id": account_id,
                    "partition": part,
                    "user_name": user,
                    "job_id": job,
                    "state": HoldState.OPEN,
                    "estimate": terms.estimate,
                    "buffer": terms.buffer,
                    "amount": amount,
                    "remaining": amount,
                    "charged": ZERO,
                    "released": ZERO,
                    "task_count": task_count,
                    "tasks_posted": 0,
                    "estimate_source": estimate_source,
                    "calibration": terms.calibration,
                    "job_metadata": meta,
                    "actor": ctx.actor,
                    "source": ctx.source,
                    "correlation_id": ctx.correlation_id,
                    "created_at": now,
                    "expires_at": expires_at,
                },
            )
            session.execute(
                INSERT_JOURNAL,
                self._journal_row(
                    ctx,
                    account_id,
                    EntryKind.HOLD,
                    amount,
                    held_delta=amount,
                    partition=part,
                    hold_id=hold_id,
                    job_id=job,
                    user_name=user,
                    metadata=meta,
                    now=now,
                ),
            )
            # Then the lock, as late as possible, so it is held only from here to COMMIT.
            # The account's UPDATE takes it and returns the new balance in one round trip; a
            # broken rule raises, and the transaction rolls back the rows written above.
            if not lock_first:
                account = RESERVE_ACCOUNT(session, {**reserve, "b_id": account_id})
            assert account is not None  # accounts are never deleted
            refusal = account_refusal(account, terms, pending=ZERO, now=now)
            if refusal is not None:
                raise refusal
            available = account.limit_amount - account.used_amount - account.held_amount
            if part is not None:
                cap = RESERVE_PARTITION(
                    session, {**reserve, "b_account": account_id, "b_partition": part}
                )
                cap_refusal = partition_refusal(cap, terms, pending=ZERO)
                if cap_refusal is not None:
                    raise cap_refusal
            result = HoldResult(
                hold_id=hold_id,
                account=name,
                partition=part,
                estimate=terms.estimate,
                amount=amount,
                available_after=available,
                expires_at=expires_at,
                task_count=task_count,
            )
            return result

        return self.run(use_case, self._operation("hold", payload, ctx))

    def quote_hold(
        self,
        account_name: str,
        estimate: object,
        *,
        partition: str | None = None,
        buffer: object | None = None,
        calibration: object = 1,
    ) -> HoldQuote:
        """What ``create_hold`` with these terms would decide now, by the same rules, without
        writing or locking anything (a concurrent hold may still change the answer)."""
        terms = hold_terms(
            account_name,
            estimate,
            partition=partition,
            buffer=buffer,
            calibration=calibration,
            default_buffer=self.settings.holds.buffer,
        )

        def query(session: Session) -> HoldQuote:
            account = session.exec(select(Account).where(Account.name == terms.name)).first()
            if account is None:
                raise NotFoundError(f"account {terms.name!r} does not exist", field="account")
            refusal: InsufficientFundsError | AccountInactiveError | None = account_refusal(
                account, terms, pending=terms.amount, now=self.clock()
            )
            if refusal is None and terms.partition is not None:
                cap = session.exec(
                    select(PartitionLimit).where(
                        PartitionLimit.account_id == account.id,
                        PartitionLimit.partition == terms.partition,
                    )
                ).first()
                refusal = partition_refusal(cap, terms, pending=terms.amount)
            return HoldQuote(
                account=terms.name,
                partition=terms.partition,
                estimate=terms.estimate,
                amount=terms.amount,
                available=account.available,
                refusal=refusal,
            )

        return self.db.read(query)

    def post_hold(
        self,
        hold_id: str,
        actual_cost: object,
        *,
        ctx: Context,
        final: bool | None = None,
        metadata: dict[str, Any] | None = None,
        job_id: str | None = None,
        late: bool = False,
    ) -> PostResult:
        """Charge a job's (or an array task's) real cost against its hold.

        The cost is taken from what the hold still reserves; anything above it is charged as a
        linked overrun (the job already ran). A single job's post is final: the remainder is
        released and the hold closes. A job array's hold (``task_count`` > 1) takes one post per
        task (``job_id`` names the task on its journal rows) and closes at the last, or earlier
        with ``final=True``; each task is charged once, and never more tasks than it holds.

        Resolved is final: a posted, voided or expired hold never changes again. ``late=True``
        is for the reconcile of a job that really ran after its hold closed (it expired, was
        voided, or its array was closed early): the cost is charged as a ``late_charge`` entry
        linked to the hold, rather than lost, and the hold stays as it was resolved.
        """
        cost = parse_cost(actual_cost)
        task = clean_text(job_id, field="job_id", limit=64) or None
        payload = {"hold": hold_id, "cost": cost, "final": final, "job": task, "late": late}

        def use_case(session: Session) -> PostResult:
            hold, account, cap = self._locked_hold(session, hold_id)
            meta = {**hold.job_metadata, **(metadata or {})}
            if not late:
                self._require_open(hold)
            self._refuse_second_charge(session, hold, task)
            if hold.state != HoldState.OPEN:
                return self._charge_late(session, ctx, hold, account, cap, cost, task, meta)
            posted, carry = self._in_cents(account, cost)
            consumed = min(posted, hold.remaining)
            overrun = posted - consumed
            self._append(
                session,
                ctx,
                account,
                EntryKind.CHARGE,
                consumed,
                used_delta=consumed,
                held_delta=-consumed,
                carry_delta=carry,
                partition_limit=cap,
                hold=hold,
                metadata=meta,
                job_id=task,
            )
            if overrun > 0:
                self._append(
                    session,
                    ctx,
                    account,
                    EntryKind.CHARGE,
                    overrun,
                    used_delta=overrun,
                    partition_limit=cap,
                    hold=hold,
                    overrun=True,
                    memo=f"cost above the {format_money(hold.amount)} hold",
                    metadata=meta,
                    job_id=task,
                )
            hold.remaining -= consumed
            hold.charged += posted
            hold.tasks_posted += 1
            closes = final if final is not None else hold.tasks_posted >= hold.task_count
            released = ZERO
            if closes:
                released = self._release_rest(
                    session, ctx, hold, account, cap, memo="remainder released"
                )
                hold.state = HoldState.POSTED
                hold.resolved_at = self.clock()
            session.flush()
            return PostResult(
                hold_id=hold.id,
                account=account.name,
                original_hold=hold.amount,
                charged=posted,
                overrun=overrun,
                released=released,
                total_charged=hold.charged,
                state=str(hold.state),
                tasks_posted=hold.tasks_posted,
                task_count=hold.task_count,
            )

        return self.run(use_case, self._operation("post", payload, ctx))

    @staticmethod
    def _refuse_second_charge(session: Session, hold: Hold, task: str | None) -> None:
        """One charge per task of a hold (per hold for a single job), whatever key it came
        with; and never more charges than the hold has tasks."""
        charged = select(func.count()).where(
            col(JournalEntry.hold_id) == hold.id,
            col(JournalEntry.kind).in_((EntryKind.CHARGE, EntryKind.LATE_CHARGE)),
            col(JournalEntry.overrun).is_(False) | (JournalEntry.kind == EntryKind.LATE_CHARGE),
        )
        if hold.task_count == 1:
            if session.exec(charged).one():
                raise AlreadyChargedError(
                    f"hold {hold.id} was already charged for its job; a different cost for it "
                    "is a correction (a reported cost)",
                    field="transaction_id",
                    details={"state": str(hold.state), "charged": money_value(hold.charged)},
                )
            return
        if task is not None and session.exec(charged.where(JournalEntry.job_id == task)).one():
            raise AlreadyChargedError(
                f"task {task} of hold {hold.id} was already charged",
                field="job_id",
                details={"task": task},
            )
        if session.exec(charged).one() >= hold.task_count:
            raise AlreadyChargedError(
                f"hold {hold.id} has taken all {hold.task_count} of its task charges",
                field="job_id",
                details={"task_count": hold.task_count},
            )

    def _charge_late(
        self,
        session: Session,
        ctx: Context,
        hold: Hold,
        account: Account,
        cap: PartitionLimit | None,
        cost: Decimal,
        task: str | None,
        meta: dict[str, Any],
    ) -> PostResult:
        """Charge a job whose hold already closed: a new entry linked to it (nothing is held,
        so all of it is overrun); the hold itself is not touched."""
        posted, carry = self._in_cents(account, cost)
        self._append(
            session,
            ctx,
            account,
            EntryKind.LATE_CHARGE,
            posted,
            used_delta=posted,
            carry_delta=carry,
            partition_limit=cap,
            hold=hold,
            overrun=True,
            memo=f"charged after the hold was {hold.state}",
            metadata=meta,
            job_id=task,
        )
        return PostResult(
            hold_id=hold.id,
            account=account.name,
            original_hold=hold.amount,
            charged=posted,
            overrun=posted,
            released=ZERO,
            total_charged=self._charged_for(session, hold),
            state=str(hold.state),
            tasks_posted=hold.tasks_posted,
            task_count=hold.task_count,
            late=True,
        )

    @staticmethod
    def _charged_for(session: Session, hold: Hold) -> Decimal:
        """All a hold's job was charged: its own charges, late charges and corrections."""
        return Decimal(session.execute(sa_select(job_charged(hold.id))).scalar_one())

    def charge_job(
        self,
        account_name: str,
        actual_cost: object,
        *,
        ctx: Context,
        job_id: str,
        partition: str | None = None,
        user_name: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> MovementResult:
        """Charge a job that ran without a hold (accepted fail-open while the daemon was down).

        Whatever the account's state, the money was spent, so it is charged; the row is marked
        as overrun because nothing had been reserved for it. One charge per account and job:
        a second is refused (``AlreadyChargedError``) whatever key it comes with.
        """
        name = normalise_account_name(account_name)
        part = validate_partition_name(partition)
        cost = parse_cost(actual_cost)
        job = clean_text(job_id, field="job_id", limit=64)
        if not job:
            raise ValidationError("job_id: required", field="job_id")
        user = clean_user_name(user_name, field="user_name")
        payload = {"account": name, "partition": part, "cost": cost, "job": job}

        def use_case(session: Session) -> MovementResult:
            account = self._lock_account(session, name=name)
            cap = self._lock_partition_limit(session, account, part)
            earlier = session.exec(
                select(func.count()).where(
                    JournalEntry.account_id == account.id,
                    col(JournalEntry.hold_id).is_(None),
                    JournalEntry.job_id == job,
                    JournalEntry.kind == EntryKind.CHARGE,
                )
            ).one()
            if earlier:
                raise AlreadyChargedError(
                    f"job {job} was already charged to account {name} without a hold",
                    field="job_id",
                )
            posted, carry = self._in_cents(account, cost)
            entry = self._append(
                session,
                ctx,
                account,
                EntryKind.CHARGE,
                posted,
                used_delta=posted,
                carry_delta=carry,
                partition_limit=cap,
                partition=part,
                overrun=True,
                memo="charged without a hold (the job was accepted unchecked)",
                metadata=metadata or {},
                job_id=job,
                user_name=user,
            )
            return self._movement(account, posted, [entry])

        return self.run(use_case, self._operation("charge_job", payload, ctx))

    def settle_job_cost(
        self,
        job_id: str,
        cost: object,
        *,
        ctx: Context,
        hold_id: str | None = None,
        account_name: str | None = None,
        memo: str = "",
        metadata: dict[str, Any] | None = None,
    ) -> SettleResult:
        """Bring what a finished job was charged to ``cost`` (its real cost, reported later).

        Under the account's (and hold's) lock, the job's exact charge so far is summed from its
        rows (a single job's hold: all its charges; an array's: the task's; a job without a
        hold: the account's unheld rows for it); the difference is a ``correction`` entry
        linked to the job and its hold, charged (+) or refunded (-) through the account's
        carry. The hold itself is never changed. A job already at ``cost`` moves nothing, so
        the same report applied twice (a retry, a duplicate file) changes the ledger once.
        """
        job = clean_text(job_id, field="job_id", limit=64)
        if not job:
            raise ValidationError("job_id: required", field="job_id")
        value = parse_cost(cost)
        if hold_id is None and not account_name:
            raise ValidationError("account: required for a job without a hold", field="account")
        name = normalise_account_name(account_name) if account_name else None
        note = clean_text(memo, field="memo")
        payload = {"job": job, "cost": value, "hold": hold_id, "account": name, "memo": note}

        def use_case(session: Session) -> SettleResult:
            hold: Hold | None = None
            if hold_id is not None:
                hold, account, cap = self._locked_hold(session, hold_id)
                mine: list[ColumnElement[bool]] = [col(JournalEntry.hold_id) == hold.id]
                if hold.task_count > 1:
                    mine.append(col(JournalEntry.job_id) == job)
            else:
                account = self._lock_account(session, name=name)
                cap = None
                mine = [
                    col(JournalEntry.account_id) == account.id,
                    col(JournalEntry.hold_id).is_(None),
                    col(JournalEntry.job_id) == job,
                    col(JournalEntry.kind).in_((EntryKind.CHARGE, EntryKind.CORRECTION)),
                ]
            rows = list(
                session.exec(
                    select(
                        col(JournalEntry.used_delta),
                        col(JournalEntry.carry_delta),
                        col(JournalEntry.partition),
                    ).where(*mine)
                )
            )
            charged = sum((used for used, _, _ in rows), ZERO)
            exact = sum((used + carry for used, carry, _ in rows), ZERO)
            partition = (
                hold.partition
                if hold is not None
                else next((p for _, _, p in rows if p is not None), None)
            )
            if hold is None and partition is not None:
                cap = self._lock_partition_limit(session, account, partition)
            entries: list[int] = []
            delta = ZERO
            if value != exact:
                delta, carry = self._in_cents(account, value - exact)
                entries.append(
                    self._append(
                        session,
                        ctx,
                        account,
                        EntryKind.CORRECTION,
                        abs(delta),
                        used_delta=delta,
                        carry_delta=carry,
                        partition_limit=cap,
                        partition=partition,
                        hold=hold,
                        overrun=delta > 0,
                        memo=note
                        or f"job cost corrected from {format_money(exact)} to "
                        f"{format_money(value)}",
                        metadata=metadata or {},
                        job_id=job,
                    )
                )
            return SettleResult(
                account=account.name,
                hold_id=hold.id if hold is not None else None,
                job_id=job,
                previous=charged,
                cost=value,
                delta=delta,
                available=account.available,
                entry_ids=entries,
            )

        return self.run(use_case, self._operation("settle", payload, ctx))

    def earlier_result(self, key: IdempotencyKey) -> Any | None:
        """What the operation recorded under ``key`` answered, if it committed."""

        def query(session: Session) -> Any | None:
            record = session.get(IdempotencyRecord, key.value)
            return None if record is None else decode(session, record.result)

        return self.db.read(query)

    def void_hold(self, hold_id: str, *, ctx: Context, reason: str = "") -> ReleaseResult:
        """Release everything a hold still reserves (the job never ran, or was cancelled).

        A job array's hold that already has charges closes as ``posted``.
        """
        reason = clean_text(reason, field="reason")
        return self._close_unposted(
            hold_id, ctx=ctx, state=HoldState.VOIDED, memo=reason or "voided"
        )

    def expire_hold(self, hold_id: str, *, ctx: Context) -> ReleaseResult:
        """Expire one hold past its timeout (see ``expire_holds``)."""
        return self._close_unposted(hold_id, ctx=ctx, state=HoldState.EXPIRED, memo="expired")

    def expire_holds(self, *, ctx: Context, limit: int = 1000) -> list[ReleaseResult]:
        """Expire every open hold whose timeout has passed, each in its own transaction.

        Safe to run from several processes at once: a hold another process resolved first
        is skipped.
        """
        now = self.clock()
        due = self.db.read(
            lambda s: list(
                s.exec(
                    select(Hold.id)
                    .where(Hold.state == HoldState.OPEN, col(Hold.expires_at) <= now)
                    .order_by(col(Hold.expires_at))
                    .limit(limit)
                )
            )
        )
        results = []
        for hold_id in due:
            try:
                results.append(
                    self.expire_hold(
                        hold_id,
                        ctx=replace(ctx, idempotency_key=IdempotencyKey.derived("expire", hold_id)),
                    )
                )
            except HoldResolvedError:
                continue
        return results

    def _close_unposted(
        self, hold_id: str, *, ctx: Context, state: HoldState, memo: str
    ) -> ReleaseResult:
        payload = {"hold": hold_id, "state": state, "memo": memo}
        operation = "void" if state == HoldState.VOIDED else "expire"

        def use_case(session: Session) -> ReleaseResult:
            hold, account, cap = self._locked_hold(session, hold_id)
            self._require_open(hold)
            if state == HoldState.EXPIRED and hold.expires_at > self.clock():
                raise ConflictError(
                    f"hold {hold.id} expires at {hold.expires_at.isoformat()}, not yet",
                    field="hold_id",
                )
            released = self._release_rest(session, ctx, hold, account, cap, memo=memo)
            hold.state = HoldState.POSTED if hold.tasks_posted else state
            hold.resolved_at = self.clock()
            session.flush()
            return ReleaseResult(
                hold_id=hold.id, account=account.name, released=released, state=str(hold.state)
            )

        return self.run(use_case, self._operation(operation, payload, ctx))

    def _release_rest(
        self,
        session: Session,
        ctx: Context,
        hold: Hold,
        account: Account,
        cap: PartitionLimit | None,
        *,
        memo: str,
    ) -> Decimal:
        rest = hold.remaining
        if rest > 0:
            self._append(
                session,
                ctx,
                account,
                EntryKind.RELEASE,
                rest,
                held_delta=-rest,
                partition_limit=cap,
                hold=hold,
                memo=memo,
            )
        hold.released += rest
        hold.remaining = ZERO
        return rest

    @staticmethod
    def _require_open(hold: Hold) -> None:
        if hold.state != HoldState.OPEN:
            raise HoldResolvedError(
                f"hold {hold.id} is already {hold.state}; a hold resolves exactly once",
                field="hold_id",
                details={
                    "state": str(hold.state),
                    "charged": money_value(hold.charged),
                    "released": money_value(hold.released),
                },
            )
