"""Find a MySQL / MariaDB server for the tests, or start a private one.

Order:
1. ``ASBB_TEST_MYSQL_URL`` -- a server URL given explicitly (its user may create databases).
2. A server on 127.0.0.1:3306 accepting ``root`` without a password (the machines this
   project is developed on run one), unless ``ASBB_TEST_MYSQL=private``.
3. A private MariaDB: Debian's ``mariadbd`` (``scripts/bootstrap.sh`` installs it) in a
   temporary folder on a free loopback port, run as ``mysql`` when we are root, without
   durability (nothing there outlives the session), stopped and deleted at the end.

When none of these works, ``find_server`` raises ``MySQLUnavailableError`` and the MySQL tests
are skipped with its reason. Each test gets its own database (``CREATE DATABASE`` with a
unique name), dropped afterwards; migrated ones come from ``DatabasePool``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pymysql
from sqlalchemy.engine import make_url

from asbb_core.store import mysql


class MySQLUnavailableError(RuntimeError):
    """No MySQL or MariaDB server could be found or started."""


def _port_open(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


@dataclass
class MySQLServer:
    """A reachable server: ``url`` for SQLAlchemy, ``admin`` for the harness's own work."""

    host: str
    port: int
    user: str = "root"
    password: str = ""
    kind: str = "external"
    base: str | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    collation: str = ""

    def url(self, name: str) -> str:
        credentials = self.user + (f":{self.password}" if self.password else "")
        return f"mysql+pymysql://{credentials}@{self.host}:{self.port}/{name}"

    def admin(self, database: str | None = None) -> pymysql.connections.Connection[Any]:
        return pymysql.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            database=database,
            autocommit=True,
            connect_timeout=10,
            charset="utf8mb4",
            sql_mode=mysql.SQL_MODE,
        )

    @property
    def version(self) -> str:
        with self.admin() as conn, conn.cursor() as cursor:
            cursor.execute("SELECT VERSION()")
            return str(cursor.fetchone()[0])  # type: ignore[index]

    def create_database(self, *, prefix: str = "asbb_test") -> str:
        """A new empty database, with the binary collation asbb's migrations would give it."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        with self.admin() as conn, conn.cursor() as cursor:
            if not self.collation:
                cursor.execute(
                    "SELECT collation_name FROM information_schema.collations "
                    "WHERE character_set_name = 'utf8mb4'"
                )
                self.collation = mysql.choose_collation({row[0] for row in cursor})
            cursor.execute(
                f"CREATE DATABASE {_quote(name)} CHARACTER SET utf8mb4 COLLATE {self.collation}"
            )
        return name

    def disconnect(self, name: str) -> None:
        """End every session on database ``name`` (a daemon thread's, a child process's)."""
        with self.admin() as conn, conn.cursor() as cursor:
            cursor.execute(
                "SELECT id FROM information_schema.processlist "
                "WHERE db = %s AND id <> CONNECTION_ID()",
                (name,),
            )
            for (session,) in cursor.fetchall():
                with contextlib.suppress(pymysql.MySQLError):  # it may have just ended
                    cursor.execute(f"KILL {int(session)}")

    def drop_database(self, name: str) -> None:
        self.disconnect(name)
        with self.admin() as conn, conn.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {_quote(name)}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
            self.process = None
        if self.base is not None:
            shutil.rmtree(self.base, ignore_errors=True)
            self.base = None


def _answers(server: MySQLServer) -> bool:
    try:
        server.admin().close()
    except pymysql.MySQLError:
        return False
    return True


def _binary(*names: str) -> str | None:
    for name in names:
        found = shutil.which(name) or next(
            (str(p) for p in (Path("/usr/sbin") / name, Path("/usr/bin") / name) if p.exists()),
            None,
        )
        if found:
            return found
    return None


def start_private() -> MySQLServer:
    """A throwaway MariaDB in a temporary folder on a free loopback port."""
    server_binary = _binary("mariadbd", "mysqld")
    install_db = _binary("mariadb-install-db", "mysql_install_db")
    if server_binary is None or install_db is None:
        raise MySQLUnavailableError(
            "no MySQL/MariaDB server answers on 127.0.0.1:3306 and mariadbd is not installed "
            "(scripts/test.sh installs Debian's mariadb-server as root; or set "
            "ASBB_TEST_MYSQL_URL)"
        )
    run_as: str | None = None
    if os.geteuid() == 0:
        for candidate in ("mysql", "nobody"):
            with contextlib.suppress(KeyError):
                pwd.getpwnam(candidate)
                run_as = candidate
                break
    base = Path(tempfile.mkdtemp(prefix="asbb-mysql-"))
    data = base / "data"
    data.mkdir()
    if run_as is not None:
        entry = pwd.getpwnam(run_as)
        os.chmod(base, 0o755)
        for path in (base, data):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    user = [f"--user={run_as}"] if run_as else []
    done = subprocess.run(
        [
            install_db,
            "--no-defaults",
            f"--datadir={data}",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            *user,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        raise MySQLUnavailableError(f"mariadb-install-db failed: {done.stderr.strip()[-1000:]}")
    port = _free_port()
    log = base / "error.log"
    process = subprocess.Popen(
        [
            server_binary,
            "--no-defaults",
            f"--datadir={data}",
            f"--socket={base / 'mysqld.sock'}",
            f"--pid-file={base / 'mysqld.pid'}",
            f"--log-error={log}",
            "--bind-address=127.0.0.1",
            f"--port={port}",
            "--character-set-server=utf8mb4",
            "--skip-log-bin",
            # A test server: speed over durability.
            "--innodb-flush-log-at-trx-commit=0",
            "--innodb-doublewrite=0",
            "--innodb-buffer-pool-size=256M",
            "--max-connections=500",
            *user,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = MySQLServer("127.0.0.1", port, kind="private", base=str(base), process=process)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        if _port_open("127.0.0.1", port) and _answers(server):
            return server
        time.sleep(0.2)
    text = log.read_text(errors="replace")[-2000:] if log.exists() else ""
    server.stop()
    raise MySQLUnavailableError(f"the private mariadbd did not start: {text}")


def find_server() -> MySQLServer:
    explicit = os.environ.get("ASBB_TEST_MYSQL_URL")
    if explicit:
        url = make_url(explicit)
        server = MySQLServer(
            host=url.host or "127.0.0.1",
            port=url.port or 3306,
            user=url.username or "root",
            password=url.password or "",
        )
        if not _answers(server):
            raise MySQLUnavailableError(f"ASBB_TEST_MYSQL_URL={explicit} does not answer")
        return server
    if os.environ.get("ASBB_TEST_MYSQL") != "private" and _port_open("127.0.0.1", 3306):
        server = MySQLServer(host="127.0.0.1", port=3306)
        if _answers(server):
            return server
    return start_private()


class DatabasePool:
    """Migrated databases handed to one test at a time and emptied for the next.

    MySQL has no CREATE DATABASE ... TEMPLATE, and migrating a new database takes seconds of
    DDL, so each pool (one per test worker) migrates a database only when none is free.
    After a test its database is emptied -- TRUNCATE, which the append-only triggers do not
    see and which restarts AUTO_INCREMENT, on each table the test wrote to -- and reused,
    unless its schema is no longer the one migrated (a test changed it): then it is dropped.
    """

    def __init__(self, server: MySQLServer, migrate: Any) -> None:
        self.server = server
        self._migrate = migrate
        self._free: list[str] = []
        self._all: set[str] = set()
        self._fingerprint: str | None = None

    def _schema(self, cursor: Any, name: str) -> str:
        """A digest of database ``name``'s tables, columns, indexes, constraints, triggers."""
        parts: list[str] = []
        queries = [
            "SELECT table_name, column_name, column_type, is_nullable, column_default "
            "FROM information_schema.columns WHERE table_schema = %s",
            "SELECT table_name, index_name, column_name, seq_in_index, non_unique "
            "FROM information_schema.statistics WHERE table_schema = %s",
            "SELECT table_name, constraint_name, constraint_type "
            "FROM information_schema.table_constraints WHERE constraint_schema = %s",
            "SELECT event_object_table, trigger_name, action_timing, event_manipulation "
            "FROM information_schema.triggers WHERE trigger_schema = %s",
        ]
        for query in queries:
            cursor.execute(query, (name,))
            parts += sorted(repr(tuple(row)) for row in cursor.fetchall())
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()

    def take(self) -> str:
        if self._free:
            return self._free.pop()
        name = self.server.create_database()
        self._all.add(name)
        self._migrate(self.server.url(name))
        if self._fingerprint is None:
            with self.server.admin() as conn, conn.cursor() as cursor:
                self._fingerprint = self._schema(cursor, name)
        return name

    def give_back(self, name: str) -> None:
        try:
            self.server.disconnect(name)
            with self.server.admin(name) as conn, conn.cursor() as cursor:
                same = self._schema(cursor, name) == self._fingerprint
                if same:
                    self._empty(cursor, name)
        except pymysql.MySQLError:
            same = False
        if same:
            self._free.append(name)
        else:
            self._all.discard(name)
            self.server.drop_database(name)

    @staticmethod
    def _empty(cursor: Any, name: str) -> None:
        # Which tables a test touched: rows in them, or an AUTO_INCREMENT moved on (a rolled
        # back insert). MySQL 8 caches these figures unless told not to.
        with contextlib.suppress(pymysql.MySQLError):
            cursor.execute("SET SESSION information_schema_stats_expiry = 0")
        cursor.execute(
            "SELECT table_name, auto_increment FROM information_schema.tables "
            "WHERE table_schema = %s AND table_type = 'BASE TABLE' "
            "AND table_name <> 'alembic_version'",
            (name,),
        )
        tables = {str(table): counter for table, counter in cursor.fetchall()}
        if not tables:
            return
        probes = " UNION ALL ".join(
            f"SELECT '{table}' FROM DUAL WHERE EXISTS (SELECT 1 FROM {_quote(table)})"
            for table in tables
        )
        cursor.execute(probes)
        used = {str(row[0]) for row in cursor.fetchall()}
        used |= {table for table, counter in tables.items() if counter not in (None, 1)}
        cursor.execute("SET SESSION foreign_key_checks = 0")
        for table in sorted(used):
            cursor.execute(f"TRUNCATE TABLE {_quote(table)}")
        cursor.execute("SET SESSION foreign_key_checks = 1")

    def close(self) -> None:
        for name in self._all:
            with contextlib.suppress(pymysql.MySQLError):
                self.server.drop_database(name)
        self._all.clear()
        self._free.clear()
