-- Who registered a case at the desk (the clerk's login), for the clerk's list of their own registrations.
ALTER TABLE cases ADD COLUMN registered_by text;
CREATE INDEX cases_registered_by ON cases (registered_by, received_at) WHERE registered_by IS NOT NULL;
