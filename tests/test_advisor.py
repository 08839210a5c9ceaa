"""The advisor client against a real (tiny) HTTP advisor that can be slow or fail on demand."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from asbb_core.access.tokens import Tokens
from asbb_core.integrations.advisor import AdvisorClient, CircuitBreaker
from asbb_core.ledger.pricing import JobShape
from asbb_core.settings import Settings
from tests.conftest import serve_in_thread


class FakeAdvisor:
    """What the advisor does next: answer, be slow, fail, or answer garbage."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.delay = 0.0
        self.cost: Any = "2.50"
        self.requests: list[dict[str, Any]] = []

    async def analyze(self, request: Request) -> JSONResponse:
        self.requests.append(await request.json())
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.mode == "error":
            return JSONResponse({"error": "boom"}, status_code=500)
        if self.mode == "refuse":
            return JSONResponse({"error": "cannot price this"})
        if self.mode == "garbage":
            return JSONResponse({"recommendation": "aws"})
        return JSONResponse(
            {"estimated_cost": self.cost, "recommendation": "aws", "confidence": 0.9}
        )


@pytest.fixture(scope="module")
def advisor():
    fake = FakeAdvisor()
    app = Starlette(routes=[Route("/api/v1/analyze", fake.analyze, methods=["POST"])])
    url, stop = serve_in_thread(app)
    yield fake, url
    stop()


@pytest.fixture
def fake(advisor):
    fake, _ = advisor
    fake.mode, fake.delay, fake.cost = "ok", 0.0, "2.50"
    fake.requests.clear()
    return fake


class Ticks:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def ticks():
    return Ticks()


SETTINGS = Settings(
    database={"url": "sqlite://"},
    partitions={"aws-cpu": {"per_cpu_hour": Decimal("0.05")}, "local": {"budgeted": False}},
    default_partition="aws-cpu",
)


@pytest.fixture
def client(advisor, fake, ticks):
    _, url = advisor
    c = AdvisorClient(
        SETTINGS,
        url,
        timeout=0.3,
        cache_ttl=60,
        failure_threshold=3,
        reset_seconds=30,
        clock=ticks,
    )
    yield c
    c.close()


def job(cpus: int = 16, hours: int = 2, tasks: int = 1) -> JobShape:
    return JobShape(partition="aws-cpu", duration=timedelta(hours=hours), cpus=cpus, tasks=tasks)


def test_the_advisor_prices_the_job(client, fake):
    price = client.estimate(job(), account="ml-proj")
    assert price is not None
    assert (price.source, price.total, price.per_task) == (
        "advisor",
        Decimal("2.5"),
        Decimal("2.5"),
    )
    (sent,) = fake.requests
    assert sent["account"] == "ml-proj"
    assert (sent["partition"], sent["cpus"], sent["nodes"], sent["wall_time"]) == (
        "aws-cpu",
        16,
        1,
        "02:00:00",
    )


def test_an_array_is_priced_per_task(client, fake):
    price = client.estimate(job(tasks=10))
    assert price is not None
    assert (price.source, price.total, price.per_task) == ("advisor", Decimal("25"), Decimal("2.5"))


def test_same_shape_is_asked_once_within_the_ttl(client, fake, ticks):
    first = client.estimate(job())
    again = client.estimate(job(tasks=3))  # same shape per task
    assert first is not None
    assert again is not None
    assert len(fake.requests) == 1
    assert again.total == Decimal("7.5")
    client.estimate(job(cpus=8))  # another shape
    assert len(fake.requests) == 2
    ticks.now += 61  # the entry is stale now
    fake.cost = "3.00"
    price = client.estimate(job())
    assert price is not None
    assert price.total == Decimal("3")
    assert len(fake.requests) == 3
    assert client.stats().cache_hits == 1


def test_a_slow_advisor_falls_back_to_the_local_model_within_the_timeout(client, fake):
    fake.delay = 2.0
    started = time.perf_counter()
    price = client.estimate(job())
    took = time.perf_counter() - started
    assert price is not None
    # the local model: 16 CPUs x $0.05 x 2 h
    assert (price.source, price.total) == ("local", Decimal("1.6"))
    assert took < 1.0, took


@pytest.mark.parametrize("mode", ["error", "refuse", "garbage"])
def test_failures_fall_back_to_the_local_model(client, fake, mode):
    fake.mode = mode
    price = client.estimate(job())
    assert price is not None
    assert (price.source, price.total) == ("local", Decimal("1.6"))


