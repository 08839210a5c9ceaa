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
