"""Random sequences of ledger operations, checked step by step against a tiny in-memory model.

The model knows only the rules (hold = estimate x buffer rounded half-even to the cent; a hold
fits if it is within the account's and the partition's available balance; a post charges the
cost, releases the rest, and charges any excess as overrun; a charge posts whole cents and
carries the fraction; a resolved hold is final, and a cost after it is a late charge or a
correction; a retried request with its key changes nothing). Its steps: deposits, limit
credits and debits, usage refunds, transfers, holds for single jobs and arrays, posts per task,
voids, expiry, late charges, cost corrections and retries. After every step the database's
cached totals must equal the model's, and at the end the journal must verify.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from asbb_core.ledger import Ledger
from asbb_core.ledger.verify import verify_ledger
from asbb_core.values.context import Context, IdempotencyKey, Source
from asbb_core.values.errors import (
    AlreadyChargedError,
    HoldResolvedError,
    InsufficientFundsError,
    ValidationError,
)
from asbb_core.values.money import carry_cent, round_internal, round_posting

pytestmark = pytest.mark.slow

BUFFER = Decimal("1.2")
CAP = "gpu-aws"
cents = st.integers(min_value=0, max_value=200_000).map(lambda c: Decimal(c) / 100)
estimates = st.integers(min_value=0, max_value=1_000_000).map(lambda c: Decimal(c) / 10_000)
costs = st.integers(min_value=0, max_value=100_000).map(lambda c: Decimal(c) / 10_000)
"""Exact costs at the journal's 4 places: most are fractions of a cent."""
OTHER = "model-other"


