-- Customer consumption: the input of the theft-suspicion analysis.

CREATE TABLE customers (
  customer_id  text        PRIMARY KEY,
  station_code text        NOT NULL,
  category     text        NOT NULL DEFAULT '',
  contract_kva double precision NOT NULL DEFAULT 0,
  status       smallint    NOT NULL DEFAULT 1,
  updated_at   timestamptz NOT NULL,
  batch_id     text        NOT NULL
);
CREATE INDEX customers_station ON customers (station_code, customer_id);

-- Daily metered kWh, a month of one customer to a row (kwh[d] is day d, NULL
-- without a value), partitioned by month: a month's partition is made when
-- its first values come (ensure_consumption_month) and old months are
-- dropped whole (drop_consumption_before). Both functions run in this schema
-- whoever calls them (search_path FROM CURRENT).
CREATE TABLE consumption_daily (
  month       date   NOT NULL,  -- its first day
  customer_id text   NOT NULL,
  kwh         real[] NOT NULL,
  PRIMARY KEY (month, customer_id)
) PARTITION BY RANGE (month);

CREATE FUNCTION ensure_consumption_month(m date) RETURNS void LANGUAGE plpgsql
  SET search_path FROM CURRENT AS $$
DECLARE
  part text := format('consumption_daily_%s', to_char(m, 'YYYYMM'));
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('ingest.consumption_partitions'));
  IF to_regclass(part) IS NULL THEN
    EXECUTE format('CREATE TABLE %I PARTITION OF consumption_daily FOR VALUES FROM (%L) TO (%L)',
                   part, date_trunc('month', m)::date, (date_trunc('month', m) + interval '1 month')::date);
  END IF;
END $$;

-- Drops the months before `m`; how many.
CREATE FUNCTION drop_consumption_before(m date) RETURNS integer LANGUAGE plpgsql
  SET search_path FROM CURRENT AS $$
DECLARE
  part record;
  dropped integer := 0;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('ingest.consumption_partitions'));
  FOR part IN
    SELECT c.relname FROM pg_inherits i
    JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
    WHERE p.relname = 'consumption_daily' AND c.relname < format('consumption_daily_%s', to_char(m, 'YYYYMM'))
  LOOP
    EXECUTE format('DROP TABLE %I', part.relname);
    dropped := dropped + 1;
  END LOOP;
  RETURN dropped;
END $$;

-- The new values of a month laid over the old: a NULL keeps what was there.
CREATE FUNCTION merge_kwh(old real[], new real[]) RETURNS real[] LANGUAGE sql IMMUTABLE AS $$
  SELECT array_agg(coalesce(n, o) ORDER BY i)
  FROM unnest(old, new) WITH ORDINALITY AS t(o, n, i)
$$;

CREATE TABLE billing_monthly (
  customer_id text             NOT NULL,
  month       date             NOT NULL,
  billed_kwh  double precision NOT NULL,
  PRIMARY KEY (customer_id, month)
);

CREATE TABLE meter_events (
  customer_id text     NOT NULL,
  day         date     NOT NULL,
  type        smallint NOT NULL,
  count       integer  NOT NULL,
  PRIMARY KEY (customer_id, day, type)
);

-- Batches applied, with their answer: a batch id is applied once.
CREATE TABLE consumption_batches (
  batch_id   text        PRIMARY KEY,
  result     bytea       NOT NULL,  -- auditwatch.v1.BatchResult
  applied_at timestamptz NOT NULL
);
