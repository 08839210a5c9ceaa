"""Types shared by the API's request and response models.

Money goes out as a string with two decimals ("12.50"). It comes in as a string or a JSON
number; a number is read through its shortest decimal form (0.1 -> "0.1"), never used as a
binary float.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

from asbb_core.errors import ValidationError
from asbb_core.money import money_str, to_decimal


def _money_in(value: Any) -> Decimal:
    if isinstance(value, float):
        value = repr(value)
    try:
        return to_decimal(value)
    except ValidationError as exc:
        raise ValueError(exc.message.removeprefix("amount: ")) from None


MoneyIn = Annotated[
    Decimal,
    BeforeValidator(_money_in),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": r"^-?\$?[0-9,]*\.?[0-9]+$"},
                {"type": "number"},
            ],
            "description": 'An amount in dollars: a string ("12.50") or a number',
        }
    ),
]

MoneyOut = Annotated[
    Decimal,
    PlainSerializer(money_str, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^-?[0-9]+\.[0-9]{2}$",
            "description": "An amount in dollars, two decimals",
            "examples": ["12.50"],
        }
    ),
]
