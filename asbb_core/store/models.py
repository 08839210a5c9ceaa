"""The ledger's tables (SQLModel). Schema changes go through Alembic (migrations/).

Cached totals live on ``Account`` and ``PartitionLimit``; every journal row carries the deltas
it applies to them (``limit_delta``, ``used_delta``, ``held_delta``), so summing the journal
must always give the cached totals (see ``asbb_core.ledger.verify``).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Integer, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from asbb_core.store.constraints import checks
from asbb_core.store.sqltypes import FLOAT8, Money, UTCDateTime
from asbb_core.values.context import Source
from asbb_core.values.money import ZERO
from asbb_core.values.periods import Frequency

# BIGINT on PostgreSQL, INTEGER (the rowid alias, autoincrementing) on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class AccountStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    CLOSED = "closed"


class EntryKind(StrEnum):
    DEPOSIT = "deposit"
    ALLOCATION = "allocation"
    HOLD = "hold"
    CHARGE = "charge"
    RELEASE = "release"
    ADJUSTMENT = "adjustment"
    TRANSFER = "transfer"
    EXPIRY = "expiry"  # unspent allocation money taken back at its period's end
    LATE_CHARGE = "late_charge"
    """A finished job's cost arriving after its hold closed (expired, voided, an array closed
    early): charged, linked to the hold, which stays as it was resolved."""
    CORRECTION = "correction"
    """A job's charge brought to its reported real cost (+ more, - refunded), linked to the
    job and its hold, which stays as it was resolved."""


class HoldState(StrEnum):
    OPEN = "open"
    POSTED = "posted"
    VOIDED = "voided"
    EXPIRED = "expired"


def money_column(name: str | None = None, *, nullable: bool = False) -> Any:
    if name is None:
        return Field(default=ZERO, sa_type=Money, nullable=nullable)
    return Field(default=ZERO, sa_column=Column(name, Money, nullable=nullable))


class Account(SQLModel, table=True):
    """A budget account, mapped 1:1 to a Slurm account by name."""

    __tablename__ = "accounts"
    __table_args__ = checks("accounts")

    id: int | None = Field(default=None, sa_type=BigId, primary_key=True)
    name: str = Field(sa_type=String(64), unique=True, index=True)
    """The Slurm account's name: how jobs, the API and the CLI name the account."""
    display_name: str = Field(default="", sa_type=String(200))
    """What people call it ("ML Research Project"; the original tool's ``name``)."""
    description: str = Field(default="", sa_type=String(500))
    status: AccountStatus = Field(default=AccountStatus.ACTIVE, sa_type=String(16))
    start_date: date | None = None
    end_date: date | None = None
    limit_amount: Decimal = money_column()
    used_amount: Decimal = money_column()
    held_amount: Decimal = money_column()
    carry_amount: Decimal = money_column()
    """The rounding remainder below a cent: the exact costs charged so far minus the whole
    cents posted for them (within half a cent either way), carried into the next charge so
    nothing is lost (``asbb_core.values.money.carry_cent``)."""
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)

    @property
    def available(self) -> Decimal:
        return self.limit_amount - self.used_amount - self.held_amount


class PartitionLimit(SQLModel, table=True):
    """A cap on what one partition may consume inside an account (e.g. gpu-aws <= $500)."""

    __tablename__ = "partition_limits"
    __table_args__ = (UniqueConstraint("account_id", "partition"), *checks("partition_limits"))

    id: int | None = Field(default=None, sa_type=BigId, primary_key=True)
    account_id: int = Field(sa_type=BigId, foreign_key="accounts.id", index=True)
    partition: str = Field(sa_type=String(64))
    limit_amount: Decimal = money_column()
    used_amount: Decimal = money_column()
    held_amount: Decimal = money_column()
    updated_at: datetime = Field(sa_type=UTCDateTime)

    @property
    def available(self) -> Decimal:
        return self.limit_amount - self.used_amount - self.held_amount


