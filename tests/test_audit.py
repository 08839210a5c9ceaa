"""The audit trail: every change that is not money leaves a row (who, when, from where, before
and after), append-only, readable with ``asbb audit list`` and ``GET /api/v1/audit``; on both
backends, through the real CLI and real HTTP."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from asbb_core.access.tokens import Tokens
from asbb_core.ledger import Ledger
from asbb_core.store import audit
from asbb_core.store.database import Database
from asbb_core.values.context import Context
from asbb_tui.cli import app
from tests.wire import loads


@pytest.fixture(autouse=True)
def isolated(cli_environment: Any) -> None:
    """No ASBB_* variables from the caller; an empty config file."""


def asbb(url: str, *args: str) -> Any:
    result = CliRunner().invoke(app, ["--database", url, *args])
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result


def test_account_changes_are_audited_with_before_and_after(
    migrated_url: str, ledger: Ledger, ctx: Context, db: Database
) -> None:
    ledger.create_account("physics", ctx=ctx, limit="100", description="old")
    ledger.update_account("physics", ctx=ctx, status="suspended", description="new")
    ledger.update_account("physics", ctx=ctx, status="suspended")  # no change: no row
    ledger.set_partition_limit("physics", "gpu-aws", "50", ctx=ctx)
    ledger.set_partition_limit("physics", "gpu-aws", None, ctx=ctx)

    events = audit.list_events(db, subject="account:physics").items
    assert [e.action for e in events] == [
        "partition_limit.remove",
        "partition_limit.set",
        "account.update",
        "account.create",
    ]
    update = events[2]
    assert update.before == {"description": "old", "status": "active"}
    assert update.after == {"description": "new", "status": "suspended"}
    assert (update.actor, str(update.source)) == (ctx.actor, str(ctx.source))
    assert events[1].after == {"partition": "gpu-aws", "limit": "50.00"}
    assert events[0].before == {"partition": "gpu-aws", "limit": "50.00"}
    assert events[0].after == {"partition": "gpu-aws", "limit": None}


def test_tokens_are_audited_without_their_secret(
    migrated_url: str, db: Database, act_as: Callable[[str], None]
) -> None:
    act_as("daemon")
    made = loads(asbb(migrated_url, "token", "create", "ops", "--role", "admin", "--json").stdout)
    asbb(migrated_url, "token", "revoke", "ops")
    listed = loads(asbb(migrated_url, "audit", "list", "--subject", "token", "--json").stdout)
    actions = [(e["action"], e["actor"], e["source"]) for e in listed["items"]]
    assert actions == [("token.revoke", "daemon", "cli"), ("token.create", "daemon", "cli")]
    assert made["secret"] not in json.dumps(listed)
    assert listed["items"][1]["after"]["role"] == "admin"


def test_the_audit_trail_is_append_only(ledger: Ledger, ctx: Context, db: Database) -> None:
    ledger.create_account("physics", ctx=ctx)
    for statement in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as conn:
            conn.execute(text(statement))
    assert len(audit.list_events(db).items) == 1


def test_a_failed_change_leaves_no_audit_row(ledger: Ledger, ctx: Context, db: Database) -> None:
    ledger.create_account("physics", ctx=ctx)
    ledger.update_account("physics", ctx=ctx, status="closed")
    with pytest.raises(Exception, match="cannot be reopened"):
        ledger.update_account("physics", ctx=ctx, status="active")
    assert [e.action for e in audit.list_events(db).items] == ["account.update", "account.create"]


def test_cli_filters_and_pages(migrated_url: str, ledger: Ledger, ctx: Context) -> None:
    for n in range(3):
        ledger.create_account(f"acct-{n}", ctx=ctx)
    first = loads(asbb(migrated_url, "audit", "list", "--limit", "2", "--json").stdout)
    assert [e["subject"] for e in first["items"]] == ["account:acct-2", "account:acct-1"]
    rest = loads(
        asbb(
            migrated_url, "audit", "list", "--before-id", str(first["next_before_id"]), "--json"
        ).stdout
    )
    assert [e["subject"] for e in rest["items"]] == ["account:acct-0"]
    assert rest["next_before_id"] is None
    table = asbb(migrated_url, "audit", "list", "--action", "account.create").stdout
    assert "acct-1" in table
    csv = asbb(migrated_url, "audit", "list", "--csv").stdout.splitlines()
    assert csv[0].startswith("id,at,actor,source,action,subject,before,after")


def test_api_lists_the_audit_trail_for_admins_only(
    live_daemon: Any, ledger: Ledger, ctx: Context, db: Database, clock: Any
) -> None:
    ledger.create_account("physics", ctx=ctx)
    Tokens(db, clock=clock).create("ops-2", "reader", actor="tests")
    with live_daemon.client("admin") as admin:
        page = admin.get("/api/v1/audit", params={"subject": "account"})
        assert [e["subject"] for e in page.json()] == ["account:physics"]
        assert page.json()[0]["at"].endswith("Z")  # an RFC 3339 time in UTC
        assert page.links == {}  # the only page: no next
        tokens = admin.get("/api/v1/audit", params={"action": "token.create"}).json()
        assert "token:ops-2" in {e["subject"] for e in tokens}
        # A cursor page: the next, older page is in the Link header, by before_id.
        first = admin.get("/api/v1/audit", params={"limit": 1})
        (newest,) = first.json()
        assert "x-total-count" not in first.headers
        older = admin.get(first.links["next"]["url"])
        assert older.status_code == 200, older.text
        (next_newest,) = older.json()
        assert next_newest["id"] < newest["id"]
        assert f"before_id={newest['id']}" in first.links["next"]["url"]
    with live_daemon.client("reader") as reader:
        assert reader.get("/api/v1/audit").status_code == 403
    with live_daemon.client(None) as anonymous:
        assert anonymous.get("/api/v1/audit").status_code == 401


def test_grant_and_schedule_changes_are_audited(ledger: Ledger, ctx: Context, db: Database) -> None:
    from datetime import date

    from asbb_core.funding.allocations import Allocations
    from asbb_core.funding.grants import Grants

    ledger.create_account("physics", ctx=ctx, limit="100")
    grants = Grants(ledger)
    grants.create_grant(
        "NSF-1",
        total_award="3000",
        start_date=date(2026, 1, 1),
        end_date=date(2027, 12, 31),
        indirect_rate="0.25",
        ctx=ctx,
        title="t",
    )
    grants.update_grant("NSF-1", ctx=ctx, title="Cloud genomics", pi="Ada")
    grants.set_period("NSF-1", 2, ctx=ctx, budget="1400")
    grants.link_account("NSF-1", "physics", ctx=ctx)
    grants.unlink_account("NSF-1", "physics", ctx=ctx)
    grants.regenerate_periods("NSF-1", 6, ctx=ctx)
    events = audit.list_events(db, subject="grant:NSF-1").items
    assert [e.action for e in events] == [
        "grant.regenerate_periods",
        "grant.unlink",
        "grant.link",
        "grant.period",
        "grant.update",
        "grant.create",
    ]
    assert events[4].before == {"title": "t", "pi": ""}
    assert events[4].after == {"title": "Cloud genomics", "pi": "Ada"}
    assert events[3].before == {"period": 2, "budget": "1500.00"}
    assert events[3].after == {"period": 2, "budget": "1400.00"}
    assert events[5].after["total_award"] == "3000.00"
    assert events[0].after == {"periods": 4, "period_months": 6}

    allocations = Allocations(ledger)
    schedule = allocations.create_schedule(
        "physics",
        ctx=ctx,
        amount="100",
        frequency="monthly",
        start_date=date(2030, 1, 1),
        instalments=3,
    )
    allocations.pause(schedule.id, ctx)
    allocations.resume(schedule.id, ctx)
    allocations.cancel(schedule.id, ctx)
    events = audit.list_events(db, subject=f"schedule:{schedule.id}").items
    assert [e.action for e in events] == [
        "schedule.cancel",
        "schedule.resume",
        "schedule.pause",
        "schedule.create",
    ]
    assert events[0].before == {"status": "active"}
    assert events[0].after == {"status": "cancelled"}
    assert events[3].after["amount"] == "100.00"
    assert events[3].after["account"] == "physics"
