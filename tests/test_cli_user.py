"""``asbb quick-check``, ``asbb remaining`` and ``asbb status`` through the real Typer app,
against the daemon served over loopback (SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import getpass
import io
import os
import socket
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import func, select
from typer.testing import CliRunner, Result

from asbb_core.store.models import Hold, JournalEntry
from asbb_core.values.money import format_money
from asbb_tui.cli import app
from asbb_tui.commands import user as user_commands
from tests.wire import D, loads


@pytest.fixture(autouse=True)
def isolated(cli_environment: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No ASBB_* variables from the caller; an empty config file; a private data folder."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.config/asbb/token


@pytest.fixture
def slurm(monkeypatch: pytest.MonkeyPatch) -> dict[tuple[str, ...], list[str]]:
    """What ``sacctmgr -nP ARGS`` answers (nothing unless a test says so)."""
    answers: dict[tuple[str, ...], list[str]] = {}
    monkeypatch.setattr(user_commands, "_sacctmgr", lambda *args: answers.get(args, []))
    return answers


@pytest.fixture
def daemon(live_daemon, ledger, ctx, monkeypatch, slurm):
    """ml-proj (limit 1000, 120.00 held by two of my jobs and one of bob's), physics (50)."""
    ledger.create_account("ml-proj", ctx=ctx, limit="1000")
    ledger.create_account("physics", ctx=ctx, limit="50")
    me = getpass.getuser()
    for job, estimate, who in (("11", "40", me), ("12", "30", me), ("13", "30", "bob")):
        ledger.create_hold("ml-proj", estimate, ctx=ctx, job_id=job, user_name=who)
    ledger.create_hold("physics", "1", ctx=ctx, job_id="14", user_name="bob")
    monkeypatch.setenv("ASBB_URL", live_daemon.url)
    monkeypatch.setenv("ASBB_TOKEN", live_daemon.tokens["reader"])
    return live_daemon


def asbb(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def ok(result: Result, code: int = 0) -> Result:
    assert result.exit_code == code, (result.stdout, result.stderr)
    return result


def data(result: Result, code: int = 0) -> Any:
    return loads(ok(result, code).stdout)


def one_error_line(result: Result, *fragments: str) -> None:
    assert result.exit_code == 1, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def writes(db) -> tuple[int, int]:
    def count(model: Any) -> int:
        return db.read(lambda s: s.exec(select(func.count()).select_from(model)).one())

    return count(JournalEntry), count(Hold)


SHAPE = ["--cpus", "16", "--time", "2h", "-p", "aws-cpu"]


# ---------------------------------------------------------------- quick-check


def test_quick_check_accepts_and_holds_nothing(daemon, ledger):
    before = writes(ledger.db)
    out = ok(asbb("quick-check", "--account", "ml-proj", *SHAPE)).stdout
    assert writes(ledger.db) == before
    # 16 CPUs x $0.05 x 2 h = $1.60, held x 1.2 = $1.92, of 880.00 available
    assert "$1.60" in out
    assert "$1.92" in out
    assert "$878.08" in out
    assert "ACCEPTED: would hold 1.92 for an estimated 1.60" in out


def test_quick_check_json_is_the_hold_check_then_takes(daemon, ledger):
    shape = ["--nodes", "2", "--cpus", "8", "--gpus", "3", "--memory", "64G", "--time", "90m"]
    quote = data(asbb("quick-check", "-A", "ml-proj", "-p", "gpu-aws", *shape, "--json"))
    assert quote["would_accept"] is True
    body = {
        "account": "ml-proj",
        "partition": "gpu-aws",
        "nodes": 2,
        "cpus": 8,
        "gpus": 3,
        "memory": "64G",
        "wall_time": "01:30:00",
    }
    with daemon.client("plugin") as plugin:
        check = plugin.post("/api/v1/budget/check", json=body).json()
    hold = ledger.get_hold(check["transaction_id"])
    # (8 x 0.05 + 3 x 3.06) x 1.5 h = 14.37; held x 1.2 = 17.244 -> 17.24
    assert (quote["estimated_cost"], quote["hold_amount"]) == (D("14.37"), D("17.24"))
    assert Decimal(quote["hold_amount"]) == hold.amount
    assert quote["budget_remaining"] == check["budget_remaining"]
    assert quote["partition"] == hold.partition == "gpu-aws"
    assert quote["details"]["breakdown"] == check["details"]["breakdown"]


def test_quick_check_refused_exits_3(daemon, ledger):
    before = writes(ledger.db)
    result = asbb("quick-check", "-A", "physics", "--cpus", "512", "--time", "2h")
    ok(result, 3)
    assert "REFUSED: account physics has $48.80 available" in result.stdout
    quote = data(asbb("quick-check", "-A", "physics", "--cpus", "512", "-t", "2h", "--json"), 3)
    assert (quote["would_accept"], quote["hold_amount"], quote["budget_remaining"]) == (
        False,
        D("61.44"),
        D("48.80"),
    )
    assert writes(ledger.db) == before


def test_quick_check_refuses_a_suspended_account(daemon, ledger, ctx):
    ledger.update_account("physics", ctx=ctx, status="suspended")
    result = ok(asbb("quick-check", "-A", "physics", "-t", "1h"), 3)
    assert "REFUSED: account physics is suspended" in result.stdout


def test_unbudgeted_partition_is_accepted_as_check_would(daemon):
    # a partition marked budgeted = false is let through without a hold
    out = ok(asbb("quick-check", "-A", "ml-proj", "-t", "1h", "-p", "local")).stdout
    assert "ACCEPTED: partition local is not budgeted" in out


def test_an_unknown_partition_is_refused_as_check_would(daemon):
    # fail safe: a typo or a partition the settings do not name is refused, with the fix
    for partition in ("nowhere", "LOCAL", "aws-cpu "):
        out = ok(asbb("quick-check", "-A", "ml-proj", "-t", "1h", "-p", partition), 3).stdout
        assert "REFUSED" in out
        assert f"add [partitions.{partition}]" in out


def test_account_and_partition_from_the_environment(daemon, monkeypatch):
    monkeypatch.setenv("ASBB_ACCOUNT", "physics")
    monkeypatch.setenv("ASBB_DEFAULT_PARTITION", "gpu-aws")
    quote = data(asbb("quick-check", "--gpus", "1", "-t", "1h", "--json"))
    assert (quote["account"], quote["partition"]) == ("physics", "gpu-aws")
    assert quote["estimated_cost"] == D("3.11")  # 1 GPU x 3.06 + 1 CPU x 0.05, one hour
    # options beat the environment; no partition at all is the daemon's default (aws-cpu)
    monkeypatch.delenv("ASBB_DEFAULT_PARTITION")
    quote = data(asbb("quick-check", "-A", "ml-proj", "-t", "1h", "--json"))
    assert (quote["account"], quote["partition"]) == ("ml-proj", "aws-cpu")


def test_account_from_the_slurm_default(daemon, slurm):
    slurm[("show", "user", getpass.getuser(), "format=DefaultAccount")] = ["physics"]
    assert data(asbb("quick-check", "-t", "1h", "--json"))["account"] == "physics"


def test_no_account_anywhere(daemon):
    one_error_line(asbb("quick-check", "-t", "1h"), "name an account: --account or ASBB_ACCOUNT")
    one_error_line(asbb("remaining"), "name an account")
    one_error_line(asbb("status"), "name an account")


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["-A", "ghost", "-t", "1h"], ["account 'ghost' does not exist"]),
        (["-A", "ml-proj", "-t", "soon"], ["time:", "soon"]),
        (["-A", "ml-proj", "-t", "1h", "--memory", "lots"], ["memory:", "lots"]),
    ],
    ids=["unknown-account", "bad-time", "bad-memory"],
)
def test_quick_check_errors_exit_1(daemon, ledger, args, fragments):
    before = writes(ledger.db)
    one_error_line(asbb("quick-check", *args), *fragments)
    assert writes(ledger.db) == before


