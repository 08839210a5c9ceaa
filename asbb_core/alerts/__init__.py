"""Alerts: the conditions worth a person's attention, raised once per breach, and their
delivery by webhook and e-mail."""
