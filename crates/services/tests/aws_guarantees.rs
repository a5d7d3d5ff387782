//! The scraper's worker pool and the rescheduler on the real AWS adapters (DynamoDB, SQS, SNS on
//! moto_server): the guarantees of DESIGN.md that only show when a queue really redelivers.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{Shop, fresh_resources, set_visibility_timeout, take_messages, wait_for};
use pricetrack_aws::aws_config::SdkConfig;
use pricetrack_aws::bootstrap::Resources;
use pricetrack_aws::testing::subscribe_inbox;
use pricetrack_aws::{
    DynamoJobStore, SnsNotifier, SqsCheckQueue, aws_sdk_dynamodb, aws_sdk_sns, aws_sdk_sqs, user_filter_policy,
};
use pricetrack_domain::ports::{CheckQueue, JobStore, PageRequest};
use pricetrack_domain::testing::{now_ms, sample_job};
use pricetrack_domain::{CheckRequest, JobKey, ProductUrl, SchedulePolicy, TargetPrice, UserId};
use pricetrack_scraper::{Checker, StaticFetcher, StaticFetcherSettings, WorkerSettings};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Fresh resources with a short visibility timeout, and the adapters over them.
struct Rig {
    config: SdkConfig,
    resources: Resources,
    store: Arc<DynamoJobStore>,
    queue: Arc<SqsCheckQueue>,
    visibility: Duration,
}

impl Rig {
    async fn new(prefix: &str, visibility_secs: u32) -> Rig {
        let (config, resources) = fresh_resources(prefix).await;
        set_visibility_timeout(&config, &resources.queue_url, visibility_secs).await;
        let store = Arc::new(DynamoJobStore::new(aws_sdk_dynamodb::Client::new(&config), resources.table.clone()));
        let queue = Arc::new(SqsCheckQueue::new(aws_sdk_sqs::Client::new(&config), resources.queue_url.clone()));
        Rig { config, resources, store, queue, visibility: Duration::from_secs(u64::from(visibility_secs)) }
    }

    /// A due job of `user` on `url`, alerting at or below `target`.
    async fn due_job(&self, user: UserId, url: &str, target: &str) -> JobKey {
        let mut job = sample_job(user, now_ms() - chrono::Duration::seconds(1));
        job.url = ProductUrl::parse(url).expect("shop url");
        job.target_price = TargetPrice::parse(target).expect("target");
        self.store.create(&job).await.expect("create job");
        job.key()
    }

    async fn reschedule(&self) -> usize {
        let report = pricetrack_rescheduler::run_once(
            self.store.as_ref(),
            self.queue.as_ref(),
            now_ms(),
            &SchedulePolicy::default(),
            100,
        )
        .await
        .expect("rescheduler run");
        assert_eq!(report.failed, 0);
        report.sent
    }

    /// The scraper's worker pool, in this process, on the real adapters.
    fn workers(&self, shutdown: &CancellationToken) -> JoinHandle<()> {
        let notifier =
            Arc::new(SnsNotifier::new(aws_sdk_sns::Client::new(&self.config), self.resources.topic_arn.clone()));
        let fetcher = Arc::new(
            StaticFetcher::new(StaticFetcherSettings {
                allow_private_targets: true,
                ..StaticFetcherSettings::default()
            })
            .expect("fetcher"),
        );
        let checker = Arc::new(Checker::new(self.store.clone(), notifier, fetcher, SchedulePolicy::default()));
        tokio::spawn(pricetrack_scraper::run_workers(
            self.queue.clone(),
            checker,
            WorkerSettings {
                workers: 3,
                visibility_timeout: self.visibility,
                receive_wait: Duration::from_secs(1),
                shutdown_grace: Duration::from_secs(10),
            },
            shutdown.clone(),
        ))
    }

