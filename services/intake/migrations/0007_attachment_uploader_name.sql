-- Attachments: the uploader's name as people read it, kept as it was at the upload (uploaded_by keeps the account).
-- Rows from before held the name in uploaded_by already.
ALTER TABLE attachments ADD COLUMN uploaded_by_name text;
UPDATE attachments SET uploaded_by_name = uploaded_by WHERE uploaded_by_name IS NULL;
