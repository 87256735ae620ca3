-- intake's change of tier for a case legal aid does not hold yet (调整分级): intake.case_reclassified and
-- mediation.handed_to_legal_aid travel on different topics, so a re-tier can arrive before the hand-over that
-- brings the case. The latest is kept and applied to the tier clock when the case arrives.
CREATE TABLE pending_tier_changes (
    case_id     text        PRIMARY KEY,
    from_tier   text        NOT NULL,
    to_tier     text        NOT NULL,
    due_at      timestamptz NOT NULL,
    provisional boolean     NOT NULL,
    received_at timestamptz NOT NULL,
    actor       text        NOT NULL,
    reason      text        NOT NULL,
    kept_at     timestamptz NOT NULL
);