def test_a_negative_or_non_numeric_cost_is_not_trusted(client, fake):
    for cpus, bad in enumerate(("-1", "lots", None, True), start=1):
        fake.cost = bad
        price = client.estimate(job(cpus=cpus))
        assert price is not None
        assert price.source == "local"


def test_the_circuit_opens_after_consecutive_failures_and_closes_after_a_good_trial(
    client, fake, ticks
):
    fake.mode = "error"
    for cpus in (1, 2, 3):
        assert client.estimate(job(cpus=cpus)).source == "local"
    assert len(fake.requests) == 3
    assert client.stats().circuit_open
    # open: no calls at all, answered locally at once
    for cpus in (4, 5, 6):
        assert client.estimate(job(cpus=cpus)).source == "local"
    assert len(fake.requests) == 3
    # after reset_seconds one trial call is let through; it fails: open again
    ticks.now += 31
    assert client.estimate(job(cpus=7)).source == "local"
    assert len(fake.requests) == 4
    assert client.estimate(job(cpus=8)).source == "local"
    assert len(fake.requests) == 4
    # the advisor recovers: the next trial closes the circuit
    fake.mode = "ok"
    ticks.now += 31
    assert client.estimate(job(cpus=9)).source == "advisor"
    assert not client.stats().circuit_open
    assert client.estimate(job(cpus=10)).source == "advisor"
    assert len(fake.requests) == 6


def test_a_success_resets_the_failure_count(client, fake):
    fake.mode = "error"
    client.estimate(job(cpus=1))
    client.estimate(job(cpus=2))
    fake.mode = "ok"
    client.estimate(job(cpus=3))
    fake.mode = "error"
    client.estimate(job(cpus=4))
    client.estimate(job(cpus=5))
    assert not client.stats().circuit_open


def test_an_unreachable_advisor_falls_back(ticks):
    client = AdvisorClient(SETTINGS, "http://127.0.0.1:9", timeout=0.3, clock=ticks)
    try:
        price = client.estimate(job())
        assert price is not None
        assert price.source == "local"
    finally:
        client.close()


def test_unbudgeted_partitions_are_decided_locally(client, fake):
    shape = JobShape(partition="local", duration=timedelta(hours=1))
    assert client.estimate(shape) is None
    assert fake.requests == []


def test_circuit_breaker_lets_one_trial_through():
    now = [0.0]
    breaker = CircuitBreaker(2, 10, clock=lambda: now[0])
    breaker.failure()
    assert breaker.allow()
    breaker.failure()
    assert not breaker.allow()
    now[0] = 11
    assert breaker.allow()
    assert not breaker.allow()  # the trial is under way
    breaker.success()
    assert breaker.allow()


def test_the_daemon_holds_the_advisors_estimate_and_records_its_source(
    advisor, fake, db, settings, clock, ledger, ctx
):
    """With an advisor configured, the budget check holds its estimate (x buffer) and the hold
    says where the estimate came from; when the advisor fails, the local model prices it."""
    from daemon.app import create_app

    _, url = advisor
    ledger.create_account("ml-proj", ctx=ctx, limit="1000")
    configured = settings.model_copy(
        update={"advisor": settings.advisor.model_copy(update={"url": url})}
    )
    token = Tokens(db).create("advised", "plugin", actor="tests").secret
    base, stop = serve_in_thread(create_app(configured, db=db, clock=clock))
    body = {"account": "ml-proj", "partition": "aws-cpu", "cpus": 16, "wall_time": "2:00:00"}
    try:
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as api:
            fake.cost = "2.50"
            advised = api.post("/api/v1/budget/check", json=body).json()
            fake.mode = "error"
            body["cpus"] = 8  # another shape, so the advisor's cache does not answer
            local = api.post("/api/v1/budget/check", json=body).json()
    finally:
        stop()
    assert (advised["estimated_cost"], advised["hold_amount"]) == (Decimal("2.50"), Decimal("3.00"))
    assert advised["details"]["estimate_source"] == "advisor"
    assert ledger.get_hold(advised["transaction_id"]).estimate_source == "advisor"
    # 8 CPUs x $0.05 x 2 h = $0.80, held $0.96
    assert (local["estimated_cost"], local["hold_amount"]) == (Decimal("0.80"), Decimal("0.96"))
    assert ledger.get_hold(local["transaction_id"]).estimate_source == "local"
