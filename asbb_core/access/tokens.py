"""API tokens: issued once (the secret is shown a single time), stored as a SHA-256 hash.

Secrets are 256 random bits, so a plain SHA-256 is the right hash here: nothing to brute-force,
and a lookup by hash stays an index probe on the daemon's hot path.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from sqlmodel import Session, col, select

from asbb_core.store import audit
from asbb_core.store.database import Database
from asbb_core.store.models import ApiToken, Role
from asbb_core.values.context import Clock, Context, Source, new_correlation_id, utcnow
from asbb_core.values.errors import ConflictError, NotFoundError, ValidationError
from asbb_core.values.text import normalise_account_name

SECRET_PREFIX = "asbb_"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str


class Tokens:
    def __init__(self, db: Database, *, clock: Clock = utcnow) -> None:
        self.db = db
        self.clock = clock

    def create(
        self,
        name: str,
        role: Role | str,
        *,
        actor: str,
        accounts: list[str] | None = None,
        source: Source = Source.CLI,
    ) -> IssuedToken:
        """Issue a token. The returned secret is never stored and cannot be shown again.
        The audit trail records who issued it, its role and scope (never the secret)."""
        if not isinstance(name, str) or not _NAME.match(name):
            raise ValidationError(
                f"name: {name!r} must be 1-64 letters, digits, '_', '.' or '-'", field="name"
            )
        try:
            kind = Role(role)
        except ValueError:
            raise ValidationError(
                f"role: {role!r} is not one of plugin, admin, reader", field="role"
            ) from None
        scope = sorted({normalise_account_name(a, field="accounts") for a in accounts or []})
        if scope and kind is not Role.READER:
            raise ValidationError(
                "accounts: only reader tokens are limited to accounts", field="accounts"
            )
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        token = ApiToken(
            name=name,
            role=kind,
            accounts=scope,
            secret_hash=hash_secret(secret),
            prefix=secret[: len(SECRET_PREFIX) + 6],
            created_by=actor,
            created_at=self.clock(),
        )

        def use_case(session: Session) -> ApiToken:
            if session.exec(select(ApiToken.id).where(ApiToken.name == name)).first():
                raise ConflictError(f"a token named {name!r} already exists", field="name")
            session.add(token)
            session.flush()
            audit.record(
                session,
                Context(actor, source, correlation_id=new_correlation_id()),
                "token.create",
                f"token:{name}",
                at=token.created_at,
                after={"role": kind, "accounts": scope, "prefix": token.prefix},
            )
            return token

        return IssuedToken(token=self.db.run(use_case), secret=secret)

    def list(self, *, include_revoked: bool = False) -> list[ApiToken]:
        def query(session: Session) -> list[ApiToken]:
            stmt = select(ApiToken).order_by(col(ApiToken.name))
            if not include_revoked:
                stmt = stmt.where(col(ApiToken.revoked_at).is_(None))
            return list(session.exec(stmt))

        return self.db.read(query)

    def revoke(self, name: str, *, actor: str, source: Source = Source.CLI) -> ApiToken:
        """Revoke a token (again: nothing changes); the audit trail records who did."""

        def use_case(session: Session) -> ApiToken:
            token = session.exec(select(ApiToken).where(ApiToken.name == name)).first()
            if token is None:
                raise NotFoundError(f"no token named {name!r}", field="name")
            if token.revoked_at is None:
                token.revoked_at = self.clock()
                session.flush()
                audit.record(
                    session,
                    Context(actor, source, correlation_id=new_correlation_id()),
                    "token.revoke",
                    f"token:{name}",
                    at=token.revoked_at,
                    before={"revoked_at": None},
                    after={"revoked_at": token.revoked_at},
                )
            return token

        return self.db.run(use_case)

    def authenticate(self, secret: str) -> ApiToken | None:
        """The live token with this secret, or None."""
        if not secret.startswith(SECRET_PREFIX):
            return None
        digest = hash_secret(secret)
        return self.db.read(
            lambda s: s.exec(
                select(ApiToken).where(
                    ApiToken.secret_hash == digest, col(ApiToken.revoked_at).is_(None)
                )
            ).first()
        )
