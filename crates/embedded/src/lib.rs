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

mod backup;
mod delivery;
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

pub use backup::{BackupError, backup_database, check_integrity};
pub use delivery::{SqliteChannelStore, SqliteDeliveryLog};
pub use jobs::SqliteJobStore;
pub use notify::{LogNotifier, WebhookError, WebhookNotifier};
use queue::QueueTables;
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
    /// A backup could not be made.
    #[error("could not back up the database")]
    Backup(#[source] BackupError),
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
    /// The same for the delivery queue.
    delivery_signal: Arc<Notify>,
}

impl Database {
    /// How long a statement waits for another connection's write lock before failing.
    pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
    /// Connections in the pool (SQLite has one writer at a time; the rest read in parallel).
    pub const MAX_CONNECTIONS: u32 = 8;

    /// Opens the database at `path`, creating the file and its parent directory if needed, and
    /// applies the migrations.
    pub async fn open(path: &Path) -> Result<Self, EmbeddedError> {
        Self::open_with_page_limit(path, None).await
    }

    /// [`Database::open`], with the file allowed to grow to at most `max_page_count` pages (4 KiB
    /// each) when given: a disk quota, under which a write that needs more space fails with
    /// SQLite's "database or disk is full" as it would on a full disk (the fault tests use it;
    /// nothing is lost or corrupted, the write is refused).
    pub async fn open_with_page_limit(path: &Path, max_page_count: Option<u32>) -> Result<Self, EmbeddedError> {
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
        let options = match max_page_count {
            Some(pages) => options.pragma("max_page_count", pages.to_string()),
            None => options,
        };
        let pool = SqlitePoolOptions::new()
            .max_connections(Self::MAX_CONNECTIONS)
            .connect_with(options)
            .await
            .map_err(EmbeddedError::Open)?;
        sqlx::migrate!().run(&pool).await.map_err(EmbeddedError::Migrate)?;
        Ok(Self { pool, queue_signal: Arc::new(Notify::new()), delivery_signal: Arc::new(Notify::new()) })
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
        SqliteCheckQueue::new(self.pool.clone(), Arc::clone(&self.queue_signal), settings, QueueTables::CHECKS)
    }

    /// The delivery queue (alerts waiting to be delivered): durable, with the check queue's
    /// semantics, in tables of its own.
    pub fn delivery_queue(&self, settings: QueueSettings) -> SqliteCheckQueue {
        SqliteCheckQueue::new(self.pool.clone(), Arc::clone(&self.delivery_signal), settings, QueueTables::DELIVERIES)
    }

    /// Each user's notification channels.
    pub fn channels(&self) -> SqliteChannelStore {
        SqliteChannelStore::new(self.pool.clone())
    }

    /// The delivery log.
    pub fn delivery_log(&self) -> SqliteDeliveryLog {
        SqliteDeliveryLog::new(self.pool.clone())
    }

    /// Closes every connection, waiting for those in use to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
