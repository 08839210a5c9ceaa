"""The ledger's use cases: accounts, deposits, two-phase holds, charges, adjustments, transfers.

Each public method is one transaction (``Database.run``): the journal rows it appends and the
cached totals they move are committed together or not at all. Balance decisions are made
under row locks taken in one fixed order -- accounts by id, then partition limits, then
holds -- so concurrent requests serialise per account and never deadlock one another.
On SQLite the whole writing transaction holds the database lock (``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass, fields
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Self, TypeVar

from sqlalchemy import ColumnElement, Row, Table, Update, bindparam, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel, col, select

from asbb_core.settings import Settings
from asbb_core.store.database import Database
from asbb_core.store.models import (
    Account,
    AccountStatus,
    EntryKind,
    Hold,
    HoldState,
    IdempotencyRecord,
    JournalEntry,
    PartitionLimit,
)
from asbb_core.store.sqltypes import Money, UTCDateTime
from asbb_core.values.context import Clock, Context, utcnow
from asbb_core.values.errors import (
    AccountInactiveError,
    ConflictError,
    HoldResolvedError,
    IdempotencyConflictError,
    InsufficientFundsError,
    NotFoundError,
    ValidationError,
)
from asbb_core.values.money import (
    ZERO,
    format_money,
    money_str,
    parse_cost,
    parse_money,
    round_internal,
    round_posting,
    to_decimal,
)
from asbb_core.values.text import clean_text, normalise_account_name, validate_partition_name

T = TypeVar("T")

MAX_TASKS = 1_000_000

# Plain tables for the statements on the hot path (no ORM unit of work there).
ACCOUNTS = SQLModel.metadata.tables[Account.__tablename__]
PARTITION_LIMITS = SQLModel.metadata.tables[PartitionLimit.__tablename__]
HOLDS = SQLModel.metadata.tables[Hold.__tablename__]
JOURNAL = SQLModel.metadata.tables[JournalEntry.__tablename__]
IDEMPOTENCY = SQLModel.metadata.tables[IdempotencyRecord.__tablename__]


def _reserve_statement(table: Table, where: ColumnElement[bool]) -> Update:
    """Add ``b_amount`` to a row's held total, returning the row as it is now."""
    return (
        table.update()
        .where(where)
        .values(
            held_amount=table.c.held_amount + bindparam("b_amount", type_=Money()),
            updated_at=bindparam("b_now", type_=UTCDateTime()),
        )
        .returning(*table.c)
    )


# Built once: SQLAlchemy then reuses their compiled form instead of rebuilding it per call.
RESERVE_ACCOUNT = _reserve_statement(ACCOUNTS, ACCOUNTS.c.id == bindparam("b_id"))
ACCOUNT_ID = select(ACCOUNTS.c.id).where(ACCOUNTS.c.name == bindparam("b_name"))
RESERVE_PARTITION = _reserve_statement(
    PARTITION_LIMITS,
    (PARTITION_LIMITS.c.account_id == bindparam("b_account"))
    & (PARTITION_LIMITS.c.partition == bindparam("b_partition")),
)
INSERT_HOLD = HOLDS.insert()
INSERT_JOURNAL = JOURNAL.insert()
INSERT_JOURNAL_RETURNING_ID = JOURNAL.insert().returning(JOURNAL.c.id)
INSERT_IDEMPOTENCY = IDEMPOTENCY.insert()

# The transaction of an enclosing ``Ledger.atomic()`` block, if any.
_AMBIENT: ContextVar[Session | None] = ContextVar("asbb_ambient_session", default=None)


# ---------------------------------------------------------------- results


class _Result:
    """Results are plain frozen dataclasses that round-trip through JSON for idempotency.

    Money in a result is shown to the cent, except the fields named in ``_precise``.
    """

    _precise: frozenset[str] = frozenset({"estimate"})

    def __post_init__(self) -> None:
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if isinstance(value, Decimal) and f.name not in self._precise:
                object.__setattr__(self, f.name, round_posting(value))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in asdict(self).items():  # type: ignore[call-overload]
            if isinstance(value, Decimal):
                out[key] = str(value)
            elif isinstance(value, datetime | date):
                out[key] = value.isoformat()
            else:
                out[key] = value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        kwargs: dict[str, Any] = {}
        for f in fields(cls):  # type: ignore[arg-type]
            value = data.get(f.name)
            kind = str(f.type)
            if value is not None and "Decimal" in kind:
                value = Decimal(value)
            elif value is not None and "datetime" in kind:
                value = datetime.fromisoformat(value)
            kwargs[f.name] = value
        return cls(**kwargs)


@dataclass(frozen=True)
class HoldResult(_Result):
    hold_id: str
    account: str
    partition: str | None
    estimate: Decimal
    amount: Decimal
    available_after: Decimal
    expires_at: datetime
    task_count: int
    replayed: bool = False


@dataclass(frozen=True)
class HoldQuote:
    """What ``create_hold`` would decide for a hold now (``Ledger.quote_hold``)."""

    account: str
    partition: str | None
    estimate: Decimal
    amount: Decimal
    """The hold it would take (estimate x calibration x buffer, to the cent)."""
    available: Decimal
    """The account's available money now, before the hold."""
    refusal: InsufficientFundsError | AccountInactiveError | None
    """The error ``create_hold`` would raise; None: it would be accepted."""

    @property
    def accepted(self) -> bool:
        return self.refusal is None

    @property
    def available_after(self) -> Decimal:
        return self.available - self.amount


@dataclass(frozen=True)
class PostResult(_Result):
    hold_id: str
    account: str
    original_hold: Decimal
    charged: Decimal
    overrun: Decimal
    released: Decimal
    total_charged: Decimal
    state: str
    tasks_posted: int
    task_count: int
    replayed: bool = False