def make_machine(ledger: Ledger, clock) -> type[RuleBasedStateMachine]:
    ctx = Context(actor="model", source=Source.CLI)

    class LedgerModel(RuleBasedStateMachine):
        holds = Bundle("holds")

        @initialize(limit=cents, cap=st.one_of(st.none(), cents))
        def open_account(self, limit: Decimal, cap: Decimal | None) -> None:
            self.name = f"m{uuid.uuid4().hex[:10]}"
            ledger.create_account(
                self.name,
                ctx=ctx,
                limit=limit,
                partition_limits={CAP: cap} if cap is not None else None,
            )
            self.other = f"{self.name}-o"
            ledger.create_account(self.other, ctx=ctx)
            self.other_limit = Decimal(0)
            self.limit, self.used, self.held = limit, Decimal(0), Decimal(0)
            self.carry = Decimal(0)
            self.cap = cap
            self.cap_used, self.cap_held = Decimal(0), Decimal(0)
            self.remaining: dict[str, Decimal] = {}
            self.partition_of: dict[str, str | None] = {}
            self.tasks: dict[str, tuple[int, int]] = {}  # open array holds: (posted, count)
            self.arrays: set[str] = set()
            self.exact: dict[str, Decimal] = {}  # each resolved hold's job: its exact cost
            self.charged_once: set[str] = set()  # resolved holds whose job was charged
            self.keys = 0

        def _charge(self, cost: Decimal, partition: str | None) -> Decimal:
            """The model of one charge: whole cents posted, the fraction carried."""
            posted, delta = carry_cent(cost, self.carry)
            self.carry += delta
            self.used += posted
            if partition == CAP:
                self.cap_used += posted
            return posted

        @property
        def available(self) -> Decimal:
            return self.limit - self.used - self.held

        @rule(amount=cents.filter(lambda a: a > 0))
        def deposit(self, amount: Decimal) -> None:
            ledger.deposit(self.name, amount, ctx=ctx)
            self.limit += amount

        @rule(target=holds, estimate=estimates, on_cap=st.booleans())
        def hold(self, estimate: Decimal, on_cap: bool) -> str:
            partition = CAP if on_cap else "aws-cpu"
            amount = round_posting(round_internal(estimate) * BUFFER)
            fits = amount <= self.limit - self.used - self.held
            if on_cap and self.cap is not None:
                fits = fits and amount <= self.cap - self.cap_used - self.cap_held
            try:
                result = ledger.create_hold(self.name, estimate, ctx=ctx, partition=partition)
            except InsufficientFundsError:
                assert not fits
                return "refused"
            assert fits
            assert result.amount == amount
            self.held += amount
            if on_cap:
                self.cap_held += amount
            self.remaining[result.hold_id] = amount
            self.partition_of[result.hold_id] = partition
            return result.hold_id

        def _release(self, hold_id: str) -> None:
            rest = self.remaining.pop(hold_id)
            self.held -= rest
            if self.partition_of[hold_id] == CAP:
                self.cap_held -= rest
            self.tasks.pop(hold_id, None)

        def _take(self, hold_id: str, cost: Decimal) -> tuple[Decimal, Decimal]:
            """A charge against an open hold: (posted, overrun)."""
            part = self.partition_of[hold_id]
            posted = self._charge(cost, part)
            consumed = min(posted, self.remaining[hold_id])
            self.remaining[hold_id] -= consumed
            self.held -= consumed
            if part == CAP:
                self.cap_held -= consumed
            self.exact[hold_id] = self.exact.get(hold_id, Decimal(0)) + cost
            return posted, posted - consumed

        @rule(hold_id=consumes(holds), cost=costs)
        def post(self, hold_id: str, cost: Decimal) -> None:
            if hold_id not in self.remaining or hold_id in self.tasks:
                return
            result = ledger.post_hold(hold_id, cost, ctx=ctx)
            _, overrun = self._take(hold_id, cost)
            assert result.overrun == overrun
            self._release(hold_id)
            self.charged_once.add(hold_id)

        @rule(target=holds, estimate=estimates, tasks=st.integers(min_value=2, max_value=4))
        def array_hold(self, estimate: Decimal, tasks: int) -> str:
            amount = round_posting(round_internal(estimate) * BUFFER)
            try:
                result = ledger.create_hold(
                    self.name, estimate, ctx=ctx, partition="aws-cpu", task_count=tasks
                )
            except InsufficientFundsError:
                assert amount > self.available
                return "refused"
            assert amount <= self.available
            self.held += amount
            self.remaining[result.hold_id] = amount
            self.partition_of[result.hold_id] = "aws-cpu"
            self.tasks[result.hold_id] = (0, tasks)
            self.arrays.add(result.hold_id)
            return result.hold_id

        @rule(hold_id=holds, cost=costs)
        def post_a_task(self, hold_id: str, cost: Decimal) -> None:
            if hold_id not in self.tasks:
                return
            done, count = self.tasks[hold_id]
            ledger.post_hold(hold_id, cost, ctx=ctx, job_id=f"{hold_id}_{done}")
            self._take(hold_id, cost)
            self.tasks[hold_id] = (done + 1, count)
            if done + 1 == count:
                self._release(hold_id)
                self.charged_once.add(hold_id)

        @rule(hold_id=consumes(holds))
        def void(self, hold_id: str) -> None:
            if hold_id not in self.remaining:
                return
            ledger.void_hold(hold_id, ctx=ctx)
            self._release(hold_id)

        @rule(hold_id=holds, cost=costs)
        def late_charge(self, hold_id: str, cost: Decimal) -> None:
            """A job's cost arriving after its single-job hold closed unposted."""
            if hold_id == "refused" or hold_id in self.remaining or hold_id in self.exact:
                return
            if hold_id in self.arrays:
                return
            try:
                result = ledger.post_hold(hold_id, cost, ctx=ctx, late=True)
            except AlreadyChargedError:
                assert hold_id in self.charged_once
                return
            assert hold_id not in self.charged_once
            assert result.late
            posted = self._charge(cost, self.partition_of.get(hold_id))
            assert result.charged == posted
            self.exact[hold_id] = cost
            self.charged_once.add(hold_id)

        @rule(hold_id=holds, cost=costs)
        def correct_the_cost(self, hold_id: str, cost: Decimal) -> None:
            """The real bill, later: the job's charge brought to it; the hold stays final."""
            if hold_id not in self.exact or hold_id in self.remaining or hold_id in self.arrays:
                return
            before = ledger.get_hold(hold_id)
            job = f"job-of-{hold_id}"
            ledger.settle_job_cost(job, cost, ctx=ctx, hold_id=hold_id)
            after = ledger.get_hold(hold_id)
            assert (after.state, after.charged, after.resolved_at) == (
                before.state,
                before.charged,
                before.resolved_at,
            )
            delta = cost - self.exact[hold_id]
            if delta:
                self._charge(delta, self.partition_of.get(hold_id))
            self.exact[hold_id] = cost

        @rule(amount=cents.filter(lambda a: a > 0), debit=st.booleans())
        def adjust_the_limit(self, amount: Decimal, debit: bool) -> None:
            signed = -amount if debit else amount
            try:
                ledger.adjust(self.name, signed, ctx=ctx, reason="model")
            except InsufficientFundsError:
                assert debit
                assert amount > self.available
                return
            assert not debit or amount <= self.available
            self.limit += signed

        @rule(amount=cents.filter(lambda a: a > 0))
        def refund_usage(self, amount: Decimal) -> None:
            try:
                ledger.adjust(self.name, -amount, ctx=ctx, reason="refund", target="used")
            except ValidationError:  # more than was used
                assert amount > self.used
                return
            assert amount <= self.used
            self.used -= amount

        @rule(amount=cents.filter(lambda a: a > 0))
        def transfer_out(self, amount: Decimal) -> None:
            try:
                ledger.transfer(self.name, self.other, amount, ctx=ctx, reason="model")
            except InsufficientFundsError:
                assert amount > self.available
                return
            assert amount <= self.available
            self.limit -= amount
            self.other_limit += amount

        @rule(amount=cents.filter(lambda a: a > 0))
        def deposit_retried(self, amount: Decimal) -> None:
            """The same request twice under one key: the second is the first's answer."""
            self.keys += 1
            keyed = Context(
                actor="model",
                source=Source.API,
                idempotency_key=IdempotencyKey.client(f"{self.name}-{self.keys}"),
            )
            first = ledger.deposit(self.name, amount, ctx=keyed)
            again = ledger.deposit(self.name, amount, ctx=keyed)
            assert (again.replayed, again.entry_ids) == (True, first.entry_ids)
            self.limit += amount

        @rule(hold_id=holds)
        def resolved_twice_is_refused(self, hold_id: str) -> None:
            if hold_id == "refused" or hold_id in self.remaining:
                return
            with pytest.raises(HoldResolvedError):
                ledger.void_hold(hold_id, ctx=ctx)

        @rule()
        def time_passes_and_holds_expire(self) -> None:
            clock.advance(timedelta(hours=25))
            expired = {r.hold_id for r in ledger.expire_holds(ctx=ctx)}
            mine = expired & set(self.remaining)
            assert mine == set(self.remaining)
            for hold_id in mine:
                self._release(hold_id)

        @invariant()
        def totals_match_the_model(self) -> None:
            if not hasattr(self, "name"):
                return
            account = ledger.get_account(self.name)
            assert (
                account.limit_amount,
                account.used_amount,
                account.held_amount,
                account.carry_amount,
            ) == (self.limit, self.used, self.held, self.carry)
            assert ledger.get_account(self.other).limit_amount == self.other_limit
            if self.cap is not None:
                (cap,) = ledger.partition_limits(self.name)
                assert (cap.used_amount, cap.held_amount) == (self.cap_used, self.cap_held)

        def teardown(self) -> None:
            report = verify_ledger(ledger.db)
            assert report.ok, [str(p) for p in report.problems]

    return LedgerModel


def test_ledger_matches_its_model(ledger, clock):
    run_state_machine_as_test(
        make_machine(ledger, clock),
        settings=settings(
            max_examples=25,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
