"""The base of every console screen, and the one rule for reading the database from it.

A screen never queries on the UI thread: ``fetch(key, query)`` runs ``query`` in a thread
worker (exclusive per key, so a newer request cancels the older one's result), which posts a
``Fetched`` message; the screen's ``show(key, value)`` then runs on the UI thread. A failing
query becomes a notification, never an exit (``exit_on_error=False``). Writes go the same way
through ``submit(key, action)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Static
from textual.worker import Worker, WorkerState

from asbb_core.values.errors import AsbbError
from asbb_tui.console.widgets import sync_rows

if TYPE_CHECKING:
    from asbb_tui.console.services import ConsoleServices


class StatusBar(Horizontal):
    """The READ-ONLY and NO SECOND APPROVAL badges (always visible when they apply), the
    database in use and who acts."""

    DEFAULT_CSS = """
    StatusBar { height: 1; padding: 0 1; }
    StatusBar #badge { width: auto; background: $error; color: $text; text-style: bold;
                       padding: 0 1; }
    StatusBar #no-approval { width: auto; background: $warning; color: $text;
                             text-style: bold; padding: 0 1; margin-left: 1; }
    StatusBar #database { width: 1fr; color: $text-muted; padding: 0 1; }
    StatusBar #actor { width: auto; color: $text-muted; }
    """

    def __init__(self, services: ConsoleServices) -> None:
        super().__init__()
        self._services = services

    def compose(self) -> ComposeResult:
        if self._services.read_only:
            yield Static("READ-ONLY", id="badge")
        if not self._services.settings.approvals.require_approval:
            # approvals.require_approval = false: one person's changes move money at once.
            yield Static("NO SECOND APPROVAL", id="no-approval")
        yield Static(self._services.database_label, id="database")
        yield Static(self._services.actor, id="actor")


class Fetched(Message):
    """A worker's result, delivered to the screen that asked for it."""

    def __init__(self, key: str, value: Any) -> None:
        super().__init__()
        self.key = key
        self.value = value


class ConsoleScreen(Screen[None]):
    """A view or a drill-in. Subclasses set ``VIEW_TITLE`` and implement ``refresh_data``
    (start fetches) and ``show`` (put results on screen)."""

    VIEW_TITLE: ClassVar[str] = ""
    _first_result_shown = False
    WRITES: ClassVar[frozenset[str]] = frozenset()
    """Actions of this screen that write (hidden and refused in read-only mode)."""
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="back"),
        Binding("r", "refresh", "Refresh", id="refresh"),
    ]

    @property
    def services(self) -> ConsoleServices:
        return self.app.services  # type: ignore[attr-defined,no-any-return]

    @property
    def read_only(self) -> bool:
        return self.services.read_only

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        yield StatusBar(self.services)
        yield from self.compose_body()
        yield Footer()

    def compose_body(self) -> ComposeResult:
        """The screen's own widgets, between the status bar and the footer."""
        yield from ()

    def on_mount(self) -> None:
        self.app.sub_title = self.breadcrumbs()
        self.refresh_data()

    def on_screen_resume(self) -> None:
        self.app.sub_title = self.breadcrumbs()

    def breadcrumbs(self) -> str:
        """Where you are, k9s style: view > drill-in > ..."""
        titles = [s.VIEW_TITLE for s in self.app.screen_stack if isinstance(s, ConsoleScreen)]
        return " > ".join(t for t in titles if t)

    def refresh_data(self) -> None:
        """Start the fetches this screen shows (called on mount and by ``r``)."""

    def show(self, key: str, value: Any) -> None:
        """Put a fetched result on screen (UI thread)."""

    def failed(self, key: str, error: BaseException) -> None:
        """A fetch or submit failed: tell the user; subclasses may also clear loading marks."""
        message = error.message if isinstance(error, AsbbError) else str(error)
        self.notify(message, title=f"{key} failed", severity="error", timeout=8)

    # -- workers ---------------------------------------------------------------

    def fetch(self, key: str, query: Callable[[], Any]) -> Worker[None]:
        """Run ``query`` in a thread; ``show(key, result)`` gets its result."""

        def work() -> None:
            self.post_message(Fetched(key, query()))

        return self.run_worker(
            work, name=key, group=f"fetch:{key}", thread=True, exclusive=True, exit_on_error=False
        )

    def submit(self, key: str, action: Callable[[], Any]) -> Worker[None] | None:
        """Run a write in a thread (refused in read-only mode); ``show(key, result)`` follows."""
        if self.read_only:
            self.notify("the console is read-only", severity="warning")
            return None
        return self.fetch(key, action)

    def on_fetched(self, message: Fetched) -> None:
        message.stop()
        self.show(message.key, message.value)
        if not self._first_result_shown:
            self._first_result_shown = True
            if self.focused is None:
                # A table still loading when the screen mounted could not take the focus
                # then; give it with the first result, so the keys work without a Tab.
                for table in self.query(DataTable):
                    if table.display and table.focusable:
                        table.focus()
                        break

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            self.failed(event.worker.name, event.worker.error)

    # -- actions ---------------------------------------------------------------

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 1:  # each view is the bottom of its own stack
            self.app.pop_screen()

    def action_refresh(self) -> None:
        self.refresh_data()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Read-only: write actions are not offered at all (footer, palette, keys).
        return not (self.read_only and action in self.WRITES)


