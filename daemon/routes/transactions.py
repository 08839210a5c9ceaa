"""The transactions resource of the REST API: the journal, read-only, newest first."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query

from asbb_core.ledger.views import EntryPage, EntryView
from asbb_core.store import queries
from asbb_core.values.errors import ValidationError
from daemon.auth import Principal, any_reader
from daemon.routes.accounts import account_name, visible_accounts
from daemon.schemas import JOB_ID_PATTERN
from daemon.services import Services, get_services
from daemon.wire import WireRoute

router = APIRouter(tags=["transactions"], route_class=WireRoute)

MAX_ID = 2**63 - 1
EntryType = Literal[
    "deposit", "allocation", "hold", "charge", "release", "adjustment", "transfer", "refund"
]
"""asbb's kinds of movement, and the original tool's ``refund`` (asbb's ``release``)."""
OriginalStatus = Literal["pending", "completed", "failed", "cancelled"]


def _bound(ours: str, theirs: str, mine: str | None, other: str | None, *, end: bool) -> Any:
    """A time bound from asbb's parameter or the original tool's (a 422 naming both when
    they disagree)."""
    first = queries.parse_when(mine, field=ours, end=end)
    second = queries.parse_when(other, field=theirs, end=end)
    if first is not None and second is not None and first != second:
        raise ValidationError(
            f"{theirs}: {other} disagrees with {ours} {mine}; give one of them",
            field=theirs,
        )
    return first if first is not None else second


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
    offset: Annotated[
        int, Query(ge=0, le=1_000_000_000, description="Rows to skip (the original's paging)")
    ] = 0,
    start_date: Annotated[
        str | None, Query(max_length=40, description="The original's name for `since`")
    ] = None,
    end_date: Annotated[
        str | None, Query(max_length=40, description="The original's name for `until`")
    ] = None,
    status: Annotated[
        OriginalStatus | None,
        Query(
            description="The original's: every journal row is `completed`, so the others "
            "match nothing"
        ),
    ] = None,
) -> EntryPage:
    """The journal, newest first, filtered by account, job, type, time range and hold, paged
    by keyset: pass `next_before_id` back as `before_id` until it is null (or, as the
    original tool paged, by `offset`). A reader token limited to some accounts sees only
    their rows (403 when it names another account). The original's `start_date`,
    `end_date`, `status` and type `refund` (asbb's `release`) work too."""
    if account is not None:
        account = account_name(account, principal, field="account")
    page = queries.list_entries(
        services.db,
        account=account,
        job_id=job_id,
        kind="release" if type == "refund" else type,
        since=_bound("since", "start_date", since, start_date, end=False),
        until=_bound("until", "end_date", until, end_date, end=True),
        hold_id=hold_id,
        limit=limit,
        before_id=before_id,
        visible=visible_accounts(principal),
        offset=offset,
    )
    if status not in (None, "completed"):  # a journal row is a movement already made
        return EntryPage(items=[], next_before_id=None)
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
