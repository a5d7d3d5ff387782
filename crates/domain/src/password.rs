//! Passwords as typed in, and their stored hashes. Neither ever prints.

use std::fmt;

/// Why a password is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidPassword {
    /// Fewer than [`Password::MIN_CHARS`] characters.
    #[error("password must be at least 8 characters")]
    TooShort,
    /// More than [`Password::MAX_BYTES`] bytes: hashing an unbounded input is a denial of service.
    #[error("password must be at most 1024 bytes")]
    TooLong,
}

/// A plain-text password on its way to the hasher. `Debug` never shows it.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// Shortest acceptable password, in characters.
    pub const MIN_CHARS: usize = 8;
    /// Longest acceptable password, in bytes.
    pub const MAX_BYTES: usize = 1024;

    /// Checks the length rules for a new password.
    pub fn new(raw: String) -> Result<Self, InvalidPassword> {
        if raw.len() > Self::MAX_BYTES {
            return Err(InvalidPassword::TooLong);
        }
        if raw.chars().count() < Self::MIN_CHARS {
            return Err(InvalidPassword::TooShort);
        }
        Ok(Self(raw))
    }

    /// Wraps a password typed at sign-in, where length rules are not re-checked (an account
    /// created under older rules must still sign in) but the size bound still holds.
    pub fn for_sign_in(raw: String) -> Result<Self, InvalidPassword> {
        if raw.len() > Self::MAX_BYTES {
            return Err(InvalidPassword::TooLong);
        }
        Ok(Self(raw))
    }

    /// The secret itself, for the hasher only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// A password hash in PHC string form (argon2id). `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Wraps a PHC string produced by the hasher or read from storage.
    pub fn new(phc: String) -> Self {
        Self(phc)
    }

    /// The PHC string, for storage and verification.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_rules() {
        assert_eq!(Password::new("short".into()).unwrap_err(), InvalidPassword::TooShort);
        assert!(Password::new("long enough".into()).is_ok());
        // Counted in characters, not bytes.
        assert!(Password::new("ñññññññ".into()).is_err());
        assert_eq!(Password::new("x".repeat(2000)).unwrap_err(), InvalidPassword::TooLong);
    }

    #[test]
    fn debug_hides_secret() {
        let p = Password::new("hunter2hunter2".into()).expect("valid");
        assert!(!format!("{p:?}").contains("hunter2"));
    }
}
