"""Background work on a timer, for the daemon: expiring holds, replaying the spool, recovery."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger("asbb.periodic")


class PeriodicTask:
    """Runs ``work`` every ``interval`` seconds in a daemon thread (0: never).

    The next round is scheduled only after the last one finished, so rounds never pile up;
    a failing round is logged and the next one tries again -- the thread never dies of it.
    """

    def __init__(
        self,
        name: str,
        interval: float,
        work: Callable[[], object],
        *,
        join_timeout: float = 30.0,
    ) -> None:
        self.name = name
        self.interval = interval
        self._work = work
        self._join_timeout = join_timeout
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> None:
        if self.interval > 0:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self._join_timeout)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self._work()
            except Exception:  # the next round tries again
                log.exception("%s failed", self.name)
