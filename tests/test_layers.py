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
