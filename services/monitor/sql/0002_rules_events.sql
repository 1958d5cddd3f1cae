-- Themes, versioned rules, warning events with their history and change feed,
-- the whitelist, and the evaluator's cursor on the ingest feed.

CREATE TABLE themes (
  code text PRIMARY KEY,
  name text NOT NULL,
  category smallint NOT NULL,
  description text NOT NULL DEFAULT '',
  revision int NOT NULL DEFAULT 1,
  actor text NOT NULL,
  reason text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- The current definition of each rule (an auditwatch.v1.Rule without audit),
-- and every definition it ever had.
CREATE TABLE rules (
  code text PRIMARY KEY,
  theme_code text NOT NULL REFERENCES themes (code),
  kind smallint NOT NULL,
  enabled boolean NOT NULL,
  revision int NOT NULL,
  definition bytea NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE rule_versions (
  code text NOT NULL,
  revision int NOT NULL,
  enabled boolean NOT NULL,
  definition bytea NOT NULL,
  actor text NOT NULL,
  reason text NOT NULL DEFAULT '',
  recorded_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (code, revision)
);
-- Bumped with every rule change so that the evaluator reloads its rules.
CREATE TABLE rules_state (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  version bigint NOT NULL DEFAULT 0,
  -- the rule set the evaluator has judged every known value with
  applied_version bigint NOT NULL DEFAULT 0
);
INSERT INTO rules_state DEFAULT VALUES;

-- Event changes are numbered in commit order, as ingest numbers readings: the
-- sequence is taken under a transaction-level lock held to COMMIT.
CREATE SEQUENCE event_seqs;
CREATE FUNCTION next_event_seq() RETURNS bigint LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
BEGIN
  PERFORM pg_advisory_xact_lock(443438851);
  RETURN nextval('event_seqs');
END $$;

-- At most one unresolved event per (rule, unit, period).
CREATE TABLE events (
  id bigserial PRIMARY KEY,
  rule_code text NOT NULL,
  theme_code text NOT NULL,
  unit_code text NOT NULL,
  period_key text NOT NULL,
  indicator_code text NOT NULL DEFAULT '',
  level int NOT NULL,
  state smallint NOT NULL,               -- auditwatch.v1.EventState
  observed double precision NOT NULL,
  threshold double precision NOT NULL,
  message text NOT NULL,
  opened_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  resolved_at timestamptz,
  seq bigint NOT NULL,
  cause_seq bigint NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX events_one_open ON events (rule_code, unit_code, period_key) WHERE state <> 4;
CREATE INDEX events_seq ON events (seq);
CREATE INDEX events_unit ON events (unit_code, period_key);

CREATE TABLE event_history (
  event_id bigint NOT NULL REFERENCES events (id),
  at timestamptz NOT NULL DEFAULT clock_timestamp(),
  actor text NOT NULL,
  change text NOT NULL,
  level int NOT NULL,
  state smallint NOT NULL,
  value double precision NOT NULL DEFAULT 0,
  comment text NOT NULL DEFAULT ''
);
CREATE INDEX event_history_event ON event_history (event_id, at);

-- 白名单: matching events are recorded as suppressed until frozen_until.
CREATE TABLE whitelist (
  id bigserial PRIMARY KEY,
  rule_code text NOT NULL DEFAULT '',
  theme_code text NOT NULL DEFAULT '',
  unit_code text NOT NULL,
  include_descendants boolean NOT NULL DEFAULT false,
  subject text NOT NULL DEFAULT '',
  reason text NOT NULL,
  frozen_from timestamptz NOT NULL,
  frozen_until timestamptz NOT NULL,
  revoked boolean NOT NULL DEFAULT false,
  created_by text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  revoked_by text NOT NULL DEFAULT '',
  revoked_at timestamptz,
  revoke_reason text NOT NULL DEFAULT '',
  request_id text UNIQUE,
  -- set once the expiry of this entry has been acted on (suppressed events reopened)
  expiry_handled boolean NOT NULL DEFAULT false,
  CHECK ((rule_code = '') <> (theme_code = '')),
  CHECK (frozen_until > frozen_from)
);
CREATE INDEX whitelist_expiry ON whitelist (frozen_until) WHERE NOT expiry_handled;

-- Where the evaluator is in the ingest readings feed; moved in the same
-- transaction as the events it caused.
CREATE TABLE feed_cursors (
  feed text PRIMARY KEY,
  position bigint NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
