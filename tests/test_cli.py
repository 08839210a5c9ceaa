"""The ``asbb`` command line, driven through the real Typer app against real databases."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner, Result

from asbb_core.ledger import Ledger
from asbb_core.settings import load_settings
from asbb_core.store.database import Database
from asbb_core.values.context import Context
from asbb_tui.cli import app
from tests.wire import loads

BIN = Path(sys.executable).parent


@pytest.fixture(autouse=True)
def isolated(cli_environment: Path) -> Path:
    """No ASBB_* variables from the caller; an empty config file; a private data folder."""
    return cli_environment


def run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def as_json(result: Result) -> dict[str, object]:
    data = loads(result.stdout)
    assert isinstance(data, dict)
    return data


# ---------------------------------------------------------------- help and exit codes


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["console"],
        ["demo"],
        ["database"],
        ["database", "migrate"],
        ["database", "status"],
        ["ledger"],
        ["ledger", "verify"],
        ["config"],
        ["config", "init"],
        ["config", "show"],
        ["config", "validate"],
    ],
    ids=lambda command: " ".join(command) or "asbb",
)
def test_every_command_explains_itself(command: list[str]) -> None:
    result = run(*command, "--help")
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.stdout
    # A sentence of help beyond the usage line.
    assert len(result.stdout.split("Options")[0].strip().splitlines()) >= 2


def test_verify_help_documents_exit_status_4() -> None:
    result = run("ledger", "verify", "--help")
    assert "4" in result.stdout
    assert "discrepancies" in result.stdout


def test_unknown_command_is_a_usage_error() -> None:
    assert run("no-such-command").exit_code == 2


def test_installed_asbb_help_runs() -> None:
    asbb = BIN / "asbb"
    if not asbb.exists():
        pytest.skip("the asbb console script is not installed in this environment")
    done = subprocess.run([str(asbb), "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    for name in ("console", "demo", "database", "ledger", "config"):
        assert name in done.stdout


def test_installed_daemon_explains_its_options() -> None:
    daemon = BIN / "asbb-daemon"
    if not daemon.exists():
        pytest.skip("the asbb-daemon console script is not installed in this environment")
    done = subprocess.run([str(daemon), "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert "--port" in done.stdout
    assert "budget check and reconcile" in done.stdout


def test_library_errors_are_one_line_and_exit_1() -> None:
    # A scheme asbb has no backend for: refused by the settings, before any connection.
    result = run("--database", "oracle://nobody@localhost/x", "database", "status")
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: ")
    assert "database.url" in lines[0]


# ---------------------------------------------------------------- database


def test_migrate_and_status_on_an_empty_database(database_url: str) -> None:
    before = run("--database", database_url, "database", "status", "--json")
    assert before.exit_code == 0, before.output
    data = as_json(before)
    assert data["current"] is None
    assert data["up_to_date"] is False
    pending = data["pending"]
    assert isinstance(pending, list)
    assert pending
    assert pending[-1]["revision"] == data["head"]

    # Nothing that needs the schema runs before it exists; it says what to do.
    refused = run("--database", database_url, "ledger", "verify")
    assert refused.exit_code == 1
    assert "asbb database migrate" in refused.stderr

    migrated = run("--database", database_url, "database", "migrate")
    assert migrated.exit_code == 0, migrated.output

    after = as_json(run("--database", database_url, "database", "status", "--json"))
    assert after["current"] == data["head"]
    assert after["up_to_date"] is True
    assert after["pending"] == []

    again = run("--database", database_url, "database", "migrate")
    assert again.exit_code == 0
    assert "up to date" in again.stderr

    human = run("--database", database_url, "database", "status")
    assert human.exit_code == 0
    assert "up to date" in human.stdout


# ---------------------------------------------------------------- demo and verify


def test_demo_seeds_verifies_and_refuses_to_reseed(database_url: str) -> None:
    seeded = run("demo", "--no-console", "--database", database_url)
    assert seeded.exit_code == 0, seeded.output
    assert "journal rows" in seeded.stdout

    verified = run("--database", database_url, "ledger", "verify", "--json")
    assert verified.exit_code == 0, verified.output
    report = as_json(verified)
    assert report["ok"] is True
    assert report["accounts"] == 8
    assert report["problems"] == []

    again = run("--database", database_url, "demo", "--no-console")
    assert again.exit_code == 0, again.output
    assert "not seeding" in again.stdout
    assert as_json(run("--database", database_url, "ledger", "verify", "--json")) == report

    human = run("--database", database_url, "ledger", "verify")
    assert human.exit_code == 0
    assert f"ledger verified: 8 accounts, {report['holds']} holds" in human.stdout
    assert "no discrepancies" in human.stdout


@pytest.mark.parametrize("backend", ["sqlite"])
def test_demo_reset_starts_a_fresh_sqlite_file(database_url: str) -> None:
    assert run("demo", "--no-console", "--database", database_url).exit_code == 0
    refused = run("demo", "--no-console", "--database", database_url)
    assert "not seeding" in refused.stdout
    fresh = run("demo", "--reset", "--no-console", "--database", database_url)
    assert fresh.exit_code == 0, fresh.output
    assert "not seeding" not in fresh.stdout
    assert "deleted" in fresh.stderr
    report = as_json(run("--database", database_url, "ledger", "verify", "--json"))
    assert report["ok"] is True
    assert report["accounts"] == 8


def test_demo_reset_is_refused_for_postgresql() -> None:
    # Refused before any connection is attempted (port 1: nothing listens there).
    result = run("demo", "--reset", "--no-console", "--database", "postgresql://x@127.0.0.1:1/x")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: --reset only deletes SQLite files")


def test_demo_without_database_uses_its_own_file(tmp_path: Path) -> None:
    result = run("demo", "--no-console")
    assert result.exit_code == 0, result.output
    demo_file = tmp_path / "data" / "asbb" / "demo.sqlite3"
    assert demo_file.exists()
    assert not (tmp_path / "data" / "asbb" / "asbb.sqlite3").exists()


def test_verify_reports_a_corrupted_cached_total(
    db: Database, ledger: Ledger, ctx: Context
) -> None:
    ledger.create_account("ml-proj", ctx=ctx, limit="1000")
    ledger.create_account("chem-dft", ctx=ctx, limit="500")
    ledger.create_hold("ml-proj", "10", ctx=ctx, partition="aws-cpu")
    assert run("--database", db.url, "ledger", "verify").exit_code == 0

    with db.engine.begin() as conn:
        conn.execute(
            text("UPDATE accounts SET held_amount = held_amount + 1 WHERE name = 'ml-proj'")
        )

    human = run("--database", db.url, "ledger", "verify")
    assert human.exit_code == 4, human.output
    assert "ml-proj" in human.stdout
    assert "chem-dft" not in human.stdout

    machine = run("--database", db.url, "ledger", "verify", "--json")
    assert machine.exit_code == 4
    report = as_json(machine)
    assert report["ok"] is False
    problems = report["problems"]
    assert isinstance(problems, list)
    assert {p["subject"] for p in problems} == {"ml-proj"}
    assert {p["field"] for p in problems} == {"held"}


# ---------------------------------------------------------------- config


def test_config_init_writes_a_file_load_settings_reads_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "etc" / "config.toml"
    url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    result = run("--database", url, "config", "init", "--path", str(path))
    assert result.exit_code == 0, result.output
    assert path.read_text(encoding="utf-8").startswith("#")

    monkeypatch.setenv("ASBB_CONFIG", str(path))
    settings = load_settings()
    assert settings.database.url == url
    assert settings.holds.buffer == Decimal("1.2")
    assert settings.holds.timeout_hours == Decimal(168)
    assert set(settings.partitions) == {"aws-cpu", "gpu-aws", "local"}
    assert settings.partitions["gpu-aws"].per_gpu_hour == Decimal("3.06")
    assert settings.partitions["local"].budgeted is False
    assert settings.partitions["aws-cpu"].fail_policy == "closed"
    assert settings.partitions["local"].fail_policy == "open"

    assert run("config", "validate").exit_code == 0
    shown = run("config", "show", "--json")
    assert shown.exit_code == 0
    data = as_json(shown)
    assert data["holds"] == {"buffer": "1.2", "timeout_hours": "168"}
    assert data["partitions"]["gpu-aws"]["per_gpu_hour"] == "3.06"  # type: ignore[index]
    assert run("config", "show").exit_code == 0

    # Never overwrites by accident.
    refused = run("config", "init", "--path", str(path))
    assert refused.exit_code == 1
    assert "--force" in refused.stderr
    assert run("config", "init", "--path", str(path), "--force").exit_code == 0


def test_config_validate_names_the_bad_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "config.toml"
    assert run("config", "init", "--path", str(path)).exit_code == 0
    content = path.read_text(encoding="utf-8")
    assert 'buffer = "1.2"' in content
    path.write_text(content.replace('buffer = "1.2"', "buffer = 0.5"), encoding="utf-8")
    monkeypatch.setenv("ASBB_CONFIG", str(path))

    result = run("config", "validate")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ")
    assert "holds.buffer" in result.stderr
    assert result.stdout == ""


def test_config_show_hides_the_database_password() -> None:
    url = "postgresql://asbb:s3cret@db.example.org/asbb"
    result = run("--database", url, "config", "show", "--json")
    assert result.exit_code == 0, result.output
    assert "s3cret" not in result.stdout
    assert as_json(result)["database"]["url"].startswith("postgresql+psycopg://asbb:")  # type: ignore[index]


def test_version_prints_the_installed_version() -> None:
    from importlib.metadata import version

    done = subprocess.run([str(BIN / "asbb"), "--version"], capture_output=True, text=True)
    assert (done.returncode, done.stdout) == (0, f"asbb {version('asbb')}\n")


@pytest.mark.parametrize("command", [[], ["console"], ["console", "--read-only"]])
def test_no_full_screen_app_without_a_terminal(command: list[str], tmp_path: Path) -> None:
    """cron, a pipe, `ssh host asbb` without -t: one line saying why and what to do, exit 2,
    and not one escape code drawn (stdin and stdout here are a file and a pipe)."""
    url = f"sqlite:///{tmp_path / 'asbb.sqlite3'}"
    assert run("--database", url, "database", "migrate").exit_code == 0
    done = subprocess.run(
        [str(BIN / "asbb"), "--database", url, *command],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert done.stderr.startswith("error: the console needs a terminal")
    assert "ssh -t" in done.stderr
    assert "\x1b" not in done.stderr


@pytest.fixture
def demo_copy(demo_sqlite: Path, tmp_path: Path) -> str:
    import shutil

    path = tmp_path / "demo.sqlite3"
    shutil.copyfile(demo_sqlite, path)
    return f"sqlite:///{path}"


def _through_a_pipe(shell: str, url: str) -> str:
    """``shell`` run by sh, as a person types it: asbb's stdout is a real pipe."""
    done = subprocess.run(
        ["sh", "-c", shell.replace("asbb ", f"{BIN / 'asbb'} --database {url} ", 1)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


def test_a_list_in_a_pipe_is_plain_whole_and_greppable(demo_copy: str) -> None:
    """`asbb account list | grep NAME` finds every account: in a pipe a list prints whole
    values (never `astro-…`), no box and no colour, numbers right-aligned; -P splits fields
    by '|' in plain forms; --noheader drops the header lines."""
    names = [
        line.split("|")[0]
        for line in _through_a_pipe("asbb -P --noheader account list", demo_copy).splitlines()
    ]
    assert len(names) == 8
    assert "astro-survey" in names
    for name in names:
        found = _through_a_pipe(f"asbb account list | grep -F -- {name}", demo_copy)
        assert found.split()[0] == name, found
    table = _through_a_pipe("asbb account list", demo_copy)
    assert "\x1b" not in table
    assert "…" not in table
    assert "┃" not in table
    lines = table.splitlines()
    assert lines[0] == "accounts"  # the title, then the columns' titles
    assert lines[1].split()[:2] == ["name", "status"]
    widths = {len(line) for line in lines[1:]}
    assert len(widths) == 1  # aligned: every line as long, numbers ending in one column
    parsed = _through_a_pipe("asbb -P account list", demo_copy).splitlines()
    assert parsed[0] == "name|status|limit|used|held|available|percent_used"
    astro = dict(zip(parsed[0].split("|"), parsed[1].split("|"), strict=True))
    assert astro["name"] == "astro-survey"
    assert Decimal(astro["limit"]) == Decimal("23500.00")
    bare = _through_a_pipe("asbb --noheader account list", demo_copy).splitlines()
    assert [line.split() for line in bare] == [line.split() for line in lines[2:]]


def test_global_options_work_after_the_command_too(demo_copy: str) -> None:
    """--database, --parsable/-P and --noheader are the root's options, taken wherever they
    are written: the same list either way."""
    before = _through_a_pipe("asbb -P --noheader account list", demo_copy)
    exe = BIN / "asbb"
    after = subprocess.run(
        [str(exe), "account", "list", "--database", demo_copy, "--parsable", "--noheader"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert after == before
    assert after.splitlines()[0].startswith("astro-survey|active|")
    equals = subprocess.run(
        [str(exe), "account", "list", f"--database={demo_copy}", "-P"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert equals.splitlines()[1:] == before.splitlines()


def test_a_commands_own_table_in_a_pipe_is_plain_too(demo_copy: str) -> None:
    """Tables a command draws itself (grant list, grant periods, ...) print plain in a pipe
    and split by '|' with -P, like every list."""
    listed = _through_a_pipe("asbb grant list", demo_copy)
    assert "┃" not in listed
    assert "…" not in listed
    assert "National Science Foundation" in listed  # whole, not "Nati…"
    parsed = _through_a_pipe("asbb -P grant list", demo_copy).splitlines()
    assert parsed[0].split("|")[:3] == ["number", "agency", "PI"]
    assert parsed[1].split("|")[0] == "NSF-2231907"
