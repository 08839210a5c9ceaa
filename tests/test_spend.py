"""Spend aggregation in SQL (asbb_core.spend), on both backends."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from asbb_core.context import Context
from asbb_core.database import Database
from asbb_core.ledger import Ledger
from asbb_core.models import Source
from asbb_core.spend import spend_by, spend_total
from tests.conftest import Clock


def _charge(ledger: Ledger, ctx: Context, account: str, cost: str, **kw: str) -> None:
    hold = ledger.create_hold(account, cost, ctx=ctx, buffer=1, **kw)
    ledger.post_hold(hold.hold_id, cost, ctx=ctx)


def test_spend_groups_by_day_month_partition_user(
    ledger: Ledger, db: Database, clock: Clock, ctx: Context
) -> None:
    clock.now = datetime(2026, 1, 30, 23, 30, tzinfo=UTC)
    acct = ledger.create_account("spendy", ctx=ctx, limit="1000")
    other = ledger.create_account("other", ctx=ctx, limit="1000")
    _charge(ledger, ctx, "spendy", "10.25", partition="aws", user_name="ann")
    clock.now += timedelta(hours=1)  # 31 January, 00:30
    _charge(ledger, ctx, "spendy", "4.75", partition="gpu", user_name="bob")
    clock.now += timedelta(days=1)  # 1 February
    _charge(ledger, ctx, "spendy", "5.00", partition="aws", user_name="ann")
    _charge(ledger, ctx, "other", "99.00")
    ledger.adjust("spendy", "-2.00", ctx=Context("t", Source.CLI), reason="refund", target="used")
    ids = [acct.id]
    assert acct.id is not None
    assert other.id is not None

    def check(s):  # type: ignore[no-untyped-def]
        assert spend_total(s, ids, date(2026, 1, 1), date(2026, 12, 31)) == Decimal("18.00")
        assert spend_total(s, ids, date(2026, 1, 31), date(2026, 1, 31)) == Decimal("4.75")
        assert spend_by(s, ids, date(2026, 1, 1), date(2026, 2, 28), "day") == [
            ("2026-01-30", Decimal("10.25")),
            ("2026-01-31", Decimal("4.75")),
            ("2026-02-01", Decimal("3.00")),
        ]
        assert spend_by(s, ids, date(2026, 1, 1), date(2026, 2, 28), "month") == [
            ("2026-01", Decimal("15.00")),
            ("2026-02", Decimal("3.00")),
        ]
        assert spend_by(s, ids, date(2026, 1, 1), date(2026, 2, 28), "partition") == [
            ("aws", Decimal("15.25")),
            ("gpu", Decimal("4.75")),
            (None, Decimal("-2.00")),
        ]
        assert spend_by(s, ids, date(2026, 1, 1), date(2026, 2, 28), "user")[0] == (
            "ann",
            Decimal("15.25"),
        )
        both = spend_by(s, [acct.id, other.id], date(2026, 1, 1), date(2026, 2, 28), "account")
        assert both == [("other", Decimal("99.00")), ("spendy", Decimal("18.00"))]
        assert spend_total(s, [], date(2026, 1, 1), date(2026, 2, 28)) == 0
        return True

    assert db.read(check)
