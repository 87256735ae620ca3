-- Intake's own state: the cases it registered, their workers (for de-duplication), and an audit trail.
CREATE SEQUENCE case_number;

CREATE TABLE cases (
    case_id             text PRIMARY KEY,
    status              text        NOT NULL CHECK (status IN ('received', 'dispatched', 'answered',
                                                               'referred_elsewhere', 'closed')),
    channel             text        NOT NULL,
    received_at         timestamptz NOT NULL,
    region_code         text        NOT NULL,
    employer_uscc       text        NOT NULL,
    employer_name       text        NOT NULL,
    claim_types         text[]      NOT NULL,
    worker_count        integer     NOT NULL,
    group_dispute       boolean     NOT NULL,
    tier                text        NOT NULL,
    tier_rule           text        NOT NULL,
    tier_reason         text,
    due_at              timestamptz NOT NULL,
    provisional         boolean     NOT NULL,
    org_unit            text,
    route               text,
    dispatch_attempt    integer     NOT NULL DEFAULT 0,
    court_code          text,
    court_case_no       text,
    bureau_code         text,
    arbitration_case_no text,
    facts               jsonb       NOT NULL,
    warnings            jsonb       NOT NULL DEFAULT '[]',
    answer              text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cases_open_by_employer ON cases (employer_uscc) WHERE status IN ('received', 'dispatched');

-- Every external reference a case is known by (a dispute may carry a pre-filing and a filing 案号).
CREATE TABLE case_refs (
    kind    text NOT NULL CHECK (kind IN ('court_case_no', 'arbitration_case_no')),
    ref     text NOT NULL,
    case_id text NOT NULL REFERENCES cases (case_id),
    PRIMARY KEY (kind, ref)
);
CREATE INDEX case_refs_case ON case_refs (case_id);

CREATE TABLE case_workers (
    case_id   text NOT NULL REFERENCES cases (case_id),
    id_number text NOT NULL,
    name      text NOT NULL,
    phone     text NOT NULL,
    PRIMARY KEY (case_id, id_number)
);
CREATE INDEX case_workers_id_number ON case_workers (id_number);

-- Partner events received over HTTP, so that posting the same event twice publishes it once.
CREATE TABLE ingress (
    event_id    uuid PRIMARY KEY,
    event_type  text        NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
