"""Hostile input over real HTTP and through the real CLI, on SQLite and PostgreSQL.

A hand-written corpus of requests no client should send -- sizes past any machine, dates at
year 1 or 9999, metadata thousands of levels deep, NUL and control characters, look-alike
letters, numbers in other scripts, NaN and exponents as money, ids past 64 bits, bodies of
10 MB, JSON of the wrong type -- goes to a live daemon with an admin token. Every request
must be refused with a 4xx whose ``error.field`` names what is wrong (never a 5xx), and the
database must be exactly as it was: the same rows in every table, the same balances.

The CLI cases run ``asbb`` itself (the Typer app, as the other CLI tests do) against the
same kinds of input: one ``error: <option>: ...`` line, exit status 1 (asbb's "bad input"
status; 2 is click's usage errors), nothing written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy import text as sql
from sqlmodel import SQLModel
from typer.testing import CliRunner

import asbb_core.store.models  # noqa: F401  (every table in SQLModel.metadata)
from asbb_core.access.tokens import Tokens
from asbb_core.ledger import Ledger
from asbb_core.ledger.pricing import MAX_MEMORY_MB, JobShape, parse_memory_mb, price_job
from asbb_core.settings import PartitionSettings, Settings
from asbb_core.store.database import Database
from asbb_core.values.context import Context
from asbb_core.values.errors import ValidationError
from asbb_core.values.metadata import MAX_BYTES, MAX_DEPTH, MAX_KEYS, check_metadata, parse_metadata
from asbb_core.values.money import MAX_AMOUNT
from asbb_core.values.periods import (
    EARLIEST_DAY,
    LATEST_DAY,
    check_moment,
    parse_date,
    parse_day,
    parse_since,
)
from asbb_core.values.text import (
    clean_text,
    clean_user_name,
    find_bad_text,
    normalise_account_name,
    text_problem,
    validate_partition_name,
)
from asbb_tui.cli import app as cli_app
from tests.conftest import Clock, serve_in_thread

NUL = "\x00"
ANY = object()
"""``Case.field`` when the refusal need not name a field (e.g. a body that is not JSON)."""

BIG = 2**63  # one past the largest 64-bit id
MIB = 1024 * 1024


@dataclass(frozen=True)
class Case:
    """One hostile request and the refusal it must get.

    ``{hold}`` in the path or anywhere in ``body`` is replaced by the seeded hold's id.
    ``raw`` is sent as the body byte for byte (JSON no client library writes: NaN,
    lone surrogates, deep nesting); ``body`` is sent as JSON."""

    id: str
    method: str
    path: str
    body: Any = None
    params: Any = None
    raw: str | bytes | None = None
    headers: dict[str, str] | None = None
    status: int = 422
    field: object = ANY


def request(method: str, id: str, path: str, field: object, body: Any = None, **more: Any) -> Case:
    """The corpus's shorthand: which request, and the field its refusal must name."""
    return Case(id, method, path, body, field=field, **more)


def get(id: str, path: str, field: object, params: Any = None, **more: Any) -> Case:
    return request("GET", id, path, field, params=params, **more)


def post(id: str, path: str, field: object, body: Any = None, **more: Any) -> Case:
    return request("POST", id, path, field, body, **more)


def put(id: str, path: str, field: object, body: Any = None, **more: Any) -> Case:
    return request("PUT", id, path, field, body, **more)


def patch(id: str, path: str, field: object, body: Any = None, **more: Any) -> Case:
    return request("PATCH", id, path, field, body, **more)


def nest(depth: int, leaf: str = "1") -> str:
    return '{"a":' * depth + leaf + "}" * depth


CHECK = "/api/v1/budget/check"
QUOTE = "/api/v1/budget/quote"
RECONCILE = "/api/v1/budget/reconcile"
JOB = {"account": "physics", "partition": "aws-cpu", "wall_time": "1:00:00"}
MEM_JOB = {"account": "physics", "partition": "mem-aws", "wall_time": "1:00:00"}
DONE = {"job_id": "77", "transaction_id": "{hold}", "elapsed_seconds": 600}
DEPOSIT = "/api/v1/accounts/physics/deposits"
GRANT = {
    "number": "NSF-2",
    "total_award": "1000",
    "start_date": "2026-01-01",
    "end_date": "2027-12-31",
    "indirect_rate": "0.3",
}


def check(id: str, field: object = ANY, **changes: Any) -> list[Case]:
    """The same hostile job sent to check and to quote (they share their validation)."""
    body = {**JOB, **changes}
    return [post(f"check-{id}", CHECK, field, body), post(f"quote-{id}", QUOTE, field, body)]


