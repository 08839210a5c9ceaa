"""Text that people and programs send: names, free text, who did it. One set of rules.

Free text is stripped, bounded and never holds NUL (PostgreSQL text cannot hold it, and it is
refused on every backend alike, so SQLite never stores what PostgreSQL would refuse). Slurm
account and partition names are ASCII: a letter that only looks like one (the Kelvin sign
``K``, full-width letters) is refused, never folded into another account's name.
"""

from __future__ import annotations

import re

from asbb_core.values.errors import ValidationError

ACCOUNT_NAME = re.compile(r"^[a-z0-9][a-z0-9_.\-]{0,63}$")
PARTITION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
TEXT_LIMIT = 500
PERSON_LIMIT = 128


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
    if "\x00" in text:
        raise ValidationError(f"{field}: must not contain NUL characters", field=field)
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


def normalise_account_name(name: object, *, field: str = "account") -> str:
    """A Slurm account name as Slurm keeps it: ASCII, lower case, surrounding blanks dropped."""
    if not isinstance(name, str):
        raise ValidationError(f"{field}: expected a name", field=field)
    stripped = name.strip()
    cleaned = stripped.lower() if stripped.isascii() else stripped
    if not ACCOUNT_NAME.match(cleaned):
        raise ValidationError(
            f"{field}: {name!r} is not a valid Slurm account name "
            "(ASCII letters, digits, '_', '.', '-'; at most 64)",
            field=field,
        )
    return cleaned


def validate_partition_name(name: object, *, field: str = "partition") -> str | None:
    """A Slurm partition name (case kept: Slurm's are case-sensitive); None stays None."""
    if name is None:
        return None
    if not isinstance(name, str) or not PARTITION_NAME.match(name.strip()):
        raise ValidationError(f"{field}: {name!r} is not a valid partition name", field=field)
    return name.strip()
