"""Benchmark: the console on 10k accounts and 1M journal rows (first screen <= 1 s, account
drill-in and chart <= 200 ms each; the UI thread never blocks).

Seeds the database of ``bench_burnrate`` (10,000 accounts, 1,000,000 charge rows over a year, a
tenth of them on the "hot" account acct00000), then drives the real console headless with
Textual's ``run_test`` (real app, real database, real thread workers), the clock frozen at noon
of ``TODAY``. Each operation is timed from its start until the first frame composited with its
data on screen:

- first screen: constructing ``AsbbConsole`` and entering ``run_test`` until the dashboard's
  figures (or the accounts view's first page) are on screen;
- drill-in: pushing ``AccountScreen`` (what Enter on the accounts table does) until its
  detail, schedules, holds, journal and burn rate are shown;
- chart: the ``w`` key (next window: a burn-rate fetch and a redraw) until the chart shows the
  new window; and the redraw alone (``BurnRateChart.redraw``: ``burn_rate_plot`` on the UI
  thread).

While each operation runs, a task on the app's loop wakes every 5 ms and records how late it
woke: the worst lateness is the longest the UI thread was busy (a query on the UI thread would
show up as a stall as long as the query). Baselines in the same run: an empty Textual app
(Header and Footer) to its first frame, and one SUM over the hot account's year. The core calls
behind each screen are also timed alone, to show where the time goes.

    .venv/bin/python -m tests.bench.bench_console [--backend postgresql|sqlite|both]
        [--rows 1000000] [--accounts 10000] [--repeat 5] [--markdown]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any

from rich.console import RenderableType
from sqlalchemy import func, select
from sqlmodel import Session
from textual.app import App, ComposeResult
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header

from asbb_core.analytics.burnrate import account_burn_rate
from asbb_core.analytics.overview import overview
from asbb_core.demo import DemoClock
from asbb_core.ledger import Ledger
from asbb_core.ledger.spend import day_start
from asbb_core.settings import Settings
from asbb_core.store import queries
from asbb_core.store.database import Database
from asbb_core.store.migrate import upgrade
from asbb_core.store.models import JournalEntry
from asbb_tui.console import AsbbConsole
from asbb_tui.console.account import CHART_WINDOWS, HOLDS_PAGE, JOURNAL_PAGE, AccountScreen
from asbb_tui.console.accounts import AccountsScreen, load_accounts_page
from asbb_tui.console.chart import BurnRateChart
from asbb_tui.console.dashboard import DashboardScreen
from asbb_tui.console.services import ConsoleServices
from tests.bench.bench_burnrate import TODAY, _seed
from tests.pgserver import find_server

SIZE = (100, 30)
TICK = 0.005
"""How often the stall monitor wakes (seconds)."""
HOT = "acct00000"
NOW = datetime.combine(TODAY, clock_time(12), tzinfo=UTC)
FIRST_SCREEN_MS = 1000.0
DRILL_IN_MS = 200.0
CHART_MS = 200.0
DRILL_IN_KEYS = frozenset({"detail", "schedules", "holds", "journal", "burn"})
"""What ``AccountScreen.refresh_data`` fetches: the drill-in is done when all were shown."""


@dataclass
class Row:
    label: str
    samples: list[float]
    """Milliseconds, one per repeat."""
    stall: float | None = None
    """The worst UI-thread stall seen during the repeats (ms); ``None``: not on the UI loop."""
    gc: float | None = None
    """The longest garbage collection during the repeats (ms); it stops every thread."""
    target: float | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def worst(self) -> float:
        return max(self.samples)

    @property
    def verdict(self) -> str:
        if self.target is None:
            return ""
        if self.worst <= self.target:
            return "met"
        if self.median <= self.target:
            return "met (median); max over"
        return "**missed**"


class StallMonitor:
    """A task on the app's loop that wakes every ``TICK``; how late it wakes is how long the
    UI thread was busy with something else. It also notes the longest garbage collection
    (one of the things that can keep the UI thread busy)."""

    def __init__(self) -> None:
        self.worst = 0.0
        self.worst_gc = 0.0
        self._gc_began = 0.0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._watch())
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_began = time.perf_counter()
        else:
            self.worst_gc = max(self.worst_gc, time.perf_counter() - self._gc_began)

    async def _watch(self) -> None:
        while True:
            due = time.perf_counter() + TICK
            await asyncio.sleep(TICK)
            self.worst = max(self.worst, time.perf_counter() - due)

    def reset(self) -> None:
        self.worst = 0.0
        self.worst_gc = 0.0

    async def read(self) -> tuple[float, float]:
        """The worst stall and the longest collection since ``reset``, in ms (after letting a
        last late wake-up land)."""
        await asyncio.sleep(2 * TICK)
        return self.worst * 1000, self.worst_gc * 1000

    async def stop(self) -> None:
        gc.callbacks.remove(self._on_gc)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class FrameProbe:
    """Finds when a condition first holds on screen.

    ``App._display`` is called once per composited frame of the current screen (headless too,
    where only the terminal write is skipped), so the data is on screen at the first frame
    composited after the widgets hold it. A change that only fills a hidden tab repaints
    nothing, so no frame follows it: ``poke()`` after such a change notes when the condition
    became true, and that moment counts unless a frame lands within ``GRACE``."""

    GRACE = 0.1

    def __init__(self, app: App[Any]) -> None:
        self.app = app
        self._inner = app._display
        app._display = self._display  # type: ignore[method-assign]
        self._ready: Callable[[], bool] | None = None
        self._framed = asyncio.Event()
        self._poked = asyncio.Event()
        self.at = 0.0
        self.ready_at = 0.0
        self.error: BaseException | None = None

    def _display(self, screen: Screen[Any], renderable: RenderableType | None) -> None:
        self._inner(screen, renderable)
        if (
            self._ready is not None
            and renderable is not None
            and not self.app._batch_count
            and screen is self.app.screen
            and self._ready()
        ):
            self.at = time.perf_counter()
            self._ready = None
            self._framed.set()

    def arm(self, ready: Callable[[], bool]) -> None:
        """Watch for ``ready``; call before starting the operation, then ``await wait()``."""
        self._framed.clear()
        self._poked.clear()
        self.error = None
        self._ready = ready

    def poke(self) -> None:
        """The watched state changed (maybe off screen): note when ``ready`` first holds."""
        if self._ready is not None and not self._poked.is_set() and self._ready():
            self.ready_at = time.perf_counter()
            self._poked.set()

    def fail(self, error: BaseException) -> None:
        self.error = error
        self._poked.set()

    async def wait(self, what: str, timeout: float = 60.0) -> float:
        """The ``perf_counter`` time at which ``ready()`` held on screen."""
        framed = asyncio.ensure_future(self._framed.wait())
        poked = asyncio.ensure_future(self._poked.wait())
        done, _ = await asyncio.wait(
            {framed, poked}, timeout=timeout, return_when="FIRST_COMPLETED"
        )
        poked.cancel()
        if self.error is not None:
            framed.cancel()
            raise RuntimeError(f"{what}: a fetch failed") from self.error
        if not done:
            framed.cancel()
            raise RuntimeError(f"{what}: not on screen after {timeout:.0f} s")
        if framed not in done:
            try:
                await asyncio.wait_for(framed, self.GRACE)
            except TimeoutError:  # nothing visible changed: the data was in place here
                self._ready = None
                return self.ready_at
        return self.at


class EmptyApp(App[None]):
    """The Textual floor: nothing but a header and a footer."""

    def compose(self) -> ComposeResult:
        yield Header()
        yield Footer()


def _progress(backend: str, row: Row) -> None:
    stall = f", max UI stall {row.stall:.1f} ms" if row.stall is not None else ""
    if row.gc is not None:
        stall += f", longest GC {row.gc:.1f} ms"
    each = " ".join(f"{ms:.0f}" for ms in row.samples)
    print(
        f"[{backend}] {row.label}: median {row.median:.1f} ms, max {row.worst:.1f} ms{stall}"
        f" (each: {each})",
        file=sys.stderr,
    )


def _ui_row(
    label: str, samples: list[float], stalls: list[tuple[float, float]], target: float | None = None
) -> Row:
    return Row(
        label,
        samples,
        stall=max(ui for ui, _ in stalls),
        gc=max(collected for _, collected in stalls),
        target=target,
    )


def _ledger(url: str) -> Ledger:
    """A new database handle, as a console start makes one (its first query connects)."""
    return Ledger(Database(url), Settings(database={"url": url}), clock=DemoClock(NOW))


def _sync_timed(label: str, fn: Callable[[], object], repeat: int) -> Row:
    fn()  # one warm-up: the floors and the worker calls are timed warm
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - began) * 1000)
    return Row(label, samples)


async def _textual_floor(repeat: int, monitor: StallMonitor) -> Row:
    samples, stalls = [], []
    for _ in range(repeat):
        monitor.reset()
        began = time.perf_counter()
        app = EmptyApp()
        probe = FrameProbe(app)
        probe.arm(lambda: True)
        async with app.run_test(size=SIZE):
            samples.append((await probe.wait("empty app") - began) * 1000)
            stalls.append(await monitor.read())
    return _ui_row("floor: empty Textual app (Header, Footer), first frame", samples, stalls)


async def _first_screen(url: str, view: str, repeat: int, monitor: StallMonitor) -> Row:
    def shown(app: AsbbConsole) -> bool:
        screen = app.screen
        if view == "dashboard":
            return isinstance(screen, DashboardScreen) and screen.latest is not None
        if not isinstance(screen, AccountsScreen):
            return False
        table = screen.query_one("#accounts", DataTable)
        return table.row_count > 0 and not table.loading

    samples, stalls = [], []
    for _ in range(repeat):
        ledger = _ledger(url)
        monitor.reset()
        began = time.perf_counter()
        app = AsbbConsole(ledger, start_view=view, actor="bench", database_label="bench")
        probe = FrameProbe(app)
        probe.arm(lambda app=app: shown(app))
        async with app.run_test(size=SIZE) as pilot:
            samples.append((await probe.wait(f"first screen {view}") - began) * 1000)
            stalls.append(await monitor.read())
            await pilot.app.workers.wait_for_complete()
        ledger.db.dispose()
    label = "dashboard" if view == "dashboard" else "accounts view (first page of 100 rows)"
    return _ui_row(f"first screen: {label}", samples, stalls, FIRST_SCREEN_MS)


def _shows_window(chart: BurnRateChart, window: str) -> Callable[[], bool]:
    return lambda: chart.rate is not None and chart.rate.window == window


async def _drill_in_and_chart(
    url: str, accounts: list[tuple[str, str]], repeat: int, monitor: StallMonitor
) -> list[Row]:
    ledger = _ledger(url)
    app = AsbbConsole(ledger, start_view="accounts", actor="bench", database_label="bench")
    probe = FrameProbe(app)
    rows: list[Row] = []
    async with app.run_test(size=SIZE) as pilot:

        async def settle() -> None:
            for _ in range(2):
                await pilot.app.workers.wait_for_complete()
                await pilot.pause()

        await settle()
        for name, kind in accounts:
            # Drill-in: what Enter on the accounts table does, until every fetch is shown.
            samples, stalls = [], []
            for _ in range(repeat):
                screen = AccountScreen(name)
                seen: set[str] = set()
                show = screen.show

                def record(key: str, value: Any, seen: set[str] = seen, show: Any = show) -> None:
                    show(key, value)
                    seen.add(key)
                    probe.poke()

                def failed(key: str, error: BaseException, failed: Any = screen.failed) -> None:
                    failed(key, error)
                    probe.fail(error)

                screen.show = record  # type: ignore[method-assign]
                screen.failed = failed  # type: ignore[method-assign]
                probe.arm(lambda seen=seen: seen >= DRILL_IN_KEYS)
                monitor.reset()
                began = time.perf_counter()
                app.push_screen(screen)
                samples.append((await probe.wait(f"drill-in {name}") - began) * 1000)
                stalls.append(await monitor.read())
                await settle()
                app.pop_screen()
                await settle()
            rows.append(_ui_row(f"drill-in: {kind} ({name})", samples, stalls, DRILL_IN_MS))
            _progress(ledger.db.backend, rows[-1])

            # Chart: open the tab once, then step the window with `w` round the whole cycle.
            screen = AccountScreen(name)
            app.push_screen(screen)
            await settle()
            await pilot.press("c")
            await settle()
            chart = screen.query_one("#burn-chart", BurnRateChart)
            windows: dict[str, tuple[list[float], list[tuple[float, float]]]] = {}
            for _ in range(repeat):
                for _step in CHART_WINDOWS:
                    now_shown = CHART_WINDOWS.index(screen.chart_window)
                    wanted = CHART_WINDOWS[(now_shown + 1) % len(CHART_WINDOWS)]
                    probe.arm(_shows_window(chart, wanted))
                    monitor.reset()
                    began = time.perf_counter()
                    await pilot.press("w")
                    took = (await probe.wait(f"chart {wanted} of {name}") - began) * 1000
                    times, stalls = windows.setdefault(wanted, ([], []))
                    times.append(took)
                    stalls.append(await monitor.read())
                    await settle()
            for window in ("30d", "1y"):
                times, stalls = windows[window]
                rows.append(_ui_row(f"chart: `w` to {window}, {kind}", times, stalls, CHART_MS))
                _progress(ledger.db.backend, rows[-1])
            # The redraw alone, on the widest window (365 points), on this loop (the UI thread).
            while chart.rate is None or chart.rate.window != "1y":
                await pilot.press("w")
                await settle()
            chart.redraw()
            redraws = []
            for _ in range(repeat):
                began = time.perf_counter()
                chart.redraw()
                redraws.append((time.perf_counter() - began) * 1000)
            rows.append(Row(f"chart redraw alone (1y, UI thread), {kind}", redraws))
            _progress(ledger.db.backend, rows[-1])
            app.pop_screen()
            await settle()
    ledger.db.dispose()
    return rows


def _worker_calls(url: str, accounts: list[tuple[str, str]], repeat: int) -> list[Row]:
    """The core calls behind each screen, timed alone (what the workers wait for)."""
    ledger = _ledger(url)
    db, settings = ledger.db, ledger.settings
    services = ConsoleServices(ledger, actor="bench")
    rows = [
        _sync_timed(
            "query alone: overview() (the dashboard)",
            lambda: overview(db, settings, now=NOW),
            repeat,
        ),
        _sync_timed(
            "query alone: accounts page (100 rows + their 30d health)",
            lambda: load_accounts_page(
                services, prefix="", sort="name", descending=False, offset=0
            ),
            repeat,
        ),
    ]
    for name, kind in accounts:

        def drill_in(name: str = name) -> None:
            queries.account_detail(db, name)
            services.allocations.list_schedules(account=name)
            queries.list_holds(db, account=name, limit=HOLDS_PAGE)
            queries.list_entries(db, account=name, limit=JOURNAL_PAGE)
            account_burn_rate(db, settings, name, window="30d", today=TODAY)

        rows.append(
            _sync_timed(f"query alone: drill-in's 5 fetches in a row, {kind}", drill_in, repeat)
        )
        rows.append(
            _sync_timed(
                f"query alone: account_burn_rate 1y, {kind}",
                lambda name=name: account_burn_rate(db, settings, name, window="1y", today=TODAY),
                repeat,
            )
        )
    db.dispose()
    return rows


async def _measure(url: str, backend: str, accounts: int, repeat: int) -> list[Row]:
    typical = f"acct{accounts // 2:05d}"
    picks = [(typical, "typical"), (HOT, "hot")]
    monitor = StallMonitor()
    monitor.start()
    try:
        rows = []
        for view in ("dashboard", "accounts"):
            rows.append(await _first_screen(url, view, repeat, monitor))
            _progress(backend, rows[-1])
        rows += await _drill_in_and_chart(url, picks, repeat, monitor)
        rows.insert(0, await _textual_floor(repeat, monitor))
        _progress(backend, rows[0])
    finally:
        await monitor.stop()
    return rows


def run(backend: str, *, rows: int, accounts: int, repeat: int) -> list[Row]:
    server = None
    name = None
    folder = None
    if backend == "postgresql":
        server = find_server()
        name = server.create_database(prefix="asbb_bench_console")
        url = server.url(name)
    else:
        folder = Path(tempfile.mkdtemp(prefix="asbb-bench-"))
        url = f"sqlite:///{folder}/console.sqlite3"
    try:
        upgrade(url)
        db = Database(url)
        began = time.perf_counter()
        _seed(db, accounts=accounts, rows=rows)
        print(
            f"[{backend}] seeded {accounts:,} accounts, {rows:,} rows "
            f"in {time.perf_counter() - began:.0f}s",
            file=sys.stderr,
        )
        hot_since = TODAY - timedelta(days=364)

        def baseline() -> object:
            def q(s: Session) -> object:
                stmt = select(func.sum(JournalEntry.used_delta)).where(
                    JournalEntry.account_id == 1, JournalEntry.created_at >= day_start(hot_since)
                )
                return s.execute(stmt).scalar()

            return db.read(q)

        floor = _sync_timed("floor: one SUM over the hot account's year", baseline, repeat)
        _progress(backend, floor)
        db.dispose()
        measured = asyncio.run(_measure(url, backend, accounts, repeat))
        typical = f"acct{accounts // 2:05d}"
        calls = _worker_calls(url, [(typical, "typical"), (HOT, "hot")], repeat)
        for row in calls:
            _progress(backend, row)
        return [measured[0], floor, *measured[1:], *calls]
    finally:
        if server is not None and name is not None:
            server.drop_database(name)
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


def _cell(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["postgresql", "sqlite", "both"], default="both")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    backends = ["postgresql", "sqlite"] if args.backend == "both" else [args.backend]
    table = []
    for backend in backends:
        for row in run(backend, rows=args.rows, accounts=args.accounts, repeat=args.repeat):
            table.append((backend, row))
    if args.markdown:
        print(
            f"| backend | console, {args.accounts:,} accounts, {args.rows:,} journal rows "
            f"| median ms | max ms | max UI stall ms | longest GC ms | target ms | verdict |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for backend, row in table:
            print(
                f"| {backend} | {row.label} | {row.median:.1f} | {row.worst:.1f} "
                f"| {_cell(row.stall)} | {_cell(row.gc)} | {_cell(row.target)} | {row.verdict} |"
            )
    else:
        for backend, row in table:
            print(
                f"{backend:10} {row.label:62} median {row.median:7.1f}  max {row.worst:7.1f}"
                f"  stall {_cell(row.stall):>6}  {row.verdict}"
            )


if __name__ == "__main__":
    main()
