"""The errors asbb_core raises. Each carries a stable code, a readable message, and (where an
input was at fault) the field it names, so every front end can report it the same way."""

from __future__ import annotations

from typing import Any


class AsbbError(Exception):
    """Base class. ``code`` is stable for scripts; ``message`` is for people."""

    code = "error"
    http_status = 400

    def __init__(
        self, message: str, *, field: str | None = None, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details or {}

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "field": self.field,
            "details": self.details,
        }


class ValidationError(AsbbError):
    """Bad input: the field is named and nothing was changed."""

    code = "validation_error"
    http_status = 422


class UnknownPartitionError(ValidationError):
    """A job on a partition asbb has no pricing for: refused, never waved through (a typo or
    a new partition must not run AWS nodes for free)."""

    code = "unknown_partition"


class NotFoundError(AsbbError):
    code = "not_found"
    http_status = 404


class ConflictError(AsbbError):
    code = "conflict"
    http_status = 409


class InsufficientFundsError(ConflictError):
    """A hold (or debit, or transfer) would exceed what is available."""

    code = "insufficient_funds"


class AccountInactiveError(ConflictError):
    code = "account_inactive"


class HoldResolvedError(ConflictError):
    """The hold was already posted, voided or expired: it resolves exactly once."""

    code = "hold_resolved"


class AlreadyChargedError(ConflictError):
    """The job (or the array task) was charged already: a job is charged once, by whatever
    path its cost arrives; a different figure for it is a correction."""

    code = "already_charged"


class IdempotencyConflictError(ConflictError):
    """The idempotency key was used before for a different request."""

    code = "idempotency_conflict"


class SettingsError(AsbbError):
    code = "invalid_settings"


class DatabaseError(AsbbError):
    code = "database_error"
    http_status = 503
