"""The grants view and its drill-in.

GrantsScreen lists the grants (number, title, status, dates, award, indirect rate, drawn);
Enter opens GrantScreen: the grant's budget periods with the direct / indirect split of each,
its current period's burn rate, and ``e`` / ``m`` to export the current period's compliance
report as CSV / Markdown into the current directory (the path is shown in a notification).
Its chart tab (``c``, or Enter on a period) draws one budget period's burn rate in total cost;
``w`` / ``W`` step the window (the whole period, then 7d ... 1y), ``t`` goes back to the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Static, TabbedContent, TabPane

from asbb_core.analytics.burnrate import BurnRate, grant_burn_rate
from asbb_core.analytics.reports import grant_compliance_report, render_grant_report
from asbb_core.funding.grants import GrantDetail, PeriodStatus, rate_percent
from asbb_core.store.models import GrantStatus
from asbb_core.values.errors import AsbbError, ValidationError
from asbb_core.values.money import format_money
from asbb_tui.console.base import ConsoleScreen
from asbb_tui.console.chart import BurnRateChart, step_window
from asbb_tui.console.widgets import band_cell, fit_columns, money_cell, percent_bar, sync_rows
from asbb_tui.output_files import create_file

GRANT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("number", "Grant"),
    ("status", "Status"),
    ("dates", "Dates"),
    ("award", "Award"),
    ("rate", "Indirect"),
    ("drawn", "Drawn"),
    ("title", "Title"),  # last: a long title is what 80 columns cut
)
PERIOD_COLUMNS: tuple[tuple[str, str], ...] = (
    ("period", "#"),
    ("dates", "Dates"),
    ("state", "State"),
    ("budget", "Budget"),
    ("direct", "Direct"),
    ("indirect", "Indirect"),
    ("consumed", "Consumed"),
    ("remaining", "Remaining"),
    ("used", "Used %"),
)
NARROW_PERIOD_COLUMNS: tuple[tuple[str, str], ...] = (
    ("period", "#"),
    ("starts", "Starts"),
    ("budget", "Budget"),
    ("direct", "Direct"),
    ("indirect", "Indirect"),
    ("remaining", "Remaining"),
    ("used", "Used"),
)
"""Below ``WIDE`` columns: the start date only, the current period marked in ``#``, and no
consumed column (it is direct + indirect), so the table fits 80 columns."""
WIDE = 110
EXPORT_SUFFIX = {"csv": "csv", "markdown": "md", "pdf": "pdf"}
"""The exports of a grant's view: the compliance report as CSV or Markdown, and the
agency-required financial report as PDF."""
GRANT_CHART_WINDOWS: tuple[str, ...] = ("period", "7d", "30d", "90d", "6m", "1y")


def _dates(start: Any, end: Any) -> str:
    return f"{start.isoformat()}..{end.isoformat()}"


class GrantsScreen(ConsoleScreen):
    VIEW_TITLE = "Grants"
    AUTO_FOCUS = "#grants"
    BINDINGS: ClassVar[list[BindingType]] = [
        # The focused table turns Enter into RowSelected (which opens the grant); this binding
        # serves when the table is not focused, and stays out of the footer so it is stable.
        Binding("enter", "open_grant", "Open", id="grants-open", show=False),
        Binding("f", "cycle_status", "Status filter", id="grants-status"),
    ]
    DEFAULT_CSS = """
    GrantsScreen #status-line { height: 1; padding: 0 1; color: $text-muted; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.status_filter: str | None = GrantStatus.ACTIVE.value

    def compose_body(self) -> ComposeResult:
        yield Static("", id="status-line")
        yield DataTable(id="grants", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.query_one("#grants", DataTable)
        for key, label in GRANT_COLUMNS:
            table.add_column(label, key=key)
        table.loading = True
        super().on_mount()

    def refresh_data(self) -> None:
        grants = self.services.grants
        status = self.status_filter
        self.fetch("grants", lambda: grants.list_grants(status=status))

    def show(self, key: str, value: Any) -> None:
        table = self.query_one("#grants", DataTable)
        table.loading = False
        details: list[GrantDetail] = value
        sync_rows(
            table,
            {
                d.grant.number: (
                    d.grant.number,
                    str(d.grant.status),
                    _dates(d.grant.start_date, d.grant.end_date),
                    money_cell(d.grant.total_award),
                    Text(rate_percent(d.grant.indirect_rate), justify="right"),
                    money_cell(d.drawn),
                    d.grant.title,
                )
                for d in details
            },
        )
        self.query_one("#status-line", Static).update(
            f"status: {self.status_filter or 'all'} (f)  {len(details)} grant(s)"
        )

    def failed(self, key: str, error: BaseException) -> None:
        self.query_one("#grants", DataTable).loading = False
        super().failed(key, error)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.app.push_screen(GrantScreen(str(event.row_key.value)))

    def action_open_grant(self) -> None:
        table = self.query_one("#grants", DataTable)
        if table.row_count:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
            self.app.push_screen(GrantScreen(str(key)))

    def action_cycle_status(self) -> None:
        order: list[str | None] = [GrantStatus.ACTIVE.value, None, GrantStatus.CLOSED.value]
        self.status_filter = order[(order.index(self.status_filter) + 1) % len(order)]
        self.refresh_data()


@dataclass(frozen=True)
class GrantLine:
    """What the drill-in shows, read in one worker."""

    detail: GrantDetail
    periods: list[PeriodStatus]
    burn: BurnRate | None
    burn_error: str = ""


def load_grant_view(screen_services: Any, number: str) -> GrantLine:
    """Read a grant, the status of each of its periods and its burn rate (worker thread)."""
    grants = screen_services.grants
    detail = grants.get_grant(number)
    today = grants.today()
    periods = [grants.period_status(number, p.number, today) for p in detail.periods]
    try:
        burn = grant_burn_rate(screen_services.db, screen_services.settings, number, today=today)
    except AsbbError as error:  # e.g. no periods: show the rest anyway
        return GrantLine(detail, periods, None, error.message)
    return GrantLine(detail, periods, burn)


def export_report(services: Any, number: str, fmt: str, path: Path) -> Path:
    """Write the current period's compliance report (csv, markdown) or agency-required
    report (pdf) to ``path``, which must not exist yet: an export never replaces a file
    (worker)."""
    now = services.now()
    if fmt == "pdf":
        from asbb_core.funding.agency_report import agency_report, render_agency_report

        data = render_agency_report(agency_report(services.db, number, now=now), "pdf")
    else:
        report = grant_compliance_report(services.db, services.settings, number, now=now)
        data = render_grant_report(report, fmt).encode("utf-8")
    try:
        create_file(path, data)
    except FileExistsError:
        raise ValidationError(
            f"path: {path} already exists; give another name", field="path"
        ) from None
    except OSError as exc:
        why = exc.strerror or exc
        raise ValidationError(f"path: cannot write {path}: {why}", field="path") from None
    return path


def export_path(number: str, fmt: str, folder: Path) -> Path:
    """The name an export is offered under: the grant and the report, in ``folder``."""
    kind = "agency-report" if fmt == "pdf" else "report"
    return folder / f"{number}-{kind}.{EXPORT_SUFFIX[fmt]}"


class GrantScreen(ConsoleScreen):
    """One grant: header, budget periods with the direct/indirect split, burn status."""

    AUTO_FOCUS = "#periods"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("t", "tab('periods')", "Periods", id="grant-periods"),
        Binding("c", "chart", "Chart", id="grant-chart"),
        Binding("w", "window(1)", "Window", id="grant-window-next"),
        Binding("W", "window(-1)", "Window back", show=False, id="grant-window-prev"),
        Binding("e", "export('csv')", "Export CSV", id="grant-export-csv"),
        Binding("m", "export('markdown')", "Export Markdown", id="grant-export-md"),
        Binding("F", "export('pdf')", "Agency report PDF", id="grant-export-agency-pdf"),
    ]
    # An export writes a file: not offered in read-only mode.
    WRITES: ClassVar[frozenset[str]] = frozenset({"export"})
    DEFAULT_CSS = """
    GrantScreen #header { height: auto; padding: 0 1; }
    /* ids: TabbedContent's own CSS says height: auto (see AccountScreen) */
    GrantScreen #tabs, GrantScreen #tabs ContentSwitcher, GrantScreen #tabs TabPane {
        height: 1fr;
    }
    GrantScreen #periods { height: auto; max-height: 12; }
    GrantScreen #burn { height: auto; padding: 0 1; border-top: solid $accent; }
    """

    def __init__(self, number: str) -> None:
        super().__init__()
        self.number = number
        self.chart_window = "period"
        self.chart_period: int | None = None
        """The budget period charted (``None``: the current one)."""
        self._view: GrantLine | None = None

    @property
    def VIEW_TITLE(self) -> str:  # type: ignore[override]  # noqa: N802  (per instance)
        return f"Grant {self.number}"

    def compose_body(self) -> ComposeResult:
        yield Static(Text(self.number, style="bold"), id="header")
        with TabbedContent(initial="periods-tab", id="tabs"):
            with TabPane("Periods", id="periods-tab"):
                yield DataTable(id="periods", cursor_type="row", zebra_stripes=True)
                yield Static("", id="burn")
            with TabPane("Chart", id="chart"):
                yield BurnRateChart(id="grant-chart")

    def on_mount(self) -> None:
        table = self.query_one("#periods", DataTable)
        fit_columns(table, self._period_columns())
        table.loading = True
        super().on_mount()

    def refresh_data(self) -> None:
        services = self.services
        number = self.number
        self.fetch("grant", lambda: load_grant_view(services, number))
        self.fetch_chart()

    def fetch_chart(self) -> None:
        services, number = self.services, self.number
        window, period = self.chart_window, self.chart_period
        today = services.now().date()
        self.fetch(
            "chart",
            lambda: grant_burn_rate(
                services.db,
                services.settings,
                number,
                window=window,
                today=today,
                period_number=period,
            ),
        )

    def show(self, key: str, value: Any) -> None:
        if key == "export":
            self.notify(f"report written to {value}", title="Export")
            return
        if key == "chart":
            self._show_chart(value)
            return
        self._view = value
        self._show_header(value.detail)
        self._show_periods()
        self.query_one("#burn", Static).update(self._burn_text(value))

    def _period_columns(self) -> tuple[tuple[str, str], ...]:
        return PERIOD_COLUMNS if self.app.size.width >= WIDE else NARROW_PERIOD_COLUMNS

    def _show_periods(self) -> None:
        if self._view is None:
            return
        table = self.query_one("#periods", DataTable)
        table.loading = False
        columns = self._period_columns()
        fit_columns(table, columns)
        narrow = columns is NARROW_PERIOD_COLUMNS
        rows = []
        for p in self._view.periods:
            current = p.state == "current"
            cells = {
                "period": Text(
                    f"{'▶' if narrow and current else ''}{p.period}",
                    style="bold" if current else "",
                    justify="right",
                ),
                "dates": _dates(p.start_date, p.end_date),
                "starts": p.start_date.isoformat(),
                "state": Text(p.state, style="bold" if current else "dim"),
                "budget": money_cell(p.budget),
                "direct": money_cell(p.direct),
                "indirect": money_cell(p.indirect),
                "consumed": money_cell(p.consumed),
                "remaining": money_cell(p.remaining),
                "used": percent_bar(p.consumed, p.budget, width=0 if narrow else 10),
            }
            rows.append((str(p.period), [cells[key] for key, _ in columns]))
        sync_rows(table, rows)

    def on_resize(self) -> None:
        self._show_periods()

    def _show_header(self, detail: GrantDetail) -> None:
        g = detail.grant
        text = Text()
        text.append(g.number, style="bold")
        text.append(f"  {g.title}  ({g.status})\n")
        text.append(f"{g.agency} {g.program}  PI {g.pi or '-'}  ")
        text.append(f"{_dates(g.start_date, g.end_date)}\n")
        text.append(f"award {format_money(g.total_award)}  ")
        text.append(f"indirect {rate_percent(g.indirect_rate)}  ")
        text.append(f"drawn {format_money(detail.drawn)}  ")
        accounts = ", ".join(a.name for a in detail.accounts) or "none"
        text.append(f"accounts: {accounts}")
        self.query_one("#header", Static).update(text)

    @staticmethod
    def _burn_text(view: GrantLine) -> Text:
        burn = view.burn
        if burn is None:
            return Text(f"burn rate: {view.burn_error or 'not available'}", style="dim")
        text = Text("burn rate (current period, total cost): ")
        text.append_text(band_cell(burn.health.band))
        text.append(f" score {burn.health.score}\n")
        text.append(f"daily {format_money(burn.actual_daily)}")
        if burn.expected_daily is not None:
            text.append(f" vs expected {format_money(burn.expected_daily)}")
        if burn.variance_percent is not None:
            text.append(f" ({burn.variance_percent:+}%)")
        text.append(f"  available {format_money(burn.available)}")
        if burn.projected_exhaustion is not None:
            text.append(f"  runs out {burn.projected_exhaustion.isoformat()}", style="yellow")
        return text

    def _show_chart(self, rate: BurnRate) -> None:
        chart = self.query_one("#grant-chart", BurnRateChart)
        if rate.period_start > rate.until:  # an upcoming period
            chart.show_message(f"this budget period starts {rate.period_start}: no spend yet")
        else:
            chart.rate = rate
        which = "current period" if self.chart_period is None else f"period {self.chart_period}"
        if self.chart_window != "period":
            which += f", last {self.chart_window}"
        self.query_one(TabbedContent).get_tab("chart").label = Text.assemble(
            "Chart ", band_cell(rate.health.band), f" {which}"
        )

    def failed(self, key: str, error: BaseException) -> None:
        if key == "chart" and isinstance(error, AsbbError):
            # Already said on the periods tab (e.g. no budget periods): no pop-up as well.
            self.query_one("#grant-chart", BurnRateChart).show_message(error.message)
            return
        self.query_one("#periods", DataTable).loading = False
        super().failed(key, error)

    def action_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = "periods-tab" if tab == "periods" else tab
        if tab == "periods":
            self.query_one("#periods", DataTable).focus()

    def action_chart(self) -> None:
        self.action_tab("chart")

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        # Enter on a period charts that period.
        if event.data_table.id == "periods":
            event.stop()
            self.chart_period = int(str(event.row_key.value))
            self.action_tab("chart")
            self.fetch_chart()

    def action_window(self, step: int) -> None:
        self.chart_window = step_window(GRANT_CHART_WINDOWS, self.chart_window, step)
        self.action_tab("chart")
        self.fetch_chart()

    def action_export(self, fmt: str) -> None:
        from asbb_tui.console.dialogs import TextPrompt

        services = self.services
        number = self.number

        def chosen(answer: str | None) -> None:
            if not answer:
                return  # Esc: nothing written
            path = Path(answer).expanduser()
            self.submit("export", lambda: export_report(services, number, fmt, path))

        what = "agency-required report (PDF)" if fmt == "pdf" else f"report ({fmt})"
        self.app.push_screen(
            TextPrompt(
                f"Export the {what} of {number}",
                "Write it to (an existing file is never replaced):",
                required=True,
                value=str(export_path(number, fmt, Path.cwd())),
            ),
            chosen,
        )
