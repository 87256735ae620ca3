-- The worker's door (进度查询): one row per case with the steps written for the worker and the salted hashes of the
-- case's live query codes (never a code), made for the lookup: one indexed read answers it.
CREATE TABLE public_progress (
    case_id             text        PRIMARY KEY,
    code_hashes         text[]      NOT NULL DEFAULT '{}',
    -- [{id, at (UTC ISO, sortable), title, status}] in time order
    steps               jsonb       NOT NULL DEFAULT '[]',
    resolved            boolean     NOT NULL DEFAULT false,
    resolved_changed_at timestamptz,
    org_unit            text,
    updated_at          timestamptz NOT NULL DEFAULT now()
);

-- The worker's rating of the service (评价), once per case.
CREATE TABLE public_ratings (
    case_id  text        PRIMARY KEY,
    score    integer     NOT NULL CHECK (score BETWEEN 1 AND 5),
    comment  text        NOT NULL DEFAULT '',
    rated_at timestamptz NOT NULL
);
