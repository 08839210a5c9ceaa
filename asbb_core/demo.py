"""Demo data: eight Slurm-style accounts and about ninety days of job history.

Everything is written through the ``Ledger``'s public methods -- never with SQL -- so the
journal, the cached totals and the holds agree exactly as they would in production, and
``verify_ledger`` passes on the result. Time is simulated: the ledger's clock is a
``DemoClock`` that the seeder moves forward event by event, so journal rows carry realistic
timestamps from ``now - 90 days`` up to ``now``.

The data is deterministic for a given ``seed`` and ``now`` (hold ids are random UUIDs, the
figures are not). Amounts are built from strings and integers only, never floats.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from asbb_core.alerts.conditions import AlertService
from asbb_core.funding.allocations import Allocations
from asbb_core.funding.approvals import Approvals
from asbb_core.funding.grants import Grants
from asbb_core.ledger import Ledger
from asbb_core.ledger.pricing import JobShape, hourly_rate
from asbb_core.settings import PartitionSettings
from asbb_core.store.models import AccountStatus, EntryKind
from asbb_core.values.context import Context, IdempotencyKey, Source
from asbb_core.values.errors import AccountInactiveError, ConflictError, InsufficientFundsError
from asbb_core.values.money import ZERO, money_str, round_internal
from asbb_core.values.periods import Frequency, add_months

HISTORY_DAYS = 90
DEFAULT_SEED = 20240917

# Demo prices, dollars per resource-hour: aws-cpu like a c5 vCPU, gpu-aws like a p3 V100.
# Priced by the same local model as real jobs (asbb_core.ledger.pricing).
DEMO_RATES = {
    "aws-cpu": PartitionSettings(per_cpu_hour=Decimal("0.0425")),
    "gpu-aws": PartitionSettings(per_cpu_hour=Decimal("0.0425"), per_gpu_hour=Decimal("3.06")),
}
BUDGETED_PARTITIONS = ("aws-cpu", "gpu-aws")
LOCAL_PARTITION = "local"


class DemoClock:
    """A clock the seeder moves by hand; pass it to ``Ledger(..., clock=DemoClock(t))``."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def set(self, when: datetime) -> None:
        self.now = when


@dataclass(frozen=True)
class _AccountSpec:
    name: str
    description: str
    limit: str
    users: tuple[str, ...]
    gpu_share: int  # percent of jobs on gpu-aws (the rest on aws-cpu)
    jobs: int
    cpu_range: tuple[int, int]
    hours_range: tuple[int, int]
    nodes_range: tuple[int, int]
    caps: dict[str, str] = field(default_factory=dict)
    ends_in_days: int = 365


ACCOUNTS: tuple[_AccountSpec, ...] = (
    _AccountSpec(
        "ml-proj",
        "Deep learning for protein structure (PI: A. Rivera)",
        "40000",
        ("arivera", "bchen", "kpatel"),
        gpu_share=70,
        jobs=60,
        cpu_range=(8, 32),
        hours_range=(2, 24),
        nodes_range=(3, 7),
        caps={"gpu-aws": "25000"},
    ),
    _AccountSpec(
        "climate-sim",
        "Regional climate downscaling ensembles",
        "30000",
        ("mlopez", "jwu"),
        gpu_share=0,
        jobs=50,
        cpu_range=(64, 256),
        hours_range=(6, 36),
        nodes_range=(4, 10),
    ),
    _AccountSpec(
        "genomics-lab",
        "Variant calling pipelines for the cohort study",
        "12000",
        ("sgupta", "tnguyen", "ealvarez"),
        gpu_share=10,
        jobs=45,
        cpu_range=(16, 96),
        hours_range=(2, 16),
        nodes_range=(5, 11),
    ),
    _AccountSpec(
        "astro-survey",
        "Sky survey image reduction",
        "20000",
        ("hkim", "dmorgan"),
        gpu_share=25,
        jobs=35,
        cpu_range=(32, 128),
        hours_range=(4, 24),
        nodes_range=(4, 8),
        caps={"gpu-aws": "4000"},
    ),
    _AccountSpec(
        "chem-dft",
        "Density functional theory screening",
        "8000",
        ("rossi", "lfischer"),
        gpu_share=0,
        jobs=35,
        cpu_range=(32, 128),
        hours_range=(4, 20),
        nodes_range=(6, 12),
    ),
    _AccountSpec(
        "neuro-imaging",
        "fMRI preprocessing and model fitting",
        "15000",
        ("pwright", "yzhang"),
        gpu_share=40,
        jobs=30,
        cpu_range=(8, 32),
        hours_range=(2, 12),
        nodes_range=(6, 14),
        caps={"gpu-aws": "6000"},
    ),
    _AccountSpec(
        "physics-qcd",
        "Lattice QCD gauge generation",
        "25000",
        ("ofarouk", "nsato", "cberg"),
        gpu_share=30,
        jobs=35,
        cpu_range=(64, 192),
        hours_range=(8, 30),
        nodes_range=(4, 10),
    ),
    _AccountSpec(
        "econ-models",
        "Agent-based macroeconomic models (seed grant)",
        "2000",
        ("jdoe",),
        gpu_share=0,
        jobs=25,
        cpu_range=(16, 64),
        hours_range=(2, 20),
        nodes_range=(3, 5),
        ends_in_days=30,
    ),
)

