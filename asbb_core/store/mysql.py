"""MySQL 8 and MariaDB (through PyMySQL): the session every connection gets, the errors that
mean what PostgreSQL's do, and the SQL that PostgreSQL and SQLite write one way and MySQL
another.

One SQLAlchemy dialect, ``mysql``, serves both servers (``dialect.is_mariadb`` tells them
apart). Importing this module registers the compilation rules below; ``database.py`` does.

* Session: utf8mb4, time zone UTC, and a strict ``sql_mode`` -- bad values are refused, not
  truncated or zeroed, as PostgreSQL refuses them -- with ``ANSI_QUOTES``, so the few lines
  of SQL asbb writes by hand (its CHECK constraints) quote identifiers the standard way on
  every backend.
* Text compares as code points (a binary collation without PAD SPACE): ``'Physics'``,
  ``'physics'`` and ``'physics '`` are three names, as on PostgreSQL and SQLite.
  ``migrations/env.py`` gives the database that collation before it creates any table.
* ``NULLS FIRST/LAST`` and ``FILTER (WHERE ...)`` do not exist in MySQL: they compile to
  ``x IS NULL, x`` and ``agg(CASE WHEN ... THEN x END)``, which mean the same.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, func, literal_column
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import ColumnClause, FunctionFilter, UnaryExpression
from sqlalchemy.sql.functions import Function

SQL_MODE = ",".join(
    (
        "STRICT_ALL_TABLES",
        "NO_ZERO_DATE",
        "NO_ZERO_IN_DATE",
        "ERROR_FOR_DIVISION_BY_ZERO",
        "NO_ENGINE_SUBSTITUTION",
        "ANSI_QUOTES",
    )
)
"""Every connection's ``sql_mode``. Not ONLY_FULL_GROUP_BY: MariaDB's does not know that a
primary key determines its row's columns, which PostgreSQL (the reference) does."""

SESSION = "SET time_zone = '+00:00'"
"""Run on every new connection: NOW() and friends in UTC, as asbb stores every time."""

COLLATIONS = ("utf8mb4_nopad_bin", "utf8mb4_0900_bin", "utf8mb4_bin")
"""Binary utf8mb4 collations, best first: MariaDB's and MySQL 8's without PAD SPACE, then the
old one (which ignores trailing spaces) where neither exists."""

RETRYABLE = {
    1213,  # ER_LOCK_DEADLOCK: InnoDB rolled the transaction back (PostgreSQL's 40P01)
    1205,  # ER_LOCK_WAIT_TIMEOUT: waited innodb_lock_wait_timeout for a row lock
    1020,  # ER_CHECKREAD: MariaDB's snapshot isolation refused a write (PostgreSQL's 40001)
}
"""Errors a fresh transaction gets past, retried as PostgreSQL's 40001 and 40P01 are."""

INTEGRITY = {
    1644,  # ER_SIGNAL_EXCEPTION: asbb's triggers (append-only journal, final holds)
    3819,  # ER_CHECK_CONSTRAINT_VIOLATED (MySQL)
    4025,  # ER_CONSTRAINT_FAILED (MariaDB's CHECK)
}
"""Errors PyMySQL raises as OperationalError that are integrity errors on PostgreSQL (a
CHECK constraint, a trigger's refusal): raised as ``IntegrityError`` here too."""

LOST_SAVEPOINT = 1305
"""ER_SP_DOES_NOT_EXIST: ROLLBACK TO SAVEPOINT after InnoDB rolled the whole transaction back
(a deadlock inside a savepoint)."""


def errno(exc: BaseException | None) -> int | None:
    """The MySQL error number of a PyMySQL exception, else None."""
    if exc is None or not type(exc).__module__.startswith("pymysql"):
        return None
    args = getattr(exc, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def choose_collation(available: set[str]) -> str:
    """The best of ``COLLATIONS`` that the server has."""
    for name in COLLATIONS:
        if name in available:
            return name
    raise RuntimeError("the server has no utf8mb4 binary collation (MySQL 8 or MariaDB needed)")


@compiles(UnaryExpression, "mysql")
def _nulls_ordering(element: UnaryExpression[Any], compiler: Any, **kw: Any) -> str:
    # ``x ASC NULLS LAST`` -> ``x IS NULL, x ASC`` (false sorts before true); FIRST likewise.
    if element.modifier in (operators.nulls_last_op, operators.nulls_first_op):
        inner = element.element
        target = inner
        if isinstance(inner, UnaryExpression) and inner.modifier in (
            operators.asc_op,
            operators.desc_op,
        ):
            target = inner.element
        test = "IS NULL" if element.modifier is operators.nulls_last_op else "IS NOT NULL"
        return f"{compiler.process(target, **kw)} {test}, {compiler.process(inner, **kw)}"
    return str(compiler.visit_unary(element, **kw))


@compiles(FunctionFilter, "mysql")
def _aggregate_filter(element: FunctionFilter[Any], compiler: Any, **kw: Any) -> str:
    # ``agg(x) FILTER (WHERE c)`` -> ``agg(CASE WHEN c THEN x END)``: an aggregate skips NULLs,
    # so it sees exactly the rows the filter keeps (count(*) counts a 1 for each).
    aggregate = element.func
    arguments = list(aggregate.clauses)
    if len(arguments) > 1:
        raise NotImplementedError(f"FILTER on {aggregate.name}() with several arguments")
    value = arguments[0] if arguments else literal_column("1")
    if isinstance(value, ColumnClause) and value.is_literal and value.name == "*":
        value = literal_column("1")  # count(*)
    # DISTINCT x, as ``distinct(x)`` or ``func.distinct(x)``: the CASE goes inside it.
    distinct = False
    if isinstance(value, UnaryExpression) and value.operator is operators.distinct_op:
        value, distinct = value.element, True
    elif isinstance(value, Function) and value.name == "distinct" and len(value.clauses) == 1:
        value, distinct = next(iter(value.clauses)), True
    condition = element.criterion
    picked: Any = value if condition is None else case((condition, value))
    if distinct:
        picked = picked.distinct()
    rewritten = getattr(func, aggregate.name)(picked, type_=aggregate.type)
    return str(compiler.process(rewritten, **kw))
