"""When an account can take a hold: the one set of rules ``create_hold`` enforces under its row
locks and ``quote_hold`` answers from without writing (and ``/budget/quote`` with it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Row

from asbb_core.store.models import Account, AccountStatus, PartitionLimit
from asbb_core.values.errors import AccountInactiveError, InsufficientFundsError, ValidationError
from asbb_core.values.money import (
    format_money,
    money_value,
    round_internal,
    round_posting,
    to_decimal,
)
from asbb_core.values.text import normalise_account_name, validate_partition_name


@dataclass(frozen=True)
class HoldTerms:
    """A hold request, validated: what create_hold reserves and quote_hold prices."""

    name: str
    partition: str | None
    estimate: Decimal
    buffer: Decimal
    calibration: Decimal
    amount: Decimal


def hold_terms(
    account_name: str,
    estimate: object,
    *,
    partition: str | None,
    buffer: object | None,
    calibration: object,
    default_buffer: Decimal,
) -> HoldTerms:
    name = normalise_account_name(account_name)
    part = validate_partition_name(partition)
    cost = round_internal(to_decimal(estimate, field="estimate"))
    if cost < 0:
        raise ValidationError("estimate: must not be negative", field="estimate")
    factor = default_buffer if buffer is None else to_decimal(buffer, field="buffer")
    if not Decimal(1) <= factor <= Decimal(10):
        raise ValidationError("buffer: must be between 1 and 10", field="buffer")
    scale = round_internal(to_decimal(calibration, field="calibration"))
    if not Decimal(0) < scale <= Decimal(10):
        raise ValidationError("calibration: must be above 0 and at most 10", field="calibration")
    return HoldTerms(name, part, cost, factor, scale, round_posting(cost * scale * factor))


def shortfall(terms: HoldTerms, available: Decimal, limit: str) -> dict[str, Any]:
    """The details of a refusal for want of money: what was there, what the hold needed."""
    return {
        "available": money_value(available),
        "requested": money_value(terms.amount),
        "estimate": terms.estimate,
        "limit": limit,
    }


def account_refusal(
    account: Account | Row[Any], terms: HoldTerms, *, pending: Decimal, now: datetime
) -> InsufficientFundsError | AccountInactiveError | None:
    """Why the account cannot take this hold, or None. ``pending`` is the part of the hold
    not yet in the row's held total (create_hold checks the row after reserving: 0)."""
    if account.status != AccountStatus.ACTIVE:
        return AccountInactiveError(
            f"account {account.name} is {account.status}; no new jobs may be charged to it",
            field="account",
        )
    today = now.date()
    if account.start_date is not None and today < account.start_date:
        return AccountInactiveError(
            f"account {account.name} opens on {account.start_date.isoformat()}", field="account"
        )
    if account.end_date is not None and today > account.end_date:
        return AccountInactiveError(
            f"account {account.name} ended on {account.end_date.isoformat()}", field="account"
        )
    after = account.limit_amount - account.used_amount - account.held_amount - pending
    if after >= 0:
        return None
    where = f" on {terms.partition}" if terms.partition else ""
    return InsufficientFundsError(
        f"account {terms.name} has {format_money(after + terms.amount)} available; "
        f"this job needs an estimated {format_money(terms.amount)} hold{where}",
        field="account",
        details=shortfall(terms, after + terms.amount, "account"),
    )


def partition_refusal(
    cap: PartitionLimit | Row[Any] | None, terms: HoldTerms, *, pending: Decimal
) -> InsufficientFundsError | None:
    """Why the partition's limit cannot take this hold, or None (no limit: no refusal)."""
    if cap is None:
        return None
    after = cap.limit_amount - cap.used_amount - cap.held_amount - pending
    if after >= 0:
        return None
    return InsufficientFundsError(
        f"partition {terms.partition} of account {terms.name} has "
        f"{format_money(after + terms.amount)} available of its "
        f"{format_money(cap.limit_amount)} limit; this job needs an estimated "
        f"{format_money(terms.amount)} hold on {terms.partition}",
        field="partition",
        details=shortfall(terms, after + terms.amount, "partition"),
    )
