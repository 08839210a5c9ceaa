"""The console's shell: views, k9s-style navigation, help, the command palette, read-only mode.

Each view is a Textual mode with its own screen stack: ``:`` (or a digit) switches views,
Enter drills in, Esc goes back, ``/`` filters, ``?`` shows the keys, ctrl+p lists every action.
One registry (``VIEWS``) feeds the view switcher, the digit keys, the help screen and the
palette. Screens are imported lazily, so a view that fails to import cannot stop the others.
"""

from __future__ import annotations

import gc
import importlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from asbb_core.ledger import Ledger
from asbb_tui.console.services import ConsoleServices, console_actor


@dataclass(frozen=True)
class View:
    name: str
    title: str
    key: str
    """The digit that jumps to it."""
    screen: str
    """``module:Class`` of its screen, imported when first shown."""
    summary: str


VIEWS: tuple[View, ...] = (
    View(
        "dashboard",
        "Dashboard",
        "1",
        "asbb_tui.console.dashboard:DashboardScreen",
        "money across all accounts, spend, top burners, alerts and approvals",
    ),
    View(
        "accounts",
        "Accounts",
        "2",
        "asbb_tui.console.accounts:AccountsScreen",
        "every account; Enter for its holds, journal and burn-rate chart",
    ),
    View(
        "approvals",
        "Approvals",
        "3",
        "asbb_tui.console.approvals:ApprovalsScreen",
        "adjustment requests: approve or reject (maker-checker)",
    ),
    View(
        "alerts",
        "Alerts",
        "4",
        "asbb_tui.console.alerts:AlertsScreen",
        "the alerts inbox: acknowledge, resolve, jump to the account",
    ),
    View(
        "grants",
        "Grants",
        "5",
        "asbb_tui.console.grants:GrantsScreen",
        "grants, budget periods, direct/indirect split, reports",
    ),
    View(
        "audit",
        "Audit",
        "6",
        "asbb_tui.console.audit:AuditScreen",
        "the audit trail: who changed what (accounts, grants, schedules, tokens), when",
    ),
)


def available_views() -> list[View]:
    """The views whose screen module is present (the console grows as they land)."""
    found = []
    for view in VIEWS:
        module = view.screen.split(":")[0]
        if importlib.util.find_spec(module) is not None:
            found.append(view)
    return found


def _screen_class(view: View) -> type[Screen[None]]:
    module, name = view.screen.split(":")
    cls: type[Screen[None]] = getattr(importlib.import_module(module), name)
    return cls


class ViewSwitcher(ModalScreen[str | None]):
    """``:`` -- type a view's name (or pick it) and Enter; Esc cancels."""

    DEFAULT_CSS = """
    ViewSwitcher { align: center top; }
    ViewSwitcher > Vertical { width: 60; height: auto; max-height: 16; margin-top: 2;
                              border: round $accent; background: $surface; }
    ViewSwitcher OptionList { height: auto; max-height: 10; border: none; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, views: list[View]) -> None:
        super().__init__()
        self.views = views

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Input(placeholder=":view", id="view-name")
            yield OptionList(*self._options(""), id="view-list")

    def _options(self, text: str) -> list[Option]:
        text = text.strip().lstrip(":").lower()
        return [
            Option(f"{v.name:<10} {v.summary}", id=v.name)
            for v in self.views
            if not text or v.name.startswith(text)
        ]

    def on_input_changed(self, event: Input.Changed) -> None:
        options = self.query_one(OptionList)
        options.clear_options()
        options.add_options(self._options(event.value))
        if options.option_count:
            options.highlighted = 0

    def on_input_submitted(self, event: Input.Submitted) -> None:
        options = self.query_one(OptionList)
        matches = self._options(event.value)
        if options.option_count and options.highlighted is not None:
            self.dismiss(options.get_option_at_index(options.highlighted).id)
        elif matches:
            # Typed faster than the list follows (a paste, tmux send-keys): the first view
            # the text names, as the list will show it.
            self.dismiss(matches[0].id)
        else:
            self.app.bell()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)


class HelpScreen(ModalScreen[None]):
    """``?`` -- the views and the keys that apply where you are."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Static { width: 76; height: auto; max-height: 22; border: round $accent;
                          background: $surface; padding: 0 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "dismiss_help", "Close")
    ]

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def compose(self) -> ComposeResult:
        yield Static(self.text)

    def action_dismiss_help(self) -> None:
        self.dismiss(None)


