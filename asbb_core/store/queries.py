"""Paged, filtered reads over accounts, the journal and holds, for the API and the console.

Every query runs in one read-only transaction (``Database.read``). Filtering, sorting and
paging happen in SQL, so a page costs the same on 10 accounts as on 10,000. ``visible`` limits
a query to some accounts (a reader token's scope); ``None`` means every account.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Generic, Literal, TypeVar

from sqlalchemy import func, or_
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from asbb_core.store.database import Database
from asbb_core.store.models import (
    Account,
    AccountStatus,
    AllocationCredit,
    AllocationSchedule,
    CreditOutcome,
    EntryKind,
    Hold,
    HoldState,
    JournalEntry,
    PartitionLimit,
    ScheduleStatus,
)
from asbb_core.values.errors import NotFoundError, ValidationError
from asbb_core.values.money import ZERO
from asbb_core.values.periods import check_day, check_moment, due_date
from asbb_core.values.text import normalise_account_name

T = TypeVar("T")

AccountSort = Literal["name", "available", "used", "limit"]
MAX_PAGE = 500
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of an offset-paged list; ``total`` counts every row that matched."""

    items: list[T]
    total: int
    limit: int
    offset: int


@dataclass(frozen=True)
class Instalments:
    """An account's allocation schedules in three figures (the original tool's
    ``has_incremental_budget``, ``total_allocated`` and ``next_allocation_date``)."""

    scheduled: bool
    """Its budget comes in instalments: it has a schedule that was not cancelled."""
    allocated: Decimal
    """Credited to it by its schedules so far (cancelled ones included)."""
    next_date: date | None
    """When the next instalment of an active schedule falls due (None: none is to come)."""


NO_INSTALMENTS = Instalments(scheduled=False, allocated=ZERO, next_date=None)


@dataclass(frozen=True)
class AccountDetail:
    account: Account
    partition_limits: list[PartitionLimit]
    open_holds: int
    instalments: Instalments


@dataclass(frozen=True)
class EntryRow:
    """A journal row with the names of its account and (for transfers) its counterparty."""

    entry: JournalEntry
    account: str
    counterparty: str | None


@dataclass(frozen=True)
class EntryPage:
    """Newest first; ``next_before_id`` continues the list (``None``: this was the end)."""

    items: list[EntryRow]
    next_before_id: int | None


@dataclass(frozen=True)
class HoldRow:
    hold: Hold
    account: str
    job_charged: Decimal
    """All its job was charged: the hold's own charges, late charges and corrections (the
    hold is final once resolved, so later costs are entries of their own)."""


def job_charged(hold: Any = Hold.id) -> Any:
    """All a hold's job was charged (its charges, late charges and corrections), as a scalar
    subquery: correlated to the row being selected by default, or for one hold id."""
    total = func.coalesce(func.sum(JournalEntry.used_delta), ZERO)
    return select(total).where(col(JournalEntry.hold_id) == hold).scalar_subquery()


# ---------------------------------------------------------------- argument checks


