"""Alembic environment for asbb, run programmatically by ``asbb_core.store.migrate`` (no
alembic.ini).

Online mode only. The connection comes from ``config.attributes["connection"]`` when the caller
passes one, else from ``asbb_core.store.database.make_engine(sqlalchemy.url)``.

All pending revisions run in ONE transaction on PostgreSQL and SQLite. On SQLite that is real
too: our
engine takes transaction control away from pysqlite (``isolation_level = None``) and emits
``BEGIN IMMEDIATE`` itself from a "begin" event, so DDL is transactional and the migration holds
the write lock from its first statement. We tell Alembic so (``transactional_ddl=True``);
otherwise it would assume SQLite DDL is not transactional and commit after every revision.

SQLite also gets foreign keys switched off for the migration (the PRAGMA is ignored inside a
transaction, so it is set on the raw connection before BEGIN), because batch mode rebuilds a
table by copy, DROP and RENAME, and DROP TABLE on a referenced table fails with foreign keys on.
``PRAGMA foreign_key_check`` then runs inside the migration's transaction: any dangling
reference aborts and rolls back the whole upgrade.

MySQL and MariaDB commit every DDL statement as they run it: no transaction can hold a
migration. There each revision runs and is stamped in a transaction of its own, committed
before ``on_version_apply`` hears of it, so a failure leaves the database at the last revision
that completed (a revision that fails half-way keeps the statements it ran: back up first).
Before the first revision the database's default collation becomes binary utf8mb4 (see
``asbb_core.store.mysql``), so every table asbb creates compares text as PostgreSQL does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from alembic import context
from sqlalchemy import Connection
from sqlmodel import SQLModel

import asbb_core.store.models  # noqa: F401  (registers every table on SQLModel.metadata)
from asbb_core.store import mysql
from asbb_core.store.database import make_engine

config = context.config
target_metadata = SQLModel.metadata


@contextmanager
def _sqlite_foreign_keys_off(connection: Connection) -> Iterator[None]:
    """Switch SQLite foreign key enforcement off for the block, then restore it."""
    if connection.dialect.name != "sqlite" or connection.in_transaction():
        # Not SQLite, or the caller's transaction is open (the PRAGMA would be a no-op).
        yield
        return
    # Through the DBAPI connection: a SQLAlchemy execute would autobegin a transaction first.
    raw: Any = connection.connection.driver_connection
    was_on = bool(raw.execute("PRAGMA foreign_keys").fetchone()[0])
    raw.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
    finally:
        if was_on:
            raw.execute("PRAGMA foreign_keys=ON")


def _check_sqlite_foreign_keys(connection: Connection) -> None:
    if connection.dialect.name != "sqlite":
        return
    violations = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if violations:
        shown = ", ".join(f"{row[0]} rowid {row[1]} -> {row[2]}" for row in violations[:10])
        raise RuntimeError(f"migration left {len(violations)} foreign key violation(s): {shown}")


def _mysql_collation(connection: Connection) -> None:
    """Make binary utf8mb4 the database's default, for the tables the revisions create."""
    available = {
        row[0]
        for row in connection.exec_driver_sql(
            "SELECT collation_name FROM information_schema.collations "
            "WHERE character_set_name = 'utf8mb4'"
        )
    }
    wanted = mysql.choose_collation(available)
    current = connection.exec_driver_sql("SELECT @@character_set_database, @@collation_database")
    if tuple(current.one()) != ("utf8mb4", wanted):
        connection.exec_driver_sql(f"ALTER DATABASE CHARACTER SET utf8mb4 COLLATE {wanted}")
    connection.commit()


def _committed_first(callback: Callable[..., None] | None) -> Callable[..., None] | None:
    """``callback`` called once the revision and its stamp are committed (MySQL): what it hears
    of is done, whatever it does next."""
    if callback is None:
        return None

    def apply(*, ctx: Any, **kwargs: Any) -> None:
        ctx.connection.commit()
        callback(ctx=ctx, **kwargs)

    return apply


def _run(connection: Connection) -> None:
    is_sqlite = connection.dialect.name == "sqlite"
    is_mysql = connection.dialect.name == "mysql"
    on_version_apply = config.attributes.get("on_version_apply")
    if is_mysql and not connection.in_transaction():
        _mysql_collation(connection)
        on_version_apply = _committed_first(on_version_apply)
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        render_as_batch=is_sqlite,
        transactional_ddl=not is_mysql,
        transaction_per_migration=is_mysql,
        on_version_apply=on_version_apply,
    )
    with _sqlite_foreign_keys_off(connection), context.begin_transaction():
        context.run_migrations()
        _check_sqlite_foreign_keys(connection)


def run_migrations_online() -> None:
    connection: Connection | None = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database: set sqlalchemy.url or pass a connection")
    engine = make_engine(url, pool_size=1)
    try:
        with engine.connect() as connection:
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("asbb migrations run online only (offline SQL generation is unsupported)")
run_migrations_online()
