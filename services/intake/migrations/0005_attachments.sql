-- Attachments (证据材料): the case file's evidence, kept by intake for every stage of the case (docs/adr/0005).
-- content holds the bytes when storage = 'postgres'; an object store keeps them under object_key instead.
CREATE TABLE attachments (
    attachment_id uuid PRIMARY KEY,
    case_id text NOT NULL,
    kind text NOT NULL,
    filename text NOT NULL,
    content_type text NOT NULL,
    size_bytes bigint NOT NULL CHECK (size_bytes > 0),
    sha256 text NOT NULL,
    note text NOT NULL DEFAULT '',
    uploaded_by text NOT NULL,
    uploaded_at timestamptz NOT NULL,
    storage text NOT NULL,
    object_key text,
    content bytea
);
CREATE INDEX attachments_case ON attachments (case_id, uploaded_at);
