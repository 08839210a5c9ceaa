"""Entry point of the ``asbb-daemon`` console script.

The HTTP service (budget check and reconcile endpoints, REST API) is not built yet. Rather than
pretend to serve, the command says so and exits with status 2.
"""

from __future__ import annotations

import sys

NOT_BUILT = "asbb-daemon: the HTTP service is not built yet; see README"


def main() -> None:
    """Say that the daemon does not exist yet, on stderr, and exit 2."""
    print(NOT_BUILT, file=sys.stderr)
    raise SystemExit(2)


if __name__ == "__main__":
    main()
