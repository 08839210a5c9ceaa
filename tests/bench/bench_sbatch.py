"""Benchmark: what the asbb job_submit.lua plugin adds to each ``sbatch``.

One run, one real single-node Slurm cluster (tests/slurm/cluster.py) and one asbb-daemon:

1. plugin on, budgeted partition ``aws``: each sbatch makes a budget check (HTTP + hold);
2. plugin on, unbudgeted partition ``local``: the plugin answers without a network call;
3. plugin off (JobSubmitPlugins removed, slurmctld restarted), partition ``aws``.

Every job is submitted held (``--hold``) so none runs; each phase is cancelled afterwards.
Times are wall-clock per ``sbatch`` process (fork + exec + RPC + plugin), sequential.

    .venv/bin/python -m tests.bench.bench_sbatch [-n 100] [--markdown]

Needs root, the Slurm packages (installed if missing), MariaDB on 127.0.0.1:3306 and
PostgreSQL (see tests/pgserver.py).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time

from tests.slurm.cluster import SlurmCluster, ensure_packages


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def phase(cluster: SlurmCluster, n: int, partition: str, warmup: int = 5) -> list[float]:
    args = ["sbatch", "--parsable", "--hold", "-o", "/dev/null", "-p", partition]
    args += ["-A", "rich", "-c", "1", "-t", "10", "--wrap", "true"]
    latencies: list[float] = []
    for i in range(warmup + n):
        began = time.perf_counter()
        done = subprocess.run(args, env=cluster.env, cwd=cluster.work, capture_output=True)
        elapsed = (time.perf_counter() - began) * 1000
        if done.returncode != 0:
            sys.exit(f"sbatch failed: {done.stderr.decode().strip()}")
        if i >= warmup:
            latencies.append(elapsed)
    cluster.cancel_all()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=100, help="sbatch calls per phase")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench_sbatch needs root (it runs slurmctld, slurmd, slurmdbd, munged)")

    ensure_packages()
    # a limit large enough for every hold of the run
    cluster = SlurmCluster(accounts={"rich": "1000000.00"})
    try:
        began = time.monotonic()
        cluster.start()
        print(f"cluster up in {time.monotonic() - began:.1f}s", file=sys.stderr)
        print(f"plugin on, aws x{args.n} ...", file=sys.stderr)
        on_aws = phase(cluster, args.n, "aws")
        print(f"plugin on, local x{args.n} ...", file=sys.stderr)
        on_local = phase(cluster, args.n, "local")
        cluster.restart_slurmctld(plugin=False)
        print(f"plugin off, aws x{args.n} ...", file=sys.stderr)
        off = phase(cluster, args.n, "aws")
    finally:
        cluster.stop()

    base = statistics.median(off)
    rows = [
        ("no plugin (JobSubmitPlugins unset), aws", off),
        ("plugin, unbudgeted partition (local)", on_local),
        ("plugin, budgeted partition (aws): check + hold", on_aws),
    ]
    machine = f"{platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}"
    if args.markdown:
        print(f"Machine: {machine}; Slurm 22.05; {args.n} sequential sbatch calls per row\n")
        print("| sbatch | median ms | p90 ms | overhead vs no plugin (median) |")
        print("|---|---|---|---|")
        for label, values in rows:
            med = statistics.median(values)
            print(
                f"| {label} | {med:.2f} | {pct(values, 0.9):.2f} | "
                f"{(med - base) / base * 100:+.0f}% ({med - base:+.2f} ms) |"
            )
    else:
        print(machine)
        for label, values in rows:
            med = statistics.median(values)
            print(
                f"{label:50s} median {med:6.2f} ms  p90 {pct(values, 0.9):6.2f} ms  "
                f"overhead {(med - base) / base * 100:+5.0f}%"
            )


if __name__ == "__main__":
    main()
