-- Scheduled pulls of system-computed indicators from read-only data sources.

CREATE TABLE pull_bindings (
  name text PRIMARY KEY,
  indicator_code text NOT NULL,
  data_source text NOT NULL,
  query text NOT NULL,
  period_type smallint NOT NULL,
  run_day_offset int NOT NULL,
  run_time time NOT NULL,
  enabled boolean NOT NULL,
  -- Timer row: the next period to pull and when it is due.
  next_period text NOT NULL,
  next_run_at timestamptz NOT NULL,
  revision int NOT NULL DEFAULT 1,
  actor text NOT NULL,
  reason text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX pull_bindings_due ON pull_bindings (next_run_at) WHERE enabled;

CREATE TABLE pull_runs (
  id bigserial PRIMARY KEY,
  binding text NOT NULL REFERENCES pull_bindings (name),
  period text NOT NULL,
  state smallint NOT NULL,              -- auditwatch.v1.PullRunState
  started_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  rows int NOT NULL DEFAULT 0,
  rejected int NOT NULL DEFAULT 0,
  errors bytea,                         -- serialized auditwatch.v1.BatchResult of the rejects
  error text NOT NULL DEFAULT '',
  actor text NOT NULL DEFAULT 'scheduler'
);
CREATE INDEX pull_runs_binding ON pull_runs (binding, id DESC);