SIZES = [
    # Memory past any machine, on a partition priced per GB: it overflowed the price.
    *check("memory-20-digits-P", field="memory", **MEM_JOB, memory="99999999999999999999P"),
    post(
        "reconcile-memory-20-digits-P",
        RECONCILE,
        "memory",
        {**DONE, "partition": "mem-aws", "memory": "99999999999999999999P"},
    ),
    *check("memory-2**63", field="memory", **MEM_JOB, memory=BIG),
    *check("memory-kelvin-k", field="memory", memory="64\u212a"),  # IGNORECASE matched it
    *check("memory-arabic-digits", field="memory", memory="\u0666\u0664G"),
    *check("memory-exponent", field="memory", memory="1e3G"),
    *check("memory-negative", field="memory", memory=-1),
    *check("memory-empty", field="memory", memory=""),
    *check("memory-10k-chars", field="memory", memory="9" * 10_000),
    *check("nodes-2**63", field="nodes", nodes=BIG),
    *check("nodes-zero", field="nodes", nodes=0),
    *check("cpus-negative", field="cpus", cpus=-1),
    *check("gpus-million-and-one", field="gpus", gpus=1_000_001),
    *check("array-size-zero", field="array_size", array_size=0),
    *check("nodes-fraction", field="nodes", nodes=1.5),
    *check("nodes-text", field="nodes", nodes="many"),
    # Within every bound, but the price is more than any hold: 10^6 CPUs x 10^6 tasks.
    *check("price-past-max", cpus=1_000_000, array_size=1_000_000, wall_time="3650-00:00:00"),
    *check("wall-time-5000-digits", field="wall_time", wall_time="1" * 5000),
    *check("wall-time-arabic-digits", field="wall_time", wall_time="\u0661:\u0660\u0660"),
    *check("wall-time-1e300", field="wall_time", wall_time=1e300),
    *check("wall-time-negative", field="wall_time", wall_time=-1),
    *check("wall-time-empty", field="wall_time", wall_time=""),
    *check("wall-time-ten-years-and-a-day", field="wall_time", wall_time="3661-00:00:00"),
    *check("job-id-65-digits", field="job_id", job_id="9" * 65),
    post(
        "reconcile-elapsed-5000-digits",
        RECONCILE,
        "elapsed",
        {**DONE, "elapsed": "1" * 5000, "elapsed_seconds": None},
    ),
    post("reconcile-elapsed-2**63", RECONCILE, "elapsed_seconds", {**DONE, "elapsed_seconds": BIG}),
    post("reconcile-job-id-letters", RECONCILE, "job_id", {**DONE, "job_id": "77x"}),
    post("reconcile-hold-id-41", RECONCILE, "transaction_id", {**DONE, "transaction_id": "h" * 41}),
    post(
        "epilog-start-2**63",
        "/api/v1/asbx/epilog",
        "start_time",
        {"job_id": "77", "start_time": BIG, "end_time": BIG},
    ),
    post(
        "epilog-end-negative",
        "/api/v1/asbx/epilog",
        "end_time",
        {"job_id": "77", "start_time": 0, "end_time": -1},
    ),
    get("entry-2**63", f"/api/v1/transactions/{BIG}", "entry_id"),
    get("entry-negative", "/api/v1/transactions/-1", "entry_id"),
    get("entry-zero", "/api/v1/transactions/0", "entry_id"),
    get("before-id-2**63", "/api/v1/transactions", "before_id", {"before_id": BIG}),
    get("page-limit-2**63", "/api/v1/transactions", "limit", {"limit": BIG}),
    get("page-limit-negative", "/api/v1/accounts", "limit", {"limit": -1}),
    get("offset-2**63", "/api/v1/accounts", "offset", {"offset": BIG}),
    get("adjustment-2**63", f"/api/v1/adjustments/{BIG}", "request_id"),
    post("approve-2**63", f"/api/v1/adjustments/{BIG}/approve", "request_id", {}),
    get("alert-2**63", f"/api/v1/alerts/{BIG}", "alert_id"),
    post("schedule-2**63", f"/api/v1/allocations/{BIG}/pause", "schedule_id", {}),
    get("schedule-negative", "/api/v1/allocations/-5", None, status=404),
    get("hold-id-1000-chars", "/api/v1/holds/" + "h" * 1000, "hold_id"),
    get("account-name-1000-chars", "/api/v1/accounts/" + "a" * 1000, "name"),
    get("grant-period-2**63", f"/api/v1/grants/NSF-1/periods/{BIG}/status", "period"),
    post(
        "grant-period-months-2**63",
        "/api/v1/grants",
        "period_months",
        {**GRANT, "period_months": BIG},
    ),
    post(
        "look-ahead-2**63",
        "/api/v1/asba/burst-decision",
        "look_ahead_days",
        {"account": "physics", "estimated_aws_cost": "5", "look_ahead_days": BIG},
    ),
]

DATES = [
    get("since-year-1", "/api/v1/transactions", "since", {"since": "0001-01-01"}),
    get("until-year-9999", "/api/v1/transactions", "until", {"until": "9999-12-31"}),
    get("since-year-9999", "/api/v1/transactions", "since", {"since": "9999-12-31"}),
    get(
        "since-year-1-with-offset",
        "/api/v1/transactions",
        "since",
        {"since": "0001-01-01T00:00:00+01:00"},
    ),
    get(
        "until-year-9999-with-offset",
        "/api/v1/transactions",
        "until",
        {"until": "9999-12-31T23:59:59-01:00"},
    ),
    get("since-1969", "/api/v1/transactions", "since", {"since": "1969-12-31"}),
    get("since-2201", "/api/v1/transactions", "since", {"since": "2201-01-01"}),
    get("since-february-30", "/api/v1/transactions", "since", {"since": "2026-02-30"}),
    get(
        "since-offset-99-hours",
        "/api/v1/transactions",
        "since",
        {"since": "2026-03-01T10:00:00+99:00"},
    ),
    get(
        "since-arabic-digits",
        "/api/v1/transactions",
        "since",
        {"since": "\u0662\u0660\u0662\u0666-\u0660\u0663-\u0660\u0661"},
    ),
    get(
        "statement-year-1",
        "/api/v1/accounts/physics/statement",
        "since",
        {"since": "0001-01-01", "until": "2026-01-01"},
    ),
    get(
        "statement-year-9999",
        "/api/v1/accounts/physics/statement",
        "until",
        {"since": "2026-01-01", "until": "9999-12-31"},
    ),
    get(
        "burn-rate-today-year-1",
        "/api/v1/accounts/physics/burn-rate",
        "today",
        {"today": "0001-01-01"},
    ),
    get(
        "burn-rate-today-year-9999",
        "/api/v1/accounts/physics/burn-rate",
        "today",
        {"today": "9999-12-31"},
    ),
    get(
        "grant-burn-rate-year-9999",
        "/api/v1/grants/NSF-1/burn-rate",
        "today",
        {"today": "9999-12-31"},
    ),
    get("usage-since-year-1", "/api/v1/usage/summary", "since", {"since": "0001-01-01"}),
    get("usage-until-year-9999", "/api/v1/usage/summary", "until", {"until": "9999-12-31"}),
    post(
        "grant-start-year-1",
        "/api/v1/grants",
        "start_date",
        {**GRANT, "start_date": "0001-01-01", "end_date": "0002-01-01"},
    ),
    post(
        "grant-end-year-9999",
        "/api/v1/grants",
        "start_date",
        {**GRANT, "start_date": "9998-01-01", "end_date": "9999-12-31"},
    ),
    post("grant-february-30", "/api/v1/grants", "end_date", {**GRANT, "end_date": "2027-02-30"}),
    put(
        "grant-period-year-9999",
        "/api/v1/grants/NSF-1/periods/1",
        "end_date",
        {"end_date": "9999-12-31"},
    ),
    post(
        "account-start-year-1",
        "/api/v1/accounts",
        "start_date",
        {"name": "early", "start_date": "0001-01-01"},
    ),
    patch(
        "account-end-year-9999", "/api/v1/accounts/physics", "end_date", {"end_date": "9999-12-31"}
    ),
    post(
        "account-start-february-30",
        "/api/v1/accounts",
        "start_date",
        {"name": "early", "start_date": "2026-02-30"},
    ),
    post(
        "schedule-start-year-9999",
        "/api/v1/allocations",
        "start_date",
        {
            "account": "physics",
            "amount": "5",
            "frequency": "monthly",
            "start_date": "9999-01-01",
            "instalments": 3,
        },
    ),
    post(
        "schedule-start-year-1",
        "/api/v1/allocations",
        "start_date",
        {
            "account": "physics",
            "amount": "5",
            "frequency": "daily",
            "start_date": "0001-01-01",
            "instalments": 3,
        },
    ),
    post(
        "process-today-year-9999", "/api/v1/allocations/process", "today", {"today": "9999-12-31"}
    ),
    post(
        "reconcile-end-time-year-9999",
        RECONCILE,
        "end_time",
        {**DONE, "end_time": "9999-12-31T23:59:59Z"},
    ),
    post(
        "reconcile-end-time-no-zone-year-1",
        RECONCILE,
        "end_time",
        {**DONE, "end_time": "0001-01-01T00:00:00"},
    ),
    post("reconcile-end-time-a-number", RECONCILE, "end_time", {**DONE, "end_time": 1772450000}),
    post(
        "burst-deadline-unix-seconds-text",
        "/api/v1/asba/burst-decision",
        "job_deadline",
        {"account": "physics", "estimated_aws_cost": "5", "job_deadline": "0.5"},
    ),
    post(
        "burst-deadline-year-9999",
        "/api/v1/asba/burst-decision",
        "job_deadline",
        {"account": "physics", "estimated_aws_cost": "5", "job_deadline": "9999-12-31T23:59:59Z"},
    ),
    post(
        "burst-deadline-year-1-no-zone",
        "/api/v1/asba/burst-decision",
        "job_deadline",
        {"account": "physics", "estimated_aws_cost": "5", "job_deadline": "0001-01-01T00:00:00"},
    ),
    post(
        "conference-deadline-year-9999",
        "/api/v1/asba/burst-decision",
        "conference_deadline",
        {
            "account": "physics",
            "estimated_aws_cost": "5",
            "conference_deadline": "9999-12-31T00:00:00+14:00",
        },
    ),
    post(
        "affordability-deadline-year-9999",
        "/api/v1/asba/affordability-check",
        "job_deadline",
        {"account": "physics", "estimated_aws_cost": "5", "job_deadline": "9999-12-31T23:59:59Z"},
    ),
]


