"""``asbb usage``: what was charged, with job counts and the average per job, per group.

Figures come from asbb_core.analytics.usage.usage_summary (SQL over the journal's charge rows).
A "job" is a hold with at least one charge in the range, so a job array counts once. --json
prints the summary as the API's /usage/summary does (asbb_core.analytics.views.UsageView).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from typing import TYPE_CHECKING, Annotated

import typer

from asbb_tui.cli_base import (
    Column,
    CsvOption,
    JsonOption,
    Row,
    check_output,
    emit_rows,
    opened,
)

if TYPE_CHECKING:
    from asbb_core.analytics.usage import UsageSummary
    from asbb_core.store.database import Database

SHOW_GROUPS = ("partition", "user", "day", "month")
SUMMARY_GROUPS = ("account", "partition", "user", "day", "month")

app = typer.Typer(
    help=(
        "What was charged: per group the jobs, the charges, the total spend and the average per "
        "job (a job array counts as one job). Ranges are whole UTC days."
    ),
    no_args_is_help=True,
)

LastOpt = Annotated[
    str | None,
    typer.Option(
        "--last",
        metavar="SPAN",
        help="The look-back ending today: 30d, 2w, 6m (months), 1y (default: 30d).",
        show_default=False,
    ),
]
SinceOpt = Annotated[
    str | None,
    typer.Option(
        "--since",
        metavar="DATE",
        help="The first day, YYYY-MM-DD, today or yesterday (instead of --last).",
        show_default=False,
    ),
]
UntilOpt = Annotated[
    str | None,
    typer.Option(
        "--until",
        metavar="DATE",
        help="The last day, included (default: today, UTC).",
        show_default=False,
    ),
]


def _range(last: str | None, since: str | None, until: str | None) -> tuple[datetime, datetime]:
    """[first day 00:00 UTC, the day after the last 00:00 UTC) from the options."""
    from asbb_core.store.queries import check_range
    from asbb_core.values.errors import ValidationError
    from asbb_core.values.periods import parse_day, parse_since

    if last is not None and since is not None:
        raise typer.BadParameter("give --last or --since, not both", param_hint="--last/--since")
    today = datetime.now(UTC).date()
    if since is not None:
        first = parse_day(since, field="since", today=today)
    else:
        first = parse_since(last or "30d", field="last", today=today)
    final = today if until is None else parse_day(until, field="until", today=today)
    if final < first:
        raise ValidationError(
            f"until: {final.isoformat()} is before the first day {first.isoformat()}",
            field="until",
        )
    start = datetime.combine(first, datetime.min.time(), tzinfo=UTC)
    end = datetime.combine(final + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    check_range(start, end)
    return start, end


def _group_by(value: str, choices: tuple[str, ...]) -> str:
    from asbb_core.values.errors import ValidationError

    cleaned = value.strip().lower()
    if cleaned not in choices:
        raise ValidationError(f"by: {value!r} is not one of {', '.join(choices)}", field="by")
    return cleaned


def _month_starts(start: datetime, end: datetime) -> list[datetime]:
    """The bounds of the calendar months overlapping [start, end), clipped to it."""
    bounds = [start]
    month = date(start.year, start.month, 1)
    while True:
        month = date(month.year + month.month // 12, month.month % 12 + 1, 1)
        moment = datetime.combine(month, datetime.min.time(), tzinfo=UTC)
        if moment >= end:
            break
        bounds.append(moment)
    return [*bounds, end]


def _summary(
    db: Database, group_by: str, account: str | None, start: datetime, end: datetime
) -> UsageSummary:
    """usage_summary, or one summary per calendar month for ``month``."""
    from dataclasses import replace

    from asbb_core.analytics.usage import UsageGroup, usage_summary

    if group_by != "month":
        return usage_summary(db, group_by=group_by, account=account, since=start, until=end)
    whole = usage_summary(db, group_by="account", account=account, since=start, until=end)
    bounds = _month_starts(start, end)
    groups = []
    for first, after in pairwise(bounds):
        part = usage_summary(db, group_by="account", account=account, since=first, until=after)
        if part.charges:
            groups.append(
                UsageGroup(
                    key=first.strftime("%Y-%m"),
                    charged=part.charged,
                    jobs=part.jobs,
                    charges=part.charges,
                    average_per_job=part.average_per_job,
                )
            )
    return replace(whole, group_by="month", groups=groups)


def _emit(summary: UsageSummary, *, as_json: bool, as_csv: bool, title: str, empty: str) -> None:
    """The summary's view: its groups as the table and CSV rows (the table adds a total row),
    the whole view as JSON."""
    from asbb_core.analytics.views import UsageView

    view = UsageView.of(summary)
    rows: list[Row] = list(view.groups)
    if rows and not (as_json or as_csv):
        rows.append(
            {
                "key": "total",
                "jobs": view.jobs,
                "charges": view.charges,
                "charged": view.charged,
                "average_per_job": view.average_per_job,
            }
        )
    columns = [
        Column("key", view.group_by),
        Column("jobs"),
        Column("charges"),
        Column("charged", "spend", money=True),
        Column("average_per_job", "average per job", money=True),
    ]
    emit_rows(
        rows,
        columns,
        as_json=as_json,
        as_csv=as_csv,
        title=title,
        empty=empty,
        json_data=view,
    )


def _days(start: datetime, end: datetime) -> str:
    return f"{start.date().isoformat()} .. {(end - timedelta(days=1)).date().isoformat()}"


@app.command("show")
def show(
    ctx: typer.Context,
    account: Annotated[str, typer.Argument(metavar="ACCOUNT", help="The account.")],
    last: LastOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    by: Annotated[
        str,
        typer.Option("--by", metavar="GROUP", help=f"Group by {', '.join(SHOW_GROUPS)}."),
    ] = "partition",
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """One account's usage per partition, user, day or month.

    Examples: `asbb usage show physics`, `asbb usage show physics --last 6m --by month`,
    `asbb usage show physics --since 2026-01-01 --until 2026-03-31 --by user --csv`.
    """
    check_output(as_json, as_csv)
    group_by = _group_by(by, SHOW_GROUPS)
    start, end = _range(last, since, until)
    with opened(ctx) as bank:
        summary = _summary(bank.db, group_by, account, start, end)
    _emit(
        summary,
        as_json=as_json,
        as_csv=as_csv,
        title=f"usage of {summary.account}, {_days(start, end)}, by {group_by}",
        empty=f"no charges to {summary.account} from {_days(start, end)}",
    )


@app.command("summary")
def summary(
    ctx: typer.Context,
    last: LastOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    by: Annotated[
        str,
        typer.Option("--by", metavar="GROUP", help=f"Group by {', '.join(SUMMARY_GROUPS)}."),
    ] = "account",
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Usage of every account, per account, partition, user, day or month.

    Examples: `asbb usage summary`, `asbb usage summary --last 1y --by partition --json`.
    """
    check_output(as_json, as_csv)
    group_by = _group_by(by, SUMMARY_GROUPS)
    start, end = _range(last, since, until)
    with opened(ctx) as bank:
        result = _summary(bank.db, group_by, None, start, end)
    _emit(
        result,
        as_json=as_json,
        as_csv=as_csv,
        title=f"usage, {_days(start, end)}, by {group_by}",
        empty=f"no charges from {_days(start, end)}",
    )


def register(root: typer.Typer) -> None:
    """Add ``asbb usage ...`` to the ``asbb`` app."""
    root.add_typer(app, name="usage")
