"""The outward form of accounts, partition limits, holds, journal entries and money movements:
one view each, shared by the REST API, the CLI and the console (``asbb_core.values.wire``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, Generic, Self, TypeVar

from asbb_core.ledger.reconcile import Reconciled
from asbb_core.ledger.results import MovementResult
from asbb_core.ledger.verify import VerifyReport
from asbb_core.store import queries
from asbb_core.store.database import Database
from asbb_core.store.models import Account, EntryKind, JournalEntry, PartitionLimit
from asbb_core.values import wire
from asbb_core.values.wire import Money, Precise, View

V = TypeVar("V", bound=View)


class Page(View, Generic[V]):
    """One page of an offset-paged list."""

    items: list[V]
    total: int
    """Every row that matched, on all pages."""
    limit: int
    offset: int

    @classmethod
    def of(cls, page: queries.Page[Any], items: Sequence[V]) -> Self:
        return cls(items=list(items), total=page.total, limit=page.limit, offset=page.offset)


class AccountView(View):
    """An account and its money. The original tool's names for the same figures follow
    asbb's (``slurm_account``, ``budget_limit``, ...); its ``name`` (what people call the
    account) is ``display_name`` here, as ``name`` is the Slurm account's."""

    name: str
    """The Slurm account."""
    display_name: str
    """What people call the account, e.g. "ML Research Project" (may be empty)."""
    description: str
    status: str
    start_date: date
    """The first day of the account: the day it was created when it was given none (it has
    been open since; the original tool's types need a date here)."""
    end_date: date | None
    """Its last day; null for an account without end."""
    limit: Money
    used: Money
    held: Money
    available: Money
    percent_used: Precise
    """Used as a share of the limit, one decimal ("12.5")."""
    created_at: datetime
    updated_at: datetime
    id: int
    """The account's number (the original tool's ``id``)."""
    slurm_account: str
    """The original tool's name for ``name``."""
    budget_limit: Money
    """The original tool's name for ``limit``."""
    budget_used: Money
    """The original tool's name for ``used``."""
    budget_held: Money
    """The original tool's name for ``held``."""
    budget_available: Money
    """The original tool's name for ``available``."""
    has_incremental_budget: bool
    """Its budget comes in instalments: it has an allocation schedule (not cancelled)."""
    total_allocated: Money
    """Credited to it by its allocation schedules so far."""
    next_allocation_date: date | None
    """When the next instalment of an active schedule falls due (null: none to come)."""

    @classmethod
    def of(cls, account: Account, plan: queries.Instalments) -> AccountView:
        """The account's view; ``plan``: its instalments (``queries.instalments``)."""
        return cls(
            name=account.name,
            display_name=account.display_name,
            description=account.description,
            status=str(account.status),
            start_date=account.start_date or account.created_at.date(),
            end_date=account.end_date,
            limit=account.limit_amount,
            used=account.used_amount,
            held=account.held_amount,
            available=account.available,
            percent_used=queries.money_percent(account.used_amount, account.limit_amount),
            created_at=account.created_at,
            updated_at=account.updated_at,
            id=account.id or 0,
            slurm_account=account.name,
            budget_limit=account.limit_amount,
            budget_used=account.used_amount,
            budget_held=account.held_amount,
            budget_available=account.available,
            has_incremental_budget=plan.scheduled,
            total_allocated=plan.allocated,
            next_allocation_date=plan.next_date,
        )


class PartitionLimitView(View):
    partition: str
    limit: Money
    used: Money
    held: Money
    available: Money
    updated_at: datetime

    @classmethod
    def of(cls, cap: PartitionLimit) -> PartitionLimitView:
        return cls(
            partition=cap.partition,
            limit=cap.limit_amount,
            used=cap.used_amount,
            held=cap.held_amount,
            available=cap.available,
            updated_at=cap.updated_at,
        )