def check_raw(id: str, metadata: str, field: object = "job_metadata") -> Case:
    raw = json.dumps(JOB)[:-1] + ', "job_metadata": ' + metadata + "}"
    return Case(f"check-{id}", "POST", CHECK, raw=raw, field=field)


METADATA = [
    # Deeper than Python's JSON reader goes: a 400 for the body, from FastAPI itself.
    post(
        "check-metadata-3000-deep",
        CHECK,
        None,
        raw=json.dumps(JOB)[:-1] + ', "job_metadata": ' + nest(3000) + "}",
        status=400,
    ),
    check_raw("metadata-900-deep", nest(900)),
    check_raw("metadata-17-deep", nest(17)),
    check_raw("metadata-nan", '{"x": NaN}'),
    check_raw("metadata-infinity", '{"x": -Infinity}'),
    check_raw("metadata-lone-surrogate", '{"x": "\\ud800"}', field="job_metadata.x"),
    check_raw("metadata-nul-value", '{"x": "a\\u0000b"}', field="job_metadata.x"),
    check_raw("metadata-nul-key", '{"a\\u0000": 1}'),
    check_raw("metadata-escape-sequence", '{"x": "\\u001b[2J"}', field="job_metadata.x"),
    check_raw("metadata-300-keys", json.dumps({f"k{i}": i for i in range(300)})),
    check_raw("metadata-17-KiB", json.dumps({"x": "y" * (17 * 1024)})),
    check_raw("metadata-not-an-object", "[1, 2, 3]"),
    check_raw("metadata-2000-item-list", json.dumps({"x": list(range(2000))})),
    *check("details-nul", job_details={"work_dir": "/home/a" + NUL}),
    *check("details-17-KiB", field="job_details", job_details={"x": "y" * (17 * 1024)}),
    # The seed tools send metadata as a string of JSON: parsed, then bounded the same way.
    post(
        "reconcile-metadata-string-3000-deep",
        RECONCILE,
        "job_metadata",
        {**DONE, "job_metadata": nest(3000)},
    ),
    post(
        "reconcile-metadata-string-17-deep",
        RECONCILE,
        "job_metadata",
        {**DONE, "job_metadata": nest(17)},
    ),
    post(
        "reconcile-metadata-object-17-deep",
        RECONCILE,
        "job_metadata",
        {**DONE, "job_metadata": json.loads(nest(17))},
    ),
    post(
        "reconcile-metadata-string-not-json",
        RECONCILE,
        "job_metadata",
        {**DONE, "job_metadata": "{not json"},
    ),
    post(
        "reconcile-metadata-string-17-KiB",
        RECONCILE,
        "job_metadata",
        {**DONE, "job_metadata": json.dumps({"x": "y" * (17 * 1024)})},
    ),
    post(
        "burst-metadata-17-deep",
        "/api/v1/asba/burst-decision",
        "job_metadata",
        {"account": "physics", "estimated_aws_cost": "5", "job_metadata": json.loads(nest(17))},
    ),
]