class FilteredTableScreen(ConsoleScreen):
    """A view with a ``/`` filter box (an ``Input`` with id ``filter``, hidden until asked
    for) over one table (id ``FILTER_TABLE``): typing sets ``text_filter`` and refetches,
    Enter goes back to the table, and the first Esc clears the filter before a second goes
    back."""

    FILTER_TABLE: ClassVar[str] = ""
    text_filter: str = ""

    def _table(self) -> DataTable[Any]:
        return self.query_one(f"#{self.FILTER_TABLE}", DataTable)

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter":
            self.text_filter = event.value.strip()
            self.refresh_data()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "filter":
            self._table().focus()

    def action_back(self) -> None:
        box = self.query_one("#filter", Input)
        if box.display:  # Esc clears the filter first
            box.value = ""
            box.display = False
            self.text_filter = ""
            self._table().focus()
            self.refresh_data()
            return
        super().action_back()


class InboxScreen(FilteredTableScreen):
    """A filtered table of records (alerts, adjustment requests) with a status filter that
    ``f`` cycles through, and a detail line for the highlighted record.

    Subclasses set ``COLUMNS``, ``STATUS_FILTERS``, ``NOUN`` and ``ERROR_TARGET`` (the Static
    a failed action's message goes to), and implement ``describe`` and ``cells``."""

    COLUMNS: ClassVar[tuple[tuple[str, str], ...]] = ()
    STATUS_FILTERS: ClassVar[tuple[str | None, ...]] = (None,)
    """``f`` cycles through these (``None``: every status)."""
    NOUN: ClassVar[str] = "record"
    ERROR_TARGET: ClassVar[str] = "detail"
    FILTER_NAME: ClassVar[str] = "status"
    """What ``f`` filters by, as the status line names it."""

    def __init__(self) -> None:
        super().__init__()
        self.status_index = 0
        self.rows: dict[str, Any] = {}

    @property
    def status_filter(self) -> str | None:
        return self.STATUS_FILTERS[self.status_index]

    def describe(self, record: Any) -> Text:
        """The detail line of one record."""
        raise NotImplementedError

    def cells(self, record: Any) -> tuple[Any, ...]:
        """One record's row, in ``COLUMNS`` order."""
        raise NotImplementedError

    def on_mount(self) -> None:
        table = self._table()
        for key, label in self.COLUMNS:
            table.add_column(label, key=key)
        table.loading = True
        self.query_one("#filter", Input).display = False
        super().on_mount()

    def show_records(self, records: list[Any]) -> None:
        """Put a fetched page on screen: the table, the status line and the detail."""
        table = self._table()
        table.loading = False
        self.rows = {str(r.id): r for r in records}
        sync_rows(table, {str(r.id): self.cells(r) for r in records})
        label = self.status_filter or "all"
        extra = f"  filter: {self.text_filter}" if self.text_filter else ""
        self.query_one("#status-line", Static).update(
            f"{self.FILTER_NAME}: {label} (f)  {len(records)} {self.NOUN}(s){extra}"
        )
        self._update_detail()

    def current(self) -> Any:
        """The highlighted record, or ``None``."""
        table = self._table()
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return self.rows.get(str(key))

    def _update_detail(self) -> None:
        record = self.current()
        self.query_one("#detail", Static).update(self.describe(record) if record else "")

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._update_detail()

    def failed(self, key: str, error: BaseException) -> None:
        self._table().loading = False
        super().failed(key, error)
        if key != self.FILTER_TABLE:  # keep an action's refusal on screen, not only a toast
            message = error.message if isinstance(error, AsbbError) else str(error)
            self.query_one(f"#{self.ERROR_TARGET}", Static).update(Text(message, style="red"))

    def action_cycle_status(self) -> None:
        self.status_index = (self.status_index + 1) % len(self.STATUS_FILTERS)
        self.refresh_data()
