//! A user account.

use crate::{Email, SessionId, Timestamp, UserId};

/// A registered user. The password hash is kept apart (see [`crate::ports::UserCredentials`]) so
/// that a `User` can travel anywhere without carrying a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Stable identifier.
    pub id: UserId,
    /// Normalised address, unique across users.
    pub email: Email,
    /// When the account was created.
    pub created_at: Timestamp,
}

/// A sign-in session: what the server keeps so that a token can be ended before it expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSession {
    /// Named by the token.
    pub id: SessionId,
    /// Whose session it is.
    pub user_id: UserId,
    /// When the user signed in.
    pub created_at: Timestamp,
    /// When it ends by itself (the token's `exp`).
    pub expires_at: Timestamp,
}

impl UserSession {
    /// Whether the session still lets its token in at `now`.
    pub fn is_live_at(&self, now: Timestamp) -> bool {
        now < self.expires_at
    }
}