TEXT = [
    # NUL: PostgreSQL cannot store it, SQLite would; refused on both, naming the field.
    post(
        "epilog-data-path-nul",
        "/api/v1/asbx/epilog",
        "asbx_data_path",
        {"job_id": "77", "asbx_data_path": "/tmp/a" + NUL},
    ),
    post(
        "account-description-nul",
        "/api/v1/accounts",
        "description",
        {"name": "nul", "description": "a" + NUL},
    ),
    post("deposit-memo-nul", DEPOSIT, "memo", {"amount": "5", "memo": NUL}),
    post(
        "adjustment-reason-nul",
        "/api/v1/adjustments",
        "reason",
        {"kind": "credit", "account": "physics", "amount": "5", "reason": "a" + NUL},
    ),
    post("void-reason-nul", "/api/v1/holds/{hold}/void", "reason", {"reason": NUL}),
    post("reconcile-state-nul", RECONCILE, "state", {**DONE, "state": NUL}),
    post(
        "reconcile-hold-id-nul", RECONCILE, "transaction_id", {**DONE, "transaction_id": "h" + NUL}
    ),
    post(
        "reconcile-user-nul",
        RECONCILE,
        "user_id",
        {"job_id": "79", "account": "physics", "elapsed_seconds": 60, "user_id": NUL},
    ),
    *check("user-nul", field="user_id", user_id=NUL),
    *check("partition-nul", field="partition", partition="aws" + NUL),
    post(
        "cost-report-instance-nul",
        "/api/v1/asbx/reconcile",
        "instance_types[0]",
        {"job_id": "77", "actual_cost": "1", "instance_types": ["c5" + NUL]},
    ),
    post(
        "cost-report-breakdown-key-nul",
        "/api/v1/asbx/reconcile",
        "cost_breakdown",
        {"job_id": "77", "actual_cost": "1", "cost_breakdown": {"a" + NUL: "1"}},
    ),
    post(
        "feedback-profile-nul",
        "/api/v1/integration/performance-feedback",
        "performance_profile",
        {"job_id": "77", "performance_profile": NUL},
    ),
    post("grant-co-pi-nul", "/api/v1/grants", "co_pis[0]", {**GRANT, "co_pis": [NUL]}),
    post(
        "budget-status-project-nul",
        "/api/v1/asba/budget-status",
        "project_code",
        {"account": "physics", "project_code": NUL},
    ),
    get("search-nul", "/api/v1/accounts", "q", {"q": NUL}),
    get("calibration-partition-nul", "/api/v1/calibration", "partition", {"partition": NUL}),
    get("hold-filter-nul", "/api/v1/transactions", "hold_id", {"hold_id": NUL}),
    get("hold-path-nul", "/api/v1/holds/%00", "hold_id"),
    get("account-path-nul", "/api/v1/accounts/%00", "name"),
    # Control characters: an escape sequence would drive the console of whoever reads it.
    post(
        "account-description-escape",
        "/api/v1/accounts",
        "description",
        {"name": "esc", "description": "\x1b[2J\x1b[31mred"},
    ),
    post("account-name-escape", "/api/v1/accounts", "name", {"name": "phys\x1bics"}),
    post("memo-bell", DEPOSIT, "memo", {"amount": "5", "memo": "ding\x07"}),
    post("memo-c1-control", DEPOSIT, "memo", {"amount": "5", "memo": "a\x9bb"}),
    post("memo-delete", DEPOSIT, "memo", {"amount": "5", "memo": "a\x7f"}),
    # Bidirectional overrides: text that displays in another order than it reads.
    post("account-name-rtl-override", "/api/v1/accounts", "name", {"name": "phys\u202eics"}),
    post(
        "account-description-rtl-override",
        "/api/v1/accounts",
        "description",
        {"name": "rtl", "description": "pay \u202e001$"},
    ),
    post(
        "adjustment-reason-isolate",
        "/api/v1/adjustments",
        "reason",
        {"kind": "credit", "account": "physics", "amount": "5", "reason": "a\u2066b\u2069"},
    ),
    put(
        "partition-limit-rtl",
        "/api/v1/accounts/physics/partition-limits/%E2%80%AE",
        "partition",
        {"limit": "5"},
    ),
    # Half a surrogate pair: no backend can encode it.
    post(
        "account-description-surrogate",
        "/api/v1/accounts",
        "description",
        raw='{"name": "sur", "description": "\\ud800"}',
    ),
    post("memo-surrogate", DEPOSIT, "memo", raw='{"amount": "5", "memo": "\\udfff"}'),
    # Look-alike letters: refused, never folded into an ASCII name.
    post("account-name-kelvin", "/api/v1/accounts", "name", {"name": "\u212aelvin"}),
    post("account-name-fullwidth", "/api/v1/accounts", "name", {"name": "\uff50hysics"}),
    get("account-path-kelvin", "/api/v1/accounts/\u212aelvin", "name"),
    put(
        "partition-limit-kelvin",
        "/api/v1/accounts/physics/partition-limits/aws\u212a",
        "partition",
        {"limit": "5"},
    ),
    post(
        "account-partition-limits-kelvin",
        "/api/v1/accounts",
        "partition",
        {"name": "caps", "partition_limits": {"aws\u212a": "5"}},
    ),
    post(
        "reconcile-user-kelvin",
        RECONCILE,
        "user_id",
        {"job_id": "79", "account": "physics", "elapsed_seconds": 60, "user_id": "\u212aim"},
    ),
    *check("user-cyrillic", field="user_id", user_id="\u0430nn"),
    *check("user-blank-inside", field="user_id", user_id="a nn"),
    # Empty strings where a value is required.
    post("account-name-empty", "/api/v1/accounts", "name", {"name": ""}),
    post("account-name-blank", "/api/v1/accounts", "name", {"name": "   "}),
    *check("account-empty", field="account", account=""),
    post("reconcile-job-id-empty", RECONCILE, "job_id", {**DONE, "job_id": ""}),
    post(
        "adjustment-reason-empty",
        "/api/v1/adjustments",
        "reason",
        {"kind": "credit", "account": "physics", "amount": "5", "reason": ""},
    ),
]

