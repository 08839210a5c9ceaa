"""Money into and out of an account's limit: deposits, allocation instalments, expiries of
unspent money, signed adjustments, limit changes and transfers between accounts."""

from __future__ import annotations

from sqlmodel import Session, select

from asbb_core.ledger.journal import LedgerCore
from asbb_core.ledger.results import MovementResult
from asbb_core.store.models import Account, AccountStatus, EntryKind
from asbb_core.values.context import Context
from asbb_core.values.errors import (
    AccountInactiveError,
    InsufficientFundsError,
    NotFoundError,
    ValidationError,
)
from asbb_core.values.money import ZERO, format_money, money_value, parse_money
from asbb_core.values.text import clean_text, normalise_account_name, validate_partition_name


class MovementUseCases(LedgerCore):
    # -- money in and out of an account's limit ------------------------------

    def deposit(
        self,
        account_name: str,
        amount: object,
        *,
        ctx: Context,
        memo: str = "",
        kind: EntryKind = EntryKind.DEPOSIT,
    ) -> MovementResult:
        """Add money to an account's limit (a deposit, or an allocation instalment)."""
        if kind not in (EntryKind.DEPOSIT, EntryKind.ALLOCATION):
            raise ValidationError("kind: a deposit is a deposit or an allocation", field="kind")
        name = normalise_account_name(account_name)
        value = parse_money(amount, field="amount", allow_zero=False)
        memo = clean_text(memo, field="memo", limit=500)
        payload = {"account": name, "amount": str(value), "kind": str(kind), "memo": memo}

        def use_case(session: Session) -> MovementResult:
            account = self._lock_account(session, name=name)
            if account.status == AccountStatus.CLOSED:
                raise AccountInactiveError(f"account {name!r} is closed", field="account")
            entry = self._append(session, ctx, account, kind, value, limit_delta=value, memo=memo)
            result = self._movement(account, value, [entry])
            return result

        return self.run(use_case, self._operation(str(kind), payload, ctx))

    def expire_unspent(
        self, account_name: str, at_most: object, *, ctx: Context, memo: str = ""
    ) -> MovementResult:
        """Take unspent allocation money back from an account's limit at its period's end.

        Takes ``at_most``, but never more than is available then: money already used or held
        is never touched. Journaled as an expiry (a negative limit delta); when nothing is
        available nothing is written (``amount`` 0, no entry ids).
        """
        name = normalise_account_name(account_name)
        ceiling = parse_money(at_most, field="amount", allow_zero=False)
        memo = clean_text(memo, field="memo", limit=500)
        payload = {"account": name, "at_most": str(ceiling), "memo": memo}

        def use_case(session: Session) -> MovementResult:
            account = self._lock_account(session, name=name)
            taken = max(ZERO, min(ceiling, account.available))
            entries: list[int] = []
            if taken > 0:
                entry = self._append(
                    session, ctx, account, EntryKind.EXPIRY, taken, limit_delta=-taken, memo=memo
                )
                entries.append(entry)
            result = self._movement(account, taken, entries)
            return result

        return self.run(use_case, self._operation("expiry", payload, ctx))

    def adjust(
        self,
        account_name: str,
        amount: object,
        *,
        ctx: Context,
        reason: str,
        target: str = "limit",
        partition: str | None = None,
    ) -> MovementResult:
        """A manual correction, signed: ``target='limit'`` credits (+) or debits (-) the
        budget; ``target='used'`` corrects usage (a negative amount refunds a charge).
        A debit may not take more than is available; a refund no more than was used."""
        name = normalise_account_name(account_name)
        value = parse_money(amount, field="amount", allow_negative=True, allow_zero=False)
        reason = clean_text(reason, field="reason", limit=500)
        if not reason:
            raise ValidationError("reason: an adjustment needs a reason", field="reason")
        if target not in ("limit", "used"):
            raise ValidationError("target: must be 'limit' or 'used'", field="target")
        part = validate_partition_name(partition)
        if part is not None and target != "used":
            raise ValidationError(
                "partition: only usage corrections name a partition", field="partition"
            )
        payload = {
            "account": name,
            "amount": str(value),
            "target": target,
            "reason": reason,
            "partition": part,
        }

        def use_case(session: Session) -> MovementResult:
            account = self._lock_account(session, name=name)
            cap = self._lock_partition_limit(session, account, part)
            if target == "limit":
                if value < 0 and -value > account.available:
                    raise InsufficientFundsError(
                        f"account {name} has {format_money(account.available)} available; "
                        f"a debit of {format_money(-value)} exceeds it",
                        field="amount",
                        details={"available": money_value(account.available)},
                    )
                entry = self._append(
                    session,
                    ctx,
                    account,
                    EntryKind.ADJUSTMENT,
                    abs(value),
                    limit_delta=value,
                    memo=reason,
                )
            else:
                used_base = cap.used_amount if cap is not None else account.used_amount
                if value < 0 and -value > used_base:
                    raise ValidationError(
                        f"amount: a refund of {format_money(-value)} is more than the "
                        f"{format_money(used_base)} used",
                        field="amount",
                    )
                entry = self._append(
                    session,
                    ctx,
                    account,
                    EntryKind.ADJUSTMENT,
                    abs(value),
                    used_delta=value,
                    partition=part,
                    partition_limit=cap,
                    memo=reason,
                )
            result = self._movement(account, value, [entry])
            return result

        return self.run(use_case, self._operation("adjustment", payload, ctx))

    def set_limit(
        self, account_name: str, new_limit: object, *, ctx: Context, reason: str
    ) -> MovementResult:
        """Set an account's limit to a figure, journaled as the adjustment that gets there.

        Lowering it may not take away money that is already used or held."""
        name = normalise_account_name(account_name)
        target = parse_money(new_limit, field="limit")
        reason = clean_text(reason, field="reason", limit=500)
        if not reason:
            raise ValidationError("reason: a limit change needs a reason", field="reason")
        payload = {"account": name, "limit": str(target), "reason": reason}

        def use_case(session: Session) -> MovementResult:
            account = self._lock_account(session, name=name)
            delta = target - account.limit_amount
            if delta == 0:
                raise ValidationError(f"limit: already {format_money(target)}", field="limit")
            committed = account.used_amount + account.held_amount
            if target < committed:
                raise InsufficientFundsError(
                    f"limit: {format_money(target)} is below the {format_money(committed)} "
                    f"already used or held in account {name}",
                    field="limit",
                    details={
                        "used": money_value(account.used_amount),
                        "held": money_value(account.held_amount),
                    },
                )
            entry = self._append(
                session,
                ctx,
                account,
                EntryKind.ADJUSTMENT,
                abs(delta),
                limit_delta=delta,
                memo=reason,
            )
            result = self._movement(account, delta, [entry])
            return result

        return self.run(use_case, self._operation("set_limit", payload, ctx))

    def transfer(
        self, source: str, destination: str, amount: object, *, ctx: Context, reason: str
    ) -> MovementResult:
        """Move budget (limit) from one account to another; both rows share a correlation id."""
        src_name = normalise_account_name(source, field="source")
        dst_name = normalise_account_name(destination, field="destination")
        if src_name == dst_name:
            raise ValidationError("destination: must differ from the source", field="destination")
        value = parse_money(amount, field="amount", allow_zero=False)
        reason = clean_text(reason, field="reason", limit=500)
        if not reason:
            raise ValidationError("reason: a transfer needs a reason", field="reason")
        payload = {
            "source": src_name,
            "destination": dst_name,
            "amount": str(value),
            "reason": reason,
        }

        def use_case(session: Session) -> MovementResult:
            ids: list[int] = []
            for n, field in ((src_name, "source"), (dst_name, "destination")):
                found = session.exec(select(Account.id).where(Account.name == n)).first()
                if found is None:
                    raise NotFoundError(f"account {n!r} does not exist", field=field)
                ids.append(found)
            # Lock in id order, as everywhere, so two opposite transfers cannot deadlock.
            locked = {a.name: a for a in (self._lock_account(session, id=i) for i in sorted(ids))}
            src, dst = locked[src_name], locked[dst_name]
            for acct, field in ((src, "source"), (dst, "destination")):
                if acct.status == AccountStatus.CLOSED:
                    raise AccountInactiveError(f"account {acct.name!r} is closed", field=field)
            if value > src.available:
                raise InsufficientFundsError(
                    f"account {src.name} has {format_money(src.available)} available; "
                    f"cannot transfer {format_money(value)}",
                    field="amount",
                    details={"available": money_value(src.available)},
                )
            out = self._append(
                session,
                ctx,
                src,
                EntryKind.TRANSFER,
                value,
                limit_delta=-value,
                counterparty=dst,
                memo=reason,
            )
            into = self._append(
                session,
                ctx,
                dst,
                EntryKind.TRANSFER,
                value,
                limit_delta=value,
                counterparty=src,
                memo=reason,
            )
            result = self._movement(src, value, [out, into])
            return result

        return self.run(use_case, self._operation("transfer", payload, ctx))
