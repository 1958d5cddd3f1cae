-- Report schedules, report jobs and the stored files.

-- A schedule fires at its next_run_at (a timer row): the replica that locks it
-- (FOR UPDATE SKIP LOCKED) queues one job for the period just ended and moves
-- next_run_at on, in one transaction; (schedule_id, fire_at) is unique on the
-- jobs, so a firing queues one job however many replicas look.
CREATE TABLE schedules (
  id              bigserial   PRIMARY KEY,
  spec            bytea       NOT NULL,  -- auditwatch.v1.ReportSchedule: params, cadence, time of day
  kind            smallint    NOT NULL,
  scope_unit      text        NOT NULL,
  scope_path      text[]      NOT NULL,  -- root first: who may see the schedule's reports
  identity        bytea       NOT NULL,  -- auditwatch.v1.Identity of its creator: its reports are gathered as them
  enabled         boolean     NOT NULL DEFAULT true,
  next_run_at     timestamptz NOT NULL,
  last_run_at     timestamptz,
  idempotency_key text        NOT NULL,
  created_by      text        NOT NULL,
  created_at      timestamptz NOT NULL,
  updated_by      text        NOT NULL,
  updated_at      timestamptz NOT NULL,
  version         bigint      NOT NULL DEFAULT 1,
  reason          text        NOT NULL DEFAULT '',
  UNIQUE (created_by, idempotency_key)
);
CREATE INDEX schedules_due ON schedules (next_run_at) WHERE enabled;

-- A report job: queued, leased by one replica while it runs (lease_until),
-- then READY with its file, FAILED, CANCELLED, or EXPIRED past retention.
-- `version` grows with every change: WatchReport sends each new one.
CREATE TABLE jobs (
  id               bigserial   PRIMARY KEY,
  params           bytea       NOT NULL,  -- auditwatch.v1.ReportParams, normalised
  kind             smallint    NOT NULL,
  format           smallint    NOT NULL,
  scope_unit       text        NOT NULL,
  scope_path       text[]      NOT NULL,
  period_key       text        NOT NULL,
  identity         bytea       NOT NULL,  -- auditwatch.v1.Identity the data is gathered with
  requested_by     text        NOT NULL,
  requested_at     timestamptz NOT NULL,
  idempotency_key  text,
  schedule_id      bigint      REFERENCES schedules (id),
  fire_at          timestamptz,
  state            smallint    NOT NULL,
  progress         smallint    NOT NULL DEFAULT 0,
  stage            text        NOT NULL DEFAULT '',
  error            text        NOT NULL DEFAULT '',
  cancel_requested boolean     NOT NULL DEFAULT false,
  lease_until      timestamptz,
  attempts         integer     NOT NULL DEFAULT 0,
  started_at       timestamptz,
  finished_at      timestamptz,
  as_of            timestamptz,
  expires_at       timestamptz,
  file_name        text        NOT NULL DEFAULT '',
  content_type     text        NOT NULL DEFAULT '',
  size_bytes       bigint      NOT NULL DEFAULT 0,
  sha256           text        NOT NULL DEFAULT '',
  version          bigint      NOT NULL DEFAULT 1,
  CHECK ((schedule_id IS NULL) = (fire_at IS NULL)),
  CHECK ((schedule_id IS NULL) = (idempotency_key IS NOT NULL))
);
CREATE UNIQUE INDEX jobs_idempotency ON jobs (requested_by, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE UNIQUE INDEX jobs_firing ON jobs (schedule_id, fire_at) WHERE schedule_id IS NOT NULL;
CREATE INDEX jobs_waiting ON jobs (requested_at, id) WHERE state IN (1, 2);  -- QUEUED, RUNNING
CREATE INDEX jobs_expiring ON jobs (expires_at) WHERE state = 3;             -- READY
CREATE INDEX jobs_scope ON jobs USING gin (scope_path);

-- The file of a READY job. Stored uncompressed (EXTERNAL) so that a chunk at
-- an offset is read without reading the whole file.
CREATE TABLE files (
  job_id  bigint PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
  content bytea  NOT NULL
);
ALTER TABLE files ALTER COLUMN content SET STORAGE EXTERNAL;
