"""``asbb-daemon``: serve the API with uvicorn (host, port, workers from settings)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from typing import TYPE_CHECKING

from asbb_core.settings import load_settings
from asbb_core.values.errors import SettingsError

if TYPE_CHECKING:
    from fastapi import FastAPI


def app_from_settings() -> FastAPI:
    """uvicorn's factory for worker processes: each loads settings itself."""
    from daemon.app import create_app

    return create_app(load_settings())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="asbb-daemon",
        description="Serve asbb's HTTP API: the budget check and reconcile that slurmctld's "
        "plugin and epilog call, and the REST API. Settings come from /etc/asbb/config.toml "
        "(or $ASBB_CONFIG) and ASBB_* variables; the options below override them.",
    )
    parser.add_argument("--host", help="address to listen on (daemon.host)")
    parser.add_argument("--port", type=int, help="port to listen on (daemon.port)")
    parser.add_argument("--workers", type=int, help="worker processes (daemon.workers)")
    parser.add_argument("--database", help="database URL (database.url)")
    args = parser.parse_args(argv)
    for key, value in (
        ("ASBB_DAEMON__HOST", args.host),
        ("ASBB_DAEMON__PORT", args.port),
        ("ASBB_DAEMON__WORKERS", args.workers),
        ("ASBB_DATABASE__URL", args.database),
    ):
        if value is not None:
            os.environ[key] = str(value)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"asbb-daemon: {exc.message}", file=sys.stderr)
        return 1

    import uvicorn

    from daemon.app import log_config

    # uvicorn shuts down gracefully on SIGTERM and then raises the signal again; with this
    # handler in place that second signal is ignored and the daemon exits 0, as systemd expects.
    signal.signal(signal.SIGTERM, lambda *_: None)
    uvicorn.run(
        "daemon.main:app_from_settings",
        factory=True,
        host=settings.daemon.host,
        port=settings.daemon.port,
        workers=settings.daemon.workers,
        log_level=settings.daemon.log_level,
        log_config=log_config(settings.daemon.log_level),
        access_log=False,  # our middleware logs each request as JSON, with its request id
        timeout_graceful_shutdown=30,
        proxy_headers=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
