"""What the console's screens use: the ledger and the services built on it, in one place.

The App receives this through its constructor, so tests hand it a seeded database and a frozen
clock. Nothing here touches widgets; everything here may be called from a worker thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

from asbb_core.access.identity import os_login
from asbb_core.alerts.conditions import AlertService
from asbb_core.bank import Bank
from asbb_core.funding.allocations import Allocations
from asbb_core.funding.approvals import Approvals
from asbb_core.funding.grants import Grants
from asbb_core.ledger import Ledger
from asbb_core.settings import Settings
from asbb_core.store.database import Database
from asbb_core.values.context import Clock, Context, Source, new_correlation_id


def console_actor() -> str:
    """The person at the console: the real uid's login, as the CLI's (maker-checker holds
    across both)."""
    return os_login()


@dataclass
class ConsoleServices:
    ledger: Ledger
    read_only: bool = False
    actor: str = field(default_factory=console_actor)
    """Who the console acts as (the journal's actor; the maker or checker of approvals)."""
    database_label: str = ""

    @property
    def db(self) -> Database:
        return self.ledger.db

    @property
    def settings(self) -> Settings:
        return self.ledger.settings

    @property
    def clock(self) -> Clock:
        return self.ledger.clock

    def now(self) -> datetime:
        return self.ledger.clock()

    def context(self) -> Context:
        """A fresh context for one write made from the console."""
        return Context(self.actor, Source.CONSOLE, correlation_id=new_correlation_id())

    @cached_property
    def bank(self) -> Bank:
        """Every service, wired once over the console's ledger (its database and clock)."""
        return Bank.around(self.ledger)

    @property
    def approvals(self) -> Approvals:
        return self.bank.approvals

    @property
    def allocations(self) -> Allocations:
        return self.bank.allocations

    @property
    def grants(self) -> Grants:
        return self.bank.grants

    @property
    def alerts(self) -> AlertService:
        return self.bank.alerts
