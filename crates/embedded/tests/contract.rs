//! The domain's contract suites, run unchanged against the SQLite adapters. Every case gets a
//! fresh database file in a temporary directory of its own.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pricetrack_domain::testing::{CheckQueueFixture, JobStoreFixture, SessionStoreFixture, UserStoreFixture};
use pricetrack_embedded::{Database, QueueSettings, SqliteCheckQueue, SqliteJobStore, SqliteUserStore};
use tempfile::TempDir;

/// A database in a temporary directory, removed when the case ends.
struct Fresh {
    db: Database,
    _dir: TempDir,
}

async fn fresh() -> Fresh {
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = Database::open(&dir.path().join("pricetrack.db")).await.expect("open a fresh database");
    Fresh { db, _dir: dir }
}

struct Jobs {
    store: Arc<SqliteJobStore>,
    _fresh: Fresh,
}

impl JobStoreFixture for Jobs {
    type Store = SqliteJobStore;
    fn store(&self) -> Arc<SqliteJobStore> {
        Arc::clone(&self.store)
    }
}

async fn fresh_jobs() -> Jobs {
    let fresh = fresh().await;
    Jobs { store: Arc::new(fresh.db.jobs()), _fresh: fresh }
}

struct Users {
    store: Arc<SqliteUserStore>,
    _fresh: Fresh,
}

impl UserStoreFixture for Users {
    type Store = SqliteUserStore;
    fn store(&self) -> Arc<SqliteUserStore> {
        Arc::clone(&self.store)
    }
}

impl SessionStoreFixture for Users {
    type Store = SqliteUserStore;
    fn store(&self) -> Arc<SqliteUserStore> {
        Arc::clone(&self.store)
    }
}

async fn fresh_users() -> Users {
    let fresh = fresh().await;
    Users { store: Arc::new(fresh.db.users()), _fresh: fresh }
}

const SETTINGS: QueueSettings = QueueSettings { visibility_timeout: Duration::from_secs(2), max_receive_count: 3 };

struct Queue {
    queue: Arc<SqliteCheckQueue>,
    _fresh: Fresh,
}

#[async_trait]
impl CheckQueueFixture for Queue {
    type Queue = SqliteCheckQueue;
    fn queue(&self) -> Arc<SqliteCheckQueue> {
        Arc::clone(&self.queue)
    }
    fn visibility_timeout(&self) -> Duration {
        SETTINGS.visibility_timeout
    }
    fn max_receive_count(&self) -> u32 {
        SETTINGS.max_receive_count
    }
    async fn dead_letter_bodies(&self) -> Vec<String> {
        self.queue.dead_letters().await.expect("read the dead-letter table")
    }
}

async fn fresh_queue() -> Queue {
    let fresh = fresh().await;
    Queue { queue: Arc::new(fresh.db.queue(SETTINGS)), _fresh: fresh }
}

mod job_store {
    use super::*;
    pricetrack_domain::job_store_contract_tests!(fresh_jobs());
}

mod user_store {
    use super::*;
    pricetrack_domain::user_store_contract_tests!(fresh_users());
}

mod session_store {
    use super::*;
    pricetrack_domain::session_store_contract_tests!(fresh_users());
}

mod check_queue {
    use super::*;
    pricetrack_domain::check_queue_contract_tests!(fresh_queue());
}
