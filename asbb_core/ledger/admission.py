"""Fleet admission: may ``count`` cloud instances be launched for an account, and hold their cost.

A cloud-bursting Slurm (aws-slurm-burst) asks from its ResumeProgram, before it launches the
nodes Slurm wants powered up. That program knows the partition, the account, the instance
type, the capacity model and how many nodes -- not any job's time limit. So a fleet is priced
per instance from the settings (``fleet.prices``, ``pricing.instance_price``):

    hourly rate = instance price x count;  estimate = hourly rate x hours

``hours`` is the request's, else ``fleet.default_hours`` (1: the original tool's one-hour
rate reservation). The hold is an ordinary hold (``Ledger.create_hold``): estimate x buffer,
checked against the account's and the partition cap's available money under the same row
locks as a job's, so racing admissions never overcommit. It has one task per node: each node's
teardown reconciles its own cost (``/budget/reconcile`` with the hold id and a job id
``<cluster>/<node>``), the last one closes the hold and releases the rest; the hold expires
after ``hours`` plus ``holds.timeout_hours`` like any other. A retry with the request's
idempotency key returns the first admission and holds nothing more.

A fleet's hold is not a Slurm job's: recovery leaves it to its reconciles and its timeout,
and cost learning (calibration) leaves it out (``is_fleet_hold``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal, localcontext
from typing import Any

from sqlmodel import Session

from asbb_core.ledger import MAX_TASKS, Ledger
from asbb_core.ledger.pricing import aws_name, instance_price
from asbb_core.ledger.pricing import capacity_model as parse_capacity_model
from asbb_core.store.models import Hold
from asbb_core.store.operations import Operation
from asbb_core.values.context import Context
from asbb_core.values.errors import ValidationError
from asbb_core.values.money import MAX_AMOUNT, format_money, round_internal
from asbb_core.values.text import normalise_account_name, validate_partition_name

FLEET_SOURCE = "fleet"
"""``Hold.estimate_source`` of a fleet admission's hold."""
NODE_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}/[A-Za-z0-9][A-Za-z0-9._-]{0,62}"
"""A fleet node's job id at reconcile, as aws-slurm-burst's suspend step sends it:
``<cluster>/<node>``."""
MAX_HOURS = Decimal(24 * 366)
_HOURS_TEXT = re.compile(r"[0-9]{1,6}(?:\.[0-9]{1,4})?", re.ASCII)


def fleet_hours(value: object, *, field: str = "hours") -> Decimal:
    """Hours of spend to hold: above 0, at most a leap year, at most 4 decimal places."""
    if isinstance(value, bool):
        raise ValidationError(f"{field}: expected a number of hours", field=field)
    if isinstance(value, float):
        value = repr(value) if value == value and abs(value) != float("inf") else "nan"
    if isinstance(value, int):
        value = str(value)
    if isinstance(value, str):
        text = value.strip()
        if not _HOURS_TEXT.fullmatch(text):
            raise ValidationError(
                f"{field}: {value[:32]!r} is not a number of hours (e.g. 1, 0.5, 12.25; at "
                "most 4 decimal places)",
                field=field,
            )
        value = Decimal(text)
    if not isinstance(value, Decimal) or not value.is_finite():
        raise ValidationError(f"{field}: expected a number of hours", field=field)
    if value != round_internal(value):
        raise ValidationError(f"{field}: at most 4 decimal places", field=field)
    if not Decimal(0) < value <= MAX_HOURS:
        raise ValidationError(f"{field}: must be above 0 and at most {MAX_HOURS}", field=field)
    return value


