"""A real single-node Slurm 22.05 cluster plus a real ``asbb-daemon``, for end-to-end tests.

Everything lives in one temporary folder and is started as root, by PID, without systemd:
munged (on its own socket, so other clusters on the machine are not disturbed), slurmdbd (on
the MariaDB already listening on 127.0.0.1:3306, in a database of its own), slurmctld and
slurmd (ports chosen free), and asbb-daemon (on a fresh, migrated PostgreSQL database).
``stop()`` kills exactly those PIDs, drops both databases and deletes the folder.

Partitions: ``local`` (the default, unbudgeted), ``aws`` (budgeted, fail-closed) and
``aws-open`` (budgeted, fail-open); the node has 2 fake GPUs. ``plugin/job_submit.lua`` is
installed beside slurm.conf with its config (``asbb_plugin.conf``) and token file (0600).

Used by ``tests/slurm/conftest.py`` and ``tests/bench/bench_sbatch.py``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_LUA = ROOT / "plugin" / "job_submit.lua"
EPILOG = ROOT / "plugin" / "epilog_reconcile.py"

PACKAGES = [
    "slurmctld",
    "slurmd",
    "slurm-client",
    "slurmdbd",
    "munge",
    "lua-socket",
    "slurm-wlm-basic-plugins",
]
NEEDED_FILES = [
    "/usr/sbin/slurmctld",
    "/usr/sbin/slurmd",
    "/usr/sbin/slurmdbd",
    "/usr/sbin/munged",
    "/usr/bin/sbatch",
    "/usr/bin/sacctmgr",
    "/usr/share/lua/5.1/socket/http.lua",
]
LUA_PLUGIN_GLOB = "/usr/lib/*/slurm-wlm/job_submit_lua.so"

# What the daemon prices, and what the plugin config says about each partition.
PARTITIONS: dict[str, dict[str, Any]] = {
    "aws": {"per_cpu_hour": "0.50", "per_gpu_hour": "3.00", "fail_policy": "closed"},
    "aws-open": {"per_cpu_hour": "0.50", "per_gpu_hour": "3.00", "fail_policy": "open"},
    "local": {"budgeted": False},
}
# Slurm accounts created at start (and in the ledger with these limits).
ACCOUNTS: dict[str, str] = {"rich": "1000.00", "poor": "0.10"}

MARIADB = {"host": "127.0.0.1", "port": 3306, "user": "root"}


class SlurmUnavailableError(RuntimeError):
    """The Slurm packages are missing and apt could not install them."""


def _free_port() -> int:
    """A free port below the kernel's ephemeral range (32768 and up on Linux): the daemons
    bind it a while after it is chosen, and the other test workers' servers and clients take
    ephemeral ports all the time, so a port from that range could be gone by then."""
    import random

    for _ in range(200):
        port = random.randint(20000, 32000)
        with socket.socket() as s, contextlib.suppress(OSError):
            s.bind(("127.0.0.1", port))
            return port
    raise RuntimeError("no free port between 20000 and 32000")


def _have_packages() -> bool:
    import glob

    return all(Path(p).exists() for p in NEEDED_FILES) and bool(glob.glob(LUA_PLUGIN_GLOB))


def ensure_packages() -> float:
    """Install the Slurm packages if missing; returns the seconds spent (0 if present).

    Raises ``SlurmUnavailableError`` when apt cannot install them.
    """
    if _have_packages():
        return 0.0
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise SlurmUnavailableError("Slurm is not installed and we cannot apt-get install it")
    began = time.monotonic()
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    policy = Path("/usr/sbin/policy-rc.d")
    made_policy = False
    if not policy.exists():  # keep postinst scripts from starting the packaged daemons
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
        made_policy = True
    try:
        for cmd in (
            ["apt-get", "update", "-qq"],
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *PACKAGES],
        ):
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
            if done.returncode != 0:
                raise SlurmUnavailableError(
                    f"{' '.join(cmd[:2])} failed ({done.returncode}): {done.stderr.strip()[-500:]}"
                )
    finally:
        if made_policy:
            policy.unlink(missing_ok=True)
    if not _have_packages():
        raise SlurmUnavailableError("apt-get install succeeded but Slurm files are still missing")
    return time.monotonic() - began


def _mariadb(sql: str) -> None:
    subprocess.run(
        [
            "mariadb",
            "-h",
            MARIADB["host"],
            "-P",
            str(MARIADB["port"]),
            "-u",
            MARIADB["user"],
            "-e",
            sql,
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )


# What scontrol_show_job reads (squeue -O names; only fields no user can set, so a forged
# JobName, Comment or working folder cannot shift them), under the names scontrol gives them.
SHOWN_FIELDS = {
    "JobID": "JobId",
    "ArrayJobID": "ArrayJobId",
    "ArrayTaskID": "ArrayTaskId",
    "State": "JobState",
    "TimeUsed": "RunTime",
    "TimeLimit": "TimeLimit",
    "StartTime": "StartTime",
    "EndTime": "EndTime",
    "Account": "Account",
    "Partition": "Partition",
    "NodeList": "NodeList",
    "tres-alloc": "TRES",
    "Reason": "Reason",
    "UserName": "UserName",
}


def as_scontrol_duration(text: str) -> str:
    """squeue's ``10:00`` / ``2:00:00`` / ``1-00:00:00`` as scontrol prints it
    (``00:10:00``, ``02:00:00``, ``1-00:00:00``); other words (``UNLIMITED``) unchanged."""
    from asbb_core.integrations.slurm import parse_elapsed

    elapsed = parse_elapsed(text)
    if elapsed is None:
        return text
    hours, rest = divmod(int(elapsed.total_seconds()) - elapsed.days * 86400, 3600)
    clock = f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"
    return f"{elapsed.days}-{clock}" if elapsed.days else clock


class SlurmCluster:
    """One cluster + daemon. ``start()`` then use; ``stop()`` always (also after failures)."""

    def __init__(
        self,
        *,
        plugin: bool = True,
        partitions: dict[str, dict[str, Any]] | None = None,
        accounts: dict[str, str] | None = None,
        timeout_ms: int = 2000,
        base: Path | None = None,
    ) -> None:
        self.plugin = plugin
        self.partitions = partitions or PARTITIONS
        self.accounts = accounts if accounts is not None else ACCOUNTS
        self.timeout_ms = timeout_ms
        self.base = base or Path(tempfile.mkdtemp(prefix="asbb-slurm-"))
        self.base.chmod(0o755)  # munge and unprivileged job owners must traverse it
        self.etc = self.base / "etc"
        self.log = self.base / "log"
        self.work = self.base / "work"  # where jobs are submitted from (and run)
        self.slurm_conf = self.etc / "slurm.conf"
        self.plugin_conf = self.etc / "asbb_plugin.conf"
        self.token_file = self.etc / "asbb_plugin.token"
        self.asbx_dir = self.base / "asbx"  # aws-slurm-burst's exports, watched by the daemon
        self.node = socket.gethostname().split(".")[0]
        suffix = uuid.uuid4().hex[:8]
        self.cluster_name = f"asbb{suffix}"
        self.slurm_db = f"asbb_slurm_{suffix}"
        self.ports = {"ctld": _free_port(), "slurmd": _free_port(), "dbd": _free_port()}
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.pids: dict[str, int] = {}  # daemons we must kill by PID (munged forks off runuser)
        self.env = {**os.environ, "SLURM_CONF": str(self.slurm_conf)}
        for var in list(self.env):  # a surrounding job's variables would confuse sbatch
            if var.startswith(("SLURM_", "SBATCH_")) and var != "SLURM_CONF":
                del self.env[var]
        self.timings: dict[str, float] = {}
        # Set by start_asbb():
        self.pg_server: Any = None
        self.pg_name: str | None = None
        self.db_url: str | None = None
        self.db: Any = None
        self.ledger: Any = None
        self.settings: Any = None
        self.token: str | None = None
        self.daemon_port = _free_port()
        self.url = f"http://127.0.0.1:{self.daemon_port}"

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> SlurmCluster:
        t0 = time.monotonic()
        self.timings["install"] = ensure_packages()
        for d in ("etc", "log", "work", "spool", "state/ctld", "state/d", "dev", "munge"):
            (self.base / d).mkdir(parents=True, exist_ok=True)
        (self.base / "work").chmod(0o1777)
        self.start_asbb()
        self.write_configs()
        self.start_munge()
        self.start_slurmdbd()
        self.setup_associations()
        self.start_slurmctld()
        self.start_slurmd()
        self.wait_idle()
        self.timings["start"] = time.monotonic() - t0 - self.timings["install"]
        return self

    def stop(self) -> None:
        if "slurmctld" in self.procs and "slurmd" in self.procs:
            with contextlib.suppress(Exception):
                self.cancel_all()
        for name in ("slurmd", "slurmctld", "slurmdbd", "asbb-daemon", "munged"):
            self._kill(name)
        with contextlib.suppress(Exception):
            if self.db is not None:
                self.db.dispose()
        with contextlib.suppress(Exception):
            if self.pg_server is not None and self.pg_name:
                self.pg_server.drop_database(self.pg_name)
        with contextlib.suppress(Exception):
            if self.pg_server is not None:
                self.pg_server.stop()
        with contextlib.suppress(Exception):
            _mariadb(f"DROP DATABASE IF EXISTS `{self.slurm_db}`")
        if not os.environ.get("ASBB_SLURM_KEEP"):
            shutil.rmtree(self.base, ignore_errors=True)

    def cancel_all(self, timeout: float = 20) -> None:
        """Cancel every job and wait until none is running (so no slurmstepd outlives us)."""
        ids = self.run(["squeue", "-h", "-o", "%i"], check=False).stdout.split()
        if ids:
            self.run(["scancel", *ids], check=False)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = self.run(["squeue", "-h", "-o", "%T"], check=False).stdout.split()
            if not any(s in ("RUNNING", "COMPLETING", "CONFIGURING") for s in states):
                return
            time.sleep(0.2)

    def _kill(self, name: str, timeout: float = 15) -> None:
        proc = self.procs.pop(name, None)
        pid = self.pids.pop(name, None)
        if pid is None and proc is not None:
            pid = proc.pid
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc is not None and proc.pid == pid:
                if proc.poll() is not None:
                    return
            else:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
            time.sleep(0.05)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)

    def _spawn(self, name: str, cmd: Sequence[str], env: dict[str, str] | None = None) -> None:
        out = open(self.log / f"{name}.out", "ab")  # noqa: SIM115 - kept for the child's life
        self.procs[name] = subprocess.Popen(
            list(cmd),
            env=env or self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self.base,
            start_new_session=True,
        )
        out.close()

    def _wait(self, what: str, check: Any, timeout: float = 60, proc: str | None = None) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                if check():
                    return
            if proc and self.procs.get(proc) and self.procs[proc].poll() is not None:
                raise RuntimeError(f"{proc} exited: {self.tail(proc)}")
            time.sleep(0.1)
        raise RuntimeError(f"timed out waiting for {what}: {self.tail(proc) if proc else ''}")

    def tail(self, name: str, lines: int = 30) -> str:
        text = ""
        for f in (self.log / f"{name}.log", self.log / f"{name}.out"):
            if f.exists():
                text += "\n".join(f.read_text(errors="replace").splitlines()[-lines:]) + "\n"
                break
        return text

    # ------------------------------------------------------------------ configs
    def budgeted(self) -> list[str]:
        return [p for p, cfg in self.partitions.items() if cfg.get("budgeted", True)]

    def write_configs(self) -> None:
        ncpu = os.cpu_count() or 1
        mem = int(Path("/proc/meminfo").read_text().split()[1]) // 1024 // 2
        for n in (0, 1):
            (self.base / "dev" / f"gpu{n}").touch()
        epilog = f"EpilogSlurmctld={EPILOG}\n" if EPILOG.exists() else ""
        parts = []
        for name in self.partitions:
            default = "YES" if name == "local" else "NO"
            limits = "MaxTime=INFINITE" if name == "local" else "DefaultTime=10 MaxTime=1440"
            parts.append(f"PartitionName={name} Nodes=ALL Default={default} {limits} State=UP")
        plugin_line = "JobSubmitPlugins=lua\n" if self.plugin else ""
        munge = f"socket={self.base / 'munge' / 'munge.sock'}"
        b = self.base
        self.slurm_conf.write_text(
            f"""# written by tests/slurm/cluster.py
