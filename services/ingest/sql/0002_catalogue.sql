-- Org unit tree and indicator catalogue, both versioned.

-- Bumped by every change of units or indicators, so that every replica knows
-- when its in-memory catalogue is stale.
CREATE TABLE catalogue_state (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  version bigint NOT NULL DEFAULT 0
);
INSERT INTO catalogue_state DEFAULT VALUES;

-- A unit's identity; its name, parent and state live in unit_versions.
CREATE TABLE units (
  id serial PRIMARY KEY,
  code text NOT NULL UNIQUE,
  type smallint NOT NULL,               -- auditwatch.v1.UnitType
  created_at timestamptz NOT NULL DEFAULT now()
);

-- One row per change (slowly changing dimension): a version is in force on
-- [valid_from, valid_to); valid_to is NULL while current. A change effective
-- on the same day as the version it replaces leaves that version with an
-- empty range: kept as history, never matched by an "as of" query.
CREATE TABLE unit_versions (
  unit_id int NOT NULL REFERENCES units (id),
  revision int NOT NULL,                -- 1, 2, … in recording order
  valid_from date NOT NULL,
  valid_to date,
  name text NOT NULL,
  parent_id int REFERENCES units (id),
  active boolean NOT NULL,
  change text NOT NULL,                 -- created | renamed | moved | deactivated
  actor text NOT NULL,
  reason text NOT NULL DEFAULT '',
  recorded_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (unit_id, revision),
  CHECK (valid_to IS NULL OR valid_to >= valid_from)
);
CREATE INDEX unit_versions_parent ON unit_versions (parent_id) WHERE valid_to IS NULL OR valid_to > valid_from;

CREATE TABLE indicators (
  id serial PRIMARY KEY,
  code text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- The definition in force in year Y is the latest revision of the greatest
-- effective_year <= Y.
CREATE TABLE indicator_versions (
  indicator_id int NOT NULL REFERENCES indicators (id),
  effective_year int NOT NULL,
  revision int NOT NULL,
  name_zh text NOT NULL,
  name_en text NOT NULL,
  category smallint NOT NULL,
  unit_of_measure text NOT NULL,
  kind smallint NOT NULL,
  direction smallint NOT NULL,
  allowed_period_types smallint[] NOT NULL,
  min_value double precision NOT NULL,
  max_value double precision NOT NULL,
  applicable_unit_types smallint[] NOT NULL,
  rollup smallint NOT NULL,
  deadline_days int NOT NULL,
  enabled boolean NOT NULL,
  description text NOT NULL DEFAULT '',
  actor text NOT NULL,
  reason text NOT NULL DEFAULT '',
  recorded_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (indicator_id, effective_year, revision)
);
