-- The workers' phones per case, learnt from intake's events (registered, linked, dispatched): only the number,
-- which is all a message needs.
CREATE TABLE recipients (
    case_id   text        NOT NULL,
    phone     text        NOT NULL,
    learnt_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (case_id, phone)
);

-- What the messages and notices of a case need to know of it: the unit holding it (whose supervisors read its
-- messages) and its mediator (offered, then accepted).
CREATE TABLE cases (
    case_id       text PRIMARY KEY,
    org_unit      text,
    mediator_id   text,
    mediator_name text,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- One SMS to one phone about one event: (event_id, phone) is unique, so a redelivered event sends nothing twice.
-- params: the template's variable values, kept until the message is final (secrets scrubbed then);
-- text: the message as the worker reads it (the query code hidden unless the recording gateway sends it).
CREATE TABLE messages (
    message_id   uuid PRIMARY KEY,
    event_id     uuid        NOT NULL,
    case_id      text        NOT NULL,
    phone        text        NOT NULL,
    kind         text        NOT NULL,
    template_id  text        NOT NULL,
    params       jsonb       NOT NULL,
    text         text        NOT NULL,
    state        text        NOT NULL CHECK (state IN ('queued', 'held', 'sent', 'delivered', 'failed', 'skipped')),
    attempts     integer     NOT NULL DEFAULT 0,
    not_before   timestamptz NOT NULL,
    event_at     timestamptz NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    sent_at      timestamptz,
    reason       text,
    provider_ref text,
    gateway      text        NOT NULL,
    UNIQUE (event_id, phone)
);
CREATE INDEX messages_due ON messages (not_before) WHERE state IN ('queued', 'held');
CREATE INDEX messages_case ON messages (case_id);
CREATE INDEX messages_recent ON messages (created_at);

-- Phones whose owner asked for no more messages (退订), recorded by staff.
CREATE TABLE opt_outs (
    phone  text PRIMARY KEY,
    reason text        NOT NULL DEFAULT '',
    actor  text        NOT NULL,
    at     timestamptz NOT NULL
);

-- In-console notices for staff: a mediator (recipient 'mediator:<id>') or a unit's supervisors ('unit:<code>').
CREATE TABLE notices (
    notice_id  uuid PRIMARY KEY,
    event_id   uuid        NOT NULL,
    recipient  text        NOT NULL,
    case_id    text        NOT NULL,
    kind       text        NOT NULL,
    text       text        NOT NULL,
    created_at timestamptz NOT NULL,
    read_at    timestamptz,
    UNIQUE (event_id, recipient)
);
CREATE INDEX notices_recipient ON notices (recipient, created_at);

-- The recording gateway (local runs): every SMS as the phone would have received it, one row per gateway call
-- (no unique key on purpose: a message recorded twice would show here, and the chaos check counts them).
CREATE TABLE recorded_sms (
    id          bigserial PRIMARY KEY,
    message_id  uuid        NOT NULL,
    phone       text        NOT NULL,
    text        text        NOT NULL,
    recorded_at timestamptz NOT NULL
);
CREATE INDEX recorded_sms_message ON recorded_sms (message_id);
