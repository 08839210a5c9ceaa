"""Exact books: the rounding carry, late charges and corrections, CHECK constraints, final
holds, namespaced idempotency keys.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02

* ``accounts.carry_amount`` and ``journal.carry_delta``: the remainder below a cent that each
  account carries from one charge to the next (``asbb_core.values.money.carry_cent``).
* The CHECK constraints of ``asbb_core.store.constraints`` on both backends (SQLite rebuilds
  each table to add them, so the journal's append-only triggers of 0002 are made again after
  its rebuild).
* ``holds_resolved_final``: a trigger that refuses to change (or delete) a hold once it is
  posted, voided or expired (two on SQLite and MySQL, one for UPDATE and one for DELETE).
* Idempotency records written before this revision are moved into the namespaces: keys asbb
  derived (``reconcile:``, ``adjustment:``, ``recover-void:``, ``expire:``) become
  ``asbb:legacy:<key>``, any other (a caller's) ``client:<key>``; their results are stored in
  the unit of work's codec, and their fingerprint is ``legacy`` (the request they answered is
  not known exactly: the same key and operation replay them).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from asbb_core.store.constraints import CHECKS, FINAL_HOLDS_MESSAGE
from asbb_core.store.sqltypes import Money

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = "journal is append-only"

POSTGRESQL_FINAL_HOLDS = [
    f"""
    CREATE FUNCTION holds_resolved_final() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '{FINAL_HOLDS_MESSAGE}' USING ERRCODE = 'restrict_violation';
    END;
    $$
    """,
    """
    CREATE TRIGGER holds_resolved_final
    BEFORE UPDATE OR DELETE ON holds
    FOR EACH ROW WHEN (OLD.state <> 'open') EXECUTE FUNCTION holds_resolved_final()
    """,
]
SQLITE_FINAL_HOLDS = [
    f"""
    CREATE TRIGGER holds_resolved_final_update BEFORE UPDATE ON holds
    WHEN OLD.state <> 'open'
    BEGIN
        SELECT RAISE(ABORT, '{FINAL_HOLDS_MESSAGE}');
    END
    """,
    f"""
    CREATE TRIGGER holds_resolved_final_delete BEFORE DELETE ON holds
    WHEN OLD.state <> 'open'
    BEGIN
        SELECT RAISE(ABORT, '{FINAL_HOLDS_MESSAGE}');
    END
    """,
]
MYSQL_FINAL_HOLDS = [
    f"""
    CREATE TRIGGER holds_resolved_final_{event.lower()} BEFORE {event} ON holds FOR EACH ROW
    BEGIN
        IF OLD.state <> 'open' THEN
            SIGNAL SQLSTATE '23000' SET MESSAGE_TEXT = '{FINAL_HOLDS_MESSAGE}';
        END IF;
    END
    """
    for event in ("UPDATE", "DELETE")
]
SQLITE_APPEND_ONLY = [
    f"""
    CREATE TRIGGER journal_no_update BEFORE UPDATE ON journal
    BEGIN
        SELECT RAISE(ABORT, '{APPEND_ONLY}');
    END
    """,
    f"""
    CREATE TRIGGER journal_no_delete BEFORE DELETE ON journal
    BEGIN
        SELECT RAISE(ABORT, '{APPEND_ONLY}');
    END
    """,
]

_DERIVED = ("reconcile:", "adjustment:", "recover-void:", "expire:")
_RESULT_TYPES = {
    "hold": "asbb_core.ledger.results:HoldResult",
    "post": "asbb_core.ledger.results:PostResult",
    "void": "asbb_core.ledger.results:ReleaseResult",
    "expire": "asbb_core.ledger.results:ReleaseResult",
    "grant_fund": "asbb_core.funding.grants:DrawResult",
}
_MOVEMENT = "asbb_core.ledger.results:MovementResult"
_TIMES = {"expires_at"}
_TEXTS = {"hold_id", "account", "partition", "state", "grant"}


def _legacy_value(key: str, value: Any) -> Any:
    """One field of a result as 0001-0007 stored it, in the codec's form."""
    if not isinstance(value, str) or key in _TEXTS:
        return value
    if key in _TIMES:
        return {"$datetime": value}
    try:
        float(value)
    except ValueError:
        return value
    return {"$decimal": value}


def _legacy_result(operation: str, result: dict[str, Any]) -> dict[str, Any]:
    kind = _RESULT_TYPES.get(operation, _MOVEMENT)
    fields = {k: _legacy_value(k, v) for k, v in result.items() if k != "replayed"}
    return {"value": {"$dataclass": kind, "fields": fields}}


def _namespace_legacy_keys(bind: sa.Connection) -> None:
    table = sa.table(
        "idempotency_keys",
        sa.column("key", sa.String),
        sa.column("operation", sa.String),
        sa.column("fingerprint", sa.String),
        sa.column("result", sa.JSON),
    )
    rows = bind.execute(sa.select(table.c.key, table.c.operation, table.c.result)).all()
    for key, operation, result in rows:
        if key.startswith(("client:", "asbb:", "op:")):
            continue
        data = result if isinstance(result, dict) else json.loads(result)
        new_key = f"asbb:legacy:{key}" if key.startswith(_DERIVED) else f"client:{key}"
        bind.execute(
            table.update()
            .where(table.c.key == key)
            .values(
                key=new_key[:200],
                fingerprint="legacy",
                result=_legacy_result(operation, data),
            )
        )


def _final_holds(dialect: str) -> list[str]:
    if dialect == "sqlite":
        return SQLITE_FINAL_HOLDS
    if dialect == "mysql":
        return MYSQL_FINAL_HOLDS
    return POSTGRESQL_FINAL_HOLDS


def upgrade() -> None:
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    _namespace_legacy_keys(bind)
    new_columns = {
        "accounts": sa.Column("carry_amount", Money(), nullable=False, server_default="0"),
        "journal": sa.Column("carry_delta", Money(), nullable=False, server_default="0"),
    }
    for table, checks in CHECKS.items():
        with op.batch_alter_table(table, recreate="always" if sqlite else "auto") as batch:
            if table in new_columns:
                batch.add_column(new_columns[table])
            for name, sql in checks.items():
                batch.create_check_constraint(name, sql)
    op.create_index("ix_idempotency_keys_created", "idempotency_keys", ["created_at"])
    if sqlite:
        # The rebuilds dropped the journal's triggers with the old tables.
        for statement in SQLITE_APPEND_ONLY:
            op.execute(statement)
    for statement in _final_holds(bind.dialect.name):
        op.execute(statement)


def downgrade() -> None:
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    if sqlite or bind.dialect.name == "mysql":
        op.execute("DROP TRIGGER holds_resolved_final_delete")
        op.execute("DROP TRIGGER holds_resolved_final_update")
    else:
        op.execute("DROP TRIGGER holds_resolved_final ON holds")
        op.execute("DROP FUNCTION holds_resolved_final()")
    op.drop_index("ix_idempotency_keys_created", "idempotency_keys")
    dropped = {"accounts": "carry_amount", "journal": "carry_delta"}
    for table, checks in CHECKS.items():
        with op.batch_alter_table(table, recreate="always" if sqlite else "auto") as batch:
            for name in checks:
                batch.drop_constraint(name, type_="check")
            if table in dropped:
                batch.drop_column(dropped[table])
    if sqlite:
        for statement in SQLITE_APPEND_ONLY:
            op.execute(statement)
