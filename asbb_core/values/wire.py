"""The one outward form of asbb's results: views.

A result that leaves asbb (a REST API body, the CLI's ``--json`` and ``--csv``, the console's
detail pane) is a :class:`View` built from the core's object by the view's ``of``. Each
package keeps the views of its own results in its ``views`` module; the API declares them as
its response models, so the OpenAPI schema, the API, the CLI and the console cannot drift.

Money goes out in JSON as a string with two decimals ("12.50"), never a binary float; in
Python (``View.values()``, for tables people read) it stays a Decimal, so a table formats
it for people ("$1,250.00") while JSON and CSV keep the exact string.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, PlainSerializer, WithJsonSchema

from asbb_core.values.money import money_str

Money = Annotated[
    Decimal,
    PlainSerializer(money_str, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^-?[0-9]+\.[0-9]{2}$",
            "description": "An amount in dollars, two decimals",
            "examples": ["12.50"],
        }
    ),
]
"""An amount shown to the cent."""

Precise = Annotated[
    Decimal,
    PlainSerializer(lambda v: format(v, "f"), return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^-?[0-9]+(\.[0-9]+)?$",
            "description": "An exact decimal: money to 4 places, a rate, a ratio, a percent",
            "examples": ["0.0033"],
        }
    ),
]
"""An exact decimal kept to its own places: a cost before posting, a rate, a percent."""


class View(BaseModel):
    """The base of every view: immutable; a field's docstring is its description (in the
    OpenAPI spec, and so in docs/api.md)."""

    model_config = ConfigDict(use_attribute_docstrings=True, frozen=True)

    def record(self) -> dict[str, Any]:
        """The JSON form: what the API sends and ``--json`` prints."""
        return self.model_dump(mode="json")

    def values(self) -> dict[str, Any]:
        """The same fields as Python values (Decimals, dates), for tables people read."""
        return self.model_dump()


def to_json(value: Any) -> Any:
    """Views (in lists and dicts too) in their JSON form; anything else as it is."""
    if isinstance(value, View):
        return value.record()
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    return value
