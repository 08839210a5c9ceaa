"""asbb_core.analytics.burnrate.forecast: spend and balance ahead, by hand."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from asbb_core.analytics.burnrate import forecast, project
from asbb_core.funding.allocations import Instalment
from asbb_core.values.errors import ValidationError

D = Decimal
TODAY = date(2026, 3, 3)


def test_points_at_30_60_90_days_with_instalments() -> None:
    coming = [Instalment(1, date(2026, 3, 3), D(999)), Instalment(2, date(2026, 4, 1), D(100))]
    result = forecast(basis="30d", today=TODAY, available=D("310.00"), daily=D(3), incoming=coming)
    assert [(p.day, p.days) for p in result.points] == [
        (date(2026, 4, 2), 30),
        (date(2026, 5, 2), 60),
        (date(2026, 6, 1), 90),
    ]
    # the instalment due today is not counted (already due: credited or not, not "to come")
    assert [(p.spend, p.instalments, p.balance) for p in result.points] == [
        (D("90.00"), D("100.00"), D("320.00")),
        (D("180.00"), D("100.00"), D("230.00")),
        (D("270.00"), D("100.00"), D("140.00")),
    ]
    # 310 lasts to 1 April (29 days: 87), +100 => 323 at 3.00 a day => 107 more days
    assert result.exhaustion == date(2026, 7, 17)
    assert (
        result.exhaustion
        == project(today=TODAY, available=D(310), daily=D(3), end_date=None, incoming=coming)[0]
    )


def test_spans_stop_at_the_end_date() -> None:
    result = forecast(
        basis="90d", today=TODAY, available=D(100), daily=D("0.50"), days=[90, 30, 60, 30],
        end_date=date(2026, 4, 15),
    )  # fmt: skip
    assert [(p.day, p.days, p.balance) for p in result.points] == [
        (date(2026, 4, 2), 30, D("85.00")),
        (date(2026, 4, 15), 43, D("78.50")),
    ]


def test_no_spend_never_runs_out() -> None:
    result = forecast(basis="30d", today=TODAY, available=D(5), daily=D(0), days=[1])
    assert result.exhaustion is None
    assert result.points[0].balance == D("5.00")


@pytest.mark.parametrize("days", [[], [0], [-5], [3661]])
def test_bad_spans_name_the_field(days: list[int]) -> None:
    with pytest.raises(ValidationError) as caught:
        forecast(basis="30d", today=TODAY, available=D(1), daily=D(1), days=days)
    assert caught.value.field == "days"
