"""The money rule: Decimal only, half-even to the cent at posting, 4 places internally."""

from decimal import Decimal

import pytest

from asbb_core.values.errors import ValidationError
from asbb_core.values.money import (
    MAX_AMOUNT,
    ZERO,
    carry_cent,
    decimal_of_json,
    format_money,
    money_str,
    parse_cost,
    parse_money,
    round_internal,
    round_posting,
    to_decimal,
)


def test_point_one_plus_point_two_is_exactly_point_three():
    total = parse_money("0.1") + parse_money("0.2")
    assert total == Decimal("0.30")
    assert round_posting(total) == Decimal("0.30")
    assert money_str(total) == "0.30"


def test_a_third_of_a_dollar_rounds_half_even_at_posting():
    third = Decimal(1) / Decimal(3)
    assert round_internal(third) == Decimal("0.3333")
    assert round_posting(third) == Decimal("0.33")
    # Round once, at the edge: three thirds computed together post as a dollar...
    assert round_posting(third * 3) == Decimal("1.00")
    # ...while three separately posted thirds make 99 cents (and that is the documented rule).
    assert sum(round_posting(third) for _ in range(3)) == Decimal("0.99")


@pytest.mark.parametrize(
    ("raw", "posted"),
    [
        ("0.125", "0.12"),  # half to even: down
        ("0.135", "0.14"),  # half to even: up
        ("2.675", "2.68"),  # a float would say 2.67
        ("-0.125", "-0.12"),
        ("1.0049", "1.00"),
    ],
)
def test_half_even_rounding_to_the_cent(raw, posted):
    assert round_posting(Decimal(raw)) == Decimal(posted)


@pytest.mark.parametrize("bad", [0.1, 1.0, float("nan")])
def test_floats_are_refused_and_the_field_named(bad):
    with pytest.raises(ValidationError) as info:
        to_decimal(bad, field="limit")
    assert info.value.field == "limit"
    assert "limit" in info.value.message


@pytest.mark.parametrize("bad", [True, None, [1], "abc", "NaN", "Infinity", "1e400"])
def test_non_amounts_are_refused(bad):
    with pytest.raises(ValidationError):
        to_decimal(bad, field="amount")


def test_typed_amounts_allow_two_places_only():
    assert parse_money("12.5") == Decimal("12.50")
    assert parse_money("$1,234.50") == Decimal("1234.50")
    assert parse_money("12.500") == Decimal("12.50")  # trailing zeros are not extra places
    with pytest.raises(ValidationError, match="more than 2 decimal places"):
        parse_money("12.505", field="amount")


def test_sign_rules():
    with pytest.raises(ValidationError, match="must not be negative"):
        parse_money("-1")
    with pytest.raises(ValidationError, match="greater than zero"):
        parse_money("0", allow_zero=False)
    assert parse_money("-1", allow_negative=True) == Decimal("-1.00")


def test_costs_keep_the_journals_four_places():
    assert parse_cost("12.3456789") == Decimal("12.3457")
    assert parse_cost(Decimal("0.005")) == Decimal("0.0050")
    assert parse_cost(7) == Decimal("7.0000")
    with pytest.raises(ValidationError):
        parse_cost(12.5)


def test_whole_cents_are_posted_and_the_fraction_carried():
    carry = Decimal(0)
    posted_total = Decimal(0)
    for _ in range(100):  # 100 array tasks at $0.0033 each: $0.33, not $0.00
        posted, delta = carry_cent(Decimal("0.0033"), carry)
        assert posted + delta == Decimal("0.0033")
        carry += delta
        assert abs(carry) <= Decimal("0.005")
        posted_total += posted
    assert posted_total == Decimal("0.33")
    assert carry == Decimal("0")


def test_a_refund_is_carried_the_same_way():
    posted, delta = carry_cent(Decimal("-0.0049"), Decimal("0.0040"))
    assert (posted, delta) == (Decimal("0.00"), Decimal("-0.0049"))
    posted, delta = carry_cent(Decimal("-0.0120"), Decimal("0"))
    assert (posted, posted + delta) == (Decimal("-0.01"), Decimal("-0.0120"))


