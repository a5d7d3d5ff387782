//! The rescheduler against real SQLite (jobs and queue).

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use pricetrack_domain::ports::{CheckQueue, Delivery, JobStore, OutgoingMessage, QueueError, UserStore};
use pricetrack_domain::{
    CheckInterval, CheckRequest, Email, Job, JobKey, NewJob, PasswordHash, ProductUrl, SchedulePolicy, TargetPrice,
    Timestamp, User, UserId,
};
use pricetrack_embedded::{Database, QueueSettings, SqliteCheckQueue};
use pricetrack_rescheduler::{RunReport, run_every, run_once};
use tokio_util::sync::CancellationToken;

struct Env {
    jobs: Arc<dyn JobStore>,
    queue: Arc<SqliteCheckQueue>,
    user: UserId,
    policy: SchedulePolicy,
    _dir: tempfile::TempDir,
}

impl Env {
    async fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Database::open(&dir.path().join("pricetrack.db")).await.expect("open");
        let user = User {
            id: UserId::new(),
            email: Email::parse("owner@example.com").expect("email"),
            created_at: chrono::Utc::now(),
        };
        db.users().create(&user, &PasswordHash::new("$argon2id$v=19$x".into())).await.expect("user");
        let queue =
            Arc::new(db.queue(QueueSettings { visibility_timeout: Duration::from_secs(30), max_receive_count: 5 }));
        Self { jobs: Arc::new(db.jobs()), queue, user: user.id, policy: SchedulePolicy::default(), _dir: dir }
    }

    /// A job first due at `due`.
    async fn job_due_at(&self, due: Timestamp) -> Job {
        self.job_at_url_due_at("https://shop.example/p/1", due).await
    }

    /// A job for `url`, first due at `due`.
    async fn job_at_url_due_at(&self, url: &str, due: Timestamp) -> Job {
        let job = Job::create(
            self.user,
            NewJob {
                url: ProductUrl::parse(url).expect("url"),
                target_price: TargetPrice::parse("80").expect("target"),
                currency: None,
                check_interval: CheckInterval::new(3600, &self.policy).expect("interval"),
                price_selector: None,
            },
            chrono::Utc::now(),
            due,
        );
        self.jobs.create(&job).await.expect("create");
        job
    }

    async fn run(&self, now: Timestamp, batch_limit: usize) -> RunReport {
        run_once(self.jobs.as_ref(), self.queue.as_ref(), now, &self.policy, batch_limit).await.expect("run")
    }

    /// Every queued request (received, then acknowledged).
    async fn drain(&self) -> Vec<CheckRequest> {
        let mut out = Vec::new();
        loop {
            let got = self.queue.receive(10, Duration::from_millis(20)).await.expect("receive");
            if got.is_empty() {
                return out;
            }
            for delivery in got {
                out.push(CheckRequest::from_json(&delivery.body).expect("well-formed"));
                self.queue.ack(&delivery.receipt).await.expect("ack");
            }
        }
    }
}

fn secs(n: i64) -> chrono::Duration {
    chrono::Duration::seconds(n)
}

#[tokio::test]
async fn due_jobs_are_queued_once_with_their_claimed_version() {
    let env = Env::new().await;
    let now = chrono::Utc::now();
    let mut due = HashSet::new();
    for _ in 0..23 {
        due.insert(env.job_due_at(now - secs(10)).await.key());
    }

    let report = env.run(now, 10).await;
    assert_eq!(report, RunReport { claimed: 23, sent: 23, failed: 0 });
    let requests = env.drain().await;
    assert_eq!(requests.len(), 23);
    assert_eq!(requests.iter().map(CheckRequest::key).collect::<HashSet<_>>(), due);
    for request in &requests {
        let job = env.jobs.get(request.key()).await.expect("get").expect("job");
        assert_eq!(request.job_version, job.version, "the request carries the claim's version");
        let lease_until = now + chrono::Duration::from_std(env.policy.lease).expect("lease");
        assert_eq!(job.next_check_at.timestamp_millis(), lease_until.timestamp_millis());
    }

    // Runs within the lease find nothing to do.
    assert_eq!(env.run(now, 10).await, RunReport::default());
    assert_eq!(env.run(now + secs(60), 10).await, RunReport::default());
    assert!(env.drain().await.is_empty());
}

