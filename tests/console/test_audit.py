"""The console's audit view on the demo data: newest first, the kind filter, the text filter
(answered by the database) and the detail line."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.widgets import DataTable, Static

from asbb_core.demo import DemoClock
from asbb_core.ledger import Ledger
from asbb_core.settings import Settings
from asbb_core.store.database import Database
from asbb_core.values.context import Context, Source
from asbb_tui.console import AsbbConsole
from tests.conftest import DEMO_NOW


@pytest.fixture
def ledger(demo_sqlite: Path, tmp_path: Path) -> Iterator[Ledger]:
    path = tmp_path / "demo.sqlite3"
    shutil.copy(demo_sqlite, path)
    url = f"sqlite:///{path}"
    ledger = Ledger(Database(url), Settings(database={"url": url}), clock=DemoClock(DEMO_NOW))
    yield ledger
    ledger.db.dispose()


async def test_the_audit_view_lists_filters_and_describes_changes(ledger: Ledger) -> None:
    ledger.update_account("ml-proj", ctx=Context("carol", Source.CLI), status="suspended")
    app = AsbbConsole(ledger, start_view="audit", actor="admin")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        table = pilot.app.screen.query_one("#audit", DataTable)
        assert table.row_count > 1
        first = [str(c) for c in table.get_row_at(0)]
        assert first[2:4] == ["carol", "account:ml-proj"]
        assert "status: active -> suspended" in first[4]
        detail = str(pilot.app.screen.query_one("#detail", Static).render())
        assert "account.update account:ml-proj" in detail
        assert "by carol (cli)" in detail

        await pilot.press("f")  # kind: account
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        subjects = {str(table.get_row_at(i)[3]) for i in range(table.row_count)}
        assert subjects
        assert all(s.startswith("account:") for s in subjects)
        status = str(pilot.app.screen.query_one("#status-line", Static).render())
        assert status.startswith("kind: account (f)")

        await pilot.press("slash", *"carol", "enter")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        assert table.row_count == 1