def test_one_formatter():
    assert format_money(Decimal("1234.5")) == "$1,234.50"
    assert format_money(Decimal("-3")) == "-$3.00"
    assert format_money(Decimal("3"), sign=True) == "+$3.00"
    assert format_money(ZERO) == "$0.00"
    assert format_money(Decimal("0.005")) == "$0.00"


@pytest.mark.parametrize(
    "typed",
    [
        "\u0661\u0662",  # Arabic-Indic digits: Decimal() reads them as 12
        "\u0967\u0968",  # Devanagari
        "\uff11\uff12",  # full-width
        "1_000",  # Decimal() reads underscores as grouping
        "1e3",
        "1E-2",
        "1 000",
        "1,5",  # a decimal comma: never read as 15
        "1,0000",
        "+-5",
        "-$-5",
        "5-",
        "--5",
        "$",
        ".",
        "",
        "   ",
        "0x10",
        "NaN",
        "sNaN",
        "Infinity",
        "-inf",
        "12\u00a0000",  # a no-break space inside
        "1" * 41,
    ],
)
def test_typed_amounts_are_ascii_digits_with_sign_dollar_commas_and_point(typed):
    with pytest.raises(ValidationError, match="limit: ") as info:
        parse_money(typed, field="limit", allow_negative=True)
    assert info.value.field == "limit"


@pytest.mark.parametrize(
    ("typed", "amount"),
    [
        ("$1,250.00", "1250.00"),
        ("1,234,567.5", "1234567.50"),
        ("-$3.00", "-3.00"),  # what format_money writes reads back
        ("$-3", "-3.00"),
        ("+5", "5.00"),
        (".5", "0.50"),
        ("12.", "12.00"),
        (" 7 \n", "7.00"),  # blanks around, not inside
        ("007", "7.00"),
    ],
)
def test_the_forms_people_write_are_read(typed, amount):
    assert parse_money(typed, allow_negative=True) == Decimal(amount)


def test_minus_zero_is_zero():
    assert parse_money("-0") == Decimal("0.00")
    assert money_str(parse_money("-0.00")) == "0.00"
    assert not to_decimal(Decimal("-0")).is_signed()
    with pytest.raises(ValidationError, match="greater than zero"):
        parse_money("-0", allow_zero=False)


def test_no_amount_is_above_the_maximum():
    assert Decimal("999999999999.99") == MAX_AMOUNT
    assert parse_money("999,999,999,999.99") == MAX_AMOUNT
    assert parse_money(-MAX_AMOUNT, allow_negative=True) == -MAX_AMOUNT
    for too_large in ("1000000000000", "922337203685477.58", Decimal("1E+16"), 10**13):
        with pytest.raises(ValidationError, match=r"too large \(at most \$999,999,999,999.99\)"):
            parse_money(too_large, allow_negative=True)
    # SQLite keeps money as a 64-bit count of 1/10000 dollars: hundreds of maximal amounts
    # sum within it (PostgreSQL's NUMERIC(20, 4) holds more still).
    assert MAX_AMOUNT * 10_000 * 900 < 2**63


def test_json_numbers_are_read_through_their_shortest_decimal():
    assert decimal_of_json(0.1) == Decimal("0.1")
    assert decimal_of_json(5e-05) == Decimal("0.00005")  # JSON writes it with an exponent
    assert decimal_of_json(1e3) == Decimal(1000)
    assert decimal_of_json("12.50") == Decimal("12.50")
    for bad in (float("nan"), float("inf"), -float("inf")):
        with pytest.raises(ValidationError, match="not a finite amount"):
            decimal_of_json(bad, field="cost")
    with pytest.raises(ValidationError, match="too large"):
        decimal_of_json(1e20)
    with pytest.raises(ValidationError, match="not an amount of money"):
        decimal_of_json("1e3")  # text is typed: no exponents
