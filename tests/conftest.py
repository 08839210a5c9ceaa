"""Shared fixtures: every database test runs on SQLite and on a real PostgreSQL, and the
modules of ``MYSQL_MODULES`` on a real MySQL / MariaDB too.

``database_url``  a fresh, empty database (no schema), parametrised over the backends.
``db``            a fresh database migrated to head (copied from a migrated template).
``ledger``        the Ledger service on ``db`` with test settings and a controllable clock.
"""

from __future__ import annotations

import asyncio
import fcntl
import fnmatch
import functools
import json
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import typer.testing
import uvicorn

from asbb_core.access.tokens import Tokens
from asbb_core.ledger import Ledger
from asbb_core.settings import Settings
from asbb_core.store.database import Database
from asbb_core.values.context import Context, Source
from tests.mysqlserver import DatabasePool as MySQLPool
from tests.mysqlserver import MySQLServer, MySQLUnavailableError
from tests.mysqlserver import find_server as find_mysql_server
from tests.pgserver import DatabasePool, PgServer, find_server

if TYPE_CHECKING:
    from daemon.services import Services


def _exact_json(self: httpx.Response, **kwargs: Any) -> Any:
    """A response body as a client of asbb reads it: numbers as written, a money amount
    12.50 as Decimal("12.50"), never a float (asbb_core.values.wire)."""
    kwargs.setdefault("parse_float", Decimal)
    return json.loads(self.content, **kwargs)


# Every test reads API bodies exactly, so a test compares money with Decimals, digit for digit.
httpx.Response.json = _exact_json  # type: ignore[method-assign]

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
MYSQL = pytest.param("mysql", marks=pytest.mark.mysql)

# The modules whose backend-parametrised tests run on MySQL / MariaDB as well: the REST API
# and the ledger's core (books, holds, migrations, racing holds). The rest stand on the same
# core; running them a third time would cost the suite minutes for little.
MYSQL_MODULES = (
    "test_api_*",
    "test_ledger*",
    "test_holds*",
    "test_exact_books",
    "test_migrations*",
    "test_concurrency*",
)


def _runs_on_mysql(module: Any) -> bool:
    name = module.__name__.rpartition(".")[2]
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in MYSQL_MODULES)


def _parametrised_directly(definition: Any, name: str) -> bool:
    for marker in definition.iter_markers("parametrize"):
        names = marker.args[0] if marker.args else marker.kwargs.get("argnames", ())
        if isinstance(names, str):
            names = [part.strip() for part in names.split(",")]
        if name in names:
            return True
    return False


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test that needs a database (``backend``, through any fixture) runs once per
    backend: SQLite, PostgreSQL, and MySQL in ``MYSQL_MODULES``; a test that names its own
    backends (``@pytest.mark.parametrize("backend", [...])``) runs on those."""
    if "backend" not in metafunc.fixturenames:
        return
    if _parametrised_directly(metafunc.definition, "backend"):
        return
    backends = [*BACKENDS, MYSQL] if _runs_on_mysql(metafunc.module) else BACKENDS
    metafunc.parametrize("backend", backends, indirect=True)


# typer's CliRunner builds the whole click command tree from the app's functions on every
# invoke (~0.2 s for asbb's); the tree never changes during a run, so build it once.
typer.testing._get_command = functools.cache(typer.testing._get_command)

DEMO_NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
"""The frozen moment the shared demo database (``demo_sqlite``) is seeded at."""


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 3, 2, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> datetime:
        self.now += delta
        return self.now


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    server = find_server()
    yield server
    server.stop()


def _migrate(url: str) -> None:
    from asbb_core.store.migrate import upgrade

    upgrade(url)


@pytest.fixture(scope="session")
def pg_template(pg_server: PgServer) -> Iterator[str]:
    name = pg_server.create_database(prefix="asbb_template")
    _migrate(pg_server.url(name))
    yield name
    pg_server.drop_database(name)


@pytest.fixture(scope="session")
def pg_pool(pg_server: PgServer, pg_template: str) -> Iterator[DatabasePool]:
    pool = DatabasePool(pg_server, pg_template)
    yield pool
    pool.close()


@pytest.fixture(scope="session")
def mysql_server() -> Iterator[MySQLServer]:
    try:
        server = find_mysql_server()
    except MySQLUnavailableError as exc:
        pytest.skip(f"no MySQL/MariaDB for the tests: {exc}")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mysql_pool(mysql_server: MySQLServer) -> Iterator[MySQLPool]:
    pool = MySQLPool(mysql_server, _migrate)
    yield pool
    pool.close()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "asbb.sqlite3"
    _migrate(f"sqlite:///{path}")
    return path


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


@pytest.fixture(scope="session")
def demo_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file with the demo seeded through the ledger at ``DEMO_NOW``: made once per run
    and shared by every xdist worker (the first makes it, the others wait). Copy it before
    opening it: tests must not write to it."""
    from asbb_core.demo import DemoClock, seed_demo
    from asbb_core.store.migrate import upgrade

    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    path = shared / "demo-seeded.sqlite3"
    with _file_lock(shared / "demo-seeded.lock"):
        if not path.exists():
            partial = shared / "demo-partial.sqlite3"
            partial.unlink(missing_ok=True)
            url = f"sqlite:///{partial}"
            upgrade(url)
            database = Database(url)
            settings = Settings(database={"url": url})
            seed_demo(Ledger(database, settings, clock=DemoClock(DEMO_NOW)), now=DEMO_NOW)
            database.dispose()  # the last connection's close checkpoints the WAL into the file
            os.replace(partial, path)
    return path


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)  # set by pytest_generate_tests


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'asbb.sqlite3'}"
        return
    if backend == "mysql":
        mysql: MySQLServer = request.getfixturevalue("mysql_server")
        created = mysql.create_database()
        yield mysql.url(created)
        mysql.drop_database(created)
        return
    server: PgServer = request.getfixturevalue("pg_server")
    name = server.create_database()
    yield server.url(name)
    server.drop_database(name)


