"""Grants: multi-year awards that fund budget accounts, split into budget periods.

A grant's ``total_award`` and its periods' budgets are *total cost* (direct + indirect). Money
reaches an account from a grant by a *draw* (``Grants.fund_account``): direct money moved from
the grant's current period into the account's limit, journaled as an ``allocation``. A draw of
``d`` commits ``d + round_posting(d x rate)`` of the period's budget.

What a period *consumed* is measured from spending, not from draws: the net spend (charges
less refunds, ``asbb_core.ledger.spend``) of the grant's linked accounts, dated inside the
period,
each account counted from the UTC day it was linked. That is the period's **direct** cost;
**indirect** = ``round_posting(direct x rate)``; **consumed** = direct + indirect;
**remaining** = budget - consumed.

Rounding rule for breakdowns (by month, partition, user, account): the total's indirect is
rounded once from the total direct; it is then apportioned over the groups by the largest-
remainder method (each group gets its ``direct x rate`` rounded down to the cent, and the
cents left over go to the groups with the largest remainders, ties in key order), so a
breakdown's column always adds up exactly to the total and every group's indirect is within a
cent of its own ``direct x rate``.

Locks: every write that changes a grant locks its row first (``SELECT ... FOR UPDATE``; on
SQLite the writing transaction's ``BEGIN IMMEDIATE``), then -- for a draw -- the account,
through the ledger. Grant before account, always.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import ROUND_DOWN, ROUND_FLOOR, Decimal
from typing import Any

from sqlalchemy import delete, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from asbb_core.ledger import Ledger
from asbb_core.ledger.spend import Scope, SpendGroup, scoped_total, spend_by
from asbb_core.store import audit
from asbb_core.store.models import (
    Account,
    AccountStatus,
    EntryKind,
    Grant,
    GrantAccount,
    GrantDraw,
    GrantPeriod,
    GrantStatus,
)
from asbb_core.store.operations import Operation
from asbb_core.store.sqltypes import Money
from asbb_core.values.context import Context
from asbb_core.values.errors import (
    AccountInactiveError,
    ConflictError,
    InsufficientFundsError,
    NotFoundError,
    ValidationError,
)
from asbb_core.values.money import (
    CENT,
    ZERO,
    format_money,
    money_value,
    parse_money,
    round_posting,
)
from asbb_core.values.money import to_decimal as _to_decimal
from asbb_core.values.periods import add_months, days_inclusive, parse_date, split_months
from asbb_core.values.text import clean_text, normalise_account_name

GRANT_NUMBER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
CFDA = re.compile(r"^\d{2}\.\d{3}$")
MAX_RATE = Decimal("1.5")
MAX_PERIOD_MONTHS = 120
MAX_CO_PIS = 20
_PERCENT = Decimal("0.1")

# Descriptive fields and their length limits (the columns' sizes).
TEXT_FIELDS: dict[str, int] = {
    "title": 500,
    "agency": 200,
    "program": 200,
    "pi": 200,
    "institution": 200,
    "department": 200,
}


# ---------------------------------------------------------------- results


@dataclass(frozen=True)
class LinkedAccount:
    name: str
    linked_by: str
    linked_at: datetime


@dataclass(frozen=True)
class PeriodLine:
    """One budget period with what was drawn from it (direct, and with indirect)."""

    number: int
    start_date: date
    end_date: date
    budget: Decimal
    drawn: Decimal
    drawn_cost: Decimal


@dataclass(frozen=True)
class GrantDetail:
    grant: Grant
    periods: list[PeriodLine]
    accounts: list[LinkedAccount]

    @property
    def drawn(self) -> Decimal:
        return sum((p.drawn for p in self.periods), ZERO)


@dataclass(frozen=True)
class Figures:
    """Direct, indirect and total cost of one group (a month, partition, user, account)."""

    key: str | None
    direct: Decimal
    indirect: Decimal
    total: Decimal


@dataclass(frozen=True)
class PeriodStatus:
    """Where one budget period stands on ``today`` (spend counted up to and including it)."""

    grant: str
    period: int
    start_date: date
    end_date: date
    today: date
    state: str
    """``upcoming`` (starts after today), ``current`` or ``ended``."""
    indirect_rate: Decimal
    budget: Decimal
    drawn: Decimal
    """Direct money moved from this period into the linked accounts."""
    drawn_cost: Decimal
    """What the draws commit: drawn + round_posting(drawn x rate)."""
    drawable: Decimal
    """Direct money that may still be drawn from this period."""
    direct: Decimal
    indirect: Decimal
    consumed: Decimal
    remaining: Decimal
    percent_used: Decimal
    """consumed / budget x 100, one decimal."""
    days: int
    days_elapsed: int
    days_left: int


@dataclass(frozen=True)
class DrawResult:
    """A draw from a grant's period into an account."""

    grant: str
    period: int
    account: str
    amount: Decimal
    indirect: Decimal
    cost: Decimal
    period_budget: Decimal
    period_drawn: Decimal
    period_drawn_cost: Decimal
    drawable: Decimal
    limit: Decimal
    available: Decimal
    draw_id: int
    entry_id: int
    replayed: bool = False


