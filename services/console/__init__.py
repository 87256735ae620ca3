"""The console on :8000: one origin for people — the web console and the public API, routed to the services."""
