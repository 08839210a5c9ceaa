"""Modal dialogs the workflow screens share (reason/note input, type-the-name confirmation,
the new adjustment request form).

Dialogs only collect text: they never touch the database. Each one dismisses with its value
(or ``None`` on Esc), so a screen chains them with ``push_screen(dialog, callback)`` and does
the write in its own worker afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Select, Static

from asbb_core.store.models import AdjustmentKind

_DIALOG_CSS = """
{name} {{ align: center middle; }}
{name} > Vertical {{ width: 70; max-width: 100%; height: auto; max-height: 100%;
                    border: round $accent; background: $surface; padding: 0 1; }}
{name} Input, {name} Select {{ margin: 0; }}
{name} .hint {{ color: $text-muted; }}
{name} .error {{ color: $error; }}
"""


class TextPrompt(ModalScreen[str | None]):
    """One line of text (a reason or a note). Enter accepts, Esc cancels.

    ``required``: an empty answer is refused on the spot (the core would refuse it too)."""

    DEFAULT_CSS = _DIALOG_CSS.format(name="TextPrompt")
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(
        self,
        title: str,
        label: str,
        *,
        required: bool = False,
        placeholder: str = "",
        value: str = "",
    ) -> None:
        super().__init__()
        self.title_text = title
        self.label = label
        self.required = required
        self.placeholder = placeholder
        self.value = value

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self.title_text, style="bold"))
            yield Label(self.label)
            yield Input(self.value, placeholder=self.placeholder, id="text")
            yield Static("", id="error", classes="error")
            hint = "Enter to confirm, Esc to cancel" + (" (required)" if self.required else "")
            yield Static(hint, classes="hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        value = event.value.strip()
        if self.required and not value:
            self.query_one("#error", Static).update("required")
            self.app.bell()
            return
        self.dismiss(value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ConfirmName(ModalScreen[str | None]):
    """A large or dangerous action: type ``name`` exactly to go ahead (k9s style).

    Dismisses with the typed name when it matches, ``None`` on Esc."""

    DEFAULT_CSS = _DIALOG_CSS.format(name="ConfirmName")
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, message: str, name: str) -> None:
        super().__init__()
        self.title_text = title
        self.message = message
        self.expected = name

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self.title_text, style="bold"))
            yield Static(Text(self.message))
            yield Label(Text(f"Type {self.expected} to confirm:"))
            yield Input(placeholder=self.expected, id="confirm")
            yield Static("", id="error", classes="error")
            yield Static("Enter to confirm, Esc to cancel", classes="hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.value.strip() != self.expected:
            self.query_one("#error", Static).update(Text(f"that is not {self.expected}"))
            self.app.bell()
            return
        self.dismiss(self.expected)

    def action_cancel(self) -> None:
        self.dismiss(None)


@dataclass(frozen=True)
class AdjustmentDraft:
    """What the new-request form collected (validated by ``Approvals.request``)."""

    kind: str
    account: str
    amount: str | None
    reason: str
    target_account: str | None = None
    hold_id: str | None = None

    def request_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``Approvals.request`` (besides ``requested_by``)."""
        return {
            "kind": self.kind,
            "account": self.account,
            "amount": self.amount,
            "reason": self.reason,
            "target_account": self.target_account,
            "hold_id": self.hold_id,
        }


FORM_KINDS: tuple[tuple[str, str], ...] = (
    ("credit (+ limit)", AdjustmentKind.CREDIT.value),
    ("debit (- limit)", AdjustmentKind.DEBIT.value),
    ("limit (set to)", AdjustmentKind.LIMIT.value),
    ("transfer (limit to another account)", AdjustmentKind.TRANSFER.value),
    ("hold release", AdjustmentKind.HOLD_RELEASE.value),
)


class AdjustmentForm(ModalScreen[AdjustmentDraft | None]):
    """Ask for an adjustment: kind, account, amount, target (transfer), hold (release), reason.

    Enter in the reason field (or ctrl+s anywhere) submits; Esc cancels. Only the fields the
    chosen kind uses are shown; the core checks everything when the request is made."""

    DEFAULT_CSS = _DIALOG_CSS.format(name="AdjustmentForm")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "submit", "Submit"),
    ]

    def __init__(self, account: str = "") -> None:
        super().__init__()
        self.account = account

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text("New adjustment request", style="bold"))
            yield Select(
                FORM_KINDS, value=AdjustmentKind.CREDIT.value, allow_blank=False, id="kind"
            )
            yield Input(value=self.account, placeholder="account", id="account")
            yield Input(placeholder="amount (e.g. 250.00)", id="amount")
            yield Input(placeholder="target account", id="target")
            yield Input(placeholder="hold id", id="hold")
            yield Input(placeholder="reason (required)", id="reason")
            yield Static("", id="error", classes="error")
            yield Static("Enter in reason or ctrl+s submits; Esc cancels", classes="hint")

    def on_mount(self) -> None:
        self._show_fields(AdjustmentKind.CREDIT.value)
        self.query_one("#account" if not self.account else "#amount", Input).focus()

    def _show_fields(self, kind: str) -> None:
        self.query_one("#amount", Input).display = kind != AdjustmentKind.HOLD_RELEASE.value
        self.query_one("#target", Input).display = kind == AdjustmentKind.TRANSFER.value
        self.query_one("#hold", Input).display = kind == AdjustmentKind.HOLD_RELEASE.value

    def on_select_changed(self, event: Select.Changed) -> None:
        self._show_fields(str(event.value))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id == "reason":
            self.action_submit()
        else:
            self.focus_next()

    def _value(self, widget_id: str) -> str | None:
        widget = self.query_one(f"#{widget_id}", Input)
        return (widget.value.strip() or None) if widget.display else None

    def action_submit(self) -> None:
        kind = str(self.query_one("#kind", Select).value)
        draft = AdjustmentDraft(
            kind=kind,
            account=self.query_one("#account", Input).value.strip(),
            amount=self._value("amount"),
            reason=self.query_one("#reason", Input).value.strip(),
            target_account=self._value("target"),
            hold_id=self._value("hold"),
        )
        if not draft.account or not draft.reason:
            missing = "account" if not draft.account else "reason"
            self.query_one("#error", Static).update(f"{missing}: required")
            self.app.bell()
            return
        self.dismiss(draft)

    def action_cancel(self) -> None:
        self.dismiss(None)
