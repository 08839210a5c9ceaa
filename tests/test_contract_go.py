"""Contract tests: the published Go clients of asbb can read every answer they ask for.

Each test makes one call a Go client makes -- every ASBA call of aws-slurm-burst-advisor's ASBB
client, and each route the original aws-slurm-burst-budget tool's types decode -- against the
real daemon over loopback (on SQLite and PostgreSQL), with the request body that client sends,
and runs the answer through ``tests/contract/go``: our own declarations of the clients' structs
(their field names, Go types and json tags), decoded with encoding/json. A test fails on any
error Go's decoder reports, and on a field the client reads that is missing, or null where its
Go type cannot hold a null; the failure lists every such field with Go's message.

The decoder is built once per test session with the Go toolchain (``scripts/test.sh`` installs
Debian's golang-go), offline: no modules, GOPROXY=off, caches in the session's temp folder.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from asbb_core.alerts.conditions import AlertService
from asbb_core.funding.allocations import Allocations
from asbb_core.funding.grants import Grants
from asbb_core.ledger import Ledger
from asbb_core.store.database import Database
from asbb_core.values.context import Context, Source
from tests.conftest import Clock, LiveDaemon, migrated_database, running_daemon, site_settings

pytestmark = pytest.mark.contract

ROOT = Path(__file__).resolve().parent.parent
GO_MODULE = ROOT / "tests" / "contract" / "go"
NO_GO = (
    "no Go toolchain ('go' is not on PATH): scripts/test.sh installs Debian's golang-go with "
    "apt-get (as root); without it the Go clients' contract cannot be checked"
)


# ---------------------------------------------------------------- the Go decoder


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def go_environment(cache: Path) -> dict[str, str]:
    """Go's environment for an offline build: private caches, no module downloads, no
    toolchain switch, no cgo (the decoder is the standard library alone)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GO")}
    env.update(
        GOCACHE=str(cache / "build"),
        GOPATH=str(cache / "path"),
        GOMODCACHE=str(cache / "path" / "pkg" / "mod"),
        GOPROXY="off",
        GOFLAGS="-mod=mod",
        GOTOOLCHAIN="local",
        GOTELEMETRY="off",
        GOSUMDB="off",
        CGO_ENABLED="0",
    )
    return env


@pytest.fixture(scope="session")
def go_decoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The decoder binary, built once per session (shared by xdist workers)."""
    go = shutil.which("go")
    if go is None:
        pytest.skip(NO_GO)
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    folder = shared / "go-contract"
    folder.mkdir(exist_ok=True)
    binary = folder / "contract"
    with _locked(shared / "go-contract.lock"):
        if not binary.exists():
            partial = folder / "contract.partial"
            built = subprocess.run(
                [go, "build", "-trimpath", "-o", str(partial), "."],
                cwd=GO_MODULE,
                env=go_environment(folder),
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            if built.returncode != 0:
                pytest.fail(f"go build of {GO_MODULE} failed:\n{built.stderr}", pytrace=False)
            os.replace(partial, binary)
    return binary


def decode(decoder: Path, go_type: str, body: bytes) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(decoder), go_type, "-"],
        input=body.decode(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


CONFLICTS: dict[str, set[str]] = {
    "original.AffordabilityCheckResponse": {"budget_impact"},
    "original.GrantTimelineResponse": {"current_period"},
}
"""Fields where the advisor's client and the original tool's types disagree on the type, and
asbb sends the advisor's (docs/api.md, "Compatibility with the advisor and the original
types"): the original's struct must fail on exactly these, and read everything else."""


def _problem_paths(go_type: str, output: str) -> set[str]:
    """The JSON paths of the decoder's problems; encoding/json's own line (``(body)``) counts as
    the conflict field it names, if it names one."""
    struct = go_type.rsplit(".", 1)[-1]
    paths = set()
    for line in output.splitlines():
        path, _, message = line.partition(": ")
        named = {f for f in CONFLICTS.get(go_type, set()) if f"{struct}.{f} " in message}
        paths |= named if path == "(body)" and named else {path}
    return paths


