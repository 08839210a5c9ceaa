"""POST /api/v1/budget/quote over real HTTP: what /budget/check would hold, writing nothing."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlmodel import func, select

from asbb_core.access.tokens import Tokens
from asbb_core.ledger.verify import verify_ledger
from asbb_core.store.models import Hold, IdempotencyRecord, JournalEntry

QUOTE = "/api/v1/budget/quote"
CHECK = "/api/v1/budget/check"


@pytest.fixture
def plugin(live_daemon, ledger, ctx):
    ledger.create_account("ml-proj", ctx=ctx, limit="1000")
    with live_daemon.client("plugin") as client:
        yield client
    report = verify_ledger(ledger.db)
    assert report.ok, [str(p) for p in report.problems]


def writes(db) -> tuple[int, int, int]:
    """Rows in the journal, the holds and the idempotency records."""

    def count(model: Any) -> int:
        return db.read(lambda s: s.exec(select(func.count()).select_from(model)).one())

    return count(JournalEntry), count(Hold), count(IdempotencyRecord)


def job(**fields: Any) -> dict[str, Any]:
    body = {"account": "ml-proj", "partition": "aws-cpu", "cpus": 16, "wall_time": "02:00:00"}
    body.update(fields)
    return body


def ask(client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    reply = client.post(path, json=body)
    assert reply.status_code == 200, reply.text
    return reply.json()


@pytest.mark.parametrize(
    "shape",
    [
        {},
        {"partition": None},  # the default partition
        {"partition": "gpu-aws", "nodes": 2, "cpus": 8, "gpus": 3, "memory": "64G"},
        {"cpus": 3, "wall_time": "1-01:07:13", "array_size": 7},
        {"cpus": 1, "wall_time": 7},  # minutes; a price with more than two decimals
    ],
    ids=["cpu", "default-partition", "gpu", "array", "odd-cents"],
)
def test_quote_is_what_check_then_holds(plugin, ledger, shape):
    body = job(**shape)
    before = writes(ledger.db)
    quote = ask(plugin, QUOTE, body)
    assert writes(ledger.db) == before
    assert quote["would_accept"] is True
    check = ask(plugin, CHECK, body)
    hold = ledger.get_hold(check["transaction_id"])
    assert Decimal(quote["hold_amount"]) == hold.amount == Decimal(check["hold_amount"])
    assert quote["estimated_cost"] == check["estimated_cost"]
    assert quote["budget_remaining"] == check["budget_remaining"]
    assert quote["details"]["partition"] == check["details"]["partition"] == hold.partition
    assert quote["details"]["breakdown"] == check["details"]["breakdown"]
    assert Decimal(check["budget_remaining"]) == ledger.get_account("ml-proj").available


def test_figures_of_a_quote(plugin, ledger, ctx):
    ledger.create_hold("ml-proj", "100", ctx=ctx, partition="aws-cpu")  # held 120.00
    quote = ask(plugin, QUOTE, job())
    # 16 CPUs x $0.05 x 2 h = $1.60, held x 1.2 = $1.92, of the 880.00 left
    assert (quote["estimated_cost"], quote["hold_amount"], quote["budget_remaining"]) == (
        Decimal("1.60"),
        Decimal("1.92"),
        Decimal("878.08"),
    )
    assert quote["message"] == "would hold 1.92 for an estimated 1.60"
    assert quote["details"]["account"] == "ml-proj"
    assert quote["details"]["buffer"] == "1.2"


def test_over_budget_is_refused_like_check(plugin, ledger, ctx):
    ledger.create_account("tiny", ctx=ctx, limit="1")
    before = writes(ledger.db)
    quote = ask(plugin, QUOTE, job(account="tiny"))
    assert writes(ledger.db) == before
    check = ask(plugin, CHECK, job(account="tiny"))
    assert writes(ledger.db) == before  # a refused check writes nothing either
    assert quote["would_accept"] is False
    assert check["available"] is False
    assert (
        quote["message"]
        == check["message"]
        == ("account tiny has $1.00 available; this job needs an estimated $1.92 hold on aws-cpu")
    )
    assert (quote["hold_amount"], quote["budget_remaining"]) == (Decimal("1.92"), Decimal("1.00"))
    assert (quote["hold_amount"], quote["budget_remaining"]) == (
        check["hold_amount"],
        check["budget_remaining"],
    )
    assert quote["details"]["reason"] == "insufficient_funds"
    assert quote["details"]["limit"] == "account"


def test_exactly_enough_is_accepted(plugin, ledger, ctx):
    ledger.create_account("exact", ctx=ctx, limit="1.92")
    quote = ask(plugin, QUOTE, job(account="exact"))
    assert (quote["would_accept"], quote["budget_remaining"]) == (True, Decimal("0.00"))
    check = ask(plugin, CHECK, job(account="exact"))
    assert check["available"] is True
    # now the account is spent: one cent more is refused by both
    again = ask(plugin, QUOTE, job(account="exact", wall_time="00:01:00"))
    assert again["would_accept"] is False
    assert ask(plugin, CHECK, job(account="exact", wall_time="00:01:00"))["available"] is False


def test_partition_limit_refuses_like_check(plugin, ledger, ctx):
    ledger.set_partition_limit("ml-proj", "aws-cpu", "1.50", ctx=ctx)
    quote = ask(plugin, QUOTE, job())
    check = ask(plugin, CHECK, job())
    assert quote["would_accept"] is False
    assert check["available"] is False
    assert quote["message"] == check["message"]
    assert "partition aws-cpu of account ml-proj has $1.50 available" in quote["message"]
    assert quote["details"]["limit"] == check["details"]["limit"] == "partition"
    assert quote["budget_remaining"] == check["budget_remaining"] == Decimal("1.50")
    # another partition of the same account is not limited
    assert ask(plugin, QUOTE, job(partition="gpu-aws"))["would_accept"] is True


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"status": "suspended"}, "is suspended"),
        ({"end_date_days": -1}, "ended on"),
        ({"start_date_days": 3}, "opens on"),
    ],
    ids=["suspended", "ended", "not-yet-open"],
)
def test_inactive_account_is_refused_like_check(plugin, ledger, ctx, clock, change, words):
    today = clock().date()
    if "status" in change:
        ledger.update_account("ml-proj", ctx=ctx, status=change["status"])
    elif "end_date_days" in change:
        start = today - timedelta(days=30)
        end = today + timedelta(days=change["end_date_days"])
        ledger.update_account("ml-proj", ctx=ctx, start_date=start, end_date=end)
    else:
        ledger.update_account(
            "ml-proj", ctx=ctx, start_date=today + timedelta(days=change["start_date_days"])
        )
    before = writes(ledger.db)
    quote = ask(plugin, QUOTE, job())
    check = ask(plugin, CHECK, job())
    assert writes(ledger.db) == before
    assert quote["would_accept"] is False
    assert check["available"] is False
    assert quote["message"] == check["message"]
    assert words in quote["message"]
    assert quote["details"]["reason"] == "account_inactive"
    assert quote["hold_amount"] == Decimal(
        "1.92"
    )  # what the hold would be, had the account been open


def test_unbudgeted_partition_is_accepted_without_a_hold(plugin):
    quote = ask(plugin, QUOTE, job(partition="local", account="not-even-an-account"))
    assert quote["would_accept"] is True
    assert (quote["hold_amount"], quote["budget_remaining"]) == (Decimal("0.00"), None)
    assert quote["message"] == "partition local is not budgeted"


def test_unknown_account_is_404_naming_the_field(plugin, ledger):
    before = writes(ledger.db)
    reply = plugin.post(QUOTE, json=job(account="ghost"))
    assert reply.status_code == 404
    error = reply.json()["error"]
    assert (error["code"], error["field"]) == ("not_found", "account")
    assert "ghost" in error["message"]
    assert writes(ledger.db) == before


def test_bad_shape_is_422_naming_the_field(plugin):
    reply = plugin.post(QUOTE, json=job(wall_time="soon"))
    assert reply.status_code == 422
    assert reply.json()["error"]["field"] == "wall_time"


def test_every_role_may_quote_a_scoped_reader_only_its_accounts(live_daemon, ledger, ctx, clock):
    ledger.create_account("ml-proj", ctx=ctx, limit="1000")
    ledger.create_account("physics", ctx=ctx, limit="1000")
    for role in ("admin", "reader", "plugin"):
        with live_daemon.client(role) as client:
            assert ask(client, QUOTE, job())["would_accept"] is True
    scoped = Tokens(ledger.db, clock=clock).create(
        "ml-reader", "reader", actor="tests", accounts=["ml-proj"]
    )
    headers = {"Authorization": f"Bearer {scoped.secret}"}
    with httpx.Client(base_url=live_daemon.url, headers=headers, timeout=30) as client:
        assert ask(client, QUOTE, job())["would_accept"] is True
        refused = client.post(QUOTE, json=job(account="physics"))
        assert refused.status_code == 403
        assert refused.json()["error"]["field"] == "account"
    with live_daemon.client(None) as anonymous:
        assert anonymous.post(QUOTE, json=job()).status_code == 401


def test_quote_hold_decides_as_create_hold_does(ledger, ctx):
    """The ledger's quote and hold agree on a ladder of amounts around the boundary."""
    ledger.create_account("edge", ctx=ctx, limit="10.00")
    ledger.set_partition_limit("edge", "gpu-aws", "6.00", ctx=ctx)
    outcomes = set()
    for estimate in ("4.9", "5.0", "5.0001", "5.01", "8.3333", "8.34"):
        for partition in (None, "aws-cpu", "gpu-aws"):
            quote = ledger.quote_hold("edge", estimate, partition=partition)
            before = writes(ledger.db)
            outcomes.add(quote.refusal.details.get("limit") if quote.refusal else "accepted")
            if quote.refusal is not None:  # create_hold raises the very same error
                with pytest.raises(type(quote.refusal), match=re.escape(quote.refusal.message)):
                    ledger.create_hold("edge", estimate, ctx=ctx, partition=partition)
                assert writes(ledger.db) == before
                continue
            hold = ledger.create_hold("edge", estimate, ctx=ctx, partition=partition)
            assert (quote.amount, quote.available_after) == (hold.amount, hold.available_after)
            ledger.void_hold(hold.hold_id, ctx=ctx)
    assert outcomes == {"accepted", "account", "partition"}
