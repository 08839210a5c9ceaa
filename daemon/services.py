"""What the daemon's routes use, built once per app from settings (tests inject their own)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass

from fastapi import Request

from asbb_core.access.rate_limits import SharedRateLimiter
from asbb_core.bank import Bank
from asbb_core.integrations.advisor import AdvisorClient
from asbb_core.integrations.cost_reports import CostReports, slurm_lookup
from asbb_core.integrations.slurm import Slurm
from asbb_core.ledger import Ledger
from asbb_core.ledger.calibration import Calibrator
from asbb_core.ledger.pricing import JobShape, Price, price_job
from asbb_core.settings import Settings
from asbb_core.store.database import Database
from asbb_core.values.context import Clock
from daemon.auth import TokenCache
from daemon.metrics import Metrics


@dataclass
class Services:
    bank: Bank
    """Every service of asbb_core, wired in one place; the fields below are the daemon's own,
    the properties the bank's, named for the routes' convenience."""
    tokens: TokenCache
    limiter: SharedRateLimiter
    """Per token, shared by every process and replica on the database."""
    metrics: Metrics
    advisor: AdvisorClient | None = None
    """Asked for estimates when settings name an advisor; else the local model prices."""

    @property
    def settings(self) -> Settings:
        return self.bank.settings

    @property
    def db(self) -> Database:
        return self.bank.db

    @property
    def ledger(self) -> Ledger:
        return self.bank.ledger

    @property
    def clock(self) -> Clock:
        return self.bank.clock

    @property
    def calibrator(self) -> Calibrator:
        return self.bank.calibrator

    @property
    def reports(self) -> CostReports:
        """Reported job costs (aws-slurm-burst, cost updates), linked to holds via Slurm if
        it is here."""
        return self.bank.cost_reports

    @classmethod
    def build(cls, settings: Settings, db: Database, clock: Clock) -> Services:
        slurm_here = shutil.which("squeue") is not None or shutil.which("sacct") is not None
        bank = Bank.over(
            db, settings, clock, cost_lookup=slurm_lookup(Slurm(timeout=10)) if slurm_here else None
        )
        return cls(
            bank=bank,
            tokens=TokenCache(bank.tokens, ttl=settings.daemon.token_cache_seconds),
            limiter=SharedRateLimiter(db),
            metrics=Metrics(db),
            advisor=AdvisorClient.from_settings(settings) if settings.advisor.url else None,
        )

    def price(self, job: JobShape, account: str) -> Price | None:
        """The job's estimate: the advisor's when configured (it falls back to the local
        model by itself), else the local model's. None: the partition is not budgeted."""
        if self.advisor is not None:
            return self.advisor.estimate(job, account=account)
        return price_job(self.settings, job)

    def close(self) -> None:
        if self.advisor is not None:
            self.advisor.close()


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services
