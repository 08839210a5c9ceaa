"""Alembic migrations (asbb_core.store.migrate, migrations/), on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.util import CommandError
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

from asbb_core.store import migrate
from asbb_core.store.database import Database
from asbb_core.store.models import Account, JournalEntry

# Every table the models declare must come from the migrations, and nothing else.
TABLES = set(SQLModel.metadata.tables)
# The revisions, oldest first: numbered files that must form one unbroken chain.
REVISIONS = sorted(p.name[:4] for p in migrate.migrations_dir().glob("versions/0*.py"))
HEAD = REVISIONS[-1]
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)

accounts = Account.__table__  # type: ignore[attr-defined]
journal = JournalEntry.__table__  # type: ignore[attr-defined]


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    """The (empty) database at ``database_url``, for reading and writing with SQLAlchemy core."""
    database = Database(database_url, pool_size=2)
    yield database
    database.dispose()


def table_names(database: Database) -> set[str]:
    with database.engine.connect() as conn:
        return set(sa.inspect(conn).get_table_names()) - {"alembic_version"}


def new_id(result: sa.CursorResult[Any]) -> Any:
    key = result.inserted_primary_key
    assert key is not None
    return key[0]


def _columns_of(table: sa.Table, names: set[str]) -> sa.Table:
    """``table`` with only the columns ``names`` (and its id): the shape of an older schema."""
    return sa.Table(
        table.name,
        sa.MetaData(),
        *[c._copy() for c in table.c if c.name in names or c.name == "id"],
    )


# Columns added after 0001, with the value an upgrade gives existing rows.
ADDED_SINCE_0001 = {
    "accounts": {"carry_amount": Decimal("0.0000"), "display_name": ""},
    "journal": {"carry_delta": Decimal("0.0000")},
}


def insert_account_and_entry(
    database: Database, *, schema_0001: bool = False
) -> tuple[dict[str, Any], dict[str, Any]]:
    account = {
        "name": "physics",
        "description": "Physics department",
        "status": "active",
        "start_date": date(2026, 1, 1),
        "end_date": None,
        "limit_amount": Decimal("1000.0000"),
        "used_amount": Decimal("12.3456"),
        "held_amount": Decimal("0.0001"),
        "created_at": NOW,
        "updated_at": NOW,
    }
    if not schema_0001:
        account.update(ADDED_SINCE_0001["accounts"])
    account_table = _columns_of(accounts, set(account))
    with database.engine.begin() as conn:
        account_id = new_id(conn.execute(sa.insert(account_table).values(account)))
        entry = {
            "account_id": account_id,
            "kind": "deposit",
            "amount": Decimal("1000.0000"),
            "limit_delta": Decimal("1000.0000"),
            "used_delta": Decimal("0.0000"),
            "held_delta": Decimal("0.0000"),
            "partition": None,
            "hold_id": None,
            "job_id": None,
            "user_name": "alice",
            "counterparty_account_id": None,
            "overrun": False,
            "actor": "test-admin",
            "source": "cli",
            "correlation_id": "c-1",
            "idempotency_key": None,
            "memo": "initial deposit",
            "job_metadata": {"grant": "NSF-1"},
            "created_at": NOW,
        }
        if not schema_0001:
            entry.update(ADDED_SINCE_0001["journal"])
        entry_id = new_id(conn.execute(sa.insert(_columns_of(journal, set(entry))).values(entry)))
    return {"id": account_id, **account}, {"id": entry_id, **entry}


def fetch(database: Database, table: sa.Table, row_id: Any) -> dict[str, Any]:
    with database.engine.connect() as conn:
        return dict(conn.execute(sa.select(table).where(table.c.id == row_id)).mappings().one())


def test_upgrade_from_empty_to_head(database_url: str, database: Database) -> None:
    assert migrate.head_revision() == REVISIONS[-1]
    assert migrate.current_revision(database_url) is None
    before = migrate.status(database_url)
    assert not before.up_to_date
    assert [revision for revision, _ in before.pending] == REVISIONS
    assert all(doc for _, doc in before.pending)

    applied: list[str] = []
    migrate.upgrade(database_url, on_step=applied.append)

    assert applied == REVISIONS
    assert migrate.current_revision(database_url) == migrate.head_revision()
    assert table_names(database) == TABLES
    after = migrate.status(database_url)
    assert after.up_to_date
    assert after.current == after.head == HEAD
    assert after.pending == []


def test_downgrade_to_base_and_upgrade_again(database_url: str, database: Database) -> None:
    migrate.upgrade(database_url)
    undone: list[str] = []
    migrate.downgrade(database_url, "base", on_step=undone.append)

    assert undone == list(reversed(REVISIONS))
    assert migrate.current_revision(database_url) is None
    assert table_names(database) == set()

    migrate.upgrade(database_url)
    assert migrate.current_revision(database_url) == migrate.head_revision()
    assert table_names(database) == TABLES
    insert_account_and_entry(database)  # the schema works, triggers and all


def test_step_by_step(database_url: str) -> None:
    migrate.upgrade(database_url, "0001")
    assert migrate.status(database_url).pending[0][0] == REVISIONS[1]
    migrate.upgrade(database_url, "+1")
    assert migrate.current_revision(database_url) == REVISIONS[1]
    migrate.downgrade(database_url, "-1")
    assert migrate.current_revision(database_url) == "0001"


def test_status_refuses_a_revision_this_code_does_not_know(
    database_url: str, database: Database
) -> None:
    migrate.upgrade(database_url)
    with database.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    assert migrate.current_revision(database_url) == "9999"
    with pytest.raises(CommandError, match="9999"):
        migrate.status(database_url)


def test_rows_survive_an_upgrade(database_url: str, database: Database) -> None:
    migrate.upgrade(database_url, "0001")
    account, entry = insert_account_and_entry(database, schema_0001=True)

    migrate.upgrade(database_url)

    assert migrate.current_revision(database_url) == HEAD
    assert fetch(database, accounts, account["id"]) == {**account, **ADDED_SINCE_0001["accounts"]}
    assert fetch(database, journal, entry["id"]) == {**entry, **ADDED_SINCE_0001["journal"]}


def test_migrations_match_the_models(database_url: str, database: Database) -> None:
    migrate.upgrade(database_url)
    with database.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        differences = compare_metadata(context, SQLModel.metadata)
    # No known artefacts to allow for: Money compares as BIGINT on SQLite and NUMERIC(20, 4)
    # on PostgreSQL on both sides because the revision uses the same Money() type.
    assert differences == []


def test_journal_is_append_only(database_url: str, database: Database) -> None:
    migrate.upgrade(database_url)
    _, entry = insert_account_and_entry(database)

    statements = [
        sa.update(journal).where(journal.c.id == entry["id"]).values(memo="rewritten"),
        sa.update(journal).values(amount=Decimal(0)),
        sa.delete(journal).where(journal.c.id == entry["id"]),
        sa.delete(journal),
    ]
    if database.is_postgresql:
        statements.append(sa.text("TRUNCATE journal CASCADE"))
    for statement in statements:
        with (
            pytest.raises(sa.exc.IntegrityError, match="journal is append-only"),
            database.engine.begin() as conn,
        ):
            conn.execute(statement)

    assert fetch(database, journal, entry["id"]) == entry
    # Appending still works.
    with database.engine.begin() as conn:
        second = {key: value for key, value in entry.items() if key != "id"}
        conn.execute(sa.insert(journal).values({**second, "correlation_id": "c-2"}))
        assert conn.execute(sa.select(sa.func.count()).select_from(journal)).scalar_one() == 2


def test_a_failing_upgrade_changes_nothing(database_url: str, database: Database) -> None:
    """All pending revisions run in one transaction: a failure rolls every one of them back."""

    def fail_after_first(revision: str) -> None:
        raise RuntimeError(f"stop after {revision}")

    with pytest.raises(RuntimeError, match="stop after 0001"):
        migrate.upgrade(database_url, on_step=fail_after_first)

    if database.is_mysql:
        # MySQL commits DDL as it runs it: each revision is committed with its stamp before
        # anyone hears of it, so the failure leaves the database at the one that completed.
        assert migrate.current_revision(database_url) == "0001"
        assert table_names(database) == {"accounts", "partition_limits", "holds", "journal"} | {
            "idempotency_keys"
        }
    else:
        assert migrate.current_revision(database_url) is None
        assert table_names(database) == set()
    migrate.upgrade(database_url)
    assert migrate.current_revision(database_url) == HEAD


def test_sqlite_upgrade_holds_the_write_lock(tmp_path: Any) -> None:
    """Our engine's BEGIN IMMEDIATE is the migration's transaction: other writers wait."""
    path = tmp_path / "asbb.sqlite3"
    url = f"sqlite:///{path}"
    attempts: list[str] = []

    def try_to_write(revision: str) -> None:
        other = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            with pytest.raises(sqlite3.OperationalError, match="database is locked"):
                other.execute("BEGIN IMMEDIATE")
            attempts.append(revision)
        finally:
            other.close()

    migrate.upgrade(url, on_step=try_to_write)

    assert attempts == REVISIONS
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []


def test_upgrade_on_a_connection_given_by_the_caller(database_url: str, database: Database) -> None:
    """env.py uses ``config.attributes["connection"]`` when it is set."""
    config = migrate._config()
    with database.engine.connect() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
        assert MigrationContext.configure(conn).get_current_revision() == HEAD
        if make_url(database_url).get_backend_name() == "sqlite":
            # env.py switched foreign keys off for the migration and back on afterwards.
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
    assert table_names(database) == TABLES


def test_migrations_dir_is_the_source_tree() -> None:
    folder = migrate.migrations_dir()
    assert (folder / "env.py").is_file()
    names = sorted(p.name for p in (folder / "versions").glob("0*.py"))
    assert names[:2] == ["0001_initial.py", "0002_journal_append_only.py"]
    assert migrate.head_revision() == names[-1][:4]


def test_migrate_imports_no_console_or_web_stack() -> None:
    code = (
        "import sys, asbb_core.store.migrate; "
        "bad = {'textual', 'plotext', 'asbb_tui', 'daemon', 'starlette', 'fastapi', 'uvicorn'}; "
        "print(sorted(bad & {m.split('.')[0] for m in sys.modules}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"
