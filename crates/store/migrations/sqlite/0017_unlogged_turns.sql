-- PostgreSQL keeps a device's turns out of its write-ahead log from here on (see the other
-- backend's 0017_unlogged_turns.sql). SQLite has no such tables and one writer at a time, so
-- nothing changes here; the migration exists to keep both backends' numbering in lockstep.

SELECT 1;
