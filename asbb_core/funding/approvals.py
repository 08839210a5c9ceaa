"""Adjustment requests with maker-checker: one person asks, another approves, then it moves.

A request (credit, debit, limit, transfer, refund, hold_release) is validated in full when it
is made and stored as ``pending``; nothing moves yet. Approving it applies the ledger movement
and marks the request ``approved`` in ONE unit of work: both commit, or
neither does. A movement the ledger refuses (say, a debit above what is available) leaves the
request pending and raises the ledger's error.

The journal rows an approval writes carry ``actor`` = the approver, ``correlation_id``
``adjustment-<id>``, idempotency key ``asbb:adjustment:<id>``, and a memo naming the requester, the
approver and the reason.

>>> approvals = Approvals(db, ledger, settings, clock)                  # doctest: +SKIP
>>> req = approvals.request("credit", "physics", "250", requested_by="alice", reason="grant")
>>> approvals.approve(req.id, approver="bob")                           # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Collection
from decimal import Decimal
from typing import Any

from sqlalchemy import func, or_
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from asbb_core.ledger import Ledger
from asbb_core.settings import Settings
from asbb_core.store.database import Database
from asbb_core.store.models import (
    Account,
    AccountStatus,
    AdjustmentKind,
    AdjustmentRequest,
    AdjustmentStatus,
    Hold,
    HoldState,
)
from asbb_core.store.operations import Operation
from asbb_core.store.queries import check_page, text_search
from asbb_core.values.context import Clock, Context, IdempotencyKey, Source, utcnow
from asbb_core.values.errors import (
    AccountInactiveError,
    ConflictError,
    HoldResolvedError,
    NotFoundError,
    ValidationError,
)
from asbb_core.values.money import ZERO, parse_money
from asbb_core.values.text import (
    clean_text,
    normalise_account_name,
    person,
    validate_partition_name,
)

MAX_ID = 2**63 - 1
MAX_PAGE = 1000
_TEXT_LIMIT = 500


class SelfApprovalError(ConflictError):
    """Maker-checker: the person who asked for an adjustment may not approve or reject it."""

    code = "self_approval"
    http_status = 403


class NotRequesterError(ConflictError):
    """Only the person who asked for an adjustment may cancel it."""

    code = "not_requester"
    http_status = 403


def _kind(value: str) -> AdjustmentKind:
    try:
        return AdjustmentKind(value)
    except ValueError:
        names = ", ".join(k.value for k in AdjustmentKind)
        raise ValidationError(f"kind: {value!r} is not one of {names}", field="kind") from None


def _status(value: str) -> AdjustmentStatus:
    try:
        return AdjustmentStatus(value)
    except ValueError:
        names = ", ".join(s.value for s in AdjustmentStatus)
        raise ValidationError(f"status: {value!r} is not one of {names}", field="status") from None


def _check_id(request_id: object) -> int:
    if isinstance(request_id, bool) or not isinstance(request_id, int):
        raise ValidationError("id: expected a whole number", field="id")
    if not 1 <= request_id <= MAX_ID:
        raise NotFoundError(f"adjustment request {request_id} does not exist", field="id")
    return request_id


def _memo(row: AdjustmentRequest, approver: str, decision_reason: str) -> str:
    """The journal memo: who asked, who approved, and why (at most 500 characters)."""
    memo = f"adjustment #{row.id} requested by {row.requested_by}, approved by {approver}: "
    memo += row.reason
    if decision_reason:
        memo += f" (approval: {decision_reason})"
    if len(memo) > _TEXT_LIMIT:
        memo = memo[: _TEXT_LIMIT - 3] + "..."
    return memo


class Approvals:
    """Adjustment requests and their decisions."""

    def __init__(
        self, db: Database, ledger: Ledger, settings: Settings, clock: Clock = utcnow
    ) -> None:
        self.db = db
        self.ledger = ledger
        self.settings = settings
        self.clock = clock

    # -- asking ------------------------------------------------------------------

    def request(
        self,
        kind: AdjustmentKind | str,
        account: str,
        amount: object = None,
        *,
        requested_by: str,
        reason: str,
        target_account: str | None = None,
        hold_id: str | None = None,
        partition: str | None = None,
        key: IdempotencyKey | None = None,
    ) -> AdjustmentRequest:
        """Ask for an adjustment. Everything is checked now; nothing moves until approved.

        ``amount``: credit, debit, transfer and refund take a positive amount; limit takes the
        new limit (>= 0); hold_release takes none (the hold's remaining amount is recorded).
        With ``key`` (a caller's idempotency key) a retry returns the first request instead of
        asking twice.
        """
        what = _kind(kind)
        name = normalise_account_name(account)
        who = person(requested_by, field="requested_by")
        why = clean_text(reason, field="reason", required=True)
        if what is AdjustmentKind.HOLD_RELEASE:
            if amount is not None:
                raise ValidationError(
                    "amount: a hold release takes no amount (the hold's remainder is released)",
                    field="amount",
                )
            value = ZERO
        elif amount is None:
            raise ValidationError("amount: required", field="amount")
        elif what is AdjustmentKind.LIMIT:
            value = parse_money(amount, field="amount")
        else:
            value = parse_money(amount, field="amount", allow_zero=False)

        target: str | None = None
        if what is AdjustmentKind.TRANSFER:
            if target_account is None:
                raise ValidationError(
                    "target_account: a transfer needs the account to move money to",
                    field="target_account",
                )
            target = normalise_account_name(target_account, field="target_account")
            if target == name:
                raise ValidationError(
                    "target_account: must differ from the account", field="target_account"
                )
        elif target_account is not None:
            raise ValidationError(
                "target_account: only a transfer names a target account", field="target_account"
            )

        hold: str | None = None
        if what is AdjustmentKind.HOLD_RELEASE:
            if not isinstance(hold_id, str) or not hold_id.strip():
                raise ValidationError("hold_id: a hold release names the hold", field="hold_id")
            hold = hold_id.strip()
            if len(hold) > 40:
                raise NotFoundError(f"hold {hold!r} does not exist", field="hold_id")
        elif hold_id is not None:
            raise ValidationError("hold_id: only a hold release names a hold", field="hold_id")

        part: str | None = None
        if partition is not None:
            if what is not AdjustmentKind.REFUND:
                raise ValidationError(
                    "partition: only a refund names a partition", field="partition"
                )
            part = validate_partition_name(partition)

        def use_case(session: Session) -> AdjustmentRequest:
            found = self._account(session, name, field="account")
            if found.status == AccountStatus.CLOSED:
                raise AccountInactiveError(f"account {name!r} is closed", field="account")
            if target is not None:
                other = self._account(session, target, field="target_account")
                if other.status == AccountStatus.CLOSED:
                    raise AccountInactiveError(
                        f"account {target!r} is closed", field="target_account"
                    )
            if what is AdjustmentKind.LIMIT and value == found.limit_amount:
                raise ValidationError(f"amount: the limit is already {value}", field="amount")
            size = value
            # What moves: for a limit, the change from today's limit (a 1500 -> 1501 limit needs
            # no confirmation; a slip from 5000 to 50000 does).
            moves = abs(value - found.limit_amount) if what is AdjustmentKind.LIMIT else value
            if hold is not None:
                held = session.get(Hold, hold)
                if held is None:
                    raise NotFoundError(f"hold {hold!r} does not exist", field="hold_id")
                if held.account_id != found.id:
                    raise ValidationError(
                        f"hold_id: hold {hold} belongs to another account", field="hold_id"
                    )
                if held.state != HoldState.OPEN:
                    raise HoldResolvedError(f"hold {hold} is already {held.state}", field="hold_id")
                size = moves = held.remaining
            row = AdjustmentRequest(
                kind=what,
                account=name,
                amount=size,
                target_account=target,
                hold_id=hold,
                partition=part,
                reason=why,
                requested_by=who,
                requested_at=self.clock(),
                needs_confirmation=moves > self.settings.approvals.confirm_above,
            )
            session.add(row)
            session.flush()
            return row

        payload = {
            "kind": str(what),
            "account": name,
            "amount": str(value),
            "target": target,
            "hold": hold,
            "partition": part,
            "reason": why,
        }
        return self.db.run(use_case, Operation("adjustment.request", payload, actor=who, key=key))

    @property
    def required(self) -> bool:
        """Whether a person's movement of money or limits must wait for a second person
        (``approvals.require_approval``): the front ends then ask instead of moving."""
        return self.settings.approvals.require_approval

    def ask(
        self,
        kind: AdjustmentKind | str,
        account: str,
        amount: object = None,
        *,
        ctx: Context,
        reason: str,
        hold_id: str | None = None,
    ) -> AdjustmentRequest:
        """The request standing in for a movement a person made directly (a deposit, a new
        limit, a one-off allocation, a hold void) while approval is required; the caller's
        idempotency key makes a retry return the same request."""
        return self.request(
            kind,
            account,
            amount,
            requested_by=ctx.actor,
            reason=reason,
            hold_id=hold_id,
            key=ctx.idempotency_key,
        )

    @staticmethod
    def _account(session: Session, name: str, *, field: str) -> Account:
        found = session.exec(select(Account).where(Account.name == name)).first()
        if found is None:
            raise NotFoundError(f"account {name!r} does not exist", field=field)
        return found

    # -- reading -------------------------------------------------------------------

    def get(self, request_id: int) -> AdjustmentRequest:
        rid = _check_id(request_id)
        row = self.db.read(lambda s: s.get(AdjustmentRequest, rid))
        if row is None:
            raise NotFoundError(f"adjustment request {rid} does not exist", field="id")
        return row

    def _filters(
        self,
        status: AdjustmentStatus | str | None,
        account: str | None,
        accounts: Collection[str] | None,
        search: str | None = None,
    ) -> list[ColumnElement[bool]]:
        r = AdjustmentRequest
        where = text_search(
            search, r.account, r.target_account, r.kind, r.requested_by, r.decided_by, r.reason
        )
        if status is not None:
            where.append(col(AdjustmentRequest.status) == _status(status))
        if account is not None:
            name = normalise_account_name(account)
            where.append(
                or_(
                    col(AdjustmentRequest.account) == name,
                    col(AdjustmentRequest.target_account) == name,
                )
            )
        if accounts is not None:
            scope = sorted(set(accounts))
            where.append(
                or_(
                    col(AdjustmentRequest.account).in_(scope),
                    col(AdjustmentRequest.target_account).in_(scope),
                )
            )
        return where

    def list(
        self,
        *,
        status: AdjustmentStatus | str | None = None,
        account: str | None = None,
        accounts: Collection[str] | None = None,
        search: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[AdjustmentRequest]:
        """Requests, newest first. ``account`` matches either side of a transfer;
        ``accounts`` (a reader's scope) keeps only requests touching one of them; ``search``
        matches either account, the kind, the requester, the decider or the reason."""
        check_page(limit, offset, most=MAX_PAGE)
        where = self._filters(status, account, accounts, search)

        def query(s: Session) -> list[AdjustmentRequest]:
            stmt = select(AdjustmentRequest).where(*where)
            stmt = stmt.order_by(col(AdjustmentRequest.id).desc()).limit(limit).offset(offset)
            return list(s.exec(stmt))

        return self.db.read(query)

    def count(
        self,
        *,
        status: AdjustmentStatus | str | None = None,
        account: str | None = None,
        accounts: Collection[str] | None = None,
        search: str | None = None,
    ) -> int:
        """How many requests ``list`` would page through with the same filters."""
        where = self._filters(status, account, accounts, search)
        return self.db.read(
            lambda s: s.exec(
                select(func.count()).select_from(AdjustmentRequest).where(*where)
            ).one()
        )

    # -- deciding ------------------------------------------------------------------

    @staticmethod
    def _lock(session: Session, request_id: int) -> AdjustmentRequest:
        stmt = (
            select(AdjustmentRequest)
            .where(AdjustmentRequest.id == request_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        row = session.exec(stmt).first()
        if row is None:
            raise NotFoundError(f"adjustment request {request_id} does not exist", field="id")
        return row

    @staticmethod
    def _require_pending(row: AdjustmentRequest) -> None:
        if row.status != AdjustmentStatus.PENDING:
            raise ConflictError(
                f"adjustment request {row.id} is already {row.status} "
                f"(by {row.decided_by}); only pending requests can be decided",
                field="id",
                details={"status": str(row.status)},
            )

    def _require_checker(self, row: AdjustmentRequest, approver: str, verb: str) -> None:
        if approver == row.requested_by and self.settings.approvals.require_approval:
            raise SelfApprovalError(
                f"{approver} requested adjustment {row.id} and may not {verb} it; "
                "another administrator must",
                field="approver",
            )

    def approve(
        self,
        request_id: int,
        *,
        approver: str,
        reason: str = "",
        confirm: str | None = None,
        source: Source = Source.API,
    ) -> AdjustmentRequest:
        """Apply a pending request's movement and mark it approved, in one transaction.

        Refused: by its requester (``SelfApprovalError``, unless ``approvals.require_approval``
        is off); without ``confirm`` equal to the account name when the amount is above
        ``approvals.confirm_above``; when it is no longer pending (``ConflictError``); and with
        the ledger's own error when the movement is refused -- the request then stays pending.
        """
        rid = _check_id(request_id)
        who = person(approver, field="approver")
        why = clean_text(reason, field="reason")
        if confirm is not None and not isinstance(confirm, str):
            raise ValidationError("confirm: expected the account name", field="confirm")
        seen = self.get(rid)
        self._require_pending(seen)
        self._require_checker(seen, who, "approve")
        if seen.needs_confirmation and confirm != seen.account:
            raise ValidationError(
                f"confirm: this adjustment is above {self.settings.approvals.confirm_above}; "
                f"type the account name ({seen.account}) to confirm it",
                field="confirm",
                details={"account": seen.account},
            )
        ctx = Context(
            actor=who,
            source=source,
            correlation_id=f"adjustment-{rid}",
            idempotency_key=IdempotencyKey.derived("adjustment", rid),
        )

        def use_case(session: Session) -> AdjustmentRequest:
            row = self._lock(session, rid)
            self._require_pending(row)
            self._require_checker(row, who, "approve")
            result = self._apply(row, ctx, _memo(row, who, why))
            self._mark_approved(session, row, who, why, ctx.correlation_id, result)
            return row

        # The request's status is what makes a second approval a conflict; the unit of work's
        # own key makes a retry of this one (its COMMIT's reply lost) a replay.
        payload = {"id": rid, "approver": who, "reason": why}
        return self.db.run(use_case, Operation("approve", payload, actor=who))

    def _apply(self, row: AdjustmentRequest, ctx: Context, memo: str) -> dict[str, Any]:
        """The ledger movement a request stands for (it joins the approval's unit of work)."""
        ledger = self.ledger
        kind = AdjustmentKind(row.kind)
        amount = Decimal(row.amount)
        if kind is AdjustmentKind.CREDIT:
            done = ledger.adjust(row.account, amount, ctx=ctx, reason=memo, target="limit")
        elif kind is AdjustmentKind.DEBIT:
            done = ledger.adjust(row.account, -amount, ctx=ctx, reason=memo, target="limit")
        elif kind is AdjustmentKind.LIMIT:
            done = ledger.set_limit(row.account, amount, ctx=ctx, reason=memo)
        elif kind is AdjustmentKind.TRANSFER:
            assert row.target_account is not None
            done = ledger.transfer(row.account, row.target_account, amount, ctx=ctx, reason=memo)
        elif kind is AdjustmentKind.REFUND:
            done = ledger.adjust(
                row.account, -amount, ctx=ctx, reason=memo, target="used", partition=row.partition
            )
        else:
            assert row.hold_id is not None
            return ledger.void_hold(row.hold_id, ctx=ctx, reason=memo).to_dict()
        return done.to_dict()

    def _mark_approved(
        self,
        session: Session,
        row: AdjustmentRequest,
        approver: str,
        reason: str,
        correlation_id: str,
        result: dict[str, Any],
    ) -> None:
        row.status = AdjustmentStatus.APPROVED
        row.decided_by = approver
        row.decided_at = self.clock()
        row.decision_reason = reason
        row.correlation_id = correlation_id
        row.result = result
        session.add(row)
        session.flush()

    def reject(self, request_id: int, *, approver: str, reason: str) -> AdjustmentRequest:
        """Turn a pending request down (a reason is required). Nothing moves."""
        rid = _check_id(request_id)
        who = person(approver, field="approver")
        why = clean_text(reason, field="reason", required=True)

        def use_case(session: Session) -> AdjustmentRequest:
            row = self._lock(session, rid)
            self._require_pending(row)
            if who == row.requested_by:
                raise SelfApprovalError(
                    f"{who} requested adjustment {rid}; cancel it instead of rejecting it",
                    field="approver",
                )
            return self._close(session, row, AdjustmentStatus.REJECTED, who, why)

        return self.db.run(use_case)

    def cancel(self, request_id: int, by: str, *, reason: str = "") -> AdjustmentRequest:
        """Withdraw a pending request: only its requester may. Nothing moves."""
        rid = _check_id(request_id)
        who = person(by, field="by")
        why = clean_text(reason, field="reason")

        def use_case(session: Session) -> AdjustmentRequest:
            row = self._lock(session, rid)
            self._require_pending(row)
            if who != row.requested_by:
                raise NotRequesterError(
                    f"only {row.requested_by}, who requested adjustment {rid}, may cancel it; "
                    "reject it instead",
                    field="by",
                )
            return self._close(session, row, AdjustmentStatus.CANCELLED, who, why)

        return self.db.run(use_case)

    def _close(
        self,
        session: Session,
        row: AdjustmentRequest,
        status: AdjustmentStatus,
        who: str,
        why: str,
    ) -> AdjustmentRequest:
        row.status = status
        row.decided_by = who
        row.decided_at = self.clock()
        row.decision_reason = why
        session.add(row)
        session.flush()
        return row
