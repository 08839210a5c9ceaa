"""The local price model: what a job costs on a partition, from the rates in settings.

cost = hours x (cpus x per_cpu_hour + gpus x per_gpu_hour + memory_gb x per_gb_hour
                + nodes x (per_node_hour + instance_hourly_price)) x array tasks

Estimates use the requested time limit; actual costs use the real elapsed time and the
resources Slurm allocated. Both carry 4 decimal places (money.round_internal); rounding to the
cent happens once, when the ledger posts.

What a job asks for is bounded where it is parsed: counts (nodes, cpus, gpus, array tasks) up
to ``MAX_COUNT``, memory up to ``MAX_MEMORY_MB`` (an exbibyte); a price above
``money.MAX_AMOUNT`` is refused, never rounded or stored. (The partition name is taken as
sent: the settings compare it exactly, so one they do not name is refused there.)

A fleet about to be launched (``asbb_core.ledger.admission``) is priced per instance instead:
``fleet.prices.<region>.<instance type>`` in settings, by capacity model (``instance_price``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal, localcontext

from asbb_core.settings import AWS_NAME, PartitionSettings, Settings
from asbb_core.values.durations import parse_slurm_time
from asbb_core.values.errors import ValidationError
from asbb_core.values.money import MAX_AMOUNT, format_money, round_internal

# re.ASCII: without it \s and IGNORECASE reach past ASCII (the Kelvin sign matches "k").
_MEMORY = re.compile(
    r"\s*([0-9]{1,20}(?:\.[0-9]{1,20})?)\s*([KMGTP]?)(?:I?B)?\s*", re.IGNORECASE | re.ASCII
)
_MB_PER_UNIT = {
    "K": Decimal(1) / 1024,
    "": Decimal(1),
    "M": Decimal(1),
    "G": Decimal(1024),
    "T": Decimal(1024**2),
    "P": Decimal(1024**3),
}
MAX_COUNT = 1_000_000
MAX_MEMORY_MB = 1024**4
"""An exbibyte: more memory than any job has asked for, far below where prices overflow."""
_MEMORY_TEXT_LIMIT = 48


def parse_memory_mb(value: object, *, field: str = "memory") -> Decimal:
    """Memory as Slurm counts it: a bare number is megabytes; "64G", "64GB", "512M" too."""
    if value is None:
        return Decimal(0)
    if isinstance(value, bool):
        raise ValidationError(f"{field}: expected an amount of memory", field=field)
    if isinstance(value, int):
        megabytes = Decimal(value)
    elif isinstance(value, str):
        match = _MEMORY.fullmatch(value) if len(value) <= _MEMORY_TEXT_LIMIT else None
        if not match:
            raise ValidationError(
                f"{field}: {value[:_MEMORY_TEXT_LIMIT]!r} is not an amount of memory "
                "(e.g. 4096, 64G)",
                field=field,
            )
        megabytes = Decimal(match.group(1)) * _MB_PER_UNIT[match.group(2).upper()]
    else:
        raise ValidationError(f"{field}: expected megabytes or a string like '64G'", field=field)
    if megabytes < 0:
        raise ValidationError(f"{field}: must not be negative", field=field)
    if megabytes > MAX_MEMORY_MB:
        raise ValidationError(
            f"{field}: {value} is more than {MAX_MEMORY_MB} MB (1 EiB)", field=field
        )
    return megabytes


def _count(value: object, *, field: str, minimum: int = 0) -> int:
    if value is None:
        return minimum
    if isinstance(value, bool) or not isinstance(value, int):
        text = value.strip() if isinstance(value, str) else ""
        # isascii: str.isdigit() also takes other scripts' digits, and superscripts
        # ("²"), which int() refuses.
        if 0 < len(text) <= 12 and text.isascii() and text.isdigit():
            value = int(text)
        else:
            raise ValidationError(f"{field}: expected a whole number", field=field)
    if not minimum <= value <= MAX_COUNT:
        raise ValidationError(f"{field}: must be from {minimum} to {MAX_COUNT}", field=field)
    return value


@dataclass(frozen=True)
class JobShape:
    """What a job asks for (or was allocated). ``tasks`` > 1 is a job array."""

    partition: str | None
    duration: timedelta
    nodes: int = 1
    cpus: int = 1
    gpus: int = 0
    memory_mb: Decimal = Decimal(0)
    tasks: int = 1

    @classmethod
    def parse(
        cls,
        *,
        partition: str | None,
        wall_time: object,
        nodes: object = 1,
        cpus: object = 1,
        gpus: object = 0,
        memory: object = None,
        tasks: object = 1,
    ) -> JobShape:
        """Validate raw request fields, naming the field at fault."""
        return cls(
            partition=partition,
            duration=parse_slurm_time(wall_time, field="wall_time"),
            nodes=_count(nodes, field="nodes", minimum=1),
            cpus=_count(cpus, field="cpus", minimum=1),
            gpus=_count(gpus, field="gpus"),
            memory_mb=parse_memory_mb(memory),
            tasks=_count(tasks, field="array_size", minimum=1),
        )


@dataclass(frozen=True)
class Price:
    """A priced job: the total, what one task costs, and the parts that make it up."""

    partition: str
    total: Decimal
    per_task: Decimal
    hours: Decimal
    breakdown: dict[str, Decimal] = field(default_factory=dict)
    source: str = "local"


def hourly_rate(rates: PartitionSettings, job: JobShape) -> dict[str, Decimal]:
    """Dollars per hour of one task, by resource (only the non-zero parts)."""
    memory_gb = job.memory_mb / 1024
    parts = {
        "cpu": job.cpus * rates.per_cpu_hour,
        "gpu": job.gpus * rates.per_gpu_hour,
        "memory": memory_gb * rates.per_gb_hour,
        "node": job.nodes * rates.per_node_hour,
        "instance": job.nodes * (rates.instance_hourly_price or Decimal(0)),
    }
    return {name: value for name, value in parts.items() if value}


def price_job(settings: Settings, job: JobShape) -> Price | None:
    """Price a job with the local model; ``None`` if its partition is not budgeted."""
    rates = settings.partition(job.partition)
    if rates is None:
        return None
    partition = job.partition or settings.default_partition
    assert partition is not None  # settings.partition() returned rates for it
    hours = Decimal(int(job.duration.total_seconds())) / 3600
    # Enough digits that a price far past MAX_AMOUNT is computed exactly (and refused)
    # instead of failing to round to 4 places within the default 28.
    with localcontext() as exact:
        exact.prec = 60
        per_hour = hourly_rate(rates, job)
        total = sum(per_hour.values(), Decimal(0)) * hours * job.tasks
        if total > MAX_AMOUNT:
            raise ValidationError(
                f"the job's price ({format_money(total)}) is more than asbb holds for one job "
                f"({format_money(MAX_AMOUNT)}); check nodes, cpus, gpus, memory, wall_time and "
                "array_size"
            )
        breakdown = {
            name: round_internal(value * hours * job.tasks) for name, value in per_hour.items()
        }
        per_task = round_internal(sum(per_hour.values(), Decimal(0)) * hours)
    return Price(
        partition=partition,
        total=round_internal(per_task * job.tasks),
        per_task=per_task,
        hours=round_internal(hours),
        breakdown=breakdown,
    )


# ---------------------------------------------------------------- instances (fleet admission)

ON_DEMAND = "on-demand"
SPOT = "spot"
RESERVED = "reserved"
CAPACITY_MODELS = {
    "": ON_DEMAND,
    ON_DEMAND: ON_DEMAND,
    "ondemand": ON_DEMAND,
    "on_demand": ON_DEMAND,
    SPOT: SPOT,
    RESERVED: RESERVED,
}
"""The capacity models aws-slurm-burst sends (its own spelling ``ondemand`` too), by the
canonical name asbb answers with; none (or "") is on-demand, as in the original tool."""


class UnknownPriceError(ValidationError):
    """An instance type, region or capacity model the settings give no price for: refused,
    never guessed (a fleet asbb cannot price must not launch for free)."""

    code = "unknown_instance_price"


def capacity_model(value: object, *, field: str = "capacity_model") -> str:
    """The canonical capacity model (``on-demand``, ``spot``, ``reserved``) of a request's."""
    if value is None:
        return ON_DEMAND
    if not isinstance(value, str):
        raise ValidationError(f"{field}: expected text", field=field)
    found = CAPACITY_MODELS.get(value.strip().lower())
    if found is None:
        raise ValidationError(
            f"{field}: {value[:32]!r} is not a capacity model (on-demand, spot or reserved)",
            field=field,
        )
    return found


