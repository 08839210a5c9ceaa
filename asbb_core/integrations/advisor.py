"""Estimates from the burst advisor (aws-slurm-burst-advisor), with the local model as fallback.

``POST {url}/api/v1/analyze`` {account, partition, nodes, cpus, gpus, memory, wall_time,
timestamp, metadata} -> {estimated_cost, local_cost?, aws_cost?, recommendation, confidence,
error?} (the seed ecosystem's shapes). The advisor is asked for one task; a job array's
estimate is that times its task count.

It sits on the budget check's hot path, so it must never make it slow or fragile:

* a short timeout (default 300 ms) on every call;
* a TTL cache keyed by the job's shape (partition, resources, time limit), so a burst of
  identical submissions asks once;
* a circuit breaker: after ``failure_threshold`` consecutive failures no call is made for
  ``reset_seconds``; then a single trial call decides whether it closes again;
* on any failure, the local model (``asbb_core.ledger.pricing.price_job``) answers.

The returned ``Price`` says where it came from: ``source`` is ``"advisor"`` or ``"local"``.
Which partitions are budgeted is always decided locally: an unbudgeted partition returns
``None`` without asking the advisor.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from asbb_core.ledger.pricing import JobShape, Price, price_job
from asbb_core.settings import Settings
from asbb_core.values.money import round_internal

log = logging.getLogger("asbb.advisor")
ShapeKey = tuple[str | None, int, int, int, str, int]


class AdvisorError(Exception):
    """The advisor did not give a usable answer."""


@dataclass(frozen=True)
class AdvisorStats:
    calls: int
    failures: int
    cache_hits: int
    fallbacks: int
    circuit_open: bool


def shape_key(job: JobShape) -> ShapeKey:
    """What makes two estimates the same: partition, resources and time limit (one task)."""
    return (
        job.partition,
        job.nodes,
        job.cpus,
        job.gpus,
        str(job.memory_mb.normalize()),
        int(job.duration.total_seconds()),
    )


def _wall_time(seconds: int) -> str:
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    clock = f"{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{days}-{clock}" if days else clock


class CircuitBreaker:
    """Open after ``threshold`` consecutive failures; half-open after ``reset_seconds``."""

    def __init__(
        self, threshold: int, reset_seconds: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.threshold = max(1, threshold)
        self.reset_seconds = reset_seconds
        self.clock = clock
        self.failures = 0
        self.opened_at: float | None = None
        self._trial = False
        self._lock = threading.Lock()

    @property
    def is_open(self) -> bool:
        with self._lock:
            return self.opened_at is not None and (
                self.clock() - self.opened_at < self.reset_seconds or self._trial
            )

    def allow(self) -> bool:
        """May a call be made now? (In half-open state only one trial call is let through.)"""
        with self._lock:
            if self.opened_at is None:
                return True
            if self.clock() - self.opened_at < self.reset_seconds or self._trial:
                return False
            self._trial = True
            return True

    def success(self) -> None:
        with self._lock:
            self.failures = 0
            self.opened_at = None
            self._trial = False

    def failure(self) -> None:
        with self._lock:
            self.failures += 1
            if self._trial or self.failures >= self.threshold:
                if self.opened_at is None or self._trial:
                    log.warning("advisor circuit opened after %d failure(s)", self.failures)
                self.opened_at = self.clock()
                self._trial = False


class AdvisorClient:
    """Prices jobs with the advisor when it answers quickly, else with the local model."""

    def __init__(
        self,
        settings: Settings,
        url: str,
        *,
        token: str | None = None,
        timeout: float = 0.3,
        cache_ttl: float = 60.0,
        cache_size: int = 1024,
        failure_threshold: int = 5,
        reset_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        client: httpx.Client | None = None,
    ) -> None:
        self.settings = settings
        self.endpoint = url.rstrip("/") + "/api/v1/analyze"
        self.cache_ttl = cache_ttl
        self.cache_size = max(1, cache_size)
        self.clock = clock
        self.breaker = CircuitBreaker(failure_threshold, reset_seconds, clock=clock)
        headers = {"User-Agent": "asbb"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = client or httpx.Client(timeout=httpx.Timeout(timeout), headers=headers)
        self._owns_http = client is None
        self._cache: OrderedDict[ShapeKey, tuple[float, Decimal]] = OrderedDict()
        self._lock = threading.Lock()
        self.calls = self.failures = self.cache_hits = self.fallbacks = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> AdvisorClient:
        """The client settings.advisor describes (its url must be set)."""
        advisor = settings.advisor
        return cls(
            settings,
            advisor.url,
            token=advisor.token or None,
            timeout=advisor.timeout_ms / 1000,
            cache_ttl=float(advisor.cache_ttl_seconds),
            failure_threshold=advisor.failure_threshold,
            reset_seconds=float(advisor.reset_seconds),
        )

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def stats(self) -> AdvisorStats:
        return AdvisorStats(
            self.calls, self.failures, self.cache_hits, self.fallbacks, self.breaker.is_open
        )

    # -- the estimate ---------------------------------------------------------------

    def estimate(
        self, job: JobShape, *, account: str | None = None, metadata: dict[str, Any] | None = None
    ) -> Price | None:
        """The job's price: the advisor's if it answers in time, else the local model's.

        ``None``: the partition is not budgeted (decided locally, the advisor is not asked).
        """
        local = price_job(self.settings, job)
        if local is None:
            return None
        key = shape_key(job)
        per_task = self._cached(key)
        if per_task is None:
            if not self.breaker.allow():
                self.fallbacks += 1
                return local
            try:
                per_task = self._ask(job, account=account, metadata=metadata)
            except AdvisorError as exc:
                self.failures += 1
                self.fallbacks += 1
                self.breaker.failure()
                log.info("advisor failed (%s); using the local model", exc)
                return local
            self.breaker.success()
            self._remember(key, per_task)
        per_task = round_internal(per_task)
        return replace(
            local,
            total=round_internal(per_task * job.tasks),
            per_task=per_task,
            breakdown={"advisor": round_internal(per_task * job.tasks)},
            source="advisor",
        )

    def _cached(self, key: ShapeKey) -> Decimal | None:
        with self._lock:
            entry = self._cache.get(key)
            if entry is None:
                return None
            stored_at, value = entry
            if self.clock() - stored_at > self.cache_ttl:
                del self._cache[key]
                return None
            self.cache_hits += 1
            return value

    def _remember(self, key: ShapeKey, value: Decimal) -> None:
        if self.cache_ttl <= 0:
            return
        with self._lock:
            self._cache[key] = (self.clock(), value)
            self._cache.move_to_end(key)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)

    def _ask(
        self, job: JobShape, *, account: str | None, metadata: dict[str, Any] | None
    ) -> Decimal:
        self.calls += 1
        body: dict[str, Any] = {
            "account": account,
            "partition": job.partition or self.settings.default_partition,
            "nodes": job.nodes,
            "cpus": job.cpus,
            "wall_time": _wall_time(int(job.duration.total_seconds())),
            "timestamp": int(time.time()),
        }
        if job.gpus:
            body["gpus"] = job.gpus
        if job.memory_mb:
            body["memory"] = f"{job.memory_mb.normalize():f}M"
        if metadata:
            body["metadata"] = metadata
        try:
            reply = self._http.post(self.endpoint, json=body)
        except httpx.TimeoutException:
            raise AdvisorError("timed out") from None
        except httpx.HTTPError as exc:
            raise AdvisorError(f"{type(exc).__name__}: {exc}") from None
        if reply.status_code != 200:
            raise AdvisorError(f"HTTP {reply.status_code}")
        try:
            data = reply.json()
        except ValueError:
            raise AdvisorError("reply is not JSON") from None
        if not isinstance(data, dict):
            raise AdvisorError("reply is not a JSON object")
        if data.get("error"):
            raise AdvisorError(f"advisor error: {str(data['error'])[:200]}")
        raw = data.get("estimated_cost")
        if isinstance(raw, bool) or not isinstance(raw, int | float | str):
            raise AdvisorError("reply has no estimated_cost")
        try:
            value = Decimal(str(raw))
        except InvalidOperation:
            raise AdvisorError(f"estimated_cost {raw!r} is not a number") from None
        if not value.is_finite() or value < 0:
            raise AdvisorError(f"estimated_cost {raw!r} is not a cost")
        return value


__all__ = ["AdvisorClient", "AdvisorError", "AdvisorStats", "CircuitBreaker", "shape_key"]
