"""The layers stay clean: asbb_core imports no console and no web stack; the daemon no console.

Checked twice: import-linter's contracts in pyproject.toml, and by importing every module in a
fresh interpreter and looking at what ended up in sys.modules.
"""

from __future__ import annotations

import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import asbb_core
import daemon

ROOT = Path(__file__).resolve().parents[1]
WEB_STACK = ("starlette", "fastapi", "uvicorn")
CONSOLE = ("textual", "plotext", "asbb_tui")


def _modules(package) -> list[str]:
    return [package.__name__] + [
        f"{package.__name__}.{m.name}" for m in pkgutil.iter_modules(package.__path__)
    ]


@pytest.mark.parametrize(
    ("package", "forbidden"), [(asbb_core, CONSOLE + WEB_STACK), (daemon, CONSOLE)]
)
def test_modules_do_not_pull_in_forbidden_packages(package, forbidden):
    probe = (
        "import importlib, sys\n"
        f"for name in {_modules(package)!r}:\n"
        "    importlib.import_module(name)\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {forbidden!r})\n"
        "print(','.join(bad))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""


def test_import_linter_contracts_hold():
    lint_imports = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint_imports, "import-linter is a test dependency"
    done = subprocess.run([lint_imports], capture_output=True, text=True, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


HEAVY_FOR_HELP = ("sqlalchemy", "asbb_core.settings", "asbb_core.ledger", "textual", "fastapi")


@pytest.mark.parametrize(
    "argv",
    [
        ["asbb", "--help"],
        ["asbb", "account", "--help"],
        ["asbb", "grant", "report", "--help"],
    ],
    ids=["help", "group-help", "command-help"],
)
def test_help_loads_neither_the_orm_nor_the_settings_nor_the_console(argv: list[str]) -> None:
    """--help (and a completion Tab, which builds the same command tree) loads typer and rich,
    not SQLAlchemy, the settings' models, the ledger, the console or the web stack: each
    command imports what it needs when it runs (docs/performance.md, the command line)."""
    probe = (
        "import sys\n"
        f"sys.argv = {argv!r}\n"
        "from asbb_tui.cli import main\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
        f"heavy = {HEAVY_FOR_HELP!r}\n"
        "print(sorted(m for m in sys.modules if any(m == h or m.startswith(h + '.') "
        "for h in heavy)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout[-2000:]
