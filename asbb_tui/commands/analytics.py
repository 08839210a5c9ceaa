"""``asbb burn-rate``, ``asbb forecast`` and ``asbb calibration``: how fast money goes, where
it is heading, and how good the cost estimates are."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from asbb_core.values.errors import NotFoundError, ValidationError
from asbb_core.values.money import ZERO, format_money
from asbb_core.values.periods import BURN_RATE_WINDOWS as WINDOWS
from asbb_core.values.periods import parse_date
from asbb_tui.cli_base import (
    Column,
    CsvOption,
    JsonOption,
    check_output,
    columns,
    emit_rows,
    fail,
    opened,
    print_json,
    print_table,
    stdout,
)

if TYPE_CHECKING:
    from asbb_core.analytics.burnrate import BurnRate
    from asbb_core.analytics.views import BurnRateView
    from asbb_core.settings import Settings
    from asbb_core.store.database import Database

_BAND_STYLE = {"healthy": "green", "concern": "yellow", "warning": "dark_orange", "critical": "red"}

TodayOpt = Annotated[
    str | None,
    typer.Option(
        metavar="YYYY-MM-DD",
        help="Compute as of this day (default: today, UTC).",
        show_default=False,
    ),
]


def _money(value: object) -> str:
    return format_money(value) if isinstance(value, Decimal) else "-"


def _percent(value: Decimal | None) -> str:
    return "-" if value is None else f"{value:+}%"


def _per_day(value: Decimal) -> str:
    return f"{format_money(value)} a day"


def _day(value: str | None) -> date | None:
    return None if value is None else parse_date(value, field="today")


def _in_days(day: date | None, today: date) -> str:
    if day is None:
        return "not in sight"
    return f"{day.isoformat()} (in {(day - today).days} days)"


# ---------------------------------------------------------------- burn-rate


def _print_burn_rate(br: BurnRateView) -> None:
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
    table.add_row("variance", _percent(br.variance_percent))
    table.add_row("status", br.burn_rate_status)
    table.add_row("7-day average", _per_day(br.rolling_7d_daily))
    table.add_row("30-day average", _per_day(br.rolling_30d_daily))
    table.add_row(f"cumulative spend (from {br.period_start})", _money(br.cumulative_spend))
    table.add_row("cumulative expected", _money(br.cumulative_expected))
    table.add_row("cumulative variance", _percent(br.cumulative_variance_percent))
    factors = ", ".join(f"{f.factor} -{f.penalty.normalize():f}" for f in br.health.factors)
    table.add_row("health factors", factors or "-")
    table.add_row("end date", str(br.end_date or "-"))
    days_left = br.time_remaining_days
    table.add_row("days remaining", "-" if days_left is None else str(days_left))
    table.add_row("projected exhaustion", str(br.projected_exhaustion or "not in sight"))
    table.add_row("projected balance at end", _money(br.projected_balance_at_end))
    print_table(table, out)
    for label, rows in (("partition", br.by_partition), ("user", br.by_user)):
        if rows:
            part = Table(label, "spent", title=f"by {label}")
            for row in rows:
                part.add_row(row.key or "(none)", format_money(row.spent))
            out.print(part)


def _print_projection(br: BurnRateView) -> None:
    """Where the money goes at the actual daily rate: exhaustion, balance at the end, and the
    instalments still to come (the projection counts them)."""
    out = stdout()
    coming = sum((i.amount for i in br.incoming), ZERO)
    block = Table(
        title=f"projection at {_money(br.actual_daily)} a day (the {br.window} rate)",
        show_header=False,
        box=None,
        padding=(0, 2),
    )
    block.add_column(style="bold")
    block.add_column(justify="right")
    block.add_row("available", _money(br.available))
    block.add_row("instalments to come", f"{len(br.incoming)}, {_money(coming)}")
    block.add_row("end date", str(br.end_date or "-"))
    block.add_row("projected exhaustion", _in_days(br.projected_exhaustion, br.until))
    block.add_row("projected balance at end", _money(br.projected_balance_at_end))
    block.add_row("projected spend at end", _money(br.projected_spend_at_end))
    block.add_row("projected overrun", _money(br.projected_overrun))
    block.add_row("projected underrun", _money(br.projected_underrun))
    out.print(block)
    if br.incoming:
        table = Table("due", "amount", title="instalments to come")
        for i in br.incoming:
            table.add_row(i.due_date.isoformat(), format_money(i.amount))
        print_table(table, out)


def _named_burn_rate(
    db: Database, settings: Settings, name: str, window: str, day: date | None
) -> BurnRate:
    """An account's burn rate, else (no such account) the grant numbered ``name``'s."""
    from asbb_core.analytics.burnrate import account_burn_rate, grant_burn_rate

    try:
        return account_burn_rate(db, settings, name, window=window or "30d", today=day)
    except (NotFoundError, ValidationError) as exc:
        if exc.field != "account":
            raise
    try:
        return grant_burn_rate(db, settings, name, window=window or "period", today=day)
    except (NotFoundError, ValidationError) as exc:
        if exc.field != "grant":
            raise
    raise NotFoundError(f"account or grant {name!r} does not exist", field="name")


def burn_rate(
    ctx: typer.Context,
    name: Annotated[
        str | None,
        typer.Argument(
            metavar="NAME",
            help="An account, or a grant's number (an account of that name wins).",
            show_default=False,
        ),
    ] = None,
    grant: Annotated[
        str | None,
        typer.Option(
            "--grant", metavar="NUMBER", help="A grant's current budget period (explicitly)."
        ),
    ] = None,
    period: Annotated[
        str,
        typer.Option(
            "--period",
            "--window",
            metavar="SPAN",
            help=f"The window the actual spend is averaged over: one of {', '.join(WINDOWS)} "
            "(default: 30d; grants: period, their whole budget period).",
            show_default=False,
        ),
    ] = "",
    today: Annotated[
        str | None,
        typer.Option(metavar="YYYY-MM-DD", help="The day the window ends (default: today, UTC)."),
    ] = None,
    budget_period: Annotated[
        int | None,
        typer.Option(
            min=1, metavar="N", help="Grants: budget period N instead of the current one."
        ),
    ] = None,
    projection: Annotated[
        bool,
        typer.Option(
            "--projection",
            help="Also print the projection: exhaustion date, balance at the end date and the "
            "instalments to come.",
        ),
    ] = False,
    alerts_only: Annotated[
        bool,
        typer.Option(
            "--alerts-only",
            help="Print only when the band is warning or critical, or the money is projected "
            "to run out before the end date; else nothing ([] with --json). Exit status 0 "
            "either way.",
        ),
    ] = False,
    as_json: JsonOption = False,
    as_csv: Annotated[
        bool,
        typer.Option(
            "--csv", help="Print the daily series as CSV: day, actual, expected, cumulative."
        ),
    ] = False,
) -> None:
    """Actual vs expected daily spend, variance and status (OVERSPENDING / UNDERSPENDING
    beyond 20 %, else ON_TRACK), 7- and 30-day averages, cumulative variance since the
    period began, health score with its factors, projected exhaustion.

    Spend is net of refunds; a grant's is total cost (direct x (1 + indirect rate)).
    Examples: `asbb burn-rate physics --period 90d --projection`,
    `asbb burn-rate NSF-2401 --budget-period 2`, `asbb burn-rate physics --alerts-only --json`.
    --json prints what the API's burn-rate routes return.
    """
    from asbb_core.analytics.burnrate import grant_burn_rate
    from asbb_core.analytics.views import BurnRateView, DailySpendView

    check_output(as_json, as_csv)
    if name is not None and grant is not None:
        fail("name an account or a --grant, not both")
    if name is None and grant is None:
        fail("name an account or a --grant (one of them)")
    if period and period not in WINDOWS:
        raise ValidationError(f"period: must be one of {', '.join(WINDOWS)}", field="period")
    day = _day(today)
    with opened(ctx) as bank:
        if grant is not None or budget_period is not None:
            br = grant_burn_rate(
                bank.db,
                bank.settings,
                grant or name or "",
                window=period or "period",
                today=day,
                period_number=budget_period,
            )
        else:
            assert name is not None
            br = _named_burn_rate(bank.db, bank.settings, name, period, day)
    if alerts_only and not br.needs_attention:
        if as_json:
            print_json([])
        return
    view = BurnRateView.of(br)
    if as_json:
        print_json(view.record())
    elif as_csv:
        emit_rows(DailySpendView.series(br), columns(*DailySpendView.model_fields), as_csv=True)
    else:
        _print_burn_rate(view)
        if projection:
            _print_projection(view)


# ---------------------------------------------------------------- forecast


FORECAST_COLUMNS = [
    Column("basis", "rate of"),
    Column("daily", "per day", money=True),
    Column("day", "on"),
    Column("days", "days ahead"),
    Column("spend", "spend", money=True),
    Column("instalments", "instalments", money=True),
    Column("balance", "balance", money=True),
    Column("exhaustion", "money runs out"),
]


def forecast(
    ctx: typer.Context,
    account: Annotated[str, typer.Argument(metavar="ACCOUNT", help="The account.")],
    days: Annotated[
        list[int] | None,
        typer.Option(
            "--days",
            metavar="N",
            help="Look N days ahead (repeat for more; default: 30, 60 and 90). A span past "
            "the account's end date stops at the end date.",
            show_default=False,
        ),
    ] = None,
    today: TodayOpt = None,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Projected spend and balance ahead, at the account's 30-day and at its 90-day actual
    daily spend, counting the allocation instalments still to come; and the day the money
    runs out at each rate.

    Examples: `asbb forecast physics`, `asbb forecast physics --days 180 --json`.
    """
    from asbb_core.analytics.burnrate import FORECAST_DAYS, account_forecast
    from asbb_core.analytics.views import AccountForecastView

    check_output(as_json, as_csv)
    day = _day(today)
    with opened(ctx) as bank:
        result = account_forecast(
            bank.db, bank.settings, account, days=days or FORECAST_DAYS, today=day
        )
    view = AccountForecastView.of(result)
    emit_rows(
        view.lines(),
        FORECAST_COLUMNS,
        as_json=as_json,
        as_csv=as_csv,
        title=(
            f"forecast for {view.account} from {view.today.isoformat()}: "
            f"available {_money(view.available)}, end date {view.end_date or '-'}"
        ),
        json_data=view,
    )
    if as_json or as_csv:
        return
    out = stdout()
    coming = sum((i.amount for i in view.incoming), ZERO)
    if view.incoming:
        out.print(
            f"instalments to come: {len(view.incoming)}, {_money(coming)} "
            f"(next {view.incoming[0].due_date.isoformat()})"
        )
    for f in view.forecasts:
        out.print(
            f"at the {f.basis} rate ({_money(f.daily)} a day) the money runs out: "
            f"{_in_days(f.exhaustion, view.today)}"
        )


