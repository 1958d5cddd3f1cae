-- Repeat notifications look for open events notified a while ago: an index of
-- just those, so that the scan does not grow with the whole event history.
CREATE INDEX events_notified ON events (notified_at) WHERE state = 1 AND notified_at IS NOT NULL;
