"""The reconcile spool: requests the epilog could not deliver, replayed later exactly once.

``plugin/epilog_reconcile.py`` writes each undelivered ``POST /api/v1/budget/reconcile`` body
atomically (temporary file + rename) as ``<spool>/<epoch-ns>-<job_id>.json``. ``replay_spool``
sends them in file-name order (so in the order the jobs ended):

* delivered: the file is removed;
* refused for good (unknown hold, invalid request) or malformed: moved to ``<spool>/rejected/``
  with a ``<name>.reason`` file saying why -- nothing is ever deleted unread;
* the receiver is unavailable (no connection, 5xx, ...): replay stops there and keeps the
  file and all later ones for the next round;
* not ready (its JSON stops short: a writer still at it) or unreadable now (permissions,
  I/O): kept for the next round, and the replay goes on with the others.

Files are read as hostile (``asbb_core.integrations.files``): a link, a stranger's file, one
others may change (world-writable), one over ``daemon.spool_max_file_bytes`` or nested too
deep is moved to ``rejected/`` unparsed, so one bad file never stops the others; one this
process may not read waits, its reason saying whose it is, its mode and what to change.

Sending twice is harmless: the charge's idempotency key is ``reconcile:<hold>:<job_id>``, so a
request replayed after a crash between "sent" and "removed" charges nothing more.
Only one replay per spool folder runs at a time (an ``flock`` on ``<spool>/.replay.lock``).

Two senders: ``http_sender`` (to a daemon, as ``asbb reconcile --replay --url`` does) and
``ledger_sender`` (straight into the ledger, in the daemon process or the CLI);
``SpoolReplayer`` runs a replay every few seconds in a thread, like the daemon's HoldSweeper.
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.exc import SQLAlchemyError

from asbb_core.integrations.files import (
    REJECTED,
    SPOOL_LIMITS,
    FileLimits,
    NotReadyError,
    entries,
    move_aside,
    read_json,
)
from asbb_core.ledger import Ledger
from asbb_core.ledger.reconcile import JobEnd, Reconciled, elapsed_of, metadata_of, reconcile_job
from asbb_core.store.periodic import PeriodicTask
from asbb_core.values.context import Source
from asbb_core.values.errors import AsbbError, DatabaseError, ValidationError
from asbb_core.values.money import decimal_of_json

log = logging.getLogger("asbb.spool")
LOCK_NAME = ".replay.lock"
RETRY_STATUSES = frozenset({401, 403, 408, 425, 429})


class Delivery(StrEnum):
    DELIVERED = "delivered"
    REJECTED = "rejected"
    """Refused for good: the same request will never succeed."""
    RETRY = "retry"
    """Not delivered now (receiver down or busy): try again later."""


@dataclass(frozen=True)
class Sent:
    delivery: Delivery
    detail: str = ""


Send = Callable[[dict[str, Any]], Sent]


@dataclass
class ReplayReport:
    delivered: list[str] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)
    remaining: int = 0
    stopped: str | None = None
    """Why replay stopped early (receiver unavailable, another replay running); else None."""


def _spooled(name: str) -> bool:
    return name.endswith(".json") and not name.startswith(".")


def spooled_files(folder: Path) -> list[Path]:
    """The waiting requests, oldest first (by name: ``<epoch-ns>-<job>.json``); links and
    other non-regular entries too, so that replay moves them aside."""
    return sorted(path for path, _ in entries(folder, _spooled))


def load_json(path: Path, limits: FileLimits = SPOOL_LIMITS) -> object:
    """A spooled file's JSON, read as hostile (``files.read_json``): ``ValidationError`` says
    what is wrong with it, ``NotReadyError`` that it is still being written, ``OSError`` that it
    cannot be read at all."""
    return read_json(path, limits)


def read_request(path: Path, limits: FileLimits = SPOOL_LIMITS) -> dict[str, Any]:
    """One spooled request; ``ValidationError`` says what is wrong with a malformed one."""
    data = load_json(path, limits)
    if not isinstance(data, dict):
        raise ValidationError("not a JSON object")
    # A job accepted unchecked (fail-open) has no hold: its account says whom to charge.
    keys = (
        ("job_id", 64),
        ("transaction_id", 40) if data.get("account") is None else ("account", 64),
    )
    for key, limit in keys:
        value = data.get(key)
        if not isinstance(value, str) or not 1 <= len(value) <= limit:
            raise ValidationError(f"{key}: must be a string of 1 to {limit} characters", field=key)
    return data


class LockError(OSError):
    """The folder's lock file cannot be opened (a link or a FIFO planted at its name...)."""


