"""Concurrent submissions can never overcommit an account or a partition cap.

32 threads (and 32 processes) hammer one account at once, through real connections; the row
lock (PostgreSQL) or the write lock (SQLite) must serialise every balance decision.
"""

from __future__ import annotations

import multiprocessing
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest

from asbb_core.ledger import Ledger
from asbb_core.ledger.verify import verify_ledger
from asbb_core.settings import Settings
from asbb_core.store.database import Database
from asbb_core.values.context import Context, Source
from asbb_core.values.errors import InsufficientFundsError
from tests.processes import racing_processes

pytestmark = pytest.mark.slow

WORKERS = 32
ATTEMPTS = 5
LIMIT = Decimal("1000.00")
HOLD = Decimal("37.00")  # 27 fit in 1000 (999.00); the 28th must be refused


def _try_holds(ledger: Ledger, worker: int, attempts: int) -> int:
    accepted = 0
    for attempt in range(attempts):
        ctx = Context(actor=f"worker-{worker}", source=Source.PLUGIN)
        try:
            ledger.create_hold("hot", HOLD, buffer="1", ctx=ctx, job_id=f"{worker}.{attempt}")
            accepted += 1
        except InsufficientFundsError:
            pass
    return accepted


def test_32_threads_on_one_account_never_overcommit(ledger, ctx):
    ledger.create_account("hot", ctx=ctx, limit=LIMIT)
    start = threading.Barrier(WORKERS)

    def worker(n: int) -> int:
        start.wait()
        return _try_holds(ledger, n, ATTEMPTS)

    with ThreadPoolExecutor(WORKERS) as pool:
        accepted = sum(pool.map(worker, range(WORKERS)))

    assert accepted == int(LIMIT // HOLD) == 27
    account = ledger.get_account("hot")
    assert account.held_amount == HOLD * accepted
    assert account.available >= 0
    report = verify_ledger(ledger.db)
    assert report.ok, [str(p) for p in report.problems]


def test_mixed_holds_posts_and_voids_respect_the_account_and_the_cap(ledger, ctx):
    ledger.create_account("hot", ctx=ctx, limit=LIMIT, partition_limits={"gpu-aws": "400"})
    start = threading.Barrier(WORKERS)

    def worker(n: int) -> None:
        rng = random.Random(n)
        start.wait()
        for attempt in range(ATTEMPTS):
            me = Context(actor=f"worker-{n}", source=Source.PLUGIN)
            partition = rng.choice(["gpu-aws", "aws-cpu"])
            try:
                hold = ledger.create_hold(
                    "hot",
                    Decimal(rng.randint(5, 60)),
                    ctx=me,
                    partition=partition,
                    job_id=f"{n}.{attempt}",
                )
            except InsufficientFundsError:
                continue
            if rng.random() < 0.3:
                ledger.void_hold(hold.hold_id, ctx=me, reason="cancelled")
            else:
                cost = hold.amount * Decimal(rng.randint(0, 130)) / 100  # some overrun
                ledger.post_hold(hold.hold_id, cost, ctx=me)

    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(worker, range(WORKERS)))

    report = verify_ledger(ledger.db)
    assert report.ok, [str(p) for p in report.problems]
    account = ledger.get_account("hot")
    assert account.held_amount == 0
    (cap,) = ledger.partition_limits("hot")
    # Holds never exceeded the cap; only overruns (jobs that already ran) may push past it,
    # by at most 30% of what was held.
    assert cap.used_amount <= cap.limit_amount * Decimal("1.3")
    assert account.used_amount <= LIMIT * Decimal("1.3")


def _process_worker(url: str, worker: int, barrier: multiprocessing.synchronize.Barrier) -> int:
    db = Database(url, pool_size=1)
    ledger = Ledger(db, Settings(database={"url": url}))
    barrier.wait()
    try:
        return _try_holds(ledger, worker, 3)
    finally:
        db.dispose()


def test_32_processes_on_one_account_never_overcommit(ledger, ctx, migrated_url):
    ledger.create_account("hot", ctx=ctx, limit=LIMIT)
    racers = racing_processes()
    barrier = racers.Manager().Barrier(WORKERS)
    with racers.Pool(WORKERS) as pool:
        accepted = sum(
            pool.starmap(_process_worker, [(migrated_url, n, barrier) for n in range(WORKERS)])
        )
    assert accepted == 27
    assert ledger.get_account("hot").held_amount == HOLD * 27
    report = verify_ledger(ledger.db)
    assert report.ok, [str(p) for p in report.problems]
