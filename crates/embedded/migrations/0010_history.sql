-- Price history, editing and pausing, idempotent creation (issue 10).

-- A paused job has no due entry: claim_due only walks the jobs that are not paused.
ALTER TABLE jobs ADD COLUMN paused INTEGER NOT NULL DEFAULT 0;
DROP INDEX jobs_due;
CREATE INDEX jobs_due ON jobs (next_check_at) WHERE paused = 0;

-- Run-length history: one row per run of checks with the same price, currency and
-- availability (price NULL: out of stock, a gap). A year of unchanged prices is one row.
CREATE TABLE price_points (
    seq           INTEGER NOT NULL PRIMARY KEY,  -- rowid: breaks ties between equal times
    job_id        TEXT    NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    first_seen_at INTEGER NOT NULL,
    last_seen_at  INTEGER NOT NULL,
    price         TEXT,
    currency      TEXT,
    availability  TEXT,
    checks        INTEGER NOT NULL
) STRICT;

CREATE INDEX price_points_by_job ON price_points (job_id, first_seen_at);

-- Observations kept so far become one point each.
INSERT INTO price_points (job_id, first_seen_at, last_seen_at, price, currency, availability, checks)
    SELECT job_id, observed_at, observed_at, price, currency, availability, 1 FROM observations ORDER BY seq;
DROP TABLE observations;

-- Idempotency-Key of POST /jobs: the first response, replayed for 24 hours.
CREATE TABLE idempotency_keys (
    user_id    TEXT    NOT NULL,
    key        TEXT    NOT NULL,
    job_id     TEXT    NOT NULL,
    response   TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, key)
) STRICT;
