"""The ``asbb`` command groups, one module each (registered in asbb_tui.cli)."""
