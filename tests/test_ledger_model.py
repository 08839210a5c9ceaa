"""Random sequences of ledger operations, checked step by step against a tiny in-memory model.

The model knows only the rules (hold = estimate x buffer rounded half-even to the cent; a hold
fits if it is within the account's and the partition's available balance; a post charges the
cost, releases the rest, and charges any excess as overrun). After every step the database's
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
from asbb_core.values.context import Context, Source
from asbb_core.values.errors import HoldResolvedError, InsufficientFundsError
from asbb_core.values.money import round_internal, round_posting

pytestmark = pytest.mark.slow

BUFFER = Decimal("1.2")
CAP = "gpu-aws"
cents = st.integers(min_value=0, max_value=200_000).map(lambda c: Decimal(c) / 100)
estimates = st.integers(min_value=0, max_value=1_000_000).map(lambda c: Decimal(c) / 10_000)


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
            self.limit, self.used, self.held = limit, Decimal(0), Decimal(0)
            self.cap = cap
            self.cap_used, self.cap_held = Decimal(0), Decimal(0)
            self.remaining: dict[str, Decimal] = {}
            self.partition_of: dict[str, str | None] = {}

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

        def _resolve(self, hold_id: str, cost: Decimal) -> None:
            rest = self.remaining.pop(hold_id)
            self.held -= rest
            self.used += cost
            if self.partition_of[hold_id] == CAP:
                self.cap_held -= rest
                self.cap_used += cost

        @rule(hold_id=consumes(holds), cost=cents)
        def post(self, hold_id: str, cost: Decimal) -> None:
            if hold_id not in self.remaining:
                return
            result = ledger.post_hold(hold_id, cost, ctx=ctx)
            assert result.overrun == max(Decimal(0), cost - self.remaining[hold_id])
            self._resolve(hold_id, cost)

        @rule(hold_id=consumes(holds))
        def void(self, hold_id: str) -> None:
            if hold_id not in self.remaining:
                return
            ledger.void_hold(hold_id, ctx=ctx)
            self._resolve(hold_id, Decimal(0))

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
                self._resolve(hold_id, Decimal(0))

        @invariant()
        def totals_match_the_model(self) -> None:
            if not hasattr(self, "name"):
                return
            account = ledger.get_account(self.name)
            assert (account.limit_amount, account.used_amount, account.held_amount) == (
                self.limit,
                self.used,
                self.held,
            )
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
