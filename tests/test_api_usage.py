"""The usage summary over real HTTP, checked against a hand computation to the cent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from asbb_core.access.tokens import Tokens
from asbb_core.analytics.usage import usage_summary


@pytest.fixture
def charges(ledger, ctx, clock):
    """Charges on two days (UTC), two accounts, partitions and users.

    03-02  alpha aws-cpu ann  job 1: 7.25
           alpha gpu-aws bob  job 2: 8.10 (6.00 held, so 6.00 + a 2.10 overrun)
    03-03  beta  aws-cpu ann  job 3, an array of 3 tasks: 1.00 + 1.10 + 0.95
           beta  (none) (none) job 6: 0.50
           alpha aws-cpu ann  job 4: 0.01 (at 23:59 UTC)
    03-03  alpha (none) a 1.00 usage refund: spend nets it, as the accounts' used totals do
    Not spend: an open hold (job 5), a voided hold, deposits.
    """
    ledger.create_account("alpha", ctx=ctx, limit="1000")
    ledger.create_account("beta", ctx=ctx, limit="1000")

    def job(account, estimate, costs, *, partition="aws-cpu", user="ann", job_id=None):
        hold = ledger.create_hold(
            account,
            estimate,
            ctx=ctx,
            partition=partition,
            user_name=user,
            job_id=job_id,
            task_count=len(costs) or 1,
        )
        for task, cost in enumerate(costs):
            ledger.post_hold(hold.hold_id, cost, ctx=ctx, job_id=f"{job_id}_{task}")
        return hold.hold_id

    job("alpha", "10", ["7.25"], job_id="1")
    job("alpha", "5", ["8.10"], partition="gpu-aws", user="bob", job_id="2")
    clock.advance(timedelta(days=1))
    job("beta", "3", ["1.00", "1.10", "0.95"], job_id="3")
    job("beta", "1", ["0.50"], partition=None, user=None, job_id="6")
    job("alpha", "2", [], job_id="5")
    voided = job("alpha", "2", [], job_id="7")
    ledger.void_hold(voided, ctx=ctx)
    ledger.adjust("alpha", "-1.00", ctx=ctx, reason="refund", target="used")
    clock.now = datetime(2026, 3, 3, 23, 59, tzinfo=UTC)
    job("alpha", "0.01", ["0.01"], job_id="4")
    return ledger


@pytest.fixture
def admin(live_daemon):
    with live_daemon.client("admin") as client:
        yield client


def summary(client, **params):
    reply = client.get("/api/v1/usage/summary", params=params)
    assert reply.status_code == 200, reply.text
    return reply.json()


def cents(value):
    """A money figure of the wire, as its exact text: a JSON number read as a Decimal, so
    "14.36" here means the body held the number 14.36, to the digit."""
    assert isinstance(value, Decimal), value
    return str(value)


def groups(body):
    return [
        (g["key"], cents(g["charged"]), g["jobs"], g["charges"], cents(g["average_per_job"]))
        for g in body["groups"]
    ]


def totals(body):
    return (cents(body["charged"]), body["jobs"], body["charges"], cents(body["average_per_job"]))


def test_by_account_matches_the_hand_computation_and_the_database(admin, charges):
    body = summary(admin)
    assert body["group_by"] == "account"
    assert groups(body) == [
        ("alpha", "14.36", 3, 4, "4.79"),  # 15.36 charged less the 1.00 refund
        ("beta", "3.55", 2, 4, "1.78"),  # 1.775 rounds half-even to 1.78
    ]
    assert totals(body) == ("17.91", 5, 8, "3.58")  # 17.91 / 5 = 3.582
    # The database agrees: used = charges less the 1.00 refund.
    assert charges.get_account("alpha").used_amount == Decimal("14.36")
    assert charges.get_account("beta").used_amount == Decimal("3.55")
    charged_rows = [e.amount for e in charges.journal(limit=1000) if e.kind == "charge"]
    assert sum(charged_rows) == Decimal("18.91")


def test_by_partition_user_and_day(admin, charges):
    assert groups(summary(admin, group_by="partition")) == [
        ("aws-cpu", "10.31", 3, 5, "3.44"),
        ("gpu-aws", "8.10", 1, 2, "8.10"),
        (None, "-0.50", 1, 1, "-0.50"),  # job 6's 0.50 and the 1.00 refund
    ]
    assert groups(summary(admin, group_by="user")) == [
        ("ann", "10.31", 3, 5, "3.44"),
        ("bob", "8.10", 1, 2, "8.10"),
        (None, "-0.50", 1, 1, "-0.50"),
    ]
    by_day = summary(admin, group_by="day")
    assert groups(by_day) == [
        ("2026-03-02", "15.35", 2, 3, "7.68"),  # 7.675 rounds half-even to 7.68
        ("2026-03-03", "2.56", 3, 5, "0.85"),
    ]
    assert totals(by_day) == ("17.91", 5, 8, "3.58")


def test_filters(admin, charges):
    alpha = summary(admin, account="ALPHA", group_by="partition")
    assert alpha["account"] == "alpha"
    assert groups(alpha) == [
        ("aws-cpu", "7.26", 2, 2, "3.63"),
        ("gpu-aws", "8.10", 1, 2, "8.10"),
        (None, "-1.00", 0, 0, "0.00"),  # the refund: spend, but no job
    ]
    assert totals(summary(admin, since="2026-03-03")) == ("2.56", 3, 5, "0.85")
    assert totals(summary(admin, until="2026-03-02")) == ("15.35", 2, 3, "7.68")
    late = summary(admin, since="2026-03-03T23:00:00Z", until="2026-03-04T00:00:00Z")
    assert groups(late) == [("alpha", "0.01", 1, 1, "0.01")]
    assert late["since"] == "2026-03-03T23:00:00Z"
    empty = summary(admin, account="ghost")
    assert (groups(empty), totals(empty)) == ([], ("0.00", 0, 0, "0.00"))


def test_core_returns_decimals(charges):
    result = usage_summary(charges.db, group_by="user")
    assert result.charged == Decimal("17.91")
    assert all(isinstance(g.charged, Decimal) for g in result.groups)
    assert result.groups[0].average_per_job == Decimal("3.44")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"group_by": "week"}, "group_by"),
        ({"since": "last week"}, "since"),
        ({"until": "2026-02-30"}, "until"),
        ({"since": "2026-03-03", "until": "2026-03-02T00:00:00Z"}, "until"),
        ({"account": "no such!"}, "account"),
        ({"group": "day"}, "group"),
    ],
)
def test_bad_parameters_name_the_field(admin, params, field):
    reply = admin.get("/api/v1/usage/summary", params=params)
    assert reply.status_code == 422, reply.text
    assert reply.json()["error"]["field"] == field


def test_reader_scope(live_daemon, charges, db, clock):
    live_daemon.tokens["scoped"] = (
        Tokens(db, clock=clock).create("scoped", "reader", actor="t", accounts=["beta"]).secret
    )
    with live_daemon.client("scoped") as reader:
        body = summary(reader)
        assert groups(body) == [("beta", "3.55", 2, 4, "1.78")]
        assert totals(body) == ("3.55", 2, 4, "1.78")
        assert summary(reader, group_by="user")["charged"] == Decimal("3.55")
        denied = reader.get("/api/v1/usage/summary", params={"account": "alpha"})
        assert (denied.status_code, denied.json()["error"]["field"]) == (403, "account")
    with live_daemon.client("reader") as unscoped:
        assert summary(unscoped)["charged"] == Decimal("17.91")
    with live_daemon.client(None) as anonymous:
        assert anonymous.get("/api/v1/usage/summary").status_code == 401
