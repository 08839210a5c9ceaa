"""Usage summaries: what was charged, per account, partition, user or day.

Computed in SQL (``GROUP BY`` over the journal), never by walking rows in Python. "Charged" is
spend as ``asbb_core.ledger.spend`` defines it -- charges, overruns, late charges and cost
corrections, less refunds -- so it agrees with the accounts' ``used``. A "job" is a hold with
a movement of spend in the range, so a job array counts once; the average per job is the
charged total over that count, rounded once.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import func
from sqlmodel import Session, col, select

from asbb_core.ledger.spend import day_key, moves_spend, spend_sum
from asbb_core.store.database import Database
from asbb_core.store.models import Account, EntryKind, JournalEntry
from asbb_core.store.queries import check_range
from asbb_core.values.errors import ValidationError
from asbb_core.values.money import ZERO, round_posting
from asbb_core.values.text import normalise_account_name

GroupBy = Literal["account", "partition", "user", "day"]
GROUPS: tuple[str, ...] = ("account", "partition", "user", "day")


@dataclass(frozen=True)
class UsageGroup:
    """One group: ``key`` is the account, partition, user or ISO day (``None``: not recorded)."""

    key: str | None
    charged: Decimal
    jobs: int
    charges: int
    average_per_job: Decimal


@dataclass(frozen=True)
class UsageSummary:
    group_by: str
    account: str | None
    since: datetime | None
    until: datetime | None
    groups: list[UsageGroup]
    charged: Decimal
    jobs: int
    charges: int
    average_per_job: Decimal


def _average(total: Decimal, jobs: int) -> Decimal:
    return round_posting(total / jobs) if jobs else ZERO


def usage_summary(
    db: Database,
    *,
    group_by: GroupBy | str = "account",
    account: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    visible: Collection[str] | None = None,
) -> UsageSummary:
    """Charged totals, job counts and averages per group, plus the totals over all groups.

    ``since`` is inclusive and ``until`` exclusive; ``visible`` limits it to some accounts.
    """
    if group_by not in GROUPS:
        raise ValidationError(f"group_by: must be one of {', '.join(GROUPS)}", field="group_by")
    name = normalise_account_name(account) if account is not None else None
    check_range(since, until)
    scope = None if visible is None else sorted(visible)
    # Spend has one definition (ledger.spend): refunds and corrections count, so the usage
    # report, burn rates and the accounts' used totals agree.
    charged = spend_sum().label("charged")
    jobs = func.count(func.distinct(col(JournalEntry.hold_id))).label("jobs")
    is_charge = col(JournalEntry.kind).in_((EntryKind.CHARGE, EntryKind.LATE_CHARGE))
    charges = func.count(col(JournalEntry.id)).filter(is_charge).label("charges")

    def filtered(stmt: Any) -> Any:
        stmt = stmt.select_from(JournalEntry).join(
            Account, col(Account.id) == JournalEntry.account_id
        )
        stmt = stmt.where(moves_spend())
        if name is not None:
            stmt = stmt.where(col(Account.name) == name)
        if scope is not None:
            stmt = stmt.where(col(Account.name).in_(scope))
        if since is not None:
            stmt = stmt.where(col(JournalEntry.created_at) >= since)
        if until is not None:
            stmt = stmt.where(col(JournalEntry.created_at) < until)
        return stmt

    def query(s: Session) -> UsageSummary:
        keys: dict[str, Any] = {
            "account": col(Account.name),
            "partition": col(JournalEntry.partition),
            "user": col(JournalEntry.user_name),
            "day": day_key(s),
        }
        key = keys[group_by].label("key")
        grouped = (
            filtered(select(key, charged, jobs, charges))
            .group_by(key)
            .order_by(key.asc().nulls_last())
        )
        groups = []
        for k, total, n_jobs, n_charges in s.exec(grouped):
            value = total or ZERO
            text = k.isoformat() if isinstance(k, date) else (None if k is None else str(k))
            groups.append(
                UsageGroup(
                    key=text,
                    charged=round_posting(value),
                    jobs=int(n_jobs),
                    charges=int(n_charges),
                    average_per_job=_average(value, int(n_jobs)),
                )
            )
        total, n_jobs, n_charges = s.exec(filtered(select(charged, jobs, charges))).one()
        value = total or ZERO
        return UsageSummary(
            group_by=str(group_by),
            account=name,
            since=since,
            until=until,
            groups=groups,
            charged=round_posting(value),
            jobs=int(n_jobs),
            charges=int(n_charges),
            average_per_job=_average(value, int(n_jobs)),
        )

    return db.read(query)
