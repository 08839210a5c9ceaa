"""The dashboard view: the whole bank at a glance, refreshed live.

Every figure comes from one core call (``asbb_core.analytics.overview.overview``) run in a worker.
The
view re-fetches every ``console.refresh_seconds`` (settings); like dolphie, the next refresh is
scheduled only once the last one has finished (shown or failed), so slow databases never pile
refreshes up. Widgets are updated in place: figures through ``Static.update``, tables row by
row keyed by account name / journal id (rebuilt only when the set or order of rows changes,
keeping the cursor on the same row), so nothing flickers.
"""

from __future__ import annotations

import importlib
import importlib.util
from decimal import Decimal
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.timer import Timer
from textual.widgets import DataTable, Sparkline, Static

from asbb_core.analytics.overview import BURN_DAYS, Overview, overview
from asbb_core.values.money import format_money
from asbb_tui.console.base import ConsoleScreen
from asbb_tui.console.widgets import band_cell, money_cell, percent_bar, sync_rows

FIGURES: tuple[tuple[str, str], ...] = (
    ("limit", "Limit"),
    ("used", "Used"),
    ("held", "Held"),
    ("available", "Available"),
    ("today", "Spent today"),
    ("month", "Spent this month"),
    ("alerts", "Open alerts"),
    ("approvals", "Pending approvals"),
)
BURNER_COLUMNS: tuple[tuple[str, str], ...] = (
    ("account", "Account"),
    ("spent", f"{BURN_DAYS}-day spend"),
    ("available", "Available"),
    ("share", "Used %"),
    ("health", "Health"),
)
RECENT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("time", "Time (UTC)"),
    ("account", "Account"),
    ("kind", "Kind"),
    ("amount", "Amount"),
    ("actor", "Actor"),
)
ACCOUNT_SCREEN = "asbb_tui.console.account"
"""The accounts helper's drill-in (``AccountScreen(name)``); Enter on a burner opens it."""


def figure_text(label: str, value: str, style: str = "bold") -> Text:
    """A label over its value, right-aligned (money lines up down the column)."""
    text = Text(justify="right")
    text.append(label, style="dim")
    text.append("\n")
    text.append(value, style=style)
    return text


