-- What an audit row read: the cases of a list, search, stream or export, and the query asked.
ALTER TABLE audit_log ADD COLUMN detail jsonb;

-- Tokens revoked before they expire (logout); every service holds the list its requests are checked against.
CREATE TABLE revoked_tokens (
    token_id   text        PRIMARY KEY,
    subject    text        NOT NULL,
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX revoked_tokens_revoked ON revoked_tokens (revoked_at);

-- Failed logins per account and per address (the service that logs people in): a growing delay, then a lock.
CREATE TABLE login_throttle (
    key          text        PRIMARY KEY,
    failures     integer     NOT NULL DEFAULT 0,
    last_failure timestamptz NOT NULL DEFAULT now(),
    locked_until timestamptz
);
