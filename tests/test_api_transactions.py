"""The journal over real HTTP: filters, keyset paging, one entry, reader scope."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import httpx
import pytest

from asbb_core.access.tokens import Tokens
from tests.wire import D


@pytest.fixture
def history(ledger, ctx, clock):
    """Three days of movements on two accounts; returns the hold id of alpha's job j1."""
    ledger.create_account("alpha", ctx=ctx, limit="100")  # 03-02: deposit
    ledger.create_account("beta", ctx=ctx, limit="50")  # 03-02: deposit
    clock.advance(timedelta(days=1))  # 03-03
    hold = ledger.create_hold(
        "alpha", "10", ctx=ctx, partition="aws-cpu", job_id="101", user_name="ann"
    )  # hold 12.00
    ledger.post_hold(hold.hold_id, "7.25", ctx=ctx)  # charge 7.25, release 4.75
    clock.advance(timedelta(days=1))  # 03-04
    ledger.transfer("alpha", "beta", "10", ctx=ctx, reason="share")  # two transfer rows
    ledger.deposit("beta", "5", ctx=ctx, memo="top-up")
    return hold.hold_id


@pytest.fixture
def admin(live_daemon):
    with live_daemon.client("admin") as client:
        yield client


def listing(client, **params):
    """One page of the journal: its rows (a JSON array) and the ``before_id`` of the next,
    older page, from its ``Link`` header (None on the last page)."""
    reply = client.get("/api/v1/transactions", params=params)
    assert reply.status_code == 200, reply.text
    rows = reply.json()
    assert isinstance(rows, list), rows
    assert "x-total-count" not in reply.headers  # a cursor page does not count its rows
    if "next" not in reply.links:
        assert set(reply.links) == set(), reply.links
        return rows, None
    query = httpx.URL(reply.links["next"]["url"]).params
    # The next page is the same request, filters and page size kept, older rows only.
    assert {k: v for k, v in query.items() if k != "before_id"} == {
        k: str(v) for k, v in params.items() if k != "before_id"
    }
    return rows, int(query["before_id"])


def kinds(client, **params):
    return [(e["account"], e["type"]) for e in listing(client, **params)[0]]


def test_newest_first_with_every_field(admin, ledger, history):
    items, next_before_id = listing(admin)
    assert next_before_id is None
    assert [(e["account"], e["type"], e["amount"]) for e in items] == [
        ("beta", "deposit", D("5.00")),
        ("beta", "transfer", D("10.00")),
        ("alpha", "transfer", D("10.00")),
        ("alpha", "release", D("4.75")),
        ("alpha", "charge", D("7.25")),
        ("alpha", "hold", D("12.00")),
        ("beta", "deposit", D("50.00")),
        ("alpha", "deposit", D("100.00")),
    ]
    ids = [e["id"] for e in items]
    assert ids == sorted(ids, reverse=True)
    assert ids == [e.id for e in ledger.journal()]
    charge = items[4]
    unstable = ("id", "correlation_id", "account_id", "transaction_id")
    assert {k: v for k, v in charge.items() if k not in unstable} == {
        "account": "alpha",
        "type": "charge",
        "amount": D("7.25"),
        "limit_delta": D("0.00"),
        "used_delta": D("7.25"),
        "held_delta": D("-7.25"),
        "partition": "aws-cpu",
        "hold_id": history,
        "job_id": "101",
        "user": "ann",
        "counterparty": None,
        "overrun": False,
        "actor": "test-admin",
        "source": "cli",
        "memo": "",
        "job_metadata": {},
        "metadata": "{}",  # the original's: the same, as JSON text
        "created_at": "2026-03-03T12:00:00Z",
        "parent_transaction_id": history,
        "description": "",
        "status": "completed",
        "completed_at": "2026-03-03T12:00:00Z",
    }
    assert charge["transaction_id"] == str(charge["id"])
    outgoing = items[2]
    assert (outgoing["limit_delta"], outgoing["counterparty"]) == (D("-10.00"), "beta")
    shown = admin.get(f"/api/v1/transactions/{charge['id']}")
    assert shown.json() == charge
    assert '"held_delta":-7.25,' in shown.text  # a signed number, to the cent


