//! The worker pool end to end: SQLite jobs and queue, a local shop, a recording notifier.

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use pricetrack_domain::CheckRequest;
use pricetrack_domain::JobKey;
use pricetrack_domain::ports::{
    CheckQueue, ClaimedJob, Delivery, IdempotentCreate, JobStore, ListOrder, OutgoingMessage, Page, PageRequest,
    QueueError, StoreError, WriteOutcome,
};
use pricetrack_domain::{AlertId, HistoryQuery, Job, Observation, PricePoint, Timestamp, UserId};
use pricetrack_embedded::QueueSettings;
use pricetrack_scraper::{WorkerSettings, run_workers};
use support::{Env, RecordingNotifier, Shop, checker, eventually};
use tokio_util::sync::CancellationToken;

fn settings(workers: usize, visibility: Duration) -> WorkerSettings {
    WorkerSettings {
        workers,
        visibility_timeout: visibility,
        receive_wait: Duration::from_millis(100),
        shutdown_grace: Duration::from_secs(10),
    }
}

fn sqlite_queue(env: &Env, visibility: Duration, max_receive_count: u32) -> Arc<pricetrack_embedded::SqliteCheckQueue> {
    Arc::new(env.db.queue(QueueSettings { visibility_timeout: visibility, max_receive_count }))
}

/// Claims every due job and sends one request per job.
async fn enqueue_due(env: &Env, queue: &dyn CheckQueue) -> usize {
    let claimed = env.claim_at(chrono::Utc::now()).await;
    let bodies: Vec<String> = claimed.iter().map(|c| CheckRequest::new(c.key, c.version).to_json()).collect();
    assert!(queue.send_batch(&bodies).await.expect("send").is_empty());
    bodies.len()
}

async fn checked_jobs(env: &Env, keys: &[JobKey]) -> usize {
    let mut n = 0;
    for key in keys {
        if env.job(*key).await.is_some_and(|j| j.last_checked_at.is_some()) {
            n += 1;
        }
    }
    n
}

