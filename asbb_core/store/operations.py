"""What a write is, so that trying it again finds the first try: operations and their records.

Every write runs as an ``Operation``: a name, the canonical request (``payload``) and an
idempotency key (see ``asbb_core.values.context``). In the write's own transaction the unit of
work looks the key up; if a record is there the operation already happened and its recorded
result is returned (``replayed``) -- unless the record is of another request, which is an
``IdempotencyConflictError``. Otherwise the use case runs and its result is recorded with the
key, in the same transaction as everything it wrote: the record exists if and only if the
write committed.

Results are stored as JSON by one codec (``encode``/``decode``): plain values, Decimals,
dates and times, dataclasses (rebuilt from their fields, ``replayed`` set) and table rows
(stored by primary key and read again).
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy import delete
from sqlalchemy import inspect as sa_inspect
from sqlmodel import Session, SQLModel, col

from asbb_core.store.models import IdempotencyRecord
from asbb_core.values.context import Clock, IdempotencyKey
from asbb_core.values.errors import IdempotencyConflictError

LEGACY_FINGERPRINT = "legacy"


@dataclass(frozen=True)
class Operation:
    """One write as the unit of work sees it."""

    name: str
    """What it does ("deposit", "hold", "approve", ...); a key reused for another is a conflict."""
    payload: Mapping[str, Any] = field(default_factory=dict)
    """The request, canonical (names normalised, amounts parsed): its fingerprint."""
    key: IdempotencyKey | None = None
    """None: the unit of work makes one (``op:``) before the first try."""
    actor: str | None = None
    """Who asks: part of a client key's fingerprint, so one caller's key never answers
    another caller's request."""

    def fingerprint(self) -> str:
        scoped = self.key is not None and self.key.from_client
        document = {
            "operation": self.name,
            "payload": encode(dict(self.payload)),
            **({"actor": self.actor} if scoped else {}),
        }
        text = json.dumps(document, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


def recorded(session: Session, operation: Operation, key: IdempotencyKey) -> Any | None:
    """The first result of ``key``'s operation, or None if it never committed.

    Raises ``IdempotencyConflictError`` when the key was used for another request."""
    record = session.get(IdempotencyRecord, key.value)
    if record is None:
        return None
    # Records from before namespaced keys (migration 0008) carry no comparable fingerprint.
    same = record.fingerprint in (operation.fingerprint(), LEGACY_FINGERPRINT)
    if record.operation != operation.name or not same:
        shown = key.value.removeprefix("client:")
        raise IdempotencyConflictError(
            f"idempotency_key {shown!r} was already used for a different "
            f"{record.operation} request",
            field="idempotency_key",
            details={"operation": record.operation},
        )
    return _replayed(decode(session, record.result))


def record(
    session: Session, operation: Operation, key: IdempotencyKey, result: Any, clock: Clock
) -> None:
    """Keep ``result`` under ``key``, in the transaction that produced it."""
    session.add(
        IdempotencyRecord(
            key=key.value,
            operation=operation.name,
            fingerprint=operation.fingerprint(),
            result={"value": encode(result)},
            created_at=clock(),
        )
    )
    session.flush()


GENERATED_KEPT = timedelta(days=1)
"""How long the record of a key the unit of work made up (``op:``) is kept: it answers a
retry of the same call, which comes within seconds; a day is ample."""


def purge_generated(session: Session, now: datetime, kept: timedelta = GENERATED_KEPT) -> int:
    """Delete the records of ``op:`` keys older than ``kept``; returns how many went.
    Callers' (``client:``) and derived (``asbb:``) keys are kept: they may be retried much
    later (a spool replayed after an outage, an export read again)."""
    result = session.execute(
        delete(IdempotencyRecord).where(
            col(IdempotencyRecord.key).startswith(IdempotencyKey.GENERATED_PREFIX),
            col(IdempotencyRecord.created_at) < now - kept,
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


# ---------------------------------------------------------------- the codec


def encode(value: Any) -> Any:
    """A JSON document that ``decode`` turns back into ``value``."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, Enum):
        return encode(value.value)
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, SQLModel) and getattr(type(value), "__table__", None) is not None:
        identity = sa_inspect(value).identity
        if identity is None:
            raise TypeError(f"a {type(value).__name__} row without a primary key")
        return {"$row": _qualified(type(value)), "key": [encode(k) for k in identity]}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            "$dataclass": _qualified(type(value)),
            "fields": {
                f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value) if f.init
            },
        }
    if isinstance(value, list | tuple):
        return [encode(v) for v in value]
    if isinstance(value, Mapping):
        if not all(isinstance(k, str) for k in value):
            raise TypeError("only mappings with string keys can be recorded")
        return {"$map": {k: encode(v) for k, v in value.items()}}
    raise TypeError(f"a {type(value).__name__} cannot be recorded as an operation's result")


def decode(session: Session, document: Any) -> Any:
    if isinstance(document, dict) and "value" in document and len(document) == 1:
        document = document["value"]
    return _decode(session, document)


def _decode(session: Session, data: Any) -> Any:
    if isinstance(data, list):
        return [_decode(session, v) for v in data]
    if not isinstance(data, dict):
        return data
    if "$decimal" in data:
        return Decimal(data["$decimal"])
    if "$datetime" in data:
        return datetime.fromisoformat(data["$datetime"])
    if "$date" in data:
        return date.fromisoformat(data["$date"])
    if "$map" in data:
        return {k: _decode(session, v) for k, v in data["$map"].items()}
    if "$row" in data:
        table = _resolve(data["$row"])
        key = tuple(_decode(session, k) for k in data["key"])
        return session.get(table, key[0] if len(key) == 1 else key)
    if "$dataclass" in data:
        cls = _resolve(data["$dataclass"])
        kwargs = {k: _decode(session, v) for k, v in data["fields"].items()}
        return cls(**kwargs)
    raise ValueError(f"unknown recorded value: {data!r}")


def _replayed(value: Any) -> Any:
    if (
        dataclasses.is_dataclass(value)
        and not isinstance(value, type)
        and any(f.name == "replayed" for f in dataclasses.fields(value))
    ):
        return dataclasses.replace(value, replayed=True)
    return value


def _qualified(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _resolve(name: str) -> Any:
    module, _, qualname = name.partition(":")
    if not module.startswith("asbb_core."):
        raise ValueError(f"recorded results come from asbb_core, not {module}")
    target: Any = importlib.import_module(module)
    for part in qualname.split("."):
        target = getattr(target, part)
    return target
