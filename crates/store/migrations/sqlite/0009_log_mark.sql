-- The time of the newest vendor record read from each lock's log: the next read starts there
-- (a minute earlier, for clocks that disagree; records read twice are recorded once).
-- Kept in lockstep with the other backend's 0009_log_mark.sql.

ALTER TABLE locks ADD COLUMN log_seen_until BIGINT;
