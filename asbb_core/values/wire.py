"""The one outward form of asbb's results: views, and the JSON they are written as.

A result that leaves asbb (a REST API body, the CLI's ``--json`` and ``--csv``, the console's
detail pane, an alert's webhook) is a :class:`View` built from the core's object by the view's
``of``. Each package keeps the views of its own results in its ``views`` module; the API
declares them as its response models, so the OpenAPI schema, the API, the CLI and the console
cannot drift.

The wire format is the ecosystem's (the advisor's Go client and the original tool's types
decode it, so it is theirs, not ours to choose):

* Money, ratios and percents are JSON numbers written exactly from the Decimal: the amount
  12.50 is the JSON text ``12.50``, never a binary float on the way (:func:`dumps`).
* Dates and times are RFC 3339 date-times in UTC (``2025-09-01T00:00:00Z``; a calendar day is
  its midnight), which Go's ``time.Time`` reads.
* Enumerations are their values; a list is a JSON array (the API pages lists in headers).

In Python (``View.values()``, for tables people read) money stays a Decimal and a day a date,
so a table formats them for people ("$1,250.00").
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, PlainSerializer, WithJsonSchema

from asbb_core.values.money import money_value

Money = Annotated[
    Decimal,
    PlainSerializer(money_value, return_type=Decimal),
    WithJsonSchema(
        {
            "type": "number",
            "description": "An amount in dollars, to the cent (written exactly, e.g. 12.50)",
            "examples": [12.50],
        }
    ),
]
"""An amount shown to the cent."""

Precise = Annotated[
    Decimal,
    WithJsonSchema(
        {
            "type": "number",
            "description": "An exact decimal: money to 4 places, a rate, a ratio, a percent",
            "examples": [0.0033],
        }
    ),
]
"""An exact decimal kept to its own places: a cost before posting, a rate, a percent."""


def _days_as_date_times(schema: dict[str, Any]) -> None:
    """A view's JSON schema says what the wire writes: a calendar day goes out as its
    midnight, an RFC 3339 date-time."""
    if schema.get("format") == "date":
        schema["format"] = "date-time"
    for value in schema.values():
        if isinstance(value, dict):
            _days_as_date_times(value)
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    _days_as_date_times(item)


class View(BaseModel):
    """The base of every view: immutable; a field's docstring is its description (in the
    OpenAPI spec, and so in docs/api.md)."""

    model_config = ConfigDict(
        use_attribute_docstrings=True, frozen=True, json_schema_extra=_days_as_date_times
    )

    def record(self) -> dict[str, Any]:
        """The wire form (Decimals kept for :func:`dumps`): what the API sends and ``--json``
        prints."""
        result: dict[str, Any] = plain(self.model_dump())
        return result

    def values(self) -> dict[str, Any]:
        """The same fields as Python values (Decimals, dates), for tables people read."""
        return self.model_dump()


@dataclasses.dataclass(frozen=True)
class Listing:
    """A list view taken apart for the wire: its rows go out as a JSON array, the rest as
    paging headers."""

    rows: list[Any]
    total: int | None
    """Every row that matched, on all pages (None: a cursor page does not count them)."""
    limit: int | None = None
    offset: int | None = None
    next_before_id: int | None = None
    """A cursor page's next (older) page: ``before_id`` to ask for."""


_OFFSET_PAGE = {"items", "total", "limit", "offset"}
_CURSOR_PAGE = {"items", "next_before_id"}


def listing(value: object) -> Listing | None:
    """A list view's rows and paging, or None for any other value.

    A list view is a view whose fields are ``items`` alone, ``items`` with ``total``,
    ``limit`` and ``offset`` (one page of many), or ``items`` with ``next_before_id`` (a
    cursor page, newest first)."""
    if not isinstance(value, View):
        return None
    fields = set(type(value).model_fields)
    if fields not in ({"items"}, _OFFSET_PAGE, _CURSOR_PAGE):
        return None
    rows: list[Any] = list(getattr(value, "items"))  # noqa: B009 - items is a field here
    paging = value.model_dump(exclude={"items"})
    if fields == {"items"}:
        return Listing(rows, len(rows))
    if fields == _CURSOR_PAGE:
        return Listing(rows, None, next_before_id=paging["next_before_id"])
    return Listing(rows, paging["total"], paging["limit"], paging["offset"])


