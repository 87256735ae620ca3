-- A row the broker refuses for good (larger than it accepts, for instance) is skipped and reported instead
-- of stopping its lane: it keeps its bytes, the time and the broker's answer, for an operator to act on.
ALTER TABLE outbox ADD COLUMN refused_at timestamptz, ADD COLUMN refusal text;
DROP INDEX outbox_pending;
CREATE INDEX outbox_pending ON outbox (lane, id) WHERE published_at IS NULL AND refused_at IS NULL;
CREATE INDEX outbox_refused ON outbox (refused_at) WHERE refused_at IS NOT NULL;
