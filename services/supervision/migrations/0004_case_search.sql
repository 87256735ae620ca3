-- Case search and the mediators' figures read the projection: who the workers are (names, ID numbers), the
-- employer, and the assigned mediator's name (as the mediation events carry it), with indexes for the search.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
ALTER TABLE cases ADD COLUMN worker_names  text[] NOT NULL DEFAULT '{}';
ALTER TABLE cases ADD COLUMN worker_ids    text[] NOT NULL DEFAULT '{}';
ALTER TABLE cases ADD COLUMN employer_name text;
ALTER TABLE cases ADD COLUMN mediator_name text;
-- worker names and the employer as one searchable text (maintained with the arrays above)
ALTER TABLE cases ADD COLUMN parties       text   NOT NULL DEFAULT '';

-- what the projection already holds, from the timeline's stored events
UPDATE cases c SET worker_names = w.names, worker_ids = w.ids, employer_name = w.employer
FROM (SELECT t.case_id,
             array_agg(DISTINCT x->>'name') AS names,
             array_agg(DISTINCT x->>'id_number') AS ids,
             (array_agg(t.data->'facts'->'employer'->>'name'))[1] AS employer
      FROM timeline t CROSS JOIN LATERAL jsonb_array_elements(t.data->'facts'->'workers') x
      WHERE t.type = 'intake.case_received' GROUP BY t.case_id) w
WHERE w.case_id = c.case_id;
UPDATE cases c SET mediator_name = m.name
FROM (SELECT DISTINCT ON (case_id) case_id, data->>'mediator_name' AS name FROM timeline
      WHERE type = 'mediation.mediator_assigned' ORDER BY case_id, at DESC, seq DESC) m
WHERE m.case_id = c.case_id;
UPDATE cases SET parties = array_to_string(worker_names, ' ') || ' ' || coalesce(employer_name, '');

CREATE INDEX cases_parties_trgm ON cases USING gin (parties gin_trgm_ops);
CREATE INDEX cases_worker_ids ON cases USING gin (worker_ids);
CREATE INDEX cases_due ON cases (due_at);
CREATE INDEX cases_status ON cases (status);
CREATE INDEX cases_mediator ON cases (mediator_id);
CREATE INDEX alerts_case ON alerts (case_id) WHERE state <> 'resolved';
