//! Contract suites, one per port. An adapter crate runs them from its tests; see the macros.
//!
//! Each port has a module of public `async fn` cases ([`job_store`], [`user_store`],
//! [`check_queue`]) and a macro that turns every case into its own `#[tokio::test]`, so a
//! failure names the broken case: [`job_store_contract_tests!`](crate::job_store_contract_tests),
//! [`user_store_contract_tests!`](crate::user_store_contract_tests),
//! [`check_queue_contract_tests!`](crate::check_queue_contract_tests). The cases know nothing of
//! any backend: an adapter (SQLite, DynamoDB, SQS, PostgreSQL...) proves itself by running them
//! unchanged.
//!
//! Every case gets a fixture of its own from the expression given to the macro: an expression
//! whose value is a future resolving to the fixture (`fresh_store()` for an
//! `async fn fresh_store() -> MyFixture`). A fixture is a fresh, empty adapter that no other case
//! touches while this one runs, plus whatever must live as long as it (a temporary directory, a
//! throw-away table). Job and user stores can be plain `Arc`s of the adapter; a queue fixture
//! also tells its visibility timeout and maximum receive count and reads its dead-letter queue.
//!
//! The crate that invokes the macros needs `tokio` (with the `macros` and `rt-multi-thread`
//! features) among its dev-dependencies; implementing [`CheckQueueFixture`] takes
//! `#[async_trait::async_trait]`. Invoke each macro in a module of its own, so that test
//! names read `job_store::claim_due_respects_limit`:
//!
//! ```text
//! mod job_store {
//!     use super::*;
//!     pricetrack_domain::job_store_contract_tests!(fresh_job_store());
//! }
//! mod check_queue {
//!     use super::*;
//!     pricetrack_domain::check_queue_contract_tests!(fresh_queue());
//! }
//! ```
//!
//! The queue suite waits for visibility timeouts to run out: give its fixture a short one (about
//! 2 s) and a small maximum receive count (about 3). Every assertion message names the guarantee
//! that broke.

use std::collections::{BTreeSet, HashMap};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rust_decimal::Decimal;

use crate::ports::{CheckQueue, JobStore, SessionStore, UserStore};
use crate::{
    Alert, AlertId, AlertState, Availability, CheckInterval, CheckOutcome, CheckedOffer, Currency, Email, Job, JobId,
    JobKey, JobStatus, Money, NewJob, PasswordHash, ProductUrl, SessionId, TargetPrice, Timestamp, User, UserId,
    UserSession,
};

/// A fresh, empty job store for one contract case, kept alive until the case ends.
pub trait JobStoreFixture: Send + Sync + 'static {
    /// The adapter under test.
    type Store: JobStore + ?Sized;
    /// The adapter, shared with the tasks a case spawns.
    fn store(&self) -> Arc<Self::Store>;
}

impl<S: JobStore + ?Sized> JobStoreFixture for Arc<S> {
    type Store = S;
    fn store(&self) -> Arc<S> {
        Arc::clone(self)
    }
}

/// A fresh, empty user store for one contract case, kept alive until the case ends.
pub trait UserStoreFixture: Send + Sync + 'static {
    /// The adapter under test.
    type Store: UserStore + ?Sized;
    /// The adapter, shared with the tasks a case spawns.
    fn store(&self) -> Arc<Self::Store>;
}

impl<S: UserStore + ?Sized> UserStoreFixture for Arc<S> {
    type Store = S;
    fn store(&self) -> Arc<S> {
        Arc::clone(self)
    }
}

/// A fresh, empty account store (users and their sessions) for one contract case, kept alive
/// until the case ends.
pub trait SessionStoreFixture: Send + Sync + 'static {
    /// The adapter under test: sessions belong to users, so it keeps both.
    type Store: UserStore + SessionStore + ?Sized;
    /// The adapter, shared with the tasks a case spawns.
    fn store(&self) -> Arc<Self::Store>;
}

impl<S: UserStore + SessionStore + ?Sized> SessionStoreFixture for Arc<S> {
    type Store = S;
    fn store(&self) -> Arc<S> {
        Arc::clone(self)
    }
}

/// A fresh, empty queue (and its dead-letter queue) for one contract case.
#[async_trait]
pub trait CheckQueueFixture: Send + Sync + 'static {
    /// The adapter under test.
    type Queue: CheckQueue + ?Sized;
    /// The adapter, shared with the tasks a case spawns.
    fn queue(&self) -> Arc<Self::Queue>;
    /// The queue's visibility timeout: keep it short (about 2 s), the suite waits for it.
    fn visibility_timeout(&self) -> Duration;
    /// How many receives a message gets before it goes to the dead-letter queue (about 3).
    fn max_receive_count(&self) -> u32;
    /// The bodies now in the dead-letter queue. Panics if they cannot be read.
    async fn dead_letter_bodies(&self) -> Vec<String>;
}

/// Now, truncated to the millisecond precision that stores keep.
pub fn now_ms() -> Timestamp {
    millis(chrono::Utc::now())
}

fn millis(t: Timestamp) -> Timestamp {
    chrono::DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t)
}

fn ms(n: i64) -> chrono::Duration {
    chrono::Duration::milliseconds(n)
}

fn dec(raw: &str) -> Decimal {
    Decimal::from_str(raw).expect("contract suite: literal decimal")
}

fn url(raw: &str) -> ProductUrl {
    ProductUrl::parse(raw).expect("contract suite: literal URL")
}

fn target(raw: &str) -> TargetPrice {
    TargetPrice::parse(raw).expect("contract suite: literal target price")
}

/// A plain new job of `user_id`, due at `next_check_at`: target 79.99 with no currency, every
/// optional field empty, version 0.
pub fn sample_job(user_id: UserId, next_check_at: Timestamp) -> Job {
    let new = NewJob {
        url: url("https://shop.example/p/1"),
        target_price: target("79.99"),
        currency: None,
        check_interval: CheckInterval::from_stored(3600),
        price_selector: None,
    };
    Job::create(user_id, new, now_ms(), millis(next_check_at))
}

/// A job of `user_id` with every optional field set, a pending alert in its outbox, a price
/// with a currency, and text that needs escaping.
pub fn fully_populated_job(user_id: UserId) -> Job {
    let now = now_ms();
    let id = JobId::new();
    let product = url("https://shop.example/p/caf%C3%A9?ref=abc&q=%22x%22#offer");
    let goal = target("1299.99");
    let price = Money::new(dec("1299.99"), Some(Currency::EUR));
    Job {
        id,
        user_id,
        url: product.clone(),
        target_price: goal,
        currency: Some(Currency::EUR),
        price_selector: Some("#price > span.amount[data-kind=\"main\"]".to_owned()),
        check_interval: CheckInterval::from_stored(86_400),
        status: JobStatus::Alerted,
        alert_state: AlertState::Fired,
        last_price: Some(price),
        last_availability: Some(Availability::PreOrder),
        last_checked_at: Some(now - ms(5_000)),
        last_error: Some("could not fetch the page: HTTP 503 «réessayez» ✓ 'quoted'".to_owned()),
        consecutive_failures: 2,
        next_check_at: now + ms(3_600_000),
        pending_alert: Some(Alert {
            id: AlertId::new(),
            job_id: id,
            user_id,
            url: product,
            price,
            target_price: goal,
            checked_at: now - ms(5_000),
            details: Default::default(),
        }),
        paused: false,
        version: 7,
        alerting: crate::rules::Alerting {
            rules: vec![
                crate::rules::AlertRule::BelowTarget,
                crate::rules::AlertRule::DropPercent {
                    percent: dec("12.5"),
                    baseline: crate::rules::Baseline::FirstSeen,
                },
                crate::rules::AlertRule::BackInStock,
                crate::rules::AlertRule::NewLow,
            ],
            cooldown_hours: Some(6),
            snooze_until: Some(now + ms(7_200_000)),
            channels: Some(vec![crate::ChannelId::new()]),
            fired: vec![crate::AlertRuleKind::NewLow],
            first_price: Some(Money::new(dec("1499.00"), Some(Currency::EUR))),
            lowest_price: Some(price),
            last_alert_at: Some(now - ms(5_000)),
            seen_out_of_stock: true,
        },
        created_at: now - ms(86_400_000),
        updated_at: now - ms(5_000),
    }
}

/// A job of `user_id` with extreme values: the smallest and largest target precision, a price
/// without currency, the largest interval and counters.
pub fn precise_job(user_id: UserId) -> Job {
    let now = now_ms();
    let id = JobId::new();
    let product = url("https://shop.example/p/2");
    let goal = target("0.0001");
    Job {
        id,
        user_id,
        url: product.clone(),
        target_price: goal,
        currency: Some(Currency::USD),
        price_selector: None,
        check_interval: CheckInterval::from_stored(CheckInterval::MAX_SECS),
        status: JobStatus::Failing,
        alert_state: AlertState::Armed,
        last_price: Some(Money::new(dec("999999999999.9999"), Some(Currency::USD))),
        last_availability: Some(Availability::OutOfStock),
        last_checked_at: Some(now),
        last_error: None,
        consecutive_failures: u32::MAX,
        next_check_at: now,
        pending_alert: Some(Alert {
            id: AlertId::new(),
            job_id: id,
            user_id,
            url: product,
            price: Money::new(dec("0.0001"), None),
            target_price: goal,
            checked_at: now,
            details: Default::default(),
        }),
        paused: true,
        version: 1 << 40,
        alerting: crate::rules::Alerting::default(),
        created_at: now,
        updated_at: now,
    }
}

/// A new user with a unique email (so that the suite also runs on a shared backend) and a
/// password hash in PHC form.
pub fn sample_user() -> (User, PasswordHash) {
    let id = UserId::new();
    let email = Email::parse(&format!("contract-{id}@example.com")).expect("contract suite: email");
    let hash = PasswordHash::new(format!("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ${id}"));
    (User { id, email, created_at: now_ms() }, hash)
}

/// The contract of [`JobStore`]: one public case per guarantee.
pub mod job_store {
    use super::*;
    use crate::ports::{ClaimedJob, IdempotentCreate, ListOrder, Page, PageRequest, StoreError, WriteOutcome};
    use crate::{CheckRequest, HistoryQuery, JobEdit, Observation, PricePoint, SchedulePolicy};

    fn far_future() -> Timestamp {
        now_ms() + ms(365 * 86_400_000)
    }

    async fn create<S: JobStore + ?Sized>(store: &S, job: &Job) {
        if let Err(e) = store.create(job).await {
            panic!("JobStore::create of a new job must succeed, got {e:?}");
        }
    }

    async fn get<S: JobStore + ?Sized>(store: &S, key: JobKey) -> Option<Job> {
        match store.get(key).await {
            Ok(job) => job,
            Err(e) => panic!("JobStore::get must not fail on a healthy backend, got {e:?}"),
        }
    }

    async fn list_all<S: JobStore + ?Sized>(store: &S, user_id: UserId) -> Vec<Job> {
        let page = PageRequest { limit: PageRequest::MAX_LIMIT, cursor: None };
        match store.list(user_id, &page).await {
            Ok(page) => page.items,
            Err(e) => panic!("JobStore::list must not fail on a healthy backend, got {e:?}"),
        }
    }

    async fn claim<S: JobStore + ?Sized>(
        store: &S,
        now: Timestamp,
        lease_until: Timestamp,
        limit: usize,
    ) -> Vec<ClaimedJob> {
        match store.claim_due(now, lease_until, limit).await {
            Ok(claimed) => claimed,
            Err(e) => panic!("JobStore::claim_due must not fail on a healthy backend, got {e:?}"),
        }
    }

    async fn observations<S: JobStore + ?Sized>(store: &S, key: JobKey, limit: u32) -> Vec<PricePoint> {
        history(store, key, &HistoryQuery { limit, ..HistoryQuery::default() }).await.items
    }

