-- Readings: an append-only log of every reading version, grouped in batches.
--
-- Commit order. A batch's rows are written under a batch id taken when the
-- batch starts; its commit_seq is taken last, under a transaction-level advisory
-- lock held through COMMIT, so commit_seq order is commit order. The change feed
-- walks batches by commit_seq, so it never skips a committed row even when
-- transactions that started in one order commit in the other. A reading's feed
-- sequence is commit_seq * 2^20 + its index in the batch.
--
-- Blocks. The rows of a batch are stored one block per (unit, period): arrays of
-- indicator, value, row index, author and reason. A bulk batch of 500 readings
-- thus costs a few index entries instead of 500, which is what keeps ingest
-- close to the raw COPY rate; reading_versions unnests the blocks back into
-- one row per reading version.
CREATE SEQUENCE batch_ids;
CREATE SEQUENCE commit_seqs;

CREATE TABLE batches (
  id bigint PRIMARY KEY,
  source text NOT NULL,
  client_batch_id text NOT NULL,
  commit_seq bigint NOT NULL UNIQUE,
  accepted int NOT NULL,
  rejected int NOT NULL,
  last_index int NOT NULL,              -- index of the last accepted row (-1 when none)
  result bytea NOT NULL,                -- the auditwatch.v1.BatchResult sent back, without last_seq
  committed_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (source, client_batch_id)
);

CREATE TABLE reading_blocks (
  batch_id bigint NOT NULL,
  unit_id int NOT NULL,
  period_type smallint NOT NULL,        -- auditwatch.v1.PeriodType
  period_start date NOT NULL,
  idx int[] NOT NULL,                   -- row index in the batch
  indicator_id int[] NOT NULL,
  value double precision[] NOT NULL,
  entered_by text[] NOT NULL,
  reason text[] NOT NULL
);
CREATE INDEX reading_blocks_key ON reading_blocks (unit_id, period_type, period_start);
CREATE INDEX reading_blocks_batch ON reading_blocks (batch_id);

-- One row per reading version, with its batch.
CREATE VIEW reading_versions AS
SELECT b.batch_id, e.idx, b.unit_id, e.indicator_id, b.period_type, b.period_start,
       e.value, e.entered_by, e.reason, bt.commit_seq, bt.source, bt.committed_at
FROM reading_blocks b
JOIN batches bt ON bt.id = b.batch_id
CROSS JOIN LATERAL unnest(b.idx, b.indicator_id, b.value, b.entered_by, b.reason)
  AS e (idx, indicator_id, value, entered_by, reason);

-- Takes the next commit sequence under the commit lock, which is held until the
-- transaction ends: callers write their rows first and call this last.
CREATE FUNCTION next_commit_seq() RETURNS bigint LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
BEGIN
  PERFORM pg_advisory_xact_lock(443438850);
  RETURN nextval('commit_seqs');
END $$;
