"""SVG snapshots of each main screen (pytest-textual-snapshot), on the demo data at a frozen
moment and a fixed size. After a deliberate change to a screen, review and refresh them with
``.venv/bin/pytest tests/console/test_snapshots.py --snapshot-update``."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from asbb_core.demo import DemoClock
from asbb_core.ledger import Ledger
from asbb_core.settings import Settings
from asbb_core.store.database import Database
from asbb_tui.console import AsbbConsole
from tests.conftest import DEMO_NOW

NOW = DEMO_NOW
SIZE = (100, 30)
VIEWS = ["dashboard", "accounts", "approvals", "alerts", "grants"]


@pytest.fixture
def demo_file(demo_sqlite: Path) -> Path:
    return demo_sqlite


@pytest.fixture
def demo_ledger(demo_file: Path, tmp_path: Path) -> Any:
    path = tmp_path / "demo.sqlite3"
    shutil.copy(demo_file, path)
    url = f"sqlite:///{path}"
    db = Database(url)
    yield Ledger(db, Settings(database={"url": url}), clock=DemoClock(NOW))
    db.dispose()


async def settled(pilot: Any) -> None:
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
    # The footer redraws its keys a moment after focus settles (the focused table's Enter
    # shadows the screen's); a short real pause keeps the picture from catching it halfway.
    await pilot.pause(0.3)


@pytest.mark.parametrize("view", VIEWS)
def test_main_screens(view: str, demo_ledger: Ledger, snap_compare: Callable[..., bool]) -> None:
    app = AsbbConsole(demo_ledger, database_label="demo", actor="console:admin", start_view=view)
    assert snap_compare(app, terminal_size=SIZE, run_before=settled)


def test_read_only_badge(demo_ledger: Ledger, snap_compare: Callable[..., bool]) -> None:
    app = AsbbConsole(
        demo_ledger,
        read_only=True,
        database_label="demo",
        actor="console:pi",
        start_view="accounts",
    )
    assert snap_compare(app, terminal_size=(80, 24), run_before=settled)