    async fn history<S: JobStore + ?Sized>(store: &S, key: JobKey, query: &HistoryQuery) -> Page<PricePoint> {
        match store.history(key, query).await {
            Ok(found) => found,
            Err(e) => panic!("JobStore::history must not fail on a healthy backend, got {e:?}"),
        }
    }

    fn points(observations: &[Observation]) -> Vec<PricePoint> {
        observations.iter().map(PricePoint::starting).collect()
    }

    async fn record<S: JobStore + ?Sized>(
        store: &S,
        job: &Job,
        expected_version: u64,
        observation: Option<&Observation>,
    ) -> WriteOutcome {
        match store.record_check(job, expected_version, observation).await {
            Ok(outcome) => outcome,
            Err(e) => panic!("JobStore::record_check must not fail on a healthy backend, got {e:?}"),
        }
    }

    fn priced(amount: &str, currency: Option<Currency>, availability: Option<Availability>) -> CheckOutcome {
        CheckOutcome::Priced(CheckedOffer {
            price: Money::new(dec(amount), currency),
            availability,
            method: "contract-suite".to_owned(),
        })
    }

    /// Creates a job that is due, claims it, and reads it back as a worker would.
    async fn claimed_job<S: JobStore + ?Sized>(store: &S) -> (Job, ClaimedJob) {
        let now = now_ms();
        let job = sample_job(UserId::new(), now - ms(1_000));
        create(store, &job).await;
        let claimed = claim(store, now, now + ms(300_000), 10).await;
        assert_eq!(claimed.len(), 1, "claim_due must hand out the one due job of a fresh store");
        let read = get(store, job.key()).await.expect("a claimed job must still exist");
        (read, claimed[0].clone())
    }

    /// Every field survives `create` then `get`: decimals (1299.99, 0.0001, 999999999999.9999),
    /// currencies, `None` and `Some` optional fields, the pending alert, millisecond timestamps.
    pub async fn create_then_get_round_trips_every_field<F: JobStoreFixture>(fixture: &F) {
        let store = fixture.store();
        let user = UserId::new();
        let mut minimal = sample_job(user, now_ms());
        minimal.last_price = Some(Money::new(dec("12.50"), None));
        let jobs = [fully_populated_job(user), sample_job(user, now_ms()), precise_job(user), minimal];
        for job in &jobs {
            create(&*store, job).await;
        }
        for job in &jobs {
            let got = get(&*store, job.key()).await;
            assert_eq!(
                got.as_ref(),
                Some(job),
                "JobStore::get must return every field exactly as created (decimals, currencies, \
                 optional fields, the pending alert, millisecond timestamps)"
            );
        }
    }

    /// A second `create` with an id already taken is `AlreadyExists` and leaves the first job as it was.
    pub async fn create_with_taken_id_is_already_exists<F: JobStoreFixture>(fixture: &F) {
        let store = fixture.store();
        let job = sample_job(UserId::new(), far_future());
        create(&*store, &job).await;
        let mut replay = job.clone();
        replay.target_price = target("1");
        replay.version = 99;
        let result = store.create(&replay).await;
        assert!(
            matches!(result, Err(StoreError::AlreadyExists)),
            "JobStore::create with a taken id must be AlreadyExists, got {result:?}"
        );
        assert_eq!(
            get(&*store, job.key()).await.as_ref(),
            Some(&job),
            "a refused duplicate create must not change the existing job"
        );
    }

    /// A key with another user's id (or an unknown job id) finds nothing.
    pub async fn get_with_another_users_id_finds_nothing<F: JobStoreFixture>(fixture: &F) {
        let store = fixture.store();
        let job = sample_job(UserId::new(), far_future());
        create(&*store, &job).await;
        let foreign = JobKey { user_id: UserId::new(), job_id: job.id };
        assert_eq!(
            get(&*store, foreign).await,
            None,
            "JobStore::get with another user's id must find nothing (jobs are addressed by owner and id)"
        );
        let unknown = JobKey { user_id: job.user_id, job_id: JobId::new() };
        assert_eq!(get(&*store, unknown).await, None, "JobStore::get of an unknown job must be None");
    }

