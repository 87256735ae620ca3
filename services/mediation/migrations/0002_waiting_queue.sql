-- Cases waiting for a mediator with room, earliest due first (the waiting queue scans only these).
CREATE INDEX mediation_cases_waiting ON mediation_cases (due_at, case_id) WHERE state = 'awaiting_assignment';