def assert_decodes(decoder: Path, go_type: str, reply: httpx.Response) -> None:
    """The client's check: 200, then a body its struct decodes without a problem (but for a
    documented conflict, which must then be the only one)."""
    what = f"{reply.request.method} {reply.request.url.path}"
    assert reply.status_code == 200, f"{what} answered {reply.status_code}: {reply.text}"
    found = decode(decoder, go_type, reply.content)
    assert found.returncode in (0, 1), found.stderr
    expected = CONFLICTS.get(go_type, set())
    problems = _problem_paths(go_type, found.stdout) if found.returncode else set()
    if problems != expected:
        known = f" (documented conflicts: {sorted(expected)})" if expected else ""
        pytest.fail(f"{go_type} cannot read {what}{known}:\n{found.stdout}", pytrace=False)


# ---------------------------------------------------------------- the decoder itself


GOOD_STATUS = {
    "account": "alpha",
    "budget_limit": 1000.0,
    "budget_used": 600.0,
    "budget_held": 0,
    "budget_available": 400.5,
    "burn_rate": 12.25,
    "burn_rate_variance": -3.5,
    "health_score": 71,
    "risk_level": "medium",
    "grant_days_remaining": 30,
    "decision": "EITHER",
    "can_afford_aws": True,
    "last_updated": "2026-03-02T12:00:00Z",
}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"budget_limit": "1000.00"}, "budget_limit: json: cannot unmarshal string into Go value"),
        ({"last_updated": "2026-03-02"}, 'last_updated: parsing time "\\"2026-03-02\\"'),
        ({"grant_days_remaining": None}, "grant_days_remaining: null, but Go's int cannot be"),
        ({"health_score": 71.5}, "health_score: json: cannot unmarshal number 71.5"),
        ({"decision": None, "can_afford_aws": "yes"}, "decision: null, but Go's string"),
    ],
)
def test_the_decoder_refuses_what_the_client_cannot_read(
    go_decoder: Path, change: dict[str, Any], expected: str
) -> None:
    found = decode(
        go_decoder, "advisor.BudgetStatus", json.dumps({**GOOD_STATUS, **change}).encode()
    )
    assert found.returncode == 1, found.stdout
    assert expected in found.stdout, found.stdout


def test_the_decoder_names_every_missing_field_and_reads_keys_as_go_does(
    go_decoder: Path,
) -> None:
    assert (
        decode(go_decoder, "advisor.BudgetStatus", json.dumps(GOOD_STATUS).encode()).returncode == 0
    )
    # encoding/json matches keys case-insensitively: so does the presence check
    upper = {k.upper(): v for k, v in GOOD_STATUS.items()}
    assert decode(go_decoder, "advisor.BudgetStatus", json.dumps(upper).encode()).returncode == 0
    partial = {k: v for k, v in GOOD_STATUS.items() if k not in ("burn_rate", "decision")}
    found = decode(go_decoder, "advisor.BudgetStatus", json.dumps(partial).encode())
    assert found.returncode == 1
    assert "burn_rate: missing" in found.stdout
    assert "decision: missing" in found.stdout
    # an omitempty field may be absent or null; a nullable one (a slice) may be null
    listing = {"accounts": None}
    assert decode(go_decoder, "[]*original.BudgetAccount", b"[]").returncode == 0
    found = decode(go_decoder, "[]*original.BudgetAccount", json.dumps(listing).encode())
    assert found.returncode == 1
    assert "expected a JSON array" in found.stdout
    nested = {
        "affordable": True,
        "recommended_decision": "AWS",
        "budget_impact": {"cost_as_percent_of_budget": 1, "cost_as_percent_of_remaining": 2},
        "risk_assessment": {"budget_risk": "low", "deadline_risk": "low", "overall_risk": "low"},
        "alternative_options": None,
        "confidence_level": 0.9,
    }
    found = decode(go_decoder, "advisor.AffordabilityCheck", json.dumps(nested).encode())
    assert found.returncode == 1
    assert "budget_impact.opportunity_cost: missing" in found.stdout
    assert "risk_assessment.risk_factors: missing" in found.stdout
    assert "alternative_options" not in found.stdout