class Hold(SQLModel, table=True):
    """A two-phase reservation: open until posted, voided or expired, exactly once.

    ``amount`` is what was reserved, ``remaining`` what is still held. A job array's hold is
    posted once per task (``tasks_posted`` counts them) and closed by the last one.
    """

    __tablename__ = "holds"
    __table_args__ = (
        Index("ix_holds_state_expires", "state", "expires_at"),
        Index("ix_holds_account_state", "account_id", "state"),
        *checks("holds"),
    )

    id: str = Field(sa_type=String(40), primary_key=True)
    account_id: int = Field(sa_type=BigId, foreign_key="accounts.id")
    partition: str | None = Field(default=None, sa_type=String(64))
    user_name: str | None = Field(default=None, sa_type=String(64))
    job_id: str | None = Field(default=None, sa_type=String(64), index=True)
    state: HoldState = Field(default=HoldState.OPEN, sa_type=String(16))
    estimate: Decimal = money_column()
    buffer: Decimal = Field(default=Decimal(1), sa_type=Money)
    amount: Decimal = money_column()
    remaining: Decimal = money_column()
    charged: Decimal = money_column()
    released: Decimal = money_column()
    task_count: int = Field(default=1)
    tasks_posted: int = Field(default=0)
    estimate_source: str = Field(default="local", sa_type=String(32))
    calibration: Decimal = Field(default=Decimal(1), sa_type=Money)
    """The factor applied to ``estimate`` from learned actual/estimate ratios (1: none);
    ``amount`` is ``estimate x calibration x buffer``, so ``estimate`` stays the model's own."""
    job_metadata: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    actor: str = Field(sa_type=String(128))
    source: Source = Field(sa_type=String(16))
    correlation_id: str = Field(sa_type=String(64))
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class JournalEntry(SQLModel, table=True):
    """One append-only movement of money. Never updated, never deleted (a trigger enforces it).

    ``amount`` is the size of the movement (always >= 0); the three deltas say what it did to
    the account's cached totals, and to the partition's when ``partition`` is set.
    """

    __tablename__ = "journal"
    __table_args__ = (
        # Covers spend over time (asbb_core.ledger.spend): burn rates read only this index.
        Index(
            "ix_journal_account_spend",
            "account_id",
            "created_at",
            "used_delta",
            "partition",
            "user_name",
        ),
        Index("ix_journal_created", "created_at"),
        # An account's journal newest first, a page at a time (queries.list_entries).
        Index("ix_journal_account_id", "account_id", "id"),
        *checks("journal"),
    )

    id: int | None = Field(default=None, sa_type=BigId, primary_key=True)
    account_id: int = Field(sa_type=BigId, foreign_key="accounts.id")
    kind: EntryKind = Field(sa_type=String(16))
    amount: Decimal = money_column()
    limit_delta: Decimal = money_column()
    used_delta: Decimal = money_column()
    held_delta: Decimal = money_column()
    carry_delta: Decimal = money_column()
    """The change to the account's rounding remainder: ``used_delta + carry_delta`` is the exact
    cost (to 1/100 of a cent) that the row posts in whole cents."""
    partition: str | None = Field(default=None, sa_type=String(64))
    hold_id: str | None = Field(
        default=None, sa_type=String(40), foreign_key="holds.id", index=True
    )
    job_id: str | None = Field(default=None, sa_type=String(64), index=True)
    user_name: str | None = Field(default=None, sa_type=String(64))
    counterparty_account_id: int | None = Field(
        default=None, sa_type=BigId, foreign_key="accounts.id"
    )
    overrun: bool = False
    """A charge above what the hold reserved (the job already ran, so it is charged anyway)."""
    actor: str = Field(sa_type=String(128))
    source: Source = Field(sa_type=String(16))
    correlation_id: str = Field(sa_type=String(64), index=True)
    idempotency_key: str | None = Field(default=None, sa_type=String(200))
    memo: str = Field(default="", sa_type=String(500))
    job_metadata: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    created_at: datetime = Field(sa_type=UTCDateTime)


