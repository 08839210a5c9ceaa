"""The outward form of funding's results: adjustment requests, allocation schedules and their
runs, grants, their budget periods and draws. One view each, shared by the REST API, the CLI
and the console (``asbb_core.values.wire``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import PlainSerializer, WithJsonSchema

from asbb_core.funding.allocations import (
    AllocationEvent,
    ProcessSummary,
    ScheduleFailure,
    ScheduleInfo,
)
from asbb_core.funding.grants import (
    DrawResult,
    GrantDetail,
    LinkedAccount,
    PeriodLine,
    PeriodStatus,
    rate_str,
)
from asbb_core.store.models import AdjustmentRequest, AllocationCredit
from asbb_core.values.wire import Money, Precise, View


class AdjustmentView(View):
    """A request for a movement of money or limits, and what became of it."""

    id: int
    kind: str
    """credit, debit, limit, transfer, refund or hold_release."""
    account: str
    amount: Money
    """credit, debit, transfer, refund: the amount; limit: the new limit; hold_release: the
    hold's remainder when it was asked for."""
    target_account: str | None
    hold_id: str | None
    partition: str | None
    reason: str
    requested_by: str
    requested_at: datetime
    status: str
    """pending, approved, rejected or cancelled."""
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str
    correlation_id: str | None
    """The correlation id of the journal rows the approval wrote."""
    result: dict[str, Any] | None
    """What the approval moved (the ledger's result), once approved."""
    needs_confirmation: bool
    """The amount is above ``approvals.confirm_above``: the console asks for the account name."""

    @classmethod
    def of(cls, row: AdjustmentRequest) -> AdjustmentView:
        assert row.id is not None
        return cls(
            id=row.id,
            kind=str(row.kind),
            account=row.account,
            amount=row.amount,
            target_account=row.target_account,
            hold_id=row.hold_id,
            partition=row.partition,
            reason=row.reason,
            requested_by=row.requested_by,
            requested_at=row.requested_at,
            status=str(row.status),
            decided_by=row.decided_by,
            decided_at=row.decided_at,
            decision_reason=row.decision_reason,
            correlation_id=row.correlation_id,
            result=row.result,
            needs_confirmation=row.needs_confirmation,
        )


class AdjustmentPage(View):
    """One page of requests, newest first."""

    items: list[AdjustmentView]
    total: int
    limit: int
    offset: int

    @classmethod
    def of(
        cls, rows: Sequence[AdjustmentRequest], *, total: int, limit: int, offset: int
    ) -> AdjustmentPage:
        return cls(
            items=[AdjustmentView.of(r) for r in rows], total=total, limit=limit, offset=offset
        )


# ---------------------------------------------------------------- allocations


class CreditView(View):
    """One instalment of a schedule, credited or skipped."""

    period: int
    """0-based index of the instalment."""
    due_date: date
    amount: Money
    outcome: str
    """credited, or skipped (fell due while the schedule was paused)."""
    entry_id: int | None
    """The journal row that credited it."""
    expired_amount: Money
    expiry_entry_id: int | None
    expired_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, c: AllocationCredit) -> CreditView:
        return cls(
            period=c.period,
            due_date=c.due_date,
            amount=c.amount,
            outcome=str(c.outcome),
            entry_id=c.entry_id,
            expired_amount=c.expired_amount,
            expiry_entry_id=c.expiry_entry_id,
            expired_at=c.expired_at,
            created_at=c.created_at,
        )


class ScheduleView(View):
    """A recurring allocation: a budget paid into an account in instalments."""

    id: int
    account: str
    amount: Money
    """Each instalment."""
    total: Money
    frequency: str
    start_date: date
    last_due_date: date
    instalments: int
    unspent: str
    """carry_over or expire."""
    status: str
    """active, paused, completed or cancelled."""
    memo: str
    next_period: int
    """The first instalment not yet credited or skipped (0-based)."""
    next_due_date: date | None
    credited: Money
    expired: Money
    paused_at: datetime | None
    created_by: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, info: ScheduleInfo) -> ScheduleView:
        s = info.schedule
        return cls(
            id=info.id,
            account=info.account,
            amount=s.amount,
            total=s.total,
            frequency=str(s.frequency),
            start_date=s.start_date,
            last_due_date=info.last_due,
            instalments=s.instalments,
            unspent=str(s.unspent),
            status=str(s.status),
            memo=s.memo,
            next_period=s.next_period,
            next_due_date=info.next_due,
            credited=info.credited,
            expired=info.expired,
            paused_at=s.paused_at,
            created_by=s.created_by,
            created_at=s.created_at,
            updated_at=s.updated_at,
        )