@contextmanager
def migrated_database(backend: str, request: pytest.FixtureRequest, folder: Path) -> Iterator[str]:
    """A fresh database at the newest schema on ``backend`` (a SQLite file in ``folder``),
    for as long as the block runs; for fixtures of any scope."""
    if backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        target = folder / "asbb.sqlite3"
        shutil.copyfile(template, target)
        yield f"sqlite:///{target}"
        return
    if backend == "mysql":
        mysql_pool: MySQLPool = request.getfixturevalue("mysql_pool")
        taken = mysql_pool.take()
        try:
            yield mysql_pool.server.url(taken)
        finally:
            mysql_pool.give_back(taken)
        return
    pool: DatabasePool = request.getfixturevalue("pg_pool")
    name = pool.take()
    try:
        yield pool.server.url(name)
    finally:
        pool.give_back(name)


@pytest.fixture
def migrated_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a fresh database already at the newest schema."""
    with migrated_database(backend, request, tmp_path) as url:
        yield url


@pytest.fixture
def db(migrated_url: str, clock: Clock) -> Iterator[Database]:
    database = Database(migrated_url, pool_size=40, clock=clock)
    yield database
    database.dispose()


def single_admin(request: pytest.FixtureRequest) -> bool:
    """A test marked ``single_admin`` runs as a site with ``approvals.require_approval = false``:
    a person's deposits, limits, one-off allocations and hold voids move at once. Unmarked
    tests see the default, where each becomes a pending adjustment request."""
    return request.node.get_closest_marker("single_admin") is not None


@pytest.fixture
def settings(migrated_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    return site_settings(migrated_url, tmp_path, require_approval=not single_admin(request))


def site_settings(url: str, folder: Path, *, require_approval: bool = True) -> Settings:
    """The tests' site: three partitions, a 1.2 buffer, every timer off, the export folder in
    ``folder``."""
    return Settings(
        database={"url": url},
        holds={"buffer": Decimal("1.2"), "timeout_hours": Decimal(24)},
        partitions={
            "aws-cpu": {"per_cpu_hour": Decimal("0.05")},
            "gpu-aws": {"per_gpu_hour": Decimal("3.06"), "per_cpu_hour": Decimal("0.05")},
            "local": {"budgeted": False},
        },
        default_partition="aws-cpu",
        # No background sweep in tests (they expire holds explicitly); no token caching, so
        # revocation is seen at once.
        daemon={
            "sweep_interval_seconds": 0,
            "token_cache_seconds": 0,
            "spool_replay_seconds": 0,
            "recovery_interval_seconds": 0,
        },
        allocations={"process_interval_seconds": 0},
        # aws-slurm-burst's export folder: private to the test, ingested only when it says.
        asbx={"spool_dir": str(folder / "asbx"), "interval_seconds": 0},
        alerts={"evaluate_interval_seconds": 0, "delivery_interval_seconds": 0},
        approvals={"require_approval": require_approval},
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ledger(db: Database, settings: Settings, clock: Clock) -> Ledger:
    return Ledger(db, settings, clock=clock)


@pytest.fixture
def ctx() -> Context:
    return Context(actor="test-admin", source=Source.CLI)


@dataclass
class LiveDaemon:
    """The daemon served by uvicorn on a free loopback port, with one token per role."""

    url: str
    services: Services
    tokens: dict[str, str]

    def client(self, role: str | None = "admin", **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, **kwargs)


class _PromptServer(uvicorn.Server):
    """uvicorn, stopping within milliseconds rather than its fixed pauses of 100 ms and more:
    over a suite of some 1,500 daemons, minutes."""

    async def main_loop(self) -> None:
        while not await self.on_tick(0):  # tick 0: refresh the Date header each time
            await asyncio.sleep(0.01)

    async def shutdown(self, sockets: Any = None) -> None:
        """uvicorn's graceful shutdown without its fixed 100 ms pauses: stop listening, ask
        each connection to close, wait (polling every 5 ms, at most 10 s) until they and their
        tasks are done, then run the app's lifespan shutdown."""
        for server in self.servers:
            server.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        deadline = time.monotonic() + 10
        while self.server_state.connections or self.server_state.tasks:
            if time.monotonic() > deadline:
                for task in self.server_state.tasks:
                    task.cancel()
                break
            await asyncio.sleep(0.005)
        for server in self.servers:
            await server.wait_closed()
        await self.lifespan.shutdown()


