CREATE TABLE mediators (
    mediator_id text PRIMARY KEY,
    name        text        NOT NULL,
    org_unit    text        NOT NULL,
    capacity    integer     NOT NULL CHECK (capacity >= 0),
    active      boolean     NOT NULL DEFAULT true,
    specialties text[]      NOT NULL DEFAULT '{}',
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mediators_unit ON mediators (org_unit) WHERE active;

CREATE TABLE mediation_cases (
    case_id             text PRIMARY KEY,
    org_unit            text        NOT NULL,
    kind                text        NOT NULL,
    state               text        NOT NULL,
    tier                text        NOT NULL,
    due_at              timestamptz NOT NULL,
    received_at         timestamptz NOT NULL,
    court_code          text,
    court_case_no       text,
    referral_kind       text,
    procedure           text,
    bureau_code         text,
    arbitration_case_no text,
    facts               jsonb       NOT NULL,
    group_dispute       boolean     NOT NULL DEFAULT false,
    mediator_id         text,
    declined_by         text[]      NOT NULL DEFAULT '{}',
    signed_at           timestamptz,
    outcome             text,
    agreement           jsonb,
    representatives     jsonb       NOT NULL DEFAULT '[]',
    disputed_points     jsonb       NOT NULL DEFAULT '[]',
    opened_at           timestamptz NOT NULL DEFAULT now(),
    resolved_at         timestamptz,
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mediation_cases_mediator ON mediation_cases (mediator_id)
    WHERE state IN ('offered', 'in_mediation', 'awaiting_confirmation');
CREATE INDEX mediation_cases_unit ON mediation_cases (org_unit, due_at) WHERE state <> 'resolved';

CREATE TABLE partner_refs (
    kind    text NOT NULL,
    ref     text NOT NULL,
    case_id text NOT NULL REFERENCES mediation_cases (case_id),
    PRIMARY KEY (kind, ref)
);

CREATE TABLE sessions (
    session_id      uuid PRIMARY KEY,
    case_id         text        NOT NULL REFERENCES mediation_cases (case_id),
    scheduled_at    timestamptz NOT NULL,
    location        text        NOT NULL,
    held_at         timestamptz,
    parties_present jsonb       NOT NULL DEFAULT '[]',
    notes           text        NOT NULL DEFAULT '',
    created_by      text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sessions_case ON sessions (case_id, scheduled_at);
