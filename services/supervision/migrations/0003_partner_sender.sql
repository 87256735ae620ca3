-- The partner proven by each partner event's signature: a case's timeline shows only what its own court or
-- bureau sent about it.
ALTER TABLE partner_events ADD COLUMN sender text;