def serve_in_thread(app: Any) -> tuple[str, Callable[[], None]]:
    """Serve an ASGI app with uvicorn on 127.0.0.1 and a free port; returns (url, stop)."""
    server = _PromptServer(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=10)

    return f"http://127.0.0.1:{port}", stop


@pytest.fixture
def live_daemon(db: Database, settings: Settings, clock: Clock) -> Iterator[LiveDaemon]:
    with running_daemon(db, settings, clock) as daemon:
        yield daemon


@contextmanager
def running_daemon(db: Database, settings: Settings, clock: Clock) -> Iterator[LiveDaemon]:
    """The daemon on ``db``, served on loopback while the block runs, with a token per role."""
    from daemon.app import create_app

    app = create_app(settings, db=db, clock=clock)
    tokens = Tokens(db, clock=clock)
    secrets = {
        role: tokens.create(f"test-{role}", role, actor="tests").secret
        for role in ("admin", "plugin", "reader")
    }
    url, stop = serve_in_thread(app)
    try:
        yield LiveDaemon(url=url, services=app.state.services, tokens=secrets)
    finally:
        stop()


@pytest.fixture
def act_as(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """Make the CLI and the console run as another real login (one that exists in
    /etc/passwd, e.g. ``daemon`` or ``bin``) for in-process tests: their identity is the real
    uid's login (asbb_core.access.identity), which a test cannot otherwise change."""
    import pwd

    from asbb_core.access import identity

    def become(login: str) -> None:
        uid = pwd.getpwnam(login).pw_uid
        monkeypatch.setattr(identity, "real_uid", lambda: uid)

    return become


@pytest.fixture
def cli_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, request: pytest.FixtureRequest
) -> Path:
    """For a command-line test: no ASBB_* variables from the caller, an empty config file
    (returned; a ``single_admin`` test's turns approval off) and a private data folder."""
    for name in list(os.environ):
        if name.startswith("ASBB_"):
            monkeypatch.delenv(name)
    empty = tmp_path / "empty.toml"
    text = "[approvals]\nrequire_approval = false\n" if single_admin(request) else ""
    empty.write_text(text, encoding="utf-8")
    monkeypatch.setenv("ASBB_CONFIG", str(empty))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return empty
