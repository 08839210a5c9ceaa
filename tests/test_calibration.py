"""Cost learning: actual/estimated ratios per account and partition, and bounded calibration."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import httpx
import pytest

from asbb_core.access.tokens import Tokens
from asbb_core.ledger import Ledger
from asbb_core.ledger.calibration import Calibrator, bounded_factor, cost_ratios
from asbb_core.settings import CalibrationSettings, Settings
from asbb_core.store.database import Database
from asbb_core.values.context import Context
from tests.conftest import Clock, serve_in_thread

D = Decimal


def run_jobs(
    ledger: Ledger, ctx: Context, account: str, partition: str, n: int, estimate: str, cost: str
) -> None:
    for _ in range(n):
        hold = ledger.create_hold(account, estimate, ctx=ctx, partition=partition)
        ledger.post_hold(hold.hold_id, cost, ctx=ctx)


@pytest.fixture
def learned(ledger: Ledger, ctx: Context) -> Ledger:
    ledger.create_account("lab", ctx=ctx, limit="10000")
    run_jobs(ledger, ctx, "lab", "aws-cpu", 25, "10.00", "12.00")  # runs 20% over
    run_jobs(ledger, ctx, "lab", "gpu-aws", 5, "10.00", "5.00")  # too few jobs to learn from
    hold = ledger.create_hold("lab", "10.00", ctx=ctx, partition="aws-cpu")  # open: not learned
    assert hold.amount == D("12.00")
    return ledger


def test_ratios_per_account_and_partition(
    db: Database, settings: Settings, learned: Ledger, clock: Clock
) -> None:
    ratios = cost_ratios(db, settings.calibration, now=clock())
    assert [(r.partition, r.jobs, r.estimated, r.actual, r.ratio, r.factor) for r in ratios] == [
        ("aws-cpu", 25, D("250.00"), D("300.00"), D("1.2000"), D("1.2000")),
        ("gpu-aws", 5, D("50.00"), D("25.00"), D("0.5000"), D(1)),  # below min_jobs
    ]
    # Outside the learning window nothing is learned.
    later = clock() + timedelta(days=settings.calibration.window_days + 1)
    assert cost_ratios(db, settings.calibration, now=later) == []
    assert cost_ratios(db, settings.calibration, now=clock(), partition="gpu-aws")[0].jobs == 5


def test_factor_is_bounded() -> None:
    cal = CalibrationSettings(min_jobs=3, lower=D("0.8"), upper=D("1.5"))
    assert bounded_factor(D("3.0"), 10, cal) == D("1.5")
    assert bounded_factor(D("0.1"), 10, cal) == D("0.8")
    assert bounded_factor(D("1.1"), 2, cal) == 1
    assert bounded_factor(None, 10, cal) == 1


def test_calibrator_is_off_by_default_and_cached_when_on(
    db: Database, settings: Settings, learned: Ledger, clock: Clock, ctx: Context
) -> None:
    assert Calibrator(db, settings.calibration, clock=clock).factor("lab", "aws-cpu") == 1
    on = CalibrationSettings(enabled=True, refresh_seconds=3600)
    calibrator = Calibrator(db, on, clock=clock)
    assert calibrator.factor("lab", "aws-cpu") == D("1.2")
    assert calibrator.factor("lab", "gpu-aws") == 1
    assert calibrator.factor("other", None) == 1
    run_jobs(learned, ctx, "lab", "aws-cpu", 25, "10.00", "20.00")
    assert calibrator.factor("lab", "aws-cpu") == D("1.2")  # cached
    assert Calibrator(db, on, clock=clock).factor("lab", "aws-cpu") == D("1.6")


@pytest.fixture
def calibrated_daemon(db: Database, settings: Settings, clock: Clock) -> Iterator[tuple[str, str]]:
    from daemon.app import create_app

    on = settings.model_copy(update={"calibration": CalibrationSettings(enabled=True)})
    app = create_app(on, db=db, clock=clock)
    secret = Tokens(db, clock=clock).create("cal-plugin", "plugin", actor="tests").secret
    url, stop = serve_in_thread(app)
    yield url, secret
    stop()


def test_budget_check_applies_the_learned_factor_and_keeps_the_model_estimate(
    db: Database, learned: Ledger, calibrated_daemon: tuple[str, str]
) -> None:
    url, secret = calibrated_daemon
    job = {"account": "lab", "partition": "aws-cpu", "cpus": 4, "wall_time": "10:00:00"}
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {secret}"}) as client:
        reply = client.post("/api/v1/budget/check", json=job)
        answer = reply.json()
        # 4 CPUs x 10 h x $0.05 = $2.00 by the model; x 1.2 learned = $2.40; x 1.2 buffer.
        assert answer["estimated_cost"] == D("2.40")
        assert answer["hold_amount"] == D("2.88")
        assert answer["details"]["calibration"] == D("1.2000")
        # JSON numbers, written digit for digit from the Decimals.
        assert '"estimated_cost":2.40' in reply.text
        assert '"calibration":1.2000' in reply.text
        hold = learned.get_hold(answer["transaction_id"])
        assert (hold.estimate, hold.calibration, hold.amount) == (D(2), D("1.2"), D("2.88"))
        other = client.post("/api/v1/budget/check", json={**job, "partition": "gpu-aws"}).json()
        assert other["details"]["calibration"] == 1  # too few jobs on gpu-aws


def test_calibration_is_validated(learned: Ledger, ctx: Context) -> None:
    from asbb_core.values.errors import ValidationError

    with pytest.raises(ValidationError) as err:
        learned.create_hold("lab", "1", ctx=ctx, calibration="0")
    assert err.value.field == "calibration"