    /// 25 jobs listed 10 at a time: every job exactly once, oldest (smallest id) first, and the
    /// last page has no next cursor.
    pub async fn list_pages_hold_every_job_once_oldest_first<F: JobStoreFixture>(fixture: &F) {
        let store = fixture.store();
        let user = UserId::new();
        let mut created = HashMap::new();
        for _ in 0..25 {
            let job = sample_job(user, far_future());
            create(&*store, &job).await;
            created.insert(job.id, job);
        }
        let mut expected: Vec<JobId> = created.keys().copied().collect();
        expected.sort();

        let mut seen = Vec::new();
        let mut cursor = None;
        for page_no in 1.. {
            assert!(page_no <= 4, "JobStore::list must end (next_cursor None) within 4 pages of 10 for 25 jobs");
            let request = PageRequest { limit: 10, cursor: cursor.take() };
            let page = match store.list(user, &request).await {
                Ok(page) => page,
                Err(e) => panic!("JobStore::list with its own cursor must succeed, got {e:?}"),
            };
            assert!(page.items.len() <= 10, "JobStore::list must return at most `limit` items");
            for job in &page.items {
                assert_eq!(
                    Some(job),
                    created.get(&job.id),
                    "JobStore::list must return the user's jobs as stored, every field intact"
                );
                seen.push(job.id);
            }
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        assert_eq!(
            seen, expected,
            "JobStore::list pages must together hold every job exactly once, oldest (by id) first"
        );

        let whole =
            store.list(user, &PageRequest { limit: 100, cursor: None }).await.expect("JobStore::list must succeed");
        assert_eq!(whole.items.len(), 25, "a page larger than the listing must hold every job");
        assert_eq!(whole.next_cursor, None, "a page that holds the rest must have no next cursor");
    }

    /// A user's listing holds their jobs only; a user without jobs gets an empty last page.
    pub async fn list_shows_only_the_users_own_jobs<F: JobStoreFixture>(fixture: &F) {
        let store = fixture.store();
        let (alice, bob) = (UserId::new(), UserId::new());
        let mut alice_ids = BTreeSet::new();
        for _ in 0..3 {
            let job = sample_job(alice, far_future());
            create(&*store, &job).await;
            alice_ids.insert(job.id);
        }
        for _ in 0..2 {
            create(&*store, &sample_job(bob, far_future())).await;
        }
        let listed = list_all(&*store, alice).await;
        assert!(listed.iter().all(|job| job.user_id == alice), "JobStore::list must never return another user's job");
        let listed_ids: BTreeSet<JobId> = listed.iter().map(|job| job.id).collect();
        assert_eq!(listed_ids, alice_ids, "JobStore::list must return all of the user's jobs");
        assert_eq!(listed.len(), 3, "JobStore::list must return each job once");

        let nobody = store
            .list(UserId::new(), &PageRequest { limit: 10, cursor: None })
            .await
            .expect("JobStore::list of a user without jobs must succeed");
        assert!(nobody.items.is_empty(), "a user without jobs must get an empty listing");
        assert_eq!(nobody.next_cursor, None, "an empty listing must have no next cursor");
    }

    /// A cursor the store did not produce is `InvalidCursor`, not a backend error or a panic.
    pub async fn list_with_invalid_cursor_is_invalid_cursor<F: JobStoreFixture>(fixture: &F) {
        let store = fixture.store();
        let user = UserId::new();
        create(&*store, &sample_job(user, far_future())).await;
        for bogus in ["definitely not a cursor!", "\u{0}%%%"] {
            let request = PageRequest { limit: 10, cursor: Some(bogus.to_owned()) };
            let result = store.list(user, &request).await;
            assert!(
                matches!(result, Err(StoreError::InvalidCursor)),
                "JobStore::list with a cursor it did not produce must be InvalidCursor, got {result:?}"
            );
        }
    }

    /// `delete` is `true` once then `false`; another user's key deletes nothing.
    pub async fn delete_removes_once_and_only_for_the_owner<F: JobStoreFixture>(fixture: &F) {
        let store = fixture.store();
        let job = sample_job(UserId::new(), far_future());
        create(&*store, &job).await;

        let foreign = JobKey { user_id: UserId::new(), job_id: job.id };
        let deleted = store.delete(foreign).await.expect("JobStore::delete must succeed");
        assert!(!deleted, "JobStore::delete with another user's id must delete nothing");
        assert_eq!(
            get(&*store, job.key()).await.as_ref(),
            Some(&job),
            "another user's delete must leave the job intact"
        );

        assert!(
            store.delete(job.key()).await.expect("JobStore::delete must succeed"),
            "JobStore::delete of an existing job must return true"
        );
        assert_eq!(get(&*store, job.key()).await, None, "a deleted job must be gone");
        assert!(
            !store.delete(job.key()).await.expect("JobStore::delete must succeed"),
            "a second JobStore::delete of the same job must return false"
        );
        assert!(list_all(&*store, job.user_id).await.is_empty(), "a deleted job must not be listed");
    }

    /// `delete_all` removes that user's jobs only and counts them.
    pub async fn delete_all_removes_only_that_users_jobs<F: JobStoreFixture>(fixture: &F) {
        let store = fixture.store();
        let (alice, bob) = (UserId::new(), UserId::new());
        for _ in 0..3 {
            create(&*store, &sample_job(alice, far_future())).await;
        }
        let mut bobs = Vec::new();
        for _ in 0..2 {
            let job = sample_job(bob, far_future());
            create(&*store, &job).await;
            bobs.push(job);
        }
        let removed = store.delete_all(alice).await.expect("JobStore::delete_all must succeed");
        assert_eq!(removed, 3, "JobStore::delete_all must return how many jobs it deleted");
        assert!(list_all(&*store, alice).await.is_empty(), "delete_all must remove every job of the user");
        for job in &bobs {
            assert_eq!(
                get(&*store, job.key()).await.as_ref(),
                Some(job),
                "delete_all must not touch another user's jobs"
            );
        }
        let again = store.delete_all(alice).await.expect("JobStore::delete_all must succeed");
        assert_eq!(again, 0, "delete_all of a user without jobs must return 0");
    }

    /// `claim_due` hands out exactly the jobs with `next_check_at <= now`, moving their
    /// `next_check_at` to the lease and bumping their version; other jobs stay as they were.
    pub async fn claim_due_claims_only_due_jobs_and_leases_them<F: JobStoreFixture>(fixture: &F) {
        let store = fixture.store();
        let now = now_ms();
        let lease = now + ms(300_000);
        let user = UserId::new();
        let mut overdue = sample_job(user, now - ms(600_000));
        overdue.version = 5;
        let due_now = sample_job(user, now);
        let not_yet = sample_job(user, now + ms(1));
        let later = sample_job(UserId::new(), now + ms(3_600_000));
        for job in [&overdue, &due_now, &not_yet, &later] {
            create(&*store, job).await;
        }

        let claimed = claim(&*store, now, lease, 10).await;
        let keys: BTreeSet<(UserId, JobId)> = claimed.iter().map(|c| (c.key.user_id, c.key.job_id)).collect();
        let expected: BTreeSet<(UserId, JobId)> = [&overdue, &due_now].iter().map(|j| (j.user_id, j.id)).collect();
        assert_eq!(
            keys, expected,
            "claim_due must claim exactly the jobs with next_check_at <= now (boundary included)"
        );
        assert_eq!(claimed.len(), 2, "claim_due must hand out each due job once");

        for original in [&overdue, &due_now] {
            let claim = claimed.iter().find(|c| c.key == original.key()).expect("each due job is claimed");
            assert!(claim.version > original.version, "claim_due must bump the job's version");
            assert_eq!(
                claim.host.as_deref(),
                Some(original.url.host()),
                "claim_due must say the job's shop host, so a run can spread a host's checks"
            );
            let mut got = get(&*store, original.key()).await.expect("a claimed job must still exist");
            assert_eq!(got.version, claim.version, "the stored version must be the one claim_due returned");
            assert_eq!(got.next_check_at, lease, "claim_due must move next_check_at to lease_until");
            let mut expected = original.clone();
            expected.next_check_at = lease;
            expected.version = claim.version;
            got.updated_at = expected.updated_at;
            assert_eq!(got, expected, "claim_due must change nothing but next_check_at and version");
        }
        for untouched in [&not_yet, &later] {
            assert_eq!(
                get(&*store, untouched.key()).await.as_ref(),
                Some(untouched),
                "claim_due must not touch jobs that are not due"
            );
        }
    }

    /// A second `claim_due` at the same time finds nothing: the lease took the jobs off the due list.
    pub async fn claim_due_twice_at_same_time_hands_out_nothing_twice<F: JobStoreFixture>(fixture: &F) {
        let store = fixture.store();
        let now = now_ms();
        for _ in 0..3 {
            create(&*store, &sample_job(UserId::new(), now - ms(1_000))).await;
        }
        let first = claim(&*store, now, now + ms(60_000), 10).await;
        assert_eq!(first.len(), 3, "claim_due must claim every due job");
        let second = claim(&*store, now, now + ms(60_000), 10).await;
        assert!(
            second.is_empty(),
            "a second claim_due at the same time must claim nothing (guarantee 2: never queued twice), got {second:?}"
        );
    }

    /// `claim_due` claims at most `limit` jobs; successive calls drain the due jobs, each once.
    pub async fn claim_due_respects_limit<F: JobStoreFixture>(fixture: &F) {
        let store = fixture.store();
        let now = now_ms();
        let mut due = BTreeSet::new();
        for i in 0..5 {
            let job = sample_job(UserId::new(), now - ms(1_000 * (i + 1)));
            create(&*store, &job).await;
            due.insert(job.id);
        }
        let mut seen = BTreeSet::new();
        for expected_len in [2, 2, 1, 0] {
            let batch = claim(&*store, now, now + ms(60_000), 2).await;
            assert_eq!(batch.len(), expected_len, "claim_due must claim min(limit, due jobs left) jobs");
            for c in batch {
                assert!(seen.insert(c.key.job_id), "claim_due handed out a job twice");
            }
        }
        assert_eq!(seen, due, "successive claim_due calls must drain every due job");
    }

    /// Eight concurrent claimers over 50 due jobs: no job is handed out twice, and together
    /// they claim all of them (guarantee 2).
    pub async fn concurrent_claim_due_hands_each_job_out_once<F: JobStoreFixture>(fixture: &F) {
        let store = fixture.store();
        let now = now_ms();
        let lease = now + ms(300_000);
        let mut due = HashMap::new();
        let users = [UserId::new(), UserId::new()];
        for i in 0..50_i64 {
            let job = sample_job(users[usize::from(i % 2 == 1)], now - ms(i));
            create(&*store, &job).await;
            due.insert(job.key(), job);
        }
        let barrier = Arc::new(tokio::sync::Barrier::new(8));
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let store = Arc::clone(&store);
            let barrier = Arc::clone(&barrier);
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                let mut mine = Vec::new();
                for _ in 0..100 {
                    let batch = match store.claim_due(now, lease, 5).await {
                        Ok(batch) => batch,
                        Err(e) => panic!("concurrent claim_due must not fail, got {e:?}"),
                    };
                    if batch.is_empty() {
                        break;
                    }
                    mine.extend(batch);
                }
                mine
            }));
        }
        let mut all: Vec<ClaimedJob> = Vec::new();
        for result in futures::future::join_all(tasks).await {
            all.extend(result.expect("a claiming task panicked"));
        }
        let mut seen = HashMap::new();
        for c in &all {
            assert!(
                seen.insert(c.key, c.version).is_none(),
                "concurrent claim_due handed job {:?} to two callers (guarantee 2)",
                c.key.job_id
            );
        }
        let claimed_keys: BTreeSet<(UserId, JobId)> = seen.keys().map(|k| (k.user_id, k.job_id)).collect();
        let due_keys: BTreeSet<(UserId, JobId)> = due.keys().map(|k| (k.user_id, k.job_id)).collect();
        assert_eq!(claimed_keys, due_keys, "concurrent claim_due calls must together claim every due job");
        for (key, version) in seen {
            let got = get(&*store, key).await.expect("a claimed job must still exist");
            assert_eq!(got.version, version, "the stored version must be the one its single claim returned");
            assert_eq!(got.next_check_at, lease, "each claimed job must carry the lease");
        }
    }

    /// A job whose worker died comes back: once `now` passes the lease it is due again, with a
    /// newer version (guarantee 1); before that it is not.
    pub async fn claim_due_reclaims_after_lease_expires<F: JobStoreFixture>(fixture: &F) {
        let store = fixture.store();
        let now = now_ms();
        let job = sample_job(UserId::new(), now);
        create(&*store, &job).await;
        let lease = now + ms(60_000);
        let first = claim(&*store, now, lease, 10).await;
        assert_eq!(first.len(), 1, "claim_due must claim the due job");
        let during = claim(&*store, now + ms(30_000), now + ms(90_000), 10).await;
        assert!(during.is_empty(), "claim_due must not hand out a job while its lease runs");
        let after = claim(&*store, lease + ms(1_000), lease + ms(61_000), 10).await;
        assert_eq!(after.len(), 1, "claim_due must hand the job out again once its lease has run out (guarantee 1)");
        assert_eq!(after[0].key, job.key(), "the expired lease's job must be the one reclaimed");
        assert!(after[0].version > first[0].version, "a reclaim must bump the version again");
    }

    /// `record_check` at the current version writes the whole new state and keeps the observation.
    pub async fn record_check_with_current_version_applies<F: JobStoreFixture>(fixture: &F) {
        let store = fixture.store();
        let (job, claimed) = claimed_job(&*store).await;
        let request = CheckRequest::new(claimed.key, claimed.version);
        assert_eq!(job.version, request.job_version, "get must show the version claim_due returned");
        let transition = job.after_check(
            &priced("49.99", Some(Currency::EUR), Some(Availability::InStock)),
            now_ms(),
            &SchedulePolicy::default(),
            0,
        );
        let observation = transition.observation.clone().expect("a priced check observes");
        assert!(transition.job.pending_alert.is_some(), "suite setup: the check crosses the target");
        let outcome = record(&*store, &transition.job, claimed.version, Some(&observation)).await;
        assert_eq!(outcome, WriteOutcome::Applied, "record_check at the current version must apply");
        assert_eq!(
            get(&*store, job.key()).await.as_ref(),
            Some(&transition.job),
            "after record_check, get must return exactly the recorded job (pending alert included)"
        );
        assert_eq!(
            observations(&*store, job.key(), 10).await,
            points(&[observation]),
            "record_check must keep the observation beside the job"
        );
    }

    /// An unpriced check (out of stock, no price shown) is written like any other: the stored
    /// job keeps the last price seen, shows the new availability and no error, and no
    /// observation is added.
    pub async fn record_check_of_an_unpriced_check_keeps_the_last_price<F: JobStoreFixture>(fixture: &F) {
        let store = fixture.store();
        let (job, claimed) = claimed_job(&*store).await;
        let policy = SchedulePolicy::default();
        let first =
            job.after_check(&priced("120.50", Some(Currency::EUR), Some(Availability::InStock)), now_ms(), &policy, 0);
        let observation = first.observation.clone().expect("a priced check observes");
        assert_eq!(
            record(&*store, &first.job, claimed.version, Some(&observation)).await,
            WriteOutcome::Applied,
            "suite setup: record a priced check"
        );
        let unpriced =
            CheckOutcome::Unpriced { availability: Availability::OutOfStock, method: "contract-suite".to_owned() };
        let second = first.job.after_check(&unpriced, now_ms() + ms(1_000), &policy, 0);
        let gap = second.observation.clone().expect("suite setup: an unpriced check observes a gap");
        assert_eq!(
            record(&*store, &second.job, first.job.version, Some(&gap)).await,
            WriteOutcome::Applied,
            "record_check of an unpriced check (no observation) at the current version must apply"
        );
        let stored = get(&*store, job.key()).await.expect("the job must still exist");
        assert_eq!(stored, second.job, "after an unpriced check, get must return exactly the recorded job");
        assert_eq!(stored.last_price, first.job.last_price, "an unpriced check must keep the last price seen");
        assert_eq!(stored.last_availability, Some(Availability::OutOfStock), "the availability must be stored");
        assert_eq!(
            observations(&*store, job.key(), 10).await,
            points(&[gap, observation]),
            "an unpriced check must be kept as a point without a price (a gap), newest first"
        );
    }

    /// `record_check` with a stale version is `VersionMismatch` and writes nothing, observation
    /// included.
    pub async fn record_check_with_stale_version_changes_nothing<F: JobStoreFixture>(fixture: &F) {
        let store = fixture.store();
        let (job, claimed) = claimed_job(&*store).await;
        let transition = job.after_check(&priced("49.99", None, None), now_ms(), &SchedulePolicy::default(), 0);
        let observation = transition.observation.clone().expect("a priced check observes");
        for stale in [claimed.version - 1, claimed.version + 1] {
            let outcome = record(&*store, &transition.job, stale, Some(&observation)).await;
            assert_eq!(
                outcome,
                WriteOutcome::VersionMismatch,
                "record_check with another version than the stored one must be VersionMismatch"
            );
        }
        assert_eq!(
            get(&*store, job.key()).await.as_ref(),
            Some(&job),
            "a refused record_check must leave the job unchanged"
        );
        assert!(
            observations(&*store, job.key(), 10).await.is_empty(),
            "a refused record_check must not keep its observation"
        );
    }

    /// `record_check` on a deleted job is `Gone` and never brings it back (guarantee 3).
    pub async fn record_check_on_deleted_job_is_gone_and_does_not_recreate<F: JobStoreFixture>(fixture: &F) {
        let store = fixture.store();
        let (job, claimed) = claimed_job(&*store).await;
        assert!(store.delete(job.key()).await.expect("delete"), "suite setup: delete the job");
        let transition = job.after_check(
            &priced("49.99", None, Some(Availability::InStock)),
            now_ms(),
            &SchedulePolicy::default(),
            0,
        );
        let observation = transition.observation.clone().expect("a priced check observes");
        let outcome = record(&*store, &transition.job, claimed.version, Some(&observation)).await;
        assert_eq!(outcome, WriteOutcome::Gone, "record_check on a deleted job must be Gone");
        assert_eq!(
            get(&*store, job.key()).await,
            None,
            "record_check must never re-create a deleted job (guarantee 3)"
        );
        assert!(
            list_all(&*store, job.user_id).await.is_empty(),
            "a deleted job must not be listed after a late record_check"
        );
        let far = far_future();
        let reclaimed = claim(&*store, far, far + ms(60_000), 100).await;
        assert!(
            reclaimed.iter().all(|c| c.key != job.key()),
            "a deleted job must never be claimable again (guarantee 3)"
        );
        assert!(
            observations(&*store, job.key(), 10).await.is_empty(),
            "a late record_check on a deleted job must not keep its observation"
        );
    }

    /// Eight workers record a check of the same claimed version at once: exactly one applies,
    /// the others get `VersionMismatch` (what makes one alert per crossing, guarantee 4).
    pub async fn concurrent_record_checks_have_one_winner<F: JobStoreFixture>(fixture: &F) {
        let store = fixture.store();
        let (job, claimed) = claimed_job(&*store).await;
        let barrier = Arc::new(tokio::sync::Barrier::new(8));
        let mut tasks = Vec::new();
        for i in 0..8_i64 {
            let store = Arc::clone(&store);
            let barrier = Arc::clone(&barrier);
            let transition = job.after_check(
                &priced(&format!("{}.5", 40 + i), None, None),
                now_ms() + ms(i),
                &SchedulePolicy::default(),
                0,
            );
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                let observation = transition.observation.clone();
                let outcome = store.record_check(&transition.job, claimed.version, observation.as_ref()).await;
                (outcome, transition)
            }));
        }
        let mut winners = Vec::new();
        for result in futures::future::join_all(tasks).await {
            let (outcome, transition) = result.expect("a recording task panicked");
            match outcome {
                Ok(WriteOutcome::Applied) => winners.push(transition),
                Ok(WriteOutcome::VersionMismatch) => {}
                other => panic!("a losing concurrent record_check must be VersionMismatch, got {other:?}"),
            }
        }
        assert_eq!(winners.len(), 1, "exactly one of concurrent record_checks at one version must apply (guarantee 4)");
        let winner = &winners[0];
        assert_eq!(get(&*store, job.key()).await.as_ref(), Some(&winner.job), "the stored job must be the winner's");
        let expected: Vec<Observation> = winner.observation.iter().cloned().collect();
        assert_eq!(
            observations(&*store, job.key(), 10).await,
            points(&expected),
            "only the winning record_check's observation may be kept"
        );
    }

    /// `clear_pending_alert` with the alert's id empties the outbox, keeps the version and
    /// everything else.
    pub async fn clear_pending_alert_with_its_id_clears_without_bumping_version<F: JobStoreFixture>(fixture: &F) {
        let store = fixture.store();
        let job = fully_populated_job(UserId::new());
        create(&*store, &job).await;
        let alert_id = job.pending_alert.as_ref().expect("fixture has an alert").id;
        let outcome = store.clear_pending_alert(job.key(), alert_id).await.expect("clear_pending_alert must succeed");
        assert_eq!(outcome, WriteOutcome::Applied, "clear_pending_alert with the pending alert's id must apply");
        let mut got = get(&*store, job.key()).await.expect("the job must still exist");
        assert_eq!(got.pending_alert, None, "clear_pending_alert must empty the outbox");
        assert_eq!(got.version, job.version, "clear_pending_alert must not bump the version");
        let mut expected = job.clone();
        expected.pending_alert = None;
        got.updated_at = expected.updated_at;
        assert_eq!(got, expected, "clear_pending_alert must change nothing but the outbox");

        let again = store.clear_pending_alert(job.key(), alert_id).await.expect("clear_pending_alert must succeed");
        assert_ne!(again, WriteOutcome::Gone, "clearing an empty outbox of a live job must not be Gone");
    }

    /// `clear_pending_alert` with another alert id (or another user's key) leaves the alert.
    pub async fn clear_pending_alert_with_another_id_keeps_the_alert<F: JobStoreFixture>(fixture: &F) {
        let store = fixture.store();
        let job = fully_populated_job(UserId::new());
        create(&*store, &job).await;
        let outcome =
            store.clear_pending_alert(job.key(), AlertId::new()).await.expect("clear_pending_alert must succeed");
        // The port leaves open whether "holds another alert" reads Applied or VersionMismatch;
        // it is never Gone, and it never writes.
        assert_ne!(outcome, WriteOutcome::Gone, "clear_pending_alert on a live job must not be Gone");
        assert_eq!(
            get(&*store, job.key()).await.as_ref(),
            Some(&job),
            "clear_pending_alert with another alert id must leave the job (and its outbox) unchanged"
        );

        let alert_id = job.pending_alert.as_ref().expect("fixture has an alert").id;
        let foreign = JobKey { user_id: UserId::new(), job_id: job.id };
        let outcome = store.clear_pending_alert(foreign, alert_id).await.expect("clear_pending_alert must succeed");
        assert_eq!(outcome, WriteOutcome::Gone, "clear_pending_alert with another user's id must find no job");
        assert_eq!(
            get(&*store, job.key()).await.as_ref(),
            Some(&job),
            "clear_pending_alert with another user's id must not touch the job"
        );
    }

    /// `clear_pending_alert` on a deleted job is `Gone` and does not re-create it.
    pub async fn clear_pending_alert_on_deleted_job_is_gone_and_does_not_recreate<F: JobStoreFixture>(fixture: &F) {
        let store = fixture.store();
        let job = fully_populated_job(UserId::new());
        create(&*store, &job).await;
        assert!(store.delete(job.key()).await.expect("delete"), "suite setup: delete the job");
        let alert_id = job.pending_alert.as_ref().expect("fixture has an alert").id;
        let outcome = store.clear_pending_alert(job.key(), alert_id).await.expect("clear_pending_alert must succeed");
        assert_eq!(outcome, WriteOutcome::Gone, "clear_pending_alert on a deleted job must be Gone");
        assert_eq!(
            get(&*store, job.key()).await,
            None,
            "clear_pending_alert must never re-create a deleted job (guarantee 3)"
        );
        assert!(list_all(&*store, job.user_id).await.is_empty(), "a deleted job must stay unlisted");
    }

    /// Observations come newest first, at most `limit`, every field intact, for the owner's key only.
    pub async fn observations_are_newest_first_and_limited<F: JobStoreFixture>(fixture: &F) {
        let store = fixture.store();
        let t0 = now_ms();
        let job = sample_job(UserId::new(), t0);
        create(&*store, &job).await;
        let outcomes = [
            priced("100", Some(Currency::EUR), Some(Availability::InStock)),
            priced("99.99", None, None),
            priced("0.0001", Some(Currency::USD), Some(Availability::OutOfStock)),
            priced("1299.99", Some(Currency::GBP), Some(Availability::PreOrder)),
            priced("80.10", None, Some(Availability::InStock)),
        ];
        let policy = SchedulePolicy::default();
        let mut current = job.clone();
        let mut kept = Vec::new();
        for (i, outcome) in (0_i64..).zip(outcomes.iter()) {
            let transition = current.after_check(outcome, t0 + ms(60_000 * i), &policy, 0);
            let observation = transition.observation.clone().expect("a priced check observes");
            let applied = record(&*store, &transition.job, current.version, Some(&observation)).await;
            assert_eq!(applied, WriteOutcome::Applied, "sequential record_checks at the current version must apply");
            kept.push(observation);
            current = transition.job;
        }
        // A failed check keeps no observation.
        let failed =
            current.after_check(&CheckOutcome::Failed(crate::CheckFailure::NoPrice), t0 + ms(600_000), &policy, 0);
        assert_eq!(
            record(&*store, &failed.job, current.version, None).await,
            WriteOutcome::Applied,
            "record_check without an observation must apply"
        );

        kept.reverse();
        let kept = points(&kept);
        assert_eq!(
            observations(&*store, job.key(), 3).await,
            kept[..3].to_vec(),
            "observations must return the newest `limit` observations, newest first"
        );
        assert_eq!(
            observations(&*store, job.key(), 100).await,
            kept,
            "observations must return every kept observation, newest first, every field intact"
        );
        let foreign = JobKey { user_id: UserId::new(), job_id: job.id };
        assert!(
            observations(&*store, foreign, 100).await.is_empty(),
            "observations with another user's id must return nothing"
        );
    }

    /// Deleting a job deletes its history: re-creating the same job shows none.
    pub async fn delete_removes_observations<F: JobStoreFixture>(fixture: &F) {
        let store = fixture.store();
        let (job, claimed) = claimed_job(&*store).await;
        let transition = job.after_check(&priced("10", None, None), now_ms(), &SchedulePolicy::default(), 0);
        let observation = transition.observation.clone().expect("a priced check observes");
        assert_eq!(
            record(&*store, &transition.job, claimed.version, Some(&observation)).await,
            WriteOutcome::Applied,
            "suite setup: record a check"
        );
        assert!(store.delete(job.key()).await.expect("delete"), "suite setup: delete the job");
        assert!(observations(&*store, job.key(), 10).await.is_empty(), "a deleted job must have no observations");
        create(&*store, &job).await;
        assert!(
            observations(&*store, job.key(), 10).await.is_empty(),
            "JobStore::delete must delete the job's history with it"
        );
    }

    /// Records `outcome` on the stored job at `at`, as a worker would (claim version check
    /// included), and returns the job after it.
    async fn record_at<S: JobStore + ?Sized>(store: &S, key: JobKey, outcome: &CheckOutcome, at: Timestamp) -> Job {
        let job = get(store, key).await.expect("suite setup: the job must exist");
        let transition = job.after_check(outcome, at, &SchedulePolicy::default(), 0);
        assert_eq!(
            record(store, &transition.job, job.version, transition.observation.as_ref()).await,
            WriteOutcome::Applied,
            "record_check at the current version must apply"
        );
        transition.job
    }

    /// History is run-length: equal checks extend the newest point (`last_seen_at`, `checks`),
    /// so a year of one price is one point; a change, another currency, another availability or
    /// an out-of-stock check starts a point. Newest first, every field intact.
    pub async fn history_is_run_length_and_counts_checks<F: JobStoreFixture>(fixture: &F) {
        let store = fixture.store();
        let t0 = now_ms() - ms(400 * 86_400_000);
        let job = sample_job(UserId::new(), far_future());
        create(&*store, &job).await;
        let eur = |amount| priced(amount, Some(Currency::EUR), Some(Availability::InStock));
        let out = CheckOutcome::Unpriced { availability: Availability::OutOfStock, method: "contract-suite".into() };
        record_at(&*store, job.key(), &eur("100"), t0).await;
        // 90 checked 21 times over 360 days: one point.
        let day = 86_400_000;
        for i in 0..21 {
            record_at(&*store, job.key(), &eur(if i % 2 == 0 { "90" } else { "90.00" }), t0 + ms(day + i * 18 * day))
                .await;
        }
        let t_95 = t0 + ms(370 * day);
        record_at(&*store, job.key(), &eur("95"), t_95).await;
        record_at(&*store, job.key(), &priced("95", Some(Currency::USD), Some(Availability::InStock)), t_95 + ms(1000))
            .await;
        record_at(&*store, job.key(), &out, t_95 + ms(2000)).await;
        record_at(&*store, job.key(), &out, t_95 + ms(3000)).await;
        // A failed check leaves the history alone.
        record_at(&*store, job.key(), &CheckOutcome::Failed(crate::CheckFailure::NoPrice), t_95 + ms(3500)).await;
        record_at(&*store, job.key(), &eur("80"), t_95 + ms(4000)).await;

        let found = observations(&*store, job.key(), 100).await;
        let summary: Vec<(Option<String>, Option<Currency>, u64)> = found
            .iter()
            .map(|p| (p.price.map(|m| m.amount.normalize().to_string()), p.price.and_then(|m| m.currency), p.checks))
            .collect();
        assert_eq!(
            summary,
            vec![
                (Some("80".to_owned()), Some(Currency::EUR), 1),
                (None, None, 2),
                (Some("95".to_owned()), Some(Currency::USD), 1),
                (Some("95".to_owned()), Some(Currency::EUR), 1),
                (Some("90".to_owned()), Some(Currency::EUR), 21),
                (Some("100".to_owned()), Some(Currency::EUR), 1),
            ],
            "history must be run-length, newest first: equal checks extend a point and count, any change starts one"
        );
        let ninety = &found[4];
        assert_eq!(
            (ninety.first_seen_at, ninety.last_seen_at),
            (t0 + ms(day), t0 + ms(day + 20 * 18 * day)),
            "a run must keep when it was first and last seen"
        );
        assert_eq!(
            found[1].availability,
            Some(Availability::OutOfStock),
            "an out-of-stock point keeps its availability"
        );
        assert_eq!((found[1].first_seen_at, found[1].last_seen_at), (t_95 + ms(2000), t_95 + ms(3000)));
    }

    /// `from`/`to` keep the points whose run overlaps them; pages follow each other newest first
    /// and together hold every point once; another owner sees nothing; a bad cursor is refused.
    pub async fn history_filters_by_time_and_pages<F: JobStoreFixture>(fixture: &F) {
        let store = fixture.store();
        let t0 = now_ms() - ms(10 * 3_600_000);
        let job = sample_job(UserId::new(), far_future());
        create(&*store, &job).await;
        for (i, amount) in (0_i64..).zip(["10", "11", "12", "13", "14", "15", "16"]) {
            record_at(&*store, job.key(), &priced(amount, None, None), t0 + ms(i * 3_600_000)).await;
            // Each run seen twice: the second check half an hour later.
            record_at(&*store, job.key(), &priced(amount, None, None), t0 + ms(i * 3_600_000 + 1_800_000)).await;
        }
        let all = observations(&*store, job.key(), 100).await;
        assert_eq!(all.len(), 7, "seven runs");
        let mut paged = Vec::new();
        let mut cursor = None;
        for _ in 0..10 {
            let page = history(&*store, job.key(), &HistoryQuery { limit: 3, cursor, ..HistoryQuery::default() }).await;
            assert!(page.items.len() <= 3, "a history page must hold at most `limit` points");
            paged.extend(page.items);
            cursor = page.next_cursor;
            if cursor.is_none() {
                break;
            }
        }
        assert_eq!(paged, all, "history pages must hold every point once, newest first");
        // Runs overlapping [t0 + 2h15m, t0 + 4h]: 12 (ends 2h30m), 13, 14.
        let window = HistoryQuery {
            from: Some(t0 + ms(2 * 3_600_000 + 900_000)),
            to: Some(t0 + ms(4 * 3_600_000)),
            limit: 100,
            cursor: None,
        };
        let amounts: Vec<String> = history(&*store, job.key(), &window)
            .await
            .items
            .iter()
            .map(|p| p.price.map(|m| m.amount.to_string()).unwrap_or_default())
            .collect();
        assert_eq!(amounts, vec!["14", "13", "12"], "from/to must keep the runs that overlap them");
        let foreign = JobKey { user_id: UserId::new(), job_id: job.id };
        assert!(observations(&*store, foreign, 100).await.is_empty(), "another user's key must see no history");
        let bad = HistoryQuery { limit: 3, cursor: Some("not-a-cursor".to_owned()), ..HistoryQuery::default() };
        assert!(
            matches!(store.history(job.key(), &bad).await, Err(StoreError::InvalidCursor)),
            "a history cursor the store did not make must be InvalidCursor"
        );
    }

    /// Points last seen longer ago than the retention (default 730 days) are not returned.
    pub async fn history_older_than_retention_is_not_returned<F: JobStoreFixture>(fixture: &F) {
        let store = fixture.store();
        let job = sample_job(UserId::new(), far_future());
        create(&*store, &job).await;
        let old = now_ms() - ms(800 * 86_400_000);
        record_at(&*store, job.key(), &priced("50", None, None), old).await;
        record_at(&*store, job.key(), &priced("50", None, None), old + ms(86_400_000)).await;
        record_at(&*store, job.key(), &priced("60", None, None), now_ms()).await;
        let found = observations(&*store, job.key(), 100).await;
        assert_eq!(found.len(), 1, "a point last seen beyond the retention must not be returned");
        assert_eq!(found[0].price.map(|m| m.amount), Some(dec("60")));
    }

    /// `update` (an owner's edit) applies at the current version; at a stale one it changes
    /// nothing; a check computed before the edit is refused afterwards (so neither side loses
    /// the other's write silently: the loser re-reads).
    pub async fn update_is_conditional_on_the_version<F: JobStoreFixture>(fixture: &F) {
        let store = fixture.store();
        let (job, _) = claimed_job(&*store).await;
        let edit = JobEdit {
            target_price: Some(target("55.5")),
            price_selector: Some(Some(".price".to_owned())),
            ..JobEdit::default()
        };
        let edited = job.edited(&edit, now_ms());
        assert_eq!(
            store.update(&edited, job.version - 1).await.expect("update"),
            WriteOutcome::VersionMismatch,
            "update at a stale version must be VersionMismatch"
        );
        assert_eq!(get(&*store, job.key()).await.as_ref(), Some(&job), "a refused update changes nothing");
        assert_eq!(store.update(&edited, job.version).await.expect("update"), WriteOutcome::Applied);
        assert_eq!(get(&*store, job.key()).await.as_ref(), Some(&edited), "update must store the edit exactly");
        // The worker's check of the pre-edit job must not overwrite the edit.
        let late = job.after_check(&priced("10", None, None), now_ms(), &SchedulePolicy::default(), 0);
        assert_eq!(
            record(&*store, &late.job, job.version, late.observation.as_ref()).await,
            WriteOutcome::VersionMismatch,
            "a check recorded at the version before an edit must be refused"
        );
        assert_eq!(get(&*store, job.key()).await.as_ref(), Some(&edited), "the edit must survive a late check");
        // ...and re-applied to the edited job, it is kept with the edit.
        let retry = edited.after_check(&priced("10", None, None), now_ms(), &SchedulePolicy::default(), 0);
        assert_eq!(
            record(&*store, &retry.job, edited.version, retry.observation.as_ref()).await,
            WriteOutcome::Applied
        );
        let stored = get(&*store, job.key()).await.expect("job");
        assert_eq!((stored.target_price, stored.last_price.map(|m| m.amount)), (target("55.5"), Some(dec("10"))));
        let gone = JobKey { user_id: UserId::new(), job_id: job.id };
        let mut foreign = stored.clone();
        foreign.user_id = gone.user_id;
        assert_eq!(store.update(&foreign, stored.version).await.expect("update"), WriteOutcome::Gone);
    }

    /// `update` stores an edit of the alerting settings (rules, cooldown, snooze, channels)
    /// exactly, and an edit that clears them; the rules' state (what fired) goes with it.
    pub async fn update_stores_an_edit_of_the_alerting_settings<F: JobStoreFixture>(fixture: &F) {
        use crate::rules::Baseline;
        use crate::{AlertRule, AlertingEdit, ChannelId};
        let store = fixture.store();
        let (job, _) = claimed_job(&*store).await;
        let snooze = now_ms() + ms(3_600_000);
        let edit = JobEdit {
            alerting: AlertingEdit {
                rules: Some(vec![
                    AlertRule::DropPercent { percent: dec("12.5"), baseline: Baseline::Previous },
                    AlertRule::BackInStock,
                    AlertRule::NewLow,
                ]),
                cooldown_hours: Some(Some(24)),
                snooze_until: Some(Some(snooze)),
                channels: Some(Some(vec![ChannelId::new(), ChannelId::new()])),
            },
            ..JobEdit::default()
        };
        let edited = job.edited(&edit, now_ms());
        assert_eq!(store.update(&edited, job.version).await.expect("update"), WriteOutcome::Applied);
        let stored = get(&*store, job.key()).await.expect("job");
        assert_eq!(stored, edited, "update must store the alerting edit exactly");
        assert_eq!(stored.alerting.snooze_until, Some(snooze));

        let cleared = stored.edited(
            &JobEdit {
                alerting: AlertingEdit {
                    cooldown_hours: Some(None),
                    snooze_until: Some(None),
                    channels: Some(None),
                    ..AlertingEdit::default()
                },
                ..JobEdit::default()
            },
            now_ms(),
        );
        assert_eq!(store.update(&cleared, stored.version).await.expect("update"), WriteOutcome::Applied);
        let stored = get(&*store, job.key()).await.expect("job");
        assert_eq!(stored, cleared, "update must store cleared settings");
        assert_eq!(
            (stored.alerting.cooldown_hours, stored.alerting.snooze_until, stored.alerting.channels),
            (None, None, None)
        );
        assert_eq!(stored.alerting.rules.len(), 3, "rules not named in the edit stay");
    }

    /// A paused job is never claimed, however late; resumed, it is due at once.
    pub async fn paused_job_is_never_claimed_until_resumed<F: JobStoreFixture>(fixture: &F) {
        let store = fixture.store();
        let now = now_ms();
        let job = sample_job(UserId::new(), now - ms(1_000));
        create(&*store, &job).await;
        let paused = job.edited(&JobEdit { paused: Some(true), ..JobEdit::default() }, now);
        assert_eq!(store.update(&paused, job.version).await.expect("update"), WriteOutcome::Applied);
        let far = far_future();
        let claimed = claim(&*store, far, far + ms(60_000), 100).await;
        assert!(claimed.iter().all(|c| c.key != job.key()), "a paused job must never be claimed");
        let resumed = paused.edited(&JobEdit { paused: Some(false), ..JobEdit::default() }, now_ms());
        assert_eq!(store.update(&resumed, paused.version).await.expect("update"), WriteOutcome::Applied);
        let claimed = claim(&*store, now_ms() + ms(10), now_ms() + ms(60_000), 100).await;
        assert!(claimed.iter().any(|c| c.key == job.key()), "a resumed job must be due at once");
    }

    /// The same user and key within the window replays the first response and creates nothing,
    /// even when requests race; another user, or the same key after the window, creates.
    pub async fn create_idempotent_creates_once_per_user_and_key<F: JobStoreFixture>(fixture: &F) {
        let store = fixture.store();
        let user = UserId::new();
        let now = now_ms();
        let first = sample_job(user, far_future());
        let created = store.create_idempotent(&first, "key-1", "{\"first\":true}", now).await.expect("create");
        assert_eq!(created, IdempotentCreate::Created);
        let mut racers = Vec::new();
        for _ in 0..6 {
            let store = fixture.store();
            racers.push(tokio::spawn(async move {
                let job = sample_job(user, far_future());
                store.create_idempotent(&job, "key-1", "{\"second\":true}", now + ms(1_000)).await
            }));
        }
        for racer in racers {
            let outcome = racer.await.expect("task").expect("create_idempotent");
            assert_eq!(
                outcome,
                IdempotentCreate::Replayed { job_id: first.id, response: "{\"first\":true}".to_owned() },
                "the same key within the window must replay the first response"
            );
        }
        assert_eq!(list_all(&*store, user).await.len(), 1, "a replay must create nothing");
        // Racing first uses of one key: one creation.
        let mut racers = Vec::new();
        for i in 0..6 {
            let store = fixture.store();
            racers.push(tokio::spawn(async move {
                let job = sample_job(user, far_future());
                store.create_idempotent(&job, "key-2", &format!("{{\"n\":{i}}}"), now).await
            }));
        }
        let mut creations = 0;
        for racer in racers {
            if racer.await.expect("task").expect("create_idempotent") == IdempotentCreate::Created {
                creations += 1;
            }
        }
        assert_eq!(creations, 1, "racing requests with one key must create one job");
        assert_eq!(list_all(&*store, user).await.len(), 2);
        let other = sample_job(UserId::new(), far_future());
        assert_eq!(
            store.create_idempotent(&other, "key-1", "{}", now).await.expect("create"),
            IdempotentCreate::Created,
            "another user's key is another key"
        );
        let later = sample_job(user, far_future());
        assert_eq!(
            store.create_idempotent(&later, "key-1", "{}", now + ms(25 * 3_600_000)).await.expect("create"),
            IdempotentCreate::Created,
            "a key older than the window creates again"
        );
        assert_eq!(list_all(&*store, user).await.len(), 3);
    }

    /// `delete_all` forgets the user's idempotency keys with their jobs: an account deleted
    /// leaves nothing behind, and a key used before creates again.
    pub async fn delete_all_forgets_idempotency_keys<F: JobStoreFixture>(fixture: &F) {
        let store = fixture.store();
        let user = UserId::new();
        let now = now_ms();
        let first = sample_job(user, far_future());
        assert_eq!(
            store.create_idempotent(&first, "key-1", "{}", now).await.expect("create"),
            IdempotentCreate::Created
        );
        store.delete_all(user).await.expect("JobStore::delete_all must succeed");
        let again = sample_job(user, far_future());
        assert_eq!(
            store.create_idempotent(&again, "key-1", "{}", now + ms(1_000)).await.expect("create"),
            IdempotentCreate::Created,
            "delete_all must remove the user's idempotency keys"
        );
        assert_eq!(list_all(&*store, user).await.len(), 1);
    }

    /// `list_ordered` newest first pages through every job once, newest first.
    pub async fn list_newest_first_pages_hold_every_job_once<F: JobStoreFixture>(fixture: &F) {
        let store = fixture.store();
        let user = UserId::new();
        let mut ids = Vec::new();
        for _ in 0..7 {
            let job = sample_job(user, far_future());
            create(&*store, &job).await;
            ids.push(job.id);
        }
        ids.sort();
        ids.reverse();
        let mut seen = Vec::new();
        let mut cursor = None;
        for _ in 0..10 {
            let page = store
                .list_ordered(user, &PageRequest { limit: 3, cursor }, ListOrder::Newest)
                .await
                .expect("list_ordered");
            seen.extend(page.items.iter().map(|j| j.id));
            cursor = page.next_cursor;
            if cursor.is_none() {
                break;
            }
        }
        assert_eq!(seen, ids, "newest-first pages must hold every job once, newest first");
    }

    /// `ping` succeeds on a healthy backend.
    pub async fn ping_succeeds<F: JobStoreFixture>(fixture: &F) {
        let result = fixture.store().ping().await;
        assert!(result.is_ok(), "JobStore::ping must succeed on a healthy backend, got {result:?}");
    }
}

