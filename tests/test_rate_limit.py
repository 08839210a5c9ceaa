"""Write requests are rate limited per token; reads and (by default) the plugin are not."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from asbb_core.access.tokens import Tokens
from asbb_core.ledger import Ledger
from asbb_core.settings import Settings
from asbb_core.store.database import Database
from tests.conftest import Clock, serve_in_thread

CHECK = "/api/v1/budget/check"
# 16 CPUs x $0.05 x 2 h = $1.60 estimated; $1.92 held
JOB = {"account": "ml-proj", "partition": "aws-cpu", "cpus": 16, "wall_time": "02:00:00"}

Serve = Callable[..., dict[str, httpx.Client]]


@pytest.fixture
def serve(
    db: Database, settings: Settings, clock: Clock, ledger: Ledger, ctx: Any
) -> Iterator[Serve]:
    """Start a daemon whose ``daemon`` settings are changed as given; one client per token."""
    from daemon.app import create_app

    ledger.create_account("ml-proj", ctx=ctx, limit="1000")
    stops: list[Callable[[], None]] = []
    clients: list[httpx.Client] = []

    def start(**daemon: Any) -> dict[str, httpx.Client]:
        changed = settings.model_copy(update={"daemon": settings.daemon.model_copy(update=daemon)})
        url, stop = serve_in_thread(create_app(changed, db=db, clock=clock))
        stops.append(stop)
        tokens = Tokens(db, clock=clock)
        made: dict[str, httpx.Client] = {}
        for name, role in (
            ("admin", "admin"),
            ("admin-2", "admin"),
            ("plugin", "plugin"),
            ("reader", "reader"),
        ):
            secret = tokens.create(f"{name}-{len(stops)}", role, actor="tests").secret
            made[name] = httpx.Client(
                base_url=url, headers={"Authorization": f"Bearer {secret}"}, timeout=30
            )
        clients.extend(made.values())
        return made

    yield start
    for client in clients:
        client.close()
    for stop in stops:
        stop()


def test_fourth_admin_write_in_a_row_is_429_with_retry_after(serve: Serve, ledger: Ledger) -> None:
    clients = serve(write_rate_per_minute=3)
    admin = clients["admin"]
    for _ in range(3):
        reply = admin.post(CHECK, json=JOB)
        assert reply.status_code == 200, reply.text
    refused = admin.post(CHECK, json=JOB)
    assert refused.status_code == 429, refused.text
    body = refused.json()
    assert set(body) == {"error", "request_id", "timestamp"}
    assert body["error"]["code"] == "rate_limited"
    assert "too many write requests" in body["error"]["message"]
    assert body["request_id"] == refused.headers["x-request-id"]
    # The bucket refills at 3 a minute: one more request in about 20 s.
    assert 1 <= int(refused.headers["retry-after"]) <= 20
    # The refused request did nothing: three holds of $1.92.
    assert ledger.get_account("ml-proj").held_amount == Decimal("5.76")


def test_each_token_has_its_own_bucket(serve: Serve) -> None:
    clients = serve(write_rate_per_minute=3)
    for _ in range(3):
        assert clients["admin"].post(CHECK, json=JOB).status_code == 200
    assert clients["admin"].post(CHECK, json=JOB).status_code == 429
    assert clients["admin-2"].post(CHECK, json=JOB).status_code == 200


def test_reads_are_not_limited(serve: Serve) -> None:
    clients = serve(write_rate_per_minute=3)
    admin, reader = clients["admin"], clients["reader"]
    for _ in range(3):
        assert admin.post(CHECK, json=JOB).status_code == 200
    assert admin.post(CHECK, json=JOB).status_code == 429
    for _ in range(10):
        for client in (admin, reader):
            listed = client.get("/api/v1/accounts")
            assert listed.status_code == 200, listed.text
            one = client.get("/api/v1/accounts/ml-proj")
            assert one.status_code == 200, one.text
        assert admin.get("/version").status_code == 200
        assert admin.get("/health").status_code == 200


def test_plugin_is_never_limited_when_its_rate_is_0(serve: Serve, ledger: Ledger) -> None:
    clients = serve(write_rate_per_minute=3, plugin_rate_per_minute=0)
    for _ in range(25):
        reply = clients["plugin"].post(CHECK, json=JOB)
        assert reply.status_code == 200, reply.text
    assert ledger.get_account("ml-proj").held_amount == Decimal("48.00")


def test_plugin_rate_applies_when_set(serve: Serve) -> None:
    clients = serve(write_rate_per_minute=0, plugin_rate_per_minute=2)
    assert [clients["plugin"].post(CHECK, json=JOB).status_code for _ in range(3)] == [
        200,
        200,
        429,
    ]
    # write_rate_per_minute=0 means no limit for admin tokens.
    assert all(clients["admin"].post(CHECK, json=JOB).status_code == 200 for _ in range(10))


def test_two_daemons_share_one_bucket_per_token(
    db: Database, settings: Settings, clock: Clock, ledger: Ledger, ctx: Any
) -> None:
    """Two daemons on one database (two replicas, or two uvicorn workers) count a token's
    writes together: 3 a minute in all, not 3 each."""
    from daemon.app import create_app

    ledger.create_account("ml-proj", ctx=ctx, limit="1000")
    changed = settings.model_copy(
        update={"daemon": settings.daemon.model_copy(update={"write_rate_per_minute": 3})}
    )
    secret = Tokens(db, clock=clock).create("shared-admin", "admin", actor="tests").secret
    headers = {"Authorization": f"Bearer {secret}"}
    servers = [serve_in_thread(create_app(changed, db=db, clock=clock)) for _ in range(2)]
    try:
        with (
            httpx.Client(base_url=servers[0][0], headers=headers, timeout=30) as first,
            httpx.Client(base_url=servers[1][0], headers=headers, timeout=30) as second,
        ):
            codes = [(first, second)[n % 2].post(CHECK, json=JOB).status_code for n in range(6)]
    finally:
        for _, stop in servers:
            stop()
    assert codes == [200, 200, 200, 429, 429, 429]
    assert ledger.get_account("ml-proj").held_amount == Decimal("5.76")
