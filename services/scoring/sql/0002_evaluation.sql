-- The evaluation: versioned schemes, units' own selections, bonus points,
-- immutable runs with every unit's figures and breakdown, which run of a
-- period is published (and since when), the timer rows of scheduled and
-- repeated evaluations, the cursors on the feeds that repeat them, and the
-- outbox that publishes scores to ingest as readings.

-- A scheme version is never changed; a change is the next version.
CREATE TABLE schemes (
  year        integer     NOT NULL,
  version     bigint      NOT NULL,
  scheme      bytea       NOT NULL,  -- auditwatch.v1.Scheme, normalised
  created_by  text        NOT NULL,
  created_at  timestamptz NOT NULL,
  reason      text        NOT NULL DEFAULT '',
  PRIMARY KEY (year, version)
);

CREATE TABLE selections (
  year        integer     NOT NULL,
  unit_code   text        NOT NULL,
  codes       text[]      NOT NULL,  -- empty: the whole scheme
  version     bigint      NOT NULL,
  created_by  text        NOT NULL,
  created_at  timestamptz NOT NULL,
  updated_by  text        NOT NULL,
  updated_at  timestamptz NOT NULL,
  reason      text        NOT NULL,
  PRIMARY KEY (year, unit_code)
);

-- Every version of every selection, appended with the change.
CREATE TABLE selection_history (
  year        integer     NOT NULL,
  unit_code   text        NOT NULL,
  version     bigint      NOT NULL,
  codes       text[]      NOT NULL,
  changed_by  text        NOT NULL,
  changed_at  timestamptz NOT NULL,
  reason      text        NOT NULL,
  PRIMARY KEY (year, unit_code, version)
);

CREATE TABLE bonuses (
  id              bigserial   PRIMARY KEY,
  unit_code       text        NOT NULL,
  period_type     smallint    NOT NULL,
  period_key      text        NOT NULL,
  period_first    date        NOT NULL,
  period_last     date        NOT NULL,
  points          float8      NOT NULL CHECK (points > 0),
  reason          text        NOT NULL,
  approved_by     text        NOT NULL,
  approved_at     timestamptz NOT NULL,
  idempotency_key text        NOT NULL,
  request         bytea       NOT NULL,  -- deterministic bytes of the request, for retries
  UNIQUE (approved_by, idempotency_key)
);
CREATE INDEX bonuses_by_period ON bonuses (period_first, period_last);

CREATE TABLE runs (
  id               bigserial   PRIMARY KEY,
  period_type      smallint    NOT NULL,
  period_key       text        NOT NULL,
  scheme_year      integer     NOT NULL,
  scheme_version   bigint      NOT NULL,
  trigger          smallint    NOT NULL,
  requested_by     text        NOT NULL,
  started_at       timestamptz NOT NULL,
  finished_at      timestamptz NOT NULL,
  published        boolean     NOT NULL DEFAULT false,
  published_at     timestamptz,
  published_by     text,
  units            integer     NOT NULL,
  readings         integer     NOT NULL,
  deductions       integer     NOT NULL,
  missing_values   integer     NOT NULL,
  inputs_digest    text        NOT NULL,
  results_digest   text        NOT NULL,
  readings_max_seq bigint      NOT NULL,
  FOREIGN KEY (scheme_year, scheme_version) REFERENCES schemes (year, version)
);
CREATE INDEX runs_by_period ON runs (period_key, id DESC);
-- One published run per period.
CREATE UNIQUE INDEX runs_published ON runs (period_key) WHERE published;

-- Who published which run of a period, when and why: the history of the mark.
CREATE TABLE publications (
  id           bigserial   PRIMARY KEY,
  period_key   text        NOT NULL,
  run_id       bigint      NOT NULL REFERENCES runs (id),
  published_by text        NOT NULL,
  published_at timestamptz NOT NULL,
  reason       text        NOT NULL DEFAULT ''
);

-- A run's figures, one row per unit; the breakdown (auditwatch.v1.Evaluation)
-- holds every indicator's value, reading and terms and every deduction.
CREATE TABLE run_units (
  run_id         bigint   NOT NULL REFERENCES runs (id),
  unit_code      text     NOT NULL,
  parent_code    text     NOT NULL,
  unit_type      smallint NOT NULL,
  composite      float8   NOT NULL,
  main_total     float8,             -- NULL when the unit has no main indicator
  process_total  float8,             -- NULL when it has no process indicator
  business_total float8   NOT NULL,
  rank           integer  NOT NULL,
  breakdown      bytea    NOT NULL,
  PRIMARY KEY (run_id, unit_code)
);

-- Runs and their figures are never changed.
CREATE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'evaluation runs are immutable: % of % refused', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'integrity_constraint_violation';
END $$;
CREATE TRIGGER run_units_immutable BEFORE UPDATE OR DELETE ON run_units
  FOR EACH ROW EXECUTE FUNCTION refuse_change();
-- Of a run, only the published mark moves.
CREATE FUNCTION runs_only_mark_moves() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' OR (to_jsonb(NEW) - ARRAY['published', 'published_at', 'published_by'])
                         IS DISTINCT FROM (to_jsonb(OLD) - ARRAY['published', 'published_at', 'published_by']) THEN
    RAISE EXCEPTION 'evaluation runs are immutable: % of run % refused', TG_OP, OLD.id
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER runs_immutable BEFORE UPDATE OR DELETE ON runs
  FOR EACH ROW EXECUTE FUNCTION runs_only_mark_moves();

-- Timer rows: evaluations due (scheduled after a period's deadline, or
-- repeated after late data or a deduction). A replica leases a row while it
-- runs it; the row goes with the run's commit unless it was touched again
-- meanwhile (generation).
CREATE TABLE pending (
  period_key  text        NOT NULL,
  trigger     smallint    NOT NULL,
  period_type smallint    NOT NULL,
  due_at      timestamptz NOT NULL,
  generation  bigint      NOT NULL DEFAULT 1,
  lease_until timestamptz,
  attempts    integer     NOT NULL DEFAULT 0,
  last_error  text,
  PRIMARY KEY (period_key, trigger)
);
CREATE INDEX pending_due ON pending (due_at);

-- Positions reached on other services' change feeds.
CREATE TABLE cursors (
  name     text   PRIMARY KEY,
  position bigint NOT NULL
);

-- Published runs whose scores are still to be sent to ingest as readings.
CREATE TABLE outbox (
  run_id          bigint      PRIMARY KEY REFERENCES runs (id),
  created_at      timestamptz NOT NULL,
  next_attempt_at timestamptz NOT NULL,
  attempts        integer     NOT NULL DEFAULT 0,
  last_error      text
);
