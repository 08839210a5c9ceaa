"""The console in a real terminal: tmux runs ``asbb``, keys go in, the screen comes back.

The headless Pilot tests drive the app directly; this one proves the installed command works
in a terminal (and exits when the terminal goes away, as a dropped SSH session would).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]

ASBB = str(Path(sys.executable).with_name("asbb"))


# A tmux server of this test run's own: two runs on one machine must not share a session.
SOCKET = f"asbb-test-{os.getpid()}"


def tmux(*args: str) -> str:
    done = subprocess.run(["tmux", "-L", SOCKET, *args], capture_output=True, text=True)
    return done.stdout


def screen_with(*texts: str, timeout: float = 60) -> str:
    """The screen once every one of ``texts`` is on it (a table's rows may be drawn over
    more than one frame, so one row showing does not mean the others do)."""
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = tmux("capture-pane", "-p", "-t", "console")
        if all(text in screen for text in texts):
            return screen
        time.sleep(0.2)
    panes = tmux(
        "list-panes", "-t", "console", "-F", "dead=#{pane_dead} status=#{pane_dead_status}"
    )
    raise AssertionError(
        f"{texts!r} never all appeared (pane: {panes.strip() or 'gone'}); the screen was:\n{screen}"
    )


def alive(pid: int) -> bool:
    """Running: a process that has exited but is not yet reaped by tmux (a zombie) is not."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture
def demo_url(demo_sqlite: Path, tmp_path: Path) -> str:
    path = tmp_path / "demo.sqlite3"
    shutil.copyfile(demo_sqlite, path)
    return f"sqlite:///{path}"


@pytest.fixture
def console(demo_url: str, tmp_path: Path) -> Iterator[Path]:
    pidfile = tmp_path / "console.pid"
    command = f"echo $$ > {pidfile}; exec {ASBB} --database {demo_url} console --read-only"
    tmux(
        "new-session",
        "-d",
        "-s",
        "console",
        "-x",
        "100",
        "-y",
        "30",
        "env",
        "TERM=xterm-256color",
        "sh",
        "-c",
        command,
        ";",
        "set-option",
        "-t",
        "console",
        "remain-on-exit",
        "on",
    )  # fmt: skip  (a console that fails to start leaves its last screen to read)
    yield pidfile
    tmux("kill-server")


def test_console_runs_in_a_real_terminal(console: Path) -> None:
    screen = screen_with("READ-ONLY")
    assert "asbb" in screen
    tmux("send-keys", "-t", "console", ":")
    screen_with("accounts   every account")
    tmux("send-keys", "-t", "console", "accounts", "Enter")
    screen_with("asbb — Accounts")  # the view itself (the dashboard lists ml-proj too) ...
    screen = screen_with("ml-proj", "climate-sim")  # ... then its rows, loaded by a worker
    assert "asbb — Accounts" in screen
    assert "climate-sim" in screen
    assert "$" in screen
    pid = int(console.read_text())
    tmux("send-keys", "-t", "console", "q")
    deadline = time.monotonic() + 10
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(pid), "q did not end the console"


def test_console_exits_when_its_terminal_goes_away(console: Path) -> None:
    screen_with("READ-ONLY")
    pid = int(console.read_text())
    assert alive(pid)
    tmux("kill-session", "-t", "console")  # the terminal disappears: SIGHUP
    deadline = time.monotonic() + 10
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(pid), "the console outlived its terminal"


def test_console_in_80x24_with_16_colours(demo_url: str) -> None:
    """A 16-colour terminal of 80x24: every colour on screen is one of the 16, and the
    accounts table and a drill-in's chart fit."""
    tmux(
        "new-session", "-d", "-s", "console", "-x", "80", "-y", "24",
        "env", "TERM=xterm-16color", "COLORTERM=", ASBB, "--database", demo_url, "console",
        ";", "set-option", "-t", "console", "remain-on-exit", "on",
    )  # fmt: skip
    try:
        screen_with("Dashboard")
        tmux("send-keys", "-t", "console", "2")
        screen = screen_with("neuro-imaging")
        header = next(line for line in screen.splitlines() if "Available" in line)
        for column in ("Limit", "Used", "Held", "Available", "Used %", "State"):
            assert column in header, column  # nothing pushed off the right edge
        assert "suspended" in screen
        tmux("send-keys", "-t", "console", "Enter")
        screen_with("Partition limits")  # the drill-in is up
        tmux("send-keys", "-t", "console", "c")
        screen = screen_with("80% $")  # the chart's warning line
        assert "━ spent" in screen
        coloured = tmux("capture-pane", "-p", "-e", "-t", "console")
        assert "\x1b[" in coloured  # colours, but...
        for deep in ("38;5;", "48;5;", "38;2;", "48;2;"):  # ...none beyond the 16
            assert deep not in coloured, deep
    finally:
        tmux("kill-server")
