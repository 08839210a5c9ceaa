"""Durations as Slurm writes them and as people type them.

``parse_slurm_time``: Slurm's time formats -- "MM", "MM:SS", "HH:MM:SS", "D-HH", "D-HH:MM",
"D-HH:MM:SS" -- or a whole number of minutes (the plugin sends ``time_limit`` in minutes).
``parse_duration``: those, plus what people type: "90s", "30m", "2h", "1d", "2w", "1d12h"
(for a job's run time "m" is minutes; reporting windows such as "6m" months are parsed elsewhere).
"""

from __future__ import annotations

import re
from datetime import timedelta

from asbb_core.values.errors import ValidationError

MAX_DURATION = timedelta(days=3660)  # ten years: anything longer is a typo
# [0-9], not \d (which takes every script's digits); at most 12 digits a part, so a
# thousand-digit "minutes" is refused here rather than by int()'s own limit.
_SLURM = re.compile(
    r"(?:(?P<days>[0-9]{1,12})-(?P<dh>[0-9]{1,12})(?::(?P<dm>[0-9]{1,12})"
    r"(?::(?P<ds>[0-9]{1,12}))?)?"
    r"|(?P<a>[0-9]{1,12})(?::(?P<b>[0-9]{1,12})(?::(?P<c>[0-9]{1,12}))?)?)"
)
_HUMAN = re.compile(r"([0-9]{1,12})\s*(w|d|h|m|s)")
_TEXT_LIMIT = 64
_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
UNLIMITED = {"unlimited", "infinite", "none"}


def _checked(value: timedelta, raw: object, field: str, allow_zero: bool = False) -> timedelta:
    if value < timedelta(0) or (value == timedelta(0) and not allow_zero):
        raise ValidationError(f"{field}: {raw!r} must be longer than zero", field=field)
    if value > MAX_DURATION:
        raise ValidationError(f"{field}: {raw!r} is longer than ten years", field=field)
    return value


def parse_slurm_time(
    value: object, *, field: str = "wall_time", allow_zero: bool = False
) -> timedelta:
    """Parse a Slurm time; numbers (and bare digits) are minutes, as in Slurm.

    A time limit must be longer than zero; an elapsed time (``allow_zero``) may be zero."""
    try:
        return _parse_slurm_time(value, field, allow_zero)
    except OverflowError:  # timedelta's own limit, far past ours
        raise ValidationError(f"{field}: {value!r} is longer than ten years", field=field) from None


def _parse_slurm_time(value: object, field: str, allow_zero: bool) -> timedelta:
    if isinstance(value, bool) or value is None:
        raise ValidationError(f"{field}: a time limit is required", field=field)
    if isinstance(value, int):
        return _checked(timedelta(minutes=value), value, field, allow_zero)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValidationError(f"{field}: {value!r} is not a time limit", field=field)
        return _checked(timedelta(minutes=value), value, field, allow_zero)
    if not isinstance(value, str):
        raise ValidationError(f"{field}: expected a Slurm time such as '2:00:00'", field=field)
    text = value.strip()
    if len(text) > _TEXT_LIMIT:
        raise ValidationError(f"{field}: at most {_TEXT_LIMIT} characters", field=field)
    if text.lower() in UNLIMITED:
        raise ValidationError(
            f"{field}: an unlimited time limit cannot be priced; give the job a time limit",
            field=field,
        )
    match = _SLURM.fullmatch(text)
    if not match:
        raise ValidationError(
            f"{field}: {value!r} is not a Slurm time (MM, HH:MM:SS or D-HH:MM:SS)", field=field
        )
    groups = {k: int(v) if v is not None else None for k, v in match.groupdict().items()}
    if groups["days"] is not None:
        result = timedelta(
            days=groups["days"],
            hours=groups["dh"] or 0,
            minutes=groups["dm"] or 0,
            seconds=groups["ds"] or 0,
        )
    elif groups["c"] is not None:  # HH:MM:SS
        result = timedelta(hours=groups["a"] or 0, minutes=groups["b"] or 0, seconds=groups["c"])
    elif groups["b"] is not None:  # MM:SS
        result = timedelta(minutes=groups["a"] or 0, seconds=groups["b"])
    else:  # MM
        result = timedelta(minutes=groups["a"] or 0)
    return _checked(result, value, field, allow_zero)


def parse_duration(value: object, *, field: str = "duration") -> timedelta:
    """Parse a duration people type ("2h", "30d", "1d12h") or any Slurm time form."""
    if isinstance(value, timedelta):
        return _checked(value, value, field)
    if isinstance(value, str) and len(value) <= _TEXT_LIMIT:
        text = value.strip().lower().replace(" ", "")
        parts = _HUMAN.findall(text)
        if parts and "".join(n + u for n, u in parts) == text:
            seconds = sum(int(n) * _UNITS[u] for n, u in parts)
            if seconds > MAX_DURATION.total_seconds():
                raise ValidationError(f"{field}: {value!r} is longer than ten years", field=field)
            return _checked(timedelta(seconds=seconds), value, field)
    return parse_slurm_time(value, field=field)


def format_slurm_time(value: timedelta) -> str:
    """The inverse of ``parse_slurm_time`` in its longest form: D-HH:MM:SS."""
    total = int(value.total_seconds())
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    clock = f"{hours:02d}:{minutes:02d}:{seconds:02d}"
    return f"{days}-{clock}" if days else clock