    async fn checked(&self, key: JobKey) -> bool {
        self.store.get(key).await.expect("get job").is_some_and(|job| job.last_checked_at.is_some())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_message_goes_to_the_dead_letter_queue_and_the_others_are_checked() {
    let rig = Rig::new("poison", 1).await;
    let shop = Shop::default();
    let url = shop.serve("90").await;
    let user = UserId::new();
    let keys = [rig.due_job(user, &url, "80").await, rig.due_job(user, &url, "80").await];
    let poison = "{\"v\":1,\"user_id\":\"jane.doe@example.com\"}".to_owned();
    assert!(rig.queue.send_batch(std::slice::from_ref(&poison)).await.expect("send poison").is_empty());
    assert_eq!(rig.reschedule().await, 2);

    let shutdown = CancellationToken::new();
    let workers = rig.workers(&shutdown);
    wait_for("both jobs checked", Duration::from_secs(30), async || {
        (rig.checked(keys[0]).await && rig.checked(keys[1]).await).then_some(())
    })
    .await;
    // Received five times (the queue's maxReceiveCount), never acknowledged, then moved aside.
    let dead = wait_for("the poison message in the dead-letter queue", Duration::from_secs(60), async || {
        let bodies = take_messages(&rig.config, &rig.resources.dead_letter_queue_url, Duration::from_secs(1)).await;
        (!bodies.is_empty()).then_some(bodies)
    })
    .await;
    shutdown.cancel();
    workers.await.expect("the pool survives a poison message");
    assert_eq!(dead, vec![poison]);
    assert_eq!(shop.requests.load(Ordering::SeqCst), 2, "each job checked once");
    assert!(rig.queue.receive(10, Duration::from_secs(1)).await.expect("receive").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_deleted_while_its_check_waits_in_the_queue_never_comes_back() {
    let rig = Rig::new("deleted", 1).await;
    let shop = Shop::default();
    let url = shop.serve("50").await;
    let user = UserId::new();
    let key = rig.due_job(user, &url, "80").await;
    assert_eq!(rig.reschedule().await, 1);
    assert!(rig.store.delete(key).await.expect("delete"), "the job existed");

    let shutdown = CancellationToken::new();
    let workers = rig.workers(&shutdown);
    // The request is handled (acknowledged without a fetch) and not redelivered.
    wait_for("the queue to drain", Duration::from_secs(20), async || {
        let attributes = aws_sdk_sqs::Client::new(&rig.config)
            .get_queue_attributes()
            .queue_url(&rig.resources.queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
            .send()
            .await
            .ok()?
            .attributes?;
        let count = |name| attributes.get(&name).and_then(|v| v.parse::<u32>().ok()).unwrap_or(1);
        (count(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages) == 0
            && count(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible) == 0)
            .then_some(())
    })
    .await;
    tokio::time::sleep(rig.visibility * 2).await;
    shutdown.cancel();
    workers.await.expect("pool ends");

    assert_eq!(shop.requests.load(Ordering::SeqCst), 0, "a deleted job is not checked");
    assert!(rig.store.get(key).await.expect("get").is_none(), "the job was not re-created");
    let page = rig.store.list(user, &PageRequest { limit: 10, cursor: None }).await.expect("list");
    assert!(page.items.is_empty(), "no half job appears in the owner's list");
    let claimed = rig.store.claim_due(now_ms() + chrono::Duration::hours(2), now_ms(), 10).await.expect("claim");
    assert!(claimed.is_empty(), "nothing left to schedule");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_slower_than_the_visibility_timeout_is_processed_once_and_alerts_once() {
    let rig = Rig::new("slow", 1).await;
    let shop = Shop::default();
    let url = shop.serve("49.99").await;
    let user = UserId::new();
    let inbox = subscribe_inbox(&rig.config, &rig.resources.topic_arn, user_filter_policy(user)).await;
    let key = rig.due_job(user, &url, "80").await;
    shop.set_slow(true);
    assert_eq!(rig.reschedule().await, 1);

    let shutdown = CancellationToken::new();
    let workers = rig.workers(&shutdown);
    wait_for("the check to reach the page", Duration::from_secs(20), async || (shop.in_flight() == 1).then_some(()))
        .await;
    // Three visibility timeouts pass while the page answers slowly: the heartbeat keeps the
    // message from every other worker.
    tokio::time::sleep(rig.visibility * 3).await;
    shop.set_slow(false);
    wait_for("the check to be recorded", Duration::from_secs(20), async || rig.checked(key).await.then_some(())).await;
    tokio::time::sleep(rig.visibility * 2).await;
    shutdown.cancel();
    workers.await.expect("pool ends");

    assert_eq!(shop.requests.load(Ordering::SeqCst), 1, "the page was fetched once");
    let alerts = take_messages(&rig.config, &inbox, Duration::from_secs(2)).await;
    assert_eq!(alerts.len(), 1, "one alert for one crossing: {alerts:?}");
    assert!(alerts[0].contains(&key.job_id.to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_rescheduler_runs_queue_each_due_job_once() {
    let rig = Rig::new("overlap", 30).await;
    let user = UserId::new();
    let mut keys = BTreeSet::new();
    for _ in 0..40 {
        keys.insert(rig.due_job(user, "https://shop.example/p", "80").await.job_id);
    }
    let (a, b, c) = tokio::join!(rig.reschedule(), rig.reschedule(), rig.reschedule());
    assert_eq!(a + b + c, 40, "every due job queued exactly once across overlapping runs");

    let bodies = take_messages(&rig.config, &rig.resources.queue_url, Duration::from_secs(1)).await;
    let queued: Vec<_> = bodies.iter().map(|b| CheckRequest::from_json(b).expect("a check request").job_id).collect();
    assert_eq!(queued.len(), 40, "no duplicate messages");
    assert_eq!(queued.into_iter().collect::<BTreeSet<_>>(), keys);
    assert_eq!(rig.reschedule().await, 0, "nothing is due any more while leased");
}