SUSPENDED_ACCOUNT = "neuro-imaging"


@dataclass
class DemoSummary:
    """What the demo wrote, tallied from the ledger's answers while seeding."""

    accounts: int = 0
    suspended: int = 0
    partition_limits: int = 0
    jobs: int = 0
    holds: int = 0
    posted: int = 0
    overruns: int = 0
    voided: int = 0
    expired: int = 0
    open_holds: int = 0
    rejected: int = 0
    deposits: int = 0
    adjustments: int = 0
    transfers: int = 0
    schedules: int = 0
    instalments: int = 0
    grants: int = 0
    grant_draws: int = 0
    alerts: int = 0
    approvals_pending: int = 0
    approvals_rejected: int = 0
    journal_rows: int = 0
    total_limit: Decimal = ZERO
    total_used: Decimal = ZERO
    total_held: Decimal = ZERO
    first_day: date | None = None
    last_day: date | None = None

    @property
    def total_available(self) -> Decimal:
        return self.total_limit - self.total_used - self.total_held

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in self.__dict__.items():
            if isinstance(value, Decimal):
                out[key] = money_str(value)
            elif isinstance(value, date):
                out[key] = value.isoformat()
            else:
                out[key] = value
        out["total_available"] = money_str(self.total_available)
        return out


@dataclass
class _Job:
    job_id: str
    account: str
    user: str
    partition: str
    nodes: int
    cpus: int
    gpus: int
    hours: int
    estimate: Decimal
    cost: Decimal
    submit: datetime
    end: datetime
    outcome: str  # "post", "void", "running", "forgotten"
    hold_id: str | None = None


@dataclass(order=True)
class _Event:
    when: datetime
    order: int
    action: Callable[[], None] = field(compare=False)


@contextmanager
def _demo_clock(ledger: Ledger, start: datetime) -> Iterator[DemoClock]:
    """Use the ledger's DemoClock, or lend it one for the duration of the seeding."""
    if isinstance(ledger.clock, DemoClock):
        ledger.clock.set(start)
        yield ledger.clock
        return
    original = ledger.clock
    clock = DemoClock(start)
    ledger.clock = clock
    try:
        yield clock
    finally:
        ledger.clock = original


def _estimate(partition: str, nodes: int, cpus: int, gpus: int, hours: int) -> Decimal:
    """What ``nodes`` nodes of ``cpus`` CPUs and ``gpus`` GPUs each cost for ``hours``."""
    job = JobShape(
        partition=partition,
        duration=timedelta(hours=hours),
        nodes=nodes,
        cpus=cpus * nodes,
        gpus=gpus * nodes,
    )
    return round_internal(sum(hourly_rate(DEMO_RATES[partition], job).values(), ZERO) * hours)


