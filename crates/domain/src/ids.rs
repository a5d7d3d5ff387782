//! Identifiers. Random, time-ordered (UUIDv7) and unguessable, serialised as strings.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A string that is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid identifier")]
pub struct InvalidId;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh identifier: UUIDv7, so ids sort by creation time yet cannot be guessed.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// The underlying UUID.
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl From<Uuid> for $name {
            fn from(value: Uuid) -> Self {
                Self(value)
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                // Only the canonical hyphenated form: one spelling per id keeps keys unique.
                if s.len() != 36 {
                    return Err(InvalidId);
                }
                Uuid::parse_str(s).map(Self).map_err(|_| InvalidId)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0.hyphenated())
            }
        }
    };
}

uuid_id!(
    /// Identifies a user account.
    UserId
);
uuid_id!(
    /// Identifies a tracking job.
    JobId
);
uuid_id!(
    /// Identifies one sign-in session. Carried inside the signed session token, so it need not
    /// be secret: a client cannot forge a token naming another session.
    SessionId
);
uuid_id!(
    /// Identifies one alert: one crossing of a job's target. Receivers de-duplicate on it.
    AlertId
);
uuid_id!(
    /// Identifies one of a user's notification channels.
    ChannelId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_strings() {
        let id = JobId::new();
        let parsed: JobId = id.to_string().parse().expect("own output parses");
        assert_eq!(id, parsed);
    }

    #[test]
    fn ids_are_not_sequential_numbers() {
        assert!("12345".parse::<JobId>().is_err());
        assert!("".parse::<JobId>().is_err());
        assert!("{0192e4a0-0000-7000-8000-000000000000}".parse::<JobId>().is_err());
    }

    #[test]
    fn fresh_ids_differ() {
        assert_ne!(UserId::new(), UserId::new());
    }
}