#[tokio::test]
async fn overlapping_runs_never_queue_a_job_twice() {
    let env = Env::new().await;
    let now = chrono::Utc::now();
    for _ in 0..40 {
        env.job_due_at(now - secs(5)).await;
    }

    let (a, b, c) = tokio::join!(env.run(now, 3), env.run(now, 4), env.run(now + secs(1), 7));
    assert_eq!(a.claimed + b.claimed + c.claimed, 40, "{a:?} {b:?} {c:?}");
    assert_eq!(a.sent + b.sent + c.sent, 40);
    let requests = env.drain().await;
    assert_eq!(requests.len(), 40);
    let distinct: HashSet<JobKey> = requests.iter().map(CheckRequest::key).collect();
    assert_eq!(distinct.len(), 40, "no job queued twice");
}

#[tokio::test]
async fn overlapping_runs_from_separate_tasks_never_queue_a_job_twice() {
    let env = Arc::new(Env::new().await);
    let now = chrono::Utc::now();
    for _ in 0..30 {
        env.job_due_at(now - secs(5)).await;
    }
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let env = Arc::clone(&env);
            tokio::spawn(async move { env.run(now, 2).await })
        })
        .collect();
    let mut claimed = 0;
    for run in runs {
        claimed += run.await.expect("task").claimed;
    }
    assert_eq!(claimed, 30);
    let requests = env.drain().await;
    assert_eq!(requests.iter().map(CheckRequest::key).collect::<HashSet<_>>().len(), 30);
    assert_eq!(requests.len(), 30);
}

#[tokio::test]
async fn jobs_not_due_are_not_touched() {
    let env = Env::new().await;
    let now = chrono::Utc::now();
    let later = env.job_due_at(now + secs(600)).await;
    let due = env.job_due_at(now).await;

    assert_eq!(env.run(now, 10).await.claimed, 1);
    let untouched = env.jobs.get(later.key()).await.expect("get").expect("job");
    assert_eq!(untouched.version, later.version, "a job not due is not claimed");
    assert_eq!(untouched.next_check_at.timestamp_millis(), later.next_check_at.timestamp_millis());
    let requests = env.drain().await;
    assert_eq!(requests.iter().map(CheckRequest::key).collect::<Vec<_>>(), vec![due.key()]);
}

#[tokio::test]
async fn a_claimed_job_whose_check_never_happened_is_due_again_after_the_lease() {
    let env = Env::new().await;
    let now = chrono::Utc::now();
    let job = env.job_due_at(now).await;
    let lease = chrono::Duration::from_std(env.policy.lease).expect("lease");

    assert_eq!(env.run(now, 10).await.claimed, 1);
    let first = env.drain().await; // the request is lost: the worker died, say
    assert_eq!(first.len(), 1);

    assert_eq!(env.run(now + lease - secs(1), 10).await.claimed, 0, "still leased");
    assert_eq!(env.run(now + lease, 10).await.claimed, 1, "due again when the lease ends");
    let second = env.drain().await;
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].key(), job.key());
    assert!(second[0].job_version > first[0].job_version, "the old request is now stale");
}

/// A queue that fails sends on demand and records batch sizes.
struct FlakyQueue {
    inner: Arc<SqliteCheckQueue>,
    down: AtomicBool,
    reject_first_of_each_batch: AtomicBool,
    batch_sizes: Mutex<Vec<usize>>,
}

#[async_trait]
impl CheckQueue for FlakyQueue {
    async fn send(&self, messages: &[OutgoingMessage]) -> Result<Vec<usize>, QueueError> {
        self.batch_sizes.lock().expect("lock").push(messages.len());
        if self.down.load(Ordering::SeqCst) {
            return Err(QueueError::Backend("queue is down".into()));
        }
        if self.reject_first_of_each_batch.load(Ordering::SeqCst) {
            let failed = self.inner.send(&messages[1..]).await?;
            assert!(failed.is_empty());
            return Ok(vec![0]);
        }
        self.inner.send(messages).await
    }
    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, QueueError> {
        self.inner.receive(max, wait).await
    }
    async fn extend(&self, receipt: &str, visibility: Duration) -> Result<(), QueueError> {
        self.inner.extend(receipt, visibility).await
    }
    async fn ack(&self, receipt: &str) -> Result<(), QueueError> {
        self.inner.ack(receipt).await
    }
}