class ScheduleDetailView(ScheduleView):
    """A schedule with every instalment credited or skipped so far."""

    credits: list[CreditView]

    @classmethod
    def of(cls, info: ScheduleInfo) -> ScheduleDetailView:
        return cls(**dict(ScheduleView.of(info)), credits=[CreditView.of(c) for c in info.credits])


class AllocationEventView(View):
    """One thing a run did: an instalment credited or skipped, or a period's rest expired."""

    schedule_id: int
    account: str
    period: int
    """0-based, as in the schedule's plan."""
    instalments: int
    due_date: date
    action: str
    """credited, skipped or expired."""
    amount: Money
    entry_id: int | None
    completed: bool
    """This step finished the schedule."""

    @classmethod
    def of(cls, e: AllocationEvent) -> AllocationEventView:
        return cls(
            schedule_id=e.schedule_id,
            account=e.account,
            period=e.period,
            instalments=e.instalments,
            due_date=e.due_date,
            action=e.action,
            amount=e.amount,
            entry_id=e.entry_id,
            completed=e.completed,
        )


class ScheduleFailureView(View):
    """A schedule a run could not move; retried on the next run."""

    schedule_id: int
    code: str
    message: str

    @classmethod
    def of(cls, f: ScheduleFailure) -> ScheduleFailureView:
        return cls(schedule_id=f.schedule_id, code=f.code, message=f.message)


class ProcessView(View):
    """What one run of the allocation scheduler did."""

    today: date
    credited: list[AllocationEventView]
    skipped: list[AllocationEventView]
    expired: list[AllocationEventView]
    completed: list[int]
    """Schedules this run finished."""
    errors: list[ScheduleFailureView]
    """Schedules that could not move (retried on the next run)."""
    total_credited: Money
    total_expired: Money

    @classmethod
    def of(cls, s: ProcessSummary) -> ProcessView:
        return cls(
            today=s.today,
            credited=[AllocationEventView.of(e) for e in s.credited],
            skipped=[AllocationEventView.of(e) for e in s.skipped],
            expired=[AllocationEventView.of(e) for e in s.expired],
            completed=list(s.completed),
            errors=[ScheduleFailureView.of(f) for f in s.errors],
            total_credited=s.total_credited,
            total_expired=s.total_expired,
        )


# ---------------------------------------------------------------- grants

Rate = Annotated[
    Decimal,
    PlainSerializer(rate_str, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^[0-9]+\.[0-9]{2,4}$",
            "description": 'An indirect cost rate as a fraction ("0.30" is 30%)',
            "examples": ["0.30", "0.575"],
        }
    ),
]
"""An indirect cost rate: a fraction with 2 to 4 decimals in JSON ("0.30", "0.575"); the
grants' rates are kept to 4 places, and "0.3000" would read as more precise than it is."""


class GrantPeriodView(View):
    """One budget period of a grant with what was drawn from it."""

    number: int
    start_date: date
    end_date: date
    budget: Money
    drawn: Money
    """Direct money drawn from the period into the grant's accounts."""
    drawn_cost: Money
    """What those draws commit: drawn + indirect."""

    @classmethod
    def of(cls, p: PeriodLine) -> GrantPeriodView:
        return cls(
            number=p.number,
            start_date=p.start_date,
            end_date=p.end_date,
            budget=p.budget,
            drawn=p.drawn,
            drawn_cost=p.drawn_cost,
        )


class LinkedAccountView(View):
    """An account that draws from a grant."""

    name: str
    linked_by: str
    linked_at: datetime

    @classmethod
    def of(cls, link: LinkedAccount) -> LinkedAccountView:
        return cls(name=link.name, linked_by=link.linked_by, linked_at=link.linked_at)


