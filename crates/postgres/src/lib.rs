//! The PostgreSQL adapters of pricetrack: for now the user store, [`PgUserStore`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), pricetrack_postgres::PgError> {
//! use pricetrack_postgres::{PgUserStore, connect, migrate};
//! use secrecy::SecretString;
//!
//! let url = SecretString::from("postgres://pricetrack:secret@127.0.0.1:5432/pricetrack");
//! let pool = connect(&url, 8).await?;
//! migrate(&pool).await?;
//! let users = PgUserStore::new(pool); // impl UserStore + SessionStore
//! # let _ = users;
//! # Ok(())
//! # }
//! ```
//!
//! Queries are built at run time (`sqlx::query`, not the `query!` macros), so building the crate
//! needs no database. The schema lives in `migrations/` and is embedded in the binary.
//!
//! With the `testing` feature, [`testing::TestDatabase`] gives each test a fresh, migrated
//! database of its own. [`PgUserStore`] passes the domain's `UserStore` and `SessionStore` contract suites.

mod connect;
mod error;
mod users;

#[cfg(feature = "testing")]
pub mod testing;

pub use connect::{CONNECT_TIMEOUT, connect, connect_with_waits, migrate};
pub use error::{CorruptRow, PgError};
pub use users::PgUserStore;

/// Re-exported so that callers can name the pool without depending on `sqlx` themselves.
pub use sqlx::PgPool;
