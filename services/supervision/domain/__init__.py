"""Supervision's domain rules, free of I/O."""
