-- Vendor budgets shared by every instance: the requests counted in each budget's window
-- (encoded by the service, changed only by a conditional update on `version`), and the turn on
-- a device that takes one command at a time (a TTLock gateway).
-- Kept in lockstep with the other backend's 0011_budgets.sql.

CREATE TABLE rate_budgets (
    key TEXT PRIMARY KEY,
    window_state TEXT NOT NULL,
    version BIGINT NOT NULL
);

CREATE TABLE device_turns (
    key TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    held_until BIGINT NOT NULL
);