class GrantView(View):
    """A grant with its budget periods and linked accounts."""

    number: str
    title: str
    agency: str
    program: str
    pi: str
    co_pis: list[str]
    institution: str
    department: str
    cfda: str
    total_award: Money
    start_date: date
    end_date: date
    indirect_rate: Rate
    """A fraction ("0.30" is 30%)."""
    status: str
    created_by: str
    created_at: datetime
    updated_at: datetime
    drawn: Money
    periods: list[GrantPeriodView]
    accounts: list[LinkedAccountView]

    @classmethod
    def of(cls, detail: GrantDetail) -> GrantView:
        g = detail.grant
        return cls(
            number=g.number,
            title=g.title,
            agency=g.agency,
            program=g.program,
            pi=g.pi,
            co_pis=list(g.co_pis),
            institution=g.institution,
            department=g.department,
            cfda=g.cfda,
            total_award=g.total_award,
            start_date=g.start_date,
            end_date=g.end_date,
            indirect_rate=g.indirect_rate,
            status=str(g.status),
            created_by=g.created_by,
            created_at=g.created_at,
            updated_at=g.updated_at,
            drawn=detail.drawn,
            periods=[GrantPeriodView.of(p) for p in detail.periods],
            accounts=[LinkedAccountView.of(a) for a in detail.accounts],
        )


class GrantList(View):
    """Every grant that matched, by number."""

    items: list[GrantView]

    @classmethod
    def of(cls, details: Sequence[GrantDetail]) -> GrantList:
        return cls(items=[GrantView.of(d) for d in details])


class PeriodStatusView(View):
    """Where one budget period stands on a day."""

    grant: str
    period: int
    start_date: date
    end_date: date
    today: date
    state: str
    """upcoming, current or ended."""
    indirect_rate: Rate
    budget: Money
    drawn: Money
    drawn_cost: Money
    drawable: Money
    """Direct money that may still be drawn from the period."""
    direct: Money
    """Net spend of the linked accounts inside the period, up to today."""
    indirect: Money
    consumed: Money
    remaining: Money
    percent_used: Precise
    """consumed / budget x 100, one decimal ("12.5")."""
    days: int
    days_elapsed: int
    days_left: int

    @classmethod
    def of(cls, st: PeriodStatus) -> PeriodStatusView:
        return cls(
            grant=st.grant,
            period=st.period,
            start_date=st.start_date,
            end_date=st.end_date,
            today=st.today,
            state=st.state,
            indirect_rate=st.indirect_rate,
            budget=st.budget,
            drawn=st.drawn,
            drawn_cost=st.drawn_cost,
            drawable=st.drawable,
            direct=st.direct,
            indirect=st.indirect,
            consumed=st.consumed,
            remaining=st.remaining,
            percent_used=st.percent_used,
            days=st.days,
            days_elapsed=st.days_elapsed,
            days_left=st.days_left,
        )


class DrawView(View):
    """A draw of direct money from a grant's period into an account."""

    grant: str
    period: int
    account: str
    amount: Money
    indirect: Money
    cost: Money
    """amount + indirect: what the draw commits of the period's budget."""
    period_budget: Money
    period_drawn: Money
    period_drawn_cost: Money
    drawable: Money
    limit: Money
    """The account's limit after the draw."""
    available: Money
    draw_id: int
    entry_id: int
    """The journal entry (an allocation) that moved the money."""
    replayed: bool
    """True when this answers a retry of a draw already made."""

    @classmethod
    def of(cls, r: DrawResult) -> DrawView:
        return cls(
            grant=r.grant,
            period=r.period,
            account=r.account,
            amount=r.amount,
            indirect=r.indirect,
            cost=r.cost,
            period_budget=r.period_budget,
            period_drawn=r.period_drawn,
            period_drawn_cost=r.period_drawn_cost,
            drawable=r.drawable,
            limit=r.limit,
            available=r.available,
            draw_id=r.draw_id,
            entry_id=r.entry_id,
            replayed=r.replayed,
        )