def is_listing(model: object) -> bool:
    """Whether a view class is a list view (see :func:`listing`)."""
    if not (isinstance(model, type) and issubclass(model, View)):
        return False
    return set(model.model_fields) in ({"items"}, _OFFSET_PAGE, _CURSOR_PAGE)


def timestamp(moment: datetime) -> str:
    """An RFC 3339 date-time in UTC, "Z" for the zone (a naive time is taken as UTC)."""
    utc = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    text = utc.isoformat().removesuffix("+00:00")
    return text + "Z"


def day_timestamp(day: date) -> str:
    """A calendar day on the wire: its midnight, UTC."""
    return f"{day.isoformat()}T00:00:00Z"


def plain(value: Any) -> Any:
    """``value`` in wire form: views, pydantic models and dataclasses as dicts, times as RFC 3339
    text, enumerations as their values; Decimals stay Decimals, for :func:`dumps` to write
    exactly."""
    if isinstance(value, View | BaseModel):
        return plain(value.model_dump())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    if isinstance(value, Enum):  # before str: a StrEnum is a str
        return plain(value.value)
    if isinstance(value, bool | int | str | Decimal) or value is None:
        return value
    if isinstance(value, datetime):
        return timestamp(value)
    if isinstance(value, date):
        return day_timestamp(value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, float):
        return value
    return str(value)


def to_json(value: Any) -> Any:
    """Views (in lists and dicts too) in their wire form; anything else as it is."""
    if isinstance(value, View):
        return value.record()
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    return value


def number_text(value: Decimal) -> str:
    """A Decimal as a JSON number, digit for digit (no exponent, no float on the way)."""
    if not value.is_finite():
        raise ValueError(f"{value} is not a number JSON can carry")
    text = format(value, "f")
    return text


def dumps(value: Any, *, indent: int | None = None, sort_keys: bool = False) -> str:
    """JSON text of ``value`` (put through :func:`plain`), Decimals written exactly."""
    parts: list[str] = []
    _write(plain(value), parts, indent, sort_keys, 0)
    return "".join(parts)


def _write(value: Any, out: list[str], indent: int | None, sort_keys: bool, depth: int) -> None:
    if isinstance(value, Decimal):
        out.append(number_text(value))
    elif isinstance(value, dict):
        if not value:
            out.append("{}")
            return
        items = sorted(value.items()) if sort_keys else list(value.items())
        inner, outer = _breaks(indent, depth)
        out.append("{")
        for i, (key, item) in enumerate(items):
            out.append(("," if i else "") + inner + json.dumps(str(key), ensure_ascii=False))
            out.append(": " if indent is not None else ":")
            _write(item, out, indent, sort_keys, depth + 1)
        out.append(outer + "}")
    elif isinstance(value, list):
        if not value:
            out.append("[]")
            return
        inner, outer = _breaks(indent, depth)
        out.append("[")
        for i, item in enumerate(value):
            out.append(("," if i else "") + inner)
            _write(item, out, indent, sort_keys, depth + 1)
        out.append(outer + "]")
    else:
        out.append(json.dumps(value, ensure_ascii=False, allow_nan=False))


def _breaks(indent: int | None, depth: int) -> tuple[str, str]:
    if indent is None:
        return "", ""
    return "\n" + " " * (indent * (depth + 1)), "\n" + " " * (indent * depth)


def loads(text: str | bytes) -> Any:
    """JSON text with its numbers read exactly: decimals as Decimal, whole numbers as int."""
    return json.loads(text, parse_float=Decimal)
