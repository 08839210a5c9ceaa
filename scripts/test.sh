#!/usr/bin/env bash
# Sets up everything the tests need on a fresh machine, then runs every check and test.
# This is the command CI runs (.ci/run). Extra arguments go to pytest (e.g. -m "not slow").
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh
bootstrap_venv test
ensure_postgresql_binaries
ensure_mariadb
ensure_tmux
ensure_go
ensure_promtool

echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== mypy (asbb_core, daemon, asbb_tui)"
.venv/bin/mypy
echo "== import contracts"
.venv/bin/lint-imports
echo "== pytest"
# The tests start many Python processes (CLI, daemons, racing workers): let them cache the
# checkout's own bytecode even where the environment says not to write it.
unset PYTHONDONTWRITEBYTECODE
# Parallel: most tests wait on a database, a daemon or a subprocess, so more workers than
# cores pay off; the Slurm tests share one cluster on one worker (tests/slurm/conftest.py).
exec .venv/bin/pytest -n "${ASBB_TEST_WORKERS:-4}" --dist loadgroup "$@"
