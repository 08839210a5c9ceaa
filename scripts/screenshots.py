"""Save an SVG of each main console screen to screenshots/, from freshly seeded demo data.

    .venv/bin/python scripts/screenshots.py [--out screenshots] [--size 120x36]

The demo is seeded at a fixed moment into a throwaway SQLite file, so the pictures change only
when the console or the demo does.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from asbb_core.demo import DemoClock, seed_demo  # noqa: E402
from asbb_core.ledger import Ledger  # noqa: E402
from asbb_core.settings import Settings  # noqa: E402
from asbb_core.store.database import Database  # noqa: E402
from asbb_core.store.migrate import upgrade  # noqa: E402
from asbb_tui.console import AsbbConsole  # noqa: E402
from asbb_tui.console.app import available_views  # noqa: E402

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


async def shoot(
    ledger: Ledger,
    view: str,
    out: Path,
    size: tuple[int, int],
    *,
    chart_of: str | None = None,
    grant_chart: str | None = None,
) -> Path:
    app = AsbbConsole(ledger, database_label="demo.sqlite3", actor="admin", start_view=view)
    async with app.run_test(size=size) as pilot:

        async def settle() -> None:
            for _ in range(3):
                await pilot.app.workers.wait_for_complete()
                await pilot.pause()

        await settle()
        name = view
        if chart_of is not None:  # the drill-in of one account, on its burn-rate chart
            from asbb_tui.console.account import AccountScreen

            await app.push_screen(AccountScreen(chart_of))
            await settle()
            await pilot.press("c")
            await settle()
            name = f"account-{chart_of}-chart"
        if grant_chart is not None:  # a grant's drill-in, on its current period's chart
            from asbb_tui.console.grants import GrantScreen

            await app.push_screen(GrantScreen(grant_chart))
            await settle()
            await pilot.press("c")
            await settle()
            name = f"grant-{grant_chart}-chart"
        path = out / f"{name}.svg"
        app.save_screenshot(filename=path.name, path=str(out))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots")
    parser.add_argument("--size", default="120x36", help="columns x rows")
    args = parser.parse_args()
    cols, rows = (int(n) for n in args.size.lower().split("x"))
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="asbb-shots-") as tmp:
        url = f"sqlite:///{tmp}/demo.sqlite3"
        upgrade(url)
        settings = Settings(database={"url": url})
        db = Database(url)
        ledger = Ledger(db, settings, clock=DemoClock(NOW))
        seed_demo(ledger, now=NOW)
        for view in available_views():
            path = asyncio.run(shoot(ledger, view.name, args.out, (cols, rows)))
            print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
        drill_ins = [
            shoot(ledger, "accounts", args.out, (cols, rows), chart_of="ml-proj"),
            shoot(ledger, "grants", args.out, (cols, rows), grant_chart="NSF-2231907"),
        ]
        for shot in drill_ins:
            path = asyncio.run(shot)
            print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
        db.dispose()


if __name__ == "__main__":
    main()
