//! A user account.

use crate::{Email, Timestamp, UserId};

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
