"""Job metadata: the free-form JSON object a job carries (research domain, grant number, ...).

It is stored on the job's hold and on every journal row the job writes, and shown in the
console, so it is bounded where it comes in: at most ``MAX_DEPTH`` levels deep, ``MAX_KEYS``
keys and ``MAX_ITEMS`` values in all, ``MAX_BYTES`` as JSON. Every string in it (keys too)
is text both backends store (``text.text_problem``: no NUL, no lone surrogate, no control
characters), and every number is finite (Python's JSON reader lets ``NaN`` through, which
no JSON column takes back).
"""

from __future__ import annotations

import json
import math
from typing import Any

from asbb_core.values.errors import ValidationError
from asbb_core.values.text import text_problem

MAX_DEPTH = 16
MAX_KEYS = 256
MAX_ITEMS = 1024
MAX_BYTES = 16 * 1024


def _walk(value: dict[str, Any], field: str) -> None:
    """Depth, counts, strings and numbers, without recursion (a hostile object is deep)."""
    keys = items = 0
    stack: list[tuple[str, Any, int]] = [(field, value, 1)]
    while stack:
        where, item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > MAX_DEPTH:
                raise ValidationError(
                    f"{field}: nested more than {MAX_DEPTH} levels deep (at {where})", field=field
                )
            children = item.items() if isinstance(item, dict) else enumerate(item)
            for key, child in children:
                if isinstance(item, dict):
                    keys += 1
                    if not isinstance(key, str):
                        raise ValidationError(f"{field}: keys must be strings", field=field)
                    problem = text_problem(key)
                    if problem is not None:
                        raise ValidationError(f"{field}: a key {problem}", field=field)
                    child_path = f"{where}.{key}"
                else:
                    child_path = f"{where}[{key}]"
                items += 1
                if keys > MAX_KEYS or items > MAX_ITEMS:
                    raise ValidationError(
                        f"{field}: more than {MAX_KEYS} keys or {MAX_ITEMS} values", field=field
                    )
                stack.append((child_path, child, depth + 1))
        elif isinstance(item, str):
            problem = text_problem(item)
            if problem is not None:
                raise ValidationError(f"{field}: {where} {problem}", field=field)
        elif isinstance(item, float) and not math.isfinite(item):
            raise ValidationError(f"{field}: {where} is not a finite number", field=field)
        elif item is not None and not isinstance(item, bool | int | float):
            raise ValidationError(
                f"{field}: {where} is not a JSON value ({type(item).__name__})", field=field
            )


def check_metadata(value: object, *, field: str = "job_metadata") -> dict[str, Any]:
    """``value`` if it is a JSON object within the bounds; else the field is named."""
    if not isinstance(value, dict):
        raise ValidationError(f"{field}: must be a JSON object", field=field)
    _walk(value, field)
    size = len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())
    if size > MAX_BYTES:
        raise ValidationError(f"{field}: {size} bytes as JSON; at most {MAX_BYTES}", field=field)
    return value


def parse_metadata(value: object, *, field: str = "job_metadata") -> dict[str, Any] | None:
    """Metadata as senders give it: an object, or (as the seed tools send it) a string
    holding one; ``None`` when absent or blank."""
    if value is None:
        return None
    if isinstance(value, str):
        if not value.strip():
            return None
        if len(value) > MAX_BYTES:
            raise ValidationError(
                f"{field}: {len(value)} characters of JSON; at most {MAX_BYTES}", field=field
            )
        try:
            value = json.loads(value)
        except RecursionError:  # "[[[[..." deeper than Python's stack: far past MAX_DEPTH
            raise ValidationError(
                f"{field}: nested more than {MAX_DEPTH} levels deep", field=field
            ) from None
        except ValueError:
            raise ValidationError(f"{field}: must be a JSON object", field=field) from None
    return check_metadata(value, field=field)
