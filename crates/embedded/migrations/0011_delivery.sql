-- The delivery stage (issue 11): each user's channels, the delivery log, and the delivery queue.

CREATE TABLE channels (
    id                   TEXT    NOT NULL PRIMARY KEY,
    user_id              TEXT    NOT NULL,
    name                 TEXT    NOT NULL,
    target               TEXT    NOT NULL,  -- ChannelTarget as JSON (secrets included)
    status               TEXT    NOT NULL,
    last_error           TEXT,
    consecutive_failures INTEGER NOT NULL,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL
) STRICT;

CREATE UNIQUE INDEX channels_by_user ON channels (user_id, id);

-- One row per alert handed to the delivery stage: the user's delivery log.
CREATE TABLE alerts (
    id         TEXT    NOT NULL PRIMARY KEY,
    user_id    TEXT    NOT NULL,
    job_id     TEXT    NOT NULL,
    body       TEXT    NOT NULL,  -- the Alert as JSON
    checked_at INTEGER NOT NULL
) STRICT;

-- Newest first per user; the id breaks ties.
CREATE INDEX alerts_by_user ON alerts (user_id, checked_at, id);

-- One row per (alert, channel).
CREATE TABLE deliveries (
    alert_id         TEXT    NOT NULL,
    channel          TEXT    NOT NULL,
    user_id          TEXT    NOT NULL,
    status           TEXT    NOT NULL,
    attempts         INTEGER NOT NULL,
    last_error       TEXT,
    delivered_at     INTEGER,
    next_attempt_at  INTEGER,
    first_attempt_at INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    PRIMARY KEY (alert_id, channel)
) STRICT;

-- The delivery queue: same shape and semantics as the check queue.
CREATE TABLE delivery_messages (
    id            INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    body          TEXT    NOT NULL,
    visible_at    INTEGER NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    receipt       TEXT    UNIQUE,
    created_at    INTEGER NOT NULL
) STRICT;

CREATE INDEX delivery_messages_visible ON delivery_messages (visible_at, id);

CREATE TABLE delivery_dead_letters (
    id            INTEGER NOT NULL PRIMARY KEY,
    body          TEXT    NOT NULL,
    receive_count INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    dead_at       INTEGER NOT NULL
) STRICT;

-- A job's alert rules, cooldown, snooze and channels, and what the rules remember, as JSON
-- (NULL for jobs created before: the defaults, below_target only).
ALTER TABLE jobs ADD COLUMN alerting TEXT;
