-- pricetrack single-process schema.
-- Timestamps are INTEGER unix milliseconds (UTC); decimals are TEXT (never REAL); ids are TEXT
-- (hyphenated lower-case UUIDv7, so text order is id order is creation order).

CREATE TABLE users (
    id            TEXT    NOT NULL PRIMARY KEY,
    email         TEXT    NOT NULL COLLATE NOCASE UNIQUE,  -- normalised by the domain already
    password_hash TEXT    NOT NULL,                        -- PHC string
    created_at    INTEGER NOT NULL
) STRICT;

-- No foreign key to users: the job store stands on its own, as it does on DynamoDB; an account
-- deletion calls JobStore::delete_all.
CREATE TABLE jobs (
    id                   TEXT    NOT NULL PRIMARY KEY,
    user_id              TEXT    NOT NULL,
    url                  TEXT    NOT NULL,
    target_price         TEXT    NOT NULL,
    currency             TEXT,
    price_selector       TEXT,
    check_interval_secs  INTEGER NOT NULL,
    status               TEXT    NOT NULL,
    alert_state          TEXT    NOT NULL,
    last_price           TEXT,
    last_price_currency  TEXT,
    last_availability    TEXT,
    last_checked_at      INTEGER,
    last_error           TEXT,
    consecutive_failures INTEGER NOT NULL,
    next_check_at        INTEGER NOT NULL,  -- due time, or lease expiry while a check is queued
    pending_alert        TEXT,              -- the outbox: an Alert as JSON
    version              INTEGER NOT NULL,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL
) STRICT;

-- claim_due reads about as many index entries as there are due jobs (guarantee 6).
CREATE INDEX jobs_due ON jobs (next_check_at);
-- A user's jobs, oldest (smallest id) first: list, delete_all.
CREATE UNIQUE INDEX jobs_by_user ON jobs (user_id, id);

CREATE TABLE observations (
    seq          INTEGER NOT NULL PRIMARY KEY,  -- rowid: breaks ties between equal times
    job_id       TEXT    NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    observed_at  INTEGER NOT NULL,
    price        TEXT    NOT NULL,
    currency     TEXT,
    availability TEXT
) STRICT;

CREATE INDEX observations_by_job ON observations (job_id, observed_at);

-- The check queue. A row is visible when visible_at <= now; a receive rotates its receipt, so a
-- receipt from an earlier receive can neither extend nor acknowledge it.
CREATE TABLE queue_messages (
    id            INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    body          TEXT    NOT NULL,
    visible_at    INTEGER NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    receipt       TEXT    UNIQUE,
    created_at    INTEGER NOT NULL
) STRICT;

CREATE INDEX queue_messages_visible ON queue_messages (visible_at, id);

-- Messages received too many times, kept for an operator to read.
CREATE TABLE queue_dead_letters (
    id            INTEGER NOT NULL PRIMARY KEY,  -- the message's id in queue_messages
    body          TEXT    NOT NULL,
    receive_count INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    dead_at       INTEGER NOT NULL
) STRICT;
