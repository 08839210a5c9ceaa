"""The harness can run the suite where no PostgreSQL server is running: it starts its own.

CI machines have a server on 127.0.0.1:5432, so without this test the throwaway path would
never run there. (ASBB_TEST_POSTGRES=throwaway runs the whole suite on one.)
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from asbb_core.ledger import Ledger
from asbb_core.ledger.verify import verify_ledger
from asbb_core.settings import Settings
from asbb_core.store.database import Database
from asbb_core.store.migrate import upgrade
from asbb_core.values.context import Context, Source
from tests.pgserver import start_throwaway

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def test_a_throwaway_cluster_runs_the_ledger_and_is_removed():
    server = start_throwaway()
    try:
        assert server.kind == "throwaway"
        assert server.port != 5432
        if os.geteuid() == 0:
            assert server.run_as is not None  # PostgreSQL refuses to run as root
        name = server.create_database()
        url = server.url(name)
        upgrade(url)
        db = Database(url)
        ledger = Ledger(db, Settings(database={"url": url}))
        ctx = Context(actor="harness", source=Source.CLI)
        ledger.create_account("probe", ctx=ctx, limit="10")
        hold = ledger.create_hold("probe", "5", ctx=ctx)
        ledger.post_hold(hold.hold_id, "4", ctx=ctx)
        assert verify_ledger(db).ok
        assert ledger.get_account("probe").available == 6
        db.dispose()
    finally:
        server.stop()
    assert server.datadir is not None
    assert not Path(server.datadir).exists()