# ---------------------------------------------------------------- arithmetic


def indirect_of(direct: Decimal, rate: Decimal) -> Decimal:
    """The indirect cost of ``direct``, rounded once to the cent (half-even)."""
    return round_posting(direct * rate)


def total_cost(direct: Decimal, rate: Decimal) -> Decimal:
    """``direct`` plus its indirect cost: what it consumes of a grant's budget."""
    return round_posting(direct) + indirect_of(direct, rate)


def max_direct(budget: Decimal, rate: Decimal) -> Decimal:
    """The largest direct amount (to the cent) whose total cost fits in ``budget``."""
    if budget <= 0:
        return ZERO
    direct = (budget / (1 + rate)).quantize(CENT, rounding=ROUND_DOWN)
    while total_cost(direct + CENT, rate) <= budget:
        direct += CENT
    while direct > 0 and total_cost(direct, rate) > budget:
        direct -= CENT
    return direct


def apportion(groups: Sequence[tuple[str | None, Decimal]], rate: Decimal) -> list[Figures]:
    """Direct/indirect/total per group, the indirect apportioned by largest remainder so
    the groups' indirect adds up exactly to ``indirect_of(sum of directs)``."""
    total_direct = sum((d for _, d in groups), ZERO)
    target = indirect_of(total_direct, rate)
    floors: list[Decimal] = []
    remainders: list[tuple[Decimal, int]] = []
    for index, (_, direct) in enumerate(groups):
        exact = direct * rate
        floor = exact.quantize(CENT, rounding=ROUND_FLOOR)
        floors.append(floor)
        remainders.append((exact - floor, index))
    left = int(((target - sum(floors, ZERO)) / CENT).to_integral_value())
    # Largest remainders first; equal remainders in key order (the groups' own order).
    for _, index in sorted(remainders, key=lambda r: (-r[0], r[1]))[: max(left, 0)]:
        floors[index] += CENT
    return [
        Figures(key, round_posting(direct), floors[i], round_posting(direct) + floors[i])
        for i, (key, direct) in enumerate(groups)
    ]


def percent(part: Decimal, whole: Decimal) -> Decimal:
    """``part`` as a percentage of ``whole``, one decimal (0 when ``whole`` is 0)."""
    if whole <= 0:
        return Decimal("0.0")
    return (part * 100 / whole).quantize(_PERCENT)


def rate_str(rate: Decimal) -> str:
    """An indirect rate as a plain fraction with 2 to 4 decimals ("0.30", "0.575")."""
    text = f"{rate:.4f}".rstrip("0")
    whole, _, frac = text.partition(".")
    return f"{whole}.{frac.ljust(2, '0')}"


def rate_percent(rate: Decimal) -> str:
    """``0.30`` -> ``30%``, ``0.575`` -> ``57.5%``."""
    value = (rate * 100).normalize()
    return f"{value:f}%"


def split_budget(total: Decimal, count: int) -> list[Decimal]:
    """``total`` split evenly to the cent over ``count`` periods, the remainder on the last."""
    each = (total / count).quantize(CENT, rounding=ROUND_DOWN)
    return [each] * (count - 1) + [total - each * (count - 1)]


def months_of(start: date, end: date) -> list[str]:
    """Every calendar month (``YYYY-MM``) that ``start``..``end`` touches, in order."""
    out: list[str] = []
    day = date(start.year, start.month, 1)
    while day <= end:
        out.append(f"{day.year:04d}-{day.month:02d}")
        day = add_months(day, 1)
    return out


# ---------------------------------------------------------------- validation


def validate_grant_number(number: object, *, field: str = "number") -> str:
    if not isinstance(number, str) or not GRANT_NUMBER.match(number.strip()):
        raise ValidationError(
            f"{field}: {number!r} is not a valid grant number (letters, digits, '_', '.', '-'; "
            "at most 64, starting with a letter or digit)",
            field=field,
        )
    return number.strip()


