"""Everything the ledger knows about one job, for the tools around it: its hold, account,
grant, estimate, what it was charged, the cost reports and feedback received for it, and what
the account has left."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlmodel import Session, col, select

from asbb_core.analytics.decisions import grant_of
from asbb_core.funding.grants import Grants, PeriodStatus
from asbb_core.integrations.cost_reports import CostReports, parse_job_id
from asbb_core.integrations.feedback import feedback_for_job
from asbb_core.ledger import Ledger
from asbb_core.store import queries
from asbb_core.store.models import Account, CostReport, Grant, JournalEntry, PerformanceFeedback
from asbb_core.values.errors import NotFoundError
from asbb_core.values.money import ZERO


@dataclass(frozen=True)
class JobContext:
    job_id: str
    account: Account
    hold: queries.HoldRow | None
    grant: Grant | None
    period: PeriodStatus | None
    """The grant's current budget period, where one is current."""
    estimate: Decimal | None
    charged: Decimal
    """What this job was charged, net of refunds (its journal rows' used_delta)."""
    entries: list[JournalEntry]
    reports: list[CostReport]
    feedback: list[PerformanceFeedback]


def job_context(ledger: Ledger, job_id: str) -> JobContext:
    """The job's money and where it came from; ``NotFoundError`` if the ledger never saw it."""
    job = parse_job_id(job_id)
    reports = CostReports(ledger)

    def query(s: Session) -> tuple[list[JournalEntry], str | None, int | None]:
        rows = list(
            s.exec(
                select(JournalEntry)
                .where(JournalEntry.job_id == job)
                .order_by(col(JournalEntry.id))
            )
        )
        hold_id = next((r.hold_id for r in rows if r.hold_id), None)
        account_id = rows[0].account_id if rows else None
        return rows, hold_id, account_id

    job_rows, hold_id, account_id = ledger.db.read(query)
    hold_row = None
    found = reports.hold_of_job(job) if hold_id is None else ledger.get_hold(hold_id)
    entries = job_rows
    if found is not None:
        hold_row = queries.get_hold(ledger.db, found.id)
        account_id = found.account_id
        # The hold's own rows (reserve, charges, release), oldest first.
        entries = ledger.journal(hold_id=found.id, limit=10_000)[::-1]
    if account_id is None:
        raise NotFoundError(f"job {job} is not known to the ledger", field="job_id")
    account = ledger.db.read(lambda s: s.get(Account, account_id))
    assert account is not None
    grant = grant_of(ledger.db, account.name)
    period = None
    if grant is not None:
        grants = Grants(ledger)
        if grants.current_period(grant.number) is not None:
            period = grants.period_status(grant.number)
    charged = sum((e.used_delta for e in job_rows), ZERO)
    return JobContext(
        job_id=job,
        account=account,
        hold=hold_row,
        grant=grant,
        period=period,
        estimate=hold_row.hold.estimate if hold_row else None,
        charged=charged,
        entries=entries,
        reports=reports.for_job(job),
        feedback=feedback_for_job(ledger.db, job),
    )
