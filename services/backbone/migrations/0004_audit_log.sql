-- Who read or changed which case, when, from where (个人信息保护法). Append-only.
CREATE TABLE audit_log (
    id            bigserial PRIMARY KEY,
    at            timestamptz NOT NULL DEFAULT now(),
    service       text        NOT NULL,
    actor         text        NOT NULL,
    role          text        NOT NULL,
    org_unit      text,
    action        text        NOT NULL,
    case_id       text,
    method        text        NOT NULL,
    path          text        NOT NULL,
    status        integer     NOT NULL,
    client        text,
    forwarded_for text
);
CREATE INDEX audit_log_case ON audit_log (case_id, at);
CREATE INDEX audit_log_actor ON audit_log (actor, at);

CREATE FUNCTION audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END $$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_is_append_only();
