"""Engines, sessions and the unit of work.

No engine is created at import time. ``Database(url)`` makes one:

* PostgreSQL through psycopg 3, READ COMMITTED; balance decisions take ``SELECT ... FOR UPDATE``
  row locks (see ``asbb_core.ledger``).
* SQLite in WAL mode with a busy timeout; every writing transaction starts with
  ``BEGIN IMMEDIATE`` so it holds the database's write lock from its first statement: two
  writers can never both read a balance and then both spend it. Read-only units of work start
  with a plain ``BEGIN`` and never block writers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import NullPool
from sqlmodel import Session

from asbb_core.settings import normalise_database_url

T = TypeVar("T")

_READ_ONLY = "asbb_read_only"
# PostgreSQL: serialization failure, deadlock detected. SQLite: "database is locked".
_RETRYABLE_SQLSTATES = {"40001", "40P01"}


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module; we emit BEGIN ourselves.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        read_only = conn.get_execution_options().get(_READ_ONLY, False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def make_engine(url: str, *, pool_size: int = 10, echo: bool = False) -> Engine:
    url = normalise_database_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        # One connection per checkout: SQLite connections are cheap and this keeps
        # BEGIN IMMEDIATE semantics simple across threads.
        engine = create_engine(
            url,
            echo=echo,
            poolclass=NullPool,
            connect_args={"check_same_thread": False, "timeout": 30},
        )
        _configure_sqlite(engine)
        return engine
    return create_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=pool_size,
        # No pre-ping: it costs a round trip per transaction on the hot path. A connection
        # found dead is invalidated by SQLAlchemy and Database.run retries on a fresh one.
        pool_pre_ping=False,
        pool_recycle=3600,
        connect_args={"connect_timeout": 10},
    )


def is_retryable(exc: BaseException) -> bool:
    """Transient concurrency failures that a fresh transaction will get past."""
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:  # the server restarted or dropped us: reconnect
            return True
        sqlstate = getattr(exc.orig, "sqlstate", None)
        if sqlstate in _RETRYABLE_SQLSTATES:
            return True
        if isinstance(exc, OperationalError) and "database is locked" in str(exc.orig):
            return True
    return False


class Database:
    """One database: an engine and the sessions made from it."""

    def __init__(self, url: str, *, pool_size: int = 10, echo: bool = False) -> None:
        self.url = normalise_database_url(url)
        self.engine = make_engine(self.url, pool_size=pool_size, echo=echo)
        self._sessions = sessionmaker(self.engine, class_=Session, expire_on_commit=False)
        self._read_sessions = sessionmaker(
            self.engine.execution_options(**{_READ_ONLY: True}),
            class_=Session,
            expire_on_commit=False,
        )

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    @property
    def is_postgresql(self) -> bool:
        return self.backend == "postgresql"

    @contextmanager
    def unit_of_work(self, *, read_only: bool = False) -> Iterator[Session]:
        """A session whose changes are committed only if ``commit()`` is called inside.

        Leaving the block without committing (or by an exception) rolls everything back.
        """
        factory = self._read_sessions if read_only else self._sessions
        session = factory()
        try:
            yield session
        finally:
            # close() rolls back whatever was not committed, without expiring loaded objects
            # (rollback() would), so results stay readable after the block.
            session.close()

    def run(self, use_case: Callable[[Session], T], *, attempts: int = 5) -> T:
        """Run ``use_case`` in one transaction and commit; retry transient lock failures."""
        for attempt in range(1, attempts + 1):
            try:
                with self.unit_of_work() as session:
                    result = use_case(session)
                    session.commit()
                    return result
            except DBAPIError as exc:
                if attempt == attempts or not is_retryable(exc):
                    raise
                time.sleep(0.005 * 2**attempt)
        raise AssertionError("unreachable")

    def read(self, query: Callable[[Session], T]) -> T:
        """Run a read-only query in its own transaction."""
        with self.unit_of_work(read_only=True) as session:
            return query(session)

    def dispose(self) -> None:
        self.engine.dispose()