/// The contract of [`UserStore`]: one public case per guarantee.
pub mod user_store {
    use super::*;
    use crate::ports::{UserCredentials, UserStoreError};

    async fn find<S: UserStore + ?Sized>(store: &S, email: &Email) -> Option<UserCredentials> {
        match store.find_by_email(email).await {
            Ok(found) => found,
            Err(e) => panic!("UserStore::find_by_email must not fail on a healthy backend, got {e:?}"),
        }
    }

    /// A created user is found by id and by email, with their password hash.
    pub async fn create_then_get_and_find_by_email_round_trip<F: UserStoreFixture>(fixture: &F) {
        let store = fixture.store();
        let (user, hash) = sample_user();
        store.create(&user, &hash).await.expect("UserStore::create of a new user must succeed");
        let got = store.get(user.id).await.expect("UserStore::get must succeed");
        assert_eq!(got.as_ref(), Some(&user), "UserStore::get must return the user as created");
        let found = find(&*store, &user.email).await.expect("UserStore::find_by_email must find the user");
        assert_eq!(found.user, user, "find_by_email must return the user as created");
        assert!(found.password_hash == hash, "find_by_email must return the password hash as stored");
    }

    /// A second account for one email is `DuplicateEmail`, also when the address was typed in
    /// another case; the first account stays as it was.
    pub async fn second_account_with_same_email_is_duplicate<F: UserStoreFixture>(fixture: &F) {
        let store = fixture.store();
        let (first, first_hash) = sample_user();
        store.create(&first, &first_hash).await.expect("UserStore::create of a new user must succeed");
        let shouted = Email::parse(&first.email.as_str().to_uppercase()).expect("upper-case email parses");
        for email in [first.email.clone(), shouted] {
            let (mut second, second_hash) = sample_user();
            second.email = email;
            let result = store.create(&second, &second_hash).await;
            assert!(
                matches!(result, Err(UserStoreError::DuplicateEmail)),
                "a second account for one email (case aside) must be DuplicateEmail, got {result:?}"
            );
            assert_eq!(
                store.get(second.id).await.expect("UserStore::get must succeed"),
                None,
                "a refused sign-up must not create the user"
            );
        }
        let upper = Email::parse(&first.email.as_str().to_uppercase()).expect("upper-case email parses");
        let found = find(&*store, &upper).await.expect("find_by_email must ignore case (Email normalises)");
        assert_eq!(found.user, first, "the first account must be kept");
        assert!(found.password_hash == first_hash, "the first account's password hash must be kept");
    }

