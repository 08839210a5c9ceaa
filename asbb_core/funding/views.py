"""The outward form of funding's results: adjustment requests, allocation schedules and their
runs, grants, their budget periods and draws. One view each, shared by the REST API, the CLI
and the console (``asbb_core.values.wire``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

from pydantic import PlainSerializer, WithJsonSchema

from asbb_core.funding.agency_report import AgencyReport, IndirectLine, Share, Span
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
    max_direct,
    rate_str,
)
from asbb_core.ledger.views import Page
from asbb_core.store.models import AdjustmentRequest, AllocationCredit, ScheduleStatus
from asbb_core.values.money import ZERO
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
            result=_exact_result(row.result),
            needs_confirmation=row.needs_confirmation,
        )


# The money of a stored approval result (a movement's or a hold release's), kept as exact
# strings in the database; the wire writes them as numbers like every other amount.
_RESULT_MONEY = frozenset({"amount", "limit", "used", "held", "available", "released"})


def _exact_result(result: dict[str, Any] | None) -> dict[str, Any] | None:
    if result is None:
        return None
    return {
        key: Decimal(value) if key in _RESULT_MONEY and isinstance(value, str) else value
        for key, value in result.items()
    }


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
    """A recurring allocation: a budget paid into an account in instalments. The original
    tool's names for the same figures follow asbb's (``allocation_amount``, ...)."""

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
    account_id: int
    """The account's number (the original tool's ``account_id``)."""
    total_budget: Money
    """The original tool's name for ``total``."""
    allocation_amount: Money
    """The original tool's name for ``amount``."""
    allocation_frequency: str
    """The original tool's name for ``frequency``."""
    end_date: date
    """The last instalment's due date (the original tool's ``end_date``)."""
    next_allocation_date: date | None
    """The original tool's name for ``next_due_date``."""
    allocated_to_date: Money
    """The original tool's name for ``credited``."""
    remaining_budget: Money
    """What the instalments still to come will pay in (0 once completed or cancelled)."""
    auto_allocate: bool
    """Always true: the daemon credits every instalment when it falls due."""

    @classmethod
    def of(cls, info: ScheduleInfo) -> ScheduleView:
        s = info.schedule
        to_come = ZERO
        if s.status in (ScheduleStatus.ACTIVE, ScheduleStatus.PAUSED):
            to_come = max(s.total - min(s.amount * s.next_period, s.total), ZERO)
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
            account_id=s.account_id,
            total_budget=s.total,
            allocation_amount=s.amount,
            allocation_frequency=str(s.frequency),
            end_date=info.last_due,
            next_allocation_date=info.next_due,
            allocated_to_date=info.credited,
            remaining_budget=to_come,
            auto_allocate=True,
        )


class SchedulePage(Page[ScheduleView]):
    """One page of the schedules that matched, in creation order."""


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
    """One budget period of a grant with what was drawn from it (the original tool's names
    follow asbb's)."""

    number: int
    start_date: date
    end_date: date
    budget: Money
    drawn: Money
    """Direct money drawn from the period into the grant's accounts."""
    drawn_cost: Money
    """What those draws commit: drawn + indirect."""
    period_number: int
    """The original tool's name for ``number``."""
    period_start_date: date
    """The original tool's name for ``start_date``."""
    period_end_date: date
    """The original tool's name for ``end_date``."""
    period_budget_amount: Money
    """The original tool's name for ``budget``."""
    period_committed_amount: Money
    """The original tool's name for ``drawn_cost``."""

    @classmethod
    def of(cls, p: PeriodLine) -> GrantPeriodView:
        return cls(
            number=p.number,
            start_date=p.start_date,
            end_date=p.end_date,
            budget=p.budget,
            drawn=p.drawn,
            drawn_cost=p.drawn_cost,
            period_number=p.number,
            period_start_date=p.start_date,
            period_end_date=p.end_date,
            period_budget_amount=p.budget,
            period_committed_amount=p.drawn_cost,
        )


class LinkedAccountView(View):
    """An account that draws from a grant."""

    name: str
    linked_by: str
    linked_at: datetime

    @classmethod
    def of(cls, link: LinkedAccount) -> LinkedAccountView:
        return cls(name=link.name, linked_by=link.linked_by, linked_at=link.linked_at)


