"""``asbb burn-rate`` and ``asbb calibration``: how fast money goes, and how good estimates are."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from asbb_core.burnrate import WINDOWS, BurnRate, account_burn_rate, grant_burn_rate
from asbb_core.calibration import cost_ratios
from asbb_core.money import format_money
from asbb_core.periods import parse_date
from asbb_tui.cli_base import JsonOption, fail, jsonable, opened, print_json, stdout

_BAND_STYLE = {"healthy": "green", "concern": "yellow", "warning": "dark_orange", "critical": "red"}


def _money(value: object) -> str:
    from decimal import Decimal

    return format_money(value) if isinstance(value, Decimal) else "-"


def _print_burn_rate(br: BurnRate) -> None:
    out = stdout()
    style = _BAND_STYLE.get(br.health.band, "")
    title = f"{br.subject} {br.name}: {br.window} ({br.since} .. {br.until}, {br.days} days)"
    table = Table(title=title, show_header=False, box=None, padding=(0, 2))
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_row("health", f"[{style}]{br.health.score} {br.health.band}[/]")
    table.add_row("budget", _money(br.budget))
    if br.indirect_rate is not None:
        table.add_row("indirect rate", f"{br.indirect_rate * 100:.2f}%")
    table.add_row("spent in window", _money(br.spent))
    table.add_row("spent to date", _money(br.spent_to_date))
    table.add_row("available", _money(br.available))
    table.add_row("actual per day", _money(br.actual_daily))
    basis = f" ({br.expected_basis})" if br.expected_basis else ""
    table.add_row("expected per day" + basis, _money(br.expected_daily))
    variance = "-" if br.variance_percent is None else f"{br.variance_percent:+}%"
    table.add_row("variance", variance)
    table.add_row("end date", str(br.end_date or "-"))
    table.add_row("projected exhaustion", str(br.projected_exhaustion or "not in sight"))
    table.add_row("projected balance at end", _money(br.projected_balance_at_end))
    out.print(table)
    for label, rows in (("partition", br.by_partition), ("user", br.by_user)):
        if rows:
            part = Table(label, "spent", title=f"by {label}")
            for key, value in rows:
                part.add_row(key or "(none)", format_money(value))
            out.print(part)


def burn_rate(
    ctx: typer.Context,
    account: Annotated[str | None, typer.Argument(help="The account (or use --grant).")] = None,
    grant: Annotated[
        str | None, typer.Option("--grant", metavar="NUMBER", help="A grant's current period.")
    ] = None,
    window: Annotated[
        str, typer.Option(help=f"One of {', '.join(WINDOWS)} (default: 30d; grants: period).")
    ] = "",
    today: Annotated[
        str | None, typer.Option(metavar="YYYY-MM-DD", help="The day the window ends.")
    ] = None,
    budget_period: Annotated[
        int | None,
        typer.Option(min=1, metavar="N", help="With --grant: budget period N, not the current."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Actual vs expected daily spend, variance, health band, projected exhaustion.

    Spend is net of refunds; a grant's is total cost (direct x (1 + indirect rate))."""
    if (account is None) == (grant is None):
        fail("name an account or a --grant (one of them)")
    if budget_period is not None and grant is None:
        fail("--budget-period applies to a --grant")
    day = None if today is None else parse_date(today, field="today")
    with opened(ctx) as (settings, db, _ledger):
        if grant is not None:
            br = grant_burn_rate(
                db,
                settings,
                grant,
                window=window or "period",
                today=day,
                period_number=budget_period,
            )
        else:
            assert account is not None
            br = account_burn_rate(db, settings, account, window=window or "30d", today=day)
    if as_json:
        print_json(jsonable(br))
    else:
        _print_burn_rate(br)


def calibration(
    ctx: typer.Context,
    account: Annotated[str | None, typer.Option(help="Only this account.")] = None,
    partition: Annotated[str | None, typer.Option(help="Only this partition.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Actual vs estimated cost per account and partition, and the calibration factor.

    The factor scales new estimates only when [calibration] enabled = true."""
    with opened(ctx) as (settings, db, _ledger):
        cal = settings.calibration
        ratios = cost_ratios(db, cal, account=account, partition=partition)
    if as_json:
        print_json({"enabled": cal.enabled, "ratios": jsonable(ratios)})
        return
    state = "on" if cal.enabled else "off (reported only)"
    table = Table(
        "account",
        "partition",
        "jobs",
        "estimated",
        "actual",
        "ratio",
        "factor",
        title=f"cost learning, last {cal.window_days} days; calibration {state}",
    )
    for r in ratios:
        table.add_row(
            r.account,
            r.partition or "(none)",
            str(r.jobs),
            format_money(r.estimated),
            format_money(r.actual),
            "-" if r.ratio is None else f"{r.ratio:.4f}",
            f"{r.factor:.4f}",
        )
    stdout().print(table)
