"""Store: tables, column types, engines and units of work, migrations, paged reads, and the
timers that run the periodic work."""
