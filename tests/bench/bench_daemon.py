"""Benchmark: the daemon's budget check (HTTP + priced + durable hold) against pgbench TPC-B.

Both run in one go on the same PostgreSQL, so the machine's noise hits both alike:

1. pgbench TPC-B, one client (latency p50/p99 from its per-transaction log) and 16 clients (tps).
2. asbb-daemon (a real process, real HTTP over loopback) on a fresh database: checks one after
   another (as slurmctld sends them), then 16 concurrent clients spread over 16 accounts, then
   16 concurrent clients all on one account.

Targets (shared/DESIGN.md, "Budgets"): sequential p50 <= 1.2x and p99 <= 3x pgbench's
single-client latency; concurrent holds/s >= pgbench tps at 16 clients.

    .venv/bin/python -m tests.bench.bench_daemon [--seconds 10] [--workers 2] [--markdown]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from asbb_core.access.tokens import Tokens
from asbb_core.ledger import Ledger
from asbb_core.settings import Settings
from asbb_core.store.database import Database
from asbb_core.store.migrate import upgrade
from asbb_core.values.context import Context, Source
from tests.pgserver import PgServer, _pg_binary, find_server

ROOT = Path(__file__).resolve().parents[2]
CHECK = {"partition": "aws-cpu", "cpus": 4, "wall_time": "01:00:00"}


@dataclass
class Result:
    name: str
    count: int
    seconds: float
    latencies_ms: list[float]
    fixed: tuple[float, float] | None = None
    """Percentiles reported by an outside tool (p50, p99), when there are no samples."""

    @property
    def per_second(self) -> float:
        return self.count / self.seconds

    def pct(self, q: float) -> float:
        if self.fixed is not None:
            return self.fixed[0] if q <= 0.5 else self.fixed[1]
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pgbench(server: PgServer, seconds: int) -> tuple[Result, Result]:
    binary = _pg_binary("pgbench")
    if binary is None:
        sys.exit("pgbench not found (it ships with the PostgreSQL server package)")
    name = server.create_database(prefix="pgbench")
    conn = ["-h", server.host, "-p", str(server.port), "-U", server.user]
    try:
        subprocess.run(
            [binary, "-i", "-q", "-s", "16", *conn, name], check=True, capture_output=True
        )
        logdir = Path(tempfile.mkdtemp(prefix="pgbench-log-"))
        subprocess.run(
            [binary, "-c", "1", "-j", "1", "-T", str(seconds), "-l",
             "--log-prefix", str(logdir / "tx"), *conn, name],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        latencies = []
        for log in logdir.glob("tx*"):
            for line in log.read_text().splitlines():
                latencies.append(int(line.split()[2]) / 1000.0)  # microseconds -> ms
        shutil.rmtree(logdir, ignore_errors=True)
        single = Result("pgbench TPC-B, 1 client", len(latencies), seconds, latencies)
        out = subprocess.run(
            [binary, "-c", "16", "-j", "2", "-T", str(seconds), *conn, name],
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
        tps = next(
            float(line.split("=")[1].split()[0])
            for line in out.splitlines()
            if line.startswith("tps = ")
        )
        many = Result("pgbench TPC-B, 16 clients", int(tps * seconds), seconds, [])
        return single, many
    finally:
        server.drop_database(name)


def hammer(
    url: str,
    token: str,
    accounts: Callable[[int], str],
    clients: int,
    seconds: float,
) -> Result:
    """``clients`` threads posting checks for ``seconds``; each thread keeps one connection."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    refused = [0] * clients
    stop_at = time.perf_counter() + seconds
    barrier = threading.Barrier(clients)

    def run(n: int) -> None:
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        ) as client:
            body = {**CHECK, "account": accounts(n)}
            barrier.wait()
            while (start := time.perf_counter()) < stop_at:
                reply = client.post("/api/v1/budget/check", json=body)
                latencies[n].append((time.perf_counter() - start) * 1000)
                if reply.status_code != 200 or not reply.json()["available"]:
                    refused[n] += 1

    threads = [threading.Thread(target=run, args=(n,)) for n in range(clients)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    flat = [x for per in latencies for x in per]
    if sum(refused):
        print(f"  warning: {sum(refused)} checks were not accepted", file=sys.stderr)
    return Result("", len(flat), elapsed, flat)


WRK_SCRIPT = """
local bodies = {%(bodies)s}
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(token)s"
request = function()
  i = i + 1
  return wrk.format(nil, "/api/v1/budget/check", nil, bodies[(i %% #bodies) + 1])
end
"""


def _wrk_ms(text: str) -> float:
    """wrk prints latencies as 456.00us, 1.23ms or 1.02s."""
    for suffix, factor in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    raise ValueError(f"unexpected wrk latency {text!r}")


def wrk_hammer(url: str, token: str, accounts: list[str], clients: int, seconds: int) -> Result:
    """``clients`` connections from wrk (C): the load generator costs far less CPU than Python."""
    bodies = ", ".join("'" + json.dumps({**CHECK, "account": a}) + "'" for a in accounts)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT % {"bodies": bodies, "token": token})
    out = subprocess.run(
        ["wrk", "-t2", f"-c{clients}", f"-d{seconds}s", "--latency", "-s", script.name, url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    os.unlink(script.name)
    rate = float(
        next(line.split()[1] for line in out.splitlines() if line.startswith("Requests/sec"))
    )
    percent = {
        parts[0]: _wrk_ms(parts[1])
        for parts in (line.split() for line in out.splitlines())
        if len(parts) == 2 and parts[0] in ("50%", "99%")
    }
    # wrk reports percentiles, not samples: keep them as a two-point latency list
    result = Result("", int(rate * seconds), float(seconds), [])
    result.fixed = (percent.get("50%", float("nan")), percent.get("99%", float("nan")))
    return result


def start_daemon(url: str, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {
        **os.environ,
        "ASBB_DATABASE__URL": url,
        "ASBB_DATABASE__POOL_SIZE": "20",
        "ASBB_DAEMON__PORT": str(port),
        "ASBB_DAEMON__WORKERS": str(workers),
        "ASBB_DAEMON__SWEEP_INTERVAL_SECONDS": "0",
        "ASBB_DAEMON__LOG_LEVEL": "warning",
        "ASBB_PARTITIONS": '{"aws-cpu": {"per_cpu_hour": "0.05"}}',
        "ASBB_DEFAULT_PARTITION": "aws-cpu",
    }
    exe = Path(sys.executable).parent / "asbb-daemon"
    proc = subprocess.Popen([str(exe)], env=env, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    sys.exit("asbb-daemon did not become healthy")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10, help="length of each run")
    parser.add_argument("--workers", type=int, default=2, help="asbb-daemon worker processes")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument(
        "--python-client",
        action="store_true",
        help="generate concurrent load with Python threads even when wrk is installed",
    )
    args = parser.parse_args()

    server = find_server()
    try:
        print("pgbench ...", file=sys.stderr)
        pg_single, pg_many = pgbench(server, args.seconds)

        name = server.create_database(prefix="asbb_bench")
        url = server.url(name)
        upgrade(url)
        db = Database(url)
        settings = Settings(database={"url": url})
        ledger = Ledger(db, settings)
        ctx = Context(actor="bench", source=Source.CLI)
        for n in range(16):
            ledger.create_account(f"acct{n:02d}", ctx=ctx, limit="100000000")
        ledger.create_account("hot", ctx=ctx, limit="100000000")
        token = Tokens(db).create("bench", "plugin", actor="bench").secret
        db.dispose()

        proc, base = start_daemon(url, args.workers)
        try:
            print("asbb sequential ...", file=sys.stderr)
            hammer(base, token, lambda n: "acct00", 1, 2)  # warm up
            seq = hammer(base, token, lambda n: "acct00", 1, args.seconds)
            names = [f"acct{n:02d}" for n in range(16)]
            if shutil.which("wrk") and not args.python_client:
                load = "wrk"
                print("asbb 16 clients (wrk), 16 accounts ...", file=sys.stderr)
                spread = wrk_hammer(base, token, names, 16, args.seconds)
                print("asbb 16 clients (wrk), one account ...", file=sys.stderr)
                hot = wrk_hammer(base, token, ["hot"], 16, args.seconds)
            else:
                load = "python threads"
                print("asbb 16 clients, 16 accounts ...", file=sys.stderr)
                spread = hammer(base, token, lambda n: names[n], 16, args.seconds)
                print("asbb 16 clients, one account ...", file=sys.stderr)
                hot = hammer(base, token, lambda n: "hot", 16, args.seconds)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        server.drop_database(name)
    finally:
        server.stop()

    def row(label: str, r: Result) -> tuple[str, float | None, float | None, float]:
        return (label, r.pct(0.5), r.pct(0.99), r.per_second)

    rows = [
        row("pgbench TPC-B, 1 client", pg_single),
        ("pgbench TPC-B, 16 clients", None, None, pg_many.per_second),
        row("asbb check+hold, sequential", seq),
        row("asbb check+hold, 16 clients / 16 accounts", spread),
        row("asbb check+hold, 16 clients / 1 account", hot),
    ]
    ratios = [
        ("sequential p50 / pgbench p50", seq.pct(0.5) / pg_single.pct(0.5), "<= 1.2"),
        ("sequential p99 / pgbench p50", seq.pct(0.99) / pg_single.pct(0.5), "<= 3"),
        ("16 accounts holds/s / pgbench tps", spread.per_second / pg_many.per_second, ">= 1"),
        ("1 account holds/s / pgbench tps", hot.per_second / pg_many.per_second, ">= 1"),
    ]
    machine = (
        f"{platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"concurrent load from {load}"
    )
    if args.markdown:
        print(f"Machine: {machine}; asbb-daemon workers: {args.workers}; {args.seconds}s runs\n")
        print("| run | p50 ms | p99 ms | per second |\n|---|---|---|---|")
        for label, p50, p99, rate in rows:
            f = lambda v: f"{v:.2f}" if v is not None else ""  # noqa: E731
            print(f"| {label} | {f(p50)} | {f(p99)} | {rate:.0f} |")
        print("\n| ratio | measured | target |\n|---|---|---|")
        for label, value, target in ratios:
            print(f"| {label} | {value:.2f} | {target} |")
    else:
        print(machine)
        for label, p50, p99, rate in rows:
            p = f"p50 {p50:6.2f} ms  p99 {p99:6.2f} ms" if p50 is not None else " " * 30
            print(f"{label:45s} {p}  {rate:8.0f}/s")
        for label, value, target in ratios:
            print(f"{label:45s} {value:6.2f}  (target {target})")


if __name__ == "__main__":
    main()
