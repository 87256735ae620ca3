-- The partner ingress's replay cache is pruned by age (LABORCASE_INGRESS_RETENTION_DAYS): a replayed request
-- older than the signature's allowed clock skew is refused as stale anyway.
CREATE INDEX ingress_received ON ingress (received_at);
