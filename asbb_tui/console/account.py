"""One account, drilled into from the accounts view: its figures, partition limits, allocation
schedules, open holds, journal (paged and filtered in SQL) and burn-rate chart.

Keys: ``o``/``h``/``j``/``c`` show the overview, holds, journal or chart; ``w``/``W`` step the
chart's window (7d, 30d, 90d, 6m, 1y); ``/`` filters the journal (a kind such as ``charge``,
a job id, or ``kind:`` / ``job:`` / ``since:`` / ``until:`` terms); ``n``/``p`` page it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Input, Static, TabbedContent, TabPane

from asbb_core.analytics.burnrate import account_burn_rate
from asbb_core.store import queries
from asbb_core.store.models import EntryKind
from asbb_core.values.errors import ValidationError
from asbb_core.values.money import format_money
from asbb_tui.console.base import ConsoleScreen
from asbb_tui.console.chart import BurnRateChart, step_window
from asbb_tui.console.widgets import band_cell, money_cell, status_cell

CHART_WINDOWS: tuple[str, ...] = ("7d", "30d", "90d", "6m", "1y")
JOURNAL_PAGE = 50
HOLDS_PAGE = 100


@dataclass(frozen=True)
class JournalFilter:
    kind: str | None = None
    job_id: str | None = None
    since: str | None = None
    until: str | None = None

    @property
    def empty(self) -> bool:
        return not (self.kind or self.job_id or self.since or self.until)


def parse_journal_filter(text: str) -> JournalFilter:
    """``charge`` (a kind), ``12345`` (a job id), or ``kind:x job:y since:d until:d`` terms."""
    kinds = {k.value for k in EntryKind}
    found: dict[str, str] = {}
    for term in text.split():
        name, sep, value = term.partition(":")
        if sep and name in ("kind", "job", "since", "until") and value:
            found[name] = value
        elif term.lower() in kinds:
            found["kind"] = term.lower()
        else:
            found["job"] = term
    return JournalFilter(
        found.get("kind"), found.get("job"), found.get("since"), found.get("until")
    )


class AccountScreen(ConsoleScreen):
    """The drill-in for one account (``name``)."""

    DEFAULT_CSS = """
    #summary { height: auto; padding: 0 1; }
    /* The panes fill what is left (ids: TabbedContent's own CSS says height: auto), so the
       chart is drawn to the room it really has and the screen never scrolls. */
    #tabs, #tabs ContentSwitcher, #tabs TabPane { height: 1fr; }
    #journal-filter { display: none; height: 1; border: none; }
    #journal-filter.shown { display: block; }
    #partitions, #schedules { height: auto; max-height: 10; }
    .caption { height: 1; color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("o", "tab('overview')", "Overview", id="account-overview"),
        Binding("h", "tab('holds')", "Holds", id="account-holds"),
        Binding("j", "tab('journal')", "Journal", id="account-journal"),
        Binding("c", "tab('chart')", "Chart", id="account-chart"),
        Binding("w", "window(1)", "Window", id="account-window-next"),
        Binding("W", "window(-1)", "Window back", show=False, id="account-window-prev"),
        Binding("slash", "filter", "Filter journal", id="account-filter"),
        Binding("n", "journal_page(1)", "Older", show=False, id="account-older"),
        Binding("p", "journal_page(-1)", "Newer", show=False, id="account-newer"),
    ]

    def __init__(self, name: str) -> None:
        super().__init__()
        self.account_name = name
        self.chart_window = "30d"
        self.journal_filter = JournalFilter()
        self._before: list[int | None] = [None]
        """The ``before_id`` of each journal page seen (the last one is shown)."""
        self._next_before: int | None = None

    @property
    def VIEW_TITLE(self) -> str:  # type: ignore[override]  # noqa: N802  (per instance)
        return self.account_name

    def compose_body(self) -> ComposeResult:
        yield Static("loading...", id="summary")
        with TabbedContent(initial="overview", id="tabs"):
            with TabPane("Overview", id="overview"):
                yield Static("Partition limits", classes="caption")
                yield DataTable(id="partitions", cursor_type="row")
                yield Static("Allocation schedules", classes="caption")
                yield DataTable(id="schedules", cursor_type="row")
            with TabPane("Holds", id="holds"):
                yield DataTable(id="holds-table", cursor_type="row", zebra_stripes=True)
            with TabPane("Journal", id="journal"):
                yield Input(
                    placeholder="/ kind, job id, since:2026-01-01 (Esc clears)", id="journal-filter"
                )
                yield DataTable(id="journal-table", cursor_type="row", zebra_stripes=True)
                yield Static("", id="journal-pager", classes="caption")
            with TabPane("Chart", id="chart"):
                yield BurnRateChart(id="burn-chart")

    def on_mount(self) -> None:
        columns = {
            "partitions": ("Partition", "Limit", "Used", "Held", "Available"),
            "schedules": ("Id", "Amount", "Total", "Every", "Start", "Next due", "Status"),
            "holds-table": ("Hold", "Job", "User", "Partition", "Held", "Created", "Expires"),
            "journal-table": ("Id", "When", "Kind", "Amount", "Job", "Partition", "Actor"),
        }
        for table_id, labels in columns.items():
            self.query_one(f"#{table_id}", DataTable).add_columns(*labels)
        super().on_mount()

    # -- data ------------------------------------------------------------------

    def refresh_data(self) -> None:
        db, name = self.services.db, self.account_name
        allocations = self.services.allocations
        self.fetch("detail", lambda: queries.account_detail(db, name))
        self.fetch("schedules", lambda: allocations.list_schedules(account=name))
        self.fetch("holds", lambda: queries.list_holds(db, account=name, limit=HOLDS_PAGE))
        self.fetch_journal()
        self.fetch_burn()

    def fetch_journal(self) -> None:
        db, name, flt, before = (
            self.services.db,
            self.account_name,
            self.journal_filter,
            self._before[-1],
        )

        def query() -> queries.EntryPage:
            since = queries.parse_when(flt.since, field="since")
            until = queries.parse_when(flt.until, field="until", end=True)
            return queries.list_entries(
                db,
                account=name,
                kind=flt.kind,
                job_id=flt.job_id,
                since=since,
                until=until,
                limit=JOURNAL_PAGE,
                before_id=before,
            )

        self.fetch("journal", query)

    def fetch_burn(self) -> None:
        services, name, window = self.services, self.account_name, self.chart_window
        today = services.now().date()
        self.fetch(
            "burn",
            lambda: account_burn_rate(
                services.db, services.settings, name, window=window, today=today
            ),
        )

    def show(self, key: str, value: Any) -> None:
        handler = getattr(self, f"_show_{key}", None)
        if handler is not None:
            handler(value)

    def _show_detail(self, detail: queries.AccountDetail) -> None:
        a = detail.account
        dates = f"{a.start_date or 'open'} .. {a.end_date or 'open'}"
        summary = Text.assemble(
            (a.name, "bold"),
            "  ",
            status_cell(str(a.status)),
            f"  {dates}  open holds {detail.open_holds}\n",
            f"limit {format_money(a.limit_amount)}  used {format_money(a.used_amount)}  ",
            f"held {format_money(a.held_amount)}  available {format_money(a.available)}",
        )
        if a.description:
            summary.append(f"\n{a.description}", style="dim")
        self.query_one("#summary", Static).update(summary)
        table = self.query_one("#partitions", DataTable)
        table.clear()
        for p in detail.partition_limits:
            table.add_row(
                p.partition,
                money_cell(p.limit_amount),
                money_cell(p.used_amount),
                money_cell(p.held_amount),
                money_cell(p.available),
                key=p.partition,
            )

    def _show_schedules(self, schedules: list[Any]) -> None:
        table = self.query_one("#schedules", DataTable)
        table.clear()
        for info in schedules:
            s = info.schedule
            table.add_row(
                str(info.id),
                money_cell(s.amount),
                money_cell(s.total),
                str(s.frequency),
                s.start_date.isoformat(),
                info.next_due.isoformat() if info.next_due else "-",
                str(s.status),
                key=str(info.id),
            )

    def _show_holds(self, page: queries.Page[queries.HoldRow]) -> None:
        table = self.query_one("#holds-table", DataTable)
        table.clear()
        for row in page.items:
            h = row.hold
            table.add_row(
                h.id[:12],
                h.job_id or "-",
                h.user_name or "-",
                h.partition or "-",
                money_cell(h.remaining),
                h.created_at.strftime("%Y-%m-%d %H:%M"),
                h.expires_at.strftime("%Y-%m-%d %H:%M") if h.expires_at else "-",
                key=h.id,
            )

    def _show_journal(self, page: queries.EntryPage) -> None:
        self._next_before = page.next_before_id
        table = self.query_one("#journal-table", DataTable)
        table.clear()
        for row in page.items:
            e = row.entry
            table.add_row(
                str(e.id),
                e.created_at.strftime("%Y-%m-%d %H:%M"),
                str(e.kind),
                money_cell(e.amount),
                e.job_id or "-",
                e.partition or "-",
                e.actor,
                key=str(e.id),
            )
        flt = self.journal_filter
        parts = [f"page {len(self._before)}", f"{len(page.items)} rows"]
        if not flt.empty:
            terms = (
                ("kind", flt.kind),
                ("job", flt.job_id),
                ("since", flt.since),
                ("until", flt.until),
            )
            parts.append("filter: " + " ".join(f"{k}:{v}" for k, v in terms if v))
        if page.next_before_id is not None:
            parts.append("n: older")
        if len(self._before) > 1:
            parts.append("p: newer")
        self.query_one("#journal-pager", Static).update("  ".join(parts))

    def _show_burn(self, rate: Any) -> None:
        chart = self.query_one("#burn-chart", BurnRateChart)
        chart.rate = rate
        band = rate.health.band
        self.query_one("TabbedContent", TabbedContent).get_tab("chart").label = Text.assemble(
            "Chart ", band_cell(band), f" {self.chart_window}"
        )

    # -- actions ---------------------------------------------------------------

    def action_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab

    def action_window(self, step: int) -> None:
        self.chart_window = step_window(CHART_WINDOWS, self.chart_window, step)
        self.action_tab("chart")
        self.fetch_burn()

    def action_filter(self) -> None:
        self.action_tab("journal")
        box = self.query_one("#journal-filter", Input)
        box.add_class("shown")
        box.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "journal-filter" and event.value.startswith("/"):
            event.stop()  # the key that opened the box
            event.input.value = event.value.lstrip("/")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "journal-filter":
            return
        event.stop()
        flt = parse_journal_filter(event.value)
        try:  # bad dates are refused here, before any query
            since = queries.parse_when(flt.since, field="since")
            until = queries.parse_when(flt.until, field="until", end=True)
            queries.check_range(since, until)
        except ValidationError as error:
            self.notify(error.message, severity="error")
            return
        self.journal_filter = flt
        self._before = [None]
        event.input.remove_class("shown")  # the pager line shows the filter in use
        self.call_after_refresh(self.query_one("#journal-table", DataTable).focus)
        self.fetch_journal()

    def action_journal_page(self, step: int) -> None:
        if step > 0:
            if self._next_before is None:
                self.app.bell()
                return
            self._before.append(self._next_before)
        else:
            if len(self._before) == 1:
                self.app.bell()
                return
            self._before.pop()
        self.action_tab("journal")
        self.fetch_journal()

    def action_back(self) -> None:
        box = self.query_one("#journal-filter", Input)
        if box.has_class("shown") or not self.journal_filter.empty:
            box.remove_class("shown")
            box.value = ""
            if not self.journal_filter.empty:
                self.journal_filter = JournalFilter()
                self._before = [None]
                self.fetch_journal()
            self.query_one("#journal-table", DataTable).focus()
            return
        super().action_back()
