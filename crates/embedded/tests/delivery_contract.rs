//! The SQLite channel store and delivery log against the domain's contract suites.

use std::sync::Arc;

use pricetrack_domain::delivery::{ChannelStore, DeliveryLog};
use pricetrack_embedded::Database;
use tempfile::TempDir;

async fn open() -> (Database, TempDir) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = Database::open(&dir.path().join("pricetrack.db")).await.expect("open a fresh database");
    (db, dir)
}

async fn fresh_channels() -> (Arc<dyn ChannelStore>, TempDir) {
    let (db, dir) = open().await;
    (Arc::new(db.channels()), dir)
}

async fn fresh_log() -> (Arc<dyn DeliveryLog>, TempDir) {
    let (db, dir) = open().await;
    (Arc::new(db.delivery_log()), dir)
}

mod channel_store {
    use super::*;
    pricetrack_domain::channel_store_contract_tests!(fresh_channels());
}

mod delivery_log {
    use super::*;
    pricetrack_domain::delivery_log_contract_tests!(fresh_log());
}