    /// Eight sign-ups race for one email: exactly one wins, the others get `DuplicateEmail`.
    pub async fn concurrent_sign_ups_with_one_email_have_one_winner<F: UserStoreFixture>(fixture: &F) {
        let store = fixture.store();
        let (template, _) = sample_user();
        let barrier = Arc::new(tokio::sync::Barrier::new(8));
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let store = Arc::clone(&store);
            let barrier = Arc::clone(&barrier);
            let (mut user, hash) = sample_user();
            user.email = template.email.clone();
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                (store.create(&user, &hash).await, user)
            }));
        }
        let mut winners = Vec::new();
        for result in futures::future::join_all(tasks).await {
            let (outcome, user) = result.expect("a sign-up task panicked");
            match outcome {
                Ok(()) => winners.push(user),
                Err(UserStoreError::DuplicateEmail) => {}
                Err(e) => panic!("a losing concurrent sign-up must be DuplicateEmail, got {e:?}"),
            }
        }
        assert_eq!(winners.len(), 1, "exactly one of concurrent sign-ups with one email must win");
        let found = find(&*store, &template.email).await.expect("the winner must be found by email");
        assert_eq!(found.user, winners[0], "the account found by email must be the winner's");
    }

    /// Unknown ids and emails find nothing.
    pub async fn unknown_user_is_none<F: UserStoreFixture>(fixture: &F) {
        let store = fixture.store();
        assert_eq!(
            store.get(UserId::new()).await.expect("UserStore::get must succeed"),
            None,
            "UserStore::get of an unknown id must be None"
        );
        let (stranger, _) = sample_user();
        assert!(
            find(&*store, &stranger.email).await.is_none(),
            "UserStore::find_by_email of an unknown email must be None"
        );
    }

    /// `ping` succeeds on a healthy backend.
    pub async fn ping_succeeds<F: UserStoreFixture>(fixture: &F) {
        let result = fixture.store().ping().await;
        assert!(result.is_ok(), "UserStore::ping must succeed on a healthy backend, got {result:?}");
    }

    /// A new password hash replaces the old one, for that user only.
    pub async fn set_password_hash_replaces_only_that_users<F: UserStoreFixture>(fixture: &F) {
        let store = fixture.store();
        let (user, hash) = sample_user();
        let (other, other_hash) = sample_user();
        store.create(&user, &hash).await.expect("UserStore::create of a new user must succeed");
        store.create(&other, &other_hash).await.expect("UserStore::create of a new user must succeed");
        let new_hash = PasswordHash::new(format!("{}-changed", hash.as_str()));
        let changed = store.set_password_hash(user.id, &new_hash).await.expect("set_password_hash must succeed");
        assert!(changed, "UserStore::set_password_hash of an existing user must report true");
        let found = find(&*store, &user.email).await.expect("the user must still be found");
        assert_eq!(found.password_hash, new_hash, "UserStore::set_password_hash must store the new hash");
        let found = find(&*store, &other.email).await.expect("the other user must still be found");
        assert_eq!(found.password_hash, other_hash, "UserStore::set_password_hash must not touch other users");
        let unknown = store.set_password_hash(UserId::new(), &new_hash).await.expect("must succeed");
        assert!(!unknown, "UserStore::set_password_hash of an unknown user must report false");
    }

    /// A deleted user is gone by id and by email, once, and the email is free again.
    pub async fn delete_removes_the_user_once_and_frees_the_email<F: UserStoreFixture>(fixture: &F) {
        let store = fixture.store();
        let (user, hash) = sample_user();
        let (other, other_hash) = sample_user();
        store.create(&user, &hash).await.expect("UserStore::create of a new user must succeed");
        store.create(&other, &other_hash).await.expect("UserStore::create of a new user must succeed");
        assert!(store.delete(user.id).await.expect("UserStore::delete must succeed"), "first delete must report true");
        assert!(
            !store.delete(user.id).await.expect("UserStore::delete must succeed"),
            "second delete must report false"
        );
        assert_eq!(store.get(user.id).await.expect("get must succeed"), None, "a deleted user must not be found by id");
        assert!(find(&*store, &user.email).await.is_none(), "a deleted user must not be found by email");
        assert!(store.get(other.id).await.expect("get must succeed").is_some(), "delete must not touch other users");
        let again = User { id: UserId::new(), ..user };
        store.create(&again, &hash).await.expect("the email of a deleted account must be free for a new one");
    }
}

