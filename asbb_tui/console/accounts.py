"""The accounts view: every account in a table, filtered, sorted and paged in SQL.

``/`` filters by name prefix (Esc clears), Shift+N/A/U/L sort by name, available, used or
limit (again: reverse), n/p page, Enter drills into the account. The health band is computed
for the rows on the page only, in the same worker that reads the page.

To fit 80 columns, one "State" column shows an active account's health band and any other
account's status (suspended, closed), and the used-% bar gives way to the bare percentage on
terminals narrower than ``BAR_MIN_WIDTH``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Input, Static

from asbb_core.analytics.burnrate import account_burn_rate
from asbb_core.store import queries
from asbb_core.store.models import Account, AccountStatus
from asbb_core.values.errors import AsbbError
from asbb_tui.console.account import AccountScreen
from asbb_tui.console.base import ConsoleScreen
from asbb_tui.console.services import ConsoleServices
from asbb_tui.console.widgets import band_cell, money_cell, percent_bar, status_cell, sync_rows

COLUMNS: tuple[tuple[str, str], ...] = (
    ("name", "Account"),
    ("limit", "Limit"),
    ("used", "Used"),
    ("held", "Held"),
    ("available", "Available"),
    ("share", "Used %"),
    ("state", "State"),
)
BAR_MIN_WIDTH = 96
BAR_WIDTH = 5
PAGE = 100
HEALTH_WINDOW = "30d"


@dataclass(frozen=True)
class AccountsPage:
    """One page of accounts and the health band of each (``None``: could not be computed)."""

    page: queries.Page[Account]
    bands: dict[str, str | None]


def load_accounts_page(
    services: ConsoleServices,
    *,
    prefix: str,
    sort: queries.AccountSort,
    descending: bool,
    offset: int,
    limit: int = PAGE,
) -> AccountsPage:
    """Read one page and the health of its rows (worker thread)."""
    page = queries.list_accounts(
        services.db, prefix=prefix, sort=sort, descending=descending, limit=limit, offset=offset
    )
    today = services.now().date()
    bands: dict[str, str | None] = {}
    for account in page.items:
        try:
            rate = account_burn_rate(
                services.db, services.settings, account.name, window=HEALTH_WINDOW, today=today
            )
            bands[account.name] = rate.health.band
        except AsbbError:
            bands[account.name] = None
    return AccountsPage(page, bands)


def _cells(account: Account, band: str | None, bar_width: int) -> tuple[Text, ...]:
    active = account.status == AccountStatus.ACTIVE
    return (
        Text(account.name),
        money_cell(account.limit_amount),
        money_cell(account.used_amount),
        money_cell(account.held_amount),
        money_cell(account.available),
        percent_bar(
            account.used_amount,
            account.limit_amount,
            width=bar_width,
            band=band if active else None,
        ),
        band_cell(band) if active else status_cell(str(account.status)),
    )


class AccountsScreen(ConsoleScreen):
    VIEW_TITLE = "Accounts"
    AUTO_FOCUS = "#accounts"
    DEFAULT_CSS = """
    #filter { display: none; height: 1; border: none; }
    #filter.shown { display: block; }
    #accounts { height: 1fr; }
    #pager { height: 1; color: $text-muted; padding: 0 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "filter", "Filter", id="accounts-filter"),
        Binding("n", "page(1)", "Next page", id="accounts-next"),
        Binding("p", "page(-1)", "Prev page", id="accounts-prev"),
        Binding("N", "sort('name')", "Sort name", show=False, id="accounts-sort-name"),
        Binding("A", "sort('available')", "Sort available", show=False, id="accounts-sort-avail"),
        Binding("U", "sort('used')", "Sort used", show=False, id="accounts-sort-used"),
        Binding("L", "sort('limit')", "Sort limit", show=False, id="accounts-sort-limit"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.name_prefix = ""
        self.sort_key: queries.AccountSort = "name"
        self.sort_descending = False
        self.page_offset = 0
        self.row_total = 0
        self._shown: AccountsPage | None = None

    def compose_body(self) -> ComposeResult:
        yield Input(placeholder="/ account name prefix (Esc clears)", id="filter")
        yield DataTable(id="accounts", cursor_type="row", zebra_stripes=True)
        yield Static("", id="pager")

    def on_mount(self) -> None:
        table = self.query_one("#accounts", DataTable)
        for key, label in COLUMNS:
            table.add_column(label, key=key)
        table.loading = True
        table.focus()
        super().on_mount()

    # -- data ------------------------------------------------------------------

    def refresh_data(self) -> None:
        services = self.services
        prefix, sort, descending, offset = (
            self.name_prefix,
            self.sort_key,
            self.sort_descending,
            self.page_offset,
        )
        self.fetch(
            "accounts",
            lambda: load_accounts_page(
                services, prefix=prefix, sort=sort, descending=descending, offset=offset
            ),
        )

    def show(self, key: str, value: Any) -> None:
        if key != "accounts":
            return
        table = self.query_one("#accounts", DataTable)
        table.loading = False
        result: AccountsPage = value
        page = result.page
        if page.offset and not page.items and page.total:  # the page emptied: step back
            self.page_offset = max(0, (page.total - 1) // PAGE * PAGE)
            self.refresh_data()
            return
        self.row_total = page.total
        self._shown = result
        self._show_rows()
        self._show_pager(len(page.items))

    def _show_rows(self) -> None:
        if self._shown is None:
            return
        bar = BAR_WIDTH if self.app.size.width >= BAR_MIN_WIDTH else 0
        bands = self._shown.bands
        sync_rows(
            self.query_one("#accounts", DataTable),
            [(a.name, _cells(a, bands.get(a.name), bar)) for a in self._shown.page.items],
        )

    def on_resize(self) -> None:
        self._show_rows()  # the bar comes and goes with the width

    def _show_pager(self, shown: int) -> None:
        first = self.page_offset + 1 if shown else 0
        arrow = "desc" if self.sort_descending else "asc"
        text = (
            f"{first}-{self.page_offset + shown} of {self.row_total}  sort: {self.sort_key} {arrow}"
        )
        if self.name_prefix:
            text += f"  filter: {self.name_prefix}*"
        self.query_one("#pager", Static).update(text)

    def failed(self, key: str, error: BaseException) -> None:
        self.query_one("#accounts", DataTable).loading = False
        super().failed(key, error)

    # -- filter ----------------------------------------------------------------

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.add_class("shown")
        box.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id != "filter":
            return
        event.stop()
        if event.value.startswith("/"):  # the key that opened the box (names have no "/")
            event.input.value = event.value.lstrip("/")
            return
        text = event.value.strip().lower()
        if text != self.name_prefix:
            self.name_prefix = text
            self.page_offset = 0
            self.refresh_data()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "filter":
            event.stop()
            self.query_one("#accounts", DataTable).focus()

    def _clear_filter(self) -> bool:
        box = self.query_one("#filter", Input)
        if not box.has_class("shown") and not self.name_prefix:
            return False
        box.remove_class("shown")
        box.value = ""  # Input.Changed refetches when the prefix was set
        self.query_one("#accounts", DataTable).focus()
        return True

    def action_back(self) -> None:
        # Esc first clears the filter; a second Esc goes back.
        if not self._clear_filter():
            super().action_back()

    # -- sort, pages, drill-in -------------------------------------------------

    def action_sort(self, column: str) -> None:
        if column not in ("name", "available", "used", "limit"):
            return
        if column == self.sort_key:
            self.sort_descending = not self.sort_descending
        else:
            self.sort_key = column  # type: ignore[assignment]
            self.sort_descending = column != "name"  # money: biggest first
        self.page_offset = 0
        self.refresh_data()

    def action_page(self, step: int) -> None:
        offset = self.page_offset + step * PAGE
        if offset < 0 or (step > 0 and offset >= self.row_total):
            self.app.bell()
            return
        self.page_offset = offset
        self.refresh_data()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "accounts" and event.row_key.value is not None:
            event.stop()
            self.app.push_screen(AccountScreen(event.row_key.value))
