"""The runtime every laborcase service stands on, written once.

Transactional outbox and relay, idempotent consumption through an inbox, dead letters, parking,
durable deadlines, health and metrics. Domain code never touches Kafka directly: it writes state
and events in one PostgreSQL transaction and the backbone does the rest.
"""
