"""The transactions resource of the REST API: the journal, read-only, newest first."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query

from asbb_core.ledger.views import EntryPage, EntryView
from asbb_core.store import queries
from daemon.auth import Principal, any_reader
from daemon.routes.accounts import account_name, visible_accounts
from daemon.schemas import JOB_ID_PATTERN
from daemon.services import Services, get_services

router = APIRouter(tags=["transactions"])

MAX_ID = 2**63 - 1
EntryType = Literal["deposit", "allocation", "hold", "charge", "release", "adjustment", "transfer"]


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
    return EntryPage(
        items=[EntryView.of(r) for r in page.items], next_before_id=page.next_before_id
    )


@router.get("/transactions/{entry_id}", response_model=EntryView)
def show_transaction(
    entry_id: Annotated[int, Path(ge=1, le=MAX_ID, description="The journal entry's id")],
    principal: Annotated[Principal, Depends(any_reader)],
    services: Annotated[Services, Depends(get_services)],
) -> EntryView:
    """One journal entry (403 if it belongs to an account the reader token may not see)."""
    row = queries.get_entry(services.db, entry_id)
    principal.require_account(row.account)
    return EntryView.of(row)
