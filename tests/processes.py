"""Racing processes for the concurrency tests, started cheaply.

A "spawn" child re-imports asbb, SQLAlchemy and the database drivers from scratch: about two
seconds of CPU each, a minute for 32 of them on a small machine. A forkserver imports them
once and forks each child from that clean, single-threaded process, so the children are
still separate processes with their own connections (nothing is inherited from the test's
process, whose pools and threads stay out of it).
"""

from __future__ import annotations

import multiprocessing
from multiprocessing.context import BaseContext

PRELOAD = [
    "asbb_core.ledger",
    "asbb_core.ledger.verify",
    "asbb_core.funding.allocations",
    "asbb_core.settings",
    "asbb_core.store.database",
    "psycopg",
    "pymysql",
    "pytest",
]


def racing_processes() -> BaseContext:
    """The multiprocessing context for racing workers: a forkserver with asbb preloaded."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context
