-- The audit log stays append-only for the services; an operator archives it by month
-- (`laborcase audit archive --month YYYY-MM`): the rows of a finished month (Asia/Shanghai) are written to a
-- file and removed in one transaction, and the archive is recorded here. Nothing else may delete a row.
CREATE TABLE audit_archives (
    month       text        PRIMARY KEY CHECK (month ~ '^\d{4}-\d{2}$'),
    row_count   bigint      NOT NULL,
    sha256      text        NOT NULL,
    file        text        NOT NULL,
    archived_by text        NOT NULL,
    archived_at timestamptz NOT NULL DEFAULT now()
);

CREATE OR REPLACE FUNCTION audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    archiving text := current_setting('laborcase.audit_archive_month', true);
BEGIN
    IF TG_OP = 'DELETE' AND archiving IS NOT NULL
       AND to_char((OLD.at AT TIME ZONE 'UTC') + interval '8 hours', 'YYYY-MM') = archiving
       AND archiving < to_char((now() AT TIME ZONE 'UTC') + interval '8 hours', 'YYYY-MM') THEN
        RETURN OLD;  -- an operator's archive run of a finished month
    END IF;
    RAISE EXCEPTION 'audit_log is append-only';
END $$;
