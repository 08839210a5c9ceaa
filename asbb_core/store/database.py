"""Engines, sessions and the unit of work: the one place transactions begin, commit and retry.

No engine is created at import time. ``Database(url)`` makes one:

* PostgreSQL through psycopg 3. Writes run at READ COMMITTED and make their balance decisions
  under ``SELECT ... FOR UPDATE`` row locks (see ``asbb_core.ledger``); reads run at
  REPEATABLE READ READ ONLY, so a report or ``ledger verify`` sees one snapshot.
* SQLite in WAL mode with a busy timeout; every writing transaction starts with
  ``BEGIN IMMEDIATE`` so it holds the database's write lock from its first statement: two
  writers can never both read a balance and then both spend it. A read starts with a plain
  ``BEGIN``: one snapshot, and it never blocks writers.
* MySQL 8 or MariaDB through PyMySQL, as PostgreSQL: writes at READ COMMITTED under the same
  ``SELECT ... FOR UPDATE`` row locks, reads at REPEATABLE READ READ ONLY (one snapshot, from
  the first read on). Each connection talks utf8mb4 in UTC under a strict ``sql_mode``
  (``asbb_core.store.mysql``). Deadlocks (1213) and lock wait timeouts (1205) are retried as
  PostgreSQL's 40P01 and 40001 are; a duplicate key (1062) is a race like any
  ``IntegrityError``, and CHECK and trigger refusals are raised as ``IntegrityError`` too.

The unit of work (``run`` for a write, ``read`` for a read):

* One session per use case, reads included: a service called inside a running unit of work
  joins it (``run`` in a savepoint, ``read`` on the same session), so it sees the writes made
  before it in the same transaction and never takes a second connection.
* Retries live here alone. A write is retried only as an ``Operation`` with an idempotency key:
  the caller's, one asbb derived, or one made here before the first try. The key's record is
  written in the write's own transaction, so a retry after a COMMIT whose reply was lost finds
  it and replays the first result instead of applying the write twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import QueuePool
from sqlmodel import Session

from asbb_core.settings import normalise_database_url
from asbb_core.store import mysql
from asbb_core.store.operations import Operation, record, recorded
from asbb_core.values.context import Clock, IdempotencyKey, utcnow

T = TypeVar("T")

log = logging.getLogger("asbb.database")

_READ_ONLY = "asbb_read_only"
# PostgreSQL: serialization failure, deadlock detected. SQLite: "database is locked".
_RETRYABLE_SQLSTATES = {"40001", "40P01"}
ATTEMPTS = 6
"""Tries of one unit of work before its last error is raised."""
UNIQUE_RACES = 2
"""Extra tries after a unique key refused a row: the loser of a race runs again and sees the
winner's committed row (an idempotency record, an account name)."""


@dataclass(frozen=True)
class _Open:
    session: Session
    read_only: bool
    database: Database


# The unit of work running in this thread or task, if any.
_CURRENT: ContextVar[_Open | None] = ContextVar("asbb_unit_of_work", default=None)


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


def _configure_mysql(engine: Engine) -> None:
    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # The session stays at READ COMMITTED for writes; a read sets its own transaction's
        # characteristics. The snapshot is taken at its first read and kept to its end.
        if conn.get_execution_options().get(_READ_ONLY, False):
            conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")

    @event.listens_for(engine, "handle_error")
    def _as_integrity_error(context: Any) -> DBAPIError | None:
        # PyMySQL raises a CHECK constraint's or a trigger's refusal as OperationalError;
        # PostgreSQL calls both integrity errors, and so does the rest of asbb.
        raised = context.sqlalchemy_exception
        if (
            isinstance(raised, DBAPIError)
            and not isinstance(raised, IntegrityError)
            and mysql.errno(context.original_exception) in mysql.INTEGRITY
        ):
            return IntegrityError(
                raised.statement,
                raised.params,
                context.original_exception,
                hide_parameters=raised.hide_parameters,
                ismulti=raised.ismulti,
            )
        return None


