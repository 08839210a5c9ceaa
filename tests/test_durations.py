"""Slurm time forms: a time limit must be longer than zero; an elapsed time may be zero."""

from datetime import timedelta

import pytest

from asbb_core.ledger.reconcile import elapsed_of
from asbb_core.values.durations import parse_duration, parse_slurm_time
from asbb_core.values.errors import ValidationError


@pytest.mark.parametrize("zero", ["0", "00:00:00", "0:00", "0-00:00:00", 0])
def test_zero_is_an_elapsed_time_but_not_a_time_limit(zero):
    assert parse_slurm_time(zero, allow_zero=True) == timedelta(0)
    assert elapsed_of(zero) == timedelta(0)
    with pytest.raises(ValidationError, match="longer than zero"):
        parse_slurm_time(zero)


@pytest.mark.parametrize(
    ("elapsed", "seconds", "field"),
    [(None, -1, "elapsed_seconds"), (None, 1.5, "elapsed_seconds"), ("-5", None, "elapsed")],
)
def test_bad_elapsed_times_name_the_field(elapsed, seconds, field):
    with pytest.raises(ValidationError) as info:
        elapsed_of(elapsed, seconds)
    assert info.value.field == field


def test_seconds_win_over_the_slurm_form():
    assert elapsed_of("1:00:00", 90) == timedelta(seconds=90)
    assert elapsed_of("1-02:03:04") == timedelta(days=1, hours=2, minutes=3, seconds=4)
    assert elapsed_of() is None


@pytest.mark.parametrize(
    "bad",
    [
        "\u0661:\u0660\u0660",  # Arabic-Indic digits: int() reads them
        "\uff11\uff12",  # full-width
        "1" * 5000,  # past int()'s own limit of digits
        "1:" + "0" * 100,
        "1:00:00\n1",
        "1_000",
        "1e3",
        "1-2-3",
    ],
)
def test_slurm_times_are_ascii_and_short(bad):
    with pytest.raises(ValidationError) as info:
        parse_slurm_time(bad)
    assert info.value.field == "wall_time"


@pytest.mark.parametrize("bad", ["\u0662h", "9" * 100 + "h", "2 h " * 20])
def test_typed_durations_are_ascii_and_short(bad):
    with pytest.raises(ValidationError) as info:
        parse_duration(bad, field="older_than")
    assert info.value.field == "older_than"


def test_a_time_past_ten_years_is_refused_not_overflowed():
    for value in ("999999999999-00", "99999999:00:00", 10**15, 1e300):
        with pytest.raises(ValidationError, match="longer than ten years"):
            parse_slurm_time(value)
    assert parse_duration("2w") == timedelta(weeks=2)