@dataclass(frozen=True)
class SettleResult(_Result):
    """A job's charge brought to a reported cost: ``delta`` was charged (+) or refunded (-)."""

    account: str
    hold_id: str | None
    job_id: str
    previous: Decimal
    cost: Decimal
    delta: Decimal
    available: Decimal
    entry_ids: list[int]

    @property
    def changed(self) -> bool:
        return self.delta != 0


@dataclass(frozen=True)
class ReleaseResult(_Result):
    hold_id: str
    account: str
    released: Decimal
    state: str
    replayed: bool = False


@dataclass(frozen=True)
class MovementResult(_Result):
    """A deposit, allocation, adjustment or transfer."""

    account: str
    amount: Decimal
    limit: Decimal
    used: Decimal
    held: Decimal
    available: Decimal
    entry_ids: list[int]
    replayed: bool = False


# ---------------------------------------------------------------- helpers


def _fingerprint(payload: dict[str, Any]) -> str:
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _check_dates(start: date | None, end: date | None) -> None:
    if start is not None and end is not None and end < start:
        raise ValidationError(
            f"end_date: {end.isoformat()} is before start_date {start.isoformat()}",
            field="end_date",
        )


# ---------------------------------------------------------------- hold acceptance


@dataclass(frozen=True)
class _HoldTerms:
    """A hold request, validated: what create_hold reserves and quote_hold prices."""

    name: str
    partition: str | None
    estimate: Decimal
    buffer: Decimal
    calibration: Decimal
    amount: Decimal


def _hold_terms(
    account_name: str,
    estimate: object,
    *,
    partition: str | None,
    buffer: object | None,
    calibration: object,
    default_buffer: Decimal,
) -> _HoldTerms:
    name = normalise_account_name(account_name)
    part = validate_partition_name(partition)
    cost = round_internal(to_decimal(estimate, field="estimate"))
    if cost < 0:
        raise ValidationError("estimate: must not be negative", field="estimate")
    factor = default_buffer if buffer is None else to_decimal(buffer, field="buffer")
    if not Decimal(1) <= factor <= Decimal(10):
        raise ValidationError("buffer: must be between 1 and 10", field="buffer")
    scale = round_internal(to_decimal(calibration, field="calibration"))
    if not Decimal(0) < scale <= Decimal(10):
        raise ValidationError("calibration: must be above 0 and at most 10", field="calibration")
    return _HoldTerms(name, part, cost, factor, scale, round_posting(cost * scale * factor))


def _shortfall(terms: _HoldTerms, available: Decimal, limit: str) -> dict[str, str]:
    """The details of a refusal for want of money: what was there, what the hold needed."""
    return {
        "available": money_str(available),
        "requested": money_str(terms.amount),
        "estimate": str(terms.estimate),
        "limit": limit,
    }


def _account_refusal(
    account: Account | Row[Any], terms: _HoldTerms, *, pending: Decimal, now: datetime
) -> InsufficientFundsError | AccountInactiveError | None:
    """Why the account cannot take this hold, or None. ``pending`` is the part of the hold
    not yet in the row's held total (create_hold checks the row after reserving: 0)."""
    if account.status != AccountStatus.ACTIVE:
        return AccountInactiveError(
            f"account {account.name} is {account.status}; no new jobs may be charged to it",
            field="account",
        )
    today = now.date()
    if account.start_date is not None and today < account.start_date:
        return AccountInactiveError(
            f"account {account.name} opens on {account.start_date.isoformat()}", field="account"
        )
    if account.end_date is not None and today > account.end_date:
        return AccountInactiveError(
            f"account {account.name} ended on {account.end_date.isoformat()}", field="account"
        )
    after = account.limit_amount - account.used_amount - account.held_amount - pending
    if after >= 0:
        return None
    where = f" on {terms.partition}" if terms.partition else ""
    return InsufficientFundsError(
        f"account {terms.name} has {format_money(after + terms.amount)} available; "
        f"this job needs an estimated {format_money(terms.amount)} hold{where}",
        field="account",
        details=_shortfall(terms, after + terms.amount, "account"),
    )


def _partition_refusal(
    cap: PartitionLimit | Row[Any] | None, terms: _HoldTerms, *, pending: Decimal
) -> InsufficientFundsError | None:
    """Why the partition's limit cannot take this hold, or None (no limit: no refusal)."""
    if cap is None:
        return None
    after = cap.limit_amount - cap.used_amount - cap.held_amount - pending
    if after >= 0:
        return None
    return InsufficientFundsError(
        f"partition {terms.partition} of account {terms.name} has "
        f"{format_money(after + terms.amount)} available of its "
        f"{format_money(cap.limit_amount)} limit; this job needs an estimated "
        f"{format_money(terms.amount)} hold on {terms.partition}",
        field="partition",
        details=_shortfall(terms, after + terms.amount, "partition"),
    )


# ---------------------------------------------------------------- the service


