"""Intake (受理): validates, de-duplicates, triages and dispatches cases."""
