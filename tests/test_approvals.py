"""Adjustment requests with maker-checker, on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func
from sqlmodel import select

from asbb_core.funding.approvals import Approvals, NotRequesterError, SelfApprovalError
from asbb_core.ledger import Ledger
from asbb_core.ledger.verify import verify_ledger
from asbb_core.store.models import AdjustmentRequest, EntryKind, JournalEntry
from asbb_core.values.context import Context, Source
from asbb_core.values.errors import (
    ConflictError,
    HoldResolvedError,
    InsufficientFundsError,
    NotFoundError,
    ValidationError,
)


@pytest.fixture(autouse=True)
def _ledger_stays_verified(db):
    """After every test here, the journal and the cached totals still agree."""
    yield
    report = verify_ledger(db)
    assert report.ok, [str(p) for p in report.problems]


@pytest.fixture
def funded(ledger: Ledger, ctx: Context) -> Ledger:
    ledger.create_account("ml-proj", ctx=ctx, limit="1000", partition_limits={"gpu-aws": "500"})
    ledger.create_account("physics", ctx=ctx, limit="200")
    return ledger


@pytest.fixture
def approvals(db, funded, settings, clock) -> Approvals:
    return Approvals(db, funded, settings, clock)


def totals(ledger: Ledger, name: str = "ml-proj") -> tuple[Decimal, Decimal, Decimal]:
    account = ledger.get_account(name)
    return account.limit_amount, account.used_amount, account.held_amount


def journal_count(ledger: Ledger) -> int:
    return ledger.db.read(lambda s: s.exec(select(func.count()).select_from(JournalEntry)).one())


def request_count(ledger: Ledger) -> int:
    return ledger.db.read(
        lambda s: s.exec(select(func.count()).select_from(AdjustmentRequest)).one()
    )


def rows_of(ledger: Ledger, correlation_id: str) -> list[JournalEntry]:
    return ledger.db.read(
        lambda s: list(
            s.exec(
                select(JournalEntry)
                .where(JournalEntry.correlation_id == correlation_id)
                .order_by(JournalEntry.id)
            )
        )
    )


def charge(ledger: Ledger, amount: str, *, partition: str | None = None) -> None:
    """Spend ``amount`` on ml-proj through a hold that is posted in full."""
    plugin = Context(actor="slurmctld", source=Source.PLUGIN)
    hold = ledger.create_hold("ml-proj", amount, ctx=plugin, partition=partition, buffer=1)
    ledger.post_hold(hold.hold_id, amount, ctx=plugin)


# ---------------------------------------------------------------- each kind moves what it says


@pytest.mark.parametrize(
    ("kind", "amount", "expected"),
    [
        ("credit", "250", (Decimal(1250), Decimal(0), Decimal(0))),
        ("debit", "250", (Decimal(750), Decimal(0), Decimal(0))),
        ("limit", "1500", (Decimal(1500), Decimal(0), Decimal(0))),
    ],
)
def test_limit_movements(approvals, funded, kind, amount, expected):
    before = journal_count(funded)
    req = approvals.request(
        kind, "ml-proj", amount, requested_by="alice", reason="grant NSF-1 instalment"
    )
    assert (req.status, req.needs_confirmation, req.decided_by) == ("pending", False, None)
    assert totals(funded) == (Decimal(1000), 0, 0)  # nothing moves on request

    done = approvals.approve(req.id, approver="bob", reason="checked the award letter")

    assert totals(funded) == expected
    assert (done.status, done.decided_by, done.correlation_id) == (
        "approved",
        "bob",
        f"adjustment-{req.id}",
    )
    assert done.decision_reason == "checked the award letter"
    assert done.result is not None
    assert done.result["account"] == "ml-proj"
    (row,) = rows_of(funded, f"adjustment-{req.id}")
    assert journal_count(funded) == before + 1
    assert (row.kind, row.actor, row.source, row.idempotency_key) == (
        EntryKind.ADJUSTMENT,
        "bob",
        Source.API,
        f"asbb:adjustment:{req.id}",
    )
    assert "requested by alice" in row.memo
    assert "approved by bob" in row.memo
    assert "grant NSF-1 instalment" in row.memo
    assert approvals.get(req.id).status == "approved"


def test_transfer_moves_budget_between_accounts(approvals, funded):
    req = approvals.request(
        "transfer",
        "ml-proj",
        "300",
        target_account="physics",
        requested_by="alice",
        reason="shared instrument time",
    )
    approvals.approve(req.id, approver="bob")

    assert totals(funded, "ml-proj") == (Decimal(700), 0, 0)
    assert totals(funded, "physics") == (Decimal(500), 0, 0)
    rows = rows_of(funded, f"adjustment-{req.id}")
    assert [(r.kind, r.limit_delta) for r in rows] == [
        (EntryKind.TRANSFER, Decimal(-300)),
        (EntryKind.TRANSFER, Decimal(300)),
    ]
    assert all(r.actor == "bob" and "requested by alice" in r.memo for r in rows)


def test_refund_corrects_usage_on_a_partition(approvals, funded):
    charge(funded, "40", partition="gpu-aws")
    req = approvals.request(
        "refund",
        "ml-proj",
        "15",
        partition="gpu-aws",
        requested_by="alice",
        reason="spot interruption",
    )
    approvals.approve(req.id, approver="bob")

    assert totals(funded) == (Decimal(1000), Decimal(25), 0)
    cap = funded.partition_limits("ml-proj")[0]
    assert (cap.partition, cap.used_amount) == ("gpu-aws", Decimal(25))
    (row,) = rows_of(funded, f"adjustment-{req.id}")
    assert (row.used_delta, row.partition, row.actor) == (Decimal(-15), "gpu-aws", "bob")


def test_hold_release_voids_the_hold(approvals, funded):
    plugin = Context(actor="slurmctld", source=Source.PLUGIN)
    hold = funded.create_hold("ml-proj", "50", ctx=plugin, buffer=1)
    req = approvals.request(
        "hold_release", "ml-proj", hold_id=hold.hold_id, requested_by="alice", reason="job lost"
    )
    assert req.amount == Decimal(50)
    assert totals(funded) == (Decimal(1000), 0, Decimal(50))

    approvals.approve(req.id, approver="bob")

    assert totals(funded) == (Decimal(1000), 0, 0)
    assert funded.get_hold(hold.hold_id).state == "voided"
    (row,) = rows_of(funded, f"adjustment-{req.id}")
    assert (row.kind, row.held_delta, row.actor) == (EntryKind.RELEASE, Decimal(-50), "bob")
    assert "requested by alice" in row.memo


# ---------------------------------------------------------------- maker-checker


def test_the_requester_cannot_approve_and_nothing_moves(approvals, funded):
    req = approvals.request("credit", "ml-proj", "100", requested_by="alice", reason="top-up")
    before = journal_count(funded)

    with pytest.raises(SelfApprovalError, match="another administrator") as caught:
        approvals.approve(req.id, approver="alice")

    assert caught.value.code == "self_approval"
    assert caught.value.http_status == 403
    assert journal_count(funded) == before
    assert totals(funded) == (Decimal(1000), 0, 0)
    assert approvals.get(req.id).status == "pending"
    with pytest.raises(SelfApprovalError):
        approvals.reject(req.id, approver="alice", reason="changed my mind")


def test_self_approval_allowed_when_approval_is_not_required(db, funded, settings, clock):
    relaxed = settings.model_copy(
        update={"approvals": settings.approvals.model_copy(update={"require_approval": False})}
    )
    approvals = Approvals(db, funded, relaxed, clock)
    req = approvals.request("credit", "ml-proj", "100", requested_by="alice", reason="top-up")
    assert approvals.approve(req.id, approver="alice").status == "approved"
    assert totals(funded) == (Decimal(1100), 0, 0)


def test_large_amounts_need_the_account_name_to_confirm(approvals, funded):
    req = approvals.request("credit", "ml-proj", "5000", requested_by="alice", reason="new grant")
    assert req.needs_confirmation is True
    small = approvals.request("credit", "ml-proj", "1000", requested_by="alice", reason="top-up")
    assert small.needs_confirmation is False  # "above" the threshold, not at it
    # A limit is judged by how far it moves: 1000 -> 1500 is small, 1000 -> 2000.01 is not.
    assert not approvals.request(
        "limit", "ml-proj", "1500", requested_by="a", reason="r"
    ).needs_confirmation
    assert approvals.request(
        "limit", "ml-proj", "2000.01", requested_by="a", reason="r"
    ).needs_confirmation

    for wrong in (None, "", "ML-PROJ", "physics"):
        with pytest.raises(ValidationError) as caught:
            approvals.approve(req.id, approver="bob", confirm=wrong)
        assert caught.value.field == "confirm"
    assert totals(funded) == (Decimal(1000), 0, 0)
    assert approvals.get(req.id).status == "pending"

    approvals.approve(req.id, approver="bob", confirm="ml-proj")
    assert totals(funded) == (Decimal(6000), 0, 0)


def test_a_refused_movement_leaves_the_request_pending(approvals, funded):
    req = approvals.request("debit", "ml-proj", "1000.01", requested_by="alice", reason="clawback")
    before = journal_count(funded)

    with pytest.raises(InsufficientFundsError):
        approvals.approve(req.id, approver="bob", confirm="ml-proj")

    assert journal_count(funded) == before
    assert totals(funded) == (Decimal(1000), 0, 0)
    left = approvals.get(req.id)
    assert (left.status, left.decided_by, left.result) == ("pending", None, None)
    # Once there is money to take, the same request goes through.
    approvals.approve(
        approvals.request("credit", "ml-proj", "1", requested_by="alice", reason="x").id,
        approver="bob",
    )
    assert approvals.approve(req.id, approver="bob", confirm="ml-proj").status == "approved"
    assert totals(funded) == (Decimal("0.99"), 0, 0)


def test_a_decided_request_cannot_be_decided_again(approvals, funded):
    req = approvals.request("credit", "ml-proj", "100", requested_by="alice", reason="top-up")
    approvals.approve(req.id, approver="bob")
    with pytest.raises(ConflictError, match="already approved"):
        approvals.approve(req.id, approver="carol")
    with pytest.raises(ConflictError):
        approvals.reject(req.id, approver="carol", reason="too late")
    with pytest.raises(ConflictError):
        approvals.cancel(req.id, "alice")
    assert totals(funded) == (Decimal(1100), 0, 0)
    assert len(rows_of(funded, f"adjustment-{req.id}")) == 1


def test_reject_needs_a_reason_and_moves_nothing(approvals, funded):
    req = approvals.request("credit", "ml-proj", "100", requested_by="alice", reason="top-up")
    for blank in ("", "   "):
        with pytest.raises(ValidationError) as caught:
            approvals.reject(req.id, approver="bob", reason=blank)
        assert caught.value.field == "reason"
    before = journal_count(funded)

    done = approvals.reject(req.id, approver="bob", reason="no award letter")

    assert (done.status, done.decided_by, done.decision_reason) == (
        "rejected",
        "bob",
        "no award letter",
    )
    assert journal_count(funded) == before
    with pytest.raises(ConflictError):
        approvals.approve(req.id, approver="carol")


def test_only_the_requester_may_cancel(approvals, funded):
    req = approvals.request("credit", "ml-proj", "100", requested_by="alice", reason="top-up")
    with pytest.raises(NotRequesterError):
        approvals.cancel(req.id, "bob")
    done = approvals.cancel(req.id, "alice", reason="typo in the amount")
    assert (done.status, done.decided_by) == ("cancelled", "alice")
    assert totals(funded) == (Decimal(1000), 0, 0)


def test_movement_and_approval_commit_together_or_not_at_all(approvals, funded, monkeypatch):
    req = approvals.request("credit", "ml-proj", "100", requested_by="alice", reason="top-up")
    before = journal_count(funded)
    applied: list[dict] = []
    real_apply = Approvals._apply

    def apply_then_remember(self, row, ctx, memo):
        result = real_apply(self, row, ctx, memo)
        applied.append(result)
        return result

    def fail(*args, **kwargs):
        raise RuntimeError("disk full while recording the decision")

    monkeypatch.setattr(Approvals, "_apply", apply_then_remember)
    monkeypatch.setattr(Approvals, "_mark_approved", fail)
    with pytest.raises(RuntimeError, match="disk full"):
        approvals.approve(req.id, approver="bob")

    assert len(applied) == 1  # the ledger movement did run inside the transaction ...
    assert journal_count(funded) == before  # ... and was rolled back with the status change
    assert rows_of(funded, f"adjustment-{req.id}") == []
    assert totals(funded) == (Decimal(1000), 0, 0)
    assert approvals.get(req.id).status == "pending"

    monkeypatch.undo()
    approvals.approve(req.id, approver="bob")  # the same key applies cleanly afterwards
    assert totals(funded) == (Decimal(1100), 0, 0)


# ---------------------------------------------------------------- validation up front


@pytest.mark.parametrize(
    ("args", "kwargs", "field"),
    [
        (("bonus", "ml-proj", "1"), {}, "kind"),
        (("credit", "Not A Name", "1"), {}, "account"),
        (("credit", "ml-proj", "-5"), {}, "amount"),
        (("credit", "ml-proj", "0"), {}, "amount"),
        (("credit", "ml-proj", "1.001"), {}, "amount"),
        (("credit", "ml-proj", 1.5), {}, "amount"),
        (("credit", "ml-proj", None), {}, "amount"),
        (("limit", "ml-proj", "-1"), {}, "amount"),
        (("limit", "ml-proj", "1000"), {}, "amount"),
        (("credit", "ml-proj", "1"), {"reason": "  "}, "reason"),
        (("credit", "ml-proj", "1"), {"reason": "x" * 501}, "reason"),
        (("credit", "ml-proj", "1"), {"requested_by": ""}, "requested_by"),
        (("transfer", "ml-proj", "1"), {}, "target_account"),
        (("transfer", "ml-proj", "1"), {"target_account": "ml-proj"}, "target_account"),
        (("credit", "ml-proj", "1"), {"target_account": "physics"}, "target_account"),
        (("hold_release", "ml-proj"), {}, "hold_id"),
        (("hold_release", "ml-proj", "5"), {"hold_id": "h1"}, "amount"),
        (("credit", "ml-proj", "1"), {"hold_id": "h1"}, "hold_id"),
        (("credit", "ml-proj", "1"), {"partition": "gpu-aws"}, "partition"),
        (("refund", "ml-proj", "1"), {"partition": "bad name!"}, "partition"),
    ],
)
def test_bad_requests_name_the_field_and_write_nothing(approvals, funded, args, kwargs, field):
    given = {"requested_by": "alice", "reason": "because", **kwargs}
    with pytest.raises(ValidationError) as caught:
        approvals.request(*args, **given)
    assert caught.value.field == field
    assert request_count(funded) == 0


def test_unknown_accounts_and_holds_are_not_found(approvals, funded, ctx):
    cases = [
        (("credit", "nobody", "1"), {}, "account"),
        (("transfer", "ml-proj", "1"), {"target_account": "nobody"}, "target_account"),
        (("hold_release", "ml-proj"), {"hold_id": "h-missing"}, "hold_id"),
    ]
    for args, kwargs, field in cases:
        with pytest.raises(NotFoundError) as caught:
            approvals.request(*args, requested_by="alice", reason="because", **kwargs)
        assert caught.value.field == field
    with pytest.raises(NotFoundError):
        approvals.get(12345)
    with pytest.raises(NotFoundError):
        approvals.approve(12345, approver="bob")
    assert request_count(funded) == 0


def test_a_hold_of_another_account_or_already_closed_is_refused(approvals, funded):
    plugin = Context(actor="slurmctld", source=Source.PLUGIN)
    hold = funded.create_hold("physics", "5", ctx=plugin, buffer=1)
    with pytest.raises(ValidationError) as caught:
        approvals.request(
            "hold_release", "ml-proj", hold_id=hold.hold_id, requested_by="a", reason="r"
        )
    assert caught.value.field == "hold_id"
    funded.post_hold(hold.hold_id, "5", ctx=plugin)
    with pytest.raises(HoldResolvedError):
        approvals.request(
            "hold_release", "physics", hold_id=hold.hold_id, requested_by="a", reason="r"
        )
    assert request_count(funded) == 0


def test_a_hold_released_before_approval_makes_the_approval_fail(approvals, funded, ctx):
    plugin = Context(actor="slurmctld", source=Source.PLUGIN)
    hold = funded.create_hold("ml-proj", "5", ctx=plugin, buffer=1)
    req = approvals.request(
        "hold_release", "ml-proj", hold_id=hold.hold_id, requested_by="alice", reason="stuck"
    )
    funded.post_hold(hold.hold_id, "5", ctx=plugin)  # the job ended meanwhile
    with pytest.raises(HoldResolvedError):
        approvals.approve(req.id, approver="bob")
    assert approvals.get(req.id).status == "pending"
    assert approvals.reject(req.id, approver="bob", reason="job finished").status == "rejected"


def test_list_filters_and_pages(approvals, funded):
    a = approvals.request("credit", "ml-proj", "1", requested_by="alice", reason="one")
    b = approvals.request("credit", "physics", "2", requested_by="alice", reason="two")
    c = approvals.request(
        "transfer", "ml-proj", "3", target_account="physics", requested_by="alice", reason="3"
    )
    approvals.approve(a.id, approver="bob")

    assert [r.id for r in approvals.list()] == [c.id, b.id, a.id]
    assert [r.id for r in approvals.list(status="pending")] == [c.id, b.id]
    assert [r.id for r in approvals.list(status="approved")] == [a.id]
    assert [r.id for r in approvals.list(account="physics")] == [c.id, b.id]
    assert [r.id for r in approvals.list(accounts=["ml-proj"])] == [c.id, a.id]
    assert [r.id for r in approvals.list(limit=1, offset=1)] == [b.id]
    assert approvals.count(status="pending") == 2
    with pytest.raises(ValidationError) as caught:
        approvals.list(status="done")
    assert caught.value.field == "status"
    with pytest.raises(ValidationError):
        approvals.list(limit=0)


def test_two_checkers_at_once_apply_it_once(approvals, funded):
    import threading

    req = approvals.request("credit", "ml-proj", "100", requested_by="alice", reason="top-up")
    outcomes: list[str] = []
    start = threading.Barrier(4)

    def approve(checker: str) -> None:
        start.wait()
        try:
            approvals.approve(req.id, approver=checker)
            outcomes.append("approved")
        except ConflictError:
            outcomes.append("conflict")

    threads = [threading.Thread(target=approve, args=(f"checker-{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(outcomes) == ["approved", "conflict", "conflict", "conflict"]
    assert totals(funded) == (Decimal(1100), 0, 0)
    assert len(rows_of(funded, f"adjustment-{req.id}")) == 1


def test_list_searches_accounts_people_kinds_and_reasons(approvals):
    approvals.request("credit", "ml-proj", "10", requested_by="alice", reason="GPU sweep")
    approvals.request(
        "transfer", "ml-proj", "5", requested_by="bob", reason="lend", target_account="physics"
    )
    approvals.request("limit", "physics", "300", requested_by="carol", reason="100% of award")

    def kinds(text: str) -> list[str]:
        return [str(r.kind) for r in approvals.list(search=text)]

    assert kinds("PHYS") == ["limit", "transfer"]  # either side of a transfer
    assert kinds("bob") == ["transfer"]
    assert kinds("sweep") == ["credit"]
    assert kinds("100%") == ["limit"]  # % is literal
    assert kinds("0%_") == []
    assert approvals.count(search="ml-") == 2