def test_usage_errors_exit_2(daemon):
    assert asbb("quick-check", "-A", "ml-proj").exit_code == 2  # --time is required
    assert asbb("quick-check", "-A", "ml-proj", "-t", "1h", "--cpus", "0").exit_code == 2
    assert asbb("status", "-A", "ml-proj", "--json", "--csv").exit_code == 2


# ---------------------------------------------------------------- where the daemon is


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_daemon_down_exits_1(daemon, monkeypatch):
    down = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("ASBB_URL", down)
    for args in (["quick-check", "-A", "ml-proj", "-t", "1h"], ["remaining", "ml-proj"]):
        one_error_line(asbb(*args), f"cannot reach the asbb daemon at {down}")


def test_url_option_beats_the_environment(daemon, monkeypatch):
    monkeypatch.setenv("ASBB_URL", f"http://127.0.0.1:{free_port()}")
    assert "ml-proj: " in ok(asbb("remaining", "ml-proj", "--url", daemon.url)).stdout


def test_url_from_the_settings(daemon, monkeypatch, tmp_path):
    monkeypatch.delenv("ASBB_URL")
    port = daemon.url.rsplit(":", 1)[1]
    config = tmp_path / "asbb.toml"
    config.write_text(f'[daemon]\nhost = "0.0.0.0"\nport = {port}\n', encoding="utf-8")
    monkeypatch.setenv("ASBB_CONFIG", str(config))
    assert "ml-proj: " in ok(asbb("remaining", "ml-proj")).stdout


