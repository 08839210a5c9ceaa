"""A process killed in the middle of a use case leaves no partial journal rows.

A child process runs a real use case and SIGKILLs itself right after the Nth journal row has
been written to the database inside the open transaction (before commit). The parent then
checks that nothing of it remains, that the ledger verifies, and that the account still works.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import pytest

from asbb_core.ledger.verify import verify_ledger
from tests.test_ledger import snapshot

pytestmark = pytest.mark.slow

CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from asbb_core.values.context import Context
    from asbb_core.store.database import Database
    from asbb_core.ledger import Ledger
    from asbb_core.values.context import Source
    from asbb_core.settings import Settings

    url, operation, die_after, hold_id = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    from sqlalchemy.orm import Session
    ledger = Ledger(Database(url), Settings(database={"url": url}))
    ctx = Context(actor="doomed", source=Source.EPILOG)
    original = Session.execute
    written = 0

    def execute_then_die(self, statement, *args, **kwargs):
        global written
        result = original(self, statement, *args, **kwargs)  # sent: inside the open transaction
        if getattr(getattr(statement, "table", None), "name", None) == "journal":
            written += 1
            if written == die_after:
                os.kill(os.getpid(), signal.SIGKILL)
        return result

    Session.execute = execute_then_die
    if operation == "transfer":
        ledger.transfer("alpha", "beta", "100", ctx=ctx, reason="dies half way")
    elif operation == "post":
        ledger.post_hold(hold_id, "150", ctx=ctx)  # charge row, then overrun row
    elif operation == "hold":
        ledger.create_hold("alpha", "10", ctx=ctx)
    print("survived")
    """
)


@pytest.mark.parametrize(("operation", "die_after"), [("transfer", 1), ("post", 2), ("hold", 1)])
def test_killed_mid_use_case_leaves_nothing(ledger, ctx, migrated_url, operation, die_after):
    ledger.create_account("alpha", ctx=ctx, limit="1000")
    ledger.create_account("beta", ctx=ctx)
    hold = ledger.create_hold("alpha", "100", ctx=ctx)  # 120.00 held
    before = snapshot(ledger)

    child = subprocess.run(
        [sys.executable, "-c", CHILD, migrated_url, operation, str(die_after), hold.hold_id],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert "survived" not in child.stdout

    assert snapshot(ledger) == before
    assert ledger.get_hold(hold.hold_id).state == "open"
    report = verify_ledger(ledger.db)
    assert report.ok, [str(p) for p in report.problems]
    # The locks the dead process held are gone: the same use case now completes.
    assert ledger.post_hold(hold.hold_id, "150", ctx=ctx).overrun == 30
