"""`ledger verify` beside a busy ledger: 16 clients making, posting and voiding holds and
depositing on PostgreSQL, verify run again and again the whole time. It reads one snapshot
(REPEATABLE READ READ ONLY), so it never reports a difference that is not there.

The run lasts ASBB_VERIFY_SECONDS (20 by default, to keep the suite quick; 60 for the
minute the ledger was first proven over)."""

from __future__ import annotations

import os
import random
import threading
import time
from decimal import Decimal

import pytest

from asbb_core.ledger import Ledger
from asbb_core.ledger.verify import verify_ledger
from asbb_core.store.database import Database
from asbb_core.values.context import Context, Source
from asbb_core.values.errors import InsufficientFundsError

pytestmark = pytest.mark.slow

CLIENTS = 16
ACCOUNTS = [f"busy-{n}" for n in range(4)]


@pytest.mark.parametrize("backend", [pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_verify_sees_no_false_difference_beside_16_clients(backend, migrated_url, settings, ctx):
    seconds = float(os.environ.get("ASBB_VERIFY_SECONDS", "20"))
    db = Database(migrated_url, pool_size=CLIENTS + 4)
    ledger = Ledger(db, settings)
    for name in ACCOUNTS:
        ledger.create_account(name, ctx=ctx, limit="1000000", partition_limits={"gpu-aws": "5000"})
    stop = threading.Event()
    done = [0] * CLIENTS
    errors: list[BaseException] = []

    def client(n: int) -> None:
        rng = random.Random(n)
        plugin = Context(actor=f"client-{n}", source=Source.PLUGIN)
        while not stop.is_set():
            account = rng.choice(ACCOUNTS)
            try:
                partition = rng.choice(["gpu-aws", "aws-cpu"])
                hold = ledger.create_hold(
                    account, Decimal(rng.randint(1, 500)) / 100, ctx=plugin, partition=partition
                )
                step = rng.random()
                if step < 0.6:
                    cost = Decimal(rng.randint(0, 70000)) / 10000  # sub-cent costs: the carry
                    ledger.post_hold(hold.hold_id, cost, ctx=plugin)
                elif step < 0.9:
                    ledger.void_hold(hold.hold_id, ctx=plugin)
                else:
                    ledger.deposit(account, "1.00", ctx=plugin)
                done[n] += 1
            except InsufficientFundsError:
                pass
            except BaseException as exc:
                errors.append(exc)
                return

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    runs = 0
    false_reports: list[str] = []
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            report = verify_ledger(db)
            runs += 1
            false_reports += [str(p) for p in report.problems]
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    assert not errors, errors[:3]
    print(f"verify ran {runs} times beside {sum(done)} client operations")
    assert runs >= 10, runs
    assert sum(done) >= 100, sum(done)
    assert false_reports == [], false_reports[:5]
    final = verify_ledger(db)
    assert final.ok, [str(p) for p in final.problems]
    db.dispose()
