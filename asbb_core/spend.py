"""Spend over time, aggregated in SQL: what a set of accounts consumed between two dates.

Spend is the net of the journal's ``used_delta`` (charges and overruns, less refunds and
usage corrections), so it always agrees with the accounts' cached ``used`` totals. Dates are
UTC days, both ends inclusive. Every figure here is one ``GROUP BY`` over the journal's
``(account_id, created_at)`` index, never a loop over rows in Python.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import func, literal_column
from sqlmodel import Session, col, select

from asbb_core.models import Account, JournalEntry
from asbb_core.money import ZERO
from asbb_core.sqltypes import Money

SpendGroup = Literal["day", "month", "partition", "user", "account"]


def day_start(day: date) -> datetime:
    """Midnight UTC at the start of ``day``."""
    return datetime.combine(day, time.min, tzinfo=UTC)


def _utc(session: Session) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        # A literal, not a bound parameter, so GROUP BY repeats the select's expression exactly.
        return func.timezone(literal_column("'UTC'"), col(JournalEntry.created_at))
    return col(JournalEntry.created_at)  # SQLite keeps UTC times as naive text


def day_key(session: Session) -> Any:
    """The UTC calendar day of a journal row, as SQL."""
    return func.date(_utc(session))


def month_key(session: Session) -> Any:
    """The UTC month of a journal row (``YYYY-MM``), as SQL."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(_utc(session), literal_column("'YYYY-MM'"))
    return func.strftime(literal_column("'%Y-%m'"), _utc(session))


def _spent() -> Any:
    return func.coalesce(func.sum(col(JournalEntry.used_delta), type_=Money), ZERO)


def _scoped(stmt: Any, account_ids: Collection[int], since: date, until: date) -> Any:
    ids = sorted(account_ids)
    where = col(JournalEntry.account_id) == ids[0] if len(ids) == 1 else None
    return stmt.where(
        where if where is not None else col(JournalEntry.account_id).in_(ids),
        col(JournalEntry.created_at) >= day_start(since),
        col(JournalEntry.created_at) < day_start(until + timedelta(days=1)),
        col(JournalEntry.used_delta) != 0,
    )


def spend_total(
    session: Session, account_ids: Collection[int], since: date, until: date
) -> Decimal:
    """Net spend of the accounts from ``since`` to ``until`` (UTC days, inclusive)."""
    if not account_ids or until < since:
        return ZERO
    value = session.exec(_scoped(select(_spent()), account_ids, since, until)).one()
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
    keys: dict[str, Any] = {
        "day": day_key(session),
        "month": month_key(session),
        "partition": col(JournalEntry.partition),
        "user": col(JournalEntry.user_name),
        "account": col(Account.name),
    }
    key = keys[group].label("key")
    stmt = select(key, _spent().label("spent")).select_from(JournalEntry)
    if group == "account":
        stmt = stmt.join(Account, col(Account.id) == JournalEntry.account_id)
    stmt = _scoped(stmt, account_ids, since, until).group_by(key).order_by(key.asc().nulls_last())
    rows: list[tuple[str | None, Decimal]] = []
    for k, spent in session.exec(stmt):
        text = k.isoformat() if isinstance(k, date) else (None if k is None else str(k))
        rows.append((text, Decimal(spent)))
    return rows