async fn create_jobs(env: &Env, shop: &Shop, n: usize) -> Vec<JobKey> {
    let mut keys = Vec::new();
    for _ in 0..n {
        keys.push(env.create_job(shop.url(), "80").await.key());
    }
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_are_processed_and_acknowledged() {
    let env = Env::new().await;
    let shop = Shop::start().await;
    shop.set_price(Some("49.99"));
    let keys = create_jobs(&env, &shop, 7).await;
    let visibility = Duration::from_secs(1);
    let queue = sqlite_queue(&env, visibility, 3);
    assert_eq!(enqueue_due(&env, queue.as_ref()).await, 7);
    let notifier = Arc::new(RecordingNotifier::default());
    let shutdown = CancellationToken::new();
    let pool = tokio::spawn(run_workers(
        queue.clone(),
        Arc::new(checker(&env, &notifier)),
        settings(3, visibility),
        shutdown.clone(),
    ));

    assert!(eventually(Duration::from_secs(20), || async { checked_jobs(&env, &keys).await == 7 }).await);
    assert!(eventually(Duration::from_secs(5), || async { notifier.alerts().len() == 7 }).await);
    // Past the visibility timeout: an unacknowledged message would be back by now.
    tokio::time::sleep(visibility + Duration::from_millis(300)).await;
    shutdown.cancel();
    pool.await.expect("pool ends");

    assert_eq!(shop.hits(), 7);
    assert_eq!(notifier.alerts().len(), 7);
    assert!(queue.receive(10, Duration::from_millis(50)).await.expect("receive").is_empty());
    assert!(queue.dead_letters().await.expect("dlq").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_message_is_never_acknowledged_and_ends_in_the_dead_letter_queue() {
    let env = Env::new().await;
    let shop = Shop::start().await;
    shop.set_price(Some("90"));
    let keys = create_jobs(&env, &shop, 3).await;
    let visibility = Duration::from_millis(300);
    let queue = sqlite_queue(&env, visibility, 2);
    let malformed = "not a check request: jane.doe@example.com".to_owned();
    assert!(queue.send_batch(std::slice::from_ref(&malformed)).await.expect("send").is_empty());
    assert_eq!(enqueue_due(&env, queue.as_ref()).await, 3);
    let notifier = Arc::new(RecordingNotifier::default());
    let shutdown = CancellationToken::new();
    let pool = tokio::spawn(run_workers(
        queue.clone(),
        Arc::new(checker(&env, &notifier)),
        settings(2, visibility),
        shutdown.clone(),
    ));

    assert!(eventually(Duration::from_secs(20), || async { checked_jobs(&env, &keys).await == 3 }).await);
    assert!(
        eventually(Duration::from_secs(20), || async { !queue.dead_letters().await.expect("dlq").is_empty() }).await,
        "the malformed message reaches the dead-letter queue"
    );
    shutdown.cancel();
    pool.await.expect("pool survives malformed messages and ends on shutdown");

    let dead = queue.dead_letters().await.expect("dlq");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0], malformed);
    assert_eq!(shop.hits(), 3);
    assert!(queue.receive(10, Duration::from_millis(50)).await.expect("receive").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_slower_than_the_visibility_timeout_is_processed_once() {
    let env = Env::new().await;
    let shop = Shop::start().await;
    shop.set_price(Some("49.99"));
    shop.set_delay(Duration::from_secs(3));
    let keys = create_jobs(&env, &shop, 1).await;
    let visibility = Duration::from_secs(1);
    let queue = sqlite_queue(&env, visibility, 5);
    enqueue_due(&env, queue.as_ref()).await;
    let notifier = Arc::new(RecordingNotifier::default());
    let shutdown = CancellationToken::new();
    let pool = tokio::spawn(run_workers(
        queue.clone(),
        Arc::new(checker(&env, &notifier)),
        settings(3, visibility),
        shutdown.clone(),
    ));

    assert!(eventually(Duration::from_secs(15), || async { checked_jobs(&env, &keys).await == 1 }).await);
    tokio::time::sleep(visibility + Duration::from_millis(500)).await;
    shutdown.cancel();
    pool.await.expect("pool ends");

    assert_eq!(shop.hits(), 1, "the heartbeat kept the message from a second worker");
    assert_eq!(notifier.alerts().len(), 1);
    assert!(queue.receive(10, Duration::from_millis(50)).await.expect("receive").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_waits_for_the_check_in_flight() {
    let env = Env::new().await;
    let shop = Shop::start().await;
    shop.set_price(Some("49.99"));
    shop.set_delay(Duration::from_secs(2));
    let keys = create_jobs(&env, &shop, 1).await;
    let visibility = Duration::from_secs(5);
    let queue = sqlite_queue(&env, visibility, 5);
    enqueue_due(&env, queue.as_ref()).await;
    let notifier = Arc::new(RecordingNotifier::default());
    let shutdown = CancellationToken::new();
    let pool = tokio::spawn(run_workers(
        queue.clone(),
        Arc::new(checker(&env, &notifier)),
        settings(3, visibility),
        shutdown.clone(),
    ));

    assert!(eventually(Duration::from_secs(10), || async { shop.hits() == 1 }).await);
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(10), pool).await.expect("within grace").expect("pool ends");

    assert_eq!(checked_jobs(&env, &keys).await, 1, "the check finished before the pool returned");
    assert_eq!(notifier.alerts().len(), 1);
    // Acknowledged before returning: it does not come back after its visibility.
    let fresh = sqlite_queue(&env, Duration::from_millis(100), 5);
    tokio::time::sleep(visibility).await;
    assert!(fresh.receive(10, Duration::from_millis(50)).await.expect("receive").is_empty());
}

/// Wraps a queue: checks that the pool never holds more messages than it has workers, and can
/// fail every receive.
struct WatchedQueue {
    inner: Arc<dyn CheckQueue>,
    workers: usize,
    outstanding: AtomicUsize,
    overcommitted: AtomicBool,
    asked: Mutex<Vec<usize>>,
    fail_receives: AtomicBool,
    receives: AtomicUsize,
}

impl WatchedQueue {
    fn new(inner: Arc<dyn CheckQueue>, workers: usize) -> Self {
        Self {
            inner,
            workers,
            outstanding: AtomicUsize::new(0),
            overcommitted: AtomicBool::new(false),
            asked: Mutex::new(Vec::new()),
            fail_receives: AtomicBool::new(false),
            receives: AtomicUsize::new(0),
        }
    }
}

#[async_trait]
impl CheckQueue for WatchedQueue {
    async fn send(&self, messages: &[OutgoingMessage]) -> Result<Vec<usize>, QueueError> {
        self.inner.send(messages).await
    }

    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, QueueError> {
        self.receives.fetch_add(1, Ordering::SeqCst);
        if self.fail_receives.load(Ordering::SeqCst) {
            return Err(QueueError::Backend("queue is down".into()));
        }
        self.asked.lock().expect("lock").push(max);
        if self.outstanding.load(Ordering::SeqCst) + max > self.workers || max > 10 {
            self.overcommitted.store(true, Ordering::SeqCst);
        }
        let got = self.inner.receive(max, wait).await?;
        self.outstanding.fetch_add(got.len(), Ordering::SeqCst);
        Ok(got)
    }

    async fn extend(&self, receipt: &str, visibility: Duration) -> Result<(), QueueError> {
        self.inner.extend(receipt, visibility).await
    }

    async fn ack(&self, receipt: &str) -> Result<(), QueueError> {
        self.inner.ack(receipt).await?;
        self.outstanding.fetch_sub(1, Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pool_never_receives_more_than_it_has_free_workers() {
    let env = Env::new().await;
    let shop = Shop::start().await;
    shop.set_price(Some("90"));
    shop.set_delay(Duration::from_millis(300));
    let keys = create_jobs(&env, &shop, 8).await;
    let visibility = Duration::from_secs(5);
    let sqlite = sqlite_queue(&env, visibility, 5);
    enqueue_due(&env, sqlite.as_ref()).await;
    let queue = Arc::new(WatchedQueue::new(sqlite, 2));
    let notifier = Arc::new(RecordingNotifier::default());
    let shutdown = CancellationToken::new();
    let pool = tokio::spawn(run_workers(
        queue.clone(),
        Arc::new(checker(&env, &notifier)),
        settings(2, visibility),
        shutdown.clone(),
    ));

    assert!(eventually(Duration::from_secs(20), || async { checked_jobs(&env, &keys).await == 8 }).await);
    shutdown.cancel();
    pool.await.expect("pool ends");
    assert!(!queue.overcommitted.load(Ordering::SeqCst), "asked: {:?}", queue.asked.lock().expect("lock"));
    assert_eq!(shop.hits(), 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receive_errors_back_off_and_the_pool_keeps_going() {
    let env = Env::new().await;
    let shop = Shop::start().await;
    shop.set_price(Some("90"));
    let keys = create_jobs(&env, &shop, 1).await;
    let visibility = Duration::from_secs(5);
    let sqlite = sqlite_queue(&env, visibility, 5);
    enqueue_due(&env, sqlite.as_ref()).await;
    let queue = Arc::new(WatchedQueue::new(sqlite, 2));
    queue.fail_receives.store(true, Ordering::SeqCst);
    let notifier = Arc::new(RecordingNotifier::default());
    let shutdown = CancellationToken::new();
    let pool = tokio::spawn(run_workers(
        queue.clone(),
        Arc::new(checker(&env, &notifier)),
        settings(2, visibility),
        shutdown.clone(),
    ));

    // 100 + 200 + 400 + 800 ms of back-off: about 4 receives in 1.2 s, not thousands.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let failed_receives = queue.receives.load(Ordering::SeqCst);
    assert!((2..=6).contains(&failed_receives), "{failed_receives} receives");
    assert!(!pool.is_finished(), "receive errors never stop the pool");

    queue.fail_receives.store(false, Ordering::SeqCst);
    assert!(eventually(Duration::from_secs(10), || async { checked_jobs(&env, &keys).await == 1 }).await);
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), pool).await.expect("prompt shutdown").expect("pool ends");
}

/// A job store whose reads fail while `down` is set (as DynamoDB does during an outage), and
/// that counts the reads.
struct FlakyJobStore {
    inner: Arc<dyn JobStore>,
    down: AtomicBool,
    reads: AtomicUsize,
}

#[async_trait]
impl JobStore for FlakyJobStore {
    async fn create(&self, job: &Job) -> Result<(), StoreError> {
        self.inner.create(job).await
    }

    async fn get(&self, key: JobKey) -> Result<Option<Job>, StoreError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError::Backend("the job store is down".into()));
        }
        self.inner.get(key).await
    }

    async fn list(&self, user_id: UserId, page: &PageRequest) -> Result<Page<Job>, StoreError> {
        self.inner.list(user_id, page).await
    }

    async fn delete(&self, key: JobKey) -> Result<bool, StoreError> {
        self.inner.delete(key).await
    }

    async fn delete_all(&self, user_id: UserId) -> Result<u64, StoreError> {
        self.inner.delete_all(user_id).await
    }

    async fn claim_due(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: usize,
    ) -> Result<Vec<ClaimedJob>, StoreError> {
        self.inner.claim_due(now, lease_until, limit).await
    }

    async fn record_check(
        &self,
        job: &Job,
        expected_version: u64,
        observation: Option<&Observation>,
    ) -> Result<WriteOutcome, StoreError> {
        self.inner.record_check(job, expected_version, observation).await
    }

    async fn clear_pending_alert(&self, key: JobKey, alert_id: AlertId) -> Result<WriteOutcome, StoreError> {
        self.inner.clear_pending_alert(key, alert_id).await
    }

    async fn history(&self, key: JobKey, query: &HistoryQuery) -> Result<Page<PricePoint>, StoreError> {
        self.inner.history(key, query).await
    }

    async fn create_idempotent(
        &self,
        job: &Job,
        idempotency_key: &str,
        response: &str,
        now: Timestamp,
    ) -> Result<IdempotentCreate, StoreError> {
        self.inner.create_idempotent(job, idempotency_key, response, now).await
    }

    async fn list_ordered(
        &self,
        user_id: UserId,
        page: &PageRequest,
        order: ListOrder,
    ) -> Result<Page<Job>, StoreError> {
        self.inner.list_ordered(user_id, page, order).await
    }

    async fn update(&self, job: &Job, expected_version: u64) -> Result<WriteOutcome, StoreError> {
        self.inner.update(job, expected_version).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_store_outage_pauses_receiving_and_loses_nothing() {
    let env = Env::new().await;
    let shop = Shop::start().await;
    shop.set_price(Some("90"));
    let keys = create_jobs(&env, &shop, 6).await;
    // A short visibility: without a pause, every failed message would be back and failing again
    // five times a second.
    let visibility = Duration::from_millis(200);
    let sqlite = sqlite_queue(&env, visibility, 1_000);
    enqueue_due(&env, sqlite.as_ref()).await;
    let queue = Arc::new(WatchedQueue::new(sqlite, 3));
    let store = Arc::new(FlakyJobStore {
        inner: Arc::clone(&env.jobs),
        down: AtomicBool::new(true),
        reads: AtomicUsize::new(0),
    });
    let notifier = Arc::new(RecordingNotifier::default());
    let checker = pricetrack_scraper::Checker::new(
        Arc::clone(&store) as Arc<dyn JobStore>,
        Arc::clone(&notifier) as Arc<dyn pricetrack_domain::ports::Notifier>,
        support::local_fetcher(),
        pricetrack_domain::SchedulePolicy::default(),
    );
    let shutdown = CancellationToken::new();
    let pool = tokio::spawn(run_workers(queue.clone(), Arc::new(checker), settings(3, visibility), shutdown.clone()));

    // 3 s of outage: churning would read the store about 90 times (6 messages every 200 ms);
    // pausing with a doubling back-off and one probe message at a time reads it a dozen times.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let reads = store.reads.load(Ordering::SeqCst);
    assert!((1..=20).contains(&reads), "{reads} store reads during the outage");
    assert_eq!(checked_jobs(&env, &keys).await, 0);
    assert!(!pool.is_finished(), "an outage never stops the pool");

    // The store is back: every message is checked (none was lost), at full batch size again.
    store.down.store(false, Ordering::SeqCst);
    assert!(eventually(Duration::from_secs(20), || async { checked_jobs(&env, &keys).await == 6 }).await);
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), pool).await.expect("prompt shutdown").expect("pool ends");
    assert_eq!(shop.hits(), 6, "each job fetched once: none was checked during the outage");
}
