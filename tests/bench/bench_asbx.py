"""Benchmark: ingesting aws-slurm-burst's export folder, against the epilog spool's replay.

Both charge N finished jobs their real cost against N open holds, from N JSON files in a
folder, straight into the ledger. The baseline -- timed in the same run, on the same database,
with the same number of jobs -- is the epilog spool's replay (``asbb_core.integrations.spool``),
which posts
each hold through ``reconcile_job`` and nothing more. The export ingest does that too, plus
finding the hold by job id, recording the cost report in the same transaction, and moving the
file to ``processed/``; the ratio says what that costs. A second ingest of the same files
(every one ``unchanged``) shows what a duplicate costs.

    .venv/bin/python -m tests.bench.bench_asbx [--backend postgresql|sqlite|both] [--jobs 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from asbb_core.integrations.cost_reports import CostReports, ingest_folder
from asbb_core.integrations.spool import ledger_sender, replay_spool
from asbb_core.ledger import Ledger
from asbb_core.settings import Settings
from asbb_core.store.database import Database
from asbb_core.store.migrate import upgrade
from asbb_core.values.context import Context, Source
from tests.pgserver import find_server


def _holds(ledger: Ledger, first_job: int, jobs: int) -> list[tuple[str, str]]:
    ctx = Context(actor="bench", source=Source.CLI)
    return [
        (
            str(first_job + i),
            ledger.create_hold(
                "bench", "1", ctx=ctx, partition="aws-cpu", job_id=str(first_job + i)
            ).hold_id,
        )
        for i in range(jobs)
    ]


def _timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def run(url: str, jobs: int) -> dict[str, float]:
    upgrade(url)
    settings = Settings(database={"url": url}, partitions={"aws-cpu": {"per_cpu_hour": "0.05"}})
    db = Database(url, pool_size=2)
    ledger = Ledger(db, settings)
    ledger.create_account("bench", ctx=Context(actor="bench", source=Source.CLI), limit="1000000")
    with tempfile.TemporaryDirectory() as tmp:
        spool, exports = Path(tmp) / "spool", Path(tmp) / "asbx"
        spool.mkdir()
        exports.mkdir()
        old = time.time() - 60
        for n, (job, hold) in enumerate(_holds(ledger, 100_000, jobs)):
            body = {"job_id": job, "transaction_id": hold, "actual_cost": "0.95"}
            (spool / f"{n:09d}-{job}.json").write_text(json.dumps(body))
        for job, _ in _holds(ledger, 200_000, jobs):
            path = exports / f"job-{job}-asbb-reconciliation.json"
            path.write_text(json.dumps({"job_id": job, "account": "bench", "actual_cost": "0.95"}))
            os.utime(path, (old, old))
        replay = _timed(lambda: replay_spool(spool, ledger_sender(ledger)))
        ingest = _timed(lambda: ingest_folder(exports, CostReports(ledger)))
        for path in (exports / "processed").iterdir():
            os.replace(path, exports / path.name)
            os.utime(exports / path.name, (old, old))
        duplicate = _timed(lambda: ingest_folder(exports, CostReports(ledger)))
    used = ledger.get_account("bench").used_amount
    assert used == Decimal("0.95") * 2 * jobs, used  # each job charged exactly once
    db.dispose()
    return {"replay": replay, "ingest": ingest, "duplicate": duplicate}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("postgresql", "sqlite", "both"), default="both")
    parser.add_argument("--jobs", type=int, default=2000)
    args = parser.parse_args()
    backends = ("postgresql", "sqlite") if args.backend == "both" else (args.backend,)
    print("| backend | jobs | spool replay (baseline) | export ingest | ratio | duplicates |")
    print("|---|---|---|---|---|---|")
    for backend in backends:
        if backend == "sqlite":
            tmp = tempfile.mkdtemp()
            url = f"sqlite:///{tmp}/bench.sqlite3"
        else:
            server = find_server()
            url = server.url(server.create_database(prefix="asbb_bench_asbx"))
        t = run(url, args.jobs)
        per = {k: v / args.jobs * 1000 for k, v in t.items()}
        print(
            f"| {backend} | {args.jobs} | {per['replay']:.2f} ms/job | {per['ingest']:.2f} ms/job "
            f"| {t['ingest'] / t['replay']:.2f}x | {per['duplicate']:.2f} ms/job |"
        )


if __name__ == "__main__":
    main()
