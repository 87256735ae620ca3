-- Events of one unit of work share their time: the timeline keeps the order they were projected in as the
-- tie-break (one case's events of one service arrive in commit order, keyed by the case id).
ALTER TABLE timeline ADD COLUMN seq bigserial;
DROP INDEX timeline_case;
CREATE INDEX timeline_case ON timeline (case_id, at, seq);