def period_months(start: date, end: date) -> int:
    """Whole months from ``start`` to the day after ``end`` (a period's length)."""
    after = end + timedelta(days=1)
    months = (after.year - start.year) * 12 + after.month - start.month
    if after.day < start.day:
        months -= 1
    return max(months, 0)


class GrantView(View):
    """A grant with its budget periods and linked accounts. The original tool's names for the
    same facts follow asbb's (``grant_number``, ``funding_agency``, ...)."""

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
    id: int
    """The grant's number in the database (the original tool's ``id``)."""
    grant_number: str
    """The original tool's name for ``number``."""
    funding_agency: str
    """The original tool's name for ``agency``."""
    agency_program: str
    """The original tool's name for ``program``."""
    principal_investigator: str
    """The original tool's name for ``pi``."""
    co_investigators: list[str]
    """The original tool's name for ``co_pis``."""
    federal_award_id: str
    """The original tool's name for ``cfda``."""
    grant_start_date: date
    """The original tool's name for ``start_date``."""
    grant_end_date: date
    """The original tool's name for ``end_date``."""
    total_award_amount: Money
    """The original tool's name for ``total_award``."""
    direct_costs: Money
    """The award's direct part: the most direct money whose cost (with indirect) fits."""
    indirect_cost_rate: Rate
    """The original tool's name for ``indirect_rate``."""
    indirect_costs: Money
    """``total_award - direct_costs``."""
    budget_period_months: int
    """The first budget period's length in whole months (periods may be edited apart)."""
    current_budget_period: int | None
    """The period containing today (UTC); null before the first or after the last, and
    where no day is known (outside the API)."""

    @classmethod
    def of(cls, detail: GrantDetail, *, today: date | None = None) -> GrantView:
        g = detail.grant
        direct = max_direct(g.total_award, g.indirect_rate)
        first = detail.periods[0] if detail.periods else None
        current = None
        if today is not None:
            current = next(
                (p.number for p in detail.periods if p.start_date <= today <= p.end_date), None
            )
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
            id=g.id or 0,
            grant_number=g.number,
            funding_agency=g.agency,
            agency_program=g.program,
            principal_investigator=g.pi,
            co_investigators=list(g.co_pis),
            federal_award_id=g.cfda,
            grant_start_date=g.start_date,
            grant_end_date=g.end_date,
            total_award_amount=g.total_award,
            direct_costs=direct,
            indirect_cost_rate=g.indirect_rate,
            indirect_costs=g.total_award - direct,
            budget_period_months=period_months(first.start_date, first.end_date) if first else 0,
            current_budget_period=current,
        )


class GrantPage(Page[GrantView]):
    """One page of the grants that matched, by number."""


class GrantList(View):
    """Every grant that matched, by number."""

    items: list[GrantView]

    @classmethod
    def of(cls, details: Sequence[GrantDetail], *, today: date | None = None) -> GrantList:
        return cls(items=[GrantView.of(d, today=today) for d in details])


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


# ---------------------------------------------------------------- agency-required reports


class AgencySpanView(View):
    """A figure for the reported budget period and cumulative from the award's start."""

    this_period: Money
    cumulative: Money

    @classmethod
    def of(cls, s: Span) -> AgencySpanView:
        return cls(this_period=s.this_period, cumulative=s.cumulative)


class AgencyShareView(View):
    """Federal money split into direct and indirect cost."""

    direct: Money
    indirect: Money
    total: Money
    """direct + indirect."""

    @classmethod
    def of(cls, s: Share) -> AgencyShareView:
        return cls(direct=s.direct, indirect=s.indirect, total=s.total)


class AgencyIdentificationView(View):
    """The recipient and the award (the original tool's field names)."""

    grant_number: str
    """The federal grant number the agency assigned (the grant's number in asbb)."""
    federal_award_id: str
    """The assistance listing number (CFDA), e.g. 47.070; empty when not recorded."""
    funding_agency: str
    agency_program: str
    principal_investigator: str
    co_investigators: list[str]
    institution: str
    department: str
    title: str
    status: str
    """active or closed."""
    total_award: Money
    award_start_date: date
    award_end_date: date
    indirect_rate: Rate


class AgencyPeriodView(View):
    """The budget period the report covers."""

    budget_period: int
    period_count: int
    start_date: date
    end_date: date
    state: str
    """upcoming, current or ended."""
    as_of: date
    """The last day (UTC) whose movements are counted."""
    final: bool
    """The grant's last budget period, ended: the award's final report."""


