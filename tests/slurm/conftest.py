"""Fixtures for end-to-end tests on a real single-node Slurm cluster (``tests/slurm/cluster.py``).

Fixture API (keep it small; other test modules rely on it):

``slurm_cluster`` (session scope) -> ``tests.slurm.cluster.SlurmCluster``, started once:
    .url                  the asbb-daemon's base URL (``http://127.0.0.1:<port>``)
    .token                the plugin token (also in .token_file, mode 0600)
    .db / .ledger         ``asbb_core`` Database / Ledger on the daemon's PostgreSQL database
    .settings             the daemon's Settings (partitions aws, aws-open, local)
    .db_url               the daemon's database URL
    .slurm_conf / .etc    slurm.conf path / its folder (job_submit.lua, asbb_plugin.conf, ...)
    .plugin_conf          asbb_plugin.conf (url, token_file, timeout_ms, budgeted, policy.*)
    .asbx_dir             aws-slurm-burst's export folder, ingested by the daemon every second
    .env                  environment for Slurm commands (SLURM_CONF set)
    .work / .log          folder jobs are submitted from / daemon logs (slurmctld.log, ...)
    .sbatch(args, user=None) -> (returncode, job_id | None, stderr)   [sbatch --parsable]
    .scontrol_show_job(job_id) -> dict  (scontrol's key names, read with squeue -O; {} if unknown)
    .wait_for_state(job_id, states, timeout=30) -> state   (TimeoutError otherwise)
    .sacct(job_id) -> dict  (the allocation line: JobID, State, Elapsed, AllocTRES, AdminComment..)
    .scancel(*job_ids)
    .run(cmd, check=True, user=None) -> CompletedProcess (any Slurm command, cwd=.work)
    .stop_daemon() / .start_daemon()     stop / start asbb-daemon (same port, same database)
    .restart_slurmctld(plugin=None)      restart slurmctld (plugin True/False toggles the Lua)
    .metrics() -> dict / .holds_total() -> float   the daemon's /metrics
    .add_account(name, limit)            ledger account + Slurm account usable by root
    .add_slurm_accounts(names, users=("root",), default=False)   Slurm side only
    .cancel_all()                        scancel every job, wait until none runs
    .timings                             {"install": s, "start": s}
The plugin config (asbb_plugin.conf, beside slurm.conf) has: url, token_file, timeout_ms,
budgeted, default_policy, policy.<partition>, spool_dir (= <tmp>/spool, for the epilog).
The same class runs outside pytest: ``SlurmCluster().start()`` ... ``.stop()`` (see
tests/bench/bench_sbatch.py).
Accounts ready at start: ``rich`` (limit 1000.00) and ``poor`` (limit 0.10), root may use both.
Partitions: ``local`` (Default, unbudgeted), ``aws`` (0.50/cpu-h, 3.00/gpu-h, fail-closed),
``aws-open`` (same rates, fail-open); DefaultTime=10 min on aws*; node has 2 fake GPUs.
slurm.conf's EpilogSlurmctld is ``plugin/epilog_reconcile.py`` when that file exists (it must
be executable: slurmctld runs it directly, as root, with a bare environment).

The cluster is skipped (not failed) only when the Slurm packages cannot be installed.
Set ASBB_SLURM_KEEP=1 to keep the temporary folder (logs) after the session.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.slurm.cluster import SlurmCluster, SlurmUnavailableError, ensure_packages


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[SlurmCluster]:
    if os.geteuid() != 0:
        pytest.skip("the Slurm cluster tests need root")
    try:
        ensure_packages()
    except SlurmUnavailableError as exc:
        pytest.skip(f"Slurm is not available: {exc}")
    cluster = SlurmCluster()
    try:
        cluster.start()
    except BaseException:
        cluster.stop()
        raise
    yield cluster
    cluster.stop()


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # One Slurm cluster per test run: every test that uses it runs on the same xdist worker
    # (``--dist loadgroup``), so the cluster is started once and never shared across workers.
    for item in items:
        if "slurm_cluster" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("slurm"))