/// The contract of [`SessionStore`]: one public case per guarantee.
pub mod session_store {
    use super::*;

    /// A session for `user` starting now and lasting an hour.
    fn session_for(user: &User) -> UserSession {
        let now = now_ms();
        UserSession {
            id: SessionId::new(),
            user_id: user.id,
            created_at: now,
            expires_at: now + chrono::Duration::hours(1),
        }
    }

    async fn new_user<F: SessionStoreFixture>(fixture: &F) -> User {
        let (user, hash) = sample_user();
        fixture.store().create(&user, &hash).await.expect("UserStore::create of a new user must succeed");
        user
    }

    async fn live<F: SessionStoreFixture>(fixture: &F, id: SessionId) -> Option<UserId> {
        fixture.store().live_user(id, now_ms()).await.expect("SessionStore::live_user must succeed")
    }

    /// A created session is live and names its user; an unknown one is not.
    pub async fn created_session_is_live<F: SessionStoreFixture>(fixture: &F) {
        let user = new_user(fixture).await;
        let session = session_for(&user);
        fixture.store().create_session(&session).await.expect("SessionStore::create_session must succeed");
        assert_eq!(live(fixture, session.id).await, Some(user.id), "a created session must be live for its user");
        assert_eq!(live(fixture, SessionId::new()).await, None, "an unknown session must not be live");
        let listed = fixture.store().live_sessions(user.id, now_ms()).await.expect("live_sessions must succeed");
        assert_eq!(listed, vec![session], "live_sessions must list the session as created");
    }

    /// A session is not live once it has expired.
    pub async fn expired_session_is_not_live<F: SessionStoreFixture>(fixture: &F) {
        let user = new_user(fixture).await;
        let session = session_for(&user);
        fixture.store().create_session(&session).await.expect("SessionStore::create_session must succeed");
        let later = session.expires_at + chrono::Duration::seconds(1);
        let found = fixture.store().live_user(session.id, later).await.expect("live_user must succeed");
        assert_eq!(found, None, "a session must not be live after it expires");
        let listed = fixture.store().live_sessions(user.id, later).await.expect("live_sessions must succeed");
        assert!(listed.is_empty(), "live_sessions must leave out expired sessions");
    }

    /// `revoke` ends that session only, once.
    pub async fn revoke_ends_one_session<F: SessionStoreFixture>(fixture: &F) {
        let user = new_user(fixture).await;
        let (first, second) = (session_for(&user), session_for(&user));
        let store = fixture.store();
        store.create_session(&first).await.expect("create_session must succeed");
        store.create_session(&second).await.expect("create_session must succeed");
        assert!(store.revoke(first.id).await.expect("revoke must succeed"), "revoking a session must report true");
        assert!(!store.revoke(first.id).await.expect("revoke must succeed"), "revoking it again must report false");
        assert_eq!(live(fixture, first.id).await, None, "a revoked session must not be live");
        assert_eq!(live(fixture, second.id).await, Some(user.id), "revoke must not end other sessions");
    }

