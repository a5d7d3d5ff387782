-- Sign-in sessions, so that sign-out and a password change end a token before it expires.
-- Deleting a user deletes their sessions (foreign keys are on for every connection).
CREATE TABLE sessions (
    id         TEXT    NOT NULL PRIMARY KEY,
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;

CREATE INDEX sessions_by_user ON sessions (user_id, created_at);
