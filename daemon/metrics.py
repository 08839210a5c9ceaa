"""Prometheus metrics. Each app gets its own registry (tests run several apps in one process).

Money gauges are read from the accounts table at scrape time, so they are never stale and
cost nothing on the hot path. (Prometheus samples are floats by definition; the conversion
happens here, for display only -- the ledger itself never sees a float.)
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func
from sqlmodel import col, select

from asbb_core.store.database import Database
from asbb_core.store.models import Account

LATENCY_BUCKETS = (0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0)


class MoneyTotalsCollector(Collector):
    """The bank's totals (limit, charged, held over every account): safe for anyone who can
    reach ``/metrics``, since no account's figures can be read from them."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self) -> Iterator[GaugeMetricFamily]:
        limit, used, held, count = self.db.read(
            lambda s: s.exec(
                select(
                    func.coalesce(func.sum(col(Account.limit_amount)), 0),
                    func.coalesce(func.sum(col(Account.used_amount)), 0),
                    func.coalesce(func.sum(col(Account.held_amount)), 0),
                    func.count(),
                )
            ).one()
        )
        for name, help_text, value in (
            ("asbb_limit_dollars", "Budget limits of all accounts together", limit),
            ("asbb_charged_dollars", "Money charged to all accounts together", used),
            ("asbb_held_dollars", "Money held for running jobs, all accounts", held),
            ("asbb_accounts", "Accounts in the bank", count),
        ):
            yield GaugeMetricFamily(name, help_text, value=float(value))


class AccountMoneyCollector(Collector):
    """Per-account money series: each account's limit, charged and held. They name accounts
    and what they spend, so ``/metrics`` shows them only to a reader or admin token (a
    scoped reader sees its own accounts), or to anyone when
    ``daemon.public_account_metrics`` is set."""

    def __init__(self, db: Database, visible: frozenset[str] | None = None) -> None:
        self.db = db
        self.visible = visible

    def collect(self) -> Iterator[GaugeMetricFamily]:
        query = select(
            col(Account.name),
            col(Account.limit_amount),
            col(Account.used_amount),
            col(Account.held_amount),
        ).order_by(col(Account.name))
        if self.visible is not None:
            query = query.where(col(Account.name).in_(sorted(self.visible)))
        rows = self.db.read(lambda s: list(s.exec(query)))
        families = {
            "limit": GaugeMetricFamily(
                "asbb_account_limit_dollars", "Budget limit of the account", labels=["account"]
            ),
            "used": GaugeMetricFamily(
                "asbb_account_charged_dollars", "Money charged to the account", labels=["account"]
            ),
            "held": GaugeMetricFamily(
                "asbb_account_held_dollars", "Money held for running jobs", labels=["account"]
            ),
        }
        for name, limit, used, held in rows:
            families["limit"].add_metric([name], float(limit))
            families["used"].add_metric([name], float(used))
            families["held"].add_metric([name], float(held))
        yield from families.values()


class Metrics:
    def __init__(self, db: Database) -> None:
        self.registry = CollectorRegistry()
        self.check_latency = Histogram(
            "asbb_check_seconds",
            "Time to price a job and create its hold (budget check)",
            ["outcome"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.holds = Counter(
            "asbb_holds",
            "Budget checks by outcome (accepted, refused, unbudgeted, replayed)",
            ["outcome"],
            registry=self.registry,
        )
        self.reconciles = Counter(
            "asbb_reconciles",
            "Reconciles by outcome (posted, late, replayed)",
            ["outcome"],
            registry=self.registry,
        )
        self.reconcile_lag = Histogram(
            "asbb_reconcile_lag_seconds",
            "Time from a job's end to its reconcile",
            buckets=(1, 5, 15, 60, 300, 900, 3600, 21600, 86400),
            registry=self.registry,
        )
        self.cost_reports = Counter(
            "asbb_cost_reports",
            "Reported job costs (aws-slurm-burst files and calls, cost updates) by origin and "
            "outcome (reconciled, corrected, charged, unchanged, rejected)",
            ["origin", "outcome"],
            registry=self.registry,
        )
        self.errors = Counter(
            "asbb_errors", "Error responses by code", ["code"], registry=self.registry
        )
        self.requests = Counter(
            "asbb_http_requests",
            "HTTP requests by method, route and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.registry.register(MoneyTotalsCollector(db))
        self.db = db

    def account_series(self, visible: frozenset[str] | None) -> bytes:
        """The per-account money series, for the accounts ``visible`` (None: all)."""
        registry = CollectorRegistry()
        registry.register(AccountMoneyCollector(self.db, visible))
        return generate_latest(registry)