MONEY = [
    post("deposit-arabic-indic-digits", DEPOSIT, "amount", {"amount": "\u0661\u0662"}),
    post("deposit-devanagari-digits", DEPOSIT, "amount", {"amount": "\u0967\u0968"}),
    post("deposit-fullwidth-digits", DEPOSIT, "amount", {"amount": "\uff11\uff12"}),
    post("deposit-underscore", DEPOSIT, "amount", {"amount": "1_000"}),
    post("deposit-exponent", DEPOSIT, "amount", {"amount": "1e3"}),
    post("deposit-blank-inside", DEPOSIT, "amount", {"amount": "1 000"}),
    post("deposit-misplaced-comma", DEPOSIT, "amount", {"amount": "1,5"}),
    post("deposit-two-signs", DEPOSIT, "amount", {"amount": "+-5"}),
    post("deposit-nan-text", DEPOSIT, "amount", {"amount": "NaN"}),
    post("deposit-infinity-text", DEPOSIT, "amount", {"amount": "Infinity"}),
    post("deposit-nan-number", DEPOSIT, "amount", raw='{"amount": NaN}'),
    post("deposit-infinity-number", DEPOSIT, "amount", raw='{"amount": Infinity}'),
    post("deposit-1e999", DEPOSIT, "amount", raw='{"amount": 1e999}'),
    post("deposit-1e999-text", DEPOSIT, "amount", {"amount": "1e999"}),
    post("deposit-minus-zero", DEPOSIT, "amount", {"amount": "-0"}),
    post("deposit-minus-zero-number", DEPOSIT, "amount", raw='{"amount": -0.0}'),
    post("deposit-negative", DEPOSIT, "amount", {"amount": "-5"}),
    post("deposit-three-places", DEPOSIT, "amount", {"amount": "5.001"}),
    post("deposit-9.2e14", DEPOSIT, "amount", {"amount": "922337203685477.58"}),
    post("deposit-a-trillion", DEPOSIT, "amount", {"amount": "1000000000000"}),
    post("deposit-1e20-number", DEPOSIT, "amount", {"amount": 1e20}),
    post("deposit-float-inexact", DEPOSIT, "amount", {"amount": 0.125}),
    post("deposit-boolean", DEPOSIT, "amount", {"amount": True}),
    post("deposit-list", DEPOSIT, "amount", {"amount": [5]}),
    post("deposit-object", DEPOSIT, "amount", {"amount": {"value": 5}}),
    post("deposit-null", DEPOSIT, "amount", {"amount": None}),
    post("deposit-empty", DEPOSIT, "amount", {"amount": ""}),
    post("deposit-41-chars", DEPOSIT, "amount", {"amount": "0" * 40 + "5"}),
    post(
        "account-limit-9.2e14",
        "/api/v1/accounts",
        "limit",
        {"name": "big", "limit": "920000000000000"},
    ),
    patch("account-update-limit-exponent", "/api/v1/accounts/physics", "limit", {"limit": "1e3"}),
    put(
        "partition-limit-underscore",
        "/api/v1/accounts/physics/partition-limits/aws-cpu",
        "limit",
        {"limit": "1_000"},
    ),
    post(
        "one-off-allocation-arabic",
        "/api/v1/accounts/physics/allocations",
        "amount",
        {"amount": "\u0665"},
    ),
    post(
        "adjustment-1e999",
        "/api/v1/adjustments",
        "amount",
        raw='{"kind": "credit", "account": "physics", "amount": 1e999, "reason": "r"}',
    ),
    post(
        "schedule-amount-nan",
        "/api/v1/allocations",
        "amount",
        {
            "account": "physics",
            "amount": "NaN",
            "frequency": "monthly",
            "start_date": "2026-04-01",
            "instalments": 3,
        },
    ),
    post(
        "grant-award-too-large", "/api/v1/grants", "total_award", {**GRANT, "total_award": "9" * 16}
    ),
    post(
        "grant-rate-exponent", "/api/v1/grants", "indirect_rate", {**GRANT, "indirect_rate": "3e-1"}
    ),
    post(
        "grant-fund-infinity",
        "/api/v1/grants/NSF-1/fund",
        "amount",
        raw='{"account": "physics", "amount": Infinity}',
    ),
    post("reconcile-cost-exponent", RECONCILE, "actual_cost", {**DONE, "actual_cost": "9e14"}),
    post(
        "reconcile-cost-too-large",
        RECONCILE,
        "actual_cost",
        {**DONE, "actual_cost": "922337203685477.5807"},
    ),
    post(
        "cost-update-arabic",
        "/api/v1/integration/cost-update",
        "actual_cost",
        {"job_id": "77", "actual_cost": "\u0661", "reason": "r"},
    ),
    post(
        "cost-report-nan",
        "/api/v1/asbx/reconcile",
        "actual_cost",
        raw='{"job_id": "77", "actual_cost": NaN}',
    ),
    post(
        "feedback-ratio-1e999",
        "/api/v1/integration/performance-feedback",
        "cpu_efficiency",
        {"job_id": "77", "cpu_efficiency": "1e999"},
    ),
    post(
        "burst-cost-underscore",
        "/api/v1/asba/burst-decision",
        "estimated_aws_cost",
        {"account": "physics", "estimated_aws_cost": "5_0"},
    ),
]