class AccountDetailView(AccountView):
    partition_limits: list[PartitionLimitView]
    open_holds: int

    @classmethod
    def of_detail(cls, detail: queries.AccountDetail) -> AccountDetailView:
        return cls(
            **dict(AccountView.of(detail.account, detail.instalments)),
            partition_limits=[PartitionLimitView.of(c) for c in detail.partition_limits],
            open_holds=detail.open_holds,
        )


class AccountPage(Page[AccountView]):
    @classmethod
    def of_accounts(cls, db: Database, page: queries.Page[Account]) -> AccountPage:
        """A page of accounts with their instalments (one more read for the whole page)."""
        plans = queries.instalments(db, page.items)
        none = queries.NO_INSTALMENTS
        return cls.of(page, [AccountView.of(a, plans.get(a.id or 0, none)) for a in page.items])


class MovementView(View):
    """Money moved into or out of an account, and its balances after."""

    account: str
    amount: Money
    limit: Money
    used: Money
    held: Money
    available: Money
    entry_ids: list[int]
    replayed: bool
    """True when this answers a retry of a movement already made."""

    @classmethod
    def of(cls, result: MovementResult) -> MovementView:
        return cls(
            account=result.account,
            amount=result.amount,
            limit=result.limit,
            used=result.used,
            held=result.held,
            available=result.available,
            entry_ids=list(result.entry_ids),
            replayed=result.replayed,
        )


class HoldView(View):
    id: str
    account: str
    partition: str | None
    user: str | None
    job_id: str | None
    state: str
    estimate: Precise
    """The priced estimate, to 4 places (before the buffer)."""
    buffer: Precise
    amount: Money
    """What was reserved (estimate x buffer)."""
    remaining: Money
    """What is still reserved."""
    charged: Money
    """What the hold's own charges took (fixed once it resolved)."""
    job_charged: Money
    """All its job was charged: with late charges and cost corrections."""
    released: Money
    task_count: int
    tasks_posted: int
    estimate_source: str
    metadata: dict[str, Any]
    actor: str
    source: str
    correlation_id: str
    created_at: datetime
    expires_at: datetime
    resolved_at: datetime | None

    @classmethod
    def of(cls, row: queries.HoldRow) -> HoldView:
        h = row.hold
        return cls(
            id=h.id,
            account=row.account,
            partition=h.partition,
            user=h.user_name,
            job_id=h.job_id,
            state=str(h.state),
            estimate=h.estimate,
            buffer=h.buffer.normalize(),
            amount=h.amount,
            remaining=h.remaining,
            charged=h.charged,
            job_charged=row.job_charged,
            released=h.released,
            task_count=h.task_count,
            tasks_posted=h.tasks_posted,
            estimate_source=h.estimate_source,
            metadata=h.job_metadata,
            actor=h.actor,
            source=str(h.source),
            correlation_id=h.correlation_id,
            created_at=h.created_at,
            expires_at=h.expires_at,
            resolved_at=h.resolved_at,
        )


class HoldPage(Page[HoldView]):
    pass


class VoidView(View):
    hold: HoldView
    released: Money
    replayed: bool


