-- The gateway service owns this schema; no other service reads or writes it.
COMMENT ON SCHEMA gateway IS 'auditwatch gateway service: API keys and access records of the gateway';