def _mysql_engine(url: str, *, pool_size: int, echo: bool) -> Engine:
    parsed = make_url(url)
    session = {
        "charset": "utf8mb4",
        "sql_mode": mysql.SQL_MODE,
        "init_command": mysql.SESSION,
        "connect_timeout": 10,
    }
    engine = create_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=False,
        # Below MySQL's wait_timeout (8 hours by default), after which the server hangs up.
        pool_recycle=3600,
        isolation_level="READ COMMITTED",
        # What the URL says about the session (a longer connect_timeout) wins.
        connect_args={k: v for k, v in session.items() if k not in parsed.query},
    )
    _configure_mysql(engine)
    return engine


def make_engine(url: str, *, pool_size: int = 10, echo: bool = False) -> Engine:
    url = normalise_database_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "mysql":
        return _mysql_engine(url, pool_size=pool_size, echo=echo)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        # Pooled: opening a connection (and its PRAGMAs) and closing it (a WAL checkpoint)
        # cost more than most units of work. Each connection serves one thread at a time;
        # a returned one is rolled back, so the next BEGIN IMMEDIATE starts clean.
        engine = create_engine(
            url,
            echo=echo,
            poolclass=QueuePool,
            pool_size=pool_size,
            max_overflow=pool_size,
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
        # found dead is invalidated by SQLAlchemy and the unit of work tries again.
        pool_pre_ping=False,
        pool_recycle=3600,
        connect_args={"connect_timeout": 10},
    )


def is_retryable(exc: BaseException) -> bool:
    """Transient failures that a fresh transaction will get past (for a write: only with an
    operation record to tell whether the first try committed)."""
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:  # the server restarted or dropped us: reconnect
            return True
        code = mysql.errno(exc.orig)
        if code is not None:
            # InnoDB rolled the whole transaction back under a savepoint, whose ROLLBACK TO
            # then fails: retry for the error that did it.
            cause = exc.__context__
            if code == mysql.LOST_SAVEPOINT and isinstance(cause, DBAPIError):
                return is_retryable(cause)
            return code in mysql.RETRYABLE
        sqlstate = getattr(exc.orig, "sqlstate", None)
        if sqlstate in _RETRYABLE_SQLSTATES:
            return True
        if isinstance(exc, OperationalError) and "database is locked" in str(exc.orig):
            return True
    return False


def _name_of(use_case: Callable[..., object]) -> str:
    """An unnamed write's operation name: where it was defined, short enough to store."""
    name = use_case.__qualname__.replace(".<locals>", "").removesuffix(".use_case")
    return name[-32:]


def _pause(attempt: int) -> None:
    time.sleep(min(0.005 * 2**attempt, 0.5))