class IdempotencyRecord(SQLModel, table=True):
    """The first result of a request made with an idempotency key, replayed to any retry."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        Index("ix_idempotency_keys_created", "created_at"),
        *checks("idempotency_keys"),
    )

    key: str = Field(sa_type=String(200), primary_key=True)
    operation: str = Field(sa_type=String(32))
    fingerprint: str = Field(sa_type=String(64))
    result: dict[str, Any] = Field(sa_type=JSON)
    created_at: datetime = Field(sa_type=UTCDateTime)


class Role(StrEnum):
    """What an API token may do."""

    PLUGIN = "plugin"  # budget check, reconcile, ingest
    ADMIN = "admin"  # everything
    READER = "reader"  # read-only, optionally limited to some accounts


class ApiToken(SQLModel, table=True):
    """A bearer token for the daemon's API. Only a SHA-256 of the secret is stored."""

    __tablename__ = "api_tokens"

    id: int | None = Field(default=None, sa_type=BigId, primary_key=True)
    name: str = Field(sa_type=String(64), unique=True)
    role: Role = Field(sa_type=String(16))
    accounts: list[str] = Field(default_factory=list, sa_type=JSON)
    """For readers: the accounts they may see (empty: all)."""
    secret_hash: str = Field(sa_type=String(64), unique=True)
    prefix: str = Field(sa_type=String(16))
    """The first characters of the secret, to recognise a token in lists and logs."""
    created_by: str = Field(sa_type=String(128))
    created_at: datetime = Field(sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class AdjustmentKind(StrEnum):
    """What an adjustment request does once approved."""

    CREDIT = "credit"  # + limit
    DEBIT = "debit"  # - limit
    LIMIT = "limit"  # set the limit to a figure
    TRANSFER = "transfer"  # limit from one account to another
    REFUND = "refund"  # negative usage correction, optionally on one partition
    HOLD_RELEASE = "hold_release"  # void a hold


class AdjustmentStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class AdjustmentRequest(SQLModel, table=True):
    """A manual movement asked for by one person and applied when another approves it.

    ``amount`` is the movement's size (for ``limit`` the target limit; for ``hold_release``
    what the hold still reserved when it was requested). Once approved, ``correlation_id``
    names the journal rows it wrote and ``result`` holds what the ledger answered.
    """

    __tablename__ = "adjustment_requests"

    id: int | None = Field(default=None, sa_type=BigId, primary_key=True)
    kind: AdjustmentKind = Field(sa_type=String(16))
    account: str = Field(sa_type=String(64), foreign_key="accounts.name", index=True)
    amount: Decimal = money_column()
    target_account: str | None = Field(
        default=None, sa_type=String(64), foreign_key="accounts.name"
    )
    hold_id: str | None = Field(default=None, sa_type=String(40), foreign_key="holds.id")
    partition: str | None = Field(default=None, sa_type=String(64))
    reason: str = Field(sa_type=String(500))
    requested_by: str = Field(sa_type=String(128))
    requested_at: datetime = Field(sa_type=UTCDateTime)
    status: AdjustmentStatus = Field(
        default=AdjustmentStatus.PENDING, sa_type=String(16), index=True
    )
    decided_by: str | None = Field(default=None, sa_type=String(128))
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    decision_reason: str = Field(default="", sa_type=String(500))
    correlation_id: str | None = Field(default=None, sa_type=String(64))
    result: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    needs_confirmation: bool = False
    """What it moves (for a limit: the change from the limit when it was requested) is above
    ``approvals.confirm_above``: approving it needs the account's name typed to confirm."""


# ---------------------------------------------------------------- money over time


class UnspentPolicy(StrEnum):
    """What happens to an instalment's unspent money when its period ends."""

    CARRY_OVER = "carry_over"  # it stays in the account
    EXPIRE = "expire"  # what is left of it (at most the instalment) is taken back


class ScheduleStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class AllocationSchedule(SQLModel, table=True):
    """A budget paid into an account in instalments ($600 at $100 a month).

    Instalment ``k`` (0-based) falls due on the ``k``-th date of the schedule from
    ``start_date``; the last one is smaller when ``total`` is not a multiple of ``amount``.
    """

    __tablename__ = "allocation_schedules"

    id: int | None = Field(default=None, sa_type=BigId, primary_key=True)
    account_id: int = Field(sa_type=BigId, foreign_key="accounts.id", index=True)
    amount: Decimal = money_column()
    total: Decimal = money_column()
    frequency: Frequency = Field(sa_type=String(16))
    start_date: date
    instalments: int
    unspent: UnspentPolicy = Field(default=UnspentPolicy.CARRY_OVER, sa_type=String(16))
    status: ScheduleStatus = Field(default=ScheduleStatus.ACTIVE, sa_type=String(16), index=True)
    memo: str = Field(default="", sa_type=String(500))
    next_period: int = Field(default=0)
    """The first instalment not yet credited or skipped."""
    paused_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_by: str = Field(sa_type=String(128))
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class CreditOutcome(StrEnum):
    CREDITED = "credited"
    SKIPPED = "skipped"  # fell due while the schedule was paused


class AllocationCredit(SQLModel, table=True):
    """One instalment of a schedule, credited (or skipped) exactly once: the unique
    (schedule, period) pair is what makes two racing schedulers credit once."""

    __tablename__ = "allocation_credits"
    __table_args__ = (UniqueConstraint("schedule_id", "period"), *checks("allocation_credits"))

    id: int | None = Field(default=None, sa_type=BigId, primary_key=True)
    schedule_id: int = Field(sa_type=BigId, foreign_key="allocation_schedules.id")
    period: int
    due_date: date
    amount: Decimal = money_column()
    outcome: CreditOutcome = Field(sa_type=String(16))
    entry_id: int | None = Field(default=None, sa_type=BigId, foreign_key="journal.id")
    expired_amount: Decimal = money_column()
    expiry_entry_id: int | None = Field(default=None, sa_type=BigId, foreign_key="journal.id")
    expired_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    """When the unspent rest was taken back (``expire`` schedules); set once."""
    created_at: datetime = Field(sa_type=UTCDateTime)


class GrantStatus(StrEnum):
    ACTIVE = "active"
    CLOSED = "closed"


class Grant(SQLModel, table=True):
    """A multi-year award that funds budget accounts, split into budget periods.

    ``total_award`` and the periods' budgets are total cost (direct + indirect); a direct
    charge of ``d`` against the grant consumes ``d x (1 + indirect_rate)`` of it.
    """

    __tablename__ = "grants"

    id: int | None = Field(default=None, sa_type=BigId, primary_key=True)
    number: str = Field(sa_type=String(64), unique=True, index=True)
    title: str = Field(default="", sa_type=String(500))
    agency: str = Field(default="", sa_type=String(200))
    program: str = Field(default="", sa_type=String(200))
    pi: str = Field(default="", sa_type=String(200))
    co_pis: list[str] = Field(default_factory=list, sa_type=JSON)
    institution: str = Field(default="", sa_type=String(200))
    department: str = Field(default="", sa_type=String(200))
    cfda: str = Field(default="", sa_type=String(16))
    """The federal assistance listing number (CFDA), e.g. 47.070."""
    total_award: Decimal = money_column()
    start_date: date
    end_date: date
    indirect_rate: Decimal = money_column()
    """E.g. 0.30 for 30% indirect costs (facilities and administration)."""
    status: GrantStatus = Field(default=GrantStatus.ACTIVE, sa_type=String(16))
    created_by: str = Field(sa_type=String(128))
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class GrantPeriod(SQLModel, table=True):
    """One budget period of a grant (inclusive dates); ``budget`` is total cost."""

    __tablename__ = "grant_periods"
    __table_args__ = (UniqueConstraint("grant_id", "number"), *checks("grant_periods"))

    id: int | None = Field(default=None, sa_type=BigId, primary_key=True)
    grant_id: int = Field(sa_type=BigId, foreign_key="grants.id", index=True)
    number: int
    start_date: date
    end_date: date
    budget: Decimal = money_column()


class GrantAccount(SQLModel, table=True):
    """A budget account funded by a grant; an account draws from one grant at most."""

    __tablename__ = "grant_accounts"

    account_id: int = Field(sa_type=BigId, foreign_key="accounts.id", primary_key=True)
    grant_id: int = Field(sa_type=BigId, foreign_key="grants.id", index=True)
    linked_by: str = Field(sa_type=String(128))
    linked_at: datetime = Field(sa_type=UTCDateTime)


class GrantDraw(SQLModel, table=True):
    """Money moved from a grant's period into a linked account's limit (direct cost)."""

    __tablename__ = "grant_draws"
    __table_args__ = checks("grant_draws")

    id: int | None = Field(default=None, sa_type=BigId, primary_key=True)
    grant_id: int = Field(sa_type=BigId, foreign_key="grants.id", index=True)
    period_id: int = Field(sa_type=BigId, foreign_key="grant_periods.id")
    account_id: int = Field(sa_type=BigId, foreign_key="accounts.id")
    amount: Decimal = money_column()
    entry_id: int = Field(sa_type=BigId, foreign_key="journal.id")
    actor: str = Field(sa_type=String(128))
    created_at: datetime = Field(sa_type=UTCDateTime)


class AlertSeverity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class AlertStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class Alert(SQLModel, table=True):
    """A condition worth a person's attention, raised once per breach.

    ``active_key`` equals ``dedup_key`` while the alert is open or acknowledged and is NULL once
    resolved; its unique index is what keeps one breach to one alert, whoever evaluates.
    """

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_status_opened", "status", "opened_at"),)

    id: int | None = Field(default=None, sa_type=BigId, primary_key=True)
    kind: str = Field(sa_type=String(32))
    severity: AlertSeverity = Field(sa_type=String(16))
    dedup_key: str = Field(sa_type=String(200), index=True)
    active_key: str | None = Field(default=None, sa_type=String(200), unique=True)
    account_id: int | None = Field(default=None, sa_type=BigId, foreign_key="accounts.id")
    grant_id: int | None = Field(default=None, sa_type=BigId, foreign_key="grants.id")
    title: str = Field(sa_type=String(200))
    message: str = Field(default="", sa_type=String(1000))
    details: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    status: AlertStatus = Field(default=AlertStatus.OPEN, sa_type=String(16))
    opened_at: datetime = Field(sa_type=UTCDateTime)
    last_seen_at: datetime = Field(sa_type=UTCDateTime)
    acknowledged_by: str | None = Field(default=None, sa_type=String(128))
    acknowledged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resolved_by: str | None = Field(default=None, sa_type=String(128))
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resolution: str = Field(default="", sa_type=String(500))


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # gave up after the last attempt


class AlertDelivery(SQLModel, table=True):
    """One notice of an alert (opened or resolved) to one channel, retried until sent."""

    __tablename__ = "alert_deliveries"
    __table_args__ = (Index("ix_alert_deliveries_due", "status", "next_attempt_at"),)

    id: int | None = Field(default=None, sa_type=BigId, primary_key=True)
    alert_id: int = Field(sa_type=BigId, foreign_key="alerts.id", index=True)
    channel: str = Field(sa_type=String(16))
    """``webhook`` or ``email``."""
    event: str = Field(sa_type=String(16))
    """``opened`` or ``resolved``."""
    status: DeliveryStatus = Field(default=DeliveryStatus.PENDING, sa_type=String(16))
    attempts: int = Field(default=0)
    next_attempt_at: datetime = Field(sa_type=UTCDateTime)
    last_error: str = Field(default="", sa_type=String(1000))
    created_at: datetime = Field(sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class CostReport(SQLModel, table=True):
    """A job's real cost as reported from outside (aws-slurm-burst's export, a cost update),
    and what applying it did. One row per report received, applied or not (``outcome``), so
    nothing sent is lost and the status page counts from here."""

    __tablename__ = "cost_reports"
    __table_args__ = (Index("ix_cost_reports_received", "received_at"),)

    id: int | None = Field(default=None, sa_type=BigId, primary_key=True)
    job_id: str = Field(sa_type=String(64), index=True)
    account: str | None = Field(default=None, sa_type=String(64))
    hold_id: str | None = Field(default=None, sa_type=String(40))
    origin: str = Field(sa_type=String(16))
    """``spool`` (a file), ``api`` (POST /asbx/reconcile) or ``cost-update``."""
    file_name: str | None = Field(default=None, sa_type=String(255))
    digest: str = Field(sa_type=String(64), index=True)
    """SHA-256 of the report's canonical JSON: the same report twice is a duplicate."""
    outcome: str = Field(sa_type=String(16))
    """``reconciled`` (posted its hold), ``corrected``, ``charged`` (no hold), ``unchanged``
    (the job already stood at this cost), ``rejected``."""
    reason: str = Field(default="", sa_type=String(1000))
    actual_cost: Decimal | None = Field(default=None, sa_type=Money, nullable=True)
    estimate: Decimal | None = Field(default=None, sa_type=Money, nullable=True)
    """The hold's estimate for the job, when it had one (for the cost model's accuracy)."""
    previous_charge: Decimal | None = Field(default=None, sa_type=Money, nullable=True)
    delta: Decimal | None = Field(default=None, sa_type=Money, nullable=True)
    """What applying it moved: + charged, - refunded."""
    record: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    """The report as received (compute/storage/network costs, spot savings, instances...)."""
    actor: str = Field(sa_type=String(128))
    received_at: datetime = Field(sa_type=UTCDateTime)


class PerformanceFeedback(SQLModel, table=True):
    """How efficiently a job used what it paid for, as aws-slurm-burst measured it."""

    __tablename__ = "performance_feedback"

    id: int | None = Field(default=None, sa_type=BigId, primary_key=True)
    job_id: str = Field(sa_type=String(64), index=True)
    account: str | None = Field(default=None, sa_type=String(64))
    partition: str | None = Field(default=None, sa_type=String(64))
    cpu_efficiency: Decimal | None = Field(default=None, sa_type=Money, nullable=True)
    memory_efficiency: Decimal | None = Field(default=None, sa_type=Money, nullable=True)
    gpu_efficiency: Decimal | None = Field(default=None, sa_type=Money, nullable=True)
    actual_vs_estimated: Decimal | None = Field(default=None, sa_type=Money, nullable=True)
    profile: str = Field(default="", sa_type=String(64))
    details: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    actor: str = Field(sa_type=String(128))
    received_at: datetime = Field(sa_type=UTCDateTime)


class AuditEvent(SQLModel, table=True):
    """One change to the bank's state that is not a movement of money (those are journal
    rows): an account's status, description or dates, a grant or schedule edit, a token made
    or revoked. Append-only like the journal (a trigger refuses UPDATE and DELETE)."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_subject", "subject", "id"),)

    id: int | None = Field(default=None, sa_type=BigId, primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime, index=True)
    actor: str = Field(sa_type=String(128), index=True)
    """Who: the OS login (CLI, console) or the token's name (API)."""
    source: Source = Field(sa_type=String(16))
    correlation_id: str = Field(sa_type=String(64))
    action: str = Field(sa_type=String(64))
    """What, as ``<subject kind>.<verb>``: account.update, grant.update, token.revoke, ..."""
    subject: str = Field(sa_type=String(200))
    """Which, as ``<kind>:<id>``: account:physics, grant:NSF-1, schedule:3, token:ops."""
    before: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    after: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    """The fields that changed, before and after (secrets never)."""


class RateBucket(SQLModel, table=True):
    """A caller's token bucket, shared by every daemon process and replica on the database."""

    __tablename__ = "rate_buckets"

    caller: str = Field(sa_type=String(200), primary_key=True)
    tokens: float = Field(sa_type=FLOAT8)
    """Requests still allowed now (refilled continuously; not money)."""
    updated_at: datetime = Field(sa_type=UTCDateTime)