BODIES = [
    # Bodies above daemon.max_request_bytes (1 MiB) are refused unread: 413.
    post(
        "ten-mib-not-json",
        DEPOSIT,
        None,
        raw="x" * (10 * MIB),
        headers={"content-type": "application/json"},
        status=413,
    ),
    post(
        "ten-mib-memo",
        DEPOSIT,
        None,
        raw='{"amount": "5", "memo": "' + "m" * (10 * MIB) + '"}',
        status=413,
    ),
    post("ten-mib-array", CHECK, None, raw="[" + "0," * (5 * MIB) + "0]", status=413),
    post(
        "ten-mib-metadata",
        CHECK,
        None,
        raw=json.dumps({**JOB, "job_metadata": {"x": "y" * (10 * MIB)}}),
        status=413,
    ),
    post(
        "half-mib-metadata",
        CHECK,
        "job_metadata",
        raw=json.dumps({**JOB, "job_metadata": {"x": "y" * (MIB // 2)}}),
    ),
    post("body-3000-deep", DEPOSIT, None, raw=nest(3000), status=400),
    post("body-list", DEPOSIT, None, [5]),
    post("body-string", DEPOSIT, None, "5"),
    post("body-number", CHECK, None, 5),
    post("body-null", CHECK, None, raw="null"),
    post("body-empty", CHECK, None, raw=""),
    post("body-truncated", CHECK, None, raw='{"account": "physics", ', status=400),
    post("body-not-utf8", DEPOSIT, None, raw=b'{"amount": "5", "memo": "\xff\xfe"}', status=400),
    post("check-account-number", CHECK, "account", {**JOB, "account": 5}),
    post("check-account-list", CHECK, "account", {**JOB, "account": ["physics"]}),
    post("check-metadata-list", CHECK, "job_metadata", {**JOB, "job_metadata": [1]}),
    post("check-details-numbers", CHECK, "job_details.a", {**JOB, "job_details": {"a": 1}}),
    post("check-nodes-true", CHECK, "nodes", {**JOB, "nodes": True}),
    post("reconcile-elapsed-true", RECONCILE, "elapsed_seconds", {**DONE, "elapsed_seconds": True}),
    post(
        "regenerate-periods-true",
        "/api/v1/grants/NSF-1/periods/regenerate",
        "period_months",
        {"period_months": True},
    ),
    post(
        "epilog-cpus-false",
        "/api/v1/asbx/epilog",
        "allocated_gpus",
        {"job_id": "77", "start_time": 0, "end_time": 60, "allocated_gpus": False},
    ),
    post("check-wall-time-object", CHECK, "wall_time", {**JOB, "wall_time": {"h": 1}}),
    post("reconcile-final-text", RECONCILE, "final", {**DONE, "final": "yes please"}),
    post(
        "account-partition-limits-list",
        "/api/v1/accounts",
        "partition_limits",
        {"name": "caps", "partition_limits": ["aws-cpu"]},
    ),
    post("account-unknown-field", "/api/v1/accounts", "limitt", {"name": "x", "limitt": "5"}),
    post("grant-co-pis-object", "/api/v1/grants", "co_pis", {**GRANT, "co_pis": {"a": 1}}),
    get(
        "query-twice",
        "/api/v1/transactions",
        "until",
        [("until", "2026-01-01"), ("until", "2026-02-01")],
    ),
    get("query-unknown", "/api/v1/transactions", "sincee", {"sincee": "2026-01-01"}),
]

CORPUS = {
    "sizes": SIZES,
    "dates": DATES,
    "metadata": METADATA,
    "text": TEXT,
    "money": MONEY,
    "bodies": BODIES,
}


# ---------------------------------------------------------------- the daemon and its state


@dataclass
class Target:
    client: httpx.Client
    db: Database
    hold_id: str


@pytest.fixture
def target(
    db: Database, settings: Settings, clock: Clock, ledger: Ledger, ctx: Context
) -> Iterator[Target]:
    """A live daemon on the test database: an account with money and an open hold, a grant;
    a partition priced per GB of memory; no rate limits (a 429 would hide what the handler
    does with the request)."""
    from daemon.app import create_app

    ledger.create_account("physics", ctx=ctx, limit="1000")
    ledger.create_account("chem", ctx=ctx, limit="50")
    hold = ledger.create_hold("physics", "10", ctx=ctx, partition="aws-cpu", job_id="77")
    hostile = settings.model_copy(
        update={
            "partitions": {
                **settings.partitions,
                "mem-aws": PartitionSettings(per_gb_hour=Decimal("0.01")),
            },
            "daemon": settings.daemon.model_copy(
                update={"write_rate_per_minute": 0, "plugin_rate_per_minute": 0}
            ),
        }
    )
    daemon = create_app(hostile, db=db, clock=clock)
    token = Tokens(db, clock=clock).create("hostile-admin", "admin", actor="tests").secret
    url, stop = serve_in_thread(daemon)
    client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
    grant = client.post("/api/v1/grants", json={**GRANT, "number": "NSF-1"})
    assert grant.status_code == 201, grant.text
    yield Target(client, db, hold.hold_id)
    client.close()
    stop()


def snapshot(db: Database) -> dict[str, Any]:
    """Rows per table, every account's money and texts, the newest journal row: what any
    accepted write would change."""
    with db.engine.connect() as conn:
        counts = {
            table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
            for table in SQLModel.metadata.sorted_tables
        }
        accounts = conn.execute(
            sql(
                "SELECT name, status, description, start_date, end_date, limit_amount, "
                "used_amount, held_amount, carry_amount FROM accounts ORDER BY name"
            )
        ).all()
        newest = conn.execute(sql("SELECT MAX(id) FROM journal")).scalar_one()
    return {"counts": counts, "accounts": [tuple(a) for a in accounts], "journal": newest}


def _filled(value: Any, hold_id: str) -> Any:
    if isinstance(value, str):
        return value.replace("{hold}", hold_id)
    if isinstance(value, dict):
        return {k: _filled(v, hold_id) for k, v in value.items()}
    if isinstance(value, list):
        return [_filled(v, hold_id) for v in value]
    return value


def send(target: Target, case: Case) -> httpx.Response:
    path = case.path.replace("{hold}", target.hold_id)
    headers = dict(case.headers or {})
    if case.raw is not None:
        headers.setdefault("content-type", "application/json")
        content = case.raw if isinstance(case.raw, bytes) else case.raw.encode("utf-8")
        return target.client.request(
            case.method, path, content=content, params=case.params, headers=headers
        )
    if case.body is None:
        return target.client.request(case.method, path, params=case.params, headers=headers)
    return target.client.request(
        case.method,
        path,
        json=_filled(case.body, target.hold_id),
        params=case.params,
        headers=headers,
    )


def problems_with(reply: httpx.Response, case: Case) -> list[str]:
    """What is wrong with the answer to one hostile request (empty: refused as it must be)."""
    found: list[str] = []
    if reply.status_code >= 500 or not 400 <= reply.status_code < 500:
        found.append(f"status {reply.status_code}, not a refusal")
    elif reply.status_code != case.status:
        found.append(f"status {reply.status_code}, expected {case.status}")
    try:
        envelope = reply.json()
        error = envelope["error"]
    except (ValueError, KeyError, TypeError):
        return [*found, f"no error envelope: {reply.text[:200]!r}"]
    if "Traceback" in reply.text or 'File "' in reply.text:
        found.append("the body shows a traceback")
    if case.field is not ANY and error.get("field") != case.field:
        found.append(f"field {error.get('field')!r}, expected {case.field!r}")
    if error.get("field") and error["field"] not in str(error.get("message")):
        found.append(f"the message does not name {error['field']!r}")
    return found


@pytest.mark.parametrize("group", list(CORPUS))
def test_hostile_requests_are_refused_and_change_nothing(target: Target, group: str) -> None:
    """Each request of the group: a 4xx naming the field, and the database as it was."""
    failures: list[str] = []
    before = snapshot(target.db)
    for case in CORPUS[group]:
        reply = send(target, case)
        problems = problems_with(reply, case)
        after = snapshot(target.db)
        if after != before:
            problems.append("the database changed")
            before = after
        if problems:
            failures.append(f"{case.id}: {'; '.join(problems)} -- {reply.text[:300]}")
    assert not failures, "\n".join(failures)


def test_the_corpus_ids_are_unique() -> None:
    ids = [case.id for cases in CORPUS.values() for case in cases]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})


def test_a_time_without_a_zone_is_utc_not_an_error(target: Target) -> None:
    """The seed tools send times without a zone: they are UTC (never a 500 from comparing
    a naive time with the clock's aware one)."""
    done = target.client.post(
        RECONCILE, json={**_filled(DONE, target.hold_id), "end_time": "2026-03-02T11:30:00"}
    )
    assert done.status_code == 200, done.text
    assert done.json()["state"] == "posted"
    since = target.client.get(
        "/api/v1/transactions", params={"since": "2026-03-02T00:00:00", "job_id": "77"}
    )
    assert since.status_code == 200, since.text
    assert {"hold", "charge"} <= {e["type"] for e in since.json()}
    # A time the caller wrote without a zone comes back in UTC, with its "Z".
    assert {e["created_at"] for e in since.json()} == {"2026-03-02T12:00:00Z"}


# ---------------------------------------------------------------- the command line

CLI_CASES: list[tuple[list[str], str]] = [
    (["account", "create", "p1", "--limit", "1e3"], "limit"),
    (["account", "create", "p2", "--limit", "\u0661\u0662"], "limit"),
    (["account", "create", "p3", "--limit", "1_000"], "limit"),
    (["account", "create", "p4", "--limit", "1000000000000"], "limit"),
    (["account", "create", "p5", "--limit", "NaN"], "limit"),
    (["account", "create", "p6", "--start", "0001-01-01"], "start"),
    (["account", "create", "p7", "--end", "9999-12-31"], "end"),
    (["account", "create", "p8", "--start", "2026-02-30"], "start"),
    (["account", "create", "p9", "--description", "a" + NUL + "b"], "description"),
    (["account", "create", "p10", "--description", "\x1b[2J"], "description"),
    (["account", "create", "\u212aelvin"], "account"),
    (["account", "update", "physics", "--description", "pay \u202e001$"], "description"),
    (["account", "update", "physics", "--limit", "\u0661\u0660", "--reason", "r"], "limit"),
    (["allocations", "once", "physics", "Infinity"], "amount"),
    (["allocations", "once", "physics", "5", "--memo", "a" + NUL], "memo"),
    (["partition-limit", "set", "physics", "aws-cpu", "1_000"], "limit"),
    (["partition-limit", "set", "physics", "aws\u212a", "100"], "partition"),
    (["transactions", "list", "--since", "0001-01-01"], "since"),
    (["transactions", "list", "--until", "9999-12-31"], "until"),
    (["transactions", "list", "--since", "2026-02-30"], "since"),
    (["usage", "summary", "--since", "0001-01-01"], "since"),
    (["burn-rate", "physics", "--today", "9999-12-31"], "today"),
    (["report", "statement", "physics", "--since", "0001-01-01", "--until", "2026-01-01"], "since"),
    (
        [
            "grant",
            "create",
            "G-9",
            "--award",
            "100",
            "--start",
            "2026-01-01",
            "--end",
            "2027-01-01",
            "--indirect-rate",
            "0.1",
            "--title",
            "a" + NUL,
        ],
        "title",
    ),
]


@pytest.fixture
def cli_database(
    cli_environment: Path, migrated_url: str, db: Database, ledger: Ledger, ctx: Context
) -> str:
    """The test database with one account, for ``asbb --database URL ...``."""
    ledger.create_account("physics", ctx=ctx, limit="1000")
    return migrated_url


def test_the_cli_refuses_hostile_values_naming_the_option(cli_database: str, db: Database) -> None:
    """Bad money, bad dates, NUL and control characters, look-alike names: one line
    ``error: <option>: ...`` on stderr, exit status 1, and nothing written."""
    failures: list[str] = []
    before = snapshot(db)
    for argv, option in CLI_CASES:
        result = CliRunner().invoke(cli_app, ["--database", cli_database, *argv])
        lines = result.stderr.strip().splitlines()
        problems = []
        if result.exit_code != 1:
            problems.append(f"exit status {result.exit_code}")
        if len(lines) != 1 or not lines[0].startswith(f"error: {option}: "):
            problems.append(f"stderr {result.stderr!r}")
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            problems.append(f"raised {result.exception!r}")
        after = snapshot(db)
        if after != before:
            problems.append("the database changed")
            before = after
        if problems:
            failures.append(f"{argv!r}: {'; '.join(problems)}")
    assert not failures, "\n".join(failures)


# ---------------------------------------------------------------- the shared validators


def test_the_largest_amount_is_stored_exactly_on_both_backends(
    ledger: Ledger, ctx: Context
) -> None:
    ledger.create_account("rich", ctx=ctx, limit=MAX_AMOUNT)
    ledger.deposit("rich", MAX_AMOUNT, ctx=ctx)
    account = ledger.get_account("rich")
    assert account.limit_amount == 2 * MAX_AMOUNT
    assert account.available == 2 * MAX_AMOUNT
    with pytest.raises(ValidationError, match="amount: "):
        ledger.deposit("rich", MAX_AMOUNT + Decimal("0.01"), ctx=ctx)
    assert ledger.get_account("rich").limit_amount == 2 * MAX_AMOUNT


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("a\x00b", "NUL"),
        ("\ud800", "lone surrogate, U+D800"),
        ("\x1b[31m", "control characters (holds U+001B"),
        ("\x07", "U+0007"),
        ("\x7f", "U+007F"),
        ("\x9b", "U+009B"),
    ],
)
def test_text_no_backend_stores_alike_is_named(text: str, problem: str) -> None:
    found = text_problem(text)
    assert found is not None
    assert problem in found
    with pytest.raises(ValidationError, match=f"memo: .*{re.escape(problem)}"):
        clean_text(text, field="memo")


