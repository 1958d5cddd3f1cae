-- The closed audit loop: tasks, work orders and their immutable log,
-- supervision orders, timer rows, the whitelist outbox, deduction standards,
-- incidents and deductions, the audit-facts change feed, idempotent command
-- answers and the cursor on monitor's events feed. Enum columns hold the
-- numbers of the auditwatch.v1 enums named beside them.

-- Audit facts, numbered in commit order for the WatchAuditFacts feed. A
-- writer inserts its facts unnumbered, so commands commit in parallel (and
-- their fsyncs group); the sequencer (sequence_facts(), run by any replica
-- every few tens of milliseconds) numbers every committed fact not yet
-- numbered, in insertion order, under a lock, and announces the last number.
-- A fact is numbered only after its transaction has committed, so a number
-- once read is never preceded later by a smaller one.
CREATE SEQUENCE fact_seqs;
CREATE TABLE facts (
  id bigserial NOT NULL,         -- insertion order; indexed only while unnumbered

  seq bigint UNIQUE,             -- NULL until the sequencer numbers it
  kind smallint NOT NULL,        -- 1 deduction, 2 work order, 3 incident
  record bytea NOT NULL,         -- the auditwatch.v1 record as committed (a work order without its log)
  committed_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX facts_unnumbered ON facts (id) WHERE seq IS NULL;
CREATE FUNCTION sequence_facts() RETURNS bigint LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
DECLARE
  last bigint;
BEGIN
  PERFORM pg_advisory_xact_lock(443438853);
  WITH numbered AS (
    SELECT id, nextval('fact_seqs') AS seq
    FROM (SELECT id FROM facts WHERE seq IS NULL ORDER BY id) pending
  ), stamped AS (
    UPDATE facts f SET seq = n.seq FROM numbered n WHERE f.id = n.id AND f.seq IS NULL RETURNING f.seq
  )
  SELECT max(seq) INTO last FROM stamped;
  IF last IS NOT NULL THEN
    PERFORM pg_notify('audit_facts', last::text);
  END IF;
  RETURN coalesce(last, 0);
END $$;

-- 专项稽查 plans.
CREATE TABLE special_plans (
  id bigserial PRIMARY KEY,
  name text NOT NULL,
  description text NOT NULL DEFAULT '',
  first_day date NOT NULL,
  last_day date NOT NULL,
  theme_codes text[] NOT NULL,
  scope_unit text NOT NULL,
  scope_descendants boolean NOT NULL,
  created_by text NOT NULL,
  created_at timestamptz NOT NULL,
  CHECK (last_day >= first_day)
);

CREATE TABLE tasks (
  id bigserial PRIMARY KEY,
  source smallint NOT NULL,               -- TaskSource
  theme_code text NOT NULL,
  title text NOT NULL,
  description text NOT NULL DEFAULT '',
  scope_unit text NOT NULL,
  scope_descendants boolean NOT NULL,
  scope_path text[] NOT NULL,             -- root .. scope_unit
  period_key text NOT NULL,
  deadline timestamptz,
  owner text NOT NULL,
  event_id bigint UNIQUE,                 -- an event yields one task, ever
  rule_code text NOT NULL DEFAULT '',
  event_level int NOT NULL DEFAULT 0,
  special_plan_id bigint REFERENCES special_plans (id),
  state smallint NOT NULL,                -- TaskState
  version bigint NOT NULL DEFAULT 1,
  created_by text NOT NULL,
  created_at timestamptz NOT NULL,
  updated_by text NOT NULL,
  updated_at timestamptz NOT NULL
) WITH (fillfactor = 80);
CREATE INDEX tasks_path ON tasks USING gin (scope_path);
CREATE INDEX tasks_period ON tasks (period_key, theme_code);

CREATE TABLE work_orders (
  id bigserial PRIMARY KEY,
  task_id bigint NOT NULL REFERENCES tasks (id),
  unit_code text NOT NULL,
  unit_path text[] NOT NULL,              -- root .. unit_code, as of dispatch
  title text NOT NULL,
  finding text NOT NULL DEFAULT '',
  state smallint NOT NULL,                -- WorkOrderState
  deadline timestamptz,
  overdue boolean NOT NULL DEFAULT false,
  ever_overdue boolean NOT NULL DEFAULT false,
  period_key text NOT NULL,
  theme_code text NOT NULL,
  source smallint NOT NULL,               -- the task's TaskSource
  whitelist_entry_id bigint NOT NULL DEFAULT 0,
  version bigint NOT NULL DEFAULT 1,
  created_by text NOT NULL,
  created_at timestamptz NOT NULL,
  updated_by text NOT NULL,
  updated_at timestamptz NOT NULL,
  reason text NOT NULL DEFAULT ''
) WITH (fillfactor = 80);
-- No index holds a column a transition changes (state, version, overdue …),
-- so a transition is a HOT update: it writes no index entry.
CREATE INDEX work_orders_path ON work_orders USING gin (unit_path);
CREATE INDEX work_orders_task ON work_orders (task_id);
CREATE INDEX work_orders_period ON work_orders (period_key, theme_code);

CREATE TABLE rectifications (
  work_order_id bigint NOT NULL REFERENCES work_orders (id),
  n int NOT NULL,
  cause_analysis text NOT NULL,
  measures text NOT NULL,
  result text NOT NULL,
  attachments text[] NOT NULL DEFAULT '{}',
  submitted_by text NOT NULL,
  submitted_at timestamptz NOT NULL,
  PRIMARY KEY (work_order_id, n)
);

-- Who did what to an order, when, from which state to which, and why. Rows
-- are only ever added: the trigger refuses UPDATE and DELETE.
CREATE TABLE work_order_log (
  n bigserial,                    -- the order rows were written in
  work_order_id bigint NOT NULL REFERENCES work_orders (id),
  at timestamptz NOT NULL,
  actor text NOT NULL,
  action text NOT NULL,
  from_state smallint NOT NULL,
  to_state smallint NOT NULL,
  comment text NOT NULL DEFAULT ''
);
CREATE INDEX work_order_log_order ON work_order_log (work_order_id, n);
CREATE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER work_order_log_append_only BEFORE UPDATE OR DELETE ON work_order_log
  FOR EACH ROW EXECUTE FUNCTION refuse_change();

-- The first answer to each idempotent command, per actor and key.
CREATE TABLE commands (
  actor text NOT NULL,
  key text NOT NULL,
  method text NOT NULL,
  request bytea NOT NULL,        -- the request as sent (deterministic bytes)
  answer bytea NOT NULL,
  at timestamptz NOT NULL,
  PRIMARY KEY (actor, key)
);

-- 督办单.
CREATE TABLE supervision_orders (
  id bigserial PRIMARY KEY,
  work_order_id bigint REFERENCES work_orders (id),
  event_id bigint,
  unit_code text NOT NULL,
  unit_path text[] NOT NULL,
  escalation int NOT NULL,
  addressed_to text NOT NULL,
  reason text NOT NULL,
  issued_at timestamptz NOT NULL,        -- on the service's clock
  recorded_at timestamptz NOT NULL DEFAULT clock_timestamp(),  -- on the database's, as written
  reminders int NOT NULL DEFAULT 0,
  last_reminded_at timestamptz,
  closed_at timestamptz,
  CHECK ((work_order_id IS NULL) <> (event_id IS NULL))
);
-- One supervision order per order and escalation, and per warning event.
CREATE UNIQUE INDEX supervision_once ON supervision_orders (work_order_id, escalation) WHERE work_order_id IS NOT NULL;
CREATE UNIQUE INDEX supervision_event_once ON supervision_orders (event_id) WHERE event_id IS NOT NULL;
CREATE INDEX supervision_path ON supervision_orders USING gin (unit_path);

-- Timer rows: an order's deadline ('deadline') and its supervision reminders
-- ('remind'). Claimed with FOR UPDATE SKIP LOCKED; a row is deleted in the
-- transaction that acts on it, so it fires once.
CREATE TABLE timers (
  work_order_id bigint NOT NULL REFERENCES work_orders (id),
  kind text NOT NULL,
  due_at timestamptz NOT NULL,
  armed_at timestamptz NOT NULL,
  PRIMARY KEY (work_order_id, kind)
);
CREATE INDEX timers_due ON timers (due_at);

-- Commands to other services that must survive a crash: delivered by any
-- replica with retries and backoff, carrying `key` for the receiver.
CREATE TABLE outbox (
  id bigserial PRIMARY KEY,
  key text NOT NULL UNIQUE,
  kind text NOT NULL,                     -- 'whitelist'
  work_order_id bigint REFERENCES work_orders (id),
  payload bytea NOT NULL,
  created_at timestamptz NOT NULL,
  next_at timestamptz NOT NULL,
  attempts int NOT NULL DEFAULT 0,
  last_error text NOT NULL DEFAULT '',
  delivered_at timestamptz
);
CREATE INDEX outbox_due ON outbox (next_at) WHERE delivered_at IS NULL;

-- 业务评价扣分标准: every version of every item.
CREATE TABLE deduction_standards (
  code text NOT NULL,
  year int NOT NULL,
  version bigint NOT NULL,
  category smallint NOT NULL,
  description text NOT NULL,
  points double precision NOT NULL CHECK (points > 0),
  direct boolean NOT NULL,
  incident_kind smallint NOT NULL DEFAULT 0,
  incident_level int NOT NULL DEFAULT 0,
  enabled boolean NOT NULL,
  created_by text NOT NULL,
  created_at timestamptz NOT NULL,
  reason text NOT NULL DEFAULT '',
  PRIMARY KEY (code, year, version)
);

CREATE TABLE incidents (
  id bigserial PRIMARY KEY,
  kind smallint NOT NULL,
  level int NOT NULL,
  unit_code text NOT NULL,
  unit_path text[] NOT NULL,
  period_key text NOT NULL,
  description text NOT NULL,
  work_order_id bigint REFERENCES work_orders (id),
  created_by text NOT NULL,
  created_at timestamptz NOT NULL
);

-- Deduction facts; a correction is a new row naming the one it supersedes.
CREATE TABLE deductions (
  id bigserial PRIMARY KEY,
  type smallint NOT NULL,                 -- DeductionType
  unit_code text NOT NULL,
  unit_path text[] NOT NULL,
  period_key text NOT NULL,
  period_first date NOT NULL,
  period_last date NOT NULL,
  points double precision NOT NULL CHECK (points >= 0),
  standard_code text NOT NULL,
  standard_version bigint NOT NULL,
  work_order_id bigint REFERENCES work_orders (id),
  incident_id bigint REFERENCES incidents (id),
  description text NOT NULL DEFAULT '',
  supersedes_id bigint UNIQUE REFERENCES deductions (id),
  created_by text NOT NULL,
  created_at timestamptz NOT NULL,
  reason text NOT NULL DEFAULT ''
);
CREATE INDEX deductions_path ON deductions USING gin (unit_path);
CREATE TRIGGER deductions_append_only BEFORE UPDATE OR DELETE ON deductions
  FOR EACH ROW EXECUTE FUNCTION refuse_change();

-- Where the audit service is in monitor's events feed; moved in the same
-- transaction as the tasks and supervision orders the events caused.
CREATE TABLE feed_cursors (
  feed text PRIMARY KEY,
  position bigint NOT NULL,
  updated_at timestamptz NOT NULL
);
INSERT INTO feed_cursors VALUES ('monitor.events', 0, now());
