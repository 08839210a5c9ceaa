"""Cells and small widgets the console's screens share: money, percentages, bands, status."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from rich.text import Text
from textual.coordinate import Coordinate
from textual.widgets import DataTable

from asbb_core.store.models import AccountStatus
from asbb_core.values.money import format_money

BAND_STYLE = {"healthy": "green", "concern": "yellow", "warning": "bright_red", "critical": "red"}
SEVERITY_STYLE = {"info": "cyan", "warning": "yellow", "critical": "bold red"}


def money_cell(amount: Decimal | None) -> Text:
    """Money, right-aligned, through the one formatter."""
    return Text("-" if amount is None else format_money(amount), justify="right")


def status_cell(status: str) -> Text:
    style = {AccountStatus.SUSPENDED: "yellow", AccountStatus.CLOSED: "dim"}.get(
        AccountStatus(status), ""
    )
    return Text(status, style=style)


def band_cell(band: str | None) -> Text:
    return Text(band or "-", style=BAND_STYLE.get(band or "", "dim"))


def percent_bar(part: Decimal, whole: Decimal, width: int = 10, *, band: str | None = None) -> Text:
    """``#####-----  50%``: a bar that reads in 16 colours and in plain text.

    Coloured by the health ``band`` when there is one -- the same colour as the band's label
    beside it, so a bar never says "fine" next to "critical" -- else by the share itself
    (a grant period's budget: red from 90%, yellow from 80%)."""
    share = Decimal(0) if whole <= 0 else min(max(part / whole, Decimal(0)), Decimal(1))
    filled = int((share * width).to_integral_value())
    percent = int((share * 100).to_integral_value())
    by_share = "red" if percent >= 90 else "yellow" if percent >= 80 else "green"
    style = BAND_STYLE.get(band or "", by_share)
    bar = Text("█" * filled, style=style)
    bar.append("░" * (width - filled), style="dim")
    bar.append(f" {percent:3d}%")
    return bar


def fit_columns(table: DataTable[Any], columns: Sequence[tuple[str, str]]) -> bool:
    """Give ``table`` these ``(key, label)`` columns unless it has them already (changing them
    clears its rows). True when they changed."""
    if [str(key.value) for key in table.columns] == [key for key, _ in columns]:
        return False
    table.clear(columns=True)
    for key, label in columns:
        table.add_column(label, key=key)
    return True


def sync_rows(
    table: DataTable[Any],
    rows: Mapping[str, Sequence[Any]] | Sequence[tuple[str, Sequence[Any]]],
) -> None:
    """Make ``table`` show ``rows`` (key -> cells, in order), updating cells in place (dolphie).

    When the keys and their order are unchanged only changed cells are rewritten; otherwise
    the table is rebuilt and the cursor put back on the row it was on (if still there).
    """
    if isinstance(rows, Mapping):
        rows = list(rows.items())
    wanted = [key for key, _ in rows]
    present = [str(row.key.value) for row in table.ordered_rows]
    if wanted == present:
        for y, (_key, cells) in enumerate(rows):
            for x, cell in enumerate(cells):
                coordinate = Coordinate(y, x)
                if table.get_cell_at(coordinate) != cell:
                    table.update_cell_at(coordinate, cell)
        return
    current: str | None = None
    if table.row_count and 0 <= table.cursor_row < table.row_count:
        current = present[table.cursor_row]
    table.clear()
    for key, cells in rows:
        table.add_row(*cells, key=key)
    if current in wanted:
        table.move_cursor(row=wanted.index(current))