# ---------------------------------------------------------------- calibration


CALIBRATION_COLUMNS = [
    Column("account"),
    Column("partition"),
    Column("jobs"),
    Column("estimated"),
    Column("actual"),
    Column("ratio"),
    Column("factor"),
]


def calibration(
    ctx: typer.Context,
    account: Annotated[str | None, typer.Option(help="Only this account.")] = None,
    partition: Annotated[str | None, typer.Option(help="Only this partition.")] = None,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Actual vs estimated cost per account and partition, and the calibration factor.

    The factor scales new estimates only when [calibration] enabled = true. --json prints
    what the API's /calibration returns."""
    from asbb_core.analytics.views import CalibrationView
    from asbb_core.ledger.calibration import cost_ratios

    check_output(as_json, as_csv)
    with opened(ctx) as bank:
        cal = bank.settings.calibration
        view = CalibrationView.of(
            cal, cost_ratios(bank.db, cal, account=account, partition=partition)
        )
    if as_json:
        print_json(view.record())
        return
    if as_csv:
        emit_rows(view.ratios, CALIBRATION_COLUMNS, as_csv=True)
        return
    state = "on" if view.enabled else "off (reported only)"
    table = Table(
        "account",
        "partition",
        "jobs",
        "estimated",
        "actual",
        "ratio",
        "factor",
        title=f"cost learning, last {view.window_days} days; calibration {state}",
    )
    for r in view.ratios:
        table.add_row(
            r.account,
            r.partition or "(none)",
            str(r.jobs),
            format_money(r.estimated),
            format_money(r.actual),
            "-" if r.ratio is None else f"{r.ratio:.4f}",
            f"{r.factor:.4f}",
        )
    print_table(table)


# ---------------------------------------------------------------- analytics (the original's)

analytics_app = typer.Typer(
    help=(
        "The original tool's cost-model analytics: 'accuracy' (estimated vs actual cost, as "
        "'asbb calibration' over a chosen span) and 'performance' (aws-slurm-burst's "
        "efficiency feedback per workload profile)."
    ),
    no_args_is_help=True,
)
SpanOpt = Annotated[
    str,
    typer.Option(
        "--period", metavar="SPAN", help="How far back: 7d, 30d, 90d, 6m, 1y (default 30d)."
    ),
]


def _span_start(period: str, today: date) -> date:
    from asbb_core.values.periods import parse_since

    return parse_since(period, field="period", today=today)


@analytics_app.command("accuracy")
def accuracy(
    ctx: typer.Context,
    period: SpanOpt = "30d",
    account: Annotated[str | None, typer.Option(help="Only this account.")] = None,
    partition: Annotated[str | None, typer.Option(help="Only this partition.")] = None,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Estimated vs actual cost per account and partition of the jobs reconciled in the
    span, and the calibration factor: `asbb calibration` with --period for its window.

    Example: `asbb analytics accuracy --period=30d`."""
    from datetime import UTC, datetime

    from asbb_core.analytics.views import CalibrationView
    from asbb_core.ledger.calibration import cost_ratios

    check_output(as_json, as_csv)
    with opened(ctx) as bank:
        today = datetime.now(UTC).date()
        days = (today - _span_start(period, today)).days + 1
        cal = bank.settings.calibration.model_copy(update={"window_days": days})
        view = CalibrationView.of(
            cal, cost_ratios(bank.db, cal, account=account, partition=partition)
        )
    if as_json:
        print_json(view.record())
        return
    emit_rows(
        view.ratios,
        CALIBRATION_COLUMNS,
        as_csv=as_csv,
        title=f"estimate accuracy, last {period} ({days} days)",
        empty=f"no reconciled job with an estimate in the last {period}",
    )


PROFILE_COLUMNS = [
    Column("profile"),
    Column("jobs"),
    Column("cpu_efficiency", "CPU efficiency"),
    Column("memory_efficiency", "memory efficiency"),
    Column("gpu_efficiency", "GPU efficiency"),
    Column("actual_vs_estimated", "actual / estimated"),
]


@analytics_app.command("performance")
def performance(
    ctx: typer.Context,
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile",
            metavar="NAME",
            help="Only this workload profile (aws-slurm-burst's performance_profile, e.g. "
            "compute_intensive).",
            show_default=False,
        ),
    ] = None,
    period: SpanOpt = "30d",
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """How efficiently jobs used what they paid for, per workload profile, from the
    performance feedback aws-slurm-burst sent (POST /api/v1/integration/performance-feedback)
    in the span: jobs, and the average CPU, memory and GPU efficiency and actual / estimated.

    Example: `asbb analytics performance --profile=compute_intensive`."""
    from datetime import UTC, datetime, time

    from asbb_core.integrations.feedback import profile_summaries
    from asbb_core.integrations.views import ProfileSummaryView

    check_output(as_json, as_csv)
    today = datetime.now(UTC).date()
    since = datetime.combine(_span_start(period, today), time(0), tzinfo=UTC)
    with opened(ctx) as bank:
        found = profile_summaries(bank.db, profile=profile, since=since)
    views = [ProfileSummaryView.of(f) for f in found]
    emit_rows(
        views,
        PROFILE_COLUMNS,
        as_json=as_json,
        as_csv=as_csv,
        title=f"performance feedback, last {period}",
        empty="no performance feedback"
        + (f" for profile {profile}" if profile else "")
        + f" in the last {period}",
    )


def register(root: typer.Typer) -> None:
    """Add ``asbb burn-rate``, ``asbb forecast``, ``asbb calibration`` and ``asbb analytics``
    to the app."""
    root.command("burn-rate")(burn_rate)
    root.command("forecast")(forecast)
    root.command("calibration")(calibration)
    root.add_typer(analytics_app, name="analytics")
