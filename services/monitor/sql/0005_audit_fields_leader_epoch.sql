-- Audit fields on every write (who created a theme or a contact, and when),
-- and the evaluator's leadership epoch.

ALTER TABLE themes ADD COLUMN created_by text;
UPDATE themes SET created_by = actor;
ALTER TABLE themes ALTER COLUMN created_by SET NOT NULL;

ALTER TABLE contacts ADD COLUMN created_by text, ADD COLUMN created_at timestamptz NOT NULL DEFAULT now();
UPDATE contacts SET created_by = updated_by;
ALTER TABLE contacts ALTER COLUMN created_by SET NOT NULL;

-- Bumped by each evaluator that takes the leader lock; every commit of the
-- evaluator checks that it is still its own, so that a leader that lost its
-- lock (a database restart ends its session) can change nothing once another
-- has taken over.
CREATE TABLE evaluator_leader (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  epoch bigint NOT NULL DEFAULT 0,
  holder text NOT NULL DEFAULT '',
  since timestamptz
);
INSERT INTO evaluator_leader DEFAULT VALUES;