def aws_name(value: object, *, field: str) -> str:
    """A region or an instance type as AWS spells it (lower case); compared exactly."""
    # ASCII first: str.lower() maps the Kelvin sign to "k", another instance's name.
    text = value.strip() if isinstance(value, str) and value.isascii() else None
    if not text or not AWS_NAME.fullmatch(text.lower()):
        raise ValidationError(
            f"{field}: {str(value)[:64]!r} is not an AWS {field.replace('_', ' ')} "
            "(lower-case letters, digits, '.', '_', '-'; at most 64)",
            field=field,
        )
    return text.lower()


def instance_price(
    settings: Settings, *, region: str, instance_type: str, model: str
) -> tuple[Decimal, str]:
    """One instance's dollars per hour under ``model``, and the model whose price that is
    (spot without a spot price is held at on-demand, reserved is priced as on-demand
    without its own). Raises UnknownPriceError naming what the settings lack."""
    setting = f'fleet.prices.{region}."{instance_type}"'
    regions = settings.fleet.prices
    if region not in regions:
        raise UnknownPriceError(
            f"region: {region!r} has no instance prices in asbb's settings; add "
            f"[{setting}] with its on_demand (and spot) price",
            field="region",
            details={"region": region, "instance_type": instance_type, "setting": setting},
        )
    prices = regions[region].get(instance_type)
    if prices is None:
        raise UnknownPriceError(
            f"instance_type: {instance_type!r} has no price in {region} in asbb's settings; "
            f"add [{setting}] with its on_demand (and spot) price",
            field="instance_type",
            details={"region": region, "instance_type": instance_type, "setting": setting},
        )
    own = {ON_DEMAND: prices.on_demand, SPOT: prices.spot, RESERVED: prices.reserved}[model]
    if own is not None:
        return own, model
    if prices.on_demand is not None:
        return prices.on_demand, ON_DEMAND
    key = {ON_DEMAND: "on_demand", SPOT: "spot", RESERVED: "reserved"}[model]
    raise UnknownPriceError(
        f"capacity_model: {instance_type} in {region} has no {model} price (nor an on-demand "
        f"one to hold it at) in asbb's settings; add {key} (or on_demand) to [{setting}]",
        field="capacity_model",
        details={
            "region": region,
            "instance_type": instance_type,
            "capacity_model": model,
            "setting": setting,
        },
    )