def check_page(limit: int, offset: int = 0, *, most: int = MAX_PAGE) -> None:
    """Refuse a page size outside 1..``most`` or a negative offset, naming the field."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= most:
        raise ValidationError(f"limit: must be from 1 to {most}", field="limit")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise ValidationError("offset: must be zero or more", field="offset")


MAX_SEARCH = 100


def text_search(text: str | None, *columns: Any) -> list[ColumnElement[bool]]:
    """The condition for a free-text filter: ``text`` inside any of ``columns``, ignoring
    case, with ``%`` and ``_`` taken literally (no condition for an empty text)."""
    needle = (text or "").strip()
    if not needle:
        return []
    if len(needle) > MAX_SEARCH:
        raise ValidationError(f"search: at most {MAX_SEARCH} characters", field="search")
    return [or_(*(col(c).icontains(needle, autoescape=True) for c in columns))]


def parse_when(value: str | None, *, field: str, end: bool = False) -> datetime | None:
    """Read an ISO date or datetime bound; naive times are taken as UTC.

    A bare date as an ``end`` bound means the end of that day (the whole day is included);
    callers compare ``created_at < bound`` for ends and ``created_at >= bound`` for starts.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        if _DATE_ONLY.match(text):
            day = check_day(date.fromisoformat(text), field=field)
            moment = datetime.combine(day, time(0), tzinfo=UTC)
            return moment + timedelta(days=1) if end else moment
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValidationError(
            f"{field}: {value!r} is not an ISO date (2026-03-02) or datetime "
            "(2026-03-02T12:00:00Z)",
            field=field,
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return check_moment(parsed, field=field)


def check_range(since: datetime | None, until: datetime | None) -> None:
    if since is not None and until is not None and until <= since:
        raise ValidationError("until: must be after since", field="until")


def _scope(visible: Collection[str] | None) -> list[str] | None:
    return None if visible is None else sorted(visible)


# ---------------------------------------------------------------- accounts


def list_accounts(
    db: Database,
    *,
    status: AccountStatus | str | None = None,
    prefix: str | None = None,
    sort: AccountSort = "name",
    descending: bool = False,
    limit: int = 100,
    offset: int = 0,
    visible: Collection[str] | None = None,
) -> Page[Account]:
    """Accounts filtered by status and name prefix, sorted and paged in SQL."""
    check_page(limit, offset)
    wanted: AccountStatus | None = None
    if status is not None:
        try:
            wanted = AccountStatus(status)
        except ValueError:
            raise ValidationError(
                f"status: {status!r} is not one of active, suspended, closed", field="status"
            ) from None
    keys: dict[str, Any] = {
        "name": col(Account.name),
        "available": col(Account.limit_amount) - Account.used_amount - Account.held_amount,
        "used": col(Account.used_amount),
        "limit": col(Account.limit_amount),
    }
    if sort not in keys:
        raise ValidationError(f"sort: must be one of {', '.join(keys)}", field="sort")
    key = keys[sort]
    text = (prefix or "").strip().lower()
    scope = _scope(visible)

    def query(s: Session) -> Page[Account]:
        conditions: list[Any] = []
        if wanted is not None:
            conditions.append(col(Account.status) == wanted)
        if text:
            conditions.append(col(Account.name).startswith(text, autoescape=True))
        if scope is not None:
            conditions.append(col(Account.name).in_(scope))
        total = s.exec(select(func.count()).select_from(Account).where(*conditions)).one()
        order = [key.desc() if descending else key.asc()]
        if sort != "name":
            order.append(col(Account.name).asc())
        rows = s.exec(
            select(Account).where(*conditions).order_by(*order).limit(limit).offset(offset)
        )
        return Page(items=list(rows), total=int(total), limit=limit, offset=offset)

    return db.read(query)


def account_detail(db: Database, name: str, *, field: str = "name") -> AccountDetail:
    """One account with its partition limits and its number of open holds."""
    cleaned = normalise_account_name(name, field=field)

    def query(s: Session) -> AccountDetail:
        account = s.exec(select(Account).where(Account.name == cleaned)).first()
        if account is None:
            raise NotFoundError(f"account {cleaned!r} does not exist", field=field)
        limits = s.exec(
            select(PartitionLimit)
            .where(PartitionLimit.account_id == account.id)
            .order_by(col(PartitionLimit.partition))
        )
        open_holds = s.exec(
            select(func.count())
            .select_from(Hold)
            .where(Hold.account_id == account.id, Hold.state == HoldState.OPEN)
        ).one()
        plan = _instalments(s, [account]).get(account.id or 0, NO_INSTALMENTS)
        return AccountDetail(account, list(limits), int(open_holds), plan)

    return db.read(query)


def instalments(db: Database, accounts: Collection[Account]) -> dict[int, Instalments]:
    """The instalments of each of ``accounts`` by account id (absent: no schedule at all)."""
    return db.read(lambda s: _instalments(s, accounts)) if accounts else {}


def _instalments(s: Session, accounts: Collection[Account]) -> dict[int, Instalments]:
    ids = [a.id for a in accounts if a.id is not None]
    schedules = s.exec(
        select(AllocationSchedule).where(col(AllocationSchedule.account_id).in_(ids))
    ).all()
    credited = dict(
        s.exec(
            select(AllocationSchedule.account_id, func.sum(AllocationCredit.amount))
            .join(AllocationCredit, col(AllocationCredit.schedule_id) == AllocationSchedule.id)
            .where(
                col(AllocationSchedule.account_id).in_(ids),
                AllocationCredit.outcome == CreditOutcome.CREDITED,
            )
            .group_by(col(AllocationSchedule.account_id))
        ).all()
    )
    found: dict[int, Instalments] = {}
    for schedule in schedules:
        before = found.get(schedule.account_id, NO_INSTALMENTS)
        upcoming = before.next_date
        if schedule.status == ScheduleStatus.ACTIVE and schedule.next_period < schedule.instalments:
            due = due_date(schedule.start_date, schedule.frequency, schedule.next_period)
            upcoming = due if upcoming is None else min(upcoming, due)
        found[schedule.account_id] = Instalments(
            scheduled=before.scheduled or schedule.status != ScheduleStatus.CANCELLED,
            allocated=Decimal(credited.get(schedule.account_id) or ZERO),
            next_date=upcoming,
        )
    return found


# ---------------------------------------------------------------- the journal


def list_entries(
    db: Database,
    *,
    account: str | None = None,
    job_id: str | None = None,
    kind: EntryKind | str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    hold_id: str | None = None,
    limit: int = 100,
    before_id: int | None = None,
    visible: Collection[str] | None = None,
    offset: int = 0,
    hold_state: HoldState | str | None = None,
) -> EntryPage:
    """Journal rows, newest first, with keyset paging on the id (``before_id``); ``offset``
    skips rows after that (the original tool's paging).

    ``since`` is inclusive, ``until`` exclusive. ``hold_state`` keeps the rows of holds in
    that state (``open``: money still reserved for a job not yet reconciled).
    """
    check_page(limit, offset)
    name = normalise_account_name(account) if account is not None else None
    entry_kind: EntryKind | None = None
    if kind is not None:
        try:
            entry_kind = EntryKind(kind)
        except ValueError:
            raise ValidationError(
                f"type: {kind!r} is not one of {', '.join(k.value for k in EntryKind)}",
                field="type",
            ) from None
    if before_id is not None and before_id < 1:
        raise ValidationError("before_id: must be a positive id", field="before_id")
    check_range(since, until)
    state: HoldState | None = None
    if hold_state is not None:
        try:
            state = HoldState(hold_state)
        except ValueError:
            raise ValidationError(
                f"hold_state: {hold_state!r} is not one of {', '.join(h.value for h in HoldState)}",
                field="hold_state",
            ) from None
    scope = _scope(visible)
    other = aliased(Account)

    def query(s: Session) -> EntryPage:
        stmt = (
            select(JournalEntry, Account.name, other.name)
            .join(Account, col(Account.id) == JournalEntry.account_id)
            .outerjoin(other, col(other.id) == JournalEntry.counterparty_account_id)
        )
        if name is not None:
            stmt = stmt.where(Account.name == name)
        if scope is not None:
            stmt = stmt.where(col(Account.name).in_(scope))
        if job_id is not None:
            stmt = stmt.where(JournalEntry.job_id == job_id)
        if entry_kind is not None:
            stmt = stmt.where(JournalEntry.kind == entry_kind)
        if hold_id is not None:
            stmt = stmt.where(JournalEntry.hold_id == hold_id)
        if state is not None:
            stmt = stmt.join(Hold, col(Hold.id) == col(JournalEntry.hold_id)).where(
                col(Hold.state) == state
            )
        if since is not None:
            stmt = stmt.where(col(JournalEntry.created_at) >= since)
        if until is not None:
            stmt = stmt.where(col(JournalEntry.created_at) < until)
        if before_id is not None:
            stmt = stmt.where(col(JournalEntry.id) < before_id)
        stmt = stmt.order_by(col(JournalEntry.id).desc()).offset(offset)
        rows = list(s.exec(stmt.limit(limit + 1)))
        more = len(rows) > limit
        items = [EntryRow(e, a, c) for e, a, c in rows[:limit]]
        return EntryPage(items=items, next_before_id=items[-1].entry.id if more else None)

    return db.read(query)


def get_entry(db: Database, entry_id: int) -> EntryRow:
    other = aliased(Account)

    def query(s: Session) -> EntryRow:
        row = s.exec(
            select(JournalEntry, Account.name, other.name)
            .join(Account, col(Account.id) == JournalEntry.account_id)
            .outerjoin(other, col(other.id) == JournalEntry.counterparty_account_id)
            .where(JournalEntry.id == entry_id)
        ).first()
        if row is None:
            raise NotFoundError(f"journal entry {entry_id} does not exist", field="id")
        return EntryRow(row[0], row[1], row[2])

    return db.read(query)


# ---------------------------------------------------------------- holds


def list_holds(
    db: Database,
    *,
    account: str | None = None,
    state: HoldState | str | None = HoldState.OPEN,
    job_id: str | None = None,
    limit: int = 100,
    offset: int = 0,
    visible: Collection[str] | None = None,
) -> Page[HoldRow]:
    """Holds, newest first, in one state (``None``: every state), paged in SQL."""
    check_page(limit, offset)
    name = normalise_account_name(account) if account is not None else None
    wanted: HoldState | None = None
    if state is not None:
        try:
            wanted = HoldState(state)
        except ValueError:
            raise ValidationError(
                f"state: {state!r} is not one of {', '.join(s.value for s in HoldState)}",
                field="state",
            ) from None
    scope = _scope(visible)

    def query(s: Session) -> Page[HoldRow]:
        conditions: list[Any] = []
        if name is not None:
            conditions.append(col(Account.name) == name)
        if scope is not None:
            conditions.append(col(Account.name).in_(scope))
        if wanted is not None:
            conditions.append(col(Hold.state) == wanted)
        if job_id is not None:
            conditions.append(col(Hold.job_id) == job_id)
        joined = col(Account.id) == Hold.account_id
        total = s.exec(
            select(func.count()).select_from(Hold).join(Account, joined).where(*conditions)
        ).one()
        rows = s.exec(
            select(Hold, Account.name, job_charged().label("job"))
            .join(Account, joined)
            .where(*conditions)
            .order_by(col(Hold.created_at).desc(), col(Hold.id).desc())
            .limit(limit)
            .offset(offset)
        )
        items = [HoldRow(h, a, Decimal(j)) for h, a, j in rows]
        return Page(items=items, total=int(total), limit=limit, offset=offset)

    return db.read(query)


def get_hold(db: Database, hold_id: str) -> HoldRow:
    def query(s: Session) -> HoldRow:
        row = s.exec(
            select(Hold, Account.name, job_charged().label("job"))
            .join(Account, col(Account.id) == Hold.account_id)
            .where(Hold.id == hold_id)
        ).first()
        if row is None:
            raise NotFoundError(f"hold {hold_id!r} does not exist", field="hold_id")
        return HoldRow(row[0], row[1], Decimal(row[2]))

    return db.read(query)


def money_percent(part: Decimal, whole: Decimal) -> Decimal:
    """``part`` as a percentage of ``whole`` to one decimal (0 when ``whole`` is 0)."""
    if whole <= 0:
        return Decimal("0.0")
    return (part * 100 / whole).quantize(Decimal("0.1"))
