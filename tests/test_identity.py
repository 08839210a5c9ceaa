"""One identity per person, from the operating system: the CLI and the console act as the real
uid's login, whatever the environment says, so nobody approves their own request by
switching front ends or setting $USER. The real-uid tests run the real ``asbb`` as another
login (they need root, as CI has)."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from asbb_core.access.identity import os_login
from asbb_core.funding.approvals import SelfApprovalError
from asbb_core.ledger import Ledger
from asbb_core.store.database import Database
from asbb_core.values.context import Context
from asbb_tui.cli_base import cli_actor
from asbb_tui.console.services import ConsoleServices, console_actor
from tests.wire import D, loads

ROOT = Path(__file__).resolve().parents[1]
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="running as another uid needs root")


def test_cli_and_console_are_the_same_person_whatever_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    me = pwd.getpwuid(os.getuid()).pw_name
    for name in ("USER", "LOGNAME", "SUDO_USER", "ASBB_ACTOR"):
        monkeypatch.setenv(name, "alice")
    assert os_login() == cli_actor() == console_actor() == me


def test_a_request_made_in_the_cli_cannot_be_approved_in_the_console(
    ledger: Ledger, ctx: Context, db: Database
) -> None:
    ledger.create_account("physics", ctx=ctx, limit="100")
    services = ConsoleServices(ledger)
    made = services.bank.approvals.request(
        "credit", "physics", "50", requested_by=cli_actor(), reason="workshop"
    )
    with pytest.raises(SelfApprovalError):
        services.bank.approvals.approve(made.id or 0, approver=services.actor)


def asbb_as(login: str, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The real command line with ``login`` as its real uid, and a hostile $USER.

    The effective uid stays root (as under a setuid wrapper), so the interpreter under /root
    and the test's database stay readable: what asbb sees as "who" must still be ``login``."""
    uid = pwd.getpwnam(login).pw_uid
    empty = Path(tempfile.mkdtemp(prefix="asbb-identity-config-"))
    empty.chmod(0o755)
    (empty / "asbb.toml").write_text("", encoding="utf-8")
    (empty / "asbb.toml").chmod(0o644)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(empty),
        "ASBB_CONFIG": str(empty / "asbb.toml"),
        "USER": "mallory",
        "LOGNAME": "mallory",
        "PYTHONPATH": str(ROOT),
    }
    try:
        return subprocess.run(
            [sys.executable, "-m", "asbb_tui.cli", "--database", url, *args],
            env=env,
            preexec_fn=lambda: os.setresuid(uid, 0, 0),
            cwd=str(empty),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        shutil.rmtree(empty, ignore_errors=True)


@needs_root
def test_the_real_uid_decides_who_asks_and_who_approves(
    migrated_url: str, ledger: Ledger, ctx: Context
) -> None:
    ledger.create_account("physics", ctx=ctx, limit="100")
    made = asbb_as(
        "daemon", migrated_url, "adjust", "request", "credit", "physics", "25", "--reason", "x",
        "--json",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    request = loads(made.stdout)
    assert request["requested_by"] == "daemon"  # not $USER (mallory)
    assert request["amount"] == D("25.00")

    own = asbb_as("daemon", migrated_url, "adjust", "approve", str(request["id"]))
    assert own.returncode == 1
    assert "may not approve" in own.stderr

    other = asbb_as("bin", migrated_url, "adjust", "approve", str(request["id"]), "--json")
    assert other.returncode == 0, other.stderr
    assert loads(other.stdout)["decided_by"] == "bin"
    assert ledger.get_account("physics").limit_amount == 125
