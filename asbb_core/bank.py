"""The bank: the one place asbb's services are wired together.

The command line, the console and the daemon each get a ``Bank`` (``Bank.from_settings`` or,
where a test or a caller already has a database, ``Bank.over``) and take every service from it,
so each runs on the same database, settings and clock -- and each write, whichever front end
makes it, runs through the same unit of work (``Database.run``).

>>> bank = Bank.from_settings(settings)                                  # doctest: +SKIP
>>> bank.ledger.deposit("ml-proj", "100", ctx=ctx)                       # doctest: +SKIP
>>> bank.approvals.approve(7, approver="ops:bob")                        # doctest: +SKIP
>>> bank.close()                                                         # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from asbb_core.access.tokens import Tokens
from asbb_core.alerts.conditions import AlertService
from asbb_core.funding.allocations import Allocations
from asbb_core.funding.approvals import Approvals
from asbb_core.funding.desk import Desk
from asbb_core.funding.grants import Grants
from asbb_core.integrations.cost_reports import CostReports, SlurmLookup
from asbb_core.ledger import Ledger
from asbb_core.ledger.calibration import Calibrator
from asbb_core.settings import Settings
from asbb_core.store.database import Database
from asbb_core.values.context import Clock, utcnow


@dataclass
class Bank:
    settings: Settings
    db: Database
    clock: Clock = utcnow
    cost_lookup: SlurmLookup | None = field(default=None)
    """How a reported cost finds its job's hold in Slurm (None: only by what asbb knows)."""

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock = utcnow) -> Bank:
        """A bank over the configured database (the caller checks its schema first)."""
        db = Database(
            settings.database.url,
            pool_size=settings.database.pool_size,
            echo=settings.database.echo,
            clock=clock,
        )
        return cls(settings, db, clock)

    @classmethod
    def over(
        cls,
        db: Database,
        settings: Settings,
        clock: Clock = utcnow,
        *,
        cost_lookup: SlurmLookup | None = None,
    ) -> Bank:
        """A bank over a database the caller opened (and disposes of)."""
        return cls(settings, db, clock, cost_lookup)

    @classmethod
    def around(cls, ledger: Ledger) -> Bank:
        """A bank whose services stand on an existing ledger (its database, settings, clock)."""
        bank = cls(ledger.settings, ledger.db, ledger.clock)
        bank.__dict__["ledger"] = ledger  # the cached_property's slot: this very ledger
        return bank

    @cached_property
    def ledger(self) -> Ledger:
        return Ledger(self.db, self.settings, clock=self.clock)

    @cached_property
    def approvals(self) -> Approvals:
        return Approvals(self.db, self.ledger, self.settings, self.clock)

    @cached_property
    def allocations(self) -> Allocations:
        return Allocations(self.ledger)

    @cached_property
    def desk(self) -> Desk:
        """Where a person moves money or limits: under maker-checker when it is required."""
        return Desk(self.ledger, self.approvals, self.allocations)

    @cached_property
    def grants(self) -> Grants:
        return Grants(self.ledger)

    @cached_property
    def alerts(self) -> AlertService:
        return AlertService(self.db, self.settings, self.clock)

    @cached_property
    def cost_reports(self) -> CostReports:
        return CostReports(self.ledger, lookup=self.cost_lookup)

    @cached_property
    def tokens(self) -> Tokens:
        return Tokens(self.db, clock=self.clock)

    @cached_property
    def calibrator(self) -> Calibrator:
        return Calibrator(self.db, self.settings.calibration, clock=self.clock)

    def close(self) -> None:
        self.db.dispose()
