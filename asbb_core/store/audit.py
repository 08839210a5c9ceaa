"""The audit trail: every change that is not a movement of money, who made it, when, from
where, and the fields before and after. Money movements are journal rows already; together
the two tell everything that happened to the bank.

``record`` is called inside the use case that makes the change, on its session, so the event
commits or rolls back with it (a retry that replays a recorded result writes nothing twice).
The table is append-only (migration 0009's triggers), like the journal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlmodel import Session, col, select

from asbb_core.store.database import Database
from asbb_core.store.models import AuditEvent
from asbb_core.store.queries import text_search
from asbb_core.values.context import Context
from asbb_core.values.errors import ValidationError
from asbb_core.values.wire import View

MAX_PAGE = 1000
CENT = Decimal("0.01")
MAX_ID = 2**63 - 1


def _plain(value: Any) -> Any:
    """A field's value as JSON keeps it (Decimals and dates as exact strings)."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        # Money as people write it ("50.00" whether stored to 2 or 4 places), finer amounts whole.
        cents = value.quantize(CENT)
        return format(cents if cents == value else value.normalize(), "f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def record(
    session: Session,
    ctx: Context,
    action: str,
    subject: str,
    *,
    at: datetime,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    keep: tuple[str, ...] = (),
) -> AuditEvent | None:
    """Append one event; only the fields whose value changed are kept (and those named in
    ``keep``, which say which part of the subject changed). Returns None (and writes nothing)
    when an update changed nothing."""
    old = {k: _plain(v) for k, v in (before or {}).items()}
    new = {k: _plain(v) for k, v in (after or {}).items()}
    if before is not None and after is not None:
        changed = {k for k in old.keys() | new.keys() if old.get(k) != new.get(k)}
        if not changed:
            return None
        old = {k: v for k, v in old.items() if k in changed or k in keep}
        new = {k: v for k, v in new.items() if k in changed or k in keep}
    event = AuditEvent(
        at=at,
        actor=ctx.actor,
        source=ctx.source,
        correlation_id=ctx.correlation_id,
        action=action,
        subject=subject,
        before=old,
        after=new,
    )
    session.add(event)
    session.flush()
    return event


def _shown(value: Any) -> str:
    return "-" if value in (None, "") else str(value)


def change_text(before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    """What changed, short enough for a table people read: ``status: active -> suspended``
    (fields kept to say which part changed first: ``partition=gpu-aws; limit: - -> 50.00``);
    a creation lists only the fields it set (``limit=500.00``), a removal what it held."""
    if not before or not after:
        values = after or before
        return " ".join(f"{k}={v}" for k, v in values.items() if v not in (None, "", [], {}))
    keys = list(dict.fromkeys([*before, *after]))
    same = [f"{k}={_shown(after[k])}" for k in keys if before.get(k) == after.get(k)]
    moved = [
        f"{k}: {_shown(before.get(k))} -> {_shown(after.get(k))}"
        for k in keys
        if before.get(k) != after.get(k)
    ]
    return "; ".join([" ".join(same), *moved] if same else moved)


def summary(action: str, before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    """``update status: active -> suspended``: the verb (the subject names the kind), then what."""
    verb = action.rpartition(".")[2]
    change = change_text(before, after)
    return f"{verb} {change}" if change else verb


@dataclass(frozen=True)
class AuditPage:
    """Newest first; ``next_before_id`` continues the list (None: this was the end)."""

    items: list[AuditEvent]
    next_before_id: int | None


def list_events(
    db: Database,
    *,
    subject: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    before_id: int | None = None,
    limit: int = 100,
    search: str | None = None,
) -> AuditPage:
    """Audit events, newest first, filtered by subject (``account:physics``, or a kind alone:
    ``account``), actor, action, time and free text (in the actor, action or subject), paged
    by ``before_id``."""
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationError(f"limit: must be 1 to {MAX_PAGE}", field="limit")
    if before_id is not None and not 1 <= before_id <= MAX_ID:
        raise ValidationError("before_id: must be a positive id", field="before_id")
    query = select(AuditEvent)
    if subject:
        if ":" in subject:
            query = query.where(AuditEvent.subject == subject)
        else:
            query = query.where(col(AuditEvent.subject).startswith(f"{subject}:"))
    if actor:
        query = query.where(AuditEvent.actor == actor)
    if action:
        query = query.where(AuditEvent.action == action)
    if since is not None:
        query = query.where(col(AuditEvent.at) >= since)
    if before_id is not None:
        query = query.where(col(AuditEvent.id) < before_id)
    for condition in text_search(search, AuditEvent.actor, AuditEvent.action, AuditEvent.subject):
        query = query.where(condition)
    query = query.order_by(col(AuditEvent.id).desc()).limit(limit + 1)
    rows = db.read(lambda s: list(s.exec(query)))
    more = len(rows) > limit
    items = rows[:limit]
    return AuditPage(items=items, next_before_id=items[-1].id if more and items else None)


class AuditEventView(View):
    """One change in the audit trail."""

    id: int
    at: datetime
    actor: str
    source: str
    correlation_id: str
    action: str
    """``<kind>.<verb>``: account.create, account.update, partition_limit.set, token.revoke, ..."""
    subject: str
    """``<kind>:<id>``: account:physics, grant:NSF-1, schedule:3, token:ops."""
    before: dict[str, Any]
    after: dict[str, Any]

    @classmethod
    def of(cls, event: AuditEvent) -> AuditEventView:
        return cls(
            id=event.id or 0,
            at=event.at,
            actor=event.actor,
            source=str(event.source),
            correlation_id=event.correlation_id,
            action=event.action,
            subject=event.subject,
            before=event.before,
            after=event.after,
        )


class AuditPageView(View):
    items: list[AuditEventView]
    next_before_id: int | None
    """Pass as ``before_id`` for the next (older) page; null when this page is the last."""

    @classmethod
    def of(cls, page: AuditPage) -> AuditPageView:
        return cls(
            items=[AuditEventView.of(e) for e in page.items], next_before_id=page.next_before_id
        )