class Ledger:
    """The ledger's write side and its basic reads."""

    def __init__(self, db: Database, settings: Settings, *, clock: Clock = utcnow) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        # Account names and ids never change and accounts are never deleted (only closed),
        # so the hot path may remember which id a name has.
        self._account_ids: dict[str, int] = {}

    def _account_id(self, session: Session, name: str) -> int:
        known = self._account_ids.get(name)
        if known is None:
            known = session.execute(ACCOUNT_ID, {"b_name": name}).scalar()
            if known is None:
                raise NotFoundError(f"account {name!r} does not exist", field="account")
            self._account_ids[name] = known
        return known

    # -- transaction plumbing ------------------------------------------------

    @contextmanager
    def atomic(self) -> Iterator[Session]:
        """Run several use cases as one transaction: all of them commit, or none.

        Inside the block every use case joins this transaction (each in a savepoint, so one
        that fails leaves no trace while the others stand); the block commits at its end.
        Callers may use the yielded session for their own rows (e.g. an approval's status).
        """
        if _AMBIENT.get() is not None:
            raise RuntimeError("Ledger.atomic() blocks do not nest")
        with self.db.unit_of_work() as session:
            token = _AMBIENT.set(session)
            try:
                yield session
                session.commit()
            finally:
                _AMBIENT.reset(token)

    def run(self, use_case: Callable[[Session], T]) -> T:
        """Run ``use_case`` in a transaction of its own, or inside the ``atomic()`` block that
        is open (so services built on the ledger join it too)."""
        return self._run(use_case)

    def _run(self, use_case: Callable[[Session], T]) -> T:
        ambient = _AMBIENT.get()
        if ambient is not None:
            with ambient.begin_nested():
                return use_case(ambient)
        try:
            return self.db.run(use_case)
        except IntegrityError:
            # Two requests raced on a unique key (an idempotency key, an account name):
            # run again; the loser now sees the winner's committed row and answers from it.
            return self.db.run(use_case)

    def _replay(
        self, session: Session, ctx: Context, operation: str, payload: dict[str, Any]
    ) -> tuple[str, dict[str, Any] | None]:
        """Look up an earlier result for ``ctx.idempotency_key`` (call after taking locks)."""
        fingerprint = _fingerprint({"operation": operation, **payload})
        if ctx.idempotency_key is None:
            return fingerprint, None
        record = session.get(IdempotencyRecord, ctx.idempotency_key)
        if record is None:
            return fingerprint, None
        if record.operation != operation or record.fingerprint != fingerprint:
            raise IdempotencyConflictError(
                f"idempotency_key {ctx.idempotency_key!r} was already used for a different "
                f"{record.operation} request",
                field="idempotency_key",
            )
        return fingerprint, {**record.result, "replayed": True}

    def _remember(
        self, session: Session, ctx: Context, operation: str, fingerprint: str, result: _Result
    ) -> None:
        if ctx.idempotency_key is None:
            return
        session.execute(
            INSERT_IDEMPOTENCY,
            {
                "key": ctx.idempotency_key,
                "operation": operation,
                "fingerprint": fingerprint,
                "result": result.to_dict(),
                "created_at": self.clock(),
            },
        )

    # -- locks -----------------------------------------------------------------

    @staticmethod
    def _lock_account(
        session: Session, *, name: str | None = None, id: int | None = None
    ) -> Account:
        stmt = select(Account).with_for_update().execution_options(populate_existing=True)
        if name is not None:
            stmt = stmt.where(Account.name == name)
        else:
            stmt = stmt.where(Account.id == id)
        account = session.exec(stmt).first()
        if account is None:
            raise NotFoundError(f"account {name or id!r} does not exist", field="account")
        return account

    @staticmethod
    def _lock_partition_limit(
        session: Session, account: Account, partition: str | None
    ) -> PartitionLimit | None:
        if partition is None:
            return None
        stmt = (
            select(PartitionLimit)
            .where(PartitionLimit.account_id == account.id, PartitionLimit.partition == partition)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return session.exec(stmt).first()

    @staticmethod
    def _lock_hold(session: Session, hold_id: str) -> Hold:
        stmt = (
            select(Hold)
            .where(Hold.id == hold_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        hold = session.exec(stmt).first()
        if hold is None:
            raise NotFoundError(f"hold {hold_id!r} does not exist", field="hold_id")
        return hold

    def _locked_hold(
        self, session: Session, hold_id: str
    ) -> tuple[Hold, Account, PartitionLimit | None]:
        """Lock a hold and everything it moves, in the global lock order."""
        if not isinstance(hold_id, str) or not hold_id:
            raise ValidationError("hold_id: required", field="hold_id")
        found = session.get(Hold, hold_id)
        if found is None:
            raise NotFoundError(f"hold {hold_id!r} does not exist", field="hold_id")
        account = self._lock_account(session, id=found.account_id)
        limit = self._lock_partition_limit(session, account, found.partition)
        hold = self._lock_hold(session, hold_id)
        return hold, account, limit

    # -- journal -------------------------------------------------------------

    def _journal_row(
        self,
        ctx: Context,
        account_id: int,
        kind: EntryKind,
        amount: Decimal,
        *,
        limit_delta: Decimal = ZERO,
        used_delta: Decimal = ZERO,
        held_delta: Decimal = ZERO,
        partition: str | None = None,
        hold_id: str | None = None,
        job_id: str | None = None,
        user_name: str | None = None,
        counterparty_id: int | None = None,
        overrun: bool = False,
        memo: str = "",
        metadata: dict[str, Any] | None = None,
        now: datetime | None = None,
    ) -> dict[str, Any]:
        """Every column of one journal row: the single place that says what a row holds."""
        return {
            "account_id": account_id,
            "kind": kind,
            "amount": amount,
            "limit_delta": limit_delta,
            "used_delta": used_delta,
            "held_delta": held_delta,
            "partition": partition,
            "hold_id": hold_id,
            "job_id": job_id,
            "user_name": user_name,
            "counterparty_account_id": counterparty_id,
            "overrun": overrun,
            "actor": ctx.actor,
            "source": ctx.source,
            "correlation_id": ctx.correlation_id,
            "idempotency_key": ctx.idempotency_key,
            "memo": memo,
            "job_metadata": metadata or {},
            "created_at": now or self.clock(),
        }

    def _append(
        self,
        session: Session,
        ctx: Context,
        account: Account,
        kind: EntryKind,
        amount: Decimal,
        *,
        limit_delta: Decimal = ZERO,
        used_delta: Decimal = ZERO,
        held_delta: Decimal = ZERO,
        partition_limit: PartitionLimit | None = None,
        partition: str | None = None,
        hold: Hold | None = None,
        counterparty: Account | None = None,
        overrun: bool = False,
        memo: str = "",
        metadata: dict[str, Any] | None = None,
        job_id: str | None = None,
        user_name: str | None = None,
    ) -> int:
        """Append one journal row and move the cached totals it names, in one transaction."""
        now = self.clock()
        row = self._journal_row(
            ctx,
            account.id,  # type: ignore[arg-type]
            kind,
            amount,
            limit_delta=limit_delta,
            used_delta=used_delta,
            held_delta=held_delta,
            partition=partition if partition is not None else (hold.partition if hold else None),
            hold_id=hold.id if hold else None,
            job_id=job_id or (hold.job_id if hold else None),
            user_name=user_name or (hold.user_name if hold else None),
            counterparty_id=counterparty.id if counterparty else None,
            overrun=overrun,
            memo=memo,
            metadata=metadata if metadata is not None else (hold.job_metadata if hold else {}),
            now=now,
        )
        entry_id: int = session.execute(INSERT_JOURNAL_RETURNING_ID, row).scalar_one()
        account.limit_amount += limit_delta
        account.used_amount += used_delta
        account.held_amount += held_delta
        account.updated_at = now
        if partition_limit is not None:
            partition_limit.used_amount += used_delta
            partition_limit.held_amount += held_delta
            partition_limit.updated_at = now
        session.flush()
        return entry_id

    def _movement(
        self, account: Account, amount: Decimal, entries: Iterable[int]
    ) -> MovementResult:
        return MovementResult(
            account=account.name,
            amount=amount,
            limit=account.limit_amount,
            used=account.used_amount,
            held=account.held_amount,
            available=account.available,
            entry_ids=list(entries),
        )

    # -- accounts --------------------------------------------------------------

    def create_account(
        self,
        name: str,
        *,
        ctx: Context,
        limit: object = 0,
        description: str = "",
        start_date: date | None = None,
        end_date: date | None = None,
        partition_limits: Mapping[str, object] | None = None,
    ) -> Account:
        """Open an account; a non-zero limit is journaled as its opening deposit."""
        name = normalise_account_name(name)
        opening = parse_money(limit, field="limit")
        description = clean_text(description, field="description", limit=500)
        _check_dates(start_date, end_date)
        caps = {
            validate_partition_name(p, field="partition"): parse_money(
                v, field=f"partition_limits.{p}"
            )
            for p, v in (partition_limits or {}).items()
        }

        def use_case(session: Session) -> Account:
            if session.exec(select(Account.id).where(Account.name == name)).first() is not None:
                raise ConflictError(f"account {name!r} already exists", field="name")
            now = self.clock()
            account = Account(
                name=name,
                description=description,
                start_date=start_date,
                end_date=end_date,
                created_at=now,
                updated_at=now,
            )
            session.add(account)
            session.flush()
            if opening > 0:
                self._append(
                    session,
                    ctx,
                    account,
                    EntryKind.DEPOSIT,
                    opening,
                    limit_delta=opening,
                    memo="opening balance",
                )
            for partition, cap in caps.items():
                session.add(
                    PartitionLimit(
                        account_id=account.id,  # type: ignore[arg-type]
                        partition=partition,  # type: ignore[arg-type]
                        limit_amount=cap,
                        updated_at=now,
                    )
                )
            session.flush()
            return account

        try:
            return self._run(use_case)
        except IntegrityError:
            raise ConflictError(f"account {name!r} already exists", field="name") from None

    def update_account(
        self,
        name: str,
        *,
        ctx: Context,
        description: str | None = None,
        start_date: date | None = None,
        end_date: date | None = None,
        clear_dates: bool = False,
        status: AccountStatus | str | None = None,
    ) -> Account:
        """Change an account's details or status. Closing needs no open holds."""
        name = normalise_account_name(name)
        if description is not None:
            description = clean_text(description, field="description", limit=500)
        new_status: AccountStatus | None = None
        if status is not None:
            try:
                new_status = AccountStatus(status)
            except ValueError:
                raise ValidationError(
                    f"status: {status!r} is not one of active, suspended, closed", field="status"
                ) from None

        def use_case(session: Session) -> Account:
            account = self._lock_account(session, name=name)
            if account.status == AccountStatus.CLOSED and new_status not in (
                None,
                AccountStatus.CLOSED,
            ):
                raise ConflictError(
                    f"account {name!r} is closed; it cannot be reopened", field="status"
                )
            start = None if clear_dates else (start_date or account.start_date)
            end = None if clear_dates else (end_date or account.end_date)
            _check_dates(start, end)
            if new_status == AccountStatus.CLOSED:
                open_holds = session.exec(
                    select(func.count())
                    .select_from(Hold)
                    .where(Hold.account_id == account.id, Hold.state == HoldState.OPEN)
                ).one()
                if open_holds:
                    raise ConflictError(
                        f"account {name!r} has {open_holds} open hold(s); "
                        "reconcile or void them before closing",
                        field="status",
                        details={"open_holds": open_holds},
                    )
            if description is not None:
                account.description = description
            account.start_date, account.end_date = start, end
            if new_status is not None:
                account.status = new_status
            account.updated_at = self.clock()
            session.flush()
            return account

        return self._run(use_case)

    def set_partition_limit(
        self, account_name: str, partition: str, limit: object | None, *, ctx: Context
    ) -> PartitionLimit | None:
        """Cap a partition inside an account (``None`` removes the cap).

        A new cap starts with the partition's usage and open holds so far, summed from the
        journal, so the cap applies to what was already spent there.
        """
        name = normalise_account_name(account_name)
        part = validate_partition_name(partition)
        cap = None if limit is None else parse_money(limit, field="limit")

        def use_case(session: Session) -> PartitionLimit | None:
            account = self._lock_account(session, name=name)
            existing = self._lock_partition_limit(session, account, part)
            if cap is None:
                if existing is not None:
                    session.delete(existing)
                    session.flush()
                return None
            now = self.clock()
            if existing is None:
                used, held = session.exec(
                    select(
                        func.coalesce(func.sum(JournalEntry.used_delta), 0),
                        func.coalesce(func.sum(JournalEntry.held_delta), 0),
                    ).where(JournalEntry.account_id == account.id, JournalEntry.partition == part)
                ).one()
                existing = PartitionLimit(
                    account_id=account.id,  # type: ignore[arg-type]
                    partition=part,  # type: ignore[arg-type]
                    limit_amount=cap,
                    used_amount=Decimal(used),
                    held_amount=Decimal(held),
                    updated_at=now,
                )
                session.add(existing)
            else:
                existing.limit_amount = cap
                existing.updated_at = now
            session.flush()
            return existing

        return self._run(use_case)

    # -- money in and out of an account's limit ------------------------------

    def deposit(
        self,
        account_name: str,
        amount: object,
        *,
        ctx: Context,
        memo: str = "",
        kind: EntryKind = EntryKind.DEPOSIT,
    ) -> MovementResult:
        """Add money to an account's limit (a deposit, or an allocation instalment)."""
        if kind not in (EntryKind.DEPOSIT, EntryKind.ALLOCATION):
            raise ValidationError("kind: a deposit is a deposit or an allocation", field="kind")
        name = normalise_account_name(account_name)
        value = parse_money(amount, field="amount", allow_zero=False)
        memo = clean_text(memo, field="memo", limit=500)
        payload = {"account": name, "amount": str(value), "kind": str(kind), "memo": memo}

        def use_case(session: Session) -> MovementResult:
            account = self._lock_account(session, name=name)
            fingerprint, earlier = self._replay(session, ctx, str(kind), payload)
            if earlier is not None:
                return MovementResult.from_dict(earlier)
            if account.status == AccountStatus.CLOSED:
                raise AccountInactiveError(f"account {name!r} is closed", field="account")
            entry = self._append(session, ctx, account, kind, value, limit_delta=value, memo=memo)
            result = self._movement(account, value, [entry])
            self._remember(session, ctx, str(kind), fingerprint, result)
            return result

        return self._run(use_case)

    def expire_unspent(
        self, account_name: str, at_most: object, *, ctx: Context, memo: str = ""
    ) -> MovementResult:
        """Take unspent allocation money back from an account's limit at its period's end.

        Takes ``at_most``, but never more than is available then: money already used or held
        is never touched. Journaled as an expiry (a negative limit delta); when nothing is
        available nothing is written (``amount`` 0, no entry ids).
        """
        name = normalise_account_name(account_name)
        ceiling = parse_money(at_most, field="amount", allow_zero=False)
        memo = clean_text(memo, field="memo", limit=500)
        payload = {"account": name, "at_most": str(ceiling), "memo": memo}

        def use_case(session: Session) -> MovementResult:
            account = self._lock_account(session, name=name)
            fingerprint, earlier = self._replay(session, ctx, "expiry", payload)
            if earlier is not None:
                return MovementResult.from_dict(earlier)
            taken = max(ZERO, min(ceiling, account.available))
            entries: list[int] = []
            if taken > 0:
                entry = self._append(
                    session, ctx, account, EntryKind.EXPIRY, taken, limit_delta=-taken, memo=memo
                )
                entries.append(entry)
            result = self._movement(account, taken, entries)
            self._remember(session, ctx, "expiry", fingerprint, result)
            return result

        return self._run(use_case)

    def adjust(
        self,
        account_name: str,
        amount: object,
        *,
        ctx: Context,
        reason: str,
        target: str = "limit",
        partition: str | None = None,
    ) -> MovementResult:
        """A manual correction, signed: ``target='limit'`` credits (+) or debits (-) the
        budget; ``target='used'`` corrects usage (a negative amount refunds a charge).
        A debit may not take more than is available; a refund no more than was used."""
        name = normalise_account_name(account_name)
        value = parse_money(amount, field="amount", allow_negative=True, allow_zero=False)
        reason = clean_text(reason, field="reason", limit=500)
        if not reason:
            raise ValidationError("reason: an adjustment needs a reason", field="reason")
        if target not in ("limit", "used"):
            raise ValidationError("target: must be 'limit' or 'used'", field="target")
        part = validate_partition_name(partition)
        if part is not None and target != "used":
            raise ValidationError(
                "partition: only usage corrections name a partition", field="partition"
            )
        payload = {
            "account": name,
            "amount": str(value),
            "target": target,
            "reason": reason,
            "partition": part,
        }

        def use_case(session: Session) -> MovementResult:
            account = self._lock_account(session, name=name)
            cap = self._lock_partition_limit(session, account, part)
            fingerprint, earlier = self._replay(session, ctx, "adjustment", payload)
            if earlier is not None:
                return MovementResult.from_dict(earlier)
            if target == "limit":
                if value < 0 and -value > account.available:
                    raise InsufficientFundsError(
                        f"account {name} has {format_money(account.available)} available; "
                        f"a debit of {format_money(-value)} exceeds it",
                        field="amount",
                        details={"available": money_str(account.available)},
                    )
                entry = self._append(
                    session,
                    ctx,
                    account,
                    EntryKind.ADJUSTMENT,
                    abs(value),
                    limit_delta=value,
                    memo=reason,
                )
            else:
                used_base = cap.used_amount if cap is not None else account.used_amount
                if value < 0 and -value > used_base:
                    raise ValidationError(
                        f"amount: a refund of {format_money(-value)} is more than the "
                        f"{format_money(used_base)} used",
                        field="amount",
                    )
                entry = self._append(
                    session,
                    ctx,
                    account,
                    EntryKind.ADJUSTMENT,
                    abs(value),
                    used_delta=value,
                    partition=part,
                    partition_limit=cap,
                    memo=reason,
                )
            result = self._movement(account, value, [entry])
            self._remember(session, ctx, "adjustment", fingerprint, result)
            return result

        return self._run(use_case)

    def set_limit(
        self, account_name: str, new_limit: object, *, ctx: Context, reason: str
    ) -> MovementResult:
        """Set an account's limit to a figure, journaled as the adjustment that gets there.

        Lowering it may not take away money that is already used or held."""
        name = normalise_account_name(account_name)
        target = parse_money(new_limit, field="limit")
        reason = clean_text(reason, field="reason", limit=500)
        if not reason:
            raise ValidationError("reason: a limit change needs a reason", field="reason")
        payload = {"account": name, "limit": str(target), "reason": reason}

        def use_case(session: Session) -> MovementResult:
            account = self._lock_account(session, name=name)
            fingerprint, earlier = self._replay(session, ctx, "set_limit", payload)
            if earlier is not None:
                return MovementResult.from_dict(earlier)
            delta = target - account.limit_amount
            if delta == 0:
                raise ValidationError(f"limit: already {format_money(target)}", field="limit")
            committed = account.used_amount + account.held_amount
            if target < committed:
                raise InsufficientFundsError(
                    f"limit: {format_money(target)} is below the {format_money(committed)} "
                    f"already used or held in account {name}",
                    field="limit",
                    details={
                        "used": money_str(account.used_amount),
                        "held": money_str(account.held_amount),
                    },
                )
            entry = self._append(
                session,
                ctx,
                account,
                EntryKind.ADJUSTMENT,
                abs(delta),
                limit_delta=delta,
                memo=reason,
            )
            result = self._movement(account, delta, [entry])
            self._remember(session, ctx, "set_limit", fingerprint, result)
            return result

        return self._run(use_case)

    def transfer(
        self, source: str, destination: str, amount: object, *, ctx: Context, reason: str
    ) -> MovementResult:
        """Move budget (limit) from one account to another; both rows share a correlation id."""
        src_name = normalise_account_name(source, field="source")
        dst_name = normalise_account_name(destination, field="destination")
        if src_name == dst_name:
            raise ValidationError("destination: must differ from the source", field="destination")
        value = parse_money(amount, field="amount", allow_zero=False)
        reason = clean_text(reason, field="reason", limit=500)
        if not reason:
            raise ValidationError("reason: a transfer needs a reason", field="reason")
        payload = {
            "source": src_name,
            "destination": dst_name,
            "amount": str(value),
            "reason": reason,
        }

        def use_case(session: Session) -> MovementResult:
            ids: list[int] = []
            for n, field in ((src_name, "source"), (dst_name, "destination")):
                found = session.exec(select(Account.id).where(Account.name == n)).first()
                if found is None:
                    raise NotFoundError(f"account {n!r} does not exist", field=field)
                ids.append(found)
            # Lock in id order, as everywhere, so two opposite transfers cannot deadlock.
            locked = {a.name: a for a in (self._lock_account(session, id=i) for i in sorted(ids))}
            src, dst = locked[src_name], locked[dst_name]
            fingerprint, earlier = self._replay(session, ctx, "transfer", payload)
            if earlier is not None:
                return MovementResult.from_dict(earlier)
            for acct, field in ((src, "source"), (dst, "destination")):
                if acct.status == AccountStatus.CLOSED:
                    raise AccountInactiveError(f"account {acct.name!r} is closed", field=field)
            if value > src.available:
                raise InsufficientFundsError(
                    f"account {src.name} has {format_money(src.available)} available; "
                    f"cannot transfer {format_money(value)}",
                    field="amount",
                    details={"available": money_str(src.available)},
                )
            out = self._append(
                session,
                ctx,
                src,
                EntryKind.TRANSFER,
                value,
                limit_delta=-value,
                counterparty=dst,
                memo=reason,
            )
            into = self._append(
                session,
                ctx,
                dst,
                EntryKind.TRANSFER,
                value,
                limit_delta=value,
                counterparty=src,
                memo=reason,
            )
            result = self._movement(src, value, [out, into])
            self._remember(session, ctx, "transfer", fingerprint, result)
            return result

        return self._run(use_case)

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
        timeout: timedelta | None = None,
        estimate_source: str = "local",
        metadata: dict[str, Any] | None = None,
        calibration: object = 1,
    ) -> HoldResult:
        """Reserve ``estimate x calibration x buffer`` (rounded to the cent) if the account can
        afford it. ``calibration`` is the learned actual/estimate factor (1: none); the hold
        keeps the model's own ``estimate`` so what is learned never feeds on itself.

        Refused with ``InsufficientFundsError`` -- saying how much is available -- when the
        account's or the partition's available balance is smaller; nothing is written then.
        """
        terms = _hold_terms(
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
        if timeout is not None and timeout <= timedelta(0):
            raise ValidationError("timeout: must be positive", field="timeout")
        lifetime = timeout or timedelta(seconds=int(self.settings.holds.timeout_hours * 3600))
        job = clean_text(job_id, field="job_id", limit=64) or None
        user = clean_text(user_name, field="user_name", limit=64) or None
        meta = dict(metadata or {})
        payload = {
            "account": name,
            "partition": part,
            "estimate": str(terms.estimate),
            "buffer": str(terms.buffer),
            "job_id": job,
            "user": user,
            "tasks": task_count,
        }

        def use_case(session: Session) -> HoldResult:
            # The hot path (every sbatch): plain SQL, no ORM unit of work. The new rows are
            # written first, before any lock is taken...
            fingerprint, earlier = self._replay(session, ctx, "hold", payload)
            if earlier is not None:
                return HoldResult.from_dict(earlier)
            account_id = self._account_id(session, name)
            now = self.clock()
            hold_id = f"h{uuid.uuid4().hex}"
            expires_at = now + lifetime
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
            reserve = {"b_amount": amount, "b_now": now}
            account = session.execute(RESERVE_ACCOUNT, {**reserve, "b_id": account_id}).first()
            assert account is not None  # accounts are never deleted
            refusal = _account_refusal(account, terms, pending=ZERO, now=now)
            if refusal is not None:
                raise refusal
            available = account.limit_amount - account.used_amount - account.held_amount
            if part is not None:
                cap = session.execute(
                    RESERVE_PARTITION, {**reserve, "b_account": account_id, "b_partition": part}
                ).first()
                cap_refusal = _partition_refusal(cap, terms, pending=ZERO)
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
            self._remember(session, ctx, "hold", fingerprint, result)
            return result

        return self._run(use_case)

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
        terms = _hold_terms(
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
            refusal: InsufficientFundsError | AccountInactiveError | None = _account_refusal(
                account, terms, pending=terms.amount, now=self.clock()
            )
            if refusal is None and terms.partition is not None:
                cap = session.exec(
                    select(PartitionLimit).where(
                        PartitionLimit.account_id == account.id,
                        PartitionLimit.partition == terms.partition,
                    )
                ).first()
                refusal = _partition_refusal(cap, terms, pending=terms.amount)
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
        """Charge the real cost against a hold.

        The cost is taken from what the hold still reserves; anything above it is charged as a
        linked overrun (the job already ran). A single job's post is final: the remainder is
        released and the hold closes. A job array's hold (``task_count`` > 1) takes one post per
        task (``job_id`` names the task on its journal rows) and closes at the last, or earlier
        with ``final=True``.

        ``late=True`` is for the reconcile of a job that really ran: if its hold was already
        closed (expired, voided, or an array closed early), the cost is still charged, as an
        overrun linked to the hold, rather than lost. Replays are caught by the idempotency key.
        """
        cost = parse_cost(actual_cost)
        task = clean_text(job_id, field="job_id", limit=64) or None
        payload = {"hold": hold_id, "cost": str(cost), "final": final, "job": task}

        def use_case(session: Session) -> PostResult:
            hold, account, cap = self._locked_hold(session, hold_id)
            fingerprint, earlier = self._replay(session, ctx, "post", payload)
            if earlier is not None:
                return PostResult.from_dict(earlier)
            meta = {**hold.job_metadata, **(metadata or {})}
            if hold.state != HoldState.OPEN:
                if not late:
                    self._require_open(hold)
                result = self._charge_late(session, ctx, hold, account, cap, cost, task, meta)
                self._remember(session, ctx, "post", fingerprint, result)
                return result
            consumed = min(cost, hold.remaining)
            overrun = cost - consumed
            self._append(
                session,
                ctx,
                account,
                EntryKind.CHARGE,
                consumed,
                used_delta=consumed,
                held_delta=-consumed,
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
            hold.charged += cost
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
            result = PostResult(
                hold_id=hold.id,
                account=account.name,
                original_hold=hold.amount,
                charged=cost,
                overrun=overrun,
                released=released,
                total_charged=hold.charged,
                state=str(hold.state),
                tasks_posted=hold.tasks_posted,
                task_count=hold.task_count,
            )
            self._remember(session, ctx, "post", fingerprint, result)
            return result

        return self._run(use_case)

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
        as overrun because nothing had been reserved for it. Replays (same key) charge once.
        """
        name = normalise_account_name(account_name)
        part = validate_partition_name(partition)
        cost = parse_cost(actual_cost)
        job = clean_text(job_id, field="job_id", limit=64)
        if not job:
            raise ValidationError("job_id: required", field="job_id")
        user = clean_text(user_name, field="user_name", limit=64) or None
        payload = {"account": name, "partition": part, "cost": str(cost), "job": job}

        def use_case(session: Session) -> MovementResult:
            account = self._lock_account(session, name=name)
            cap = self._lock_partition_limit(session, account, part)
            fingerprint, earlier = self._replay(session, ctx, "charge_job", payload)
            if earlier is not None:
                return MovementResult.from_dict(earlier)
            entry = self._append(
                session,
                ctx,
                account,
                EntryKind.CHARGE,
                cost,
                used_delta=cost,
                partition_limit=cap,
                partition=part,
                overrun=True,
                memo="charged without a hold (the job was accepted unchecked)",
                metadata=metadata or {},
                job_id=job,
                user_name=user,
            )
            result = self._movement(account, cost, [entry])
            self._remember(session, ctx, "charge_job", fingerprint, result)
            return result

        return self._run(use_case)

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

        Under the account's (and hold's) lock, the job's charge so far is the sum of its rows
        (``hold_id`` and ``job_id``; for a job that ran without a hold, the account's unheld
        rows for ``job_id``); the difference is charged as an overrun or refunded, linked to
        the hold and the job. A job already at ``cost`` moves nothing, so the same report
        applied twice (a retry, a duplicate file) changes the ledger once.
        """
        job = clean_text(job_id, field="job_id", limit=64)
        if not job:
            raise ValidationError("job_id: required", field="job_id")
        value = parse_cost(cost)
        if hold_id is None and not account_name:
            raise ValidationError("account: required for a job without a hold", field="account")
        name = normalise_account_name(account_name) if account_name else None

        def use_case(session: Session) -> SettleResult:
            hold: Hold | None = None
            if hold_id is not None:
                hold, account, cap = self._locked_hold(session, hold_id)
                mine: tuple[ColumnElement[bool], ...] = (
                    col(JournalEntry.hold_id) == hold.id,
                    col(JournalEntry.job_id) == job,
                )
            else:
                account = self._lock_account(session, name=name)
                cap = None
                mine = (
                    col(JournalEntry.account_id) == account.id,
                    col(JournalEntry.hold_id).is_(None),
                    col(JournalEntry.job_id) == job,
                    col(JournalEntry.kind).in_((EntryKind.CHARGE, EntryKind.ADJUSTMENT)),
                )
            rows = session.exec(
                select(col(JournalEntry.used_delta), col(JournalEntry.partition)).where(*mine)
            )
            found = list(rows)
            previous = sum((used for used, _ in found), ZERO)
            partition = (
                hold.partition
                if hold is not None
                else next((p for _, p in found if p is not None), None)
            )
            if hold is None and partition is not None:
                cap = self._lock_partition_limit(session, account, partition)
            delta = value - previous
            entries: list[int] = []
            if delta != 0:
                entries.append(
                    self._append(
                        session,
                        ctx,
                        account,
                        EntryKind.CHARGE if delta > 0 else EntryKind.ADJUSTMENT,
                        abs(delta),
                        used_delta=delta,
                        partition_limit=cap,
                        partition=partition,
                        hold=hold,
                        overrun=delta > 0,
                        memo=memo
                        or f"job cost corrected from {format_money(previous)} to "
                        f"{format_money(value)}",
                        metadata=metadata or {},
                        job_id=job,
                    )
                )
                if hold is not None:
                    hold.charged += delta
                    session.flush()
            return SettleResult(
                account=account.name,
                hold_id=hold.id if hold is not None else None,
                job_id=job,
                previous=previous,
                cost=value,
                delta=delta,
                available=account.available,
                entry_ids=entries,
            )

        return self._run(use_case)

    def recorded_result(self, key: str) -> dict[str, Any] | None:
        """What the request with idempotency ``key`` answered, if one was made."""
        record = self.db.read(lambda s: s.get(IdempotencyRecord, key))
        return None if record is None else dict(record.result)

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
        """Charge a job whose hold was already closed: nothing is held, so all is overrun."""
        was = str(hold.state)
        self._append(
            session,
            ctx,
            account,
            EntryKind.CHARGE,
            cost,
            used_delta=cost,
            partition_limit=cap,
            hold=hold,
            overrun=True,
            memo=f"charged after the hold was {was}",
            metadata=meta,
            job_id=task,
        )
        hold.charged += cost
        hold.tasks_posted += 1
        hold.state = HoldState.POSTED
        hold.resolved_at = hold.resolved_at or self.clock()
        session.flush()
        return PostResult(
            hold_id=hold.id,
            account=account.name,
            original_hold=hold.amount,
            charged=cost,
            overrun=cost,
            released=ZERO,
            total_charged=hold.charged,
            state=str(hold.state),
            tasks_posted=hold.tasks_posted,
            task_count=hold.task_count,
        )

    def void_hold(self, hold_id: str, *, ctx: Context, reason: str = "") -> ReleaseResult:
        """Release everything a hold still reserves (the job never ran, or was cancelled).

        A job array's hold that already has charges closes as ``posted``.
        """
        reason = clean_text(reason, field="reason", limit=500)
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
                results.append(self.expire_hold(hold_id, ctx=ctx))
            except HoldResolvedError:
                continue
        return results

    def _close_unposted(
        self, hold_id: str, *, ctx: Context, state: HoldState, memo: str
    ) -> ReleaseResult:
        payload = {"hold": hold_id, "state": str(state)}
        operation = "void" if state == HoldState.VOIDED else "expire"

        def use_case(session: Session) -> ReleaseResult:
            hold, account, cap = self._locked_hold(session, hold_id)
            fingerprint, earlier = self._replay(session, ctx, operation, payload)
            if earlier is not None:
                return ReleaseResult.from_dict(earlier)
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
            result = ReleaseResult(
                hold_id=hold.id, account=account.name, released=released, state=str(hold.state)
            )
            self._remember(session, ctx, operation, fingerprint, result)
            return result

        return self._run(use_case)

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
                    "charged": str(hold.charged),
                    "released": str(hold.released),
                },
            )

    # -- reads -------------------------------------------------------------------

    def get_account(self, name: str) -> Account:
        cleaned = normalise_account_name(name)
        account = self.db.read(
            lambda s: s.exec(select(Account).where(Account.name == cleaned)).first()
        )
        if account is None:
            raise NotFoundError(f"account {cleaned!r} does not exist", field="account")
        return account

    def list_accounts(self, *, status: AccountStatus | None = None) -> list[Account]:
        def query(s: Session) -> list[Account]:
            stmt = select(Account).order_by(col(Account.name))
            if status is not None:
                stmt = stmt.where(Account.status == status)
            return list(s.exec(stmt))

        return self.db.read(query)

    def partition_limits(self, name: str) -> list[PartitionLimit]:
        account = self.get_account(name)
        return self.db.read(
            lambda s: list(
                s.exec(
                    select(PartitionLimit)
                    .where(PartitionLimit.account_id == account.id)
                    .order_by(col(PartitionLimit.partition))
                )
            )
        )

    def get_hold(self, hold_id: str) -> Hold:
        hold = self.db.read(lambda s: s.get(Hold, hold_id))
        if hold is None:
            raise NotFoundError(f"hold {hold_id!r} does not exist", field="hold_id")
        return hold

    def journal(
        self, *, account: str | None = None, hold_id: str | None = None, limit: int = 100
    ) -> list[JournalEntry]:
        """The newest journal rows first, optionally for one account or hold."""
        account_id = self.get_account(account).id if account else None

        def query(s: Session) -> list[JournalEntry]:
            stmt = select(JournalEntry).order_by(col(JournalEntry.id).desc()).limit(limit)
            if account_id is not None:
                stmt = stmt.where(JournalEntry.account_id == account_id)
            if hold_id is not None:
                stmt = stmt.where(JournalEntry.hold_id == hold_id)
            return list(s.exec(stmt))

        return self.db.read(query)
