"""Types shared by the API's request and response models.

Money goes out as a string with two decimals ("12.50"). It comes in as a string or a JSON
number; a number is read through its shortest decimal form (0.1 -> "0.1"), never used as a
binary float.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
)

from asbb_core.values.errors import ValidationError
from asbb_core.values.money import money_str, to_decimal


def _money_in(value: Any) -> Decimal:
    if isinstance(value, float):
        value = repr(value)
    elif isinstance(value, str) and any(c in value for c in "eE"):
        raise ValueError("write amounts in plain decimal notation (12.50), not with an exponent")
    try:
        return to_decimal(value)
    except ValidationError as exc:
        raise ValueError(exc.message.removeprefix("amount: ")) from None


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


class ApiModel(BaseModel):
    """The base of every request and response body: a field's docstring is its description
    in the OpenAPI spec (and so in docs/api.md)."""

    model_config = ConfigDict(use_attribute_docstrings=True)


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
