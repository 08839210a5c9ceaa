"""The ledger: accounts, movements of money and two-phase holds, journaled and exact.

``Ledger`` gathers the use cases, each in its own module: ``accounts`` (open, change, close,
partition caps, basic reads), ``movements`` (deposits, adjustments, limits, transfers,
expiries), ``holds`` (reserve, charge, void, expire, late costs and corrections). Each use case
is one unit of work (``asbb_core.store.database``): the journal rows it appends and the cached
totals they move commit together or not at all, and a retry replays instead of applying twice.
``journal`` holds what they stand on: the row, the locks, the rounding carry.
"""

from __future__ import annotations

from datetime import date

from sqlmodel import Session

from asbb_core.ledger.accounts import AccountUseCases
from asbb_core.ledger.holds import MAX_TASKS, HoldUseCases, hold_lifetime
from asbb_core.ledger.movements import MovementUseCases
from asbb_core.ledger.results import (
    HoldQuote,
    HoldResult,
    MovementResult,
    PostResult,
    ReleaseResult,
    SettleResult,
)
from asbb_core.store.models import Account, AccountStatus
from asbb_core.values.context import Context
from asbb_core.values.money import parse_money
from asbb_core.values.text import normalise_account_name


class Ledger(AccountUseCases, MovementUseCases, HoldUseCases):
    """The ledger's write side and its basic reads."""

    def change_account(
        self,
        name: str,
        *,
        ctx: Context,
        limit: object | None = None,
        reason: str = "",
        description: str | None = None,
        start_date: date | None = None,
        end_date: date | None = None,
        clear_dates: bool = False,
        status: AccountStatus | str | None = None,
        display_name: str | None = None,
    ) -> Account:
        """Change an account's limit (journaled as the adjustment that gets there, with its
        ``reason``) and its details, in one unit of work: all of it, or none of it."""
        cleaned = normalise_account_name(name)
        target = None if limit is None else parse_money(limit, field="limit")
        details = clear_dates or any(
            v is not None for v in (description, start_date, end_date, status, display_name)
        )

        def use_case(session: Session) -> Account:
            account = self._lock_account(session, name=cleaned)
            if target is not None and target != account.limit_amount:
                self.set_limit(cleaned, target, ctx=ctx, reason=reason)
            if details:
                return self.update_account(
                    cleaned,
                    ctx=ctx,
                    description=description,
                    start_date=start_date,
                    end_date=end_date,
                    clear_dates=clear_dates,
                    status=status,
                    display_name=display_name,
                )
            return account

        payload = {
            "name": cleaned,
            "limit": target,
            "reason": reason,
            "description": description,
            "start_date": start_date,
            "end_date": end_date,
            "clear_dates": clear_dates,
            "status": status,
        }
        if display_name is not None:  # only then, so other changes' payloads stay as they were
            payload["display_name"] = display_name
        return self.run(use_case, self._operation("change_account", payload, ctx))


__all__ = [
    "MAX_TASKS",
    "HoldQuote",
    "HoldResult",
    "Ledger",
    "MovementResult",
    "PostResult",
    "ReleaseResult",
    "SettleResult",
    "hold_lifetime",
]
