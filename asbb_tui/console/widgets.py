"""Cells and small widgets the console's screens share: money, percentages, bands, status."""

from __future__ import annotations

from decimal import Decimal

from rich.text import Text

from asbb_core.models import AccountStatus
from asbb_core.money import format_money

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


def percent_bar(part: Decimal, whole: Decimal, width: int = 10) -> Text:
    """``#####-----  50%``: a bar that reads in 16 colours and in plain text."""
    share = Decimal(0) if whole <= 0 else min(max(part / whole, Decimal(0)), Decimal(1))
    filled = int((share * width).to_integral_value())
    percent = int((share * 100).to_integral_value())
    style = "red" if percent >= 90 else "yellow" if percent >= 80 else "green"
    bar = Text("█" * filled, style=style)
    bar.append("░" * (width - filled), style="dim")
    bar.append(f" {percent:3d}%")
    return bar