class AsbbConsole(App[None]):
    """The asbb console. Give it a ledger (over SQLite or PostgreSQL) and who is using it."""

    TITLE = "asbb"
    ENABLE_COMMAND_PALETTE = True
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("colon", "switch_view", "View", id="switch-view"),
        Binding("question_mark", "help", "Help", id="help"),
        Binding("q", "quit", "Quit", id="quit"),
        *(
            Binding(v.key, f"show_view('{v.name}')", v.title, show=False, id=f"view-{v.name}")
            for v in VIEWS
        ),
    ]

    def __init__(
        self,
        ledger: Ledger,
        *,
        read_only: bool = False,
        database_label: str = "",
        actor: str | None = None,
        start_view: str = "dashboard",
    ) -> None:
        self.services = ConsoleServices(
            ledger,
            read_only=read_only,
            actor=actor or console_actor(),
            database_label=database_label,
        )
        self.views = available_views()
        # The modes are the views present in this installation (set before App.__init__).
        self.MODES = {v.name: _screen_class(v) for v in self.views}  # type: ignore[misc]
        super().__init__()
        names = [v.name for v in self.views]
        self.start_view = start_view if start_view in names else (names[0] if names else "")
        # Animations off by default (SSH sessions); TEXTUAL_ANIMATIONS still rules when set.
        self.animation_level = "none"
        self.set_keymap(ledger.settings.console.keys)  # [console] keys: rebound actions

    @property
    def read_only(self) -> bool:
        return self.services.read_only

    def on_mount(self) -> None:
        unknown = sorted(set(self.services.settings.console.keys) - self.binding_ids())
        if unknown:
            self.notify(
                f"console.keys: no action {', '.join(unknown)} (? lists the ids)",
                severity="warning",
                timeout=10,
            )
        if self.start_view:
            self.switch_mode(self.start_view)
        self.call_after_refresh(self._freeze_startup_objects)

    @staticmethod
    def _freeze_startup_objects() -> None:
        # Textual builds a few hundred thousand long-lived objects at start-up; left in the
        # collector's oldest generation they made each full collection a pause of 0.2-0.5 s
        # under load (tests/bench/bench_console.py). Frozen, a collection only walks what
        # was made since.
        gc.collect()
        gc.freeze()

    def binding_ids(self) -> set[str]:
        """The id of every binding of the console (what ``[console] keys`` may rebind)."""
        from asbb_tui.console.base import ConsoleScreen

        for view in self.views:  # the drill-ins are imported with their views
            _screen_class(view)
        classes: list[type[object]] = [type(self)]
        pending: list[type[object]] = [ConsoleScreen]
        while pending:
            cls = pending.pop()
            classes.append(cls)
            pending.extend(cls.__subclasses__())
        ids = set()
        for cls in classes:
            for binding in getattr(cls, "BINDINGS", []):
                if isinstance(binding, Binding) and binding.id:
                    ids.add(binding.id)
        return ids

    def action_show_view(self, name: str) -> None:
        if name in self.MODES:
            self.switch_mode(name)

    def action_switch_view(self) -> None:
        def chosen(name: str | None) -> None:
            if name:
                self.action_show_view(name)

        self.push_screen(ViewSwitcher(self.views), chosen)

    def action_help(self) -> None:
        lines = ["[b]Views[/b]  (: then the name, or the digit)"]
        lines += [f"  {v.key}  {v.name:<10} {v.summary}" for v in self.views]
        lines.append("")
        lines.append("[b]Keys here[/b]")
        for binding in self._bindings_here():
            lines.append(
                f"  {self.get_key_display(binding):<12} {binding.description:<20}"
                f" [dim]{binding.id or ''}[/dim]"
            )
        lines.append("")
        lines.append("ctrl+p lists every action; Esc goes back; q quits.")
        lines.append('[dim]Rebind a key in the settings: [console] keys = { id = "key" }[/dim]')
        if self.read_only:
            lines.append("[b]READ-ONLY[/b]: actions that write are hidden.")
        self.push_screen(HelpScreen("\n".join(lines)))

    def _bindings_here(self) -> list[Binding]:
        seen: dict[str, Binding] = {}
        for _node, binding, enabled, _tooltip in self.active_bindings.values():
            if enabled and binding.description and binding.show:
                seen.setdefault(binding.action, binding)
        return list(seen.values())

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        # The palette: every view, then every action that applies on this screen.
        for view in self.views:
            yield SystemCommand(
                f"View: {view.title}",
                view.summary,
                lambda name=view.name: self.action_show_view(name),
            )
        for binding in self._bindings_here():
            yield SystemCommand(
                f"{binding.description} ({binding.key})",
                f"runs {binding.action}",
                lambda action=binding.action: self.run_action(action),
            )
        yield from super().get_system_commands(screen)
