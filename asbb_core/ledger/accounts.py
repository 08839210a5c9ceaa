"""Accounts: open, change, close, cap a partition; and the basic reads of accounts, holds and
the journal."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal

from sqlalchemy import func
from sqlmodel import Session, col, select

from asbb_core.ledger.journal import LedgerCore, check_dates
from asbb_core.store import audit
from asbb_core.store.models import (
    Account,
    AccountStatus,
    EntryKind,
    Hold,
    HoldState,
    JournalEntry,
    PartitionLimit,
)
from asbb_core.values.context import Context
from asbb_core.values.errors import ConflictError, NotFoundError, ValidationError
from asbb_core.values.money import ZERO, format_money, money_value, parse_money
from asbb_core.values.text import clean_text, normalise_account_name, validate_partition_name

MAX_DISPLAY_NAME = 200
"""As long as the column (``Account.display_name``)."""


def clean_display_name(value: object) -> str:
    """An account's display name: one line of text of at most ``MAX_DISPLAY_NAME``
    characters, stripped ("" when absent)."""
    text = clean_text(value, field="display_name", limit=MAX_DISPLAY_NAME)
    if "\n" in text or "\r" in text:
        raise ValidationError("display_name: must be one line", field="display_name")
    return text


def _details(account: Account) -> dict[str, object]:
    """What the audit trail keeps of an account's change (money is in the journal)."""
    return {
        "display_name": account.display_name,
        "description": account.description,
        "start_date": account.start_date,
        "end_date": account.end_date,
        "status": account.status,
    }


def deletion_refusal(account: Account, open_holds: int) -> str | None:
    """Why an account may not be deleted (``None``: it may). asbb never deletes a row: the
    original tool's delete becomes a close, allowed only for an account that holds no money,
    never used any and has no open holds, so closing it loses no history anyone relies on."""
    money = [
        f"{format_money(amount)} {what}"
        for amount, what in ((account.used_amount, "used"), (account.held_amount, "held"))
        if amount != ZERO
    ]
    if open_holds:
        money.append(f"{open_holds} open hold(s)")
    if not money:
        return None
    return (
        f"account {account.name} cannot be deleted: it has {', '.join(money)}, and asbb keeps "
        "the history of the money it moved; resolve its holds, then close it for good instead"
    )