class DashboardScreen(ConsoleScreen):
    VIEW_TITLE = "Dashboard"
    DEFAULT_CSS = """
    DashboardScreen .figures { height: 2; }
    DashboardScreen .figure { width: 1fr; height: 2; padding: 0 1; text-align: right; }
    DashboardScreen .section { height: 1; padding: 0 1; color: $text-muted; text-style: bold; }
    DashboardScreen #spend { height: 2; margin: 0 2; }
    DashboardScreen #burners { height: auto; max-height: 7; }
    DashboardScreen #recent { height: 1fr; min-height: 4; }
    """

    def __init__(self) -> None:
        super().__init__()
        self._timer: Timer | None = None
        self._stale = False
        self.latest: Overview | None = None
        """The figures on screen (for tests and for the palette)."""
        self.refresh_seconds: float | None = None
        """How long after one refresh has finished the next one starts (default: settings)."""

    def compose_body(self) -> ComposeResult:
        for row in (FIGURES[:4], FIGURES[4:]):
            with Horizontal(classes="figures"):
                for key, label in row:
                    yield Static(figure_text(label, "..."), id=key, classes="figure")
        yield Static("Spend per day, last 30 days", id="spend-label", classes="section")
        yield Sparkline([], id="spend")
        yield Static(
            f"Top burning accounts (last {BURN_DAYS} days; Enter opens one)",
            id="burners-label",
            classes="section",
        )
        yield DataTable(id="burners", cursor_type="row", zebra_stripes=True)
        yield Static("Recent ledger activity", id="recent-label", classes="section")
        yield DataTable(id="recent", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        burners = self.query_one("#burners", DataTable)
        for key, label in BURNER_COLUMNS:
            burners.add_column(label, key=key)
        recent = self.query_one("#recent", DataTable)
        for key, label in RECENT_COLUMNS:
            recent.add_column(label, key=key)
        burners.loading = True
        super().on_mount()

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        if self._stale:  # a refresh fell due while another view was shown
            self.refresh_data()

    # -- fetching, on a timer that never overlaps itself -----------------------

    def refresh_data(self) -> None:
        self._stale = False
        self._cancel_timer()
        services = self.services
        self.fetch("overview", lambda: overview(services.db, services.settings, now=services.now()))

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    def _schedule_next(self) -> None:
        self._cancel_timer()
        every = self.refresh_seconds or self.services.settings.console.refresh_seconds
        self._timer = self.set_timer(every, self._tick)

    def _tick(self) -> None:
        self._timer = None
        if self.is_current:
            self.refresh_data()
        else:
            self._stale = True

    def failed(self, key: str, error: BaseException) -> None:
        self.query_one("#burners", DataTable).loading = False
        super().failed(key, error)
        if key == "overview":
            self._schedule_next()

    def show(self, key: str, value: Any) -> None:
        if key != "overview":
            return
        self.latest = value
        self._show_overview(value)
        self._schedule_next()

    # -- putting figures on screen (in place) ----------------------------------

    def _figure(self, key: str, value: str, style: str = "bold") -> None:
        label = dict(FIGURES)[key]
        self.query_one(f"#{key}", Static).update(figure_text(label, value, style))

    def _show_overview(self, view: Overview) -> None:
        self._figure("limit", format_money(view.limit))
        self._figure("used", format_money(view.used))
        self._figure("held", format_money(view.held))
        self._figure("available", format_money(view.available), _money_style(view.available))
        self._figure("today", format_money(view.spent_today))
        self._figure("month", format_money(view.spent_month))
        alerts = str(view.alerts_unresolved)
        if view.alerts_critical:
            alerts += f" ({view.alerts_critical} critical)"
        self._figure(
            "alerts",
            alerts,
            "bold red" if view.alerts_critical else "bold yellow" if view.alerts_open else "bold",
        )
        self._figure(
            "approvals",
            str(view.pending_approvals),
            "bold yellow" if view.pending_approvals else "bold",
        )

        peak = max((v for _, v in view.daily), default=Decimal(0))
        self.query_one("#spend-label", Static).update(
            f"Spend per day, last {len(view.daily)} days (peak {format_money(peak)})"
        )
        # Whole cents (ints): the sparkline only scales bars, and money stays out of floats.
        self.query_one("#spend", Sparkline).data = [int(v * 100) for _, v in view.daily]

        burners = self.query_one("#burners", DataTable)
        burners.loading = False
        sync_rows(
            burners,
            [
                (
                    b.account,
                    (
                        b.account,
                        money_cell(b.spent),
                        money_cell(b.available),
                        percent_bar(b.used, b.limit, band=b.health.band if b.health else None),
                        band_cell(b.health.band if b.health else None),
                    ),
                )
                for b in view.top_burners
            ],
        )
        sync_rows(
            self.query_one("#recent", DataTable),
            [
                (
                    str(row.id),
                    (
                        row.created_at.strftime("%m-%d %H:%M"),
                        row.account,
                        row.kind,
                        money_cell(row.amount),
                        row.actor,
                    ),
                )
                for row in view.recent
            ],
        )

    # -- drilling in -----------------------------------------------------------

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id != "burners" or event.row_key.value is None:
            return
        event.stop()
        if importlib.util.find_spec(ACCOUNT_SCREEN) is None:
            self.notify("the account drill-in is not installed", severity="warning")
            return
        screen = importlib.import_module(ACCOUNT_SCREEN).AccountScreen
        self.app.push_screen(screen(str(event.row_key.value)))


def _money_style(amount: Decimal) -> str:
    return "bold red" if amount < 0 else "bold"