# ---------------------------------------------------------------- the world the calls see


@dataclass
class World:
    """alpha: funded with 1000 by grant NSF-1 (two periods, PI named), ends 2026-06-09, 600 spent
    (a usage alert open), one hold open; beta: 50, no grant, 100 a month from 2026-04-01 by an
    allocation schedule; gamma: 50, no end date, no grant, no schedule."""

    daemon: Any
    plugin: httpx.Client
    reader: httpx.Client
    admin: httpx.Client
    clock: Any
    holds: dict[str, str] = field(default_factory=dict)

    def check(self, account: str, job: str, cpus: int, hours: int) -> str:
        reply = self.plugin.post(
            "/api/v1/budget/check",
            json={
                "account": account,
                "partition": "aws-cpu",
                "nodes": 1,
                "cpus": cpus,
                "wall_time": f"{hours:02d}:00:00",
                "job_id": job,
            },
        )
        assert reply.status_code == 200, reply.text
        assert reply.json()["available"], reply.text
        hold = str(reply.json()["transaction_id"])
        self.holds[job] = hold
        return hold


@pytest.fixture(scope="session")
def _worlds() -> Iterator[tuple[dict[str, World], ExitStack]]:
    """The worlds built so far in this worker, one per backend, closed at the session's end."""
    with ExitStack() as stack:
        yield {}, stack


@pytest.fixture
def world(
    backend: str,
    _worlds: tuple[dict[str, World], ExitStack],
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
) -> World:
    """One world per backend, shared by the calls: each call reads it or adds a job of its own
    (its own job id), so no call depends on another, and building the world once (some 2 s)
    rather than per call keeps the contract tests quick."""
    built, stack = _worlds
    if backend not in built:
        built[backend] = stack.enter_context(_built_world(backend, request, tmp_path_factory))
    return built[backend]


