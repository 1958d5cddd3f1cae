-- A month of daily kWh as bytes rather than a real[]: four bytes a day,
-- IEEE float32 big-endian (as float4send writes it), NaN where a day has no
-- value. A third smaller on disk than the array, and read several times
-- faster: PostgreSQL sends the bytes as they are instead of printing every
-- value as text for the reader to parse back.
CREATE FUNCTION kwh_bytes(kwh real[]) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
  SELECT string_agg(coalesce(float4send(v), '\x7fc00000'::bytea), ''::bytea ORDER BY i)
  FROM unnest(kwh) WITH ORDINALITY AS t(v, i)
$$;

ALTER TABLE consumption_daily ALTER COLUMN kwh TYPE bytea USING kwh_bytes(kwh);
DROP FUNCTION kwh_bytes(real[]);
DROP FUNCTION merge_kwh(real[], real[]);

-- The new values of a month laid over the old, day by day: a NaN day of the
-- new keeps what was there.
CREATE FUNCTION merge_kwh(old bytea, new bytea) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
  SELECT string_agg(CASE WHEN substring(new FROM d * 4 + 1 FOR 4) = '\x7fc00000'::bytea
                         THEN substring(old FROM d * 4 + 1 FOR 4)
                         ELSE substring(new FROM d * 4 + 1 FOR 4) END, ''::bytea ORDER BY d)
  FROM generate_series(0, length(new) / 4 - 1) AS d
$$;
