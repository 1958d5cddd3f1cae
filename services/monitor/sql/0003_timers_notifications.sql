-- Timer rows for missing-data and consistency rules, and the notification
-- outbox with per-unit contacts.

-- One row per (rule, period) to check; claimed with FOR UPDATE SKIP LOCKED.
CREATE TABLE timers (
  rule_code text NOT NULL,
  period_key text NOT NULL,
  due_at timestamptz NOT NULL,
  runs int NOT NULL DEFAULT 0,
  last_error text NOT NULL DEFAULT '',
  PRIMARY KEY (rule_code, period_key)
);
CREATE INDEX timers_due ON timers (due_at);

CREATE TABLE contacts (
  unit_code text NOT NULL,
  role text NOT NULL,
  name text NOT NULL,
  phone text NOT NULL DEFAULT '',
  email text NOT NULL DEFAULT '',
  levels int[] NOT NULL DEFAULT '{}',  -- empty = every level
  active boolean NOT NULL DEFAULT true,
  updated_by text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (unit_code, role, name)
);

-- The outbox: one message per (contact, unit) groups the events raised close
-- together; delivered by any replica with retries and a stable idempotency key.
CREATE TABLE notifications (
  id bigserial PRIMARY KEY,
  channel text NOT NULL,
  recipient text NOT NULL,
  unit_code text NOT NULL,
  event_ids bigint[] NOT NULL,
  body text NOT NULL DEFAULT '',
  state smallint NOT NULL,                 -- auditwatch.v1.NotificationState
  attempts int NOT NULL DEFAULT 0,
  last_error text NOT NULL DEFAULT '',
  idempotency_key text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now(),
  not_before timestamptz NOT NULL,          -- grouping window end, then retry time
  sent_at timestamptz
);
CREATE INDEX notifications_due ON notifications (not_before) WHERE state IN (1, 3);
CREATE INDEX notifications_grouping ON notifications (recipient, unit_code) WHERE state = 1;

-- When each event was last notified (for repeats of events still open).
ALTER TABLE events ADD COLUMN notified_at timestamptz;

-- Events to notify about, written in the same transaction that raised them
-- (opened, escalated, reopened) and drained into notifications by any replica.
CREATE TABLE notify_queue (
  event_id bigint PRIMARY KEY,
  queued_at timestamptz NOT NULL DEFAULT now()
);
