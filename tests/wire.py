"""Reading asbb's wire format in tests: JSON numbers as Decimals, so money compares exactly."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import httpx

from asbb_core.values.wire import loads

__all__ = ["D", "day", "loads", "rows_and_total"]


def D(text: str) -> Decimal:
    """An exact amount as the API and ``--json`` write it."""
    return Decimal(text)


def day(text: str) -> str:
    """A calendar day as the wire writes it: its midnight, UTC (RFC 3339)."""
    return f"{date.fromisoformat(text).isoformat()}T00:00:00Z"


def rows_and_total(reply: httpx.Response) -> tuple[list[Any], int]:
    """A list route's rows (a JSON array) and its ``X-Total-Count``."""
    assert reply.status_code == 200, reply.text
    rows = reply.json()
    assert isinstance(rows, list), rows
    return rows, int(reply.headers["x-total-count"])
