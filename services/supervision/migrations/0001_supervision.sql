-- The case as a whole, projected from every service's events (order-insensitive: each field keeps the
-- time of the event that set it, an older event never overwrites a newer one).
CREATE TABLE cases (
    case_id          text PRIMARY KEY,
    status           text,
    status_at        timestamptz,
    stage            text,
    stage_at         timestamptz,
    org_unit         text,
    org_unit_at      timestamptz,
    tier             text,
    tier_at          timestamptz,
    due_at           timestamptz,
    provisional      boolean     NOT NULL DEFAULT false,
    channel          text,
    region_code      text,
    received_at      timestamptz,
    worker_count     integer     NOT NULL DEFAULT 0,
    claim_types      text[]      NOT NULL DEFAULT '{}',
    claim_amount     numeric(16, 2),
    group_dispute    boolean     NOT NULL DEFAULT false,
    route            text,
    mediator_id      text,
    mediation_outcome text,
    returned_to      text,
    legal_aid        boolean     NOT NULL DEFAULT false,
    amount_recovered numeric(16, 2),
    settled_amount   numeric(16, 2),
    satisfaction     integer,
    on_time          boolean,
    resolved_at      timestamptz,
    closed_at        timestamptz,
    reopened         integer     NOT NULL DEFAULT 0,
    partner_code     text,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cases_unit ON cases (org_unit);
CREATE INDEX cases_region ON cases (region_code);
CREATE INDEX cases_received ON cases (received_at);

CREATE TABLE case_refs (
    ref     text PRIMARY KEY,
    case_id text NOT NULL
);
CREATE INDEX case_refs_case ON case_refs (case_id);

-- Every event of every case, across services.
CREATE TABLE timeline (
    event_id uuid PRIMARY KEY,
    case_id  text        NOT NULL,
    type     text        NOT NULL,
    source   text        NOT NULL,
    at       timestamptz NOT NULL,
    summary  text        NOT NULL,
    data     jsonb       NOT NULL,
    trace_id text
);
CREATE INDEX timeline_case ON timeline (case_id, at);

-- Partner events are keyed by the partner's case number; they join a case through case_refs.
CREATE TABLE partner_events (
    event_id uuid PRIMARY KEY,
    ref      text        NOT NULL,
    type     text        NOT NULL,
    source   text        NOT NULL,
    at       timestamptz NOT NULL,
    summary  text        NOT NULL,
    data     jsonb       NOT NULL
);
CREATE INDEX partner_events_ref ON partner_events (ref);

CREATE TABLE case_deadlines (
    deadline_id text PRIMARY KEY,
    case_id     text        NOT NULL,
    kind        text        NOT NULL,
    owner       text        NOT NULL,
    state       text        NOT NULL,
    due_at      timestamptz NOT NULL,
    org_unit    text,
    provisional boolean     NOT NULL DEFAULT false,
    on_time     boolean,
    changed_at  timestamptz NOT NULL
);
CREATE INDEX case_deadlines_case ON case_deadlines (case_id);

CREATE TABLE alerts (
    alert_id        bigserial PRIMARY KEY,
    case_id         text,
    deadline_id     text,
    deadline_kind   text,
    kind            text        NOT NULL,
    state           text        NOT NULL CHECK (state IN ('open', 'acknowledged', 'resolved')),
    org_unit        text,
    escalated_to    text,
    level           integer     NOT NULL DEFAULT 0,
    due_at          timestamptz,
    breach_at       timestamptz,
    raised_at       timestamptz NOT NULL DEFAULT now(),
    acknowledged_by text,
    ack_note        text,
    acknowledged_at timestamptz,
    resolved_at     timestamptz,
    detail          jsonb       NOT NULL DEFAULT '{}',
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX alerts_one_open ON alerts (deadline_id, kind) WHERE state <> 'resolved' AND deadline_id IS NOT NULL;
CREATE INDEX alerts_open ON alerts (kind, updated_at) WHERE state <> 'resolved';