def test_token_from_a_file(daemon, monkeypatch, tmp_path):
    monkeypatch.delenv("ASBB_TOKEN")
    one_error_line(asbb("remaining", "ml-proj"), "authentication required", "ASBB_TOKEN")
    token = tmp_path / "token"
    token.write_text(daemon.tokens["reader"] + "\n", encoding="utf-8")
    monkeypatch.setenv("ASBB_TOKEN_FILE", str(token))
    ok(asbb("remaining", "ml-proj"))
    monkeypatch.delenv("ASBB_TOKEN_FILE")
    default = Path(os.environ["HOME"]) / ".config" / "asbb" / "token"
    default.parent.mkdir(parents=True)
    default.write_text(daemon.tokens["reader"], encoding="utf-8")
    ok(asbb("remaining", "ml-proj"))
    monkeypatch.setenv("ASBB_TOKEN_FILE", str(tmp_path / "missing"))
    one_error_line(asbb("remaining", "ml-proj"), "token file", "missing")


def test_refused_tokens_exit_1_with_a_hint(daemon, monkeypatch):
    monkeypatch.setenv("ASBB_TOKEN", "not-a-token")
    one_error_line(asbb("status", "-A", "ml-proj"), "not valid", "ASBB_TOKEN")
    # a plugin token may quote but not read accounts
    monkeypatch.setenv("ASBB_TOKEN", daemon.tokens["plugin"])
    ok(asbb("quick-check", "-A", "ml-proj", "-t", "1h"))
    one_error_line(asbb("remaining", "ml-proj"), "a plugin token may not do this", "ASBB_TOKEN")


# ---------------------------------------------------------------- remaining


def test_remaining_line_and_json(daemon, ledger, ctx):
    ledger.charge_job("ml-proj", "250", ctx=ctx, job_id="9")
    account = ledger.get_account("ml-proj")
    line = ok(asbb("remaining", "ml-proj")).stdout.strip()
    # 250 spent of 1000 = 25% used (percent used is used / limit everywhere; 120 is held)
    assert line == (
        f"ml-proj: {format_money(account.available)} left of "
        f"{format_money(account.limit_amount)} (25% used, {format_money(account.held_amount)} held)"
    )
    assert line == "ml-proj: $630.00 left of $1,000.00 (25% used, $120.00 held)"
    got = data(asbb("remaining", "ml-proj", "--json"))
    assert {k: got[k] for k in ("limit", "used", "held", "available")} == {
        "limit": account.limit_amount,
        "used": account.used_amount,
        "held": account.held_amount,
        "available": account.available,
    }
    assert (got["account"], got["percent_used"], got["open_holds"]) == ("ml-proj", D("25.0"), 3)
    assert '"available": 630.00,' in ok(asbb("remaining", "ml-proj", "--json")).stdout


