-- What a request with an Idempotency-Key asked for (a hash of its route, lock and body), so
-- that the key reused for another request is refused rather than answered with the first.
ALTER TABLE access_codes ADD COLUMN idempotency_fingerprint TEXT;