ClusterName={self.cluster_name}
SlurmctldHost={self.node}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo={munge}
CredType=cred/munge
StateSaveLocation={b}/state/ctld
SlurmdSpoolDir={b}/state/d
SlurmctldPidFile={b}/state/slurmctld.pid
SlurmdPidFile={b}/state/slurmd.pid
SlurmctldLogFile={self.log}/slurmctld.log
SlurmdLogFile={self.log}/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
SlurmctldPort={self.ports["ctld"]}
SlurmdPort={self.ports["slurmd"]}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0,sched_interval=1,bf_interval=1
ReturnToService=2
MinJobAge=300
MpiDefault=none
{plugin_line}GresTypes=gpu
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort={self.ports["dbd"]}
AccountingStoragePass={b}/munge/munge.sock
AccountingStorageEnforce=associations
AccountingStoreFlags=job_comment
AccountingStorageTRES=gres/gpu
JobAcctGatherType=jobacct_gather/linux
{epilog}NodeName={self.node} NodeAddr=127.0.0.1 CPUs={ncpu} RealMemory={mem} Gres=gpu:2 \
State=UNKNOWN
"""
            + "\n".join(parts)
            + "\n"
        )
        (self.etc / "gres.conf").write_text(
            f"NodeName={self.node} Name=gpu File={self.base}/dev/gpu[0-1]\n"
        )
        dbd = self.etc / "slurmdbd.conf"
        dbd.write_text(
            f"""AuthType=auth/munge
