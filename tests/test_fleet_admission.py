"""Fleet admission over real HTTP, as aws-slurm-burst's resume step calls it, on both backends:
priced from the instance table in settings, held like a job, reconciled per node."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from asbb_core.integrations.recovery import recover
from asbb_core.integrations.slurm import Slurm
from asbb_core.ledger.calibration import cost_ratios
from asbb_core.ledger.verify import verify_ledger
from asbb_core.settings import CalibrationSettings, FleetSettings, Settings, load_settings
from asbb_core.values.errors import SettingsError
from tests.slurm_output import FakeSlurm

ADMIT = "/api/v1/budget/admit"
RECONCILE = "/api/v1/budget/reconcile"
PRICES = {
    "us-east-1": {
        "c6i.xlarge": {"on_demand": "0.17", "spot": "0.0683"},
        "m5.large": {"on_demand": "1.00"},
        "p5.48xlarge": {"on_demand": "98.32", "spot": "41.5", "reserved": "60.00"},
        "u-24tb1.metal": {"on_demand": "218.40"},
    },
    "eu-west-1": {"c6i.xlarge": {"spot": "0.0712"}},
}


def holds_of(ledger, account: str) -> list[str]:
    """The ids of every hold the account ever took (from its journal)."""
    return [e.hold_id for e in ledger.journal(account=account) if e.kind == "hold"]


def money(value: object) -> Decimal:
    """Money from the wire as it is now (a string) or soon (an exact JSON number)."""
    return Decimal(str(value))


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"fleet": FleetSettings(prices=PRICES)})


@pytest.fixture
def plugin(live_daemon, ledger, ctx):
    ledger.create_account("ml-proj", ctx=ctx, limit="1000")
    with live_daemon.client("plugin") as client:
        yield client
    report = verify_ledger(ledger.db)
    assert report.ok, [str(p) for p in report.problems]


def admit(client: httpx.Client, **fields: object) -> httpx.Response:
    body: dict[str, object] = {
        "account": "ml-proj",
        "partition": "aws-cpu",
        "region": "us-east-1",
        "instance_type": "c6i.xlarge",
        "capacity_model": "spot",
        "count": 4,
    }
    body.update(fields)
    return client.post(ADMIT, json={k: v for k, v in body.items() if v is not None})


# ---------------------------------------------------------------- priced exactly


def test_admission_is_priced_from_the_instance_table_and_held(plugin, ledger, clock):
    reply = admit(plugin, job_metadata={"cluster": "gauss", "hostlist": "aws-[001-004]"})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    # 4 x $0.0683/h spot = $0.2732/h; one hour (fleet.default_hours) x 1.2 = $0.32784 -> $0.33
    assert body["available"] is True
    assert money(body["estimated_cost"]) == Decimal("0.2732")
    assert money(body["hold_amount"]) == Decimal("0.33")
    assert money(body["budget_remaining"]) == Decimal("999.67")
    details = body["details"]
    assert (details["capacity_model"], details["priced_as"], details["count"]) == (
        "spot",
        "spot",
        4,
    )
    assert money(details["unit_price"]) == Decimal("0.0683")
    assert money(details["hours"]) == 1
    assert money(details["estimated_total"]) == Decimal("0.2732")
    assert money(details["hold_percentage"]) == Decimal("1.2")
    assert money(details["account_balance"]) == Decimal("1000.00")
    hold = ledger.get_hold(body["transaction_id"])
    assert (hold.state, hold.amount, hold.estimate, hold.task_count, hold.estimate_source) == (
        "open",
        Decimal("0.33"),
        Decimal("0.2732"),
        4,
        "fleet",
    )
    assert hold.partition == "aws-cpu"
    assert hold.job_metadata["cluster"] == "gauss"
    assert hold.job_metadata["fleet"]["unit_price"] == "0.0683"
    # The hold lives for its hours plus holds.timeout_hours (24 in the tests).
    assert hold.expires_at == clock.now + timedelta(hours=25)
    assert datetime.fromisoformat(details["expires_at"].replace("Z", "+00:00")) == (hold.expires_at)
    assert ledger.get_account("ml-proj").held_amount == Decimal("0.33")


@pytest.mark.parametrize(
    ("fields", "rate", "hold", "priced_as"),
    [
        # the original's spellings of on-demand; none at all is on-demand too
        ({"capacity_model": "ondemand"}, "0.68", "0.82", "on-demand"),
        ({"capacity_model": "On-Demand"}, "0.68", "0.82", "on-demand"),
        ({"capacity_model": "on_demand"}, "0.68", "0.82", "on-demand"),
        ({"capacity_model": None}, "0.68", "0.82", "on-demand"),
        ({"capacity_model": ""}, "0.68", "0.82", "on-demand"),
        # 4 x $0.17 x 2.5 h = $1.70 x 1.2 = $2.04
        ({"capacity_model": "on-demand", "hours": "2.5"}, "0.68", "2.04", "on-demand"),
        ({"capacity_model": "on-demand", "hours": 2.5}, "0.68", "2.04", "on-demand"),
        # no spot price for m5.large: held at on-demand; reserved without one: on-demand
        ({"instance_type": "m5.large", "count": 1}, "1.00", "1.20", "on-demand"),
        (
            {"instance_type": "M5.Large", "capacity_model": "reserved", "count": 1},
            "1",
            "1.2",
            "on-demand",
        ),
        # a reserved price of its own
        (
            {"instance_type": "p5.48xlarge", "capacity_model": "reserved", "count": 2},
            "120.00",
            "144.00",
            "reserved",
        ),
        # 3 x $98.32 x 0.25 h = $73.74 x 1.2 = $88.488 -> $88.49 (half-even to the cent)
        (
            {
                "instance_type": "p5.48xlarge",
                "capacity_model": "on-demand",
                "count": 3,
                "hours": "0.25",
            },
            "294.96",
            "88.49",
            "on-demand",
        ),
    ],
)
def test_capacity_models_and_hours(plugin, ledger, fields, rate, hold, priced_as):
    body = admit(plugin, **fields).json()
    assert body["available"] is True, body
    assert money(body["estimated_cost"]) == Decimal(rate)
    assert money(body["hold_amount"]) == Decimal(hold)
    assert body["details"]["priced_as"] == priced_as
    assert ledger.get_hold(body["transaction_id"]).amount == Decimal(hold)


def test_the_default_partition_and_default_hours(live_daemon, ledger, ctx, settings):
    ledger.create_account("ml-proj", ctx=ctx, limit="100")
    with live_daemon.client("plugin") as client:
        body = admit(client, partition=None, instance_type="m5.large", count=1).json()
    assert body["details"]["partition"] == settings.default_partition == "aws-cpu"
    assert money(body["details"]["hours"]) == settings.fleet.default_hours == 1
    assert ledger.get_hold(body["transaction_id"]).partition == "aws-cpu"


# ---------------------------------------------------------------- refused, with reasons


def test_short_budget_is_refused_saying_what_is_available(plugin, ledger, ctx):
    ledger.create_account("tiny", ctx=ctx, limit="1.00")
    reply = admit(plugin, account="tiny", capacity_model="on-demand", hours=2)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    # 4 x $0.17 x 2 h = $1.36 x 1.2 = $1.632 -> $1.63, more than $1.00
    assert (body["available"], body["transaction_id"]) == (False, None)
    assert money(body["estimated_cost"]) == Decimal("0.68")
    assert money(body["hold_amount"]) == Decimal("1.63")
    assert money(body["budget_remaining"]) == Decimal("1.00")
    assert (body["details"]["reason"], body["details"]["limit"]) == (
        "insufficient_funds",
        "account",
    )
    assert body["message"] == (
        "account tiny has $1.00 available; 4 x c6i.xlarge (on-demand) at $0.68/h for 2 h "
        "needs a $1.63 hold"
    )
    account = ledger.get_account("tiny")
    assert (account.held_amount, holds_of(ledger, "tiny")) == (0, [])


def test_a_partition_cap_refuses_too(plugin, ledger, ctx):
    ledger.set_partition_limit("ml-proj", "aws-cpu", "5.00", ctx=ctx)
    body = admit(plugin, instance_type="m5.large", capacity_model="on-demand", count=5).json()
    # 5 x $1.00 x 1 h x 1.2 = $6.00 > the $5.00 cap
    assert body["available"] is False
    assert (body["details"]["reason"], body["details"]["limit"]) == (
        "insufficient_funds",
        "partition",
    )
    assert money(body["budget_remaining"]) == Decimal("5.00")
    assert body["message"].startswith("partition aws-cpu of account ml-proj has $5.00 available")
    assert ledger.get_account("ml-proj").held_amount == 0


def test_an_inactive_or_unknown_account_is_refused(plugin, ledger, ctx):
    ledger.create_account("done", ctx=ctx, limit="100")
    ledger.update_account("done", ctx=ctx, status="suspended")
    body = admit(plugin, account="done").json()
    assert (body["available"], body["details"]["reason"]) == (False, "account_inactive")
    assert "suspended" in body["message"]
    # A refusal, not a 404: a resume step that fails open on errors must still not launch.
    reply = admit(plugin, account="nobody")
    assert reply.status_code == 200
    assert (reply.json()["available"], reply.json()["details"]["reason"]) == (False, "not_found")


@pytest.mark.parametrize(
    ("fields", "field", "says"),
    [
        ({"region": "ap-south-9"}, "region", "'ap-south-9' has no instance prices"),
        (
            {"instance_type": "x2iedn.32xlarge"},
            "instance_type",
            "'x2iedn.32xlarge' has no price in us-east-1",
        ),
        # eu-west-1 lists only a spot price: on-demand (and reserved) cannot be priced
        (
            {"region": "eu-west-1", "capacity_model": "on-demand"},
            "capacity_model",
            "no on-demand price",
        ),
        (
            {"region": "eu-west-1", "capacity_model": "reserved"},
            "capacity_model",
            "no reserved price",
        ),
    ],
)
def test_an_unpriced_fleet_is_refused_naming_what_to_add(plugin, ledger, fields, field, says):
    reply = admit(plugin, **fields)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert (body["available"], body["transaction_id"]) == (False, None)
    assert (body["details"]["reason"], body["details"]["field"]) == (
        "unknown_instance_price",
        field,
    )
    assert says in body["message"]
    assert body["details"]["setting"].startswith("fleet.prices.")
    assert body["details"]["setting"] in body["message"]
    assert ledger.get_account("ml-proj").held_amount == 0


def test_an_unknown_partition_is_refused_and_a_local_one_holds_nothing(plugin, ledger):
    body = admit(plugin, partition="aws-typo").json()
    assert (body["available"], body["details"]["reason"]) == (False, "unknown_partition")
    assert body["details"]["setting"] == "partitions.aws-typo"
    assert "[partitions.aws-typo]" in body["message"]
    local = admit(plugin, partition="local").json()
    assert (local["available"], local["transaction_id"]) == (True, None)
    assert local["details"]["budgeted"] is False
    assert money(local["hold_amount"]) == 0
    assert ledger.get_account("ml-proj").held_amount == 0


# ---------------------------------------------------------------- bad fields


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"count": 0}, "count"),
        ({"count": -3}, "count"),
        ({"count": "many"}, "count"),
        ({"count": True}, "count"),
        ({"count": 1_000_001}, "count"),
        ({"count": None}, "count"),
        ({"region": None}, "region"),
        ({"region": "us east 1"}, "region"),
        ({"instance_type": None}, "instance_type"),
        ({"instance_type": "c6i xlarge"}, "instance_type"),
        ({"instance_type": "c6i.xlarge\u212a"}, "instance_type"),
        ({"capacity_model": "bogus"}, "capacity_model"),
        ({"capacity_model": 3}, "capacity_model"),
        ({"hours": 0}, "hours"),
        ({"hours": "-1"}, "hours"),
        ({"hours": "two"}, "hours"),
        ({"hours": "1.23456"}, "hours"),
        ({"hours": 9000}, "hours"),
        ({"hours": True}, "hours"),
        ({"account": None}, "account"),
        ({"account": "bad name!"}, "account"),
        ({"partition": "a b"}, "partition"),
        # 1,000,000 x $218.40 x 8784 h is more than asbb holds at once
        ({"instance_type": "u-24tb1.metal", "count": 1_000_000, "hours": 8784}, "count"),
    ],
)
def test_bad_fields_are_named_and_change_nothing(plugin, ledger, fields, field):
    reply = admit(plugin, **fields)
    assert reply.status_code == 422, reply.text
    error = reply.json()["error"]
    assert error["field"] == field, error
    assert ledger.get_account("ml-proj").held_amount == 0
    assert holds_of(ledger, "ml-proj") == []


def test_roles(live_daemon, ledger, ctx):
    ledger.create_account("ml-proj", ctx=ctx, limit="100")
    body = {
        "account": "ml-proj",
        "partition": "aws-cpu",
        "region": "us-east-1",
        "instance_type": "m5.large",
        "count": 1,
    }
    with live_daemon.client(None) as anonymous:
        assert anonymous.post(ADMIT, json=body).status_code == 401
    with live_daemon.client("reader") as reader:
        reply = reader.post(ADMIT, json=body)
        assert (reply.status_code, reply.json()["error"]["code"]) == (403, "forbidden")
    with live_daemon.client("admin") as admin:
        assert admin.post(ADMIT, json=body).json()["available"] is True


# ---------------------------------------------------------------- idempotent


def test_a_retry_with_the_same_key_returns_the_same_hold(plugin, ledger):
    first = admit(plugin, idempotency_key="gauss:aws-[001-004]:g7").json()
    again = admit(plugin, idempotency_key="gauss:aws-[001-004]:g7").json()
    by_header = plugin.post(
        ADMIT,
        json={
            "account": "ml-proj",
            "partition": "aws-cpu",
            "region": "us-east-1",
            "instance_type": "c6i.xlarge",
            "capacity_model": "spot",
            "count": 4,
        },
        headers={"Idempotency-Key": "gauss:aws-[001-004]:g7"},
    ).json()
    assert again["transaction_id"] == by_header["transaction_id"] == first["transaction_id"]
    assert (first["details"]["replayed"], again["details"]["replayed"]) == (False, True)
    assert money(again["hold_amount"]) == money(first["hold_amount"]) == Decimal("0.33")
    assert money(again["budget_remaining"]) == Decimal("999.67")
    assert len(holds_of(ledger, "ml-proj")) == 1
    assert ledger.get_account("ml-proj").held_amount == Decimal("0.33")
    # The same key with another fleet is a conflict, not a second hold nor the first one.
    other = admit(plugin, idempotency_key="gauss:aws-[001-004]:g7", count=5)
    assert other.status_code == 409, other.text
    assert other.json()["error"]["code"] == "idempotency_conflict"
    assert other.json()["error"]["field"] == "idempotency_key"
    # Without a key, two admissions are two fleets.
    admit(plugin)
    admit(plugin)
    assert len(holds_of(ledger, "ml-proj")) == 3


def test_retries_racing_each_other_still_make_one_hold(live_daemon, ledger, ctx):
    # A client that gave up waiting and sent again while the first call still runs.
    ledger.create_account("ml-proj", ctx=ctx, limit="1000")
    answers: list[dict[str, object]] = []
    lock = threading.Lock()
    start = threading.Barrier(6)

    def retry() -> None:
        start.wait()
        with live_daemon.client("plugin") as client:
            reply = admit(client, idempotency_key="gauss:aws-[001-004]:g8")
        assert reply.status_code == 200, reply.text
        with lock:
            answers.append(reply.json())

    threads = [threading.Thread(target=retry) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(answers) == 6
    assert len({a["transaction_id"] for a in answers}) == 1
    assert sum(1 for a in answers if not a["details"]["replayed"]) == 1  # type: ignore[index]
    assert len(holds_of(ledger, "ml-proj")) == 1
    assert ledger.get_account("ml-proj").held_amount == Decimal("0.33")


def test_a_refused_admission_is_not_remembered_under_its_key(plugin, ledger, ctx):
    ledger.create_account("later", ctx=ctx, limit="0.10")
    refused = admit(plugin, account="later", idempotency_key="k-1").json()
    assert refused["available"] is False
    ledger.deposit("later", "10", ctx=ctx)
    admitted = admit(plugin, account="later", idempotency_key="k-1").json()
    assert admitted["available"] is True
    assert admitted["details"]["replayed"] is False


# ---------------------------------------------------------------- racing admissions


def test_racing_admissions_on_one_account_never_overcommit(live_daemon, ledger, ctx):
    # Each admission holds $1.20 (1 x $1.00 x 1 h x 1.2): exactly 10 fit in $12.00.
    ledger.create_account("race", ctx=ctx, limit="12.00")
    body = {
        "account": "race",
        "partition": "aws-cpu",
        "region": "us-east-1",
        "instance_type": "m5.large",
        "count": 1,
    }
    answers: list[dict[str, object]] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def launcher() -> None:
        start.wait()
        for _ in range(3):
            with live_daemon.client("plugin") as client:  # a new connection per call
                reply = client.post(ADMIT, json=body)
            assert reply.status_code == 200, reply.text
            with lock:
                answers.append(reply.json())

    threads = [threading.Thread(target=launcher) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(answers) == 24
    admitted = [a for a in answers if a["available"]]
    assert len(admitted) == 10
    assert len({a["transaction_id"] for a in admitted}) == 10
    assert all(
        a["details"]["reason"] == "insufficient_funds" for a in answers if not a["available"]
    )  # type: ignore[index]
    account = ledger.get_account("race")
    assert (account.held_amount, account.available) == (Decimal("12.00"), 0)
    report = verify_ledger(ledger.db)
    assert report.ok, [str(p) for p in report.problems]


# ---------------------------------------------------------------- reconciled like a job


def node(client: httpx.Client, hold_id: str, name: str, **fields: object) -> dict[str, object]:
    reply = client.post(
        RECONCILE, json={"job_id": f"gauss/{name}", "transaction_id": hold_id, **fields}
    )
    assert reply.status_code == 200, reply.text
    body: dict[str, object] = reply.json()
    return body


def test_each_node_reconciles_its_cost_and_the_last_releases_the_rest(plugin, ledger):
    # 2 x $1.00 x 2 h = $4.00, held $4.80
    body = admit(
        plugin, instance_type="m5.large", capacity_model="on-demand", count=2, hours=2
    ).json()
    hold_id = str(body["transaction_id"])
    # aws-slurm-burst's suspend step: the node's per-node rate x its time up, per node
    first = node(plugin, hold_id, "aws-001", actual_cost=1.5)
    assert (first["state"], first["tasks_reconciled"], first["task_count"]) == ("open", 1, 2)
    assert money(first["actual_charge"]) == Decimal("1.50")
    # a node reconciled by its time up: priced at the admitted instance price (1.5 h x $1.00)
    second = node(plugin, hold_id, "aws-002", elapsed_seconds=5400)
    assert (second["state"], second["cost_source"]) == ("posted", "local_model")
    assert money(second["actual_charge"]) == Decimal("1.50")
    assert money(second["refund_amount"]) == Decimal("1.80")
    hold = ledger.get_hold(hold_id)
    assert (hold.state, hold.charged, hold.released, hold.remaining) == (
        "posted",
        Decimal("3.00"),
        Decimal("1.80"),
        0,
    )
    account = ledger.get_account("ml-proj")
    assert (account.used_amount, account.held_amount) == (Decimal("3.00"), 0)
    charges = sorted(e.job_id for e in ledger.journal(hold_id=hold_id) if e.kind == "charge")
    assert charges == ["gauss/aws-001", "gauss/aws-002"]
    # A replayed node reconcile charges nothing more.
    replay = node(plugin, hold_id, "aws-002", elapsed_seconds=5400)
    assert replay["replayed"] is True
    assert ledger.get_account("ml-proj").used_amount == Decimal("3.00")


def test_a_node_running_past_the_hold_is_charged_as_an_overrun(plugin, ledger):
    body = admit(plugin, instance_type="m5.large", capacity_model="on-demand", count=1).json()
    done = node(plugin, str(body["transaction_id"]), "aws-001", actual_cost="3.00")
    assert (done["state"], money(done["original_hold"])) == ("posted", Decimal("1.20"))
    assert (money(done["actual_charge"]), money(done["overrun"])) == (
        Decimal("3.00"),
        Decimal("1.80"),
    )
    assert ledger.get_account("ml-proj").used_amount == Decimal("3.00")


def test_a_bad_node_id_is_refused_naming_the_field(plugin, ledger):
    body = admit(plugin, instance_type="m5.large", count=1).json()
    for job_id in ("gauss/", "/aws-001", "gauss/aws 001", "a/b/c", "gauss;rm/x"):
        reply = plugin.post(
            RECONCILE,
            json={"job_id": job_id, "transaction_id": body["transaction_id"], "actual_cost": 1},
        )
        assert (reply.status_code, reply.json()["error"]["field"]) == (422, "job_id"), job_id
    assert ledger.get_hold(str(body["transaction_id"])).state == "open"


def test_an_unreconciled_fleet_expires_and_a_late_node_is_still_charged(plugin, ledger, clock, ctx):
    body = admit(plugin, instance_type="m5.large", count=1, hours="0.5").json()
    hold_id = str(body["transaction_id"])
    # Recovery never mistakes a fleet for a job that never ran (no job carries its hold).
    clock.advance(timedelta(hours=1))
    report = recover(ledger, Slurm(FakeSlurm("", "")), older_than=timedelta(minutes=10))
    assert report.actions == []
    assert ledger.get_hold(hold_id).state == "open"
    # Past its hours and holds.timeout_hours, the sweep expires it and releases the money.
    clock.advance(timedelta(hours=24))
    expired = ledger.expire_holds(ctx=ctx)
    assert [(e.hold_id, e.state) for e in expired] == [(hold_id, "expired")]
    assert ledger.get_account("ml-proj").held_amount == 0
    late = node(plugin, hold_id, "aws-001", actual_cost="0.90")
    assert money(late["actual_charge"]) == Decimal("0.90")
    assert ledger.get_account("ml-proj").used_amount == Decimal("0.90")
    assert ledger.get_hold(hold_id).state == "expired"


def test_fleets_do_not_teach_the_job_cost_model(plugin, ledger, clock):
    body = admit(plugin, instance_type="m5.large", count=1).json()
    node(plugin, str(body["transaction_id"]), "aws-001", actual_cost="5.00")
    assert cost_ratios(ledger.db, CalibrationSettings(), now=clock.now) == []


# ---------------------------------------------------------------- settings


@pytest.fixture
def no_environment(monkeypatch, tmp_path):
    """Settings from the test's own file only: no ASBB_* variables from the caller."""
    import os

    for name in list(os.environ):
        if name.startswith("ASBB_"):
            monkeypatch.delenv(name)
    empty = tmp_path / "empty.toml"
    empty.write_text("", encoding="utf-8")
    monkeypatch.setenv("ASBB_CONFIG", str(empty))


