"""A person's own movements of money and limits, under maker-checker.

The CLI, the console and the REST API let a person deposit, set an account's limit (also when
opening it), make a one-off allocation or void a hold. With ``approvals.require_approval`` on
(the default) none of these moves money: each becomes a pending adjustment request that
another person approves (``asbb_core.funding.approvals``); with it off they move at once.
The front ends make these movements only through this module, so no path skips the rule.

Transfers, refunds, credits and debits are requests already (``asbb adjust``). Movements that
are no person's (the plugin's holds and charges, scheduled allocation instalments, the hold
sweeper) do not pass here. Partition caps only narrow what an account's own limit allows, so
they change at once (and are audited).

>>> desk = Desk(ledger, approvals, allocations)                        # doctest: +SKIP
>>> done = desk.deposit("physics", "250", ctx=ctx, memo="grant 17")
>>> done.request.status if done.pending else done.result.amount
'pending'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Generic, TypeVar

from sqlmodel import Session

from asbb_core.funding.allocations import Allocations
from asbb_core.funding.approvals import Approvals
from asbb_core.ledger import Ledger, MovementResult, ReleaseResult
from asbb_core.store import queries
from asbb_core.store.models import Account, AccountStatus, AdjustmentKind, AdjustmentRequest
from asbb_core.values.context import Context
from asbb_core.values.money import ZERO, parse_money
from asbb_core.values.text import clean_text, normalise_account_name

T = TypeVar("T")


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """What a person's movement did: moved now (``result``) or became a request (``request``)."""

    result: T | None = None
    request: AdjustmentRequest | None = None

    @property
    def pending(self) -> bool:
        return self.request is not None


@dataclass(frozen=True)
class AccountOutcome:
    """An account opened or changed; ``request`` is its limit change waiting for approval."""

    account: Account
    request: AdjustmentRequest | None = None


class Desk:
    """Where a person moves money or limits (see the module doc)."""

    def __init__(self, ledger: Ledger, approvals: Approvals, allocations: Allocations) -> None:
        self.ledger = ledger
        self.approvals = approvals
        self.allocations = allocations

    @property
    def approval_required(self) -> bool:
        return self.approvals.required

    def _either(self, move: Callable[[], T], ask: Callable[[], AdjustmentRequest]) -> Outcome[T]:
        if self.approvals.required:
            return Outcome(request=ask())
        return Outcome(result=move())

    def deposit(
        self, account: str, amount: object, *, ctx: Context, memo: str = ""
    ) -> Outcome[MovementResult]:
        """Add ``amount`` to the account's limit, or ask for it as a credit."""
        text = clean_text(memo, field="memo")
        return self._either(
            lambda: self.ledger.deposit(account, amount, ctx=ctx, memo=text),
            lambda: self.approvals.ask(
                "credit", account, amount, ctx=ctx, reason=text or "deposit"
            ),
        )

    def allocate_once(
        self, account: str, amount: object, *, ctx: Context, memo: str = ""
    ) -> Outcome[MovementResult]:
        """A one-off allocation, or a credit request naming it."""
        text = clean_text(memo, field="memo")
        reason = f"one-off allocation: {text}" if text else "one-off allocation"
        return self._either(
            lambda: self.allocations.allocate_once(account, amount, ctx=ctx, memo=text),
            lambda: self.approvals.ask("credit", account, amount, ctx=ctx, reason=reason),
        )

    def void_hold(self, hold_id: str, *, ctx: Context, reason: str = "") -> Outcome[ReleaseResult]:
        """Release an open hold, or ask for its release."""
        text = clean_text(reason, field="reason")

        def ask() -> AdjustmentRequest:
            account = queries.get_hold(self.ledger.db, hold_id).account
            return self.approvals.ask(
                AdjustmentKind.HOLD_RELEASE,
                account,
                ctx=ctx,
                reason=text or "void hold",
                hold_id=hold_id,
            )

        return self._either(lambda: self.ledger.void_hold(hold_id, ctx=ctx, reason=text), ask)

    def create_account(
        self,
        name: str,
        *,
        ctx: Context,
        limit: object = 0,
        description: str = "",
        start_date: date | None = None,
        end_date: date | None = None,
        partition_limits: Mapping[str, object] | None = None,
        schedule: Mapping[str, Any] | None = None,
        display_name: str = "",
    ) -> AccountOutcome:
        """Open an account, with its allocation schedule (``Allocations.open_account``). With
        approval required its opening limit is a request and the account opens at zero (all
        in one unit of work: all of it, or none)."""
        opening = parse_money(limit, field="limit")
        asks = self.approvals.required and opening > ZERO

        def use_case(session: Session) -> AccountOutcome:
            account = self.allocations.open_account(
                name,
                ctx=ctx,
                schedule=schedule,
                limit=ZERO if asks else opening,
                description=description,
                start_date=start_date,
                end_date=end_date,
                partition_limits=partition_limits,
                display_name=display_name,
            )
            if not asks:
                return AccountOutcome(account)
            request = self.approvals.ask(
                AdjustmentKind.LIMIT, account.name, opening, ctx=ctx, reason="opening budget"
            )
            return AccountOutcome(account, request)

        return self.ledger.db.run(use_case)

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
    ) -> AccountOutcome:
        """Change an account's details and limit in one unit of work. With approval required
        a new limit is a request (an unchanged limit asks nothing); the details change now."""
        cleaned = normalise_account_name(name)
        target: Decimal | None = None if limit is None else parse_money(limit, field="limit")

        def use_case(session: Session) -> AccountOutcome:
            request = None
            direct = target
            if self.approvals.required and target is not None:
                direct = None
                if target != self.ledger.get_account(cleaned).limit_amount:
                    request = self.approvals.ask(
                        AdjustmentKind.LIMIT,
                        cleaned,
                        target,
                        ctx=ctx,
                        reason=clean_text(reason, field="reason") or "limit change",
                    )
            account = self.ledger.change_account(
                cleaned,
                ctx=ctx,
                limit=direct,
                reason=reason,
                description=description,
                start_date=start_date,
                end_date=end_date,
                clear_dates=clear_dates,
                status=status,
                display_name=display_name,
            )
            return AccountOutcome(account, request)

        return self.ledger.db.run(use_case)
