-- One instance renews a connection's token at a time: the renewal is claimed with a lease.
-- Kept in lockstep with the other backend's 0010_refresh_lease.sql.

ALTER TABLE connections ADD COLUMN refresh_owner TEXT;
ALTER TABLE connections ADD COLUMN refresh_until BIGINT;
