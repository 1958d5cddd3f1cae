-- The monitor service owns this schema; no other service reads or writes it.
COMMENT ON SCHEMA monitor IS 'auditwatch monitor service: warning rules, events, whitelist and notifications';