class AgencyExpendituresView(View):
    """The federal share of expenditures."""

    this_period: AgencyShareView
    cumulative: AgencyShareView
    """Budget periods 1 to this one."""


class AgencyIndirectLineView(View):
    """One line of indirect expense: a budget period at the grant's rate."""

    rate_type: str | None
    """provisional, predetermined, final or fixed, as the request named it (asbb does not
    record it); null when not named."""
    rate: Rate
    budget_period: int
    from_date: date
    to_date: date
    base: Money
    """The period's direct cost."""
    amount: Money
    """Indirect cost charged: base x rate, rounded to the cent once."""

    @classmethod
    def of(cls, line: IndirectLine) -> AgencyIndirectLineView:
        return cls(
            rate_type=line.rate_type,
            rate=line.rate,
            budget_period=line.budget_period,
            from_date=line.from_date,
            to_date=line.to_date,
            base=line.base,
            amount=line.amount,
        )


class AgencyIndirectView(View):
    """Indirect expense by rate type, rate and period, with the totals."""

    lines: list[AgencyIndirectLineView]
    base: Money
    amount: Money


class AgencyObligationsView(View):
    """The federal share of unliquidated obligations: money still held for open jobs."""

    direct: Money
    indirect: Money
    total: Money
    open_holds: int


class AgencyCashView(View):
    """Federal cash: what draws moved into the grant's accounts against what was spent."""

    drawn: AgencySpanView
    """Direct money drawn."""
    receipts: AgencySpanView
    """What the draws commit of the budget: drawn + indirect."""
    disbursements: AgencySpanView
    """The federal share of expenditures (total cost)."""
    on_hand: Money
    """Cumulative receipts - cumulative disbursements."""


class AgencyReportView(View):
    """An agency-required financial report (SF-425 figures) for one budget period."""

    report_type: str
    """Always agency-required."""
    identification: AgencyIdentificationView
    report_period: AgencyPeriodView
    generated_at: datetime
    authorised: AgencySpanView
    """Federal funds authorised: the period's budget, and budgets of periods 1 to this one."""
    expenditures: AgencyExpendituresView
    indirect_expense: AgencyIndirectView
    unliquidated_obligations: AgencyObligationsView
    total_federal_share: Money
    """Cumulative expenditures + unliquidated obligations."""
    unobligated_balance: Money
    """Cumulative authorised - total federal share."""
    cash: AgencyCashView

    @classmethod
    def of(cls, r: AgencyReport) -> AgencyReportView:
        return cls(
            report_type="agency-required",
            identification=AgencyIdentificationView(
                grant_number=r.grant_number,
                federal_award_id=r.federal_award_id,
                funding_agency=r.funding_agency,
                agency_program=r.agency_program,
                principal_investigator=r.principal_investigator,
                co_investigators=list(r.co_investigators),
                institution=r.institution,
                department=r.department,
                title=r.title,
                status=r.status,
                total_award=r.total_award,
                award_start_date=r.award_start,
                award_end_date=r.award_end,
                indirect_rate=r.indirect_rate,
            ),
            report_period=AgencyPeriodView(
                budget_period=r.budget_period,
                period_count=r.period_count,
                start_date=r.period_start,
                end_date=r.period_end,
                state=r.period_state,
                as_of=r.as_of,
                final=r.final,
            ),
            generated_at=r.generated_at,
            authorised=AgencySpanView.of(r.authorised),
            expenditures=AgencyExpendituresView(
                this_period=AgencyShareView.of(r.expenditures),
                cumulative=AgencyShareView.of(r.cumulative_expenditures),
            ),
            indirect_expense=AgencyIndirectView(
                lines=[AgencyIndirectLineView.of(line) for line in r.indirect_lines],
                base=r.indirect_base,
                amount=r.indirect_amount,
            ),
            unliquidated_obligations=AgencyObligationsView(
                direct=r.unliquidated.direct,
                indirect=r.unliquidated.indirect,
                total=r.unliquidated.total,
                open_holds=r.open_holds,
            ),
            total_federal_share=r.total_federal_share,
            unobligated_balance=r.unobligated_balance,
            cash=AgencyCashView(
                drawn=AgencySpanView.of(r.drawn),
                receipts=AgencySpanView.of(r.receipts),
                disbursements=AgencySpanView.of(r.disbursements),
                on_hand=r.cash_on_hand,
            ),
        )