def _plan_jobs(rng: random.Random, now: datetime, start: datetime) -> list[_Job]:
    """Each account's jobs over the history window, plus a few still running at ``now``."""
    jobs: list[_Job] = []
    span = int((now - start).total_seconds()) - 6 * 3600
    for spec in ACCOUNTS:
        for n in range(spec.jobs + 1):
            running = n == spec.jobs  # the last one is still running (when it gets a hold)
            gpu = rng.randrange(100) < spec.gpu_share
            partition = "gpu-aws" if gpu else "aws-cpu"
            cpus = rng.randint(*spec.cpu_range)
            gpus = rng.choice((1, 2, 4, 8)) if gpu else 0
            if gpu:
                cpus = min(cpus, 8 * gpus)
            hours = rng.randint(*spec.hours_range)
            nodes = rng.randint(*spec.nodes_range)
            estimate = _estimate(partition, nodes, cpus, gpus, hours)
            roll = rng.randrange(100)
            if running:
                outcome, percent = "running", 100
                submit = now - timedelta(minutes=rng.randint(20, 5 * 60))
            else:
                submit = start + timedelta(seconds=rng.randrange(span))
                if roll < 7:
                    outcome, percent = "void", 0
                elif roll < 13:
                    outcome, percent = "post", rng.randint(125, 160)  # cost above the hold
                else:
                    outcome, percent = "post", rng.randint(15, 98)
            runtime = timedelta(minutes=max(1, hours * 60 * min(percent, 100) // 100))
            end = submit + (timedelta(minutes=rng.randint(2, 90)) if outcome == "void" else runtime)
            jobs.append(
                _Job(
                    job_id="",
                    account=spec.name,
                    user=rng.choice(spec.users),
                    partition=partition,
                    nodes=nodes,
                    cpus=cpus,
                    gpus=gpus,
                    hours=hours,
                    estimate=estimate,
                    cost=estimate * percent / 100,
                    submit=submit,
                    end=end,
                    outcome=outcome,
                )
            )
    jobs.sort(key=lambda j: (j.submit, j.account))
    for number, job in enumerate(jobs, start=4_100_001):
        job.job_id = str(number)
    return jobs


def seed_demo(
    ledger: Ledger,
    *,
    now: datetime,
    on_progress: Callable[[int, int], None] | None = None,
    seed: int = DEFAULT_SEED,
) -> DemoSummary:
    """Seed an empty ledger with demo accounts and ~90 days of history ending at ``now``.

    Refuses (``ConflictError``) when the database already has accounts: the demo never mixes
    with real data; start from an empty database (``asbb demo --reset`` does that).
    ``on_progress(done, total)`` is called after every step.
    """
    existing = ledger.list_accounts()
    if existing:
        raise ConflictError(
            f"the database already has {len(existing)} account(s); "
            "demo data is only seeded into an empty database",
            field="database",
        )
    rng = random.Random(seed)
    start = now - timedelta(days=HISTORY_DAYS)
    opened = now - timedelta(days=HISTORY_DAYS + 10)
    summary = DemoSummary(first_day=opened.date(), last_day=now.date())
    jobs = _plan_jobs(rng, now, start)
    serial = iter(range(1, 1_000_000))

    def ctx(actor: str, source: Source, key: str | None = None) -> Context:
        # The keys slurmctld's plugin and the epilog would send: a caller's own.
        return Context(
            actor,
            source,
            correlation_id=f"demo-{next(serial):06d}",
            idempotency_key=IdempotencyKey.client(key) if key else None,
        )

    events: list[_Event] = []

    def at(when: datetime, action: Callable[[], None]) -> None:
        events.append(_Event(when, len(events), action))

    # -- accounts -------------------------------------------------------------
    def open_account(spec: _AccountSpec) -> Callable[[], None]:
        def action() -> None:
            ledger.create_account(
                spec.name,
                ctx=ctx("admin", Source.CLI),
                limit=spec.limit,
                description=spec.description,
                start_date=(now - timedelta(days=HISTORY_DAYS + 5)).date(),
                end_date=(now + timedelta(days=spec.ends_in_days)).date(),
                partition_limits=dict[str, object](spec.caps),
            )
            summary.accounts += 1
            summary.partition_limits += len(spec.caps)
            summary.deposits += 1
            summary.journal_rows += 1
            summary.total_limit += Decimal(spec.limit)

        return action

    for i, spec in enumerate(ACCOUNTS):
        at(opened + timedelta(minutes=10 * i), open_account(spec))

    # -- money movements --------------------------------------------------------
    def deposit(account: str, amount: str, memo: str, kind: EntryKind) -> Callable[[], None]:
        def action() -> None:
            ledger.deposit(
                account, amount, ctx=ctx("finance", Source.CONSOLE), memo=memo, kind=kind
            )
            summary.deposits += 1
            summary.journal_rows += 1
            summary.total_limit += Decimal(amount)

        return action

    at(
        now - timedelta(days=62),
        deposit("climate-sim", "5000", "monthly allocation", EntryKind.ALLOCATION),
    )
    at(
        now - timedelta(days=32),
        deposit("climate-sim", "5000", "monthly allocation", EntryKind.ALLOCATION),
    )
    at(
        now - timedelta(days=45),
        deposit("ml-proj", "10000", "NSF supplement, award 2231", EntryKind.DEPOSIT),
    )
    at(
        now - timedelta(days=20),
        deposit("genomics-lab", "3000", "department top-up", EntryKind.DEPOSIT),
    )

    def transfer() -> None:
        ledger.transfer(
            "astro-survey",
            "physics-qcd",
            "2500",
            ctx=ctx("finance", Source.CONSOLE),
            reason="unused allocation moved by the PI",
        )
        summary.transfers += 1
        summary.journal_rows += 2

    at(now - timedelta(days=25), transfer)

    def cap_physics_gpu() -> None:
        ledger.set_partition_limit("physics-qcd", "gpu-aws", "9000", ctx=ctx("admin", Source.CLI))
        summary.partition_limits += 1

    at(now - timedelta(days=40), cap_physics_gpu)

    def suspend() -> None:
        ledger.update_account(
            SUSPENDED_ACCOUNT, ctx=ctx("admin", Source.CLI), status=AccountStatus.SUSPENDED
        )
        summary.suspended += 1

    at(now - timedelta(days=9), suspend)

    def refund() -> None:
        # Refund the most recent posted chem-dft job: its AWS spot instance was reclaimed.
        done = [
            j
            for j in jobs
            if j.account == "chem-dft"
            and j.outcome == "post"
            and j.hold_id
            and j.end < now - timedelta(hours=3)
        ]
        if not done:
            return
        job = max(done, key=lambda j: j.end)
        amount = -Decimal(money_str(job.cost))
        ledger.adjust(
            "chem-dft",
            amount,
            ctx=ctx("finance", Source.CONSOLE),
            target="used",
            reason=f"refund job {job.job_id}: spot capacity reclaimed",
            partition=job.partition,
        )
        summary.adjustments += 1
        summary.journal_rows += 1
        summary.total_used += amount

    at(now - timedelta(hours=2), refund)

    # -- adjustment requests: a queue for the approvals view (nothing moves until approved) --
    def approvals() -> Approvals:
        return Approvals(ledger.db, ledger, ledger.settings, ledger.clock)

    def ask(
        kind: str, account: str, amount: str, who: str, why: str, **extra: Any
    ) -> Callable[[], None]:
        def action() -> None:
            approvals().request(kind, account, amount, requested_by=who, reason=why, **extra)
            summary.approvals_pending += 1

        return action

    def turned_down() -> None:
        row = approvals().request(
            "credit", "chem-dft", "4000", requested_by="pi:okafor", reason="extra DFT screening"
        )
        assert row.id is not None
        approvals().reject(row.id, approver="finance", reason="no budget left this quarter")
        summary.approvals_rejected += 1

    at(now - timedelta(days=6), turned_down)
    at(
        now - timedelta(days=2, hours=3),
        ask("credit", "ml-proj", "5000", "pi:rivera", "GPU sweep for the rebuttal deadline"),
    )
    at(
        now - timedelta(days=1, hours=5),
        ask(
            "transfer",
            "astro-survey",
            "750",
            "pi:nakamura",
            "lend unused survey money to the econ group",
            target_account="econ-models",
        ),
    )
    at(
        now - timedelta(hours=4),
        ask("limit", "climate-sim", "45000", "pi:haddad", "new NOAA award starts in December"),
    )

    # -- jobs -----------------------------------------------------------------
    def submit(job: _Job) -> Callable[[], None]:
        def action() -> None:
            summary.jobs += 1
            try:
                hold = ledger.create_hold(
                    job.account,
                    job.estimate,
                    ctx=ctx("slurmctld", Source.PLUGIN, key=f"check-{job.job_id}"),
                    partition=job.partition,
                    job_id=job.job_id,
                    user_name=job.user,
                    time_limit=timedelta(hours=job.hours),
                    metadata={
                        "cpus": job.cpus * job.nodes,
                        "gpus": job.gpus * job.nodes,
                        "nodes": job.nodes,
                        "time_limit": f"{job.hours:02d}:00:00",
                    },
                )
            except (InsufficientFundsError, AccountInactiveError):
                summary.rejected += 1
                return
            job.hold_id = hold.hold_id
            summary.holds += 1
            summary.journal_rows += 1
            summary.total_held += hold.amount

        return action

    def finish(job: _Job) -> Callable[[], None]:
        def action() -> None:
            if job.hold_id is None:
                return
            if job.outcome == "void":
                released = ledger.void_hold(
                    job.hold_id, ctx=ctx("epilog", Source.EPILOG), reason="cancelled while pending"
                )
                summary.voided += 1
                summary.journal_rows += 1 if released.released > 0 else 0
                summary.total_held -= released.released
                return
            post = ledger.post_hold(
                job.hold_id,
                job.cost,
                ctx=ctx("epilog", Source.EPILOG, key=f"reconcile-{job.job_id}"),
                metadata={"elapsed_minutes": int((job.end - job.submit).total_seconds() // 60)},
            )
            summary.posted += 1
            summary.journal_rows += 1 + (post.overrun > 0) + (post.released > 0)
            summary.overruns += post.overrun > 0
            summary.total_used += post.charged
            summary.total_held -= post.original_hold

        return action

    # One job was submitted and then forgotten by Slurm (no epilog ever came): its hold
    # times out and the final sweep expires it.
    forgotten = next(
        j
        for j in jobs
        if j.account == "genomics-lab"
        and j.outcome == "post"
        and now - timedelta(days=12) < j.submit < now - timedelta(days=5)
    )
    forgotten.outcome = "forgotten"

    for job in jobs:
        at(job.submit, submit(job))
        if job.outcome in ("post", "void") and job.end < now:
            at(job.end, finish(job))

    # -- money over time: a top-up schedule, a grant funding two accounts -------------
    allocations = Allocations(ledger)
    grants = Grants(ledger)

    def schedule_top_ups() -> None:
        allocations.create_schedule(
            "astro-survey",
            amount="1500",
            frequency=Frequency.MONTHLY,
            start_date=(opened + timedelta(days=1)).date(),
            instalments=12,
            ctx=ctx("admin", Source.CLI),
            memo="Survey operations top-up, FY plan",
        )
        summary.schedules += 1

    def credit_due() -> None:
        done = allocations.process_due(ctx=ctx("scheduler", Source.SCHEDULER))
        summary.instalments += len(done.credited)
        summary.deposits += len(done.credited)
        summary.journal_rows += len(done.credited)
        summary.total_limit += done.total_credited

    def open_grant() -> None:
        award_start = (opened - timedelta(days=200)).date()
        grants.create_grant(
            "NSF-2231907",
            total_award="450000",
            start_date=award_start,
            end_date=add_months(award_start, 36) - timedelta(days=1),
            indirect_rate="0.55",
            ctx=ctx("admin", Source.CLI),
            title="Scalable protein structure prediction on burst cloud capacity",
            agency="National Science Foundation",
            program="Office of Advanced Cyberinfrastructure",
            pi="A. Rivera",
            co_pis=["M. Chen", "S. Okafor"],
            institution="Example State University",
            department="Computational Biology",
            cfda="47.070",
        )
        for account in ("ml-proj", "genomics-lab"):
            grants.link_account("NSF-2231907", account, ctx=ctx("admin", Source.CLI))
        summary.grants += 1

    def draw_from_grant() -> None:
        drawn = grants.fund_account(
            "NSF-2231907",
            "ml-proj",
            "6000",
            ctx=ctx("admin", Source.CLI),
            memo="Second-quarter compute",
        )
        summary.grant_draws += 1
        summary.deposits += 1
        summary.journal_rows += 1
        summary.total_limit += drawn.amount

    at(opened + timedelta(minutes=30), schedule_top_ups)
    at(opened + timedelta(minutes=40), open_grant)
    at(opened + timedelta(days=45, hours=9), draw_from_grant)
    day = opened.replace(hour=0, minute=5, second=0, microsecond=0) + timedelta(days=1)
    while day < now:
        at(day, credit_due)
        day += timedelta(days=1)

    events.sort()
    total = len(events) + 1
    with _demo_clock(ledger, opened) as clock:
        for done, event in enumerate(events, start=1):
            clock.set(max(clock.now, event.when))
            event.action()
            if on_progress is not None:
                on_progress(done, total)
        clock.set(now)
        for expired in ledger.expire_holds(ctx=ctx("asbb-recovery", Source.RECOVERY)):
            summary.expired += 1
            summary.journal_rows += 1 if expired.released > 0 else 0
            summary.total_held -= expired.released
        evaluated = AlertService(ledger.db, ledger.settings, clock).evaluate(now=now)
        summary.alerts = len(evaluated.opened)
        if on_progress is not None:
            on_progress(total, total)
    summary.open_holds = summary.holds - summary.posted - summary.voided - summary.expired
    return summary
