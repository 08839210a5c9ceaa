"""The ledger's core: the journal row, the cached totals it moves, the row locks, the runner.

Every movement is one ``journal`` row appended by ``_append``, which moves the account's
(and the partition cap's) cached totals in the same transaction; summing the journal always
gives them back (``asbb_core.ledger.verify``). Row locks are taken in one fixed order --
accounts by id, then partition limits, then holds -- so concurrent requests serialise per
account and never deadlock one another. On SQLite the whole writing transaction holds the
database lock (``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar, cast

from sqlalchemy import ColumnElement, CursorResult, Row, Table, bindparam
from sqlalchemy import select as sa_select
from sqlmodel import Session, SQLModel, select

from asbb_core.ledger.results import MovementResult
from asbb_core.settings import Settings
from asbb_core.store.database import Database
from asbb_core.store.models import Account, EntryKind, Hold, JournalEntry, PartitionLimit
from asbb_core.store.operations import Operation, purge_generated
from asbb_core.store.sqltypes import Money, UTCDateTime
from asbb_core.values.context import Clock, Context, utcnow
from asbb_core.values.errors import NotFoundError, ValidationError
from asbb_core.values.money import ZERO, carry_cent
from asbb_core.values.periods import check_day

T = TypeVar("T")

# Plain tables for the statements on the hot path (no ORM unit of work there).
ACCOUNTS = SQLModel.metadata.tables[Account.__tablename__]
PARTITION_LIMITS = SQLModel.metadata.tables[PartitionLimit.__tablename__]
HOLDS = SQLModel.metadata.tables[Hold.__tablename__]
JOURNAL = SQLModel.metadata.tables[JournalEntry.__tablename__]


class _Reserve:
    """Add ``b_amount`` to a row's held total and read the row as it is now: one
    ``UPDATE ... RETURNING``, or where there is none (MySQL, MariaDB) the UPDATE, which takes
    the row lock, then a SELECT of the row it locked."""

    def __init__(self, table: Table, where: ColumnElement[bool]) -> None:
        self.update = (
            table.update()
            .where(where)
            .values(
                held_amount=table.c.held_amount + bindparam("b_amount", type_=Money()),
                updated_at=bindparam("b_now", type_=UTCDateTime()),
            )
        )
        self.returning = self.update.returning(*table.c)
        self.select = sa_select(*table.c).where(where)

    def __call__(self, session: Session, params: dict[str, Any]) -> Row[Any] | None:
        if session.get_bind().dialect.update_returning:
            return session.execute(self.returning, params).first()
        session.execute(self.update, params)
        return session.execute(self.select, params).first()


# Built once: SQLAlchemy then reuses their compiled form instead of rebuilding it per call.
RESERVE_ACCOUNT = _Reserve(ACCOUNTS, ACCOUNTS.c.id == bindparam("b_id"))
ACCOUNT_ID = select(ACCOUNTS.c.id).where(ACCOUNTS.c.name == bindparam("b_name"))
RESERVE_PARTITION = _Reserve(
    PARTITION_LIMITS,
    (PARTITION_LIMITS.c.account_id == bindparam("b_account"))
    & (PARTITION_LIMITS.c.partition == bindparam("b_partition")),
)
INSERT_HOLD = HOLDS.insert()
INSERT_JOURNAL = JOURNAL.insert()


def check_dates(start: date | None, end: date | None) -> None:
    """An account's optional start and end: days asbb takes, the end not before the start."""
    if start is not None:
        check_day(start, field="start_date")
    if end is not None:
        check_day(end, field="end_date")
    if start is not None and end is not None and end < start:
        raise ValidationError(
            f"end_date: {end.isoformat()} is before start_date {start.isoformat()}",
            field="end_date",
        )


class LedgerCore:
    """What every group of the ledger's use cases stands on."""

    def __init__(self, db: Database, settings: Settings, *, clock: Clock = utcnow) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        # Account names and ids never change and accounts are never deleted (only closed),
        # so the hot path may remember which id a name has.
        self._account_ids: dict[str, int] = {}

    def run(self, use_case: Callable[[Session], T], operation: Operation | None = None) -> T:
        """Run ``use_case`` as one unit of work (or inside the one running here)."""
        return self.db.run(use_case, operation)

    def purge_retry_records(self) -> int:
        """Forget the records of unkeyed writes older than a day (see ``purge_generated``)."""
        now = self.clock()
        return self.run(
            lambda session: purge_generated(session, now), Operation("purge_retry_records")
        )

    @staticmethod
    def _operation(name: str, payload: Mapping[str, Any], ctx: Context) -> Operation:
        return Operation(name, payload, key=ctx.idempotency_key, actor=ctx.actor)

    def _account_id(self, session: Session, name: str) -> int:
        known = self._account_ids.get(name)
        if known is None:
            known = session.execute(ACCOUNT_ID, {"b_name": name}).scalar()
            if known is None:
                raise NotFoundError(f"account {name!r} does not exist", field="account")
            self._account_ids[name] = known
        return known

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
        carry_delta: Decimal = ZERO,
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
            "carry_delta": carry_delta,
            "partition": partition,
            "hold_id": hold_id,
            "job_id": job_id,
            "user_name": user_name,
            "counterparty_account_id": counterparty_id,
            "overrun": overrun,
            "actor": ctx.actor,
            "source": ctx.source,
            "correlation_id": ctx.correlation_id,
            "idempotency_key": str(ctx.idempotency_key) if ctx.idempotency_key else None,
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
        carry_delta: Decimal = ZERO,
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
            carry_delta=carry_delta,
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
        # The new id: by RETURNING where the backend has it, else the insert id (MySQL).
        done = cast("CursorResult[Any]", session.execute(INSERT_JOURNAL, row))
        assert done.inserted_primary_key is not None
        entry_id: int = done.inserted_primary_key[0]
        account.limit_amount += limit_delta
        account.used_amount += used_delta
        account.held_amount += held_delta
        account.carry_amount += carry_delta
        account.updated_at = now
        if partition_limit is not None:
            partition_limit.used_amount += used_delta
            partition_limit.held_amount += held_delta
            partition_limit.updated_at = now
        session.flush()
        return entry_id

    @staticmethod
    def _in_cents(account: Account, cost: Decimal) -> tuple[Decimal, Decimal]:
        """An exact cost as the whole cents to post now and the change to the carry."""
        return carry_cent(cost, account.carry_amount)

    @staticmethod
    def _movement(account: Account, amount: Decimal, entries: Iterable[int]) -> MovementResult:
        return MovementResult(
            account=account.name,
            amount=amount,
            limit=account.limit_amount,
            used=account.used_amount,
            held=account.held_amount,
            available=account.available,
            entry_ids=list(entries),
        )
