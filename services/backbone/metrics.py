"""Prometheus metrics (one registry per process; the service name is a label)."""

from prometheus_client import Counter, Gauge, Histogram

EVENTS_CONSUMED = Counter(
    "laborcase_events_consumed_total", "Events consumed, by outcome", ["service", "topic", "outcome"]
)
OUTBOX_PUBLISHED = Counter("laborcase_outbox_published_total", "Outbox rows published", ["service"])
OUTBOX_BACKLOG = Gauge("laborcase_outbox_backlog", "Outbox rows not yet published", ["service"])
DEAD_LETTERS = Counter("laborcase_dead_letters_total", "Events sent to a dead-letter topic", ["service", "topic"])
PARKED = Gauge("laborcase_parked_events", "Events parked until what they refer to is known", ["service"])
BATCH_SECONDS = Histogram(
    "laborcase_consumer_batch_seconds", "Time to process one consumed batch", ["service"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
DEADLINES_FIRED = Counter("laborcase_deadlines_fired_total", "Deadline warnings and breaches", ["service", "signal"])
DEADLINES_OPEN = Gauge("laborcase_deadlines_open", "Running deadlines (planner estimate: cheap at any size)", ["service"])
DEADLINES_DUE_SOON = Gauge("laborcase_deadlines_due_24h", "Deadline signals (warning or breach) due in the next 24 h",
                           ["service"])
DEADLINES_LATE = Gauge("laborcase_deadlines_late", "Deadline signals due more than 5 s ago and not yet fired "
                       "(the scanner is behind or stopped)", ["service"])
CONSUMER_LAG = Gauge("laborcase_consumer_lag", "Records behind the high watermark, per consumed topic "
                     "(from the last fetch; unreliable on the local Tansu broker)", ["service", "topic"])
RETRIES = Counter("laborcase_transient_retries_total", "Transient faults retried", ["service", "where"])
ISOLATED = Counter("laborcase_events_isolated_total", "Events dead-lettered because their batch kept failing "
                   "while the database answered", ["service"])
FAILING_ROUNDS = Gauge("laborcase_consumer_failing_rounds", "Consecutive rounds the current batch failed after its "
                       "retries (0: consuming normally)", ["service"])
BATCH_FAILURES = Counter("laborcase_consumer_batch_failures_total", "Consumed batches rewound after their retries",
                         ["service"])
DEADLINE_FAILURES = Counter("laborcase_deadline_failures_total", "Deadlines whose firing failed (retried alone)",
                            ["service"])
RELAY_SKIPPED = Counter("laborcase_outbox_skipped_total", "Outbox rows the broker refused for good (reported, "
                        "skipped)", ["service", "topic"])
HANDED = Counter("laborcase_connections_handed_total", "Client connections handed to the process that answers their "
                 "next request (one machine: services/backbone/handoff.py)", ["service", "to"])
ADOPTED = Counter("laborcase_connections_adopted_total", "Client connections handed to this process and served by it",
                  ["service"])
