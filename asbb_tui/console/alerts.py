"""The alerts inbox: newest first, coloured by severity, filtered by status.

``k`` acknowledges the highlighted alert (with an optional note), ``x`` resolves it (a note
is required), Enter or ``g`` jumps to its account, ``f`` cycles the status filter and ``/``
filters the page by text (Esc clears).
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Input, Static

from asbb_core.alerts.conditions import AlertRecord
from asbb_core.store.models import AlertStatus
from asbb_tui.console.base import InboxScreen
from asbb_tui.console.dialogs import TextPrompt
from asbb_tui.console.widgets import SEVERITY_STYLE

PAGE = 200
STATUS_FILTERS: tuple[str | None, ...] = (
    None,
    AlertStatus.OPEN.value,
    AlertStatus.ACKNOWLEDGED.value,
    AlertStatus.RESOLVED.value,
)
"""``f`` cycles through these (``None``: every status, active ones first)."""
STATUS_STYLE = {"open": "bold", "acknowledged": "", "resolved": "dim"}
COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "#"),
    ("severity", "Severity"),
    ("status", "Status"),
    ("kind", "Kind"),
    ("subject", "Account/grant"),
    ("title", "Title"),
    ("opened", "Opened"),
)
ACCOUNT_SCREEN = "asbb_tui.console.account"


def describe(record: AlertRecord) -> Text:
    a = record.alert
    text = Text()
    text.append(f"#{a.id} ", style="bold")
    text.append(str(a.severity), style=SEVERITY_STYLE.get(str(a.severity), ""))
    text.append(f" {a.status}  {a.title}")
    if a.message:
        text.append(f"\n{a.message}")
    if a.acknowledged_by:
        note = (a.details or {}).get("note")
        text.append(f"\nacknowledged by {a.acknowledged_by}" + (f": {note}" if note else ""))
    if a.resolved_by:
        text.append(f"\nresolved by {a.resolved_by}: {a.resolution}")
    return text


class AlertsScreen(InboxScreen):
    FILTER_TABLE = "alerts"
    COLUMNS = COLUMNS
    STATUS_FILTERS = STATUS_FILTERS
    NOUN = "alert"
    VIEW_TITLE = "Alerts"
    AUTO_FOCUS = "#alerts"
    WRITES: ClassVar[frozenset[str]] = frozenset({"acknowledge", "resolve"})
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("k", "acknowledge", "Acknowledge", id="alerts-ack"),
        Binding("x", "resolve", "Resolve", id="alerts-resolve"),
        Binding("g", "goto_account", "Go to account", id="alerts-goto"),
        Binding("f", "cycle_status", "Status filter", id="alerts-status"),
        Binding("slash", "filter", "Filter", id="alerts-filter"),
    ]
    DEFAULT_CSS = """
    AlertsScreen #filter { height: 1; border: none; }
    AlertsScreen #status-line { height: 1; padding: 0 1; color: $text-muted; }
    AlertsScreen #detail { height: auto; max-height: 5; padding: 0 1;
                           border-top: solid $accent; }
    """

    def compose_body(self) -> ComposeResult:
        yield Static("", id="status-line")
        yield Input(placeholder="/ filter by account, kind or title (Esc clears)", id="filter")
        yield DataTable(id="alerts", cursor_type="row", zebra_stripes=True)
        yield Static("", id="detail")

    # -- data --------------------------------------------------------------------

    def refresh_data(self) -> None:
        service = self.services.alerts
        status, search = self.status_filter, self.text_filter

        def query() -> list[AlertRecord]:
            # The filter is applied in SQL, so it finds matches beyond the first page too.
            rows = service.list_alerts(status=status, search=search, limit=PAGE)
            return sorted(rows, key=lambda r: r.alert.status == AlertStatus.RESOLVED)

        self.fetch("alerts", query)

    def show(self, key: str, value: Any) -> None:
        if key == "alerts":
            self.show_records(value)
            return
        record: AlertRecord = value
        verb = "acknowledged" if key == "acknowledge" else "resolved"
        self.notify(f"alert #{record.id} {verb} by {self.services.actor}", title="Alerts")
        self.refresh_data()

    def describe(self, record: AlertRecord) -> Text:
        return describe(record)

    def cells(self, r: AlertRecord) -> tuple[Any, ...]:
        return (
            Text(str(r.id), justify="right"),
            Text(str(r.alert.severity), style=SEVERITY_STYLE.get(str(r.alert.severity), "")),
            Text(str(r.alert.status), style=STATUS_STYLE.get(str(r.alert.status), "")),
            r.alert.kind,
            r.account or r.grant or "-",
            r.alert.title,
            r.alert.opened_at.strftime("%Y-%m-%d %H:%M"),
        )

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_goto_account()

    def _chosen(self, *, active: bool) -> AlertRecord | None:
        record: AlertRecord | None = self.current()
        if record is None:
            self.notify("no alert selected", severity="warning")
            return None
        if active and record.alert.status == AlertStatus.RESOLVED:
            self.notify(f"alert #{record.id} is already resolved", severity="warning")
            return None
        return record

    # -- actions -------------------------------------------------------------------

    def action_acknowledge(self) -> None:
        record = self._chosen(active=True)
        if record is None:
            return
        aid = record.id

        def noted(note: str | None) -> None:
            if note is None:
                return
            service = self.services.alerts
            actor = self.services.actor
            self.submit("acknowledge", lambda: service.acknowledge(aid, actor, note))

        self.app.push_screen(TextPrompt(f"Acknowledge alert #{aid}", "Note (optional):"), noted)

    def action_resolve(self) -> None:
        record = self._chosen(active=True)
        if record is None:
            return
        aid = record.id

        def noted(note: str | None) -> None:
            if note is None:
                return
            service = self.services.alerts
            actor = self.services.actor
            self.submit("resolve", lambda: service.resolve(aid, actor, note))

        self.app.push_screen(
            TextPrompt(f"Resolve alert #{aid}", "Why is it resolved?", required=True), noted
        )

    def action_goto_account(self) -> None:
        record = self._chosen(active=False)
        if record is None:
            return
        if not record.account:
            self.notify(f"alert #{record.id} is not about one account", severity="warning")
            return
        # The account drill-in belongs to the accounts view; use it when it is installed.
        if importlib.util.find_spec(ACCOUNT_SCREEN) is None:
            self.notify("the account view is not available", severity="warning")
            return
        screen_class = importlib.import_module(ACCOUNT_SCREEN).AccountScreen
        self.app.push_screen(screen_class(record.account))