def test_the_price_table_is_read_from_the_config_file_exactly(
    tmp_path, monkeypatch, no_environment
):
    config = tmp_path / "config.toml"
    config.write_text(
        '[fleet]\ndefault_hours = "0.5"\n'
        '[fleet.prices.US-EAST-1."C6I.xlarge"]\non_demand = "0.1700"\nspot = 0.0683\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("ASBB_CONFIG", str(config))
    loaded = load_settings()
    price = loaded.fleet.prices["us-east-1"]["c6i.xlarge"]
    assert (price.on_demand, price.spot, price.reserved) == (
        Decimal("0.1700"),
        Decimal("0.0683"),
        None,
    )
    assert loaded.fleet.default_hours == Decimal("0.5")


@pytest.mark.parametrize(
    ("fleet", "says"),
    [
        ({"prices": {"us-east-1": {"c6i.xlarge": {"spot": "-1"}}}}, "a price must be"),
        ({"prices": {"us-east-1": {"c6i.xlarge": {}}}}, "give at least one of"),
        ({"prices": {"us-east-1": {"c6i.xlarge": {"on_demand": "1", "spott": "1"}}}}, "spott"),
        ({"prices": {"us east": {"c6i.xlarge": {"on_demand": "1"}}}}, "not an AWS region"),
        (
            {
                "prices": {
                    "us-east-1": {"C6i.XLarge": {"on_demand": "1"}, "c6i.xlarge": {"spot": "1"}}
                }
            },
            "listed twice",
        ),
        ({"default_hours": "0"}, "fleet.default_hours"),
    ],
)
def test_bad_price_settings_are_refused_naming_the_key(tmp_path, no_environment, fleet, says):
    with pytest.raises(SettingsError) as caught:
        load_settings(database={"url": f"sqlite:///{tmp_path / 'x.sqlite3'}"}, fleet=fleet)
    assert caught.value.message.startswith("invalid settings: fleet.")
    assert says in caught.value.message
