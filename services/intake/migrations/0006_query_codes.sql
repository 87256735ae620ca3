-- The worker's query codes (查询码): only their salted, keyed hashes (services/security/query_codes.py). A case may
-- hold several live codes (a submission that joined it brought its own worker); a rotation revokes every earlier one.
CREATE TABLE query_codes (
    case_id    text        NOT NULL,
    code_hash  text        NOT NULL,
    reason     text        NOT NULL,
    issued_at  timestamptz NOT NULL,
    issued_by  text,
    revoked_at timestamptz,
    PRIMARY KEY (case_id, code_hash)
);
CREATE INDEX query_codes_live ON query_codes (case_id) WHERE revoked_at IS NULL;
