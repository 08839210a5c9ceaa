"""Spend over time, aggregated in SQL: what a set of accounts consumed between two dates.

Spend is the net of the journal's ``used_delta`` (charges and overruns, less refunds and
usage corrections), so it always agrees with the accounts' cached ``used`` totals. Dates are
UTC days, both ends inclusive. Every figure here is one ``GROUP BY`` over the journal's
``(account_id, created_at)`` index, never a loop over rows in Python.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, func, literal, literal_column, or_, tuple_
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from asbb_core.store.models import Account, JournalEntry
from asbb_core.store.sqltypes import Money
from asbb_core.values.money import ZERO

SpendGroup = Literal["day", "month", "partition", "user", "account"]


def day_start(day: date) -> datetime:
    """Midnight UTC at the start of ``day``."""
    return datetime.combine(day, time.min, tzinfo=UTC)


def _utc(session: Session) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        # A literal, not a bound parameter, so GROUP BY repeats the select's expression exactly.
        return func.timezone(literal_column("'UTC'"), col(JournalEntry.created_at))
    return col(JournalEntry.created_at)  # SQLite and MySQL keep UTC times without a zone


def day_key(session: Session) -> Any:
    """The UTC calendar day of a journal row, as SQL."""
    return func.date(_utc(session))


def month_key(session: Session) -> Any:
    """The UTC month of a journal row (``YYYY-MM``), as SQL."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return func.to_char(_utc(session), literal_column("'YYYY-MM'"))
    if dialect == "mysql":
        return func.date_format(_utc(session), literal_column("'%Y-%m'"))
    return func.strftime(literal_column("'%Y-%m'"), _utc(session))


def _key(session: Session, group: SpendGroup) -> Any:
    if group == "day":
        return day_key(session)
    if group == "month":
        return month_key(session)
    if group == "account":
        return col(Account.name)
    return col(JournalEntry.partition if group == "partition" else JournalEntry.user_name)


def _text(key: object) -> str | None:
    if isinstance(key, date):
        return key.isoformat()
    return None if key is None else str(key)


def spend_sum() -> Any:
    """The one definition of spend, as SQL: SUM(used_delta) -- charges, overruns, late
    charges and cost corrections, less refunds -- so it agrees with the cached ``used``."""
    # The zero is typed as money too: SQLite would otherwise hand back a bare float 0.0.
    total = func.sum(col(JournalEntry.used_delta), type_=Money)
    return func.coalesce(total, literal(ZERO, Money), type_=Money)


def moves_spend() -> ColumnElement[bool]:
    """The journal rows that spend is the sum of (the others move only limit or held)."""
    return col(JournalEntry.used_delta) != 0


def _scoped(stmt: Any, account_ids: Collection[int], since: date, until: date) -> Any:
    ids = sorted(account_ids)
    where = col(JournalEntry.account_id) == ids[0] if len(ids) == 1 else None
    return stmt.where(
        where if where is not None else col(JournalEntry.account_id).in_(ids),
        col(JournalEntry.created_at) >= day_start(since),
        col(JournalEntry.created_at) < day_start(until + timedelta(days=1)),
        moves_spend(),
    )


def spend_total(
    session: Session, account_ids: Collection[int], since: date, until: date
) -> Decimal:
    """Net spend of the accounts from ``since`` to ``until`` (UTC days, inclusive)."""
    if not account_ids or until < since:
        return ZERO
    value = session.exec(_scoped(select(spend_sum()), account_ids, since, until)).one()
    return Decimal(value) if value is not None else ZERO


def spend_by(
    session: Session,
    account_ids: Collection[int],
    since: date,
    until: date,
    group: SpendGroup,
) -> list[tuple[str | None, Decimal]]:
    """Net spend per day (``YYYY-MM-DD``), month (``YYYY-MM``), partition, user or account
    name, in key order (``None``: not recorded, last). Days without spend are absent."""
    if not account_ids or until < since:
        return []
    key = _key(session, group).label("key")
    stmt = select(key, spend_sum().label("spent")).select_from(JournalEntry)
    if group == "account":
        stmt = stmt.join(Account, col(Account.id) == JournalEntry.account_id)
    stmt = _scoped(stmt, account_ids, since, until).group_by(key).order_by(key.asc().nulls_last())
    rows: list[tuple[str | None, Decimal]] = []
    for k, spent in session.exec(stmt):
        rows.append((_text(k), Decimal(spent)))
    return rows


@dataclass(frozen=True)
class Scope:
    """One account's spend from ``since`` on (a grant counts each account from its link)."""

    account_id: int
    since: date


def _where(scopes: Collection[Scope], until: date) -> ColumnElement[bool]:
    end = col(JournalEntry.created_at) < day_start(until + timedelta(days=1))
    parts = [
        and_(
            col(JournalEntry.account_id) == scope.account_id,
            col(JournalEntry.created_at) >= day_start(scope.since),
        )
        for scope in scopes
    ]
    return and_(parts[0] if len(parts) == 1 else or_(*parts), end, moves_spend())


def scoped_total(session: Session, scopes: Collection[Scope], until: date) -> Decimal:
    """Net spend over several scopes up to ``until`` (inclusive)."""
    live = [scope for scope in scopes if scope.since <= until]
    if not live:
        return ZERO
    value = session.exec(select(spend_sum()).where(_where(live, until))).one()
    return Decimal(value) if value is not None else ZERO


def spend_breakdown(
    session: Session,
    scopes: Collection[Scope],
    until: date,
    groups: Sequence[SpendGroup] = ("day", "partition", "user"),
) -> dict[str, list[tuple[str | None, Decimal]]]:
    """Net spend per group for several groupings at once (as ``spend_by`` gives them).

    On PostgreSQL it is one pass over the index (``GROUPING SETS``); SQLite, which has no
    grouping sets, runs one query per grouping.
    """
    live = [scope for scope in scopes if scope.since <= until]
    out: dict[str, list[tuple[str | None, Decimal]]] = {group: [] for group in groups}
    if not live or not groups:
        return out
    keys = {group: _key(session, group) for group in groups}
    where = _where(live, until)
    if session.get_bind().dialect.name != "postgresql":
        for group, key in keys.items():
            stmt = (
                select(key.label("key"), spend_sum())
                .select_from(JournalEntry)
                .where(where)
                .group_by(key)
                .order_by(key.asc().nulls_last())
            )
            out[group] = [(_text(k), Decimal(v)) for k, v in session.exec(stmt)]
        return out
    labelled = [key.label(f"k{n}") for n, key in enumerate(keys.values())]
    grouped = (
        sa_select(func.grouping(*keys.values()).label("which"), *labelled, spend_sum())
        .select_from(JournalEntry)
        .where(where)
        .group_by(func.grouping_sets(*(tuple_(key) for key in keys.values())))
    )
    width = len(keys)
    names = list(keys)
    for row in session.execute(grouped):
        # GROUPING() sets a bit for every key NOT in the row's set; the clear one is its set.
        mask, values, spent = row[0], row[1:-1], row[-1]
        position = next(n for n in range(width) if not mask & (1 << (width - 1 - n)))
        out[names[position]].append((_text(values[position]), Decimal(spent)))
    for rows in out.values():
        rows.sort(key=lambda kv: (kv[0] is None, kv[0] or ""))
    return out
