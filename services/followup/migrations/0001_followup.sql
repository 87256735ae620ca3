CREATE TABLE followup_cases (
    case_id            text PRIMARY KEY,
    source             text        NOT NULL,
    org_unit           text        NOT NULL,
    outcome            text        NOT NULL,
    resolved_at        timestamptz NOT NULL,
    confirmed_by_court boolean     NOT NULL DEFAULT false,
    agreement          jsonb,
    state              text        NOT NULL CHECK (state IN ('monitoring', 'closed', 'reopened', 'unreachable')),
    satisfaction       integer CHECK (satisfaction BETWEEN 1 AND 5),
    comment            text,
    flagged            boolean     NOT NULL DEFAULT false,
    closed_at          timestamptz,
    cycle              integer     NOT NULL DEFAULT 1,
    updated_at         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE followups (
    followup_id   uuid PRIMARY KEY,
    case_id       text        NOT NULL REFERENCES followup_cases (case_id),
    cycle         integer     NOT NULL,
    kind          text        NOT NULL CHECK (kind IN ('first', 'instalment')),
    seq           integer     NOT NULL,
    due_date      date        NOT NULL,
    instalment_due date,
    amount        numeric(14, 2),
    state         text        NOT NULL CHECK (state IN ('scheduled', 'done', 'unreachable', 'cancelled')),
    attempts      integer     NOT NULL DEFAULT 0,
    reached       boolean,
    paid          boolean,
    satisfaction  integer,
    comment       text        NOT NULL DEFAULT '',
    done_at       timestamptz,
    UNIQUE (case_id, cycle, kind, seq)
);
CREATE INDEX followups_due ON followups (due_date) WHERE state = 'scheduled';
