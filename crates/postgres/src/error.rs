//! Errors of this crate. None of them ever shows the database URL: it may hold a password.

use std::time::Duration;

/// Why the database could not be reached, opened or migrated.
///
/// Neither `Display` nor `Debug` (of the error or of its sources) shows the password: the URL is
/// never part of the message, only the server's address (`host:port` or socket path).
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// The URL does not parse as a PostgreSQL connection URL. The URL itself is not shown, and
    /// the password is blanked out of the reason should a parser echo it.
    #[error("the PostgreSQL URL is not valid: {reason}")]
    InvalidUrl {
        /// What is wrong with it.
        reason: String,
    },
    /// Nothing answered at the address: refused, unknown host, network down.
    #[error("PostgreSQL is not reachable at {address}")]
    Unreachable {
        /// `host:port`, or the Unix socket path.
        address: String,
        /// The I/O failure.
        #[source]
        source: sqlx::Error,
    },
    /// The server did not complete the connection in time.
    #[error("PostgreSQL at {address} did not accept a connection within {}s", after.as_secs())]
    TimedOut {
        /// `host:port`, or the Unix socket path.
        address: String,
        /// How long we waited.
        after: Duration,
    },
    /// The server answered but refused the connection: bad credentials, unknown database, TLS.
    #[error("PostgreSQL at {address} refused the connection")]
    Rejected {
        /// `host:port`, or the Unix socket path.
        address: String,
        /// The server's (or the protocol's) reason; never holds the password.
        #[source]
        source: sqlx::Error,
    },
    /// The schema could not be brought up to date.
    #[error("could not migrate the PostgreSQL database")]
    Migrate(#[source] sqlx::migrate::MigrateError),
}

/// A stored value that does not parse back into its domain type. Names the column, never the
/// value (which may be personal data).
#[derive(Debug, thiserror::Error)]
#[error("stored value of column `{column}` is not valid")]
pub struct CorruptRow {
    /// The column.
    pub column: &'static str,
}
