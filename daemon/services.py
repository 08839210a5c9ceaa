"""What the daemon's routes use, built once per app from settings (tests inject their own)."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from asbb_core.context import Clock
from asbb_core.database import Database
from asbb_core.ledger import Ledger
from asbb_core.settings import Settings
from asbb_core.tokens import Tokens
from daemon.auth import RateLimiter, TokenCache
from daemon.metrics import Metrics


@dataclass
class Services:
    settings: Settings
    db: Database
    ledger: Ledger
    tokens: TokenCache
    limiter: RateLimiter
    metrics: Metrics
    clock: Clock

    @classmethod
    def build(cls, settings: Settings, db: Database, clock: Clock) -> Services:
        return cls(
            settings=settings,
            db=db,
            ledger=Ledger(db, settings, clock=clock),
            tokens=TokenCache(Tokens(db, clock=clock), ttl=settings.daemon.token_cache_seconds),
            limiter=RateLimiter(),
            metrics=Metrics(db),
            clock=clock,
        )


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services
