CREATE TABLE lawyers (
    lawyer_id   text PRIMARY KEY,
    name        text        NOT NULL,
    firm        text        NOT NULL,
    org_unit    text        NOT NULL,
    capacity    integer     NOT NULL CHECK (capacity >= 0),
    active      boolean     NOT NULL DEFAULT true,
    specialties text[]      NOT NULL DEFAULT '{}',
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Employers a lawyer may not act against (利益冲突审查).
CREATE TABLE lawyer_conflicts (
    lawyer_id text NOT NULL REFERENCES lawyers (lawyer_id),
    uscc      text NOT NULL,
    note      text NOT NULL DEFAULT '',
    PRIMARY KEY (lawyer_id, uscc)
);

CREATE TABLE aid_cases (
    case_id              text PRIMARY KEY,
    org_unit             text        NOT NULL,
    source               text        NOT NULL,
    state                text        NOT NULL,
    applied_at           timestamptz NOT NULL,
    facts                jsonb       NOT NULL,
    employer_uscc        text        NOT NULL,
    claim_types          text[]      NOT NULL,
    migrant_worker       boolean     NOT NULL DEFAULT false,
    monthly_income       numeric(14, 2),
    limitation_date      date,
    disputed_points      jsonb       NOT NULL DEFAULT '[]',
    decision             text,
    decision_reasons     jsonb       NOT NULL DEFAULT '[]',
    urgent               boolean     NOT NULL DEFAULT false,
    lawyer_id            text REFERENCES lawyers (lawyer_id),
    stage                text,
    arbitration_case_no  text,
    amount_awarded       numeric(14, 2),
    outcome              text,
    method               text,
    amount_recovered     numeric(14, 2),
    concluded_at         timestamptz,
    updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX aid_cases_lawyer ON aid_cases (lawyer_id) WHERE state = 'represented';
CREATE INDEX aid_cases_unit ON aid_cases (org_unit, state);
CREATE UNIQUE INDEX aid_cases_arbitration ON aid_cases (arbitration_case_no) WHERE arbitration_case_no IS NOT NULL;
