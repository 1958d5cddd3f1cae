-- What a warning event is about within its unit (a theft suspect's customer
-- id), carried by its task to the task's work orders.
ALTER TABLE tasks ADD COLUMN subject text NOT NULL DEFAULT '';
