"""Plumbing shared by every ``asbb`` command: output, errors, settings and the database.

Exit status, for every command: 0 success; 1 an error (one line ``error: ...`` on stderr);
2 a usage error; 4 ``ledger verify`` found discrepancies.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from typer.core import TyperGroup

from asbb_core.errors import AsbbError, DatabaseError
from asbb_core.settings import Settings, load_settings

if TYPE_CHECKING:
    from asbb_core.database import Database
    from asbb_core.ledger import Ledger

EXIT_ERROR = 1
EXIT_DISCREPANCIES = 4


def stdout() -> Console:
    return Console(highlight=False)


def stderr() -> Console:
    return Console(stderr=True, highlight=False)


def fail(message: str) -> NoReturn:
    """Report one error line on stderr and exit 1."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(EXIT_ERROR)


def first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class AsbbGroup(TyperGroup):
    """Turns the library's errors into one line on stderr and exit status 1.

    Sub-commands run inside this group's ``invoke``, so one handler covers them all.
    """

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        from alembic.util import CommandError

        try:
            return super().invoke(ctx)
        except AsbbError as exc:
            fail(exc.message)
        except CommandError as exc:  # e.g. a database migrated by a newer asbb
            fail(f"migrations: {first_line(exc)}")
        except ArgumentError as exc:
            fail(f"database URL: {first_line(exc)}")
        except SQLAlchemyError as exc:
            fail(f"database: {first_line(exc)}")


@dataclass
class CliState:
    database_url: str | None = None


def cli_state(ctx: typer.Context) -> CliState:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, CliState) else CliState()


def settings_of(ctx: typer.Context, url: str | None = None) -> Settings:
    """Effective settings; ``--database`` (the command's, else the global one) wins."""
    chosen = url or cli_state(ctx).database_url
    if chosen:
        return load_settings(database={"url": chosen})
    return load_settings()


def display_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def open_database(settings: Settings) -> Database:
    """The configured database, refused unless its schema is at this code's head."""
    from asbb_core.database import Database
    from asbb_core.migrate import status

    url = settings.database.url
    st = status(url)
    if not st.up_to_date:
        where = f"is at schema {st.current}" if st.current else "has no schema yet"
        raise DatabaseError(
            f"database {display_url(url)} {where} (this asbb needs {st.head}); "
            "run: asbb database migrate"
        )
    return Database(url, pool_size=settings.database.pool_size, echo=settings.database.echo)


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, sort_keys=False))


DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database",
        metavar="URL",
        help="Database URL (sqlite:///path or postgresql://...); overrides database.url.",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def cli_actor() -> str:
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name for this uid (e.g. in a container)
        return "cli"


def iso_time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@contextmanager
def opened(ctx: typer.Context) -> Iterator[tuple[Settings, Database, Ledger]]:
    """Settings, the database (at head) and a ledger over it, disposed of at the end."""
    from asbb_core.ledger import Ledger

    settings = settings_of(ctx)
    db = open_database(settings)
    try:
        yield settings, db, Ledger(db, settings)
    finally:
        db.dispose()


def jsonable(value: Any) -> Any:
    """Dataclasses, Decimals (as exact strings), dates and enums made JSON-ready."""
    import dataclasses
    from datetime import date
    from decimal import Decimal
    from enum import Enum

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):  # datetimes too
        return value.isoformat()
    return value