    /// `revoke_all` ends every session of the user but the one kept, and no other user's.
    pub async fn revoke_all_keeps_one_and_spares_other_users<F: SessionStoreFixture>(fixture: &F) {
        let user = new_user(fixture).await;
        let other = new_user(fixture).await;
        let store = fixture.store();
        let sessions: Vec<UserSession> = (0..3).map(|_| session_for(&user)).collect();
        for session in &sessions {
            store.create_session(session).await.expect("create_session must succeed");
        }
        let others = session_for(&other);
        store.create_session(&others).await.expect("create_session must succeed");
        let ended = store.revoke_all(user.id, Some(sessions[1].id)).await.expect("revoke_all must succeed");
        assert_eq!(ended, 2, "revoke_all must report the sessions it ended");
        assert_eq!(live(fixture, sessions[0].id).await, None, "revoke_all must end the other sessions");
        assert_eq!(live(fixture, sessions[2].id).await, None, "revoke_all must end the other sessions");
        assert_eq!(live(fixture, sessions[1].id).await, Some(user.id), "revoke_all must keep the one kept");
        assert_eq!(live(fixture, others.id).await, Some(other.id), "revoke_all must not touch another user's");
        let ended = store.revoke_all(user.id, None).await.expect("revoke_all must succeed");
        assert_eq!(ended, 1, "revoke_all without a kept session must end them all");
        assert_eq!(live(fixture, sessions[1].id).await, None, "revoke_all without a kept session must end them all");
    }

    /// Deleting the user ends their sessions.
    pub async fn deleting_the_user_ends_their_sessions<F: SessionStoreFixture>(fixture: &F) {
        let user = new_user(fixture).await;
        let session = session_for(&user);
        let store = fixture.store();
        store.create_session(&session).await.expect("create_session must succeed");
        assert!(store.delete(user.id).await.expect("UserStore::delete must succeed"), "delete must report true");
        assert_eq!(live(fixture, session.id).await, None, "a deleted user's session must not be live");
        let listed = store.live_sessions(user.id, now_ms()).await.expect("live_sessions must succeed");
        assert!(listed.is_empty(), "a deleted user must have no sessions left");
    }
}

/// The contract of [`CheckQueue`]: one public case per guarantee. The cases wait for the
/// fixture's visibility timeout to run out, so keep it short.
pub mod check_queue {
    use tokio::time::{Instant, sleep};

    use super::*;
    use crate::ports::Delivery;

    /// Long-poll wait of the suite's receives: whole seconds, as SQS counts them.
    const POLL: Duration = Duration::from_secs(1);

    /// A unique body that needs escaping in JSON, SQL and XML alike.
    fn body(case: &str) -> String {
        format!("{{\"case\":\"{case}\",\"n\":\"{}\",\"text\":\"ünï ✓ \\\"q\\\" <&> ';--\"}}", JobId::new())
    }

    async fn send<Q: CheckQueue + ?Sized>(queue: &Q, bodies: &[String]) {
        match queue.send_batch(bodies).await {
            Ok(failed) => assert!(
                failed.is_empty(),
                "CheckQueue::send_batch on a healthy queue must send every body, failed indices: {failed:?}"
            ),
            Err(e) => panic!("CheckQueue::send_batch must not fail on a healthy queue, got {e:?}"),
        }
    }

    async fn receive<Q: CheckQueue + ?Sized>(queue: &Q, max: usize, wait: Duration) -> Vec<Delivery> {
        match queue.receive(max, wait).await {
            Ok(deliveries) => {
                assert!(
                    deliveries.len() <= max,
                    "CheckQueue::receive must return at most `max` ({max}) messages, got {}",
                    deliveries.len()
                );
                deliveries
            }
            Err(e) => panic!("CheckQueue::receive must not fail on a healthy queue, got {e:?}"),
        }
    }

    /// Receives until `wanted` arrives or `within` has passed (real queues hand out fewer than
    /// asked, so one receive is never proof of absence).
    async fn receive_body<Q: CheckQueue + ?Sized>(queue: &Q, wanted: &str, within: Duration) -> Option<Delivery> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(found) = receive(queue, 10, POLL).await.into_iter().find(|d| d.body == wanted) {
                return Some(found);
            }
            if Instant::now() >= deadline {
                return None;
            }
        }
    }

    /// Receives until `count` messages arrived or `within` has passed.
    async fn receive_many<Q: CheckQueue + ?Sized>(queue: &Q, count: usize, within: Duration) -> Vec<Delivery> {
        let deadline = Instant::now() + within;
        let mut got = Vec::new();
        while got.len() < count && Instant::now() < deadline {
            got.extend(receive(queue, 10, POLL).await);
        }
        got
    }

    /// Receives for `during` and panics if `unwanted` shows up.
    async fn assert_not_received<Q: CheckQueue + ?Sized>(queue: &Q, unwanted: &str, during: Duration, why: &str) {
        let deadline = Instant::now() + during;
        while Instant::now() < deadline {
            let got = receive(queue, 10, POLL).await;
            assert!(got.iter().all(|d| d.body != unwanted), "{why}");
        }
    }

    /// A message sent with a delay is not received before it, and is received after it; one sent
    /// beside it without a delay is received at once.
    pub async fn delayed_message_is_received_only_after_its_delay<F: CheckQueueFixture>(fixture: &F) {
        let queue = fixture.queue();
        let now_body = body("delay-none");
        let later_body = body("delay-2s");
        let sent = queue
            .send_batch_delayed(&[(now_body.clone(), Duration::ZERO), (later_body.clone(), Duration::from_secs(2))])
            .await
            .expect("CheckQueue::send_batch_delayed must not fail on a healthy queue");
        assert!(sent.is_empty(), "CheckQueue::send_batch_delayed must send every message, failed: {sent:?}");
        let started = Instant::now();
        let first = receive_body(&*queue, &now_body, Duration::from_secs(5)).await;
        assert!(first.is_some(), "a message sent without a delay must be received at once");
        let early: Vec<Delivery> = receive(&*queue, 10, Duration::ZERO).await;
        if started.elapsed() < Duration::from_millis(1500) {
            assert!(
                early.iter().all(|d| d.body != later_body),
                "a delayed message must not be received before its delay"
            );
        }
        let later = receive_body(&*queue, &later_body, Duration::from_secs(10)).await;
        assert!(later.is_some(), "a delayed message must be received once its delay has passed");
        assert!(started.elapsed() >= Duration::from_millis(1500), "received {:?} after sending", started.elapsed());
    }

    /// A message sent in a trace is received with that trace (`tracestate` included), one sent in
    /// none with none; a message put back with `defer` keeps its trace.
    pub async fn a_message_keeps_the_trace_it_was_sent_in<F: CheckQueueFixture>(fixture: &F) {
        let queue = fixture.queue();
        let trace = crate::TraceContext::parse(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            Some("pricetrack=contract"),
        )
        .expect("a valid trace context");
        let traced = body("traced");
        let untraced = body("untraced");
        let sent = queue
            .send(&[
                crate::ports::OutgoingMessage::now(traced.clone()).in_trace(Some(trace.clone())),
                crate::ports::OutgoingMessage::now(untraced.clone()),
            ])
            .await
            .expect("CheckQueue::send must not fail on a healthy queue");
        assert!(sent.is_empty(), "CheckQueue::send must send every message, failed: {sent:?}");
        let got = receive_many(&*queue, 2, Duration::from_secs(15)).await;
        let first = got.iter().find(|d| d.body == traced).cloned().expect("the traced message must be received");
        assert_eq!(first.trace.as_ref(), Some(&trace), "a message must be received with the trace it was sent in");
        let other = got.iter().find(|d| d.body == untraced).cloned().expect("the untraced message must be received");
        assert_eq!(other.trace, None, "a message sent in no trace must be received in none");
        queue.ack(&other.receipt).await.expect("ack with a fresh receipt must succeed");
        queue.defer(&first, Duration::from_secs(1)).await.expect("defer of a fresh delivery must succeed");
        let again = receive_body(&*queue, &traced, Duration::from_secs(15)).await.expect("the deferred message");
        assert_eq!(again.trace.as_ref(), Some(&trace), "a deferred message must keep its trace");
        queue.ack(&again.receipt).await.expect("ack with a fresh receipt must succeed");
    }

    /// Sent bodies are received intact, each with `receive_count` 1 and its own receipt.
    pub async fn sent_messages_are_received<F: CheckQueueFixture>(fixture: &F) {
        let queue = fixture.queue();
        let mut bodies: Vec<String> = (0..3).map(|_| body("sent")).collect();
        send(&*queue, &bodies).await;
        let got = receive_many(&*queue, 3, Duration::from_secs(15)).await;
        let mut received: Vec<String> = got.iter().map(|d| d.body.clone()).collect();
        received.sort();
        bodies.sort();
        assert_eq!(received, bodies, "every sent body must be received once, byte for byte");
        assert!(got.iter().all(|d| d.receive_count == 1), "a first delivery must have receive_count 1");
        let receipts: BTreeSet<&str> = got.iter().map(|d| d.receipt.as_str()).collect();
        assert_eq!(receipts.len(), got.len(), "each delivery must carry its own receipt");
        for delivery in &got {
            queue.ack(&delivery.receipt).await.expect("ack with a fresh receipt must succeed");
        }
    }

    /// Sending an empty batch does nothing and fails nothing.
    pub async fn send_batch_of_nothing_is_a_no_op<F: CheckQueueFixture>(fixture: &F) {
        let queue = fixture.queue();
        let failed = queue.send_batch(&[]).await.expect("send_batch of no bodies must succeed");
        assert!(failed.is_empty(), "send_batch of no bodies must report no failure");
        let got = receive(&*queue, 10, Duration::ZERO).await;
        assert!(got.is_empty(), "send_batch of no bodies must enqueue nothing");
    }

    /// While its visibility lasts, a received message is not handed to another receive.
    pub async fn received_message_is_invisible_to_other_receives<F: CheckQueueFixture>(fixture: &F) {
        let queue = fixture.queue();
        let b = body("invisible");
        send(&*queue, std::slice::from_ref(&b)).await;
        receive_body(&*queue, &b, Duration::from_secs(15)).await.expect("a sent message must be received");
        let received_at = Instant::now();
        let again = receive(&*queue, 10, POLL).await;
        assert!(
            received_at.elapsed() < fixture.visibility_timeout(),
            "suite setup: the fixture's visibility timeout is too short for this check (use about 2 s)"
        );
        assert!(
            again.iter().all(|d| d.body != b),
            "a received message must be invisible to other receives while its visibility lasts"
        );
    }

    /// A message not acknowledged comes back once its visibility runs out, with `receive_count`
    /// 2 and a new receipt.
    pub async fn unacked_message_is_redelivered_after_visibility_timeout<F: CheckQueueFixture>(fixture: &F) {
        let queue = fixture.queue();
        let visibility = fixture.visibility_timeout();
        let b = body("redelivered");
        send(&*queue, std::slice::from_ref(&b)).await;
        let first = receive_body(&*queue, &b, Duration::from_secs(15)).await.expect("a sent message must be received");
        let received_at = Instant::now();
        let second = receive_body(&*queue, &b, visibility + Duration::from_secs(10))
            .await
            .expect("a message not acknowledged must be received again once its visibility runs out (guarantee 1)");
        assert!(
            received_at.elapsed() >= visibility / 2,
            "a message must not be redelivered long before its visibility runs out"
        );
        assert_eq!(second.receive_count, 2, "a redelivery must have receive_count 2");
        assert_ne!(second.receipt, first.receipt, "each receive must issue a new receipt");
        queue.ack(&second.receipt).await.expect("ack with the newest receipt must succeed");
    }

    /// `extend` keeps a message invisible past its original visibility.
    pub async fn extend_keeps_message_invisible_past_original_timeout<F: CheckQueueFixture>(fixture: &F) {
        let queue = fixture.queue();
        let visibility = fixture.visibility_timeout();
        let b = body("extended");
        send(&*queue, std::slice::from_ref(&b)).await;
        let first = receive_body(&*queue, &b, Duration::from_secs(15)).await.expect("a sent message must be received");
        let received_at = Instant::now();
        queue.extend(&first.receipt, visibility * 4).await.expect("extend with a current receipt must succeed");
        sleep(visibility + Duration::from_millis(500)).await;
        let during = receive(&*queue, 10, POLL).await;
        assert!(
            received_at.elapsed() < visibility * 4,
            "suite setup: the check ran too slowly to say anything about extend"
        );
        assert!(
            during.iter().all(|d| d.body != b),
            "extend must keep the message invisible past its original visibility timeout"
        );
        queue.ack(&first.receipt).await.expect("ack with the receipt of an extended message must succeed");
    }

    /// An acknowledged message is never received again.
    pub async fn acked_message_is_never_received_again<F: CheckQueueFixture>(fixture: &F) {
        let queue = fixture.queue();
        let b = body("acked");
        send(&*queue, std::slice::from_ref(&b)).await;
        let first = receive_body(&*queue, &b, Duration::from_secs(15)).await.expect("a sent message must be received");
        queue.ack(&first.receipt).await.expect("ack with a fresh receipt must succeed");
        assert_not_received(
            &*queue,
            &b,
            fixture.visibility_timeout() + Duration::from_secs(2),
            "an acknowledged message must never be received again",
        )
        .await;
    }

    /// A message received `max_receive_count` times is not delivered again: it lands in the
    /// dead-letter queue.
    pub async fn message_received_too_often_goes_to_dead_letter_queue<F: CheckQueueFixture>(fixture: &F) {
        let queue = fixture.queue();
        let visibility = fixture.visibility_timeout();
        let max = fixture.max_receive_count();
        let b = body("dead-letter");
        send(&*queue, std::slice::from_ref(&b)).await;
        for n in 1..=max {
            let delivery = receive_body(&*queue, &b, visibility + Duration::from_secs(10))
                .await
                .unwrap_or_else(|| panic!("receive {n} of at most {max} must deliver the message"));
            assert_eq!(delivery.receive_count, n, "receive_count must count the deliveries");
        }
        assert_not_received(
            &*queue,
            &b,
            visibility + Duration::from_secs(3),
            "a message received max_receive_count times must not be delivered again",
        )
        .await;
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let dead = fixture.dead_letter_bodies().await;
            let copies = dead.iter().filter(|d| **d == b).count();
            if copies > 0 {
                assert_eq!(copies, 1, "a message must land in the dead-letter queue once");
                break;
            }
            assert!(
                Instant::now() < deadline,
                "a message received max_receive_count times must land in the dead-letter queue"
            );
            sleep(Duration::from_millis(500)).await;
        }
    }

    /// On an empty queue, `receive` returns nothing within about `wait` (and at once for zero).
    pub async fn receive_on_empty_queue_returns_within_about_wait<F: CheckQueueFixture>(fixture: &F) {
        let queue = fixture.queue();
        let started = Instant::now();
        let got = receive(&*queue, 10, POLL).await;
        assert!(got.is_empty(), "a fresh queue must be empty");
        assert!(
            started.elapsed() <= POLL + Duration::from_secs(2),
            "receive on an empty queue must return within about its wait, took {:?}",
            started.elapsed()
        );
        let started = Instant::now();
        let got = receive(&*queue, 10, Duration::ZERO).await;
        assert!(got.is_empty(), "a fresh queue must be empty");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "receive with no wait must return at once, took {:?}",
            started.elapsed()
        );
    }

    /// A message sent while `receive` waits is returned as soon as it arrives.
    pub async fn receive_returns_a_message_sent_while_waiting<F: CheckQueueFixture>(fixture: &F) {
        let queue = fixture.queue();
        let b = body("while-waiting");
        let sender = {
            let queue = Arc::clone(&queue);
            let b = b.clone();
            tokio::spawn(async move {
                sleep(Duration::from_millis(300)).await;
                queue.send_batch(&[b]).await
            })
        };
        let started = Instant::now();
        let wait = Duration::from_secs(5);
        let got = receive(&*queue, 1, wait).await;
        let elapsed = started.elapsed();
        let sent = sender.await.expect("the sending task panicked");
        assert!(matches!(sent.as_deref(), Ok([])), "send_batch on a healthy queue must send every body, got {sent:?}");
        assert!(got.iter().any(|d| d.body == b), "receive must return a message that arrives while it waits");
        assert!(
            elapsed < wait - Duration::from_secs(1),
            "receive must return as soon as a message arrives, not sit out its wait (took {elapsed:?})"
        );
    }

    /// `receive` returns at most `max`; a batch of 25 (more than SQS takes at once) is sent
    /// whole and received once each.
    pub async fn receive_returns_at_most_max<F: CheckQueueFixture>(fixture: &F) {
        let queue = fixture.queue();
        let mut bodies: Vec<String> = (0..25).map(|_| body("batch")).collect();
        send(&*queue, &bodies).await;
        let mut got = receive(&*queue, 3, POLL).await;
        got.extend(receive(&*queue, 1, POLL).await);
        got.extend(receive_many(&*queue, 25 - got.len(), Duration::from_secs(20)).await);
        let mut received: Vec<String> = got.into_iter().map(|d| d.body).collect();
        received.sort();
        bodies.sort();
        assert_eq!(received, bodies, "every body of a 25-message batch must be received exactly once");
    }

    /// `ack` and `extend` with a receipt the queue never issued fail with an error (no panic,
    /// no silent success).
    pub async fn ack_and_extend_with_bogus_receipt_fail<F: CheckQueueFixture>(fixture: &F) {
        let queue = fixture.queue();
        let ack = queue.ack("bogus-receipt").await;
        assert!(ack.is_err(), "ack with a receipt the queue never issued must be an error, got {ack:?}");
        let extend = queue.extend("bogus-receipt", fixture.visibility_timeout()).await;
        assert!(extend.is_err(), "extend with a receipt the queue never issued must be an error, got {extend:?}");
    }
}

