"""Find a PostgreSQL server for the tests, or start a throwaway one.

Order:
1. ``ASBB_TEST_POSTGRES_URL`` -- a server URL given explicitly (its user may create databases).
2. A server on 127.0.0.1:5432 accepting user ``postgres`` without a password (the machines
   this project is developed on run one), unless ``ASBB_TEST_POSTGRES=throwaway``.
3. A throwaway cluster: ``initdb`` + ``pg_ctl`` in a temporary folder on a free loopback port,
   run as an unprivileged user when we are root (PostgreSQL refuses to run as root), stopped
   and deleted at the end of the session.

Each test gets its own database (``CREATE DATABASE ... TEMPLATE``), dropped afterwards.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql


def _port_open(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg_binary(name: str) -> str | None:
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    found = shutil.which(name)
    return candidates[0] if candidates else found


@dataclass
class PgServer:
    """A reachable server: ``url`` for SQLAlchemy, ``conninfo`` for admin work."""

    host: str
    port: int
    user: str = "postgres"
    kind: str = "external"
    datadir: str | None = None
    run_as: str | None = None

    def conninfo(self, dbname: str = "postgres") -> str:
        return f"host={self.host} port={self.port} user={self.user} dbname={dbname}"

    def url(self, dbname: str) -> str:
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{dbname}"

    def admin(self) -> psycopg.Connection:
        return psycopg.connect(self.conninfo(), autocommit=True, connect_timeout=10)

    def create_database(self, *, template: str | None = None, prefix: str = "asbb_test") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        with self.admin() as conn:
            if template:
                conn.execute(
                    sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                        sql.Identifier(name), sql.Identifier(template)
                    )
                )
            else:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return name

    def drop_database(self, name: str) -> None:
        with self.admin() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    def stop(self) -> None:
        if self.kind != "throwaway" or self.datadir is None:
            return
        pg_ctl = _pg_binary("pg_ctl")
        if pg_ctl:
            _run_as(self.run_as, [pg_ctl, "-D", self.datadir, "-m", "immediate", "-w", "stop"])
        shutil.rmtree(Path(self.datadir).parent, ignore_errors=True)


def _run_as(user: str | None, argv: list[str]) -> subprocess.CompletedProcess[str]:
    if user is not None:
        argv = ["runuser", "-u", user, "--", *argv]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


def start_throwaway() -> PgServer:
    initdb, pg_ctl = _pg_binary("initdb"), _pg_binary("pg_ctl")
    if not initdb or not pg_ctl:
        raise RuntimeError(
            "no PostgreSQL server is reachable and no initdb/pg_ctl is installed; "
            "install PostgreSQL (scripts/test.sh does: apt-get install postgresql) "
            "or set ASBB_TEST_POSTGRES_URL"
        )
    run_as: str | None = None
    if os.geteuid() == 0:
        for candidate in ("postgres", "nobody"):
            try:
                pwd.getpwnam(candidate)
            except KeyError:
                continue
            run_as = candidate
            break
    base = Path(tempfile.mkdtemp(prefix="asbb-pg-"))
    datadir, sockdir = base / "data", base / "sock"
    sockdir.mkdir()
    if run_as is not None:
        entry = pwd.getpwnam(run_as)
        os.chmod(base, 0o755)
        for path in (base, sockdir):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    done = _run_as(
        run_as,
        [initdb, "-D", str(datadir), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"],
    )
    if done.returncode != 0:
        raise RuntimeError(f"initdb failed: {done.stderr.strip()}")
    port = _free_port()
    options = (
        f"-p {port} -k {sockdir} -c listen_addresses=127.0.0.1 -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    )
    started = _run_as(
        run_as,
        [pg_ctl, "-D", str(datadir), "-o", options, "-l", str(base / "log"), "-w", "start"],
    )
    if started.returncode != 0:
        log = (base / "log").read_text() if (base / "log").exists() else ""
        raise RuntimeError(f"pg_ctl start failed: {started.stderr.strip()} {log[-2000:]}")
    return PgServer(
        host="127.0.0.1", port=port, kind="throwaway", datadir=str(datadir), run_as=run_as
    )


def find_server() -> PgServer:
    explicit = os.environ.get("ASBB_TEST_POSTGRES_URL")
    if explicit:
        info = psycopg.conninfo.conninfo_to_dict(explicit.replace("+psycopg", ""))
        return PgServer(
            host=str(info.get("host", "127.0.0.1")),
            port=int(info.get("port", 5432)),
            user=str(info.get("user", "postgres")),
        )
    if os.environ.get("ASBB_TEST_POSTGRES") != "throwaway" and _port_open("127.0.0.1", 5432):
        server = PgServer(host="127.0.0.1", port=5432)
        try:
            server.admin().close()
            return server
        except psycopg.Error:
            pass
    return start_throwaway()


# The catalogue of a database's own schema: tables, columns, constraints, indexes, triggers and
# sequences. Two databases with the same fingerprint have the same schema.
_SCHEMA_FINGERPRINT = """
SELECT md5(string_agg(item, ',' ORDER BY item)) FROM (
    SELECT 'c:' || c.relname || ':' || c.relkind::text AS item
      FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace
    UNION ALL
    SELECT 'a:' || c.relname || '.' || a.attname || ':' || format_type(a.atttypid, a.atttypmod)
      FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
     WHERE c.relnamespace = 'public'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped
    UNION ALL
    SELECT 'k:' || conname || ':' || pg_get_constraintdef(oid) FROM pg_constraint
     WHERE connamespace = 'public'::regnamespace
    UNION ALL
    SELECT 't:' || tgname || ':' || tgenabled::text
      FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
     WHERE c.relnamespace = 'public'::regnamespace AND NOT t.tgisinternal
    UNION ALL
    SELECT 'f:' || proname || ':' || md5(prosrc) FROM pg_proc
     WHERE pronamespace = 'public'::regnamespace
) AS catalogue
"""


class DatabasePool:
    """Migrated databases handed to one test at a time and emptied for the next.

    Making a database from a template and dropping it costs PostgreSQL about 0.2 s of CPU;
    emptying one costs 3 ms. After a test its database is emptied (every table but
    ``alembic_version``, identities restarted) and reused, unless its schema is no longer the
    template's (a test changed it): then it is dropped and the next test gets a new copy.
    """

    def __init__(self, server: PgServer, template: str) -> None:
        self.server = server
        self.template = template
        self._free: list[str] = []
        self._all: set[str] = set()
        with psycopg.connect(server.conninfo(template), autocommit=True) as conn:
            self._fingerprint = conn.execute(_SCHEMA_FINGERPRINT).fetchone()[0]  # type: ignore[index]
            tables = [
                row[0]
                for row in conn.execute(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                    "AND tablename <> 'alembic_version' ORDER BY tablename"
                )
            ]
            sequences = [
                row[0]
                for row in conn.execute(
                    "SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'"
                )
            ]
        statements = ["SET LOCAL session_replication_role = replica"]  # no triggers, no FKs
        statements += [f'DELETE FROM "{table}"' for table in tables]
        statements += [f"SELECT setval('\"{seq}\"', 1, false)" for seq in sequences]
        self._empty = ";\n".join(statements)

    def take(self) -> str:
        if self._free:
            return self._free.pop()
        name = self.server.create_database(template=self.template)
        self._all.add(name)
        return name

    def give_back(self, name: str) -> None:
        try:
            with self.server.admin() as admin:
                # Whatever the test left connected (a daemon thread, a child process).
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()",
                    (name,),
                )
            with psycopg.connect(self.server.conninfo(name), connect_timeout=10) as conn:
                same = conn.execute(_SCHEMA_FINGERPRINT).fetchone()[0] == self._fingerprint  # type: ignore[index]
                if same:
                    conn.execute(self._empty)
                    conn.commit()
        except psycopg.Error:
            same = False
        if same:
            self._free.append(name)
        else:
            self._all.discard(name)
            self.server.drop_database(name)

    def close(self) -> None:
        for name in self._all:
            with contextlib.suppress(psycopg.Error):
                self.server.drop_database(name)
        self._all.clear()
        self._free.clear()
