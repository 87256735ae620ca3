-- A registration sent again with the same Idempotency-Key (an answer lost on the way back, a double click, a phone
-- that lost its signal) answers the case it registered the first time instead of registering or linking again.
-- Keyed by who sent it; the body's fingerprint tells a retry from a different submission under the same key.
-- Pruned with the partner ingress's replay cache (LABORCASE_INGRESS_RETENTION_DAYS).
CREATE TABLE registration_keys (
    caller      text        NOT NULL,
    key         text        NOT NULL,
    fingerprint text        NOT NULL,
    case_id     text,
    linked      boolean     NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (caller, key)
);
CREATE INDEX registration_keys_created ON registration_keys (created_at);
