-- The report service owns this schema; no other service reads or writes it.
COMMENT ON SCHEMA report IS 'auditwatch report service: generated reports and their schedules';
