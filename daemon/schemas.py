"""Types shared by the API's request and response models.

Money goes out as a string with two decimals ("12.50"). It comes in as a string or a JSON
number; a number is read through its shortest decimal form (0.1 -> "0.1"), never used as a
binary float.

Request fields are checked by asbb_core's own validators (``values.money``,
``values.periods``, ``values.metadata``), so the API refuses exactly what the CLI and the
console refuse; their ``ValidationError`` becomes pydantic's error for the field, and so a
422 naming it.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import PydanticCustomError

from asbb_core.values.errors import ValidationError
from asbb_core.values.metadata import check_metadata
from asbb_core.values.money import decimal_of_json
from asbb_core.values.periods import LATEST_UNIX_TIME, check_moment
from asbb_core.values.text import clean_user_name
from asbb_core.values.wire import Money


def field_error(exc: ValidationError) -> PydanticCustomError:
    """asbb_core's error as pydantic's, for the field pydantic is validating (its name is
    added by the error handler, so the core's own "field: " prefix is dropped)."""
    message = exc.message
    if exc.field and message.startswith(f"{exc.field}: "):
        message = message[len(exc.field) + 2 :]
    return PydanticCustomError("value_error", message)


def _money_in(value: Any) -> Decimal:
    try:
        return decimal_of_json(value)
    except ValidationError as exc:
        raise field_error(exc) from None


_RFC3339_START = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _moment_text(value: Any) -> Any:
    # pydantic would read a number (or "0.5") as Unix seconds: the wire speaks RFC 3339.
    if isinstance(value, str) and _RFC3339_START.match(value.strip()):
        return value
    if isinstance(value, datetime):
        return value
    raise PydanticCustomError(
        "datetime_type", "expected an RFC 3339 time such as 2026-03-02T12:00:00Z"
    )


def _moment_in(value: datetime, info: ValidationInfo) -> datetime:
    # A time without a zone is UTC, as the seed tools send them.
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        return check_moment(value, field=info.field_name or "time")
    except ValidationError as exc:
        raise field_error(exc) from None


def _slurm_time_in(value: Any) -> Any:
    # Checked before the union, so a wrong type is reported for the field itself.
    if value is None:
        raise PydanticCustomError("missing", "a time limit is required")
    return _optional_slurm_time_in(value)


def _optional_slurm_time_in(value: Any) -> Any:
    if value is not None and (isinstance(value, bool) or not isinstance(value, str | int | float)):
        raise PydanticCustomError(
            "slurm_time", "expected a Slurm time ('HH:MM:SS', 'D-HH:MM:SS') or minutes"
        )
    return value


def _user_in(value: Any, info: ValidationInfo) -> str | None:
    try:
        return clean_user_name(value, field=info.field_name or "user_id")
    except ValidationError as exc:
        raise field_error(exc) from None


def _metadata_in(value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
    try:
        return check_metadata(value, field=info.field_name or "job_metadata")
    except ValidationError as exc:
        raise field_error(exc) from None


# A Slurm job id: 1234, an array task 1234_5, or a heterogeneous job component 1234+0.
JOB_ID_PATTERN = r"^[0-9]+(?:_[0-9]+|\+[0-9]+)?$"

# The names aws-slurm-burst gives a job id and a hold id, beside asbb's own.
AsbxJobId = Annotated[
    str,
    Field(
        max_length=64,
        pattern=JOB_ID_PATTERN,
        validation_alias=AliasChoices("job_id", "slurm_job_id"),
        description="The Slurm job id (also as slurm_job_id)",
    ),
]
AsbxHoldId = Annotated[
    str | None,
    Field(
        max_length=40,
        validation_alias=AliasChoices("transaction_id", "budget_transaction_id", "hold_id"),
        description="The job's hold id (also as budget_transaction_id); else found by job id",
    ),
]

MoneyIn = Annotated[
    Decimal,
    BeforeValidator(_money_in),
    WithJsonSchema(
        {
            "anyOf": [
                {
                    "type": "string",
                    "pattern": r"^\s*[+-]?\$?[+-]?([0-9]{1,3}(,[0-9]{3})+|[0-9]*)(\.[0-9]*)?\s*$",
                },
                {"type": "number"},
            ],
            "description": 'An amount in dollars: a string ("12.50", "$1,250.00") or a number; '
            "at most 999,999,999,999.99",
        }
    ),
]

Moment = Annotated[datetime, BeforeValidator(_moment_text), AfterValidator(_moment_in)]
"""A time in a request: RFC 3339 (one without a zone is UTC), from 1970 to 2200."""

UnixTime = Annotated[int, Field(ge=0, le=LATEST_UNIX_TIME)]
"""A time as Unix seconds, up to the end of 2200 (as the days asbb takes)."""

SlurmTime = Annotated[str | int | float, BeforeValidator(_slurm_time_in)]
"""A time limit: 'MM', 'HH:MM:SS', 'D-HH:MM:SS', or minutes as a number."""

OptionalSlurmTime = Annotated[str | int | float | None, BeforeValidator(_optional_slurm_time_in)]
"""An elapsed time as ``SlurmTime``, or null."""

UserName = Annotated[str | None, BeforeValidator(_user_in)]
"""A Slurm user (a login, or a uid as a number): ASCII (``values.text.clean_user_name``)."""

JobMetadata = Annotated[dict[str, Any], AfterValidator(_metadata_in)]
"""Free-form job metadata, bounded (``asbb_core.values.metadata``: at most 16 levels deep,
256 keys, 16 KiB as JSON)."""

JobDetails = Annotated[dict[str, str], AfterValidator(_metadata_in)]
"""Slurm's job details (name, work dir, ...) as strings, bounded as job metadata is."""

MoneyOut = Money
"""Money in a response: the views' own type (``asbb_core.values.wire``)."""

GO_ZERO_TIME = "0001-01-01T00:00:00Z"
"""What a Go client sends for a ``time.Time`` it never set: read as "not given"."""


def _day_in(value: Any) -> Any:
    # A day (YYYY-MM-DD), or an RFC 3339 time as the original tool sends: its day is kept,
    # as written (asbb's accounts and grants run by whole days).
    if value is None or isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise PydanticCustomError(
            "date_type", "expected an ISO date (YYYY-MM-DD) or an RFC 3339 time"
        )
    text = value.strip()
    if text == GO_ZERO_TIME:
        return None
    if not _RFC3339_START.match(text):  # "0" or "1700000000" would read as Unix seconds
        raise PydanticCustomError(
            "date_type", "expected an ISO date (YYYY-MM-DD) or an RFC 3339 time"
        )
    if len(text) > 10:
        try:
            return datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00")).date()
        except ValueError:
            raise PydanticCustomError(
                "date_type", "expected an ISO date (YYYY-MM-DD) or an RFC 3339 time"
            ) from None
    return text


DayIn = Annotated[
    date | None,
    BeforeValidator(_day_in),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "format": "date"},
                {"type": "string", "format": "date-time"},
                {"type": "null"},
            ],
            "description": "A day (2026-03-02), or an RFC 3339 time whose day is taken "
            "(2026-03-02T00:00:00Z)",
        }
    ),
]
"""A day in a request: YYYY-MM-DD or an RFC 3339 time (its day as written); Go's zero time
(``GO_ZERO_TIME``) is none."""