def _co_pis(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ValidationError("co_pis: expected a list of names", field="co_pis")
    names: list[str] = []
    for item in value:
        name = clean_text(item, field="co_pis", limit=200)
        if name and name not in names:
            names.append(name)
    if len(names) > MAX_CO_PIS:
        raise ValidationError(f"co_pis: at most {MAX_CO_PIS} names", field="co_pis")
    return names


def _cfda(value: object) -> str:
    text = clean_text(value, field="cfda", limit=16)
    if text and not CFDA.match(text):
        raise ValidationError(
            f"cfda: {text!r} is not an assistance listing number (two digits, a dot, three "
            "digits, e.g. 47.070)",
            field="cfda",
        )
    return text


def parse_rate(value: object, *, field: str = "indirect_rate") -> Decimal:
    """An indirect cost rate as a fraction: 0 to 1.5, at most 4 decimals (0.30 = 30%)."""
    rate = _to_decimal(value, field=field)
    if rate != rate.quantize(Decimal("0.0001")):
        raise ValidationError(f"{field}: at most 4 decimal places (got {value})", field=field)
    if not ZERO <= rate <= MAX_RATE:
        raise ValidationError(
            f"{field}: must be a fraction from 0 to {MAX_RATE} (0.30 for 30%), got {value}",
            field=field,
        )
    return rate.quantize(Decimal("0.0001"))


def _period_months(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError("period_months: expected a whole number", field="period_months")
    if not 1 <= value <= MAX_PERIOD_MONTHS:
        raise ValidationError(
            f"period_months: must be from 1 to {MAX_PERIOD_MONTHS}", field="period_months"
        )
    return value


def _period_number(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10_000:
        raise ValidationError("period: expected a period number (1, 2, ...)", field="period")
    return value


def _status(value: object) -> GrantStatus:
    try:
        return GrantStatus(str(value))
    except ValueError:
        raise ValidationError(
            f"status: {value!r} is not one of {', '.join(s.value for s in GrantStatus)}",
            field="status",
        ) from None


# ---------------------------------------------------------------- reads on a session


def load_grant(session: Session, number: str, *, lock: bool = False) -> Grant:
    cleaned = validate_grant_number(number, field="grant")
    stmt = select(Grant).where(Grant.number == cleaned)
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    grant = session.exec(stmt).first()
    if grant is None:
        raise NotFoundError(f"grant {cleaned!r} does not exist", field="grant")
    return grant


def load_periods(session: Session, grant_id: int) -> list[GrantPeriod]:
    return list(
        session.exec(
            select(GrantPeriod)
            .where(GrantPeriod.grant_id == grant_id)
            .order_by(col(GrantPeriod.number))
        )
    )


def load_links(session: Session, grant_ids: Collection[int]) -> list[tuple[GrantAccount, str]]:
    """The grants' linked accounts with their names, by grant then account name."""
    if not grant_ids:
        return []
    rows = session.exec(
        select(GrantAccount, Account.name)
        .join(Account, col(Account.id) == GrantAccount.account_id)
        .where(col(GrantAccount.grant_id).in_(sorted(grant_ids)))
        .order_by(col(GrantAccount.grant_id), col(Account.name))
    )
    return [(link, name) for link, name in rows]


def drawn_by_period(session: Session, grant_ids: Collection[int]) -> dict[int, Decimal]:
    """Direct money drawn per period id (one GROUP BY)."""
    if not grant_ids:
        return {}
    rows = session.exec(
        select(col(GrantDraw.period_id), func.sum(col(GrantDraw.amount), type_=Money))
        .where(col(GrantDraw.grant_id).in_(sorted(grant_ids)))
        .group_by(col(GrantDraw.period_id))
    )
    return {pid: Decimal(total or 0) for pid, total in rows}


def period_at(periods: Iterable[GrantPeriod], today: date) -> GrantPeriod | None:
    """The period whose dates contain ``today`` (None: none does)."""
    for period in periods:
        if period.start_date <= today <= period.end_date:
            return period
    return None


def choose_period(
    grant: Grant, periods: list[GrantPeriod], number: int | None, day: date
) -> GrantPeriod:
    """Period ``number`` of ``grant``, or (``None``) the one containing ``day``."""
    if number is None:
        found = period_at(periods, day)
        if found is None:
            raise NotFoundError(
                f"period: grant {grant.number} has no budget period containing "
                f"{day.isoformat()}; name one",
                field="period",
            )
        return found
    chosen = next((p for p in periods if p.number == number), None)
    if chosen is None:
        raise NotFoundError(
            f"period: grant {grant.number} has no period {number} (it has {len(periods)})",
            field="period",
        )
    return chosen


def _starts(links: Iterable[GrantAccount], since: date) -> dict[date, list[int]]:
    """Linked account ids grouped by the first day their spend counts from."""
    groups: dict[date, list[int]] = defaultdict(list)
    for scope in link_scopes(links, since):
        groups[scope.since].append(scope.account_id)
    return groups


def link_scopes(links: Iterable[GrantAccount], since: date) -> list[Scope]:
    """Each linked account's spend from ``since``, or from the UTC day it was linked if later."""
    return [Scope(link.account_id, max(since, link.linked_at.date())) for link in links]


def grant_spend_total(
    session: Session, links: Iterable[GrantAccount], since: date, until: date
) -> Decimal:
    """Direct spend of the linked accounts from ``since`` to ``until`` (inclusive), each
    counted from the UTC day it was linked."""
    return scoped_total(session, link_scopes(links, since), until)


def grant_spend_by(
    session: Session,
    links: Iterable[GrantAccount],
    since: date,
    until: date,
    group: SpendGroup,
) -> list[tuple[str | None, Decimal]]:
    """Like ``grant_spend_total`` per day, month, partition, user or account (key order,
    ``None`` last); one SQL ``GROUP BY`` per distinct linking day."""
    totals: dict[str | None, Decimal] = defaultdict(lambda: ZERO)
    for first, ids in _starts(links, since).items():
        for key, value in spend_by(session, ids, first, until, group):
            totals[key] += value
    return sorted(totals.items(), key=lambda kv: (kv[0] is None, kv[0] or ""))


def status_of(
    session: Session,
    grant: Grant,
    period: GrantPeriod,
    today: date,
    drawn: Decimal,
    links: Iterable[GrantAccount],
) -> PeriodStatus:
    """The figures of one period on ``today`` (spend up to and including today)."""
    rate = grant.indirect_rate
    until = min(period.end_date, today)
    direct = round_posting(grant_spend_total(session, links, period.start_date, until))
    indirect = indirect_of(direct, rate)
    consumed = direct + indirect
    drawn_cost = total_cost(drawn, rate)
    days = days_inclusive(period.start_date, period.end_date)
    if today < period.start_date:
        state, elapsed = "upcoming", 0
    elif today > period.end_date:
        state, elapsed = "ended", days
    else:
        state, elapsed = "current", days_inclusive(period.start_date, today)
    return PeriodStatus(
        grant=grant.number,
        period=period.number,
        start_date=period.start_date,
        end_date=period.end_date,
        today=today,
        state=state,
        indirect_rate=rate,
        budget=period.budget,
        drawn=round_posting(drawn),
        drawn_cost=drawn_cost,
        drawable=max(max_direct(period.budget, rate) - drawn, ZERO),
        direct=direct,
        indirect=indirect,
        consumed=consumed,
        remaining=period.budget - consumed,
        percent_used=percent(consumed, period.budget),
        days=days,
        days_elapsed=elapsed,
        days_left=days - elapsed,
    )


# ---------------------------------------------------------------- the service


def _audited(grant: Grant) -> dict[str, Any]:
    """The grant's fields an audit row keeps (money as exact text)."""
    return {
        "number": grant.number,
        "title": grant.title,
        "agency": grant.agency,
        "program": grant.program,
        "pi": grant.pi,
        "co_pis": list(grant.co_pis or []),
        "institution": grant.institution,
        "department": grant.department,
        "cfda": grant.cfda,
        "status": str(grant.status),
        "total_award": grant.total_award,
        "start_date": grant.start_date,
        "end_date": grant.end_date,
        "indirect_rate": grant.indirect_rate,
    }


def _period_fields(period: GrantPeriod) -> dict[str, Any]:
    return {
        "period": period.number,
        "start_date": period.start_date,
        "end_date": period.end_date,
        "budget": period.budget,
    }


class Grants:
    """Grants, their budget periods and linked accounts, and draws into those accounts."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.db = ledger.db

    def today(self) -> date:
        """The ledger clock's UTC date."""
        return self.ledger.clock().astimezone(UTC).date()

    # -- creating and changing -------------------------------------------------

    def create_grant(
        self,
        number: str,
        *,
        total_award: object,
        start_date: object,
        end_date: object,
        indirect_rate: object,
        ctx: Context,
        period_months: int = 12,
        title: str = "",
        agency: str = "",
        program: str = "",
        pi: str = "",
        co_pis: Iterable[str] | None = None,
        institution: str = "",
        department: str = "",
        cfda: str = "",
    ) -> GrantDetail:
        """Record a grant and generate its budget periods: ``period_months`` long from the
        start (the last one ends on the end date), budgets split evenly to the cent with the
        remainder on the last, so they add up to ``total_award`` exactly."""
        cleaned = validate_grant_number(number)
        award = parse_money(total_award, field="total_award", allow_zero=False)
        start = parse_date(start_date, field="start_date")
        end = parse_date(end_date, field="end_date")
        rate = parse_rate(indirect_rate)
        months = _period_months(period_months)
        spans = split_months(start, end, months)
        texts = {
            name: clean_text(value, field=name, limit=TEXT_FIELDS[name])
            for name, value in (
                ("title", title),
                ("agency", agency),
                ("program", program),
                ("pi", pi),
                ("institution", institution),
                ("department", department),
            )
        }
        names = _co_pis(co_pis)
        listing = _cfda(cfda)

        def use_case(session: Session) -> int:
            if session.exec(select(Grant.id).where(Grant.number == cleaned)).first() is not None:
                raise ConflictError(f"grant {cleaned!r} already exists", field="number")
            now = self.ledger.clock()
            grant = Grant(
                number=cleaned,
                co_pis=names,
                cfda=listing,
                total_award=award,
                start_date=start,
                end_date=end,
                indirect_rate=rate,
                created_by=ctx.actor,
                created_at=now,
                updated_at=now,
            )
            for name, value in texts.items():
                setattr(grant, name, value)
            session.add(grant)
            session.flush()
            assert grant.id is not None
            self._add_periods(session, grant.id, spans, award)
            session.flush()
            audit.record(
                session,
                ctx,
                "grant.create",
                f"grant:{cleaned}",
                at=now,
                after={**_audited(grant), "periods": len(spans)},
            )
            return grant.id

        try:
            self.db.run(use_case)
        except IntegrityError:
            raise ConflictError(f"grant {cleaned!r} already exists", field="number") from None
        return self.get_grant(cleaned)

    @staticmethod
    def _add_periods(
        session: Session, grant_id: int, spans: list[tuple[date, date]], award: Decimal
    ) -> None:
        for k, ((begin, finish), budget) in enumerate(
            zip(spans, split_budget(award, len(spans)), strict=True), start=1
        ):
            session.add(
                GrantPeriod(
                    grant_id=grant_id, number=k, start_date=begin, end_date=finish, budget=budget
                )
            )

    def update_grant(
        self,
        number: str,
        *,
        ctx: Context,
        title: str | None = None,
        agency: str | None = None,
        program: str | None = None,
        pi: str | None = None,
        co_pis: Iterable[str] | None = None,
        institution: str | None = None,
        department: str | None = None,
        cfda: str | None = None,
        status: GrantStatus | str | None = None,
    ) -> GrantDetail:
        """Change a grant's descriptive fields or its status (``None``: leave as is).
        A closed grant funds nothing until it is made active again."""
        changes: dict[str, Any] = {}
        for name, value in (
            ("title", title),
            ("agency", agency),
            ("program", program),
            ("pi", pi),
            ("institution", institution),
            ("department", department),
        ):
            if value is not None:
                changes[name] = clean_text(value, field=name, limit=TEXT_FIELDS[name])
        if co_pis is not None:
            changes["co_pis"] = _co_pis(co_pis)
        if cfda is not None:
            changes["cfda"] = _cfda(cfda)
        if status is not None:
            changes["status"] = _status(status)

        def use_case(session: Session) -> str:
            grant = load_grant(session, number, lock=True)
            before = _audited(grant)
            for name, value in changes.items():
                setattr(grant, name, value)
            grant.updated_at = self.ledger.clock()
            session.add(grant)
            session.flush()
            audit.record(
                session,
                ctx,
                "grant.update",
                f"grant:{grant.number}",
                at=grant.updated_at,
                before=before,
                after=_audited(grant),
            )
            return grant.number

        return self.get_grant(self.db.run(use_case))

    def set_period(
        self,
        number: str,
        period: int,
        *,
        ctx: Context,
        start_date: object | None = None,
        end_date: object | None = None,
        budget: object | None = None,
    ) -> GrantDetail:
        """Edit one budget period's dates or budget. The period must stay inside the grant's
        dates and in order between its neighbours (no overlaps), the budgets may add up to
        no more than the award, and a budget may not go below what was already drawn from
        the period (with indirect)."""
        n = _period_number(period)
        new_start = None if start_date is None else parse_date(start_date, field="start_date")
        new_end = None if end_date is None else parse_date(end_date, field="end_date")
        new_budget = None if budget is None else parse_money(budget, field="budget")

        def use_case(session: Session) -> str:
            grant = load_grant(session, number, lock=True)
            assert grant.id is not None
            periods = load_periods(session, grant.id)
            target = next((p for p in periods if p.number == n), None)
            if target is None:
                raise NotFoundError(
                    f"period: grant {grant.number} has no period {n} (it has {len(periods)})",
                    field="period",
                )
            start = new_start or target.start_date
            end = new_end or target.end_date
            if end < start:
                raise ValidationError(
                    f"end_date: {end.isoformat()} is before start_date {start.isoformat()}",
                    field="end_date",
                )
            if start < grant.start_date:
                raise ValidationError(
                    f"start_date: {start.isoformat()} is before the grant starts "
                    f"({grant.start_date.isoformat()})",
                    field="start_date",
                )
            if end > grant.end_date:
                raise ValidationError(
                    f"end_date: {end.isoformat()} is after the grant ends "
                    f"({grant.end_date.isoformat()})",
                    field="end_date",
                )
            for other in periods:
                if other.number == n:
                    continue
                if other.start_date <= end and start <= other.end_date:
                    which = "start_date" if new_start is not None else "end_date"
                    raise ValidationError(
                        f"{which}: period {n} ({start.isoformat()} to {end.isoformat()}) would "
                        f"overlap period {other.number} ({other.start_date.isoformat()} to "
                        f"{other.end_date.isoformat()})",
                        field=which,
                    )
            for other in periods:
                misplaced = (other.number < n and other.start_date > start) or (
                    other.number > n and other.start_date < start
                )
                if misplaced:
                    raise ValidationError(
                        f"start_date: periods stay in order; period {n} cannot start "
                        f"{'before' if other.number < n else 'after'} period {other.number}",
                        field="start_date",
                    )
            new = target.budget if new_budget is None else new_budget
            others = sum((p.budget for p in periods if p.number != n), ZERO)
            if others + new > grant.total_award:
                raise ValidationError(
                    f"budget: {format_money(new)} would bring the periods' budgets to "
                    f"{format_money(others + new)}, above the {format_money(grant.total_award)} "
                    f"award (at most {format_money(grant.total_award - others)} for period {n})",
                    field="budget",
                )
            drawn = drawn_by_period(session, [grant.id]).get(target.id or 0, ZERO)
            committed = total_cost(drawn, grant.indirect_rate)
            if new < committed:
                raise ValidationError(
                    f"budget: {format_money(new)} is below the {format_money(committed)} "
                    f"already drawn from period {n} (direct {format_money(drawn)} plus indirect)",
                    field="budget",
                )
            before = _period_fields(target)
            target.start_date, target.end_date, target.budget = start, end, new
            grant.updated_at = self.ledger.clock()
            session.add(target)
            session.add(grant)
            session.flush()
            audit.record(
                session,
                ctx,
                "grant.period",
                f"grant:{grant.number}",
                at=grant.updated_at,
                before=before,
                after=_period_fields(target),
                keep=("period",),
            )
            return grant.number

        return self.get_grant(self.db.run(use_case))

    def regenerate_periods(self, number: str, period_months: int, *, ctx: Context) -> GrantDetail:
        """Replace the grant's periods with fresh ones of ``period_months`` (budgets split
        evenly again). Refused once money was drawn from the grant."""
        months = _period_months(period_months)

        def use_case(session: Session) -> str:
            grant = load_grant(session, number, lock=True)
            assert grant.id is not None
            draws = session.exec(
                select(func.count()).select_from(GrantDraw).where(GrantDraw.grant_id == grant.id)
            ).one()
            if draws:
                raise ConflictError(
                    f"grant {grant.number} already funded accounts ({draws} draw(s)); its "
                    "periods can no longer be regenerated (edit them one by one instead)",
                    field="period_months",
                )
            spans = split_months(grant.start_date, grant.end_date, months)
            old_count = len(load_periods(session, grant.id))
            session.execute(delete(GrantPeriod).where(col(GrantPeriod.grant_id) == grant.id))
            session.flush()
            self._add_periods(session, grant.id, spans, grant.total_award)
            grant.updated_at = self.ledger.clock()
            session.add(grant)
            session.flush()
            audit.record(
                session,
                ctx,
                "grant.regenerate_periods",
                f"grant:{grant.number}",
                at=grant.updated_at,
                before={"periods": old_count},
                after={"periods": len(spans), "period_months": months},
            )
            return grant.number

        return self.get_grant(self.db.run(use_case))

    # -- reads ---------------------------------------------------------------------

    def _details(self, session: Session, grants: list[Grant]) -> list[GrantDetail]:
        ids = [g.id for g in grants if g.id is not None]
        if not ids:
            return []
        periods: dict[int, list[GrantPeriod]] = defaultdict(list)
        for period in session.exec(
            select(GrantPeriod)
            .where(col(GrantPeriod.grant_id).in_(ids))
            .order_by(col(GrantPeriod.grant_id), col(GrantPeriod.number))
        ):
            periods[period.grant_id].append(period)
        links: dict[int, list[LinkedAccount]] = defaultdict(list)
        for link, name in load_links(session, ids):
            links[link.grant_id].append(LinkedAccount(name, link.linked_by, link.linked_at))
        drawn = drawn_by_period(session, ids)
        out = []
        for grant in grants:
            assert grant.id is not None
            rate = grant.indirect_rate
            lines = [
                PeriodLine(
                    number=p.number,
                    start_date=p.start_date,
                    end_date=p.end_date,
                    budget=p.budget,
                    drawn=round_posting(drawn.get(p.id or 0, ZERO)),
                    drawn_cost=total_cost(drawn.get(p.id or 0, ZERO), rate),
                )
                for p in periods[grant.id]
            ]
            out.append(GrantDetail(grant, lines, links[grant.id]))
        return out

    def get_grant(self, number: str) -> GrantDetail:
        """One grant with its periods (and what was drawn from each) and linked accounts."""
        return self.db.read(lambda s: self._details(s, [load_grant(s, number)])[0])

    def list_grants(
        self,
        *,
        status: GrantStatus | str | None = None,
        visible: Collection[str] | None = None,
    ) -> list[GrantDetail]:
        """Grants by number, optionally in one status; ``visible`` (account names) keeps
        only grants linked to at least one of those accounts."""
        wanted = None if status is None else _status(status)
        scope = None if visible is None else sorted(visible)

        def query(s: Session) -> list[GrantDetail]:
            stmt = select(Grant).order_by(col(Grant.number))
            if wanted is not None:
                stmt = stmt.where(Grant.status == wanted)
            if scope is not None:
                linked = (
                    select(GrantAccount.grant_id)
                    .join(Account, col(Account.id) == GrantAccount.account_id)
                    .where(col(Account.name).in_(scope))
                )
                stmt = stmt.where(col(Grant.id).in_(linked))
            return self._details(s, list(s.exec(stmt)))

        return self.db.read(query)

    def linked_accounts(self, number: str) -> list[str]:
        """The names of the accounts a grant funds."""
        return [a.name for a in self.get_grant(number).accounts]

    def current_period(self, number: str, today: date | None = None) -> GrantPeriod | None:
        """The period containing ``today`` (default: the ledger clock's UTC date), or None
        when no period does (before the grant starts, after it ends, or in a gap)."""
        day = today or self.today()

        def query(s: Session) -> GrantPeriod | None:
            grant = load_grant(s, number)
            assert grant.id is not None
            return period_at(load_periods(s, grant.id), day)

        return self.db.read(query)

    def period_status(
        self, number: str, period: int | None = None, today: date | None = None
    ) -> PeriodStatus:
        """Budget, drawn, direct, indirect, consumed, remaining and percent used of one
        period (default: the current one) on ``today`` (default: the ledger clock's date)."""
        day = today or self.today()
        n = None if period is None else _period_number(period)

        def query(s: Session) -> PeriodStatus:
            grant = load_grant(s, number)
            assert grant.id is not None
            periods = load_periods(s, grant.id)
            chosen = choose_period(grant, periods, n, day)
            drawn = drawn_by_period(s, [grant.id]).get(chosen.id or 0, ZERO)
            links = [link for link, _ in load_links(s, [grant.id])]
            return status_of(s, grant, chosen, day, drawn, links)

        return self.db.read(query)

    # -- accounts ------------------------------------------------------------------

    def link_account(self, number: str, account: str, *, ctx: Context) -> LinkedAccount:
        """Let ``account`` draw from the grant; its spend counts towards the grant from the
        UTC day it is linked. An account draws from one grant at most; linking it again to
        the same grant changes nothing."""
        name = normalise_account_name(account)

        def use_case(session: Session) -> LinkedAccount:
            grant = load_grant(session, number, lock=True)
            if grant.status != GrantStatus.ACTIVE:
                raise ConflictError(
                    f"grant {grant.number} is {grant.status}; it funds no accounts",
                    field="grant",
                )
            found = session.exec(select(Account).where(Account.name == name)).first()
            if found is None or found.id is None:
                raise NotFoundError(f"account {name!r} does not exist", field="account")
            if found.status == AccountStatus.CLOSED:
                raise AccountInactiveError(f"account {name!r} is closed", field="account")
            existing = session.get(GrantAccount, found.id)
            if existing is not None:
                if existing.grant_id == grant.id:
                    return LinkedAccount(name, existing.linked_by, existing.linked_at)
                other = session.get(Grant, existing.grant_id)
                raise ConflictError(
                    f"account {name} already draws from grant "
                    f"{other.number if other else existing.grant_id}; unlink it there first",
                    field="account",
                )
            link = GrantAccount(
                account_id=found.id,
                grant_id=grant.id,  # type: ignore[arg-type]
                linked_by=ctx.actor,
                linked_at=self.ledger.clock(),
            )
            session.add(link)
            session.flush()
            audit.record(
                session,
                ctx,
                "grant.link",
                f"grant:{grant.number}",
                at=link.linked_at,
                after={"account": name},
            )
            return LinkedAccount(name, link.linked_by, link.linked_at)

        # Linked elsewhere at the same moment: the unit of work runs it again, and this try
        # sees the other link and answers from it.
        return self.db.run(use_case)

    def unlink_account(self, number: str, account: str, *, ctx: Context) -> None:
        """Stop ``account`` drawing from the grant. Refused once it drew money from the
        grant (its spend must stay in the grant's reports); close the grant instead."""
        name = normalise_account_name(account)

        def use_case(session: Session) -> None:
            grant = load_grant(session, number, lock=True)
            row = session.exec(
                select(GrantAccount)
                .join(Account, col(Account.id) == GrantAccount.account_id)
                .where(Account.name == name, GrantAccount.grant_id == grant.id)
            ).first()
            if row is None:
                raise NotFoundError(
                    f"account {name!r} is not linked to grant {grant.number}", field="account"
                )
            draws = session.exec(
                select(func.count())
                .select_from(GrantDraw)
                .where(GrantDraw.grant_id == grant.id, GrantDraw.account_id == row.account_id)
            ).one()
            if draws:
                raise ConflictError(
                    f"account {name} drew money from grant {grant.number} ({draws} draw(s)); "
                    "it stays linked so the grant's reports keep its spend",
                    field="account",
                )
            session.delete(row)
            session.flush()
            audit.record(
                session,
                ctx,
                "grant.unlink",
                f"grant:{grant.number}",
                at=self.ledger.clock(),
                before={"account": name},
            )

        self.db.run(use_case)

    # -- money -----------------------------------------------------------------------

    def fund_account(
        self,
        number: str,
        account: str,
        amount: object,
        *,
        ctx: Context,
        memo: str = "",
    ) -> DrawResult:
        """Move ``amount`` of direct money from the grant's current period (the one containing
        the ledger clock's UTC date) into a linked account's limit, as an ``allocation``.

        The draw commits ``amount x (1 + rate)`` of the period's budget; refused with
        ``InsufficientFundsError`` naming the figures when that does not fit in what earlier
        draws left. One transaction: the grant row is locked, the draw recorded and the
        ledger's deposit made together. With ``ctx.idempotency_key`` a retry returns the first
        result (``replayed``) and moves nothing; the key with a different request is a conflict.
        """
        grant_number = validate_grant_number(number, field="grant")
        name = normalise_account_name(account)
        value = parse_money(amount, field="amount", allow_zero=False)
        note = clean_text(memo, field="memo", limit=400)
        payload = {"grant": grant_number, "account": name, "amount": value, "memo": note}
        return self.db.run(
            lambda session: self._fund(session, grant_number, name, value, note, ctx),
            Operation("grant_fund", payload, key=ctx.idempotency_key, actor=ctx.actor),
        )

    def _fund(
        self,
        session: Session,
        number: str,
        name: str,
        value: Decimal,
        note: str,
        ctx: Context,
    ) -> DrawResult:
        ledger = self.ledger
        # One unit of work: the grant's lock, the draw and the deposit together.
        grant = load_grant(session, number, lock=True)
        assert grant.id is not None
        if grant.status != GrantStatus.ACTIVE:
            raise ConflictError(
                f"grant {grant.number} is {grant.status}; it funds nothing", field="grant"
            )
        found = session.exec(select(Account).where(Account.name == name)).first()
        if found is None or found.id is None:
            raise NotFoundError(f"account {name!r} does not exist", field="account")
        link = session.get(GrantAccount, found.id)
        if link is None or link.grant_id != grant.id:
            raise ConflictError(
                f"account {name} is not linked to grant {grant.number}; link it first",
                field="account",
            )
        now = ledger.clock()
        today = now.astimezone(UTC).date()
        period = period_at(load_periods(session, grant.id), today)
        if period is None or period.id is None:
            raise ConflictError(
                f"grant {grant.number} has no budget period containing {today.isoformat()}",
                field="grant",
            )
        rate = grant.indirect_rate
        drawn = drawn_by_period(session, [grant.id]).get(period.id, ZERO)
        after = total_cost(drawn + value, rate)
        if after > period.budget:
            left = period.budget - total_cost(drawn, rate)
            most = max(max_direct(period.budget, rate) - drawn, ZERO)
            raise InsufficientFundsError(
                f"amount: a draw of {format_money(value)} costs "
                f"{format_money(total_cost(value, rate))} with {rate_percent(rate)} "
                f"indirect; period {period.number} of grant {grant.number} has "
                f"{format_money(left)} left of its {format_money(period.budget)} budget "
                f"({format_money(drawn)} drawn before), so at most {format_money(most)} "
                "can be drawn",
                field="amount",
                details={
                    "budget": money_value(period.budget),
                    "drawn": money_value(drawn),
                    "drawn_cost": money_value(total_cost(drawn, rate)),
                    "left": money_value(left),
                    "requested_cost": money_value(total_cost(value, rate)),
                    "max_draw": money_value(most),
                },
            )
        text = f"grant {grant.number} period {period.number}"
        moved = ledger.deposit(
            name,
            value,
            ctx=replace(ctx, idempotency_key=None),
            memo=f"{text}: {note}" if note else text,
            kind=EntryKind.ALLOCATION,
        )
        draw = GrantDraw(
            grant_id=grant.id,
            period_id=period.id,
            account_id=found.id,
            amount=value,
            entry_id=moved.entry_ids[0],
            actor=ctx.actor,
            created_at=now,
        )
        session.add(draw)
        session.flush()
        assert draw.id is not None
        result = DrawResult(
            grant=grant.number,
            period=period.number,
            account=name,
            amount=value,
            indirect=indirect_of(value, rate),
            cost=total_cost(value, rate),
            period_budget=period.budget,
            period_drawn=drawn + value,
            period_drawn_cost=after,
            drawable=max(max_direct(period.budget, rate) - drawn - value, ZERO),
            limit=moved.limit,
            available=moved.available,
            draw_id=draw.id,
            entry_id=moved.entry_ids[0],
        )
        return result