/// Expands to one `#[tokio::test]` per case of [`testing::job_store`](crate::testing::job_store).
///
/// The argument is an expression evaluated afresh by every test; its value is a future that
/// resolves to a [`JobStoreFixture`](crate::testing::JobStoreFixture) (an `Arc` of the store, or
/// a struct that also keeps a temporary directory alive). The invoking crate needs `tokio` as a
/// dev-dependency.
#[macro_export]
macro_rules! job_store_contract_tests {
    (@cases ($fixture:expr) $($case:ident),+ $(,)?) => {$(
        #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $case() {
            let fixture = $fixture.await;
            $crate::testing::job_store::$case(&fixture).await;
        }
    )+};
    ($fixture:expr $(,)?) => {
        $crate::job_store_contract_tests!(@cases ($fixture)
            create_then_get_round_trips_every_field,
            create_with_taken_id_is_already_exists,
            get_with_another_users_id_finds_nothing,
            list_pages_hold_every_job_once_oldest_first,
            list_shows_only_the_users_own_jobs,
            list_with_invalid_cursor_is_invalid_cursor,
            delete_removes_once_and_only_for_the_owner,
            delete_all_removes_only_that_users_jobs,
            claim_due_claims_only_due_jobs_and_leases_them,
            claim_due_twice_at_same_time_hands_out_nothing_twice,
            claim_due_respects_limit,
            concurrent_claim_due_hands_each_job_out_once,
            claim_due_reclaims_after_lease_expires,
            record_check_with_current_version_applies,
            record_check_of_an_unpriced_check_keeps_the_last_price,
            record_check_with_stale_version_changes_nothing,
            record_check_on_deleted_job_is_gone_and_does_not_recreate,
            concurrent_record_checks_have_one_winner,
            clear_pending_alert_with_its_id_clears_without_bumping_version,
            clear_pending_alert_with_another_id_keeps_the_alert,
            clear_pending_alert_on_deleted_job_is_gone_and_does_not_recreate,
            observations_are_newest_first_and_limited,
            delete_removes_observations,
            history_is_run_length_and_counts_checks,
            history_filters_by_time_and_pages,
            history_older_than_retention_is_not_returned,
            update_is_conditional_on_the_version,
            update_stores_an_edit_of_the_alerting_settings,
            paused_job_is_never_claimed_until_resumed,
            create_idempotent_creates_once_per_user_and_key,
            delete_all_forgets_idempotency_keys,
            list_newest_first_pages_hold_every_job_once,
            ping_succeeds,
        );
    };
}

/// Expands to one `#[tokio::test]` per case of [`testing::user_store`](crate::testing::user_store).
///
/// The argument is an expression evaluated afresh by every test; its value is a future that
/// resolves to a [`UserStoreFixture`](crate::testing::UserStoreFixture). The invoking crate needs
/// `tokio` as a dev-dependency.
#[macro_export]
macro_rules! user_store_contract_tests {
    (@cases ($fixture:expr) $($case:ident),+ $(,)?) => {$(
        #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $case() {
            let fixture = $fixture.await;
            $crate::testing::user_store::$case(&fixture).await;
        }
    )+};
    ($fixture:expr $(,)?) => {
        $crate::user_store_contract_tests!(@cases ($fixture)
            create_then_get_and_find_by_email_round_trip,
            second_account_with_same_email_is_duplicate,
            concurrent_sign_ups_with_one_email_have_one_winner,
            unknown_user_is_none,
            ping_succeeds,
            set_password_hash_replaces_only_that_users,
            delete_removes_the_user_once_and_frees_the_email,
        );
    };
}

/// Expands to one `#[tokio::test]` per case of
/// [`testing::session_store`](crate::testing::session_store).
///
/// The argument is an expression evaluated afresh by every test; its value is a future that
/// resolves to a [`SessionStoreFixture`](crate::testing::SessionStoreFixture). The invoking crate
/// needs `tokio` as a dev-dependency.
#[macro_export]
macro_rules! session_store_contract_tests {
    (@cases ($fixture:expr) $($case:ident),+ $(,)?) => {$(
        #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $case() {
            let fixture = $fixture.await;
            $crate::testing::session_store::$case(&fixture).await;
        }
    )+};
    ($fixture:expr $(,)?) => {
        $crate::session_store_contract_tests!(@cases ($fixture)
            created_session_is_live,
            expired_session_is_not_live,
            revoke_ends_one_session,
            revoke_all_keeps_one_and_spares_other_users,
            deleting_the_user_ends_their_sessions,
        );
    };
}

/// Expands to one `#[tokio::test]` per case of [`testing::check_queue`](crate::testing::check_queue).
///
/// The argument is an expression evaluated afresh by every test; its value is a future that
/// resolves to a [`CheckQueueFixture`](crate::testing::CheckQueueFixture) with a short visibility
/// timeout (about 2 s) and a small maximum receive count (about 3). The invoking crate needs
/// `tokio` as a dev-dependency.
#[macro_export]
macro_rules! check_queue_contract_tests {
    (@cases ($fixture:expr) $($case:ident),+ $(,)?) => {$(
        #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $case() {
            let fixture = $fixture.await;
            $crate::testing::check_queue::$case(&fixture).await;
        }
    )+};
    ($fixture:expr $(,)?) => {
        $crate::check_queue_contract_tests!(@cases ($fixture)
            sent_messages_are_received,
            a_message_keeps_the_trace_it_was_sent_in,
            delayed_message_is_received_only_after_its_delay,
            send_batch_of_nothing_is_a_no_op,
            received_message_is_invisible_to_other_receives,
            unacked_message_is_redelivered_after_visibility_timeout,
            extend_keeps_message_invisible_past_original_timeout,
            acked_message_is_never_received_again,
            message_received_too_often_goes_to_dead_letter_queue,
            receive_on_empty_queue_returns_within_about_wait,
            receive_returns_a_message_sent_while_waiting,
            receive_returns_at_most_max,
            ack_and_extend_with_bogus_receipt_fail,
        );
    };
}
