-- Theft suspicion (违约窃电综合监控).

-- What an event is about within its unit, when more than the unit: a theft
-- suspect's customer id. One open event per rule, unit, period and subject.
ALTER TABLE events ADD COLUMN subject text NOT NULL DEFAULT '';
DROP INDEX events_one_open;
CREATE UNIQUE INDEX events_one_open ON events (rule_code, unit_code, period_key, subject) WHERE state <> 4;
-- A theft rule's events by customer (a run links its suspects to them).
CREATE INDEX events_subject ON events (rule_code, subject) WHERE subject <> '';
-- Events of a unit and period, now down to the rule and subject: a station's
-- thousands of suspects share its unit and period, and an event looked up by
-- its key must not scan them all whichever index the planner picks.
DROP INDEX events_unit;
CREATE INDEX events_unit ON events (unit_code, period_key, rule_code, subject);

-- One analysis: a rule's scope scored over a window of days.
CREATE TABLE theft_runs (
  id bigserial PRIMARY KEY,
  rule_code text NOT NULL,
  first_day date NOT NULL,
  last_day date NOT NULL,
  method smallint NOT NULL,           -- auditwatch.v1.TheftMethod
  model_version int NOT NULL DEFAULT 0,
  customers int NOT NULL,
  per_level int[] NOT NULL,           -- customers at levels 1..4
  events_opened int NOT NULL,
  events_suppressed int NOT NULL,
  events_resolved int NOT NULL,
  seconds double precision NOT NULL,
  days_read int NOT NULL,             -- days read from ingest (the window, or those since the last run)
  request_id text UNIQUE,
  created_by text NOT NULL,
  created_at timestamptz NOT NULL
);
CREATE INDEX theft_runs_rule ON theft_runs (rule_code, id);

-- The customers of a run at levels 1–3, with what a label needs later: the
-- features (0..1, the transparent score's input) and the signals (the
-- model's), each as float8 big-endian bytes in theft_logic's feature order.
CREATE TABLE theft_suspects (
  run_id bigint NOT NULL REFERENCES theft_runs (id) ON DELETE CASCADE,
  customer_id text NOT NULL,
  station_code text NOT NULL,
  category text NOT NULL,
  rank int NOT NULL,
  level smallint NOT NULL,
  score double precision NOT NULL,
  reasons bytea NOT NULL,             -- auditwatch.v1.TheftSuspect with only its reasons
  features bytea NOT NULL,
  signals bytea NOT NULL,
  event_id bigint,
  PRIMARY KEY (run_id, customer_id)
);
CREATE UNIQUE INDEX theft_suspects_rank ON theft_suspects (run_id, rank);
CREATE INDEX theft_suspects_event ON theft_suspects (event_id) WHERE event_id IS NOT NULL;

-- Outcomes of inspections: one per work order.
CREATE TABLE theft_labels (
  work_order_id bigint PRIMARY KEY,
  event_id bigint NOT NULL,
  run_id bigint NOT NULL,
  customer_id text NOT NULL,
  station_code text NOT NULL,
  theft boolean NOT NULL,
  held_back boolean NOT NULL,
  features bytea NOT NULL,
  signals bytea NOT NULL,
  recorded_at timestamptz NOT NULL
);

-- Trained models, versioned; the latest adopted one is in use.
CREATE TABLE theft_models (
  version serial PRIMARY KEY,
  model bytea NOT NULL,               -- xgboost's JSON
  trained_on int NOT NULL,
  held_back int NOT NULL,
  champion_auc double precision NOT NULL,
  challenger_auc double precision NOT NULL,
  adopted boolean NOT NULL,
  verdict text NOT NULL,
  reason text NOT NULL DEFAULT '',
  created_by text NOT NULL,
  created_at timestamptz NOT NULL
);
