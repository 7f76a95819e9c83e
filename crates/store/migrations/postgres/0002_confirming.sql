-- A code written to the lock whose arrival the vendor confirms later (Tuya's password phase).
ALTER TABLE access_codes ADD COLUMN confirming BIGINT NOT NULL DEFAULT 0;