def test_remaining_of_the_environment_account(daemon, monkeypatch):
    monkeypatch.setenv("ASBB_ACCOUNT", "physics")
    assert ok(asbb("remaining")).stdout.startswith("physics: $48.80 left of $50.00")


def test_remaining_unknown_account(daemon):
    one_error_line(asbb("remaining", "ghost"), "account 'ghost' does not exist")


# ---------------------------------------------------------------- status


def test_status_table(daemon):
    out = ok(asbb("status", "-A", "ml-proj", "-A", "physics")).stdout
    assert "$880.00" in out  # ml-proj's available
    assert "$48.80" in out  # physics' available
    assert "0.0" in out  # ml-proj: nothing spent yet (120 is held, not used)
    # my two open holds are listed, bob's are not
    assert "11" in out
    assert "12" in out
    assert "$48.00" in out
    assert "$36.00" in out


def test_status_json_equals_the_database(daemon, ledger):
    got = data(asbb("status", "-A", "ml-proj", "-A", "physics", "--json"))
    for row in got["accounts"]:
        account = ledger.get_account(row["account"])
        assert (row["limit"], row["used"]) == (
            account.limit_amount,
            account.used_amount,
        )
        assert (row["held"], row["available"]) == (
            account.held_amount,
            account.available,
        )
    assert [r["account"] for r in got["accounts"]] == ["ml-proj", "physics"]
    mine = sorted((h["job_id"], h["remaining"]) for h in got["holds"])
    assert mine == [("11", D("48.00")), ("12", D("36.00"))]
    for h in got["holds"]:
        assert ledger.get_hold(h["id"]).remaining == h["remaining"]


def test_status_csv(daemon):
    text = ok(asbb("status", "-A", "physics", "-A", "ml-proj", "--csv")).stdout
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["account"] for r in rows] == ["physics", "ml-proj"]
    assert (rows[1]["available"], rows[1]["held"], rows[1]["percent_used"]) == (
        "880.00",
        "120.00",
        "0.0",
    )


def test_status_accounts_from_env_then_slurm(daemon, monkeypatch, slurm):
    monkeypatch.setenv("ASBB_ACCOUNT", "physics,ml-proj")
    got = data(asbb("status", "--json"))
    assert [r["account"] for r in got["accounts"]] == ["physics", "ml-proj"]
    monkeypatch.delenv("ASBB_ACCOUNT")
    slurm[("show", "assoc", f"user={getpass.getuser()}", "format=Account")] = [
        "ml-proj",
        "ml-proj",
        "physics",
    ]
    got = data(asbb("status", "--json"))
    assert [r["account"] for r in got["accounts"]] == ["ml-proj", "physics"]


def test_status_unknown_account(daemon):
    one_error_line(asbb("status", "-A", "ml-proj", "-A", "ghost"), "ghost")


def test_quick_check_reads_the_job_shape_as_sbatch_does(daemon, ledger):
    """-n tasks x -c CPUs per task (sbatch's meanings) is the same job as --cpus for the
    whole; giving both is a usage error, naming --cpus."""
    shaped = data(asbb("quick-check", "-A", "ml-proj", "-n", "4", "-c", "8", "-t", "1h", "--json"))
    whole = data(asbb("quick-check", "-A", "ml-proj", "--cpus", "32", "-t", "1h", "--json"))
    one = data(asbb("quick-check", "-A", "ml-proj", "-c", "8", "-t", "1h", "--json"))
    assert shaped["hold_amount"] == whole["hold_amount"] == one["hold_amount"] * 4
    both = asbb("quick-check", "-A", "ml-proj", "--cpus", "32", "-c", "8", "-t", "1h")
    assert both.exit_code == 2
    assert "--cpus" in both.stderr
    assert "not both" in " ".join(both.stderr.split())


def test_remaining_takes_sbatchs_account_option(daemon):
    assert ok(asbb("remaining", "-A", "physics")).stdout.startswith("physics: $48.80 left")
    assert ok(asbb("remaining", "--account", "physics")).stdout.startswith("physics:")
    clash = asbb("remaining", "ml-proj", "-A", "physics")
    assert clash.exit_code == 2
    assert "disagree" in clash.stderr
