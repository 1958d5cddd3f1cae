-- The ingest service owns this schema; no other service reads or writes it.
COMMENT ON SCHEMA ingest IS 'auditwatch ingest service: org units, indicator catalogue, readings and their change feed';