class Database:
    """One database: its engine and the units of work run on it."""

    def __init__(
        self, url: str, *, pool_size: int = 10, echo: bool = False, clock: Clock = utcnow
    ) -> None:
        self.url = normalise_database_url(url)
        self.clock = clock
        self.engine = make_engine(self.url, pool_size=pool_size, echo=echo)
        reads = self.engine.execution_options(**{_READ_ONLY: True})
        if self.engine.dialect.name == "postgresql":
            reads = reads.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
        self._sessions = sessionmaker(self.engine, class_=Session, expire_on_commit=False)
        self._read_sessions = sessionmaker(reads, class_=Session, expire_on_commit=False)

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    @property
    def is_postgresql(self) -> bool:
        return self.backend == "postgresql"

    @property
    def is_mysql(self) -> bool:
        """MySQL or MariaDB (one dialect for both)."""
        return self.backend == "mysql"

    # -- the unit of work ------------------------------------------------------------

    def current(self) -> Session | None:
        """The session of the unit of work running here on this database, if any."""
        open_ = _CURRENT.get()
        return open_.session if open_ is not None and open_.database is self else None

    @contextmanager
    def _session(self, *, read_only: bool) -> Iterator[Session]:
        factory = self._read_sessions if read_only else self._sessions
        session = factory()
        token = _CURRENT.set(_Open(session, read_only, self))
        try:
            yield session
        finally:
            _CURRENT.reset(token)
            # close() rolls back whatever was not committed, without expiring loaded objects
            # (rollback() would), so results stay readable after the block.
            session.close()

    def run(self, use_case: Callable[[Session], T], operation: Operation | None = None) -> T:
        """Run a write: in its own transaction, committed at the end and retried when that is
        safe; or, inside a running unit of work, in a savepoint of it (the outer one commits
        and retries). With an idempotency key the first result is replayed to any later run.
        """
        open_ = _CURRENT.get()
        if open_ is not None and open_.database is self:
            if open_.read_only:
                raise RuntimeError("a write inside a read-only unit of work")
            return self._nested(open_.session, use_case, operation)
        operation = operation or Operation(_name_of(use_case))
        if operation.key is None:
            operation = replace(operation, key=IdempotencyKey.generated())
        failures = races = 0
        while True:
            try:
                with self._session(read_only=False) as session:
                    result = self._once(session, use_case, operation)
                    session.commit()
                    return result
            except IntegrityError:
                # A unique key refused a row: another transaction committed the same thing
                # first. Run again: this try sees the winner's row and answers from it.
                races += 1
                if races > UNIQUE_RACES:
                    raise
            except DBAPIError as exc:
                failures += 1
                if failures >= ATTEMPTS or not is_retryable(exc):
                    raise
                log.info("retrying %s after %s", operation.name, type(exc.orig).__name__)
                _pause(failures)

    def _once(self, session: Session, use_case: Callable[[Session], T], op: Operation) -> T:
        assert op.key is not None
        earlier = recorded(session, op, op.key)
        if earlier is not None:
            return earlier  # type: ignore[no-any-return]
        result = use_case(session)
        record(session, op, op.key, result, self.clock)
        return result

    def _nested(
        self, session: Session, use_case: Callable[[Session], T], op: Operation | None
    ) -> T:
        # A savepoint: a use case that fails leaves no trace while the others in the unit of
        # work stand. Only a key the caller or asbb gave is recorded: the outer unit of work
        # already has one for the whole transaction.
        with session.begin_nested():
            if op is None or op.key is None:
                return use_case(session)
            return self._once(session, use_case, op)

    def read(self, query: Callable[[Session], T]) -> T:
        """Run a read: on the running unit of work's session (it sees that transaction's
        writes), else in a read-only snapshot of its own, retried on transient failures."""
        open_ = _CURRENT.get()
        if open_ is not None and open_.database is self:
            return query(open_.session)
        failures = 0
        while True:
            try:
                with self._session(read_only=True) as session:
                    return query(session)
            except DBAPIError as exc:
                failures += 1
                if failures >= ATTEMPTS or not is_retryable(exc):
                    raise
                _pause(failures)

    def rehearse(self, work: Callable[[], T]) -> T:
        """Run ``work`` (writes and all) in one transaction and roll it back: its result is
        what it would do, its errors are the real call's, and nothing stays (a dry run)."""

        def use_case(session: Session) -> T:
            raise _Rehearsed(work())

        try:
            self.run(use_case)
        except _Rehearsed as done:
            return done.result  # type: ignore[return-value]
        raise AssertionError("a rehearsal always ends by rolling back")  # pragma: no cover

    def dispose(self) -> None:
        self.engine.dispose()


class _Rehearsed(Exception):  # noqa: N818 - not an error: it carries a rehearsal's result out
    """Ends a rehearsal: raised out of its unit of work so the transaction rolls back."""

    def __init__(self, result: object) -> None:
        super().__init__("rehearsed")
        self.result = result