@contextmanager
def _built_world(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    folder = tmp_path_factory.mktemp(f"world-{backend}")
    clock = Clock()
    ctx = Context(actor="test-admin", source=Source.CLI)
    with migrated_database(backend, request, folder) as url:
        db = Database(url, pool_size=10, clock=clock)
        try:
            ledger = Ledger(db, site_settings(url, folder), clock=clock)
            with running_daemon(db, ledger.settings, clock) as live_daemon:
                yield from _populated(ledger, ctx, clock, live_daemon)
        finally:
            db.dispose()


def _populated(
    ledger: Ledger, ctx: Context, clock: Clock, live_daemon: LiveDaemon
) -> Iterator[World]:
    grants = Grants(ledger)
    grants.create_grant(
        "NSF-1",
        total_award="4000",
        start_date="2026-01-01",
        end_date="2027-12-31",
        indirect_rate="0.5",
        period_months=12,
        title="Bursting models",
        agency="NSF",
        pi="Ada Lovelace",
        institution="Example University",
        ctx=ctx,
    )
    ledger.create_account("alpha", ctx=ctx, limit="0", end_date=date(2026, 6, 9))
    grants.link_account("NSF-1", "alpha", ctx=ctx)
    grants.fund_account("NSF-1", "alpha", "1000", ctx=ctx)
    ledger.create_account("beta", ctx=ctx, limit="50")
    ledger.create_account("gamma", ctx=ctx, limit="50")
    Allocations(ledger).create_schedule(
        "beta",
        amount="100",
        frequency="monthly",
        start_date=date(2026, 4, 1),
        instalments=3,
        ctx=ctx,
    )
    with (
        live_daemon.client("plugin") as plugin,
        live_daemon.client("reader") as reader,
        live_daemon.client("admin") as admin,
    ):
        w = World(live_daemon, plugin, reader, admin, clock)
        spent = w.check("alpha", "801", cpus=100, hours=100)  # 500 estimated, 600 held
        reply = plugin.post(
            "/api/v1/budget/reconcile",
            json={"job_id": "801", "transaction_id": spent, "actual_cost": 600.0},
        )
        assert reply.status_code == 200, reply.text
        w.check("alpha", "802", cpus=10, hours=2)  # 1.00 estimated, 1.20 held, left open
        clock.advance(timedelta(days=1))
        AlertService(ledger.db, ledger.settings, clock).evaluate()  # 60 % used: a usage alert
        yield w


# ---------------------------------------------------------------- the calls


@dataclass(frozen=True)
class Call:
    id: str
    go_type: str
    send: Callable[[World], httpx.Response]


def _post(role: str, path: str, body: dict[str, Any]) -> Callable[[World], httpx.Response]:
    def send(w: World) -> httpx.Response:
        client = {"plugin": w.plugin, "reader": w.reader, "admin": w.admin}[role]
        return client.post(path, json=body)

    return send


def _get(role: str, path: str) -> Callable[[World], httpx.Response]:
    def send(w: World) -> httpx.Response:
        client = {"plugin": w.plugin, "reader": w.reader, "admin": w.admin}[role]
        return client.get(path)

    return send


def _reconcile(w: World) -> httpx.Response:
    hold = w.check("alpha", "810", cpus=10, hours=1)  # 0.50 estimated
    return w.plugin.post(
        "/api/v1/budget/reconcile",
        json={"job_id": "810", "actual_cost": 0.42, "transaction_id": hold},
    )


def _job_cost_data(job: str, account: str, hold: str) -> dict[str, Any]:
    """An ASBXJobCostData as Go encodes it: every field without omitempty is sent."""
    return {
        "job_id": job,
        "slurm_job_id": job,
        "account": account,
        "partition": "aws-cpu",
        "user_id": "alice",
        "submitted_at": "2026-03-03T11:00:00Z",
        "started_at": "2026-03-03T11:05:00Z",
        "completed_at": "2026-03-03T12:05:00Z",
        "job_state": "COMPLETED",
        "exit_code": 0,
        "requested_nodes": 1,
        "used_nodes": 1,
        "requested_cpus": 10,
        "used_cpus": 10,
        "wall_time_limit": "01:00:00",
        "actual_wall_time": "01:00:00",
        "estimated_cost": 0.5,
        "actual_cost": 0.46,
        "aws_cost": 0.46,
        "burst_decision": "AWS",
        "instance_types": ["c5.xlarge"],
        "budget_transaction_id": hold,
    }


def _asbx_reconcile(w: World, job: str = "820") -> httpx.Response:
    hold = w.check("alpha", job, cpus=10, hours=1)
    return w.plugin.post(
        "/api/v1/asbx/reconcile",
        json={
            "job_cost_data": _job_cost_data(job, "alpha", hold),
            "auto_reconcile": True,
            "update_cost_model": False,
            "generate_report": False,
            "notify_stakeholders": False,
        },
    )


def _asbx_epilog(w: World) -> httpx.Response:
    w.check("alpha", "821", cpus=10, hours=1)
    start = 1_772_535_600  # 2026-03-03 11:00 UTC
    return w.plugin.post(
        "/api/v1/asbx/epilog",
        json={
            "job_id": "821",
            "account": "alpha",
            "partition": "aws-cpu",
            "user_id": "alice",
            "job_state": "COMPLETED",
            "exit_code": 0,
            "submit_time": start - 300,
            "start_time": start,
            "end_time": start + 1800,
            "allocated_nodes": 1,
            "allocated_cpus": 10,
        },
    )


def _asbx_status(w: World) -> httpx.Response:
    # one report in, so the figures are not all empty
    assert _asbx_reconcile(w, job="822").status_code == 200
    return w.reader.get("/api/v1/asbx/status")


def _deadline(w: World, hours: int) -> str:
    return str((w.clock() + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ"))


def _original_affordability(w: World) -> httpx.Response:
    return w.reader.post(
        "/api/v1/asba/affordability-check",
        json={
            "account": "alpha",
            "estimated_aws_cost": 25.5,
            "estimated_local_time": 600,
            "job_priority": "high",
            "job_deadline": _deadline(w, 8),
        },
    )


def _original_burst_decision(w: World) -> httpx.Response:
    return w.reader.post(
        "/api/v1/asba/burst-decision",
        json={
            "account": "alpha",
            "estimated_aws_cost": 25.5,
            "estimated_local_time": 600,
            "job_priority": "high",
            "job_deadline": _deadline(w, 8),
            "conference_deadline": _deadline(w, 48),
            "research_phase": "VALIDATION",
            "collaboration_impact": False,
        },
    )


def _unaffordable_burst_decision(w: World) -> httpx.Response:
    return w.reader.post(
        "/api/v1/asba/burst-decision",
        json={
            "account": "beta",
            "estimated_aws_cost": 80,
            "estimated_local_time": 0,
            "collaboration_impact": False,
        },
    )


# The advisor's ASBBClient (internal/budget/asbb_client.go): its three ASBA calls, as it
# sends them (the body its Go code encodes, its API key as a bearer token).
ADVISOR_CALLS = [
    Call(
        "advisor-budget-status-grant-account",
        "advisor.BudgetStatus",
        _post("reader", "/api/v1/asba/budget-status", {"account": "alpha"}),
    ),
    Call(
        "advisor-budget-status-open-ended-account",
        "advisor.BudgetStatus",
        _post("reader", "/api/v1/asba/budget-status", {"account": "gamma"}),
    ),
    Call(
        "advisor-affordability-check",
        "advisor.AffordabilityCheck",
        _post(
            "reader",
            "/api/v1/asba/affordability-check",
            {"account": "alpha", "estimated_cost": 25.5},
        ),
    ),
    Call(
        "advisor-affordability-check-refused",
        "advisor.AffordabilityCheck",
        _post(
            "reader",
            "/api/v1/asba/affordability-check",
            {"account": "beta", "estimated_cost": 80},
        ),
    ),
    Call(
        "advisor-grant-timeline-grant-account",
        "advisor.GrantTimeline",
        _post(
            "reader",
            "/api/v1/asba/grant-timeline",
            {"account": "alpha", "look_ahead_days": 90, "include_alerts": True},
        ),
    ),
    Call(
        "advisor-grant-timeline-open-ended-account",
        "advisor.GrantTimeline",
        _post(
            "reader",
            "/api/v1/asba/grant-timeline",
            {"account": "gamma", "look_ahead_days": 90, "include_alerts": True},
        ),
    ),
]

# The original tool's routes (cmd/budget-service/main.go) and the pkg/api type each returns.
ORIGINAL_CALLS = [
    Call(
        "budget-check",
        "original.BudgetCheckResponse",
        _post(
            "plugin",
            "/api/v1/budget/check",
            {
                "account": "alpha",
                "partition": "aws-cpu",
                "nodes": 1,
                "cpus": 4,
                "wall_time": "01:00:00",
                "user_id": "alice",
            },
        ),
    ),
    Call("budget-reconcile", "original.JobReconcileResponse", _reconcile),
    Call("accounts-list", "[]*original.BudgetAccount", _get("reader", "/api/v1/accounts")),
    Call("account-detail", "original.BudgetAccount", _get("reader", "/api/v1/accounts/alpha")),
    Call(
        "account-detail-open-ended",
        "original.BudgetAccount",
        _get("reader", "/api/v1/accounts/gamma"),
    ),
    Call(
        "transactions-list",
        "[]*original.BudgetTransaction",
        _get("reader", "/api/v1/transactions"),
    ),
    Call("grants-list", "[]*original.GrantAccount", _get("reader", "/api/v1/grants")),
    Call("grant-detail", "original.GrantAccount", _get("reader", "/api/v1/grants/NSF-1")),
    Call(
        "burn-rate-account",
        "original.BurnRateAnalysisResponse",
        _get("reader", "/api/v1/burn-rate/alpha"),
    ),
    Call(
        "burn-rate-grant",
        "original.BurnRateAnalysisResponse",
        _get("reader", "/api/v1/burn-rate/grant/NSF-1"),
    ),
    Call("health", "original.HealthCheckResponse", _get("reader", "/health")),
    Call("version", "original.BuildInfo", _get("reader", "/version")),
    Call("asbx-reconcile", "original.ASBXCostReconciliationResponse", _asbx_reconcile),
    Call("asbx-epilog", "original.ASBXEpilogResponse", _asbx_epilog),
    Call("asbx-status", "original.ASBXIntegrationStatus", _asbx_status),
    Call(
        "asba-budget-status",
        "original.BudgetStatusResponse",
        _post("reader", "/api/v1/asba/budget-status", {"account": "alpha"}),
    ),
    Call(
        "asba-budget-status-open-ended",
        "original.BudgetStatusResponse",
        _post("reader", "/api/v1/asba/budget-status", {"account": "gamma"}),
    ),
    Call(
        "asba-affordability-check", "original.AffordabilityCheckResponse", _original_affordability
    ),
    Call(
        "asba-grant-timeline",
        "original.GrantTimelineResponse",
        _post(
            "reader",
            "/api/v1/asba/grant-timeline",
            {"account": "alpha", "look_ahead_days": 90, "include_alerts": True},
        ),
    ),
    Call(
        "asba-grant-timeline-open-ended",
        "original.GrantTimelineResponse",
        _post(
            "reader",
            "/api/v1/asba/grant-timeline",
            {"account": "gamma", "look_ahead_days": 90, "include_alerts": False},
        ),
    ),
    Call("asba-burst-decision", "original.BurstDecisionResponse", _original_burst_decision),
    Call(
        "asba-burst-decision-refused",
        "original.BurstDecisionResponse",
        _unaffordable_burst_decision,
    ),
]

CALLS = ADVISOR_CALLS + ORIGINAL_CALLS

KNOWN_GAPS = {
    "accounts-list": "gamma has no end date (asbb's open-ended account; the original requires "
    "both dates): its end_date is null, which Go reads as the zero time (docs/migrating.md)",
    "account-detail-open-ended": "an open-ended account's end_date is null, which Go reads as "
    "the zero time (docs/migrating.md)",
    "version": "asbb is not built with Go: /version answers python_version, not go_version",
}
"""Answers the original types cannot read yet, each with why: strict, so a fix is noticed."""


def _params(calls: list[Call]) -> list[Any]:
    return [
        pytest.param(
            c,
            id=c.id,
            marks=[pytest.mark.xfail(strict=True, reason=KNOWN_GAPS[c.id])]
            if c.id in KNOWN_GAPS
            else [],
        )
        for c in calls
    ]


@pytest.mark.parametrize("call", _params(CALLS))
def test_the_client_reads_the_answer(go_decoder: Path, world: World, call: Call) -> None:
    assert_decodes(go_decoder, call.go_type, call.send(world))


def test_the_advisor_sees_asbb_available(world: World) -> None:
    """The advisor's IsAvailable: GET /health, no token, answers 200."""
    with httpx.Client(base_url=world.daemon.url, timeout=30) as anonymous:
        assert anonymous.get("/health").status_code == 200


def test_every_declared_client_struct_is_exercised(go_decoder: Path) -> None:
    listed = subprocess.run(
        [str(go_decoder), "-list"], capture_output=True, text=True, timeout=60, check=True
    ).stdout.split()
    assert sorted(listed) == sorted({c.go_type for c in CALLS})


def test_the_go_sources_are_gofmt_clean() -> None:
    gofmt = shutil.which("gofmt")
    if gofmt is None:
        pytest.skip(NO_GO)
    unformatted = subprocess.run(
        [gofmt, "-l", "."], cwd=GO_MODULE, capture_output=True, text=True, timeout=60, check=True
    ).stdout.split()
    assert unformatted == [], f"run: gofmt -w {' '.join(unformatted)} (in {GO_MODULE})"
