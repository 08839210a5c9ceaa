"""Column types that keep money exact and times in UTC on PostgreSQL, SQLite and MySQL."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, DateTime, Dialect, Double, Float, Integer, Numeric
from sqlalchemy.dialects import mysql
from sqlalchemy.sql import operators
from sqlalchemy.types import TypeDecorator, TypeEngine

# SQLite has no exact decimal type: its NUMERIC affinity stores REAL, and SUM() over REAL
# drifts. So on SQLite money is stored as an integer count of 1/10000 dollars (SUM over
# integers is exact); on PostgreSQL and MySQL it is NUMERIC(20, 4) (DECIMAL, exact too).
# Either way Python sees Decimal.
SCALE = 4
_FACTOR = Decimal(10) ** SCALE


class Money(TypeDecorator[Decimal]):
    """Exact money: NUMERIC(20,4) on PostgreSQL and MySQL, scaled BIGINT on SQLite."""

    impl = Numeric(20, SCALE)
    cache_ok = True

    @property
    def python_type(self) -> type[Decimal]:
        return Decimal

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(20, SCALE, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if isinstance(value, float):
            raise TypeError("money columns refuse floats")
        amount = Decimal(value)
        if dialect.name == "sqlite":
            scaled = amount * _FACTOR
            if scaled != scaled.to_integral_value():
                raise ValueError(f"{value} has more than {SCALE} decimal places")
            return int(scaled)
        return amount

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            if isinstance(value, float):
                # Never stored (binds refuse floats): a quotient computed in SQL, which SQLite
                # divides in floating point. Round it to the nearest 1/10000 dollar.
                value = Decimal(repr(value)).to_integral_value()
            return (Decimal(int(value)) / _FACTOR).quantize(Decimal(1).scaleb(-SCALE))
        return Decimal(value)

    def coerce_compared_value(self, op: Any, value: Any) -> TypeEngine[Any]:
        # Money beside money (compare, add, subtract) is bound as money: scaled alike on
        # SQLite. A factor or divisor is a plain number: bound as money it would be scaled too
        # (limit * 2 read as limit * 20000).
        if op in _SCALING_OPERATORS and not isinstance(value, bool):
            if isinstance(value, int):
                return Integer()
            if isinstance(value, Decimal):
                return Numeric(38, 10, asdecimal=True)
        return self


_SCALING_OPERATORS = frozenset(
    {operators.mul, operators.truediv, operators.floordiv, operators.mod}
)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out (SQLite and MySQL keep no zone: they
    store UTC as it is)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    @property
    def python_type(self) -> type[datetime]:
        return datetime

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "mysql":
            # DATETIME keeps whole seconds unless told otherwise: keep the microseconds, as
            # PostgreSQL's timestamptz does, so times order the same on every backend.
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return super().load_dialect_impl(dialect)

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None:
            raise ValueError("naive datetimes are refused: pass an aware UTC time")
        value = value.astimezone(UTC)
        if dialect.name in ("sqlite", "mysql"):
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime from the database, got {type(value).__name__}")
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


FLOAT8 = Float().with_variant(Double(), "mysql")
"""A double-precision float on every backend (not money: a rate limit's tokens). FLOAT is one
on PostgreSQL and SQLite; on MySQL it is 4 bytes, so there it is DOUBLE."""
