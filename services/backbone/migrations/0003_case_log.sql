-- The service's side of each case's story: who did what, when (the timeline is a product feature).
CREATE TABLE case_log (
    id      bigserial PRIMARY KEY,
    case_id text        NOT NULL,
    at      timestamptz NOT NULL DEFAULT now(),
    actor   text,
    action  text        NOT NULL,
    detail  jsonb       NOT NULL DEFAULT '{}'
);
CREATE INDEX case_log_case ON case_log (case_id, id);
