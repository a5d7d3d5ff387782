-- Sign-in sessions, so that sign-out and a password change end a token before it expires.
-- Deleting a user deletes their sessions.
CREATE TABLE sessions (
    id         uuid        NOT NULL PRIMARY KEY,
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);

CREATE INDEX sessions_by_user ON sessions (user_id, created_at);