@contextmanager
def folder_lock(folder: Path) -> Iterator[bool]:
    """One round per folder at a time: True when this one may run (``LockError``: the lock
    file cannot be opened)."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        # Never through a link planted at the lock's name (it would create its target).
        fd = os.open(
            folder / LOCK_NAME,
            os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
            0o600,
        )
    except OSError as exc:
        raise LockError(exc.errno, f"cannot open {folder / LOCK_NAME}: {exc.strerror}") from None
    with os.fdopen(fd, "a") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def replay_spool(
    folder: Path | str,
    send: Send,
    *,
    limit: int | None = None,
    on_item: Callable[[Path, Sent], None] | None = None,
    limits: FileLimits = SPOOL_LIMITS,
) -> ReplayReport:
    """Send the spooled requests in order, each once (see the module doc). ``limits``: how
    the files are read (``files.spool_limits(settings.daemon)``)."""
    spool = Path(folder)
    report = ReplayReport()
    try:
        return _replay(spool, send, report, limit, on_item, limits)
    except LockError as exc:
        report.remaining = len(spooled_files(spool))
        report.stopped = str(exc)
        return report


def _replay(
    spool: Path,
    send: Send,
    report: ReplayReport,
    limit: int | None,
    on_item: Callable[[Path, Sent], None] | None,
    limits: FileLimits,
) -> ReplayReport:
    with folder_lock(spool) as locked:
        files = spooled_files(spool)
        if not locked:
            report.remaining = len(files)
            report.stopped = "another replay of this spool is running"
            return report
        kept = 0  # left for the next round while the replay went on
        for index, path in enumerate(files):
            if limit is not None and index >= limit:
                report.remaining = kept + len(files) - index
                break
            try:
                body = read_request(path, limits)
            except FileNotFoundError:
                continue
            except NotReadyError as exc:
                kept += 1
                log.info("spooled reconcile %s not ready: %s", path.name, exc.reason)
                continue
            except OSError as exc:  # unreadable now (permissions, I/O): not the file's fault
                kept += 1
                log.warning("cannot read spooled reconcile %s: %s", path.name, exc)
                # Said in ``stopped`` (the CLI fails with it) though the others go on.
                report.stopped = report.stopped or f"cannot read {path.name}: {exc}"
                continue
            except ValidationError as exc:
                sent = Sent(Delivery.REJECTED, f"malformed: {exc.message}")
            else:
                try:
                    sent = send(body)
                except Exception as exc:  # a sender bug must not lose the file
                    log.exception("sending %s failed", path.name)
                    sent = Sent(Delivery.RETRY, f"{type(exc).__name__}: {exc}")
            if on_item is not None:
                on_item(path, sent)
            if sent.delivery == Delivery.DELIVERED:
                path.unlink(missing_ok=True)
                report.delivered.append(path.name)
            elif sent.delivery == Delivery.REJECTED:
                try:
                    move_aside(path, sent.detail)
                except OSError as exc:  # rejected/ unusable: keep the file, say why
                    kept += 1
                    report.stopped = report.stopped or f"cannot move {path.name} aside: {exc}"
                    log.error("cannot move %s to rejected/: %s", path.name, exc)
                    continue
                report.rejected.append((path.name, sent.detail))
                log.warning("spooled reconcile %s rejected: %s", path.name, sent.detail)
            else:
                report.remaining = kept + len(files) - index
                report.stopped = sent.detail or "receiver unavailable"
                break
        else:
            report.remaining = kept
    return report


# ---------------------------------------------------------------- senders


def http_sender(
    url: str, token: str | None, *, timeout: float = 5.0, client: httpx.Client | None = None
) -> Send:
    """Send to a daemon's ``POST /api/v1/budget/reconcile``."""
    http = client or httpx.Client(timeout=timeout)
    endpoint = url.rstrip("/") + "/api/v1/budget/reconcile"
    headers = {"Authorization": f"Bearer {token}"} if token else {}

    def send(body: dict[str, Any]) -> Sent:
        try:
            reply = http.post(endpoint, json=body, headers=headers)
        except httpx.HTTPError as exc:
            return Sent(Delivery.RETRY, f"{endpoint}: {type(exc).__name__}: {exc}")
        if reply.is_success:
            return Sent(Delivery.DELIVERED, reply.text[:500])
        text = reply.text.strip()[:1000]
        if reply.status_code >= 500 or reply.status_code in RETRY_STATUSES:
            return Sent(Delivery.RETRY, f"HTTP {reply.status_code}: {text}")
        return Sent(Delivery.REJECTED, f"HTTP {reply.status_code}: {text}")

    return send


