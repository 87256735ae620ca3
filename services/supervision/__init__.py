"""Supervision (督办): case timeline, overdue alerts, statistics."""
