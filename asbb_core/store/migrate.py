"""Schema migrations (Alembic), run from code: no alembic.ini, no ``alembic`` command needed.

>>> upgrade("sqlite:///ledger.sqlite3")              # doctest: +SKIP
>>> status("sqlite:///ledger.sqlite3").up_to_date      # doctest: +SKIP
True

The revisions live in the repository's top-level ``migrations/`` folder; wheels ship the same
folder as ``asbb_core/_migrations`` (see pyproject.toml). ``migrations/env.py`` connects with
``asbb_core.store.database.make_engine`` and runs every pending revision in one transaction
(on MySQL, which commits DDL as it runs it, each revision in one of its own).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext, MigrationInfo
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.orm import Session

from asbb_core.settings import normalise_database_url
from asbb_core.store.database import Database

# The asbb_core package folder (this module lives in asbb_core/store/).
_PACKAGE_DIR = Path(__file__).resolve().parent.parent


def migrations_dir() -> Path:
    """The Alembic script folder: installed ``asbb_core/_migrations``, else the source tree's."""
    installed = _PACKAGE_DIR / "_migrations"
    if (installed / "env.py").is_file():
        return installed
    source = _PACKAGE_DIR.parent / "migrations"
    if (source / "env.py").is_file():
        return source
    raise FileNotFoundError(f"no migrations found at {installed} or {source}")


def _escape(value: str) -> str:
    # Config options go through ConfigParser interpolation: a literal "%" must be doubled
    # (URL-encoded passwords contain them).
    return value.replace("%", "%%")


def _config(url: str | None = None, on_step: Callable[[str], None] | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", _escape(str(migrations_dir())))
    if url is not None:
        config.set_main_option("sqlalchemy.url", _escape(normalise_database_url(url)))
    if on_step is not None:

        def on_version_apply(*, step: MigrationInfo, **_: Any) -> None:
            # Upgrading: the revision just applied. Downgrading: the revision just undone.
            for revision in step.up_revision_ids:
                on_step(revision)

        config.attributes["on_version_apply"] = on_version_apply
    return config


@cache
def _scripts() -> ScriptDirectory:
    # The revisions on disk do not change while a process runs: read them once.
    return ScriptDirectory.from_config(_config())


def upgrade(
    url: str, revision: str = "head", *, on_step: Callable[[str], None] | None = None
) -> None:
    """Migrate the database at ``url`` up to ``revision`` (all pending revisions by default).

    ``on_step`` is called with each revision id once it has been applied. All revisions run in
    one transaction: if one fails, the database is left as it was. On MySQL each revision is
    committed before ``on_step`` hears of it: a failure leaves the last one that completed.
    """
    command.upgrade(_config(url, on_step), revision)


def downgrade(url: str, revision: str, *, on_step: Callable[[str], None] | None = None) -> None:
    """Migrate the database at ``url`` down to ``revision`` ("base" empties it: data is lost).

    ``on_step`` is called with each revision id once it has been undone.
    """
    command.downgrade(_config(url, on_step), revision)


def current_revision(url: str) -> str | None:
    """The revision the database at ``url`` is at; None if it was never migrated."""

    def read(session: Session) -> str | None:
        return MigrationContext.configure(session.connection()).get_current_revision()

    database = Database(url, pool_size=1)
    try:
        return database.read(read)
    finally:
        database.dispose()


def head_revision() -> str:
    """The newest revision this code knows."""
    head = _scripts().get_current_head()
    if head is None:
        raise RuntimeError(f"no revisions in {migrations_dir()}")
    return head


def knows_revision(revision: str) -> bool:
    """Whether ``revision`` is one of this code's (False: a newer asbb migrated the database)."""
    try:
        return _scripts().get_revision(revision) is not None
    except CommandError:
        return False


@dataclass(frozen=True)
class MigrationStatus:
    current: str | None
    """Where the database is (None: never migrated)."""
    head: str
    """The newest revision this code knows."""
    pending: list[tuple[str, str]] = field(default_factory=list)
    """(revision, description) of each revision still to apply, oldest first."""

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head


def status(url: str) -> MigrationStatus:
    """Where the database at ``url`` stands against this code's revisions.

    Raises ``alembic.util.CommandError`` if the database is at a revision this code does not
    know (it was migrated by a newer version of asbb).
    """
    scripts = _scripts()
    head = scripts.get_current_head()
    if head is None:
        raise RuntimeError(f"no revisions in {migrations_dir()}")
    current = current_revision(url)
    if current is not None:
        scripts.get_revision(current)  # raises CommandError for an unknown revision
    pending = [
        (script.revision, (script.doc or "").strip())
        for script in scripts.iterate_revisions(head, current or "base")
        if script.revision != current
    ]
    pending.reverse()
    return MigrationStatus(current=current, head=head, pending=pending)
