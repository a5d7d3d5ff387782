//! The domain's `UserStore` and `SessionStore` contract suites, run unchanged against [`PgUserStore`]. Every case
//! gets a fresh database of its own, dropped when the case ends. PostgreSQL must be running: a
//! case fails (never skips) when it is not.

use std::sync::Arc;

use pricetrack_domain::testing::{SessionStoreFixture, UserStoreFixture};
use pricetrack_postgres::PgUserStore;
use pricetrack_postgres::testing::TestDatabase;

/// A store over a fresh database, which lives as long as the case.
struct Users {
    store: Arc<PgUserStore>,
    _db: TestDatabase,
}

impl UserStoreFixture for Users {
    type Store = PgUserStore;
    fn store(&self) -> Arc<PgUserStore> {
        Arc::clone(&self.store)
    }
}

impl SessionStoreFixture for Users {
    type Store = PgUserStore;
    fn store(&self) -> Arc<PgUserStore> {
        Arc::clone(&self.store)
    }
}

async fn fresh_users() -> Users {
    let db = TestDatabase::create().await.unwrap_or_else(|e| panic!("{e}"));
    Users { store: Arc::new(PgUserStore::new(db.pool().clone())), _db: db }
}

mod user_store {
    use super::*;
    pricetrack_domain::user_store_contract_tests!(fresh_users());
}

mod session_store {
    use super::*;
    pricetrack_domain::session_store_contract_tests!(fresh_users());
}