def _count(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError("count: expected a whole number of instances", field="count")
    if not 1 <= value <= MAX_TASKS:
        raise ValidationError(f"count: must be from 1 to {MAX_TASKS}", field="count")
    return value


@dataclass(frozen=True)
class FleetRequest:
    """A fleet about to be launched, validated (names canonical, fields named when wrong)."""

    account: str
    partition: str | None
    """None: the default partition."""
    region: str
    instance_type: str
    capacity_model: str
    """on-demand, spot or reserved."""
    count: int
    hours: Decimal | None
    """None: ``fleet.default_hours``."""

    @classmethod
    def parse(
        cls,
        *,
        account: object,
        partition: object,
        region: object,
        instance_type: object,
        capacity_model: object = None,
        count: object,
        hours: object = None,
    ) -> FleetRequest:
        return cls(
            account=normalise_account_name(account),
            partition=validate_partition_name(partition),
            region=aws_name(region, field="region"),
            instance_type=aws_name(instance_type, field="instance_type"),
            capacity_model=parse_capacity_model(capacity_model),
            count=_count(count),
            hours=None if hours is None else fleet_hours(hours),
        )


@dataclass(frozen=True)
class PricedFleet:
    """A fleet request with its price: what ``FleetAdmissions.admit`` holds."""

    request: FleetRequest
    partition: str
    priced_as: str
    """The capacity model whose price was used (spot without a spot price: on-demand)."""
    unit_price: Decimal
    """Dollars per instance-hour."""
    hourly_rate: Decimal
    """The fleet's dollars per hour: unit price x count."""
    hours: Decimal
    estimate: Decimal
    """hourly rate x hours, to 4 places: the hold's estimate (before the buffer)."""


@dataclass(frozen=True)
class Admission:
    """A fleet admitted: its hold and the price it was held at. Recorded as the operation's
    result, so a retry with the same key answers with it (``replayed``)."""

    hold_id: str
    account: str
    partition: str
    region: str
    instance_type: str
    capacity_model: str
    priced_as: str
    count: int
    unit_price: Decimal
    hourly_rate: Decimal
    hours: Decimal
    estimate: Decimal
    buffer: Decimal
    amount: Decimal
    """The money held: estimate x buffer, to the cent."""
    available_after: Decimal
    expires_at: datetime
    replayed: bool = False


def is_fleet_hold(hold: Hold) -> bool:
    """Whether ``hold`` is a fleet admission's (not a Slurm job's)."""
    return hold.estimate_source == FLEET_SOURCE


def fleet_node_cost(hold: Hold, elapsed: timedelta, *, nodes: int | None = None) -> Decimal:
    """What ``nodes`` (one by default: one reconcile per node) of a fleet's instances cost
    for ``elapsed``, at the price the fleet was admitted at."""
    fleet = hold.job_metadata.get("fleet") or {}
    try:
        unit = Decimal(str(fleet["unit_price"]))
    except (KeyError, ArithmeticError) as exc:
        raise ValidationError(
            f"hold {hold.id} records no instance price; give actual_cost",
            field="actual_cost",
        ) from exc
    seconds = max(int(elapsed.total_seconds()), 0)
    return round_internal(unit * (nodes or 1) * Decimal(seconds) / 3600)


class FleetAdmissions:
    """Fleet admission over the ledger (its settings price the fleet)."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.settings = ledger.settings

    def price(self, request: FleetRequest) -> PricedFleet | None:
        """The fleet's price; None if its partition is marked ``budgeted = false``.

        Raises UnknownPartitionError for a partition the settings do not name, and
        UnknownPriceError for an instance type, region or capacity model without a price."""
        if self.settings.partition(request.partition) is None:
            return None
        partition = request.partition or self.settings.default_partition
        assert partition is not None  # settings.partition() found it
        unit, priced_as = instance_price(
            self.settings,
            region=request.region,
            instance_type=request.instance_type,
            model=request.capacity_model,
        )
        hours = request.hours or self.settings.fleet.default_hours
        with localcontext() as exact:
            exact.prec = 60  # a price far past MAX_AMOUNT is computed exactly, then refused
            rate = unit * request.count
            total = rate * hours
            if total > MAX_AMOUNT:
                raise ValidationError(
                    f"count: {request.count} x {request.instance_type} for {hours} h costs "
                    f"{format_money(total)}, more than asbb holds at once "
                    f"({format_money(MAX_AMOUNT)}); check count and hours",
                    field="count",
                )
            estimate = round_internal(total)
        return PricedFleet(
            request=request,
            partition=partition,
            priced_as=priced_as,
            unit_price=unit,
            hourly_rate=rate,
            hours=hours,
            estimate=estimate,
        )

    def admit(
        self, fleet: PricedFleet, *, ctx: Context, metadata: dict[str, Any] | None = None
    ) -> Admission:
        """Hold the fleet's estimate x buffer, or raise InsufficientFundsError (saying what is
        available) / AccountInactiveError, writing nothing.

        Idempotent on ``ctx.idempotency_key``: the admission is recorded under it with the
        request as its fingerprint, so a retry (a reply lost) gets the same hold and the key
        sent with another request is an IdempotencyConflictError."""
        request = fleet.request
        payload = {
            "account": request.account,
            "partition": fleet.partition,
            "region": request.region,
            "instance_type": request.instance_type,
            "capacity_model": request.capacity_model,
            "count": request.count,
            "hours": fleet.hours,
            "unit_price": fleet.unit_price,
        }
        described = {
            "region": request.region,
            "instance_type": request.instance_type,
            "capacity_model": request.capacity_model,
            "priced_as": fleet.priced_as,
            "count": request.count,
            "unit_price": str(fleet.unit_price),
            "hourly_rate": str(fleet.hourly_rate),
            "hours": str(fleet.hours),
        }
        meta = {**(metadata or {}), "fleet": described}
        # The hold is written inside this operation's unit of work: the operation's record
        # (keyed) answers a retry, so the hold itself takes no key of its own.
        inner = replace(ctx, idempotency_key=None)
        buffer = self.settings.holds.buffer

        def use_case(_: Session) -> Admission:
            hold = self.ledger.create_hold(
                request.account,
                fleet.estimate,
                ctx=inner,
                partition=fleet.partition,
                task_count=request.count,
                time_limit=timedelta(seconds=int(fleet.hours * 3600)),
                estimate_source=FLEET_SOURCE,
                metadata=meta,
            )
            return Admission(
                hold_id=hold.hold_id,
                account=hold.account,
                partition=fleet.partition,
                region=request.region,
                instance_type=request.instance_type,
                capacity_model=request.capacity_model,
                priced_as=fleet.priced_as,
                count=request.count,
                unit_price=fleet.unit_price,
                hourly_rate=fleet.hourly_rate,
                hours=fleet.hours,
                estimate=fleet.estimate,
                buffer=buffer,
                amount=hold.amount,
                available_after=hold.available_after,
                expires_at=hold.expires_at,
            )

        operation = Operation("fleet_admit", payload, key=ctx.idempotency_key, actor=ctx.actor)
        return self.ledger.run(use_case, operation)
