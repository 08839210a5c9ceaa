"""Calendar arithmetic shared by allocation schedules, grant budget periods and burn rates.

Months are counted from a fixed anchor (``add_months(start, k)``), never chained, so a
schedule that starts on 31 January falls due on 28/29 February and again on 31 March.

Every day asbb takes lies from ``EARLIEST_DAY`` (1970-01-01) to ``LATEST_DAY``
(2200-12-31): far inside Python's years 1 to 9999, so a look-ahead, a window back or the day
after a period never runs off the calendar, and a typo such as 0202 or 20266 is refused
with the field named instead of failing somewhere deep.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

from asbb_core.values.errors import ValidationError

BURN_RATE_WINDOWS: tuple[str, ...] = ("7d", "30d", "90d", "6m", "1y", "period")
"""The spans a burn rate's actual spend is averaged over ("period": the budget period's)."""


class Frequency(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    YEARLY = "yearly"


EARLIEST_DAY = date(1970, 1, 1)
LATEST_DAY = date(2200, 12, 31)
LATEST_UNIX_TIME = int(datetime(LATEST_DAY.year + 1, 1, 1, tzinfo=UTC).timestamp()) - 1
"""The last second of ``LATEST_DAY`` as Unix time (for senders that count seconds)."""

_MONTHS = {Frequency.MONTHLY: 1, Frequency.QUARTERLY: 3, Frequency.YEARLY: 12}
_DAYS = {Frequency.DAILY: 1, Frequency.WEEKLY: 7}


def add_months(day: date, months: int) -> date:
    """``day`` moved by whole months, clamped to the last day of a shorter month."""
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def parse_frequency(value: object, *, field: str = "frequency") -> Frequency:
    try:
        return Frequency(str(value).lower())
    except ValueError:
        names = ", ".join(f.value for f in Frequency)
        raise ValidationError(f"{field}: must be one of {names}", field=field) from None


def due_date(start: date, frequency: Frequency, k: int) -> date:
    """The date instalment ``k`` (0-based) of a schedule starting on ``start`` falls due."""
    if frequency in _MONTHS:
        return add_months(start, k * _MONTHS[frequency])
    return start + timedelta(days=k * _DAYS[frequency])


def count_until(start: date, frequency: Frequency, end: date) -> int:
    """How many instalments fall due from ``start`` up to and including ``end``."""
    if end < start:
        return 0
    if frequency in _DAYS:
        return (end - start).days // _DAYS[frequency] + 1
    step = _MONTHS[frequency]
    k = ((end.year - start.year) * 12 + end.month - start.month) // step + 1
    while k > 0 and due_date(start, frequency, k - 1) > end:
        k -= 1
    return k


def split_months(start: date, end: date, months: int) -> list[tuple[date, date]]:
    """Consecutive inclusive periods of ``months`` months from ``start``; the last one ends
    on ``end`` (shorter when the span is not a whole number of periods)."""
    if months < 1:
        raise ValidationError("period_months: must be at least 1", field="period_months")
    if end < start:
        raise ValidationError(
            f"end_date: {end.isoformat()} is before start_date {start.isoformat()}",
            field="end_date",
        )
    spans: list[tuple[date, date]] = []
    k = 0
    while True:
        begin = add_months(start, k * months)
        if begin > end:
            break
        finish = min(add_months(start, (k + 1) * months) - timedelta(days=1), end)
        spans.append((begin, finish))
        k += 1
    return spans


def days_inclusive(start: date, end: date) -> int:
    return (end - start).days + 1


class _OutsideDaysError(ValidationError):
    """A well-formed day that asbb does not take (kept apart from a malformed one)."""


def check_day(day: date, *, field: str) -> date:
    """``day`` if it lies from ``EARLIEST_DAY`` to ``LATEST_DAY``; else the field is named."""
    if not EARLIEST_DAY <= day <= LATEST_DAY:
        raise _OutsideDaysError(
            f"{field}: {day.isoformat()} is outside the days asbb takes "
            f"({EARLIEST_DAY.isoformat()} to {LATEST_DAY.isoformat()})",
            field=field,
        )
    return day


def check_moment(moment: datetime, *, field: str) -> datetime:
    """An aware time on a day asbb takes, in UTC. A time without a zone is refused: it means
    a different moment on every host (RFC 3339, which the API speaks, always has one)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValidationError(
            f"{field}: {moment.isoformat()} has no time zone (write 2026-03-02T12:00:00Z)",
            field=field,
        )
    # The local day first: converting a time near year 1 or 9999 to UTC would overflow.
    check_day(moment.date(), field=field)
    return moment.astimezone(UTC)


def parse_date(value: object, *, field: str) -> date:
    """A ``date`` or an ISO date string (YYYY-MM-DD) on a day asbb takes (``check_day``);
    anything else names ``field``."""
    if isinstance(value, datetime):
        raise ValidationError(f"{field}: expected a date (YYYY-MM-DD), not a time", field=field)
    if isinstance(value, date):
        return check_day(value, field=field)
    if isinstance(value, str):
        try:
            day = date.fromisoformat(value.strip())
        except ValueError:
            pass
        else:
            return check_day(day, field=field)
    shown = repr(value[:40]) if isinstance(value, str) else repr(value)
    raise ValidationError(f"{field}: {shown} is not a date (YYYY-MM-DD)", field=field)


_LOOKBACK = re.compile(r"([0-9]{1,6})\s*(d|w|m|y)")
RELATIVE_DAYS = {"today": 0, "yesterday": -1, "tomorrow": 1}


def parse_day(value: object, *, field: str, today: date) -> date:
    """A day as people type it: YYYY-MM-DD, ``today``, ``yesterday`` or ``tomorrow``."""
    if isinstance(value, str) and value.strip().lower() in RELATIVE_DAYS:
        return check_day(today + timedelta(days=RELATIVE_DAYS[value.strip().lower()]), field=field)
    return parse_date(value, field=field)


def parse_since(value: object, *, field: str, today: date) -> date:
    """The first day of a look-back: a day (see ``parse_day``) or a span back from ``today``:
    ``30d``, ``2w``, ``6m`` (months) or ``1y`` -- ``30d`` is the 30 days ending today."""
    if isinstance(value, str):
        match = _LOOKBACK.fullmatch(value.strip().lower())
        if match:
            count, unit = int(match.group(1)), match.group(2)
            if count <= 0 or count > 100 * (1 if unit == "y" else 12 if unit == "m" else 366):
                raise ValidationError(f"{field}: {value!r} is out of range", field=field)
            if unit in ("d", "w"):
                first = today - timedelta(days=count * (7 if unit == "w" else 1) - 1)
            else:
                first = add_months(today, -count * (12 if unit == "y" else 1)) + timedelta(days=1)
            return check_day(first, field=field)
    try:
        return parse_day(value, field=field, today=today)
    except _OutsideDaysError:
        raise
    except ValidationError:
        shown = repr(value[:40]) if isinstance(value, str) else repr(value)
        raise ValidationError(
            f"{field}: {shown} is neither a date (YYYY-MM-DD) nor a span such as 30d, 2w, 6m or 1y",
            field=field,
        ) from None
