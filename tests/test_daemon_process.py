"""Two real ``asbb-daemon`` processes on one PostgreSQL: no overcommit, clean stop, JSON logs.

The daemon is stateless; every balance decision is made under a row lock in the database, so
replicas stay correct. Here 16 clients hammer one account through two processes at once.
"""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

from asbb_core.access.tokens import Tokens
from asbb_core.ledger import Ledger
from asbb_core.ledger.verify import verify_ledger
from asbb_core.settings import Settings
from asbb_core.store.database import Database
from asbb_core.values.context import Context, Source

pytestmark = pytest.mark.slow

DAEMON = Path(sys.executable).parent / "asbb-daemon"
CHECK = "/api/v1/budget/check"
LIMIT = Decimal(1000)
# 16 CPUs x $0.05 x 2 h = $1.60 estimated; held x 1.2 = $1.92
JOB = {"account": "hammer", "partition": "aws-cpu", "cpus": 16, "wall_time": "02:00:00"}
HOLD = Decimal("1.92")
CLIENTS = 16

CONFIG = """\
[holds]
buffer = "1.2"
timeout_hours = "24"

[partitions.aws-cpu]
per_cpu_hour = "0.05"
"""


@pytest.fixture
def pg_url(backend: str, request: pytest.FixtureRequest) -> str:
    """A migrated PostgreSQL database (separate processes need a real server)."""
    if backend != "postgresql":
        pytest.skip("several daemon processes share one database: PostgreSQL only")
    url: str = request.getfixturevalue("migrated_url")
    return url


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class DaemonProcess:
    process: subprocess.Popen[bytes]
    url: str
    stderr_path: Path
    stderr_file: IO[bytes]

    def log_lines(self) -> list[str]:
        self.stderr_file.flush()
        return self.stderr_path.read_text(encoding="utf-8", errors="replace").splitlines()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.stderr_file.close()


