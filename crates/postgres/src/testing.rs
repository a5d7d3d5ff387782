//! A fresh database per test (feature `testing`).
//!
//! [`TestDatabase::create`] connects to the server named by [`SERVER_URL_VAR`] (default
//! [`DEFAULT_SERVER_URL`]), creates a database of its own with a unique name, migrates it, and
//! drops it again when the [`TestDatabase`] is dropped. Tests therefore never see each other's
//! rows and can run in parallel.
//!
//! ```no_run
//! # async fn demo() -> Result<(), String> {
//! use pricetrack_postgres::PgUserStore;
//! use pricetrack_postgres::testing::TestDatabase;
//!
//! let db = TestDatabase::create().await?;
//! let users = PgUserStore::new(db.pool().clone());
//! # let _ = users;
//! # Ok(())
//! # }
//! ```
//!
//! When the server cannot be reached the error says so (and how to start it): a test that needs
//! PostgreSQL fails rather than being skipped.

use std::error::Error as _;
use std::fmt;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgPool};
use uuid::Uuid;

use crate::connect::{open_connection, parse_url};
use crate::{PgError, connect, migrate};

/// The environment variable that holds the URL of the server (and of a database on it that
/// may create databases, such as `postgres`) on which test databases are made.
pub const SERVER_URL_VAR: &str = "PRICETRACK_TEST_POSTGRES_URL";

/// The server used when [`SERVER_URL_VAR`] is not set: the local one, trust authentication.
pub const DEFAULT_SERVER_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Prefix of every test database's name; a UUID (simple form) follows.
pub const DATABASE_PREFIX: &str = "pricetrack_test_";

/// How the local server is started when it is down.
const START_HINT: &str = "start it with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`";

/// Connections in a test database's pool: enough for the contract suite's eight racing sign-ups.
const MAX_CONNECTIONS: u32 = 8;

/// How long dropping a test database may take before it is left behind.
const DROP_TIMEOUT: Duration = Duration::from_secs(30);

/// A freshly created, migrated database that no one else uses, dropped (best effort) on drop.
///
/// The drop runs `DROP DATABASE ... WITH (FORCE)` (PostgreSQL 13 or later) on a connection of its
/// own, from a thread with its own runtime, so it works from any context, ends connections still
/// open on the database (clones of [`TestDatabase::pool`] included) and waits until it is done. If
/// it fails, a warning naming the database goes to stderr.
pub struct TestDatabase {
    pool: PgPool,
    url: SecretString,
    // Declared last so that it drops last: it removes the database.
    guard: DropGuard,
}

impl TestDatabase {
    /// Creates a test database on the server at [`SERVER_URL_VAR`], or [`DEFAULT_SERVER_URL`]
    /// when that is not set.
    ///
    /// The error is a sentence for a test failure message; it never shows a password.
    pub async fn create() -> Result<Self, String> {
        let server = std::env::var(SERVER_URL_VAR).unwrap_or_else(|_| DEFAULT_SERVER_URL.to_owned());
        Self::create_on(&SecretString::from(server)).await
    }

    /// Creates a test database on the server at `server_url`, whose user may create databases.
    /// The database part of the URL names where to connect to create it (`postgres`, say).
    ///
    /// The error is a sentence for a test failure message; it never shows a password.
    pub async fn create_on(server_url: &SecretString) -> Result<Self, String> {
        let admin = parse_url(server_url).map_err(explain)?;
        let name = format!("{DATABASE_PREFIX}{}", Uuid::new_v4().simple());
        let url = database_url(server_url, &name)?;

        let mut connection = open_connection(&admin).await.map_err(explain)?;
        let created = sqlx::query(&format!(r#"CREATE DATABASE "{name}""#)).execute(&mut connection).await;
        // Best effort: the statement has succeeded or failed either way.
        let _ = connection.close().await;
        created.map_err(|e| format!("could not create the test database {name}: {}", chain(&e)))?;
        // From here on, the guard removes the database whatever else fails.
        let guard = DropGuard { admin, name };

        let pool = connect(&url, MAX_CONNECTIONS).await.map_err(explain)?;
        if let Err(e) = migrate(&pool).await {
            pool.close().await;
            return Err(format!("could not migrate the test database {}: {}", guard.name, chain(&e)));
        }
        Ok(Self { pool, url, guard })
    }

    /// The pool of connections to this database.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The URL of this database: the server's URL with its database part replaced. A secret,
    /// since the server's URL may hold a password.
    pub fn url(&self) -> &SecretString {
        &self.url
    }

    /// The database's name: [`DATABASE_PREFIX`] and a UUID.
    pub fn name(&self) -> &str {
        &self.guard.name
    }
}

impl fmt::Debug for TestDatabase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestDatabase").field("name", &self.guard.name).finish_non_exhaustive()
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Marks the pool closed at once (no new connections); the guard then ends the open ones.
        drop(self.pool.close());
    }
}

/// Drops the database `name` when dropped.
struct DropGuard {
    admin: PgConnectOptions,
    name: String,
}

impl Drop for DropGuard {
    #[expect(clippy::print_stderr, reason = "a test helper: the warning belongs in the test's output")]
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let name = self.name.clone();
        let outcome = std::thread::Builder::new()
            .name("drop-test-database".to_owned())
            .spawn(move || drop_database(&admin, &name))
            .map_err(|e| format!("could not start a thread: {e}"))
            .and_then(|thread| thread.join().unwrap_or_else(|_| Err("the dropping thread panicked".to_owned())));
        if let Err(e) = outcome {
            eprintln!("warning: test database {} was left behind: {e}", self.name);
        }
    }
}

/// Runs `DROP DATABASE ... WITH (FORCE)` on a runtime of its own.
fn drop_database(admin: &PgConnectOptions, name: &str) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("could not start a runtime: {e}"))?;
    runtime.block_on(async {
        let mut connection = open_connection(admin).await.map_err(|e| chain(&e))?;
        let statement = format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#);
        let dropped = tokio::time::timeout(DROP_TIMEOUT, sqlx::query(&statement).execute(&mut connection)).await;
        let _ = connection.close().await;
        match dropped {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(chain(&e)),
            Err(_) => Err(format!("DROP DATABASE took more than {}s", DROP_TIMEOUT.as_secs())),
        }
    })
}

/// The server's URL with its database part replaced by `name`.
fn database_url(server_url: &SecretString, name: &str) -> Result<SecretString, String> {
    let mut url = url::Url::parse(server_url.expose_secret())
        .map_err(|e| format!("{SERVER_URL_VAR} is not a valid URL (not shown: it may hold a password): {e}"))?;
    url.set_path(&format!("/{name}"));
    Ok(SecretString::from(String::from(url)))
}

/// A test failure message for a connection error, with the way out when the server is down.
fn explain(error: PgError) -> String {
    match &error {
        PgError::Unreachable { .. } | PgError::TimedOut { .. } => {
            let cause = error.source().map(chain).unwrap_or_else(|| "no answer".to_owned());
            format!("{error}: {START_HINT} (or set {SERVER_URL_VAR} to a running server's URL); cause: {cause}")
        }
        _ => chain(&error),
    }
}

/// An error and its sources, one after another.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
