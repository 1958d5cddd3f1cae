-- The audit service owns this schema; no other service reads or writes it.
COMMENT ON SCHEMA audit IS 'auditwatch audit service: audit tasks, work orders, supervision and deductions';
