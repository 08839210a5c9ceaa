"""Recurring allocations: a budget paid into an account in instalments.

The plan of a schedule (which instalment falls due when, for how much) is pure arithmetic
over the schedule's row; crediting is done by the ledger, each instalment exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from asbb_core.models import AllocationSchedule
from asbb_core.periods import due_date


@dataclass(frozen=True)
class Instalment:
    period: int
    """0-based index of the instalment in its schedule."""
    due_date: date
    amount: Decimal


def planned_instalments(schedule: AllocationSchedule) -> list[Instalment]:
    """Every instalment of ``schedule``: ``amount`` each, the last one smaller when ``total``
    is not a multiple of it."""
    plan: list[Instalment] = []
    for k in range(schedule.instalments):
        amount = min(schedule.amount, schedule.total - schedule.amount * k)
        plan.append(Instalment(k, due_date(schedule.start_date, schedule.frequency, k), amount))
    return plan
