-- Who to call: the workers (name, phone), the employer and the summary of each case, learnt from intake's
-- events when the case is registered or dispatched (follow-up keeps only what the caller needs).
CREATE TABLE case_facts (
    case_id    text PRIMARY KEY,
    workers    jsonb       NOT NULL,
    employer   text        NOT NULL,
    summary    text        NOT NULL DEFAULT '',
    updated_at timestamptz NOT NULL DEFAULT now()
);
