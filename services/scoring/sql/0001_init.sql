-- The scoring service owns this schema; no other service reads or writes it.
COMMENT ON SCHEMA scoring IS 'auditwatch scoring service: evaluation schemes, scores and rankings';
