"""Grants, budget periods, linked accounts and draws (asbb_core.funding.grants), on both
backends.
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlmodel import func, select

from asbb_core.funding.grants import (
    Grants,
    apportion,
    indirect_of,
    max_direct,
    months_of,
    split_budget,
    total_cost,
)
from asbb_core.ledger import Ledger
from asbb_core.ledger.verify import verify_ledger
from asbb_core.store.database import Database
from asbb_core.store.models import EntryKind, Grant, GrantDraw, GrantPeriod, JournalEntry
from asbb_core.values.context import Context, IdempotencyKey, Source
from asbb_core.values.errors import (
    ConflictError,
    IdempotencyConflictError,
    InsufficientFundsError,
    NotFoundError,
    ValidationError,
)
from tests.conftest import Clock

D = Decimal


def charge(ledger: Ledger, ctx: Context, account: str, cost: str, **kw: str) -> None:
    hold = ledger.create_hold(account, cost, ctx=ctx, buffer=1, **kw)
    ledger.post_hold(hold.hold_id, cost, ctx=ctx)


def three_year(grants: Grants, ctx: Context, number: str = "NSF-2312345", **kw: object):
    """A 3-year award, 12-month periods (2025, 2026, 2027), 30% indirect."""
    args: dict[str, object] = {
        "total_award": "300000",
        "start_date": date(2025, 1, 1),
        "end_date": date(2027, 12, 31),
        "indirect_rate": "0.30",
        "ctx": ctx,
        "title": "Cloud bursting for genomics",
        "agency": "NSF",
        "program": "CSSI",
        "pi": "Ada Lovelace",
        "co_pis": ["Grace Hopper", "Alan Turing"],
        "institution": "State University",
        "department": "Biology",
        "cfda": "47.070",
    }
    args.update(kw)
    return grants.create_grant(number, **args)  # type: ignore[arg-type]


@pytest.fixture
def grants(ledger: Ledger, clock: Clock) -> Grants:
    clock.now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # inside period 2 (2026)
    return Grants(ledger)


def count(db: Database, model: type) -> int:
    return int(db.read(lambda s: s.exec(select(func.count()).select_from(model)).one()))


# ---------------------------------------------------------------- pure arithmetic


def test_split_budget_sums_exactly_with_the_remainder_last() -> None:
    assert split_budget(D("100000.00"), 3) == [D("33333.33"), D("33333.33"), D("33333.34")]
    assert sum(split_budget(D("0.05"), 3)) == D("0.05")


def test_total_cost_and_the_largest_drawable_amount() -> None:
    assert indirect_of(D("1000"), D("0.30")) == D("300.00")
    assert total_cost(D("1000"), D("0.30")) == D("1300.00")
    assert max_direct(D("1300"), D("0.30")) == D("1000.00")
    # 100 / 1.3 = 76.923...: 76.92 costs 99.99 (indirect 23.076 -> 23.08 = 100.00)
    best = max_direct(D("100"), D("0.30"))
    assert total_cost(best, D("0.30")) <= D("100")
    assert total_cost(best + D("0.01"), D("0.30")) > D("100")
    assert max_direct(D("0"), D("0.30")) == 0


def test_apportioned_indirect_adds_up_to_the_total_exactly() -> None:
    groups = [("a", D("0.05")), ("b", D("0.05")), ("c", D("0.05"))]
    rows = apportion(groups, D("0.30"))
    # 0.15 x 0.3 = 0.045 -> 0.04 (half-even); each group 0.015: floors 0.01, one extra cent
    assert [r.indirect for r in rows] == [D("0.02"), D("0.01"), D("0.01")]
    assert sum(r.indirect for r in rows) == indirect_of(D("0.15"), D("0.30"))
    many = [(str(k), D("3.33")) for k in range(7)] + [("z", D("-1.07"))]
    rows = apportion(many, D("0.2875"))
    total = sum(d for _, d in many)
    assert sum(r.indirect for r in rows) == indirect_of(total, D("0.2875"))
    for row in rows:
        assert abs(row.indirect - row.direct * D("0.2875")) < D("0.01")
        assert row.total == row.direct + row.indirect


def test_months_of_a_period() -> None:
    assert months_of(date(2026, 11, 15), date(2027, 2, 1)) == [
        "2026-11",
        "2026-12",
        "2027-01",
        "2027-02",
    ]


# ---------------------------------------------------------------- creating


def test_create_generates_12_month_periods_that_add_up(grants: Grants, ctx: Context) -> None:
    detail = three_year(grants, ctx)
    g = detail.grant
    assert (g.number, g.agency, g.pi, g.cfda, g.co_pis) == (
        "NSF-2312345",
        "NSF",
        "Ada Lovelace",
        "47.070",
        ["Grace Hopper", "Alan Turing"],
    )
    assert g.indirect_rate == D("0.30")
    assert [(p.number, p.start_date, p.end_date, p.budget) for p in detail.periods] == [
        (1, date(2025, 1, 1), date(2025, 12, 31), D("100000.00")),
        (2, date(2026, 1, 1), date(2026, 12, 31), D("100000.00")),
        (3, date(2027, 1, 1), date(2027, 12, 31), D("100000.00")),
    ]
    assert grants.current_period("NSF-2312345").number == 2  # type: ignore[union-attr]
    assert grants.current_period("NSF-2312345", date(2024, 12, 31)) is None


def test_uneven_award_and_a_short_last_period(grants: Grants, ctx: Context) -> None:
    detail = grants.create_grant(
        "R01-GM1",
        total_award="100000",
        start_date="2025-07-01",
        end_date="2027-12-31",
        indirect_rate="0.575",
        ctx=ctx,
    )
    spans = [(p.start_date, p.end_date, p.budget) for p in detail.periods]
    assert spans == [
        (date(2025, 7, 1), date(2026, 6, 30), D("33333.33")),
        (date(2026, 7, 1), date(2027, 6, 30), D("33333.33")),
        (date(2027, 7, 1), date(2027, 12, 31), D("33333.34")),
    ]
    assert sum(p.budget for p in detail.periods) == D("100000")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"cfda": "47.70"}, "cfda"),
        ({"cfda": "ab.cde"}, "cfda"),
        ({"indirect_rate": "1.6"}, "indirect_rate"),
        ({"indirect_rate": "-0.1"}, "indirect_rate"),
        ({"indirect_rate": 0.3}, "indirect_rate"),
        ({"indirect_rate": "0.123456"}, "indirect_rate"),
        ({"total_award": "0"}, "total_award"),
        ({"total_award": "-5"}, "total_award"),
        ({"total_award": "10.001"}, "total_award"),
        ({"total_award": 10.5}, "total_award"),
        ({"end_date": date(2024, 1, 1)}, "end_date"),
        ({"start_date": "2025-13-01"}, "start_date"),
        ({"period_months": 0}, "period_months"),
        ({"title": "x" * 501}, "title"),
        ({"pi": "a\x00b"}, "pi"),
        ({"co_pis": "one name"}, "co_pis"),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(
    grants: Grants, ctx: Context, change: dict[str, object], field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        three_year(grants, ctx, **change)
    assert caught.value.field == field
    assert caught.value.message.startswith(f"{field}:")
    assert count(grants.db, Grant) == 0
    assert count(grants.db, GrantPeriod) == 0


@pytest.mark.parametrize("number", ["", "has space", "a/b", "-lead", "x" * 65])
def test_bad_grant_numbers(grants: Grants, ctx: Context, number: str) -> None:
    with pytest.raises(ValidationError) as caught:
        three_year(grants, ctx, number=number)
    assert caught.value.field == "number"


def test_a_grant_number_is_unique(grants: Grants, ctx: Context) -> None:
    three_year(grants, ctx)
    with pytest.raises(ConflictError) as caught:
        three_year(grants, ctx)
    assert caught.value.field == "number"
    assert count(grants.db, GrantPeriod) == 3


def test_update_descriptive_fields_and_status(grants: Grants, ctx: Context) -> None:
    three_year(grants, ctx)
    detail = grants.update_grant(
        "NSF-2312345", ctx=ctx, title="New title", co_pis=["Only One"], status="closed"
    )
    assert (detail.grant.title, detail.grant.co_pis, detail.grant.status) == (
        "New title",
        ["Only One"],
        "closed",
    )
    assert detail.grant.agency == "NSF"  # untouched
    with pytest.raises(ValidationError) as caught:
        grants.update_grant("NSF-2312345", ctx=ctx, status="paused")
    assert caught.value.field == "status"
    with pytest.raises(NotFoundError):
        grants.update_grant("NOPE-1", ctx=ctx, title="x")
    assert [g.grant.number for g in grants.list_grants(status="closed")] == ["NSF-2312345"]
    assert grants.list_grants(status="active") == []


# ---------------------------------------------------------------- periods


def test_edit_a_period_within_the_rules(grants: Grants, ctx: Context) -> None:
    three_year(grants, ctx)
    number = "NSF-2312345"
    with pytest.raises(ValidationError) as caught:
        grants.set_period(number, 2, ctx=ctx, budget="100000.01")
    assert caught.value.field == "budget"
    assert "award" in caught.value.message
    detail = grants.set_period(number, 1, ctx=ctx, budget="90000")
    detail = grants.set_period(number, 2, ctx=ctx, budget="110000")
    assert [p.budget for p in detail.periods] == [D(90000), D(110000), D(100000)]
    with pytest.raises(ValidationError) as caught:
        grants.set_period(number, 2, ctx=ctx, start_date=date(2025, 12, 1))
    assert caught.value.field == "start_date"
    assert "overlap period 1" in caught.value.message
    with pytest.raises(ValidationError) as caught:
        grants.set_period(number, 3, ctx=ctx, end_date=date(2028, 1, 31))
    assert caught.value.field == "end_date"
    with pytest.raises(ValidationError) as caught:
        grants.set_period(number, 1, ctx=ctx, start_date=date(2024, 12, 1))
    assert caught.value.field == "start_date"
    with pytest.raises(NotFoundError) as caught_nf:
        grants.set_period(number, 4, ctx=ctx, budget="1")
    assert caught_nf.value.field == "period"
    # A gap is allowed: period 2 now ends in November.
    detail = grants.set_period(number, 2, ctx=ctx, end_date=date(2026, 11, 30))
    assert detail.periods[1].end_date == date(2026, 11, 30)
    assert grants.current_period(number, date(2026, 12, 15)) is None


def test_regenerate_until_money_is_drawn(grants: Grants, ledger: Ledger, ctx: Context) -> None:
    three_year(grants, ctx)
    detail = grants.regenerate_periods("NSF-2312345", 6, ctx=ctx)
    assert len(detail.periods) == 6
    assert sum(p.budget for p in detail.periods) == D(300000)
    assert detail.periods[2].start_date == date(2026, 1, 1)
    ledger.create_account("lab", ctx=ctx)
    grants.link_account("NSF-2312345", "lab", ctx=ctx)
    grants.fund_account("NSF-2312345", "lab", "10", ctx=ctx)
    with pytest.raises(ConflictError) as caught:
        grants.regenerate_periods("NSF-2312345", 12, ctx=ctx)
    assert caught.value.field == "period_months"
    assert len(grants.get_grant("NSF-2312345").periods) == 6


# ---------------------------------------------------------------- the requirement


def test_spend_in_period_2_shows_direct_indirect_consumed_in_period_2_only(
    grants: Grants, ledger: Ledger, ctx: Context, clock: Clock
) -> None:
    """3-year grant, 12-month periods, 30% indirect: $1,000 of direct cost in period 2 is
    $1,000 direct + $300 indirect = $1,300 consumed, in period 2 only."""
    three_year(grants, ctx)
    ledger.create_account("lab", ctx=ctx)
    grants.link_account("NSF-2312345", "lab", ctx=ctx)
    draw = grants.fund_account("NSF-2312345", "lab", "1500", ctx=ctx, memo="year 2 compute")
    assert (draw.period, draw.amount, draw.indirect, draw.cost) == (
        2,
        D("1500.00"),
        D("450.00"),
        D("1950.00"),
    )
    charge(ledger, ctx, "lab", "1000", partition="aws-cpu", user_name="ann")

    status = grants.period_status("NSF-2312345", 2)
    assert (status.direct, status.indirect, status.consumed) == (
        D("1000.00"),
        D("300.00"),
        D("1300.00"),
    )
    assert status.remaining == D("98700.00")
    assert status.percent_used == D("1.3")
    assert (status.drawn, status.drawn_cost) == (D("1500.00"), D("1950.00"))
    assert status.state == "current"
    for other in (1, 3):
        empty = grants.period_status("NSF-2312345", other)
        assert (empty.direct, empty.indirect, empty.consumed) == (0, 0, 0)
        assert empty.remaining == empty.budget == D("100000.00")
    # Later on (in period 3) period 2's figures stand.
    clock.now = datetime(2027, 2, 1, tzinfo=UTC)
    assert grants.period_status("NSF-2312345", 2).consumed == D("1300.00")
    assert grants.period_status("NSF-2312345").period == 3
    assert grants.period_status("NSF-2312345").consumed == 0
    report = verify_ledger(ledger.db)
    assert report.ok, [str(p) for p in report.problems]


def test_refunds_reduce_direct_cost(grants: Grants, ledger: Ledger, ctx: Context) -> None:
    three_year(grants, ctx)
    ledger.create_account("lab", ctx=ctx, limit="100")
    grants.link_account("NSF-2312345", "lab", ctx=ctx)
    charge(ledger, ctx, "lab", "40")
    ledger.adjust("lab", "-15", ctx=ctx, reason="refund", target="used")
    status = grants.period_status("NSF-2312345")
    assert (status.direct, status.indirect, status.consumed) == (D(25), D("7.50"), D("32.50"))


def test_spend_counts_from_the_day_the_account_was_linked(
    grants: Grants, ledger: Ledger, ctx: Context, clock: Clock
) -> None:
    three_year(grants, ctx)
    ledger.create_account("lab", ctx=ctx, limit="500")
    charge(ledger, ctx, "lab", "100")  # 2 March: before the link
    clock.now += timedelta(days=1)
    grants.link_account("NSF-2312345", "lab", ctx=ctx)
    charge(ledger, ctx, "lab", "20")  # 3 March: after
    assert grants.period_status("NSF-2312345").direct == D(20)
    assert grants.get_grant("NSF-2312345").accounts[0].name == "lab"


# ---------------------------------------------------------------- linking


def test_an_account_draws_from_one_grant_at_most(
    grants: Grants, ledger: Ledger, ctx: Context
) -> None:
    three_year(grants, ctx)
    three_year(grants, ctx, number="DOE-77")
    ledger.create_account("lab", ctx=ctx)
    first = grants.link_account("NSF-2312345", "lab", ctx=ctx)
    assert grants.link_account("NSF-2312345", "lab", ctx=ctx) == first  # no change
    with pytest.raises(ConflictError) as caught:
        grants.link_account("DOE-77", "lab", ctx=ctx)
    assert caught.value.field == "account"
    assert "NSF-2312345" in caught.value.message
    with pytest.raises(NotFoundError):
        grants.link_account("DOE-77", "ghost", ctx=ctx)
    grants.unlink_account("NSF-2312345", "lab", ctx=ctx)
    grants.link_account("DOE-77", "lab", ctx=ctx)
    assert grants.linked_accounts("DOE-77") == ["lab"]
    assert grants.linked_accounts("NSF-2312345") == []
    with pytest.raises(NotFoundError):
        grants.unlink_account("NSF-2312345", "lab", ctx=ctx)


def test_one_grant_funds_several_accounts_and_scoped_lists(
    grants: Grants, ledger: Ledger, ctx: Context
) -> None:
    three_year(grants, ctx)
    three_year(grants, ctx, number="DOE-77")
    for name in ("lab-a", "lab-b", "other"):
        ledger.create_account(name, ctx=ctx)
    grants.link_account("NSF-2312345", "lab-a", ctx=ctx)
    grants.link_account("NSF-2312345", "lab-b", ctx=ctx)
    grants.link_account("DOE-77", "other", ctx=ctx)
    assert grants.linked_accounts("NSF-2312345") == ["lab-a", "lab-b"]
    assert [g.grant.number for g in grants.list_grants()] == ["DOE-77", "NSF-2312345"]
    assert [g.grant.number for g in grants.list_grants(visible={"lab-b"})] == ["NSF-2312345"]
    assert grants.list_grants(visible=set()) == []


def test_unlink_is_refused_once_the_account_drew_money(
    grants: Grants, ledger: Ledger, ctx: Context
) -> None:
    three_year(grants, ctx)
    ledger.create_account("lab", ctx=ctx)
    grants.link_account("NSF-2312345", "lab", ctx=ctx)
    grants.fund_account("NSF-2312345", "lab", "5", ctx=ctx)
    with pytest.raises(ConflictError) as caught:
        grants.unlink_account("NSF-2312345", "lab", ctx=ctx)
    assert caught.value.field == "account"
    assert grants.linked_accounts("NSF-2312345") == ["lab"]


# ---------------------------------------------------------------- funding


def test_fund_moves_direct_money_journaled_as_an_allocation(
    grants: Grants, ledger: Ledger, ctx: Context
) -> None:
    three_year(grants, ctx)
    ledger.create_account("lab", ctx=ctx, limit="10")
    grants.link_account("NSF-2312345", "lab", ctx=ctx)
    draw = grants.fund_account("NSF-2312345", "lab", "1000", ctx=ctx, memo="Q1")
    assert (draw.limit, draw.available) == (D("1010.00"), D("1010.00"))
    assert draw.drawable == max_direct(D(100000), D("0.30")) - D(1000)
    entry = ledger.journal(account="lab", limit=1)[0]
    assert entry.id == draw.entry_id
    assert (entry.kind, entry.amount, entry.limit_delta) == (
        EntryKind.ALLOCATION,
        D("1000.00"),
        D("1000.00"),
    )
    assert entry.memo == "grant NSF-2312345 period 2: Q1"
    rows = ledger.db.read(lambda s: list(s.exec(select(GrantDraw))))
    assert [(r.amount, r.entry_id, r.actor) for r in rows] == [
        (D("1000.00"), entry.id, "test-admin")
    ]
    lines = grants.get_grant("NSF-2312345").periods
    assert [(p.drawn, p.drawn_cost) for p in lines] == [
        (0, 0),
        (D("1000.00"), D("1300.00")),
        (0, 0),
    ]
    assert verify_ledger(ledger.db).ok


def test_a_draw_must_fit_the_period_with_indirect(
    grants: Grants, ledger: Ledger, ctx: Context
) -> None:
    three_year(grants, ctx, total_award="3900")  # 1300 a period: 1000 direct at 30%
    ledger.create_account("lab", ctx=ctx)
    grants.link_account("NSF-2312345", "lab", ctx=ctx)
    grants.fund_account("NSF-2312345", "lab", "600", ctx=ctx)
    with pytest.raises(InsufficientFundsError) as caught:
        grants.fund_account("NSF-2312345", "lab", "400.01", ctx=ctx)
    err = caught.value
    assert err.field == "amount"
    assert "$520.00 left of its $1,300.00 budget" in err.message
    assert "at most $400.00" in err.message
    assert err.details["max_draw"] == Decimal("400.00")
    grants.fund_account("NSF-2312345", "lab", "400", ctx=ctx)
    assert ledger.get_account("lab").limit_amount == D(1000)
    with pytest.raises(InsufficientFundsError):
        grants.fund_account("NSF-2312345", "lab", "0.01", ctx=ctx)
    assert count(ledger.db, GrantDraw) == 2


def test_fund_is_idempotent_with_a_key(grants: Grants, ledger: Ledger, ctx: Context) -> None:
    three_year(grants, ctx)
    ledger.create_account("lab", ctx=ctx)
    grants.link_account("NSF-2312345", "lab", ctx=ctx)
    keyed = Context("test-admin", Source.API, idempotency_key=IdempotencyKey.client("fund-1"))
    first = grants.fund_account("NSF-2312345", "lab", "250", ctx=keyed)
    again = grants.fund_account("NSF-2312345", "lab", "250", ctx=keyed)
    assert not first.replayed
    assert again.replayed
    assert (again.draw_id, again.entry_id, again.amount) == (
        first.draw_id,
        first.entry_id,
        first.amount,
    )
    assert ledger.get_account("lab").limit_amount == D(250)
    with pytest.raises(IdempotencyConflictError):
        grants.fund_account("NSF-2312345", "lab", "251", ctx=keyed)
    assert count(ledger.db, GrantDraw) == 1


@pytest.mark.parametrize("case", ["unlinked", "closed", "no-period", "closed-account"])
def test_fund_refusals_change_nothing(
    grants: Grants, ledger: Ledger, ctx: Context, clock: Clock, case: str
) -> None:
    three_year(grants, ctx)
    ledger.create_account("lab", ctx=ctx)
    if case != "unlinked":
        grants.link_account("NSF-2312345", "lab", ctx=ctx)
    if case == "closed":
        grants.update_grant("NSF-2312345", ctx=ctx, status="closed")
    if case == "no-period":
        clock.now = datetime(2028, 1, 1, tzinfo=UTC)
    if case == "closed-account":
        ledger.update_account("lab", ctx=ctx, status="closed")
    with pytest.raises(ConflictError):
        grants.fund_account("NSF-2312345", "lab", "10", ctx=ctx)
    assert count(ledger.db, GrantDraw) == 0
    assert ledger.get_account("lab").limit_amount == 0
    with pytest.raises(ValidationError) as caught:
        grants.fund_account("NSF-2312345", "lab", "0", ctx=ctx)
    assert caught.value.field == "amount"


def test_concurrent_draws_never_overcommit_a_period(
    grants: Grants, ledger: Ledger, ctx: Context
) -> None:
    three_year(grants, ctx, total_award="3900")  # 1000 direct a period
    ledger.create_account("lab", ctx=ctx)
    grants.link_account("NSF-2312345", "lab", ctx=ctx)
    outcomes: list[str] = []
    lock = threading.Lock()

    def draw() -> None:
        try:
            grants.fund_account("NSF-2312345", "lab", "150", ctx=ctx)
            result = "ok"
        except InsufficientFundsError:
            result = "short"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=draw) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["ok"] * 6 + ["short"] * 4
    assert ledger.get_account("lab").limit_amount == D(900)
    assert grants.period_status("NSF-2312345").drawn == D(900)
    assert verify_ledger(ledger.db).ok


def test_status_of_a_missing_period(grants: Grants, ctx: Context) -> None:
    three_year(grants, ctx)
    with pytest.raises(NotFoundError) as caught:
        grants.period_status("NSF-2312345", 9)
    assert caught.value.field == "period"
    with pytest.raises(NotFoundError) as caught:
        grants.period_status("NSF-2312345", today=date(2030, 1, 1))
    assert caught.value.field == "period"
    with pytest.raises(NotFoundError) as caught:
        grants.period_status("NOPE")
    assert caught.value.field == "grant"
    upcoming = grants.period_status("NSF-2312345", 3)
    assert (upcoming.state, upcoming.days_elapsed, upcoming.days_left) == ("upcoming", 0, 365)


def test_journal_rows_are_only_allocations(grants: Grants, ledger: Ledger, ctx: Context) -> None:
    three_year(grants, ctx)
    ledger.create_account("lab", ctx=ctx)
    grants.link_account("NSF-2312345", "lab", ctx=ctx)
    grants.fund_account("NSF-2312345", "lab", "1", ctx=ctx)
    kinds = ledger.db.read(lambda s: list(s.exec(select(JournalEntry.kind))))
    assert kinds == [EntryKind.ALLOCATION]
