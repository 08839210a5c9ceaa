"""Spend aggregation in SQL (asbb_core.ledger.spend), on both backends."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from asbb_core.ledger import Ledger
from asbb_core.ledger.spend import Scope, scoped_total, spend_breakdown, spend_by, spend_total
from asbb_core.store.database import Database
from asbb_core.values.context import Context, Source
from tests.conftest import Clock


def _charge(ledger: Ledger, ctx: Context, account: str, cost: str, **kw: str | None) -> None:
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
        # Nothing in range: an exact zero (not a float), on both backends.
        assert spend_total(s, ids, date(2025, 1, 1), date(2025, 1, 2)) == Decimal(0)
        assert scoped_total(s, [Scope(acct.id, date(2025, 1, 1))], date(2025, 1, 2)) == 0
        return True

    assert db.read(check)


def test_breakdown_agrees_with_spend_by_for_every_grouping(
    ledger: Ledger, db: Database, clock: Clock, ctx: Context
) -> None:
    clock.now = datetime(2026, 5, 1, 8, tzinfo=UTC)
    a = ledger.create_account("one", ctx=ctx, limit="1000")
    b = ledger.create_account("two", ctx=ctx, limit="1000")
    assert a.id is not None
    assert b.id is not None
    for n in range(12):
        clock.now += timedelta(hours=9)
        account = "one" if n % 3 else "two"
        _charge(
            ledger,
            ctx,
            account,
            f"{n + 1}.{n:02d}",
            partition=("aws", "gpu", None)[n % 3],
            user_name=("ann", "bob")[n % 2],
        )
    since, until = date(2026, 5, 2), date(2026, 5, 4)

    def check(s):  # type: ignore[no-untyped-def]
        got = spend_breakdown(s, [Scope(a.id, since), Scope(b.id, since)], until)
        for group in ("day", "partition", "user"):
            assert got[group] == spend_by(s, [a.id, b.id], since, until, group), group
        # A scope counts from its own start: two's spend from 3 May only.
        late = spend_breakdown(s, [Scope(a.id, since), Scope(b.id, date(2026, 5, 3))], until)
        expected = spend_total(s, [a.id], since, until) + spend_total(
            s, [b.id], date(2026, 5, 3), until
        )
        assert sum(v for _, v in late["day"]) == expected
        assert spend_breakdown(s, [Scope(a.id, date(2026, 6, 1))], until) == {
            "day": [],
            "partition": [],
            "user": [],
        }
        return True

    assert db.read(check)
