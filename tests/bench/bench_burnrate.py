"""Benchmark: burn-rate figures on a journal of 1M rows (target: under 200 ms each).

Builds a database with 10,000 accounts and 1,000,000 charge rows over the last year (a tenth
of them on one "hot" account, the worst case), plus a grant funding five accounts, then times
``account_burn_rate`` and ``grant_burn_rate`` for several windows. The baseline, timed in the
same run on the same database, is the least any approach must do: one ``SUM`` over the hot
account's rows in the window.

    .venv/bin/python -m tests.bench.bench_burnrate [--backend postgresql|sqlite|both]
        [--rows 1000000] [--accounts 10000] [--repeat 20] [--markdown]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from rich.progress import Progress
from sqlalchemy import func, insert, select, text, update
from sqlmodel import Session

from asbb_core.analytics.burnrate import account_burn_rate, grant_burn_rate
from asbb_core.ledger.spend import day_start
from asbb_core.settings import Settings
from asbb_core.store.database import Database
from asbb_core.store.migrate import upgrade
from asbb_core.store.models import (
    Account,
    EntryKind,
    Grant,
    GrantAccount,
    GrantPeriod,
    JournalEntry,
)
from asbb_core.values.context import Source
from asbb_core.values.periods import split_months
from tests.pgserver import find_server

TODAY = date(2026, 11, 22)
BATCH = 20_000
PARTITIONS = ["aws-cpu", "gpu-aws", "aws-mem", None]


def _seed(db: Database, *, accounts: int, rows: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    now = datetime.combine(TODAY, datetime.min.time(), tzinfo=UTC)
    start = now - timedelta(days=365)
    with Progress(transient=True) as progress, Session(db.engine) as s:
        task = progress.add_task("accounts", total=accounts)
        for first in range(0, accounts, BATCH):
            s.execute(
                insert(Account),
                [
                    {
                        "name": f"acct{n:05d}",
                        "description": "",
                        "status": "active",
                        "start_date": start.date(),
                        "end_date": date(2027, 6, 30),
                        "limit_amount": Decimal(100000),
                        "used_amount": Decimal(0),
                        "held_amount": Decimal(0),
                        "created_at": start,
                        "updated_at": start,
                    }
                    for n in range(first, min(first + BATCH, accounts))
                ],
            )
            progress.update(task, advance=min(BATCH, accounts - first))
        s.commit()
        task = progress.add_task("journal rows", total=rows)
        for first in range(0, rows, BATCH):
            batch = []
            for _ in range(min(BATCH, rows - first)):
                account = 1 if rng.random() < 0.1 else rng.randint(1, accounts)
                cost = Decimal(rng.randint(1, 5000)) / 100
                batch.append(
                    {
                        "account_id": account,
                        "kind": EntryKind.CHARGE,
                        "amount": cost,
                        "limit_delta": Decimal(0),
                        "used_delta": cost,
                        "held_delta": Decimal(0),
                        "partition": rng.choice(PARTITIONS),
                        "user_name": f"user{rng.randint(0, 199):03d}",
                        "overrun": False,
                        "actor": "bench",
                        "source": Source.EPILOG,
                        "correlation_id": "bench",
                        "memo": "",
                        "job_metadata": {},
                        "created_at": start + timedelta(seconds=rng.randint(0, 365 * 86400 - 1)),
                    }
                )
            s.execute(insert(JournalEntry), batch)
            s.commit()
            progress.update(task, advance=len(batch))
        totals = (
            select(func.sum(JournalEntry.used_delta))
            .where(JournalEntry.account_id == Account.id)
            .scalar_subquery()
        )
        s.execute(update(Account).values(used_amount=func.coalesce(totals, 0)))
        grant = Grant(
            number="BENCH-1",
            total_award=Decimal(3_000_000),
            start_date=date(2025, 7, 1),
            end_date=date(2028, 6, 30),
            indirect_rate=Decimal("0.3"),
            created_by="bench",
            created_at=start,
            updated_at=start,
        )
        s.add(grant)
        s.flush()
        for n, (a, b) in enumerate(split_months(grant.start_date, grant.end_date, 12), 1):
            s.add(
                GrantPeriod(
                    grant_id=grant.id, number=n, start_date=a, end_date=b, budget=Decimal(1000000)
                )
            )
        for account in (1, 2, 3, 4, 5):
            s.add(
                GrantAccount(account_id=account, grant_id=grant.id, linked_by="b", linked_at=start)
            )
        s.commit()
    if db.is_postgresql:
        # What autovacuum does to an insert-only table in steady state: statistics, and the
        # visibility map that lets burn rates read the covering index alone.
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE journal"))


def _time(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    for _ in range(3):
        fn()
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - began) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def run(backend: str, *, rows: int, accounts: int, repeat: int) -> list[tuple[str, float, float]]:
    server = None
    name = None
    if backend == "postgresql":
        server = find_server()
        name = server.create_database(prefix="asbb_bench_burn")
        url = server.url(name)
    else:
        url = f"sqlite:///{Path(tempfile.mkdtemp(prefix='asbb-bench-'))}/burn.sqlite3"
    try:
        upgrade(url)
        db = Database(url)
        settings = Settings(database={"url": url})
        began = time.perf_counter()
        _seed(db, accounts=accounts, rows=rows)
        print(
            f"[{backend}] seeded {rows:,} rows in {time.perf_counter() - began:.0f}s",
            file=sys.stderr,
        )
        typical = f"acct{accounts // 2:05d}"
        hot_since = TODAY - timedelta(days=364)

        def baseline() -> object:
            def q(s: Session) -> object:
                stmt = select(func.sum(JournalEntry.used_delta)).where(
                    JournalEntry.account_id == 1, JournalEntry.created_at >= day_start(hot_since)
                )
                return s.execute(stmt).scalar()

            return db.read(q)

        cases: list[tuple[str, Callable[[], object]]] = [
            ("baseline: one SUM over the hot account's year", baseline),
            (
                "account, 30d (typical: ~90 rows/year)",
                lambda: account_burn_rate(db, settings, typical, window="30d", today=TODAY),
            ),
            (
                "account, 1y (typical)",
                lambda: account_burn_rate(db, settings, typical, window="1y", today=TODAY),
            ),
            (
                "account, 30d (hot: 100k rows/year)",
                lambda: account_burn_rate(db, settings, "acct00000", window="30d", today=TODAY),
            ),
            (
                "account, 1y (hot: 100k rows/year)",
                lambda: account_burn_rate(db, settings, "acct00000", window="1y", today=TODAY),
            ),
            (
                "grant period (5 accounts incl. the hot one)",
                lambda: grant_burn_rate(db, settings, "BENCH-1", window="period", today=TODAY),
            ),
        ]
        results = []
        for label, fn in cases:
            p50, p95 = _time(fn, repeat)
            results.append((label, p50, p95))
            print(f"[{backend}] {label}: p50 {p50:.1f} ms, p95 {p95:.1f} ms", file=sys.stderr)
        db.dispose()
        return results
    finally:
        if server is not None and name is not None:
            server.drop_database(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["postgresql", "sqlite", "both"], default="both")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    backends = ["postgresql", "sqlite"] if args.backend == "both" else [args.backend]
    table = []
    for backend in backends:
        for label, p50, p95 in run(
            backend, rows=args.rows, accounts=args.accounts, repeat=args.repeat
        ):
            table.append((backend, label, p50, p95))
    if args.markdown:
        print(f"| backend | burn rate ({args.rows:,} journal rows) | p50 ms | p95 ms |")
        print("|---|---|---|---|")
        for backend, label, p50, p95 in table:
            print(f"| {backend} | {label} | {p50:.1f} | {p95:.1f} |")
    else:
        for backend, label, p50, p95 in table:
            print(f"{backend:10} {label:48} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms")


if __name__ == "__main__":
    main()
