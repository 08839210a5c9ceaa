"""The audit view: every change that is not money (accounts' status, details and dates,
partition limits, grants, allocation schedules, tokens), newest first.

``f`` cycles the kind of subject shown, ``/`` filters by actor, action or subject (in SQL, so
it finds matches beyond the first page; Esc clears). The detail line shows the whole change,
who made it, from where and its correlation id. Read-only: the trail is append-only.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Input, Static

from asbb_core.store import audit
from asbb_core.store.models import AuditEvent
from asbb_tui.console.base import InboxScreen

PAGE = 200
KIND_FILTERS: tuple[str | None, ...] = (None, "account", "grant", "schedule", "token")
"""``f`` cycles through these subjects' kinds (``None``: every change)."""
COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "#"),
    ("at", "When"),
    ("actor", "Who"),
    ("subject", "Subject"),
    ("change", "Change"),
)


def describe(event: AuditEvent) -> Text:
    """The detail line: the action on its subject, who and from where, and the change."""
    text = Text()
    text.append(f"#{event.id} {event.action} {event.subject}", style="bold")
    text.append(
        f"  by {event.actor} ({event.source}) at {event.at:%Y-%m-%d %H:%M:%S}"
        f"  correlation {event.correlation_id}"
    )
    change = audit.change_text(event.before, event.after)
    if change:
        text.append(f"\n{change}")
    return text


class AuditScreen(InboxScreen):
    FILTER_TABLE = "audit"
    COLUMNS = COLUMNS
    STATUS_FILTERS = KIND_FILTERS
    NOUN = "change"
    FILTER_NAME = "kind"
    VIEW_TITLE = "Audit"
    AUTO_FOCUS = "#audit"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f", "cycle_status", "Kind filter", id="audit-kind"),
        Binding("slash", "filter", "Filter", id="audit-filter"),
    ]
    DEFAULT_CSS = """
    AuditScreen #filter { height: 1; border: none; }
    AuditScreen #status-line { height: 1; padding: 0 1; color: $text-muted; }
    AuditScreen #detail { height: auto; max-height: 5; padding: 0 1;
                          border-top: solid $accent; }
    """

    def compose_body(self) -> ComposeResult:
        yield Static("", id="status-line")
        yield Input(placeholder="/ filter by who, action or subject (Esc clears)", id="filter")
        yield DataTable(id="audit", cursor_type="row", zebra_stripes=True)
        yield Static("", id="detail")

    def refresh_data(self) -> None:
        db, kind, search = self.services.db, self.status_filter, self.text_filter
        self.fetch(
            "audit",
            lambda: audit.list_events(db, subject=kind, search=search, limit=PAGE).items,
        )

    def show(self, key: str, value: Any) -> None:
        if key == "audit":
            self.show_records(value)

    def describe(self, record: AuditEvent) -> Text:
        return describe(record)

    def cells(self, e: AuditEvent) -> tuple[Any, ...]:
        return (
            Text(str(e.id), justify="right"),
            e.at.strftime("%Y-%m-%d %H:%M"),
            e.actor,
            e.subject,
            audit.summary(e.action, e.before, e.after),
        )
