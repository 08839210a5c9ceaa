"""The asbb console: a Textual full-screen administration console (``asbb`` / ``asbb console``).

Layout: ``app.py`` is the shell (views, navigation, help, command palette, read-only mode);
``services.py`` what the screens use; ``base.py`` the screen base class with its worker rule;
one module per view (dashboard, accounts, approvals, alerts, grants) and ``widgets.py`` /
``chart.py`` for the pieces they share.
"""

from asbb_tui.console.app import AsbbConsole

__all__ = ["AsbbConsole"]
