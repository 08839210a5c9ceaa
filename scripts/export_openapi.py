#!/usr/bin/env python3
"""Write the daemon's OpenAPI document to docs/openapi.json (keys sorted, indent 2).

Run it after changing any endpoint; tests/test_openapi.py fails until the file matches:

    .venv/bin/python scripts/export_openapi.py          # rewrite docs/openapi.json
    .venv/bin/python scripts/export_openapi.py --check  # exit 1 if it is out of date
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "docs" / "openapi.json"

if str(ROOT) not in sys.path:  # run as a plain script from a checkout
    sys.path.insert(0, str(ROOT))


def current_spec() -> dict[str, Any]:
    """The OpenAPI document of the app as the code builds it now.

    The app is built on a throwaway SQLite URL; nothing connects to it (the spec depends on the
    routes and models only, never on settings or data).
    """
    from asbb_core.settings import Settings
    from daemon.app import create_app

    with tempfile.TemporaryDirectory(prefix="asbb-openapi-") as folder:
        settings = Settings(database={"url": f"sqlite:///{Path(folder) / 'unused.sqlite3'}"})
        app = create_app(settings)
        spec = app.openapi()
        app.state.services.db.dispose()
    return spec


def render(spec: dict[str, Any]) -> str:
    return json.dumps(spec, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if the file is out of date"
    )
    parser.add_argument("--output", type=Path, default=TARGET, help=f"default: {TARGET}")
    args = parser.parse_args(argv)
    text = render(current_spec())
    output: Path = args.output
    if args.check:
        if not output.exists() or output.read_text(encoding="utf-8") != text:
            print(f"{output} is out of date; run: scripts/export_openapi.py", file=sys.stderr)
            return 1
        print(f"{output} is up to date")
        return 0
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    spec = json.loads(text)
    print(f"wrote {output} ({len(spec.get('paths', {}))} paths)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
