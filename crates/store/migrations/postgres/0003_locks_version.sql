-- Moves with every committed change to an organisation's locks, so that an instance's in-memory
-- lock list can tell cheaply whether it must be reloaded.
ALTER TABLE organisations ADD COLUMN locks_version BIGINT NOT NULL DEFAULT 0;