#[tokio::test]
async fn sends_go_in_batches_of_ten_and_failed_sends_are_left_to_the_lease() {
    let env = Env::new().await;
    let now = chrono::Utc::now();
    for _ in 0..25 {
        env.job_due_at(now).await;
    }
    let queue = FlakyQueue {
        inner: Arc::clone(&env.queue),
        down: AtomicBool::new(false),
        reject_first_of_each_batch: AtomicBool::new(true),
        batch_sizes: Mutex::new(Vec::new()),
    };

    let report = run_once(env.jobs.as_ref(), &queue, now, &env.policy, 25).await.expect("run");
    assert_eq!(report, RunReport { claimed: 25, sent: 22, failed: 3 });
    assert_eq!(*queue.batch_sizes.lock().expect("lock"), vec![10, 10, 5]);
    assert_eq!(env.drain().await.len(), 22);

    // The three unsent jobs (and the others, never checked) are due again after the lease.
    let lease = chrono::Duration::from_std(env.policy.lease).expect("lease");
    queue.reject_first_of_each_batch.store(false, Ordering::SeqCst);
    let report = run_once(env.jobs.as_ref(), &queue, now + lease, &env.policy, 100).await.expect("run");
    assert_eq!(report, RunReport { claimed: 25, sent: 25, failed: 0 });
}

#[tokio::test]
async fn a_queue_outage_stops_the_run_without_claiming_everything() {
    let env = Env::new().await;
    let now = chrono::Utc::now();
    for _ in 0..30 {
        env.job_due_at(now).await;
    }
    let queue = FlakyQueue {
        inner: Arc::clone(&env.queue),
        down: AtomicBool::new(true),
        reject_first_of_each_batch: AtomicBool::new(false),
        batch_sizes: Mutex::new(Vec::new()),
    };
    let report = run_once(env.jobs.as_ref(), &queue, now, &env.policy, 10).await.expect("run");
    assert_eq!(report, RunReport { claimed: 10, sent: 0, failed: 10 });
    // The rest is still due now; the failed ten come back after the lease.
    queue.down.store(false, Ordering::SeqCst);
    let report = run_once(env.jobs.as_ref(), &queue, now, &env.policy, 10).await.expect("run");
    assert_eq!(report.claimed, 20);
}

#[tokio::test]
async fn run_every_queues_due_jobs_and_stops_on_shutdown() {
    let env = Env::new().await;
    let now = chrono::Utc::now();
    for _ in 0..3 {
        env.job_due_at(now - secs(1)).await;
    }
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(run_every(
        Arc::clone(&env.jobs),
        env.queue.clone(),
        env.policy.clone(),
        Duration::from_millis(50),
        shutdown.clone(),
    ));
    tokio::time::sleep(Duration::from_millis(300)).await;
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), task).await.expect("stops").expect("task");
    assert_eq!(env.drain().await.len(), 3, "queued once despite several ticks");
}

#[tokio::test]
async fn one_hosts_due_checks_are_sent_spread_over_time() {
    let mut env = Env::new().await;
    env.policy.host_spread = Duration::from_secs(1);
    let now = chrono::Utc::now();
    for n in 0..3 {
        env.job_at_url_due_at(&format!("https://a.example/p/{n}"), now - secs(5)).await;
    }
    for n in 0..2 {
        env.job_at_url_due_at(&format!("https://b.example/p/{n}"), now - secs(5)).await;
    }
    let report = env.run(now, 100).await;
    assert_eq!((report.claimed, report.sent), (5, 5));
    // At once: the first of each host; a second later the second of each; then a's third.
    assert_eq!(env.drain().await.len(), 2, "one check per host at once");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(env.drain().await.len(), 2, "the next of each host a second later");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(env.drain().await.len(), 1, "a's third after two seconds");
    assert!(env.drain().await.is_empty());
}
