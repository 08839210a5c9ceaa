"""The approvals view: adjustment requests under maker-checker.

``n`` asks for a new adjustment (a form); ``a`` approves and ``x`` rejects the highlighted
request (with a reason); ``c`` cancels your own. The core enforces maker-checker (the
requester cannot approve their own: its message is shown); requests above
``approvals.confirm_above`` need the account name typed before they are approved.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Input, Static

from asbb_core.store.models import AdjustmentRequest, AdjustmentStatus
from asbb_core.values.context import Source
from asbb_tui.console.base import InboxScreen
from asbb_tui.console.dialogs import (
    AdjustmentDraft,
    AdjustmentForm,
    ConfirmName,
    TextPrompt,
)
from asbb_tui.console.widgets import money_cell

PAGE = 200
STATUS_FILTERS: tuple[str | None, ...] = (
    AdjustmentStatus.PENDING.value,
    None,
    AdjustmentStatus.APPROVED.value,
    AdjustmentStatus.REJECTED.value,
    AdjustmentStatus.CANCELLED.value,
)
"""``f`` cycles through these (``None``: every status, pending first)."""
STATUS_STYLE = {"pending": "yellow", "approved": "green", "rejected": "red", "cancelled": "dim"}
COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "#"),
    ("status", "Status"),
    ("kind", "Kind"),
    ("account", "Account"),
    ("amount", "Amount"),
    ("requested_by", "Requested by"),
    ("decided_by", "Decided by"),
    ("confirm", "!"),
)


def describe(row: AdjustmentRequest) -> Text:
    """The detail line: what, who asked and why, who decided and why."""
    text = Text()
    what = f"#{row.id} {row.kind} {row.account}"
    if row.target_account:
        what += f" -> {row.target_account}"
    if row.hold_id:
        what += f" (hold {row.hold_id})"
    text.append(what, style="bold")
    text.append(f"  {row.amount}  ")
    text.append(str(row.status), style=STATUS_STYLE.get(str(row.status), ""))
    text.append(f"\nrequested by {row.requested_by}: {row.reason}")
    if row.decided_by:
        text.append(f"\n{row.status} by {row.decided_by}")
        if row.decision_reason:
            text.append(f": {row.decision_reason}")
    if row.needs_confirmation and row.status == AdjustmentStatus.PENDING:
        text.append("\nlarge: approving needs the account name typed", style="yellow")
    return text


class ApprovalsScreen(InboxScreen):
    FILTER_TABLE = "requests"
    COLUMNS = COLUMNS
    STATUS_FILTERS = STATUS_FILTERS
    NOUN = "request"
    ERROR_TARGET = "result"
    VIEW_TITLE = "Approvals"
    AUTO_FOCUS = "#requests"
    WRITES: ClassVar[frozenset[str]] = frozenset(
        {"new_request", "approve", "reject", "cancel_request"}
    )
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "new_request", "New request", id="approvals-new"),
        Binding("a", "approve", "Approve", id="approvals-approve"),
        Binding("x", "reject", "Reject", id="approvals-reject"),
        Binding("c", "cancel_request", "Cancel own", id="approvals-cancel"),
        Binding("f", "cycle_status", "Status filter", id="approvals-status"),
        Binding("slash", "filter", "Filter", id="approvals-filter"),
    ]
    DEFAULT_CSS = """
    ApprovalsScreen #filter { height: 1; border: none; }
    ApprovalsScreen #status-line { height: 1; padding: 0 1; color: $text-muted; }
    ApprovalsScreen #detail { height: auto; max-height: 5; padding: 0 1;
                              border-top: solid $accent; }
    ApprovalsScreen #result { height: auto; max-height: 4; padding: 0 1; }
    """

    def compose_body(self) -> ComposeResult:
        yield Static("", id="status-line")
        yield Input(placeholder="/ filter by account, kind or person (Esc clears)", id="filter")
        yield DataTable(id="requests", cursor_type="row", zebra_stripes=True)
        yield Static("", id="detail")
        yield Static("", id="result")

    # -- data --------------------------------------------------------------------

    def refresh_data(self) -> None:
        approvals = self.services.approvals
        status, search = self.status_filter, self.text_filter

        def query() -> list[AdjustmentRequest]:
            # The filter is applied in SQL, so it finds matches beyond the first page too.
            rows = approvals.list(status=status, search=search, limit=PAGE)
            # Pending first, then newest first (the list is newest first already).
            return sorted(rows, key=lambda r: r.status != AdjustmentStatus.PENDING)

        self.fetch("requests", query)

    def show(self, key: str, value: Any) -> None:
        if key == "requests":
            self.show_records(value)
            return
        row: AdjustmentRequest = value
        verb = {"request": "requested", "approve": "approved", "reject": "rejected"}.get(
            key, "cancelled"
        )
        message = f"adjustment #{row.id} {verb}"
        if key != "request":
            message += f" by {row.decided_by} (requested by {row.requested_by})"
        self.notify(message, title="Approvals")
        self.query_one("#result", Static).update(describe(row))
        self.refresh_data()

    def describe(self, record: AdjustmentRequest) -> Text:
        return describe(record)

    def cells(self, r: AdjustmentRequest) -> tuple[Any, ...]:
        return (
            Text(str(r.id), justify="right"),
            Text(str(r.status), style=STATUS_STYLE.get(str(r.status), "")),
            str(r.kind),
            r.account if not r.target_account else f"{r.account}->{r.target_account}",
            money_cell(r.amount),
            r.requested_by,
            r.decided_by or "",
            Text("!", style="yellow") if r.needs_confirmation else "",
        )

    def _pending(self) -> AdjustmentRequest | None:
        row: AdjustmentRequest | None = self.current()
        if row is None:
            self.notify("no request selected", severity="warning")
            return None
        if row.status != AdjustmentStatus.PENDING:
            self.notify(f"adjustment #{row.id} is already {row.status}", severity="warning")
            return None
        return row

    # -- actions -------------------------------------------------------------------

    def action_new_request(self) -> None:
        row = self.current()

        def chosen(draft: AdjustmentDraft | None) -> None:
            if draft is None:
                return
            approvals = self.services.approvals
            actor = self.services.actor
            self.submit(
                "request", lambda: approvals.request(requested_by=actor, **draft.request_kwargs())
            )

        self.app.push_screen(AdjustmentForm(row.account if row else ""), chosen)

    def action_approve(self) -> None:
        row = self._pending()
        if row is None:
            return
        rid = row.id
        assert rid is not None

        def approve(reason: str, confirm: str | None) -> None:
            approvals = self.services.approvals
            actor = self.services.actor
            self.submit(
                "approve",
                lambda: approvals.approve(
                    rid, approver=actor, reason=reason, confirm=confirm, source=Source.CONSOLE
                ),
            )

        def reasoned(reason: str | None) -> None:
            if reason is None:
                return
            if not row.needs_confirmation:
                approve(reason, None)
                return
            limit = self.services.settings.approvals.confirm_above
            self.app.push_screen(
                ConfirmName(
                    f"Approve adjustment #{rid}",
                    f"{row.kind} {row.amount} on {row.account} is above {limit}.",
                    row.account,
                ),
                lambda typed: approve(reason, typed) if typed is not None else None,
            )

        self.app.push_screen(
            TextPrompt(f"Approve adjustment #{rid}", "Reason (optional):"), reasoned
        )

    def action_reject(self) -> None:
        row = self._pending()
        if row is None:
            return
        rid = row.id
        assert rid is not None

        def reasoned(reason: str | None) -> None:
            if reason is None:
                return
            approvals = self.services.approvals
            actor = self.services.actor
            self.submit("reject", lambda: approvals.reject(rid, approver=actor, reason=reason))

        self.app.push_screen(
            TextPrompt(f"Reject adjustment #{rid}", "Reason:", required=True), reasoned
        )

    def action_cancel_request(self) -> None:
        row = self._pending()
        if row is None:
            return
        rid = row.id
        assert rid is not None

        def reasoned(reason: str | None) -> None:
            if reason is None:
                return
            approvals = self.services.approvals
            actor = self.services.actor
            self.submit("cancel", lambda: approvals.cancel(rid, actor, reason=reason))

        self.app.push_screen(
            TextPrompt(f"Cancel your adjustment #{rid}", "Reason (optional):"), reasoned
        )
