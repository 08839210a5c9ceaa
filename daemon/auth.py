"""Bearer tokens and roles.

plugin  budget check, reconcile, ingest
admin   everything
reader  read-only; a reader token may be limited to some accounts

Calls from localhost may act as the plugin without a token only if settings say so
(``daemon.allow_local_plugin``). Write requests are rate limited per token.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from asbb_core.access.tokens import Tokens, hash_secret
from asbb_core.store.models import ApiToken, Role
from asbb_core.values.context import Source
from daemon.errors import ApiError

LOCALHOST = {"127.0.0.1", "::1"}


@dataclass(frozen=True)
class Principal:
    name: str
    role: Role
    accounts: frozenset[str] = field(default_factory=frozenset)

    @property
    def source(self) -> Source:
        return Source.PLUGIN if self.role is Role.PLUGIN else Source.API

    @property
    def can_see_all(self) -> bool:
        return self.role is not Role.READER or not self.accounts

    def can_see(self, account: str) -> bool:
        return self.can_see_all or account in self.accounts

    def require_account(self, account: str) -> None:
        if not self.can_see(account):
            raise ApiError(403, f"this token may not read account {account!r}", field="account")


class TokenCache:
    """Verified tokens kept for ``ttl`` seconds, so the hot path rarely asks the database."""

    def __init__(self, tokens: Tokens, *, ttl: int) -> None:
        self.tokens = tokens
        self.ttl = ttl
        self._cache: dict[str, tuple[float, ApiToken | None]] = {}
        self._lock = threading.Lock()

    def authenticate(self, secret: str) -> ApiToken | None:
        key = hash_secret(secret)
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        token = self.tokens.authenticate(secret)
        if self.ttl:
            with self._lock:
                if len(self._cache) > 10_000:  # bounded: unknown secrets must not grow it
                    self._cache.clear()
                self._cache[key] = (now + self.ttl, token)
        return token


bearer = HTTPBearer(auto_error=False, description="A token from `asbb token create`")


def principal_of(request: Request, credentials: HTTPAuthorizationCredentials) -> Principal:
    """The token's holder; 401 for a secret that is unknown or revoked."""
    from daemon.services import get_services

    token = get_services(request).tokens.authenticate(credentials.credentials.strip())
    if token is None:
        raise ApiError(401, "the bearer token is not valid (unknown or revoked)")
    return Principal(token.name, Role(token.role), frozenset(token.accounts))


def _principal(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
) -> Principal:
    from daemon.services import get_services

    services = get_services(request)
    if credentials is not None and credentials.credentials.strip():
        return principal_of(request, credentials)
    client = request.client.host if request.client else ""
    if services.settings.daemon.allow_local_plugin and client in LOCALHOST:
        return Principal("plugin@localhost", Role.PLUGIN)
    raise ApiError(
        401,
        "authentication required: send 'Authorization: Bearer <token>'",
        headers={"WWW-Authenticate": "Bearer"},
    )


def requires(*roles: Role, write: bool = False) -> Callable[..., Principal]:
    """A dependency: the caller must hold one of ``roles``; writes are rate limited."""
    allowed = set(roles) | {Role.ADMIN}

    def dependency(request: Request, principal: Principal = Depends(_principal)) -> Principal:
        if principal.role not in allowed:
            raise ApiError(
                403,
                f"a {principal.role} token may not do this; it needs "
                + " or ".join(sorted(str(r) for r in allowed)),
            )
        if write:
            from daemon.services import get_services

            services = get_services(request)
            daemon = services.settings.daemon
            limit = (
                daemon.plugin_rate_per_minute
                if principal.role is Role.PLUGIN
                else daemon.write_rate_per_minute
            )
            wait = services.limiter.allow(principal.name, limit)
            if wait:
                raise ApiError(
                    429,
                    f"too many write requests for token {principal.name!r}; retry in {wait:.1f}s",
                    headers={"Retry-After": str(max(1, round(wait)))},
                )
        return principal

    dependency.asbb_roles = sorted(str(r) for r in allowed)  # type: ignore[attr-defined]
    return dependency


plugin_access = requires(Role.PLUGIN, write=True)
admin_write = requires(Role.ADMIN, write=True)
any_reader = requires(Role.READER)  # plugin tokens only check, reconcile and ingest
admin_read = requires(Role.ADMIN)  # e.g. the audit trail: token names, who did what