class EntryView(View):
    """One journal row. The original tool's transaction fields follow asbb's; its
    ``metadata`` (JSON as text) is asbb's ``job_metadata`` object written out."""

    id: int
    account: str
    type: str
    amount: Money
    limit_delta: Money
    used_delta: Money
    held_delta: Money
    partition: str | None
    hold_id: str | None
    job_id: str | None
    user: str | None
    counterparty: str | None
    """For transfers: the account on the other side."""
    overrun: bool
    actor: str
    source: str
    correlation_id: str
    memo: str
    job_metadata: dict[str, Any]
    """The job's details kept with the movement (its request, its end state, ...)."""
    created_at: datetime
    account_id: int
    """The account's number (the original tool's ``account_id``)."""
    transaction_id: str
    """The original tool's transaction id: a hold's id on the hold's own row (the
    ``transaction_id`` the budget check answered), else this row's id."""
    parent_transaction_id: str | None
    """The hold a charge or release settles (the original tool's link to its hold)."""
    description: str
    """The original tool's name for ``memo``."""
    status: str
    """Always ``completed``: a journal row is a movement already made (open holds are in
    ``GET /holds``)."""
    completed_at: datetime
    """When it was made: ``created_at``."""
    metadata: str
    """The original tool's: ``job_metadata`` as JSON text (keys sorted, ``{}`` if none)."""

    @classmethod
    def of(cls, row: queries.EntryRow) -> EntryView:
        return cls.of_entry(row.entry, account=row.account, counterparty=row.counterparty)

    @classmethod
    def of_entry(
        cls, e: JournalEntry, *, account: str, counterparty: str | None = None
    ) -> EntryView:
        own_hold = e.kind == EntryKind.HOLD and e.hold_id is not None
        return cls(
            id=e.id or 0,
            account=account,
            type=str(e.kind),
            amount=e.amount,
            limit_delta=e.limit_delta,
            used_delta=e.used_delta,
            held_delta=e.held_delta,
            partition=e.partition,
            hold_id=e.hold_id,
            job_id=e.job_id,
            user=e.user_name,
            counterparty=counterparty,
            overrun=e.overrun,
            actor=e.actor,
            source=str(e.source),
            correlation_id=e.correlation_id,
            memo=e.memo,
            job_metadata=e.job_metadata,
            created_at=e.created_at,
            account_id=e.account_id,
            transaction_id=e.hold_id if own_hold and e.hold_id else str(e.id or 0),
            parent_transaction_id=None if own_hold else e.hold_id,
            description=e.memo,
            status="completed",
            completed_at=e.created_at,
            metadata=wire.dumps(e.job_metadata, sort_keys=True),
        )


class EntryPage(View):
    items: list[EntryView]
    next_before_id: int | None
    """Pass as `before_id` for the next (older) page; null when this page is the last."""


class DiscrepancyView(View):
    """One invariant that does not hold."""

    check: str
    """Which invariant (``account_totals``, ``hold_amounts``, ``whole_cents``, ...)."""
    subject: str
    field: str
    journal: str
    """What the journal (or the rule) says the value must be."""
    cached: str
    """What the database holds."""


class VerifyView(View):
    """What ``ledger verify`` found, in one snapshot."""

    ok: bool
    accounts: int
    holds: int
    journal_rows: int
    problems: list[DiscrepancyView]

    @classmethod
    def of(cls, report: VerifyReport) -> VerifyView:
        return cls(
            ok=report.ok,
            accounts=report.accounts,
            holds=report.holds,
            journal_rows=report.journal_rows,
            problems=[
                DiscrepancyView(
                    check=p.check,
                    subject=p.subject,
                    field=p.field,
                    journal=p.journal,
                    cached=p.cached,
                )
                for p in report.problems
            ],
        )


class ReconciledView(View):
    """A finished job's charge against its hold (or, fail-open, against its account)."""

    hold_id: str | None
    account: str
    original_hold: Money
    charged: Money
    released: Money
    overrun: Money
    state: str
    tasks_posted: int
    task_count: int
    cost_source: str
    """``reported`` (AWS's bill), ``local_model`` (priced by asbb), ``earlier`` (already
    reconciled: nothing more charged) or ``corrected`` (a reported bill corrected the charge)."""
    replayed: bool
    late: bool
    """The job's hold had already closed (expired, voided) when it was charged."""

    @classmethod
    def of(cls, done: Reconciled) -> ReconciledView:
        return cls(
            hold_id=done.hold_id,
            account=done.account,
            original_hold=done.original_hold,
            charged=done.charged,
            released=done.released,
            overrun=done.overrun,
            state=done.state,
            tasks_posted=done.tasks_posted,
            task_count=done.task_count,
            cost_source=done.cost_source,
            replayed=done.replayed,
            late=done.late,
        )