def wait_healthy(daemon: DaemonProcess, timeout: float = 90) -> None:
    """Until /health answers: generous, as a loaded CI machine starts Python slowly."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if daemon.process.poll() is not None:
            log = "\n".join(daemon.log_lines()[-20:])
            pytest.fail(f"asbb-daemon exited with {daemon.process.returncode}:\n{log}")
        try:
            reply = httpx.get(f"{daemon.url}/health", timeout=2)
            if reply.status_code == 200:
                return
            last = f"{reply.status_code} {reply.text}"
        except httpx.TransportError as exc:
            last = repr(exc)
        time.sleep(0.1)
    log = "\n".join(daemon.log_lines()[-20:])
    pytest.fail(f"asbb-daemon at {daemon.url} not healthy after {timeout}s: {last}\n{log}")


@pytest.fixture
def start_daemon(pg_url: str, tmp_path: Path) -> Iterator[Callable[[], DaemonProcess]]:
    config = tmp_path / "config.toml"
    config.write_text(CONFIG, encoding="utf-8")
    started: list[DaemonProcess] = []

    def start() -> DaemonProcess:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("ASBB_")}
        env.update(
            ASBB_CONFIG=str(config),
            ASBB_DATABASE__URL=pg_url,
            ASBB_DATABASE__POOL_SIZE="20",
            ASBB_DAEMON__HOST="127.0.0.1",
            ASBB_DAEMON__PORT=str(port),
            ASBB_DAEMON__SWEEP_INTERVAL_SECONDS="0",
        )
        path = tmp_path / f"daemon-{len(started)}.stderr"
        stderr = path.open("wb")
        process = subprocess.Popen(
            [str(DAEMON)], env=env, stdout=subprocess.DEVNULL, stderr=stderr, cwd=tmp_path
        )
        daemon = DaemonProcess(process, f"http://127.0.0.1:{port}", path, stderr)
        started.append(daemon)
        wait_healthy(daemon)
        return daemon

    try:
        yield start
    finally:
        for daemon in started:  # each by its own PID
            daemon.stop()


@pytest.fixture
def seeded(pg_url: str) -> Iterator[tuple[Database, str]]:
    """The account (limit $1000) and a plugin token, made through asbb_core directly."""
    db = Database(pg_url)
    settings = Settings(database={"url": pg_url})
    Ledger(db, settings).create_account(
        "hammer", ctx=Context(actor="tests", source=Source.CLI), limit=str(LIMIT)
    )
    secret = Tokens(db).create("hammer-plugin", "plugin", actor="tests").secret
    try:
        yield db, secret
    finally:
        db.dispose()


def scrape_holds(url: str) -> dict[str, float]:
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{url}/metrics", timeout=10).text
    return {
        sample.labels["outcome"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "asbb_holds_total"
    }


def test_two_daemons_never_overcommit_one_account(
    start_daemon: Callable[[], DaemonProcess], seeded: tuple[Database, str]
) -> None:
    db, secret = seeded
    daemons = [start_daemon(), start_daemon()]
    headers = {"Authorization": f"Bearer {secret}"}
    accepted: list[str] = []
    errors: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(CLIENTS)

    def client(number: int) -> None:
        mine: list[str] = []
        sessions = [httpx.Client(base_url=d.url, headers=headers, timeout=30) for d in daemons]
        try:
            barrier.wait()
            turn = number
            while True:
                reply = sessions[turn % 2].post(CHECK, json=JOB)
                turn += 1
                if reply.status_code != 200:
                    errors.append(f"{reply.status_code} {reply.text}")
                    return
                body: dict[str, Any] = reply.json()
                if not body["available"]:
                    assert body["transaction_id"] is None
                    return
                mine.append(body["transaction_id"])
        except Exception as exc:  # reported below, with the thread that saw it
            errors.append(f"client {number}: {exc!r}")
        finally:
            for session in sessions:
                session.close()
            with lock:
                accepted.extend(mine)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    elapsed = time.monotonic() - started
    assert not any(t.is_alive() for t in threads), "clients still running after 300 s"
    assert not errors, errors[:5]

    expected = math.floor(LIMIT / HOLD)  # 520 holds of $1.92 fit in $1000
    assert len(accepted) == len(set(accepted)) == expected
    assert len(accepted) * HOLD <= LIMIT
    account = Ledger(db, Settings(database={"url": db.url})).get_account("hammer")
    assert account.held_amount == expected * HOLD
    assert account.used_amount == 0
    assert account.available < HOLD
    report = verify_ledger(db)
    assert report.ok, [str(p) for p in report.problems]

    # Both replicas took part: their own counters add up to the ledger's count.
    counts = [scrape_holds(d.url).get("accepted", 0.0) for d in daemons]
    assert all(count > 0 for count in counts), counts
    assert sum(counts) == expected
    print(f"{expected} holds through 2 daemons x {CLIENTS} clients in {elapsed:.1f}s")


@dataclass
class Stopped:
    code: int
    seconds: float
    lines: list[str]

    def entries(self) -> list[dict[str, Any]]:
        found = []
        for line in self.lines:
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(entry, dict):
                found.append(entry)
        return found


@pytest.fixture
def stopped(start_daemon: Callable[[], DaemonProcess], seeded: tuple[Database, str]) -> Stopped:
    """A daemon that served a health probe and one budget check, then got SIGTERM."""
    _, secret = seeded
    daemon = start_daemon()
    reply = httpx.post(
        f"{daemon.url}{CHECK}",
        json=JOB,
        headers={"Authorization": f"Bearer {secret}", "X-Request-ID": "req-from-test-1"},
        timeout=10,
    )
    assert reply.status_code == 200, reply.text
    assert reply.headers["x-request-id"] == "req-from-test-1"
    daemon.process.send_signal(signal.SIGTERM)
    started = time.monotonic()
    try:
        code = daemon.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pytest.fail("asbb-daemon did not exit within 10 s of SIGTERM")
    seconds = time.monotonic() - started
    return Stopped(code, seconds, [line for line in daemon.log_lines() if line.strip()])


def test_sigterm_stops_gracefully_and_requests_are_logged_as_json(stopped: Stopped) -> None:
    assert stopped.seconds < 10
    # uvicorn finishes its graceful shutdown, then re-raises the signal (see the next test).
    assert stopped.code in (0, -signal.SIGTERM), stopped.lines[-20:]
    assert any("shutdown complete" in line.lower() for line in stopped.lines), stopped.lines
    entries = stopped.entries()
    assert any(e.get("msg") == "asbb-daemon ready" for e in entries)
    requests = [e for e in entries if e.get("logger") == "asbb.daemon.access"]
    assert [e["path"] for e in requests if e["path"] == "/health"]
    assert all(e["request_id"] for e in requests)
    (check,) = [e for e in requests if e["path"] == CHECK]
    assert (check["request_id"], check["status"], check["method"]) == (
        "req-from-test-1",
        200,
        "POST",
    )
    assert check["ms"] > 0


def test_sigterm_exits_0(stopped: Stopped) -> None:
    assert stopped.code == 0


def test_every_stderr_line_is_json(stopped: Stopped) -> None:
    not_json = [line for line in stopped.lines if not line.startswith("{")]
    assert not not_json, not_json
    assert len(stopped.entries()) == len(stopped.lines)
