#!/usr/bin/env bash
# Sets up everything on a fresh machine, seeds a demo SQLite database through asbb_core and
# opens the console on it. Extra arguments go to `asbb demo` (e.g. --reset, --no-console).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh
bootstrap_venv ""
exec .venv/bin/asbb demo "$@"