AuthInfo={munge}
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort={self.ports["dbd"]}
SlurmUser=root
LogFile={self.log}/slurmdbd.log
PidFile={b}/state/slurmdbd.pid
DebugLevel=info
StorageType=accounting_storage/mysql
StorageHost={MARIADB["host"]}
StoragePort={MARIADB["port"]}
StorageUser={MARIADB["user"]}
StorageLoc={self.slurm_db}
"""
        )
        dbd.chmod(0o600)  # slurmdbd refuses a readable one
        self.write_plugin_files()

    def write_plugin_files(self) -> None:
        """job_submit.lua (a copy of plugin/job_submit.lua), its config and token file."""
        shutil.copyfile(PLUGIN_LUA, self.etc / "job_submit.lua")
        lines = [
            "# written by tests/slurm/cluster.py",
            f"url = {self.url}",
            f"token_file = {self.token_file}",
            f"timeout_ms = {self.timeout_ms}",
            f"budgeted = {', '.join(self.budgeted())}",
            "default_policy = closed",
            f"spool_dir = {self.base / 'spool'}",  # for plugin/epilog_reconcile.py
        ]
        for name, cfg in self.partitions.items():
            if cfg.get("budgeted", True):
                lines.append(f"policy.{name} = {cfg.get('fail_policy', 'closed')}")
        self.plugin_conf.write_text("\n".join(lines) + "\n")
        self.plugin_conf.chmod(0o644)

    # ------------------------------------------------------------------ daemons
    def start_munge(self) -> None:
        d = self.base / "munge"
        shutil.chown(d, "munge", "munge")
        d.chmod(0o755)
        self._spawn(
            "munged-runuser",
            [
                "runuser",
                "-u",
                "munge",
                "--",
                "/usr/sbin/munged",
                "-F",
                f"--socket={d}/munge.sock",
                f"--pid-file={d}/munged.pid",
                f"--log-file={d}/munged.log",
                f"--seed-file={d}/munged.seed",
            ],
        )
        pidfile = d / "munged.pid"
        self._wait("munged", lambda: pidfile.exists() and pidfile.read_text().strip(), 20)
        self.pids["munged"] = int(pidfile.read_text().strip())
        self.procs["munged"] = self.procs.pop("munged-runuser")  # reaped after the kill
        sock = str(d / "munge.sock")

        def ok() -> bool:
            enc = subprocess.run(["munge", "-S", sock, "-n"], capture_output=True, timeout=5)
            return (
                subprocess.run(
                    ["unmunge", "-S", sock], input=enc.stdout, capture_output=True, timeout=5
                ).returncode
                == 0
            )

        self._wait("munge credentials", ok, 20)

    def start_slurmdbd(self) -> None:
        self._spawn("slurmdbd", ["/usr/sbin/slurmdbd", "-D"])
        self._wait(
            "slurmdbd",
            lambda: self.run(["sacctmgr", "-n", "show", "cluster"], check=False).returncode == 0,
            90,
            "slurmdbd",
        )

    def setup_associations(self) -> None:
        self.run(["sacctmgr", "-i", "add", "cluster", self.cluster_name])
        if self.accounts:
            self.add_slurm_accounts(self.accounts, default=True)

    def add_slurm_accounts(
        self, names: Iterable[str], users: Sequence[str] = ("root",), *, default: bool = False
    ) -> None:
        """Slurm accounts ``names`` usable by ``users``; ``default``: the first becomes their
        default account (needed for a new user; later calls keep the existing default).
        Idempotent: associations that exist already are fine (sacctmgr exits 1 for them)."""
        names = list(names)
        self.run(  # fails harmlessly for accounts that exist already
            ["sacctmgr", "-i", "add", "account", ",".join(names), "Description=t", "Org=t"],
            check=False,
        )
        for user in users:
            extra = [f"DefaultAccount={names[0]}"] if default else []
            cmd = ["sacctmgr", "-i", "add", "user", user, f"Account={','.join(names)}", *extra]
            done = self.run(cmd, check=False)
            shown = self.run(
                ["sacctmgr", "-n", "-P", "show", "assoc", f"user={user}", "format=Account"]
            ).stdout.split()
            if done.returncode != 0 and not set(names) <= set(shown):
                raise RuntimeError(f"{' '.join(cmd)} -> {done.returncode}: {done.stderr.strip()}")

    def start_slurmctld(self, *, clear: bool = True) -> None:
        cmd = ["/usr/sbin/slurmctld", "-D", "-i"] + (["-c"] if clear else [])
        self._spawn("slurmctld", cmd)
        self._wait(
            "slurmctld",
            lambda: self.run(["scontrol", "ping"], check=False).stdout.count("UP") >= 1,
            60,
            "slurmctld",
        )

    def restart_slurmctld(self, *, plugin: bool | None = None) -> None:
        """Restart slurmctld (keeping its jobs), optionally with the plugin on or off."""
        if plugin is not None and plugin != self.plugin:
            self.plugin = plugin
            self.write_configs()
        self._kill("slurmctld")
        self.start_slurmctld(clear=False)
        self.wait_idle()

    def start_slurmd(self) -> None:
        self._spawn("slurmd", ["/usr/sbin/slurmd", "-D", "-N", self.node])

    def wait_idle(self, timeout: float = 60) -> None:
        self._wait(
            "the node to be idle",
            lambda: "idle" in self.run(["sinfo", "-h", "-o", "%T"]).stdout.split(),
            timeout,
            "slurmd",
        )

    # ------------------------------------------------------------------ asbb
    def start_asbb(self) -> None:
        from asbb_core.access.tokens import Tokens
        from asbb_core.ledger import Ledger
        from asbb_core.settings import Settings
        from asbb_core.store.database import Database
        from asbb_core.store.migrate import upgrade
        from asbb_core.values.context import Context, Source
        from tests.pgserver import find_server

        self.pg_server = find_server()
        self.pg_name = self.pg_server.create_database(prefix="asbb_slurm")
        self.db_url = self.pg_server.url(self.pg_name)
        upgrade(self.db_url)
        self.settings = Settings(
            database={"url": self.db_url},
            partitions=self.partitions,
            default_partition="local",
            daemon={"sweep_interval_seconds": 0},
        )
        self.db = Database(self.db_url)
        self.ledger = Ledger(self.db, self.settings)
        ctx = Context(actor="slurm-tests", source=Source.CLI)
        for name, limit in self.accounts.items():
            self.ledger.create_account(name, ctx=ctx, limit=limit)
        self.token = Tokens(self.db).create("slurm-plugin", "plugin", actor="slurm-tests").secret
        self.token_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.token + "\n")
        self.start_daemon()

    def start_daemon(self) -> None:
        self.asbx_dir.mkdir(exist_ok=True)
        env = {
            **self.env,  # SLURM_CONF: the daemon finds jobs' holds with squeue/sacct
            "ASBB_DATABASE__URL": str(self.db_url),
            "ASBB_ASBX__SPOOL_DIR": str(self.asbx_dir),
            "ASBB_ASBX__INTERVAL_SECONDS": "1",
            "ASBB_DAEMON__HOST": "127.0.0.1",
            "ASBB_DAEMON__PORT": str(self.daemon_port),
            "ASBB_DAEMON__WORKERS": "1",
            "ASBB_DAEMON__SWEEP_INTERVAL_SECONDS": "0",
            "ASBB_DAEMON__LOG_LEVEL": "warning",
            "ASBB_PARTITIONS": json.dumps(self.partitions),
            "ASBB_DEFAULT_PARTITION": "local",
        }
        exe = Path(sys.executable).parent / "asbb-daemon"
        self._spawn("asbb-daemon", [str(exe)], env=env)
        self._wait(
            "asbb-daemon",
            lambda: httpx.get(f"{self.url}/health", timeout=1).status_code == 200,
            60,
            "asbb-daemon",
        )

    def stop_daemon(self) -> None:
        self._kill("asbb-daemon")

    def metrics(self) -> dict[str, float]:
        """The daemon's /metrics as {'name{labels}': value}."""
        text = httpx.get(f"{self.url}/metrics", timeout=5).text
        out: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                key, _, value = line.rpartition(" ")
                with contextlib.suppress(ValueError):
                    out[key] = float(value)
        return out

    def holds_total(self) -> float:
        """Sum of asbb_holds_total over all outcomes (one per budget check the daemon saw)."""
        return sum(v for k, v in self.metrics().items() if k.startswith("asbb_holds_total"))

    def add_account(self, name: str, limit: str | Decimal = "0") -> None:
        """A new account in the ledger (with this limit) and in Slurm (root may use it)."""
        from asbb_core.values.context import Context, Source

        ctx = Context(actor="slurm-tests", source=Source.CLI)
        self.ledger.create_account(name, ctx=ctx, limit=limit)
        self.add_slurm_accounts([name])

    # ------------------------------------------------------------------ commands
    def run(
        self,
        cmd: Sequence[str],
        *,
        check: bool = True,
        user: str | None = None,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        full = (["runuser", "-u", user, "--"] if user else []) + list(cmd)
        done = subprocess.run(
            full, env=self.env, capture_output=True, text=True, timeout=timeout, cwd=self.work
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"{' '.join(full)} -> {done.returncode}: {done.stderr.strip()}")
        return done

    def sbatch(self, args: Sequence[str], user: str | None = None) -> tuple[int, str | None, str]:
        """``sbatch --parsable <args>``; returns (returncode, job id or None, stderr)."""
        done = self.run(["sbatch", "--parsable", *args], check=False, user=user)
        job_id = done.stdout.strip().split(";")[0] or None if done.returncode == 0 else None
        return done.returncode, job_id, done.stderr

    def scontrol_show_job(self, job_id: str) -> dict[str, str]:
        """The job as slurmctld holds it ({} if it does not), under scontrol's key names:
        JobId, JobState, RunTime, TimeLimit (both ``HH:MM:SS``), StartTime, EndTime, Account,
        Partition, NodeList, TRES, Reason, UserName, AdminComment.

        Read with ``squeue -O`` (``SHOWN_FIELDS``, the raw id again before AdminComment,
        AdminComment last), not ``scontrol show job -o``: its unescaped ``Key=Value`` line
        lets a JobName forge any key. A line that does not check out is an error.
        """
        from asbb_core.integrations.slurm import split_fields, squeue_format

        fields = (*SHOWN_FIELDS, "JobID", "admin_comment")
        done = self.run(
            ["squeue", "-h", "-a", "-t", "all", "-j", str(job_id), "-O", squeue_format(fields)],
            check=False,
        )
        if done.returncode != 0:  # "Invalid job id specified"
            return {}
        for line in done.stdout.splitlines():
            values = split_fields(line, fields)
            if values is None or values[0] != values[-2] or not values[0].isdigit():
                raise AssertionError(f"squeue printed an unexpected line: {line!r}")
            row = dict(zip(fields[:-2], values[:-2], strict=True))
            task = f"{row['ArrayJobID']}_{row['ArrayTaskID']}"
            if str(job_id) not in (row["JobID"], task):  # -j of an array lists every task
                continue
            shown = {SHOWN_FIELDS[name]: value for name, value in row.items()}
            for key in ("RunTime", "TimeLimit"):
                shown[key] = as_scontrol_duration(shown[key])
            comment = values[-1].strip()
            shown["AdminComment"] = "" if comment == "(null)" else comment
            return shown
        return {}

    def wait_for_state(self, job_id: str, states: str | Iterable[str], timeout: float = 30) -> str:
        """Wait until the job's JobState is one of ``states``; returns it."""
        wanted = {states} if isinstance(states, str) else set(states)
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            state = self.scontrol_show_job(job_id).get("JobState", "")
            if state in wanted:
                return state
            time.sleep(0.2)
        raise TimeoutError(f"job {job_id} is {state or 'unknown'}, wanted {sorted(wanted)}")

    def sacct(self, job_id: str, fields: str = "") -> dict[str, str]:
        """The job's allocation line from sacct (not its steps), as a dict ({} if unknown)."""
        fields = fields or (
            "JobID,JobIDRaw,Account,Partition,State,Elapsed,ElapsedRaw,Start,End,"
            "AllocTRES,ReqTRES,Timelimit,NNodes,NCPUS,ExitCode,Comment,AdminComment"
        )
        done = self.run(
            ["sacct", "-X", "-n", "-P", "-j", str(job_id), f"--format={fields}"], check=False
        )
        names = fields.split(",")
        for line in done.stdout.splitlines():
            values = line.split("|")
            if len(values) == len(names):
                return dict(zip(names, values, strict=True))
        return {}

    def scancel(self, *job_ids: str | None) -> None:
        ids = [str(j) for j in job_ids if j]
        if ids:
            self.run(["scancel", *ids], check=False)
