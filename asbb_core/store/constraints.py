"""The rules the database itself enforces on the ledger's tables, on every backend.

CHECK constraints say what a row may hold (no negative money, a resolved hold holds nothing,
a journal row's amount is the size of the deltas it carries); ``FINAL_HOLDS`` refuses any
change to a hold once it is posted, voided or expired -- resolved is final, as the journal is
append-only. Money columns are compared only with one another and with zero, so the same
expressions hold on PostgreSQL's and MySQL's NUMERIC and on SQLite's scaled integers. An
identifier that is a reserved word in MySQL (``key``) is quoted the standard way, which
MySQL reads too: asbb's connections run with ``ANSI_QUOTES`` (``asbb_core.store.mysql``).

The models (``asbb_core.store.models``) declare these constraints and migration 0008 creates
them; ``asbb_core.ledger.verify`` proves the invariants that no single row can show.
"""

from __future__ import annotations

from sqlalchemy import CheckConstraint

_ACCOUNT_STATES = "('active', 'suspended', 'closed')"
_HOLD_STATES = "('open', 'posted', 'voided', 'expired')"
_KINDS = (
    "('deposit', 'allocation', 'hold', 'charge', 'release', 'adjustment', 'transfer', "
    "'expiry', 'late_charge', 'correction')"
)

CHECKS: dict[str, dict[str, str]] = {
    "accounts": {
        "ck_accounts_status": f"status IN {_ACCOUNT_STATES}",
        "ck_accounts_money": "limit_amount >= 0 AND used_amount >= 0 AND held_amount >= 0",
    },
    "partition_limits": {
        "ck_partition_limits_money": (
            "limit_amount >= 0 AND used_amount >= 0 AND held_amount >= 0"
        ),
    },
    "holds": {
        "ck_holds_state": f"state IN {_HOLD_STATES}",
        "ck_holds_money": (
            "amount >= 0 AND remaining >= 0 AND released >= 0 AND charged >= 0 "
            "AND estimate >= 0 AND remaining + released <= amount"
        ),
        "ck_holds_tasks": "task_count >= 1 AND tasks_posted >= 0 AND tasks_posted <= task_count",
        "ck_holds_resolution": (
            "(state = 'open' AND resolved_at IS NULL) "
            "OR (state <> 'open' AND resolved_at IS NOT NULL AND remaining = 0)"
        ),
    },
    "journal": {
        "ck_journal_kind": f"kind IN {_KINDS}",
        "ck_journal_amount": "amount >= 0",
        # What each kind of row may move, and that its amount is the size of that movement.
        "ck_journal_deltas": (
            "(kind IN ('deposit', 'allocation') AND amount = limit_delta "
            "AND used_delta = 0 AND held_delta = 0) "
            "OR (kind = 'expiry' AND amount = -limit_delta AND used_delta = 0 AND held_delta = 0) "
            "OR (kind = 'transfer' AND amount = abs(limit_delta) "
            "AND used_delta = 0 AND held_delta = 0) "
            "OR (kind = 'hold' AND amount = held_delta AND limit_delta = 0 AND used_delta = 0) "
            "OR (kind = 'release' AND amount = -held_delta AND limit_delta = 0 "
            "AND used_delta = 0) "
            "OR (kind = 'charge' AND amount = used_delta AND limit_delta = 0 "
            "AND (held_delta = 0 OR held_delta = -used_delta)) "
            "OR (kind = 'late_charge' AND amount = used_delta AND limit_delta = 0 "
            "AND held_delta = 0) "
            "OR (kind = 'correction' AND amount = abs(used_delta) AND limit_delta = 0 "
            "AND held_delta = 0) "
            "OR (kind = 'adjustment' AND held_delta = 0 AND ("
            "(used_delta = 0 AND amount = abs(limit_delta)) "
            "OR (limit_delta = 0 AND amount = abs(used_delta))))"
        ),
        "ck_journal_carry": ("carry_delta = 0 OR kind IN ('charge', 'late_charge', 'correction')"),
    },
    "idempotency_keys": {
        "ck_idempotency_keys_namespace": (
            """"key" LIKE 'client:%' OR "key" LIKE 'asbb:%' OR "key" LIKE 'op:%'"""
        ),
    },
    "allocation_credits": {
        "ck_allocation_credits_money": "amount >= 0 AND expired_amount >= 0",
    },
    "grant_draws": {
        "ck_grant_draws_amount": "amount > 0",
    },
    "grant_periods": {
        "ck_grant_periods_budget": "budget >= 0",
    },
}

FINAL_HOLDS_MESSAGE = "a resolved hold is final"


def checks(table: str) -> tuple[CheckConstraint, ...]:
    """The CHECK constraints of ``table``, for its model's ``__table_args__``."""
    return tuple(CheckConstraint(sql, name=name) for name, sql in CHECKS[table].items())
