-- A device's turn is a lease of seconds: it is kept out of the write-ahead log, so taking and
-- giving it back does not wait for a disk flush (two flushes per TTLock gateway command).
-- After a crash of the database server the table comes back empty: every turn is free, and a
-- command sent while another instance's was still running is answered "gateway busy" by the
-- vendor, which the TTLock adapter waits out and tries again. Nothing else is kept here.
-- Kept in lockstep with the other backend's 0017_unlogged_turns.sql.

ALTER TABLE device_turns SET UNLOGGED;
