"""Who a person at the command line or the console is: the operating system's word for it.

Both front ends work on the database directly, so the actor they write into the journal and
the approvals must be something the person cannot choose: the login name of the process's
real uid. Environment variables (``$USER``, ``$LOGNAME``, ``$SUDO_USER``) are set by the caller
and are never read: ``USER=alice asbb console`` still acts as whoever logged in. The CLI and the
console give the same name, so one person cannot ask in one and approve in the other; the
journal's ``source`` column tells which front end it was. The daemon's actor is its token.
"""

from __future__ import annotations

import os
import pwd


def real_uid() -> int:
    """The uid that started the process (not the effective one a setuid wrapper lends)."""
    return os.getuid()


def os_login() -> str:
    """The login name of the real uid; ``uid:<n>`` when the uid has no passwd entry (a
    container), so two unnamed uids still differ."""
    uid = real_uid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid:{uid}"
