"""The asbb console -- for now a small placeholder: one table of accounts.

The full console (views, filters, holds, charts, command palette) is later work. What is here
already follows the rules it will keep: services come in through the constructor, every
database call runs in a thread worker that posts a Message with its result (it never touches a
widget), errors become notifications instead of exiting, animations are off, and money is
right-aligned through ``format_money``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from rich.text import Text
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import DataTable, Footer, Header, Static
from textual.worker import Worker, WorkerState

from asbb_core.ledger import Ledger
from asbb_core.models import AccountStatus
from asbb_core.money import format_money

PLACEHOLDER_NOTE = (
    "The full console is not built yet: this placeholder lists accounts only. "
    "Use the asbb command line for everything else."
)

COLUMNS: tuple[tuple[str, str], ...] = (
    ("name", "Account"),
    ("status", "Status"),
    ("limit", "Limit"),
    ("used", "Used"),
    ("held", "Held"),
    ("available", "Available"),
)


@dataclass(frozen=True)
class AccountRow:
    """One account as the table shows it (plain values, safe to hand between threads)."""

    name: str
    status: str
    limit: Decimal
    used: Decimal
    held: Decimal
    available: Decimal


class AccountsLoaded(Message):
    """Posted by the loading worker with the accounts it read."""

    def __init__(self, rows: list[AccountRow]) -> None:
        super().__init__()
        self.rows = rows


def _money(amount: Decimal) -> Text:
    return Text(format_money(amount), justify="right")


def _status(status: str) -> Text:
    style = {AccountStatus.SUSPENDED: "yellow", AccountStatus.CLOSED: "dim"}.get(
        AccountStatus(status), ""
    )
    return Text(status, style=style)


class AsbbConsole(App[None]):
    """Placeholder console: a header, the accounts table, and a footer (q quit, r refresh)."""

    TITLE = "asbb"
    SUB_TITLE = "budget bank console"
    CSS = """
    #bar { height: 1; padding: 0 1; }
    #badge { width: auto; background: $error; color: $text; text-style: bold; padding: 0 1; }
    #badge.hidden { display: none; }
    #database { width: 1fr; color: $text-muted; padding: 0 1; }
    #accounts { height: 1fr; }
    #note { height: 1; padding: 0 1; color: $text-muted; }
    """
    BINDINGS = [
        Binding("q", "quit", "Quit", id="quit"),
        Binding("r", "refresh_accounts", "Refresh", id="refresh"),
    ]

    def __init__(
        self, ledger: Ledger, *, read_only: bool = False, database_label: str = ""
    ) -> None:
        super().__init__()
        self.ledger = ledger
        self.read_only = read_only
        self.database_label = database_label
        # Animations off by default (SSH sessions); the TEXTUAL_ANIMATIONS env var still rules
        # when someone explicitly wants them.
        self.animation_level = "none"

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        with Horizontal(id="bar"):
            yield Static("READ-ONLY", id="badge", classes="" if self.read_only else "hidden")
            yield Static(self.database_label, id="database")
        yield DataTable(id="accounts", cursor_type="row", zebra_stripes=True)
        yield Static(PLACEHOLDER_NOTE, id="note")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#accounts", DataTable)
        for key, label in COLUMNS:
            table.add_column(label, key=key)
        table.loading = True
        self.load_accounts()  # starts a worker; returns at once

    def action_refresh_accounts(self) -> None:
        self.load_accounts()

    @work(thread=True, exclusive=True, exit_on_error=False, group="accounts")
    def load_accounts(self) -> None:
        # Runs in a thread: read, then hand the result to the UI thread as a message.
        # (The full console will page in SQL; a placeholder can read every account.)
        rows = [
            AccountRow(
                name=a.name,
                status=str(a.status),
                limit=a.limit_amount,
                used=a.used_amount,
                held=a.held_amount,
                available=a.available,
            )
            for a in self.ledger.list_accounts()
        ]
        self.post_message(AccountsLoaded(rows))

    def on_accounts_loaded(self, message: AccountsLoaded) -> None:
        table = self.query_one("#accounts", DataTable)
        table.loading = False
        table.clear()
        for row in message.rows:
            table.add_row(
                row.name,
                _status(row.status),
                _money(row.limit),
                _money(row.used),
                _money(row.held),
                _money(row.available),
                key=row.name,
            )
        self.sub_title = f"{len(message.rows)} accounts"

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "accounts" and event.state == WorkerState.ERROR:
            self.query_one("#accounts", DataTable).loading = False
            self.notify(
                f"could not load accounts: {event.worker.error}",
                title="database error",
                severity="error",
            )
