"""The accounts view: every account in a table (paged and filtered in SQL)."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.widgets import DataTable

from asbb_core import queries
from asbb_tui.console.base import ConsoleScreen
from asbb_tui.console.widgets import money_cell, percent_bar, status_cell

COLUMNS: tuple[tuple[str, str], ...] = (
    ("name", "Account"),
    ("status", "Status"),
    ("limit", "Limit"),
    ("used", "Used"),
    ("held", "Held"),
    ("available", "Available"),
    ("share", "Used %"),
)
PAGE = 200


class AccountsScreen(ConsoleScreen):
    VIEW_TITLE = "Accounts"

    def compose_body(self) -> ComposeResult:
        yield DataTable(id="accounts", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.query_one("#accounts", DataTable)
        for key, label in COLUMNS:
            table.add_column(label, key=key)
        table.loading = True
        super().on_mount()

    def refresh_data(self) -> None:
        db = self.services.db
        self.fetch("accounts", lambda: queries.list_accounts(db, limit=PAGE))

    def show(self, key: str, value: Any) -> None:
        table = self.query_one("#accounts", DataTable)
        table.loading = False
        table.clear()
        for a in value.items:
            table.add_row(
                a.name,
                status_cell(str(a.status)),
                money_cell(a.limit_amount),
                money_cell(a.used_amount),
                money_cell(a.held_amount),
                money_cell(a.available),
                percent_bar(a.used_amount, a.limit_amount),
                key=a.name,
            )

    def failed(self, key: str, error: BaseException) -> None:
        self.query_one("#accounts", DataTable).loading = False
        super().failed(key, error)
