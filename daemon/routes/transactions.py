"""The transactions resource of the REST API: the journal, read-only, newest first."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query

from asbb_core.store import queries
from daemon.auth import Principal, any_reader
from daemon.routes.accounts import account_name, visible_accounts
from daemon.schemas import JOB_ID_PATTERN, ApiModel, MoneyOut
from daemon.services import Services, get_services

router = APIRouter(tags=["transactions"])

MAX_ID = 2**63 - 1
EntryType = Literal["deposit", "allocation", "hold", "charge", "release", "adjustment", "transfer"]


class EntryOut(ApiModel):
    id: int
    account: str
    type: str
    amount: MoneyOut
    limit_delta: MoneyOut
    used_delta: MoneyOut
    held_delta: MoneyOut
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
    metadata: dict[str, Any]
    created_at: datetime

    @classmethod
    def of(cls, row: queries.EntryRow) -> EntryOut:
        e = row.entry
        return cls(
            id=e.id or 0,
            account=row.account,
            type=str(e.kind),
            amount=e.amount,
            limit_delta=e.limit_delta,
            used_delta=e.used_delta,
            held_delta=e.held_delta,
            partition=e.partition,
            hold_id=e.hold_id,
            job_id=e.job_id,
            user=e.user_name,
            counterparty=row.counterparty,
            overrun=e.overrun,
            actor=e.actor,
            source=str(e.source),
            correlation_id=e.correlation_id,
            memo=e.memo,
            metadata=e.job_metadata,
            created_at=e.created_at,
        )


class EntryPage(ApiModel):
    items: list[EntryOut]
    next_before_id: int | None
    """Pass as `before_id` for the next (older) page; null when this page is the last."""


@router.get("/transactions", response_model=EntryPage)
def list_transactions(
    principal: Annotated[Principal, Depends(any_reader)],
    services: Annotated[Services, Depends(get_services)],
    account: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    job_id: Annotated[
        str | None, Query(max_length=64, pattern=JOB_ID_PATTERN, description="A Slurm job id")
    ] = None,
    type: Annotated[EntryType | None, Query(description="The kind of movement")] = None,
    since: Annotated[
        str | None, Query(max_length=40, description="ISO date or datetime, inclusive")
    ] = None,
    until: Annotated[
        str | None,
        Query(max_length=40, description="ISO datetime (exclusive) or date (whole day included)"),
    ] = None,
    hold_id: Annotated[str | None, Query(min_length=1, max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=queries.MAX_PAGE)] = 100,
    before_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Cursor: only entries older than this id")
    ] = None,
) -> EntryPage:
    """The journal, newest first, filtered by account, job, type, time range and hold, paged
    by keyset: pass `next_before_id` back as `before_id` until it is null. A reader token
    limited to some accounts sees only their rows (403 when it names another account)."""
    if account is not None:
        account = account_name(account, principal, field="account")
    page = queries.list_entries(
        services.db,
        account=account,
        job_id=job_id,
        kind=type,
        since=queries.parse_when(since, field="since"),
        until=queries.parse_when(until, field="until", end=True),
        hold_id=hold_id,
        limit=limit,
        before_id=before_id,
        visible=visible_accounts(principal),
    )
    return EntryPage(items=[EntryOut.of(r) for r in page.items], next_before_id=page.next_before_id)


@router.get("/transactions/{entry_id}", response_model=EntryOut)
def show_transaction(
    entry_id: Annotated[int, Path(ge=1, le=MAX_ID, description="The journal entry's id")],
    principal: Annotated[Principal, Depends(any_reader)],
    services: Annotated[Services, Depends(get_services)],
) -> EntryOut:
    """One journal entry (403 if it belongs to an account the reader token may not see)."""
    row = queries.get_entry(services.db, entry_id)
    principal.require_account(row.account)
    return EntryOut.of(row)
