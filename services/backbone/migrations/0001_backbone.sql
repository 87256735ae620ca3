-- The backbone tables every service database carries.

-- Transactional outbox: a state change and its events commit together; the relay publishes them.
-- Rows are ordered by id; a row's lane (hash of its key) decides which relay may publish it, so
-- one case's events leave in commit order even with several relays.
CREATE TABLE outbox (
    id           bigserial PRIMARY KEY,
    event_id     uuid,
    event_type   text,
    topic        text        NOT NULL,
    key          bytea,
    value        bytea       NOT NULL,
    headers      jsonb       NOT NULL DEFAULT '[]',
    lane         smallint    NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX outbox_pending ON outbox (lane, id) WHERE published_at IS NULL;
CREATE INDEX outbox_published ON outbox (published_at) WHERE published_at IS NOT NULL;

-- Lease per lane: a relay owns a lane until lease_until; a dead relay's lanes are taken over.
CREATE TABLE outbox_lane (
    lane        smallint PRIMARY KEY,
    owner       text,
    lease_until timestamptz NOT NULL DEFAULT '-infinity'
);
INSERT INTO outbox_lane (lane) SELECT generate_series(0, 15);

-- Inbox: the ids of the events this service has processed. A redelivered event changes nothing.
CREATE TABLE inbox (
    event_id     uuid PRIMARY KEY,
    event_type   text        NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX inbox_processed_at ON inbox (processed_at);

-- Events that refer to something not yet known here: kept and retried, never dropped.
CREATE TABLE parked (
    event_id        uuid PRIMARY KEY,
    event_type      text        NOT NULL,
    topic           text        NOT NULL,
    "partition"     integer     NOT NULL,
    "offset"        bigint      NOT NULL,
    key             bytea,
    value           bytea,
    headers         jsonb       NOT NULL DEFAULT '[]',
    reason          text        NOT NULL,
    attempts        integer     NOT NULL DEFAULT 0,
    parked_at       timestamptz NOT NULL DEFAULT now(),
    next_attempt_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX parked_due ON parked (next_attempt_at);

-- Durable deadlines. The scanner reads only rows whose next firing time has come (partial index),
-- so its cost does not grow with the number of open deadlines.
CREATE TABLE deadlines (
    id             uuid PRIMARY KEY,
    case_id        text        NOT NULL,
    kind           text        NOT NULL,
    owner          text        NOT NULL,
    state          text        NOT NULL CHECK (state IN ('open', 'paused', 'met', 'breached', 'cancelled', 'handed_over')),
    started_at     timestamptz NOT NULL,
    due_at         timestamptz NOT NULL,
    warn_at        timestamptz NOT NULL,
    warn_ratio     double precision NOT NULL,
    warned         boolean     NOT NULL DEFAULT false,
    paused_at      timestamptz,
    pause_reason   text,
    paused_seconds double precision NOT NULL DEFAULT 0,
    provisional    boolean     NOT NULL DEFAULT false,
    org_unit       text,
    met_at         timestamptz,
    breached_at    timestamptz,
    next_fire_at   timestamptz,
    attributes     jsonb       NOT NULL DEFAULT '{}',
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX deadlines_fire ON deadlines (next_fire_at) WHERE next_fire_at IS NOT NULL;
CREATE UNIQUE INDEX deadlines_active ON deadlines (case_id, kind) WHERE state IN ('open', 'paused', 'breached');
CREATE INDEX deadlines_case ON deadlines (case_id);

-- The marker this service last wrote to the broker: when the broker no longer has it, the broker
-- lost its log (the local broker keeps it in memory) and the retained outbox is re-published.
CREATE TABLE broker_marker (
    service    text PRIMARY KEY,
    marker     uuid        NOT NULL,
    written_at timestamptz NOT NULL DEFAULT now()
);