def test_free_text_keeps_tabs_line_breaks_and_scripts_but_not_overrides() -> None:
    assert clean_text("line one\n\tline two\r\n", field="memo") == "line one\n\tline two"
    assert clean_text("مرحبا, Grüße, 東京", field="memo") == "مرحبا, Grüße, 東京"
    for override in ("\u202e", "\u202a", "\u2066", "\u2069"):
        assert text_problem(f"a{override}b") is None  # not in JSON values in general...
        with pytest.raises(ValidationError, match="bidirectional controls"):
            clean_text(f"a{override}b", field="memo")  # ...but never in text people read


def test_bad_text_is_found_anywhere_in_json() -> None:
    assert find_bad_text({"a": [1, {"b": "ok"}, {"c": "x\x00"}]}) == (
        "a[2].c",
        "must not contain NUL characters",
    )
    assert find_bad_text({"a": {"k\x1b": 1}}) == (
        "a",
        "a key must not contain control characters (holds U+001B)",
    )
    assert find_bad_text("\x00", path="q") == ("q", "must not contain NUL characters")
    assert find_bad_text({"a": ["fine", 1.5, None, True]}) is None
    deep: Any = "x\x00"
    for _ in range(5000):  # deeper than any recursion could go
        deep = [deep]
    assert find_bad_text(deep) is not None


