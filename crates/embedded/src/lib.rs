//! The single-process adapters of pricetrack: one SQLite file holds users, sessions, jobs, price
//! observations and the check queue; alerts go to a webhook, or to the log when none is set.
//!
//! ```no_run
//! # async fn demo() -> Result<(), pricetrack_embedded::EmbeddedError> {
//! use pricetrack_embedded::{Database, QueueSettings};
//!
//! let db = Database::open(std::path::Path::new("data/pricetrack.db")).await?;
//! let jobs = db.jobs();       // impl JobStore
//! let users = db.users();     // impl UserStore + SessionStore
//! let queue = db.queue(QueueSettings::default()); // impl CheckQueue
//! # let _ = (jobs, users, queue);
//! # Ok(())
//! # }
//! ```
//!
//! Every adapter passes the contract suites of `pricetrack_domain::testing`.

mod jobs;
mod notify;
mod queue;
mod sql;
mod users;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use tokio::sync::Notify;

pub use jobs::SqliteJobStore;
pub use notify::{LogNotifier, WebhookError, WebhookNotifier};
pub use queue::{QueueSettings, SqliteCheckQueue};
pub use sql::CorruptRow;
pub use users::SqliteUserStore;

/// Why the database (or a notifier) could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    /// The directory that holds the database file could not be created.
    #[error("could not create the database directory")]
    CreateDir(#[source] std::io::Error),
    /// The database file could not be opened or created.
    #[error("could not open the database")]
    Open(#[source] sqlx::Error),
    /// The schema could not be brought up to date.
    #[error("could not migrate the database")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    /// The webhook's HTTP client could not be built.
    #[error("could not build the webhook HTTP client")]
    HttpClient(#[source] reqwest::Error),
}

/// One SQLite database file: users, jobs, observations and the check queue.
///
/// Cheap to clone; every store made from it shares one connection pool. The file is in WAL mode
/// (readers never wait for the writer), waits up to [`Database::BUSY_TIMEOUT`] for the write
/// lock, and enforces foreign keys.
#[derive(Debug, Clone)]
pub struct Database {
    pool: SqlitePool,
    /// Woken by every send, so an in-process receiver gets a message at once.
    queue_signal: Arc<Notify>,
}

impl Database {
    /// How long a statement waits for another connection's write lock before failing.
    pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
    /// Connections in the pool (SQLite has one writer at a time; the rest read in parallel).
    pub const MAX_CONNECTIONS: u32 = 8;

    /// Opens the database at `path`, creating the file and its parent directory if needed, and
    /// applies the migrations.
    pub async fn open(path: &Path) -> Result<Self, EmbeddedError> {
        if let Some(parent) = path.parent()
            && !parent.as_os_str().is_empty()
        {
            tokio::fs::create_dir_all(parent).await.map_err(EmbeddedError::CreateDir)?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Self::BUSY_TIMEOUT)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(Self::MAX_CONNECTIONS)
            .connect_with(options)
            .await
            .map_err(EmbeddedError::Open)?;
        sqlx::migrate!().run(&pool).await.map_err(EmbeddedError::Migrate)?;
        Ok(Self { pool, queue_signal: Arc::new(Notify::new()) })
    }

    /// The job store.
    pub fn jobs(&self) -> SqliteJobStore {
        SqliteJobStore::new(self.pool.clone())
    }

    /// The user store.
    pub fn users(&self) -> SqliteUserStore {
        SqliteUserStore::new(self.pool.clone())
    }

    /// The check queue: durable (messages survive a restart), with these settings.
    pub fn queue(&self, settings: QueueSettings) -> SqliteCheckQueue {
        SqliteCheckQueue::new(self.pool.clone(), Arc::clone(&self.queue_signal), settings)
    }

    /// Closes every connection, waiting for those in use to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
