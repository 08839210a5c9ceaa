"""Holds over real HTTP: list (open by default), filters, paging, show, void (admin)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import httpx
import pytest

from asbb_core.access.tokens import Tokens
from asbb_core.ledger.verify import verify_ledger
from tests.wire import D, rows_and_total


@pytest.fixture
def holds(ledger, ctx, clock):
    """alpha: open j1, open j2 (newer), posted j3; beta: voided j4, open j5."""
    ledger.create_account("alpha", ctx=ctx, limit="100")
    ledger.create_account("beta", ctx=ctx, limit="100")
    made = {}
    for job, account in [("101", "alpha"), ("102", "alpha"), ("103", "alpha"), ("104", "beta")]:
        made[job] = ledger.create_hold(
            account, "10", ctx=ctx, partition="aws-cpu", job_id=job, user_name="ann"
        ).hold_id
        clock.advance(timedelta(minutes=1))
    made["105"] = ledger.create_hold("beta", "5", ctx=ctx, job_id="105").hold_id
    ledger.post_hold(made["103"], "9", ctx=ctx)
    ledger.void_hold(made["104"], ctx=ctx, reason="cancelled")
    return made


@pytest.fixture
def admin(live_daemon, ledger):
    with live_daemon.client("admin") as client:
        yield client
    report = verify_ledger(ledger.db)
    assert report.ok, [str(p) for p in report.problems]


def jobs(client, **params):
    rows, _ = rows_and_total(client.get("/api/v1/holds", params=params))
    return [h["job_id"] for h in rows]


def test_list_filters_and_pages(admin, holds):
    assert jobs(admin) == ["105", "102", "101"]
    assert jobs(admin, state="all") == ["105", "104", "103", "102", "101"]
    assert jobs(admin, state="posted") == ["103"]
    assert jobs(admin, state="voided", account="beta") == ["104"]
    assert jobs(admin, account="alpha") == ["102", "101"]
    assert jobs(admin, job_id="104") == []
    assert jobs(admin, job_id="104", state="all") == ["104"]
    page = admin.get("/api/v1/holds", params={"state": "all", "limit": 2, "offset": 2})
    rows, total = rows_and_total(page)
    assert ([h["job_id"] for h in rows], total) == (["103", "102"], 5)
    # The other pages keep the filter and the page size.
    assert {rel: dict(httpx.URL(link["url"]).params) for rel, link in page.links.items()} == {
        "first": {"state": "all", "limit": "2", "offset": "0"},
        "prev": {"state": "all", "limit": "2", "offset": "0"},
        "next": {"state": "all", "limit": "2", "offset": "4"},
        "last": {"state": "all", "limit": "2", "offset": "4"},
    }
    end = admin.get("/api/v1/holds", params={"state": "all", "limit": 2, "offset": 4})
    rows, total = rows_and_total(end)
    assert ([h["job_id"] for h in rows], total) == (["101"], 5)
    assert "next" not in end.links
    assert rows_and_total(admin.get("/api/v1/holds", params={"account": "alpha"}))[1] == 2


def test_show_a_hold(admin, holds):
    body = admin.get(f"/api/v1/holds/{holds['103']}").json()
    assert {
        k: body[k]
        for k in (
            "id",
            "account",
            "partition",
            "user",
            "job_id",
            "state",
            "estimate",
            "buffer",
            "amount",
            "remaining",
            "charged",
            "released",
            "task_count",
            "tasks_posted",
            "estimate_source",
            "source",
            "actor",
        )
    } == {
        "id": holds["103"],
        "account": "alpha",
        "partition": "aws-cpu",
        "user": "ann",
        "job_id": "103",
        "state": "posted",
        "estimate": D("10.0000"),
        "buffer": D("1.2"),
        "amount": D("12.00"),
        "remaining": D("0.00"),
        "charged": D("9.00"),
        "released": D("3.00"),
        "task_count": 1,
        "tasks_posted": 1,
        "estimate_source": "local",
        "source": "cli",
        "actor": "test-admin",
    }
    # Written to the digit: a 4-place estimate, the buffer as configured, money to the cent.
    exact = ("estimate", "buffer", "amount", "remaining", "charged", "released")
    assert [str(body[k]) for k in exact] == ["10.0000", "1.2", "12.00", "0.00", "9.00", "3.00"]
    assert body["resolved_at"] is not None
    assert body["created_at"] == "2026-03-02T12:02:00Z"
    missing = admin.get("/api/v1/holds/hnope")
    assert (missing.status_code, missing.json()["error"]["field"]) == (404, "hold_id")


@pytest.mark.single_admin
def test_void_via_the_api_then_again_is_409(admin, ledger, holds):
    reply = admin.post(f"/api/v1/holds/{holds['101']}/void", json={"reason": "job deleted"})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert (body["released"], body["hold"]["state"], body["hold"]["remaining"]) == (
        D("12.00"),
        "voided",
        D("0.00"),
    )
    hold = ledger.get_hold(holds["101"])
    assert (hold.state, hold.released, hold.actor) == ("voided", Decimal("12.00"), "test-admin")
    account = ledger.get_account("alpha")
    assert (account.held_amount, account.used_amount) == (Decimal("12.00"), Decimal("9.00"))
    release = ledger.journal(hold_id=holds["101"])[0]
    assert (release.kind, release.memo, release.source) == ("release", "job deleted", "api")
    again = admin.post(f"/api/v1/holds/{holds['101']}/void", json={"reason": "job deleted"})
    assert again.status_code == 409
    error = again.json()["error"]
    assert (error["code"], error["field"], error["details"]["state"]) == (
        "hold_resolved",
        "hold_id",
        "voided",
    )
    # No body at all is fine too.
    assert admin.post(f"/api/v1/holds/{holds['102']}/void").status_code == 200
    assert ledger.get_account("alpha").held_amount == 0
    assert jobs(admin, account="alpha") == []


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "field"),
    [
        ("get", "/api/v1/holds?state=pending", None, 422, "state"),
        ("get", "/api/v1/holds?limit=0", None, 422, "limit"),
        ("get", "/api/v1/holds?offset=-3", None, 422, "offset"),
        ("get", "/api/v1/holds?sate=all", None, 422, "sate"),
        ("get", "/api/v1/holds?account=Bad!", None, 422, "account"),
        ("post", "/api/v1/holds/hnope/void", {}, 404, "hold_id"),
        ("post", "/api/v1/holds/HOLD/void", {"reason": "x" * 501}, 422, "reason"),
        ("post", "/api/v1/holds/HOLD/void", {"why": "x"}, 422, "why"),
        ("get", "/api/v1/holds/" + "h" * 41, None, 422, "hold_id"),
    ],
)
def test_bad_input(admin, ledger, holds, method, path, body, status, field):
    path = path.replace("HOLD", holds["101"])
    reply = admin.request(method, path, json=body)
    assert reply.status_code == status, reply.text
    assert reply.json()["error"]["field"] == field
    assert ledger.get_hold(holds["101"]).state == "open"


def test_only_admins_void_and_readers_see_their_accounts(live_daemon, ledger, holds, db, clock):
    for role in ("plugin", "reader"):
        with live_daemon.client(role) as client:
            reply = client.post(f"/api/v1/holds/{holds['101']}/void", json={})
            assert reply.status_code == 403
    with live_daemon.client("reader") as client:
        assert jobs(client) == ["105", "102", "101"]
    with live_daemon.client("plugin") as client:
        # Plugin tokens only check, reconcile and ingest.
        assert client.get("/api/v1/holds").status_code == 403
    assert ledger.get_hold(holds["101"]).state == "open"
    live_daemon.tokens["scoped"] = (
        Tokens(db, clock=clock).create("scoped", "reader", actor="t", accounts=["beta"]).secret
    )
    with live_daemon.client("scoped") as reader:
        assert jobs(reader, state="all") == ["105", "104"]
        assert rows_and_total(reader.get("/api/v1/holds", params={"state": "all"}))[1] == 2
        assert reader.get(f"/api/v1/holds/{holds['105']}").status_code == 200
        denied = reader.get(f"/api/v1/holds/{holds['101']}")
        assert (denied.status_code, denied.json()["error"]["field"]) == (403, "account")
        assert reader.get("/api/v1/holds", params={"account": "alpha"}).status_code == 403
    with live_daemon.client(None) as anonymous:
        assert anonymous.get("/api/v1/holds").status_code == 401
