"""Text that people and programs send: names, free text, who did it. One set of rules.

Free text is stripped, bounded and never holds NUL (PostgreSQL text cannot hold it, and it is
refused on every backend alike, so SQLite never stores what PostgreSQL would refuse), half of
a UTF-16 surrogate pair (no backend can encode it), control characters other than tab and
line breaks (an escape sequence in a memo would drive the terminal that shows it), or the
bidirectional overrides and isolates that make text display in another order than it reads
("Trojan Source"). Slurm account, partition and user names are ASCII: a letter that only
looks like one (the Kelvin sign ``K``, full-width letters) is refused, never folded into
another account's name.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from asbb_core.values.errors import ValidationError

ACCOUNT_NAME = re.compile(r"[a-z0-9][a-z0-9_.\-]{0,63}")
PARTITION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")
# A login as Slurm and the C library take it (``@`` for directory-service names, ``$`` for
# machine accounts), or a numeric uid.
USER_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@$\-]{0,63}")
TEXT_LIMIT = 500
PERSON_LIMIT = 128

# Never in any text asbb takes: NUL, other C0 controls but tab and line breaks, DEL, C1.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
# Never in free text: bidirectional embeddings, overrides and isolates.
_BIDI = re.compile(r"[\u202a-\u202e\u2066-\u2069]")


def shown(text: str, limit: int = 64) -> str:
    """``text`` quoted for an error message, cut short: a message never echoes megabytes."""
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _codepoint(char: str) -> str:
    name = unicodedata.name(char, "")
    return f"U+{ord(char):04X}" + (f" {name}" if name else "")


def text_problem(text: str, *, free_text: bool = False) -> str | None:
    """Why ``text`` cannot be stored as it is, or None. ``free_text`` (what people read in
    the console and in reports) also refuses bidirectional controls."""
    if "\x00" in text:
        return "must not contain NUL characters"
    if found := _SURROGATE.search(text):
        return f"must be valid Unicode (holds a lone surrogate, U+{ord(found.group()):04X})"
    if found := _CONTROL.search(text):
        return f"must not contain control characters (holds {_codepoint(found.group())})"
    if free_text and (found := _BIDI.search(text)):
        return f"must not contain bidirectional controls (holds {_codepoint(found.group())})"
    return None


def find_bad_text(value: Any, *, path: str = "") -> tuple[str, str] | None:
    """The first string in a JSON value (a request body, a query) that no backend can store
    or no terminal can show safely: ``(where, why)`` with ``where`` as ``a.b[2]`` (for a bad
    key: the object holding it), or None. Iterative: a hostile value may be deep."""
    stack: list[tuple[str, Any]] = [(path, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str):
            problem = text_problem(item)
            if problem is not None:
                return where, problem
        elif isinstance(item, dict):
            for key, child in item.items():
                if isinstance(key, str) and (problem := text_problem(key)) is not None:
                    return where, f"a key {problem}"
                stack.append((f"{where}.{key}" if where else str(key), child))
        elif isinstance(item, list | tuple):
            stack.extend((f"{where}[{i}]", child) for i, child in enumerate(item))
    return None


def clean_text(
    value: object, *, field: str, limit: int = TEXT_LIMIT, required: bool = False
) -> str:
    """Free text (a memo, a reason, a description): stripped; "" when absent."""
    if value is not None and not isinstance(value, str):
        raise ValidationError(f"{field}: expected text", field=field)
    text = (value or "").strip()
    if required and not text:
        raise ValidationError(f"{field}: required", field=field)
    if len(text) > limit:
        raise ValidationError(f"{field}: at most {limit} characters", field=field)
    problem = text_problem(text, free_text=True)
    if problem is not None:
        raise ValidationError(f"{field}: {problem}", field=field)
    return text


def optional_text(value: object, *, field: str, limit: int) -> str | None:
    """A short value some senders give as a number (a user id): text, or None when absent."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValidationError(f"{field}: must be a string", field=field)
    return clean_text(str(value), field=field, limit=limit) or None


def person(value: object, *, field: str) -> str:
    """Who asks, approves or acts: required, at most 128 characters."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{field}: required", field=field)
    return clean_text(value, field=field, limit=PERSON_LIMIT)


def _ascii_only(name: str, field: str, what: str) -> None:
    """Refuse a name with a character outside ASCII, saying which: lower-casing or Unicode
    normalisation would fold it into some other name (the Kelvin sign into ``k``)."""
    for char in name:
        if not char.isascii():
            raise ValidationError(
                f"{field}: {shown(name)} is not a valid {what}: {_codepoint(char)} is not ASCII",
                field=field,
            )


def normalise_account_name(name: object, *, field: str = "account") -> str:
    """A Slurm account name as Slurm keeps it: ASCII, lower case, surrounding blanks dropped.

    Only ASCII letters are lower-cased: ``str.lower`` maps the Kelvin sign to ``k``, so a
    non-ASCII name is refused before it could become another account's name."""
    if not isinstance(name, str):
        raise ValidationError(f"{field}: expected a name", field=field)
    stripped = name.strip()
    _ascii_only(stripped, field, "Slurm account name")
    cleaned = stripped.lower()
    if not ACCOUNT_NAME.fullmatch(cleaned):
        raise ValidationError(
            f"{field}: {shown(name)} is not a valid Slurm account name "
            "(ASCII letters, digits, '_', '.', '-'; at most 64)",
            field=field,
        )
    return cleaned


def validate_partition_name(name: object, *, field: str = "partition") -> str | None:
    """A Slurm partition name (case kept: Slurm's are case-sensitive); None stays None."""
    if name is None:
        return None
    if not isinstance(name, str):
        raise ValidationError(f"{field}: {name!r} is not a valid partition name", field=field)
    stripped = name.strip()
    _ascii_only(stripped, field, "partition name")
    if not PARTITION_NAME.fullmatch(stripped):
        raise ValidationError(
            f"{field}: {shown(name)} is not a valid partition name (ASCII letters, digits, "
            "'_', '.', '-'; at most 64)",
            field=field,
        )
    return stripped


def clean_user_name(value: object, *, field: str = "user_name") -> str | None:
    """A Slurm user (a login, or a numeric uid as some senders give it); None when absent.

    ASCII only, as ``useradd`` and Slurm take them: a look-alike letter would otherwise make
    a second user that prints like the first."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValidationError(f"{field}: must be a string", field=field)
    text = str(value).strip()
    if not text:
        return None
    problem = text_problem(text)
    if problem is not None:
        raise ValidationError(f"{field}: {problem}", field=field)
    _ascii_only(text, field, "user name")
    if not USER_NAME.fullmatch(text):
        raise ValidationError(
            f"{field}: {shown(text)} is not a valid user name (ASCII letters, digits, "
            "'_', '.', '@', '$', '-'; at most 64)",
            field=field,
        )
    return text