def _count(body: dict[str, Any], key: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 1_000_000:
        raise ValidationError(f"{key}: must be a whole number from 0 to 1000000", field=key)
    return value


def _money(value: object) -> Decimal:
    return decimal_of_json(value, field="actual_cost")


def reconcile(
    ledger: Ledger, body: dict[str, Any], *, actor: str, source: Source = Source.EPILOG
) -> Reconciled:
    """A spooled reconcile request applied straight to the ledger, by the same rule as the
    daemon's route (asbb_core.ledger.reconcile), so the two never charge a job twice."""
    metadata = metadata_of(body.get("job_metadata"))
    final = body.get("final")
    hold = body.get("transaction_id")
    return reconcile_job(
        ledger,
        JobEnd(
            job_id=str(body["job_id"]),
            hold_id=str(hold) if hold else None,
            actual_cost=_money(body["actual_cost"])
            if body.get("actual_cost") is not None
            else None,
            elapsed=elapsed_of(body.get("elapsed"), body.get("elapsed_seconds")),
            nodes=_count(body, "nodes"),
            cpus=_count(body, "cpus"),
            gpus=_count(body, "gpus"),
            memory=body.get("memory"),
            state=body.get("state"),
            final=final if isinstance(final, bool) else None,
            metadata=metadata or {},
            account=body.get("account"),
            partition=body.get("partition"),
            user=body.get("user_id"),
        ),
        actor=actor,
        source=source,
    )


def ledger_sender(ledger: Ledger, *, actor: str = "asbb-spool") -> Send:
    """Apply each request to the ledger directly (the daemon's replayer, the CLI)."""

    def send(body: dict[str, Any]) -> Sent:
        try:
            result = reconcile(ledger, body, actor=actor)
        except DatabaseError as exc:
            return Sent(Delivery.RETRY, exc.message)
        except SQLAlchemyError as exc:
            return Sent(Delivery.RETRY, f"database: {type(exc).__name__}")
        except AsbbError as exc:
            return Sent(Delivery.REJECTED, f"{exc.code}: {exc.message}")
        what = "replayed" if result.replayed else f"charged {result.charged}"
        return Sent(Delivery.DELIVERED, f"{body['job_id']} on {result.hold_id}: {what}")

    return send


class SpoolReplayer(PeriodicTask):
    """Replays the spool every ``interval`` seconds, in the background.

    Safe with several daemons and the CLI: one replay per folder at a time (flock), and each
    charge is exactly-once by its idempotency key.
    """

    def __init__(
        self, folder: Path | str, send: Send, interval: float, limits: FileLimits = SPOOL_LIMITS
    ) -> None:
        super().__init__("spool-replayer", interval, self.run_once, join_timeout=10)
        self.folder = Path(folder)
        self.send = send
        self.limits = limits

    def run_once(self) -> ReplayReport:
        report = replay_spool(self.folder, self.send, limits=self.limits)
        if report.delivered or report.rejected:
            log.info(
                "spool replay: %d delivered, %d rejected, %d waiting",
                len(report.delivered),
                len(report.rejected),
                report.remaining,
            )
        return report


__all__ = [
    "REJECTED",
    "Delivery",
    "LockError",
    "ReplayReport",
    "Sent",
    "SpoolReplayer",
    "http_sender",
    "ledger_sender",
    "load_json",
    "move_aside",
    "read_request",
    "reconcile",
    "replay_spool",
    "spooled_files",
]