@pytest.mark.parametrize(
    ("name", "shown"),
    [("\u212aelvin", "U+212A KELVIN SIGN"), ("\uff50hysics", "U+FF50"), ("ph\u0443sics", "U+0443")],
)
def test_look_alike_letters_are_refused_not_folded(name: str, shown: str) -> None:
    with pytest.raises(ValidationError, match=f"account: .*{re.escape(shown)}.* is not ASCII"):
        normalise_account_name(name)
    with pytest.raises(ValidationError, match=f"partition: .*{re.escape(shown)}.* is not ASCII"):
        validate_partition_name(name)
    with pytest.raises(ValidationError, match=f"user_id: .*{re.escape(shown)}.* is not ASCII"):
        clean_user_name(name, field="user_id")
    assert normalise_account_name(" Physics ") == "physics"


def test_user_names_are_logins_or_uids() -> None:
    assert clean_user_name("ann") == "ann"
    assert clean_user_name("ann.lee@ad.example.org") == "ann.lee@ad.example.org"
    assert clean_user_name("host$") == "host$"
    assert clean_user_name(1000) == "1000"
    assert clean_user_name("") is None
    assert clean_user_name(None) is None
    for bad in ("a nn", "-ann", "a" * 65, "ann;rm", True, 1.5, ["ann"]):
        with pytest.raises(ValidationError) as info:
            clean_user_name(bad)
        assert info.value.field == "user_name"


def test_days_are_from_1970_to_2200() -> None:
    assert parse_date("1970-01-01", field="since") == EARLIEST_DAY
    assert parse_date("2200-12-31", field="since") == LATEST_DAY
    for bad in ("1969-12-31", "2201-01-01", "0001-01-01", "9999-12-31"):
        with pytest.raises(ValidationError, match=r"since: .* is outside the days asbb takes"):
            parse_date(bad, field="since")
    with pytest.raises(ValidationError, match="last: 1926-03-03 is outside"):
        parse_since("100y", field="last", today=date(2026, 3, 2))
    with pytest.raises(ValidationError, match="until: "):
        parse_day("tomorrow", field="until", today=LATEST_DAY)
    with pytest.raises(ValidationError, match=r"end_time: .* has no time zone"):
        check_moment(datetime(2026, 3, 2, 12), field="end_time")
    # The local day is checked before converting, which would overflow at year 1.
    with pytest.raises(ValidationError, match="end_time: 0001-01-01 is outside"):
        check_moment(datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))), field="end_time")
    noon = datetime(2026, 3, 2, 12, tzinfo=timezone(timedelta(hours=2)))
    assert check_moment(noon, field="t") == datetime(2026, 3, 2, 10, tzinfo=UTC)


def test_job_metadata_is_bounded() -> None:
    fine = {"grant_number": "NSF-1", "tags": ["a", "b"], "n": 1.5, "ok": True, "none": None}
    assert check_metadata(fine) == fine
    assert parse_metadata('{"a": 1}') == {"a": 1}
    assert parse_metadata("  ") is None
    assert parse_metadata(None) is None
    deep: dict[str, Any] = {}
    for _ in range(MAX_DEPTH - 1):
        deep = {"a": deep}
    assert check_metadata(deep) == deep
    for bad, why in [
        ({"a": deep}, "nested more than 16 levels deep"),
        ({f"k{i}": 1 for i in range(MAX_KEYS + 1)}, "more than 256 keys"),
        ({"x": "y" * MAX_BYTES}, "bytes as JSON; at most 16384"),
        ({"x": float("nan")}, "job_metadata.x is not a finite number"),
        ({"x": "\x00"}, "NUL"),
        ({1: "x"}, "keys must be strings"),
        ({"x": object()}, "is not a JSON value"),
        ([1], "must be a JSON object"),
    ]:
        with pytest.raises(ValidationError, match=why) as info:
            check_metadata(bad)
        assert info.value.field == "job_metadata"
    for raw_json, why in [
        ("[" * 100_000, "at most 16384"),
        ("[" * 16_000, "nested more than 16 levels deep"),
        ('{"a": ' * 3000 + "1" + "}" * 3000, "at most 16384"),
        ('{"a": ' * 2000 + "1" + "}" * 2000, "nested more than 16 levels deep"),
        ("{oops", "must be a JSON object"),
        ('"just text"', "must be a JSON object"),
    ]:
        with pytest.raises(ValidationError, match=why):
            parse_metadata(raw_json)


def test_job_sizes_are_bounded() -> None:
    assert parse_memory_mb("64G") == Decimal(65536)
    assert parse_memory_mb("1P") == Decimal(1024**3)
    assert parse_memory_mb(MAX_MEMORY_MB) == MAX_MEMORY_MB
    for bad in (MAX_MEMORY_MB + 1, "1025P", "99999999999999999999P", "64\u212a", "\u0666G", "1e3"):
        with pytest.raises(ValidationError) as info:
            parse_memory_mb(bad)
        assert info.value.field == "memory"
    for count in ("\u00b2", "\u0662", "1" * 13, "", "-1"):
        with pytest.raises(ValidationError, match="nodes: expected a whole number"):
            JobShape.parse(partition=None, wall_time=60, nodes=count)
    assert JobShape.parse(partition=None, wall_time=60, nodes=" 4 ").nodes == 4


def test_a_price_past_the_maximum_is_refused(settings: Settings) -> None:
    job = JobShape.parse(
        partition="aws-cpu", wall_time="3650-00:00:00", cpus=1_000_000, tasks=1_000_000
    )
    with pytest.raises(ValidationError, match=r"price \(\$4,380,000,000,000,000.00\) is more"):
        price_job(settings, job)
    affordable = JobShape.parse(partition="aws-cpu", wall_time="1:00:00", cpus=1_000_000)
    price = price_job(settings, affordable)
    assert price is not None
    assert price.total == Decimal("50000.0000")