def test_filters(admin, history):
    assert kinds(admin, account="beta") == [
        ("beta", "deposit"),
        ("beta", "transfer"),
        ("beta", "deposit"),
    ]
    assert kinds(admin, account="BETA", type="deposit") == [("beta", "deposit")] * 2
    assert kinds(admin, type="transfer") == [("beta", "transfer"), ("alpha", "transfer")]
    assert kinds(admin, job_id="101") == [
        ("alpha", "release"),
        ("alpha", "charge"),
        ("alpha", "hold"),
    ]
    assert kinds(admin, hold_id=history, type="charge") == [("alpha", "charge")]
    assert kinds(admin, job_id="999999") == []
    assert kinds(admin, account="ghost") == []
    # A date as `until` includes that whole day; a datetime is an exclusive bound.
    day_two = kinds(admin, since="2026-03-03", until="2026-03-03")
    assert day_two == [("alpha", "release"), ("alpha", "charge"), ("alpha", "hold")]
    assert len(kinds(admin, since="2026-03-03T12:00:00Z")) == 6
    assert len(kinds(admin, until="2026-03-03T12:00:00+00:00")) == 2
    assert len(kinds(admin, since="2026-03-04T11:00:00")) == 3
    assert len(kinds(admin, until="2026-03-04T07:00:00-05:00")) == 5


def test_cursor_walks_to_the_end(admin, ledger, history):
    seen, before, pages = [], None, 0
    while True:
        params = {"limit": 3, **({"before_id": before} if before else {})}
        items, before = listing(admin, **params)
        pages += 1
        seen += [e["id"] for e in items]
        if before is None:
            break
        assert before == items[-1]["id"]
    assert pages == 3
    assert seen == [e.id for e in ledger.journal()]
    # Exactly a page's worth left: the page that takes it says it is the end.
    exact, after = listing(admin, limit=2, before_id=seen[-2])
    assert ([e["id"] for e in exact], after) == ([seen[-1]], None)
    filtered, after = listing(admin, account="alpha", limit=4)
    assert len(filtered) == 4
    rest, end = listing(admin, account="alpha", limit=4, before_id=after)
    assert (len(rest), end) == (1, None)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"type": "payout"}, "type"),
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-13-01"}, "until"),
        ({"since": "2026-03-04", "until": "2026-03-03T00:00:00Z"}, "until"),
        ({"before_id": 0}, "before_id"),
        ({"before_id": 2**70}, "before_id"),
        ({"limit": 0}, "limit"),
        ({"limit": 501}, "limit"),
        ({"account": "bad name!"}, "account"),
        ({"kind": "charge"}, "kind"),
    ],
)
def test_bad_filters_name_the_field(admin, history, params, field):
    reply = admin.get("/api/v1/transactions", params=params)
    assert reply.status_code == 422, reply.text
    assert reply.json()["error"]["field"] == field


def test_one_entry_not_found_or_bad_id(admin, history):
    reply = admin.get("/api/v1/transactions/999999")
    assert (reply.status_code, reply.json()["error"]["field"]) == (404, "id")
    reply = admin.get("/api/v1/transactions/abc")
    assert (reply.status_code, reply.json()["error"]["field"]) == (422, "entry_id")


def test_reader_scope(live_daemon, ledger, history, db, clock):
    live_daemon.tokens["scoped"] = (
        Tokens(db, clock=clock).create("scoped", "reader", actor="t", accounts=["beta"]).secret
    )
    with live_daemon.client("scoped") as reader:
        assert {a for a, _ in kinds(reader)} == {"beta"}
        assert len(kinds(reader)) == 3
        assert len(kinds(reader, account="beta")) == 3
        denied = reader.get("/api/v1/transactions", params={"account": "alpha"})
        assert (denied.status_code, denied.json()["error"]["field"]) == (403, "account")
        alpha_row = ledger.journal(account="alpha")[0].id
        assert reader.get(f"/api/v1/transactions/{alpha_row}").status_code == 403
        beta_row = ledger.journal(account="beta")[0].id
        assert reader.get(f"/api/v1/transactions/{beta_row}").json()["amount"] == D("5.00")
        # The cursor stays within the scope.
        _, after = listing(reader, limit=2)
        rest, end = listing(reader, limit=2, before_id=after)
        assert ([e["account"] for e in rest], end) == (["beta"], None)
    with live_daemon.client("reader") as unscoped:
        assert len(kinds(unscoped)) == 8
    with live_daemon.client("plugin") as plugin:
        assert plugin.get("/api/v1/transactions").status_code == 403
    with live_daemon.client(None) as anonymous:
        assert anonymous.get("/api/v1/transactions").status_code == 401
    assert ledger.get_account("beta").limit_amount == Decimal("65")


def test_a_single_valued_query_parameter_given_twice_is_refused(live_daemon):
    with live_daemon.client("admin") as admin:
        reply = admin.get("/api/v1/transactions?until=2026-01-01&until=2026-02-01")
    assert reply.status_code == 422
    assert reply.json()["error"]["field"] == "until"
    assert "more than once" in reply.json()["error"]["message"]
