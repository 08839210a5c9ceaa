# Shared set-up for scripts/demo.sh and scripts/test.sh (sourced, not run).

UV_VERSION=0.13.9

# uv, the installer, pinned and kept in .uv/ (outside .venv, which `uv sync` keeps exactly to
# the lock). A uv of that version already on PATH is used as it is.
ensure_uv() {
    local python="${PYTHON:-python3}"
    if command -v uv >/dev/null 2>&1 && [ "$(uv --version | cut -d' ' -f2)" = "$UV_VERSION" ]; then
        UV=$(command -v uv)
        return 0
    fi
    if [ ! -x .uv/bin/uv ] || [ "$(.uv/bin/uv --version | cut -d' ' -f2)" != "$UV_VERSION" ]; then
        if ! command -v "$python" >/dev/null 2>&1; then
            echo "error: $python not found; install Python 3.11 or newer" >&2
            exit 1
        fi
        echo "== installing uv $UV_VERSION into .uv"
        "$python" -m venv .uv
        .uv/bin/python -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
    fi
    UV=$PWD/.uv/bin/uv
}

# Create .venv and install exactly what uv.lock says, with the given extra (re-run is cheap:
# a venv already in sync is left alone). Without an extra, packages installed for the tests
# stay, so the demo and the tests can share one .venv.
bootstrap_venv() {
    local extra="${1:-}"
    ensure_uv
    # Bytecode compiled at install: where PYTHONDONTWRITEBYTECODE is set (as on some
    # machines), Python would otherwise compile every imported module anew on each start.
    export UV_PYTHON_DOWNLOADS=never UV_PROJECT_ENVIRONMENT="$PWD/.venv" UV_COMPILE_BYTECODE=1
    echo "== installing asbb${extra:+ [$extra]} into .venv (uv.lock)"
    if [ -n "$extra" ]; then
        "$UV" sync --quiet --frozen --python "${PYTHON:-python3}" --extra "$extra"
    else
        "$UV" sync --quiet --frozen --python "${PYTHON:-python3}" --inexact
    fi
}

# The tests use a PostgreSQL on 127.0.0.1:5432 if one answers, else start a throwaway cluster
# with initdb/pg_ctl; either way the server binaries must be installed.
ensure_postgresql_binaries() {
    if .venv/bin/python - <<'PY'
import socket, sys
try:
    socket.create_connection(("127.0.0.1", 5432), timeout=0.5).close()
except OSError:
    sys.exit(1)
PY
    then
        return 0
    fi
    if command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
        return 0
    fi
    if [ "$(id -u)" != 0 ]; then
        echo "error: no PostgreSQL server and no initdb; install PostgreSQL or set ASBB_TEST_POSTGRES_URL" >&2
        exit 1
    fi
    echo "== installing PostgreSQL server binaries (apt)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
}

# tmux, for the test that drives the console in a real terminal (apt, as root; else skipped).
ensure_tmux() {
    if command -v tmux >/dev/null 2>&1; then
        return 0
    fi
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "== installing tmux (apt)"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends tmux >/dev/null
    fi
}

# Go, for the contract tests that decode asbb's answers with the Go clients' structs
# (tests/contract/go; apt, as root; else those tests are skipped and say why).
ensure_go() {
    if command -v go >/dev/null 2>&1; then
        return 0
    fi
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "== installing Go (apt: golang-go)"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends golang-go >/dev/null
    fi
}

# promtool, for the tests that check deploy/prometheus and the dashboard's queries: taken from
# Debian's prometheus package into .venv/bin (apt-get download + dpkg-deb -x), so no Prometheus
# server is installed, enabled or started. Without apt (or its lists) those tests are skipped.
ensure_promtool() {
    if command -v promtool >/dev/null 2>&1 || [ -x .venv/bin/promtool ]; then
        return 0
    fi
    if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-deb >/dev/null 2>&1; then
        return 0
    fi
    echo "== fetching promtool (Debian's prometheus package) into .venv/bin"
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq || true  # no lists: the download below fails and says so
    fi
    local tmp
    tmp=$(mktemp -d)
    # As root apt would download as its _apt user, who cannot write to a private folder.
    if (cd "$tmp" && apt-get download -qq -o APT::Sandbox::User=root prometheus >/dev/null) \
        && dpkg-deb -x "$tmp"/prometheus_*.deb "$tmp/root" \
        && [ -x "$tmp/root/usr/bin/promtool" ]; then
        install -m 0755 "$tmp/root/usr/bin/promtool" .venv/bin/promtool
    else
        echo "warning: could not fetch promtool; the tests that need it will be skipped" >&2
    fi
    rm -rf "$tmp"
}

# The MySQL/MariaDB tests use a server on 127.0.0.1:3306 if one answers (root, no password),
# else start a private mariadbd in a temporary folder; either way Debian's mariadb-server
# must be there for the second case (apt, as root, with a policy-rc.d that keeps the packaged
# server from starting). Without it those tests are skipped with the reason.
ensure_mariadb() {
    if .venv/bin/python - <<'PY'
import socket, sys
try:
    socket.create_connection(("127.0.0.1", 3306), timeout=0.5).close()
except OSError:
    sys.exit(1)
PY
    then
        return 0
    fi
    if command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || [ -x /usr/sbin/mysqld ]; then
        return 0
    fi
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "warning: no MySQL/MariaDB server and no mariadbd; the MySQL tests will be skipped" >&2
        return 0
    fi
    echo "== installing MariaDB server binaries (apt)"
    local made_policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 0755 /usr/sbin/policy-rc.d
        made_policy=1
    fi
    apt-get update -qq || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mariadb-server >/dev/null \
        || echo "warning: could not install mariadb-server; the MySQL tests will be skipped" >&2
    if [ -n "$made_policy" ]; then
        rm -f /usr/sbin/policy-rc.d
    fi
}
