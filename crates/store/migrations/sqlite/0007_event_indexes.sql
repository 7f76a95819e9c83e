-- Every event query names the organisation: the indexes lead with it, so that a filtered page
-- (a lock's, a code's, a connection's, a type's events, newest first) is one index range.
-- Kept in lockstep with the other backend's 0007_event_indexes.sql.

DROP INDEX events_lock;
DROP INDEX events_code;
CREATE INDEX events_org_lock ON events (org_id, lock_id, id);
CREATE INDEX events_org_code ON events (org_id, access_code_id, id);
CREATE INDEX events_org_connection ON events (org_id, connection_id, id);
CREATE INDEX events_org_type ON events (org_id, type, id);