class AccountUseCases(LedgerCore):
    # -- accounts --------------------------------------------------------------

    def create_account(
        self,
        name: str,
        *,
        ctx: Context,
        limit: object = 0,
        description: str = "",
        start_date: date | None = None,
        end_date: date | None = None,
        partition_limits: Mapping[str, object] | None = None,
        display_name: str = "",
    ) -> Account:
        """Open an account; a non-zero limit is journaled as its opening deposit.
        ``display_name`` is what people call it; ``name`` stays the Slurm account's."""
        name = normalise_account_name(name)
        opening = parse_money(limit, field="limit")
        description = clean_text(description, field="description")
        display_name = clean_display_name(display_name)
        check_dates(start_date, end_date)
        caps = {
            validate_partition_name(p, field="partition"): parse_money(
                v, field=f"partition_limits.{p}"
            )
            for p, v in (partition_limits or {}).items()
        }

        def use_case(session: Session) -> Account:
            if session.exec(select(Account.id).where(Account.name == name)).first() is not None:
                raise ConflictError(f"account {name!r} already exists", field="name")
            now = self.clock()
            account = Account(
                name=name,
                display_name=display_name,
                description=description,
                start_date=start_date,
                end_date=end_date,
                created_at=now,
                updated_at=now,
            )
            session.add(account)
            session.flush()
            if opening > 0:
                self._append(
                    session,
                    ctx,
                    account,
                    EntryKind.DEPOSIT,
                    opening,
                    limit_delta=opening,
                    memo="opening balance",
                )
            for partition, cap in caps.items():
                session.add(
                    PartitionLimit(
                        account_id=account.id,  # type: ignore[arg-type]
                        partition=partition,  # type: ignore[arg-type]
                        limit_amount=cap,
                        updated_at=now,
                    )
                )
            session.flush()
            audit.record(
                session,
                ctx,
                "account.create",
                f"account:{name}",
                at=now,
                after={
                    "display_name": display_name,
                    "description": description,
                    "start_date": start_date,
                    "end_date": end_date,
                    "status": account.status,
                    "partition_limits": {str(p): format(v, "f") for p, v in caps.items()},
                },
            )
            return account

        payload = {
            "name": name,
            "limit": opening,
            "description": description,
            "start_date": start_date,
            "end_date": end_date,
            "partition_limits": {str(p): v for p, v in caps.items()},
        }
        if display_name:  # only then, so the payloads of other creates stay as they were
            payload["display_name"] = display_name
        return self.run(use_case, self._operation("create_account", payload, ctx))

    def update_account(
        self,
        name: str,
        *,
        ctx: Context,
        description: str | None = None,
        start_date: date | None = None,
        end_date: date | None = None,
        clear_dates: bool = False,
        status: AccountStatus | str | None = None,
        only_if_unused: bool = False,
        display_name: str | None = None,
    ) -> Account:
        """Change an account's details or status. Closing needs no open holds; with
        ``only_if_unused`` an open account that used or holds money is refused too
        (``deletion_refusal``), checked under the account's row lock."""
        name = normalise_account_name(name)
        if description is not None:
            description = clean_text(description, field="description")
        if display_name is not None:
            display_name = clean_display_name(display_name)
        new_status: AccountStatus | None = None
        if status is not None:
            try:
                new_status = AccountStatus(status)
            except ValueError:
                raise ValidationError(
                    f"status: {status!r} is not one of active, suspended, closed", field="status"
                ) from None

        def use_case(session: Session) -> Account:
            account = self._lock_account(session, name=name)
            if account.status == AccountStatus.CLOSED and new_status not in (
                None,
                AccountStatus.CLOSED,
            ):
                raise ConflictError(
                    f"account {name!r} is closed; it cannot be reopened", field="status"
                )
            start = None if clear_dates else (start_date or account.start_date)
            end = None if clear_dates else (end_date or account.end_date)
            check_dates(start, end)
            if new_status == AccountStatus.CLOSED:
                open_holds = session.exec(
                    select(func.count())
                    .select_from(Hold)
                    .where(Hold.account_id == account.id, Hold.state == HoldState.OPEN)
                ).one()
                refusal = deletion_refusal(account, open_holds) if only_if_unused else None
                # an account closed already stays closed: deleting it again changes nothing
                if refusal is not None and account.status != AccountStatus.CLOSED:
                    raise ConflictError(
                        refusal,
                        field="account",
                        details={
                            "used": money_value(account.used_amount),
                            "held": money_value(account.held_amount),
                            "open_holds": open_holds,
                        },
                    )
                if open_holds:
                    raise ConflictError(
                        f"account {name!r} has {open_holds} open hold(s); "
                        "reconcile or void them before closing",
                        field="status",
                        details={"open_holds": open_holds},
                    )
            before = _details(account)
            if description is not None:
                account.description = description
            if display_name is not None:
                account.display_name = display_name
            account.start_date, account.end_date = start, end
            if new_status is not None:
                account.status = new_status
            account.updated_at = self.clock()
            session.flush()
            audit.record(
                session,
                ctx,
                "account.update",
                f"account:{name}",
                at=account.updated_at,
                before=before,
                after=_details(account),
            )
            return account

        payload = {
            "name": name,
            "description": description,
            "start_date": start_date,
            "end_date": end_date,
            "clear_dates": clear_dates,
            "status": new_status,
        }
        if only_if_unused:  # only then, so the payloads of plain updates stay as they were
            payload["only_if_unused"] = True
        if display_name is not None:  # likewise
            payload["display_name"] = display_name
        return self.run(use_case, self._operation("update_account", payload, ctx))

    def delete_account(self, name: str, *, ctx: Context) -> Account:
        """The original tool's account delete: close an account that never used or held
        money and has no open holds (``ConflictError`` with the reason otherwise). The row,
        its journal and its audit trail stay."""
        return self.update_account(name, ctx=ctx, status=AccountStatus.CLOSED, only_if_unused=True)

    def set_partition_limit(
        self, account_name: str, partition: str, limit: object | None, *, ctx: Context
    ) -> PartitionLimit | None:
        """Cap a partition inside an account (``None`` removes the cap).

        A new cap starts with the partition's usage and open holds so far, summed from the
        journal, so the cap applies to what was already spent there.
        """
        name = normalise_account_name(account_name)
        part = validate_partition_name(partition)
        cap = None if limit is None else parse_money(limit, field="limit")

        def use_case(session: Session) -> PartitionLimit | None:
            account = self._lock_account(session, name=name)
            existing = self._lock_partition_limit(session, account, part)
            now = self.clock()
            audit.record(
                session,
                ctx,
                "partition_limit.remove" if cap is None else "partition_limit.set",
                f"account:{name}",
                at=now,
                before={"partition": part, "limit": existing.limit_amount if existing else None},
                after={"partition": part, "limit": cap},
                keep=("partition",),
            )
            if cap is None:
                if existing is not None:
                    session.delete(existing)
                    session.flush()
                return None
            if existing is None:
                used, held = session.exec(
                    select(
                        func.coalesce(func.sum(JournalEntry.used_delta), 0),
                        func.coalesce(func.sum(JournalEntry.held_delta), 0),
                    ).where(JournalEntry.account_id == account.id, JournalEntry.partition == part)
                ).one()
                existing = PartitionLimit(
                    account_id=account.id,  # type: ignore[arg-type]
                    partition=part,  # type: ignore[arg-type]
                    limit_amount=cap,
                    used_amount=Decimal(used),
                    held_amount=Decimal(held),
                    updated_at=now,
                )
                session.add(existing)
            else:
                existing.limit_amount = cap
                existing.updated_at = now
            session.flush()
            return existing

        payload = {"account": name, "partition": part, "limit": cap}
        return self.run(use_case, self._operation("set_partition_limit", payload, ctx))

    # -- reads -------------------------------------------------------------------

    def get_account(self, name: str) -> Account:
        cleaned = normalise_account_name(name)
        account = self.db.read(
            lambda s: s.exec(select(Account).where(Account.name == cleaned)).first()
        )
        if account is None:
            raise NotFoundError(f"account {cleaned!r} does not exist", field="account")
        return account

    def get_account_by_id(self, account_id: int, *, field: str = "account_id") -> Account:
        """An account by its number (the original tool named accounts by id in places)."""
        if isinstance(account_id, bool) or not isinstance(account_id, int) or account_id < 1:
            raise ValidationError(f"{field}: must be a positive account id", field=field)
        account = self.db.read(lambda s: s.get(Account, account_id))
        if account is None:
            raise NotFoundError(f"account {account_id} does not exist", field=field)
        return account

    def list_accounts(self, *, status: AccountStatus | None = None) -> list[Account]:
        def query(s: Session) -> list[Account]:
            stmt = select(Account).order_by(col(Account.name))
            if status is not None:
                stmt = stmt.where(Account.status == status)
            return list(s.exec(stmt))

        return self.db.read(query)

    def partition_limits(self, name: str) -> list[PartitionLimit]:
        account = self.get_account(name)
        return self.db.read(
            lambda s: list(
                s.exec(
                    select(PartitionLimit)
                    .where(PartitionLimit.account_id == account.id)
                    .order_by(col(PartitionLimit.partition))
                )
            )
        )

    def get_hold(self, hold_id: str) -> Hold:
        hold = self.db.read(lambda s: s.get(Hold, hold_id))
        if hold is None:
            raise NotFoundError(f"hold {hold_id!r} does not exist", field="hold_id")
        return hold

    def journal(
        self, *, account: str | None = None, hold_id: str | None = None, limit: int = 100
    ) -> list[JournalEntry]:
        """The newest journal rows first, optionally for one account or hold."""
        account_id = self.get_account(account).id if account else None

        def query(s: Session) -> list[JournalEntry]:
            stmt = select(JournalEntry).order_by(col(JournalEntry.id).desc()).limit(limit)
            if account_id is not None:
                stmt = stmt.where(JournalEntry.account_id == account_id)
            if hold_id is not None:
                stmt = stmt.where(JournalEntry.hold_id == hold_id)
            return list(s.exec(stmt))

        return self.db.read(query)
