CREATE TABLE ledger_cases (
    court_case_no text PRIMARY KEY,
    referrals     integer NOT NULL DEFAULT 1,
    decision      text,
    filed         boolean NOT NULL DEFAULT false
);
CREATE TABLE received (case_id text NOT NULL, event_id uuid NOT NULL);
