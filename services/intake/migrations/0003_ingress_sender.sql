-- Which partner key sent each ingress event (the sender proven by its signature).
ALTER TABLE ingress ADD COLUMN key_id text;