def _required_day_in(value: Any) -> Any:
    day = _day_in(value)
    if day is None:
        raise PydanticCustomError("missing", "a day is required (YYYY-MM-DD or RFC 3339)")
    return day


Day = Annotated[
    date,
    BeforeValidator(_required_day_in),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "format": "date"},
                {"type": "string", "format": "date-time"},
            ],
            "description": "A day (2026-03-02), or an RFC 3339 time whose day is taken "
            "(2026-03-02T00:00:00Z)",
        }
    ),
]
"""A day that must be given: as ``DayIn``, but never none."""


def pick(body: BaseModel, ours: str, theirs: str) -> dict[str, Any]:
    """``{ours: value}`` from whichever of the two names the body set: asbb's ``ours`` or the
    original tool's ``theirs`` (``{}`` when neither). Both with different values is a 422
    naming both; both with the same value is that value."""
    given = body.model_fields_set
    if ours in given and theirs in given:
        mine, other = getattr(body, ours), getattr(body, theirs)
        if mine != other:
            raise ValidationError(
                f"{theirs}: {_shown(other)} disagrees with {ours} {_shown(mine)}; "
                f"give {ours} or {theirs} (the original tool's name), or the same value",
                field=theirs,
                details={ours: _shown(mine), theirs: _shown(other)},
            )
    for name in (ours, theirs):
        if name in given:
            return {ours: getattr(body, name)}
    return {}


def _shown(value: Any) -> str:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, date):
        return value.isoformat()
    return repr(value)


def refuse(body: BaseModel, fields: dict[str, str], *, empty_ok: bool = False) -> None:
    """422 for the first field of ``fields`` the body gave (the original tool's fields asbb
    keeps no equivalent of), saying what to do instead. With ``empty_ok`` an empty value
    (null, "", [], 0) passes: what the original's Go clients send for a field never set."""
    for name, why in fields.items():
        if name not in body.model_fields_set:
            continue
        value = getattr(body, name)
        if empty_ok and (value is None or (not isinstance(value, bool) and value in ("", [], 0))):
            continue
        raise ValidationError(f"{name}: {why}", field=name)


Flag = Annotated[bool, Strict()]
"""A yes/no in a body: JSON true or false only (not 0, 1 or "yes")."""

DRY_RUN_HEADER = "Asbb-Dry-Run"
"""Set (``true``) on the answer to a ``dry_run`` request: nothing was changed."""


def _takes_number(annotation: Any) -> bool:
    options = get_args(annotation) if get_origin(annotation) in (Union, UnionType) else ()
    kinds = set(options) or {annotation}
    return bool(kinds & {int, float}) and bool not in kinds


class ApiModel(BaseModel):
    """The base of every request and response body: a field's docstring is its description
    in the OpenAPI spec (and so in docs/api.md)."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_booleans_for_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        # pydantic reads JSON true as 1 for a number: nodes=true is a mistake, not one node.
        if (
            isinstance(value, bool)
            and info.field_name is not None
            and _takes_number(cls.model_fields[info.field_name].annotation)
        ):
            raise PydanticCustomError("int_type", "expected a number, not true or false")
        return value


class ErrorBody(ApiModel):
    code: str
    """Stable, for scripts: validation_error, not_found, insufficient_funds, ..."""
    message: str
    """For people; names the field at fault when there is one."""
    details: dict[str, Any]
    field: str | None


class ErrorEnvelope(ApiModel):
    """Every error the API returns."""

    error: ErrorBody
    request_id: str
    timestamp: str


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorEnvelope, "description": description}
    for status, description in (
        (400, "Malformed request"),
        (401, "No valid bearer token"),
        (403, "The token's role may not do this"),
        (404, "Not found"),
        (409, "Conflicts with the ledger's state"),
        (422, "Invalid input; error.field names it"),
        (429, "Rate limited; see Retry-After"),
        (503, "Database unavailable"),
    )
}
