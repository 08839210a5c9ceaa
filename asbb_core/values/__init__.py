"""Values: money, time spans, calendar periods, errors, who acts (no database)."""
