"""Money: Decimal end to end, one rounding rule, one formatter.

The rule, applied everywhere:

* Internally (prices, estimates, rates times hours) amounts carry 4 decimal places, rounded
  half-even (``round_internal``).
* Whatever is *posted* to the journal is whole cents. Costs (a job's price, an AWS bill) are
  exact to 4 places; each account carries the remainder below a cent (``carry_cent``): a
  charge posts ``round_posting(cost + carry)`` and carries the rest into the next one. So a
  hundred tasks of $0.0033 post $0.33 in all, never $0.00, and what an account was charged
  never differs from the sum of its exact costs by more than half a cent, however many
  charges there are. Limits, deposits and holds are typed or computed in whole cents.
* Amounts that people or programs *type* (limits, deposits, adjustments) are parsed by
  ``parse_money`` which refuses floats (binary floats cannot hold 0.1), NaN, infinities,
  booleans, and more than two decimal places, naming the field in the error.
* Typed amounts are ASCII: an optional sign, an optional ``$``, digits (thousands commas
  only in groups of three), an optional decimal point. Whatever else Python's ``Decimal``
  would read is refused -- exponents (``1e3``), underscores (``1_000``), other scripts'
  digits (``١٢``), blanks inside -- so what asbb stores is what a person sees typed.
* No single amount is above ``MAX_AMOUNT`` (a trillion dollars less a cent). Both
  backends store it, and sums of hundreds of them, exactly: SQLite keeps money as a 64-bit
  count of 1/10000 dollars (at most about $922 trillion), PostgreSQL as NUMERIC(20, 4).

Like beancount's Amount, the constructor refuses floats; unlike it we keep a single currency
(USD), so amounts are plain ``Decimal`` values and ``ZERO`` is a constant.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_EVEN, Decimal

from asbb_core.values.errors import ValidationError

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
INTERNAL_QUANTUM = Decimal("0.0001")
CURRENCY_SYMBOL = "$"

MAX_AMOUNT = Decimal("999999999999.99")
"""The largest amount asbb takes (see the module's docstring for why this one)."""

# Sign (before or after the "$"), whole part (plain digits, or grouped by thousands commas),
# fraction. [0-9], not \d: \d matches every script's digits.
_AMOUNT = re.compile(
    r"(?P<sign>[+-]?)\$?(?P<sign2>[+-]?)"
    r"(?P<whole>[0-9]{1,3}(?:,[0-9]{3})+|[0-9]*)(?:\.(?P<fraction>[0-9]*))?"
)
_AMOUNT_TEXT_LIMIT = 40


def round_posting(amount: Decimal) -> Decimal:
    """Round to the cent, half-even: the only rounding applied when money is posted."""
    return amount.quantize(CENT, rounding=ROUND_HALF_EVEN)


def round_internal(amount: Decimal) -> Decimal:
    """Round to 4 places, half-even: the precision of prices and estimates."""
    return amount.quantize(INTERNAL_QUANTUM, rounding=ROUND_HALF_EVEN)


def to_decimal(value: object, *, field: str = "amount") -> Decimal:
    """Turn str/int/Decimal into a finite Decimal of at most ``MAX_AMOUNT``; refuse floats
    and anything else. Text must be an amount as people write one (see the module's
    docstring); a JSON value goes through ``decimal_of_json``."""
    if isinstance(value, bool):
        raise ValidationError(f"{field}: expected an amount, got a boolean", field=field)
    if isinstance(value, float):
        raise ValidationError(
            f"{field}: floats are not accepted for money (got {value!r}); "
            "pass a string such as '12.50' or a Decimal",
            field=field,
        )
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        result = _amount_of_text(value, field)
    else:
        raise ValidationError(
            f"{field}: expected an amount as a string or Decimal, got {type(value).__name__}",
            field=field,
        )
    if not result.is_finite():
        raise ValidationError(f"{field}: {value!r} is not a finite amount", field=field)
    if abs(result) > MAX_AMOUNT:
        raise ValidationError(
            f"{field}: {value if isinstance(value, int | Decimal) else repr(value)} is too large "
            f"(at most {format_money(MAX_AMOUNT)})",
            field=field,
        )
    # -0 is 0: a sign on nothing must not show up as "-0.00".
    return abs(result) if result.is_zero() else result


def _amount_of_text(value: str, field: str) -> Decimal:
    text = value.strip()
    if len(text) > _AMOUNT_TEXT_LIMIT:
        raise ValidationError(
            f"{field}: {len(text)} characters; an amount has at most {_AMOUNT_TEXT_LIMIT}",
            field=field,
        )
    match = _AMOUNT.fullmatch(text)
    if (
        match is None
        or (match["sign"] and match["sign2"])
        or not (match["whole"] or match["fraction"])
    ):
        raise ValidationError(
            f"{field}: {text!r} is not an amount of money (write digits "
            "with an optional sign, '$', thousands commas and decimal point, e.g. 1,250.00)",
            field=field,
        )
    sign = match["sign"] or match["sign2"]
    whole = match["whole"].replace(",", "") or "0"
    fraction = f".{match['fraction']}" if match["fraction"] else ""
    return Decimal(f"{sign}{whole}{fraction}")


def decimal_of_json(value: object, *, field: str = "amount") -> Decimal:
    """``to_decimal`` for a value from JSON: a JSON number arrives as a float and is read
    through its shortest decimal form (0.1 -> "0.1", 5e-05 -> "0.00005"), never used as a
    binary float; an exponent is part of how JSON writes numbers, so it is fine here,
    unlike in typed text. NaN and infinities (which Python's JSON reader lets through)
    are refused."""
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValidationError(f"{field}: {value!r} is not a finite amount", field=field)
        value = Decimal(repr(value))
    return to_decimal(value, field=field)


def parse_money(
    value: object,
    *,
    field: str = "amount",
    allow_negative: bool = False,
    allow_zero: bool = True,
    places: int = 2,
) -> Decimal:
    """Parse an amount somebody typed: at most ``places`` decimals, sign checked.

    Returns the value quantized to the cent (or to ``places``) without changing it.
    """
    amount = to_decimal(value, field=field)
    exponent = amount.as_tuple().exponent
    if (
        isinstance(exponent, int)
        and -exponent > places
        and amount != amount.quantize(Decimal(1).scaleb(-places))
    ):
        raise ValidationError(
            f"{field}: {value} has more than {places} decimal places", field=field
        )
    if amount < 0 and not allow_negative:
        raise ValidationError(f"{field}: must not be negative (got {value})", field=field)
    if amount == 0 and not allow_zero:
        raise ValidationError(f"{field}: must be greater than zero", field=field)
    return amount.quantize(Decimal(1).scaleb(-places))


def parse_cost(value: object, *, field: str = "actual_cost") -> Decimal:
    """Parse a computed cost (e.g. an AWS bill line): any precision, kept to 4 places (the
    cents are posted with the account's carry, see ``carry_cent``)."""
    amount = to_decimal(value, field=field)
    if amount < 0:
        raise ValidationError(f"{field}: must not be negative (got {value})", field=field)
    return round_internal(amount)


def carry_cent(cost: Decimal, carry: Decimal) -> tuple[Decimal, Decimal]:
    """Post an exact (4-place) ``cost`` -- positive, or negative for a refund -- in whole cents.

    ``carry`` is what the account's exact costs so far exceed what it was charged (within half
    a cent either way). Returns ``(posted, carry_delta)``: ``posted = round_posting(cost +
    carry)``, and ``posted + carry_delta == cost`` exactly, so the new carry is again within
    half a cent and no fraction of a cent is ever lost.
    """
    cost = round_internal(cost)
    posted = round_posting(cost + carry)
    return posted, cost - posted


def format_money(amount: Decimal, *, symbol: bool = True, sign: bool = False) -> str:
    """The one formatter: ``$1,234.50``, ``-$3.00``; ``sign=True`` adds ``+`` to positives."""
    rounded = round_posting(amount)
    text = f"{abs(rounded):,.2f}"
    prefix = CURRENCY_SYMBOL if symbol else ""
    if rounded < 0:
        return f"-{prefix}{text}"
    if sign and rounded > 0:
        return f"+{prefix}{text}"
    return f"{prefix}{text}"


def money_str(amount: Decimal) -> str:
    """Money as text with two decimals ("12.50"), for CSV cells and stored JSON."""
    return f"{round_posting(amount):.2f}"


def money_value(amount: Decimal) -> Decimal:
    """Money for an answer's figures (an error's details, ...): to the cent, written on the
    wire as an exact JSON number (``wire.dumps``)."""
    return round_posting(amount) + 0  # + 0: a negative zero (-0.001 rounded) is 0.00
