//! No delivery stays pending for ever: a pending delivery whose channel was deleted, or whose
//! job was deleted, is failed with the reason; an alert of a deleted job that the log never saw
//! writes nothing; the operator's webhook answering a 4xx (other than 408/429) fails at once.
//! Each case on SQLite and on DynamoDB (moto_server), through the deliverer itself.

#![allow(clippy::unwrap_used)]

mod support;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use pricetrack_delivery::{
    CHANNEL_DELETED, ChannelSender, DeliverOutcome, Deliverer, JOB_DELETED, OperatorWebhook, RetryPolicy,
};
use pricetrack_domain::delivery::{ChannelStore, DeliveryLog, OPERATOR_CHANNEL};
use pricetrack_domain::ports::{JobStore, PageRequest, UserStore};
use pricetrack_domain::{
    Alert, AlertDetails, AlertId, Channel, ChannelSecret, ChannelTarget, CheckInterval, DeliveryStatus, Job, JobKey,
    Money, NewJob, ProductUrl, TargetPrice, UserId,
};
use pricetrack_embedded::Database;
use rust_decimal::Decimal;
use support::Receiver;

/// The stores one backend gives the deliverer, and what must live as long as they do.
struct Backend {
    channels: Arc<dyn ChannelStore>,
    log: Arc<dyn DeliveryLog>,
    jobs: Arc<dyn JobStore>,
    _keep: Option<tempfile::TempDir>,
}

async fn sqlite() -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(&dir.path().join("pricetrack.db")).await.unwrap();
    Backend {
        channels: Arc::new(db.channels()),
        log: Arc::new(db.delivery_log()),
        jobs: Arc::new(db.jobs()),
        _keep: Some(dir),
    }
}

async fn dynamodb() -> Backend {
    let moto = pricetrack_aws::testing::MotoServer::shared().unwrap_or_else(|e| panic!("{e}"));
    let sdk = moto.sdk_config().await;
    let table = pricetrack_aws::testing::unique_name("settle");
    pricetrack_aws::bootstrap::ensure_table(&aws_sdk_dynamodb::Client::new(&sdk), &table).await.unwrap();
    let aws = pricetrack_aws::AwsAdapters::new(sdk);
    Backend {
        channels: Arc::new(aws.channel_store(&table)),
        log: Arc::new(aws.delivery_log(&table)),
        jobs: Arc::new(aws.job_store(&table)),
        _keep: None,
    }
}

/// Retries after 20 to 40 ms, for a minute.
fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        base: Duration::from_millis(40),
        max: Duration::from_millis(40),
        give_up_after: Duration::from_secs(60),
    }
}

fn deliverer(backend: &Backend, operator: Option<OperatorWebhook>) -> Deliverer {
    Deliverer::new(
        backend.channels.clone(),
        backend.log.clone(),
        ChannelSender::new(true, None).unwrap(),
        operator,
        fast_retries(),
    )
    .with_jobs(backend.jobs.clone())
}

/// A job of `user_id`, stored.
async fn job(backend: &Backend, user_id: UserId) -> Job {
    let now = chrono::Utc::now();
    let new = NewJob {
        url: ProductUrl::parse("https://shop.example/p/1").unwrap(),
        target_price: TargetPrice::parse("10").unwrap(),
        currency: None,
        check_interval: CheckInterval::from_stored(3600),
        price_selector: None,
    };
    let job = Job::create(user_id, new, now, now);
    backend.jobs.create(&job).await.unwrap();
    job
}

fn alert_of(job: &Job) -> Alert {
    Alert {
        id: AlertId::new(),
        job_id: job.id,
        user_id: job.user_id,
        url: job.url.clone(),
        price: Money::new(Decimal::from_str("9.99").unwrap(), None),
        target_price: job.target_price,
        checked_at: chrono::Utc::now(),
        details: AlertDetails::default(),
    }
}

async fn webhook(backend: &Backend, user_id: UserId, receiver: &Receiver) -> Channel {
    let channel = Channel::create(
        user_id,
        "hook".into(),
        ChannelTarget::Webhook {
            url: url::Url::parse(&receiver.url("/hook")).unwrap(),
            secret: ChannelSecret::new(pricetrack_delivery::signature::new_secret()),
        },
        chrono::Utc::now(),
    );
    backend.channels.create(&channel).await.unwrap();
    channel
}

/// Calls the deliverer again until the alert is done (each retry is due within 40 ms).
async fn deliver_until_done(deliverer: &Deliverer, alert: &Alert) {
    for _ in 0..100 {
        if deliverer.deliver(alert).await.unwrap() == DeliverOutcome::Done {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the alert was never done");
}

async fn record(backend: &Backend, alert: &Alert, channel: &str) -> pricetrack_domain::DeliveryRecord {
    backend.log.get(alert.id, channel).await.unwrap().expect("a delivery record")
}

/// A delivery pending on a channel that answers 503, then the channel is deleted: the next
/// pass fails it ("the channel was deleted") without another request, and the alert is done.
async fn a_pending_delivery_to_a_deleted_channel_is_failed(backend: Backend) {
    let down = Receiver::start().await;
    down.script(&[], 503);
    let up = Receiver::start().await;
    let user = UserId::new();
    let job = job(&backend, user).await;
    let doomed = webhook(&backend, user, &down).await;
    let kept = webhook(&backend, user, &up).await;
    let deliverer = deliverer(&backend, None);
    let alert = alert_of(&job);

    assert!(matches!(deliverer.deliver(&alert).await.unwrap(), DeliverOutcome::RetryAt(_)));
    assert_eq!(record(&backend, &alert, &doomed.id.to_string()).await.status, DeliveryStatus::Pending);
    assert_eq!(record(&backend, &alert, &kept.id.to_string()).await.status, DeliveryStatus::Delivered);

    assert!(backend.channels.delete(doomed.key()).await.unwrap());
    tokio::time::sleep(Duration::from_millis(60)).await;
    assert_eq!(deliverer.deliver(&alert).await.unwrap(), DeliverOutcome::Done, "nothing is left to retry");
    let failed = record(&backend, &alert, &doomed.id.to_string()).await;
    assert_eq!(failed.status, DeliveryStatus::Failed);
    assert_eq!(failed.last_error.as_deref(), Some(CHANNEL_DELETED));
    assert_eq!((failed.attempts, failed.next_attempt_at), (1, None));
    assert_eq!(down.requests().len(), 1, "no request after the channel was deleted");
    assert_eq!(up.requests().len(), 1, "the delivered channel is not sent again");
    let entry = backend.log.list(user, &PageRequest { limit: 10, cursor: None }).await.unwrap();
    assert!(
        entry.items[0].deliveries.iter().all(|d| d.status != DeliveryStatus::Pending),
        "the user's log shows nothing pending: {:?}",
        entry.items[0].deliveries
    );
}

/// The job is deleted while a delivery of its alert is pending: the next pass fails it ("the job
/// was deleted"). An alert of a job that is gone and that the log never saw (a message that
/// comes back after the account was deleted) is sent nowhere and writes nothing.
async fn an_alert_of_a_deleted_job_is_settled_and_writes_nothing_new(backend: Backend) {
    let down = Receiver::start().await;
    down.script(&[], 503);
    let user = UserId::new();
    let job = job(&backend, user).await;
    let channel = webhook(&backend, user, &down).await;
    let deliverer = deliverer(&backend, None);
    let alert = alert_of(&job);
    assert!(matches!(deliverer.deliver(&alert).await.unwrap(), DeliverOutcome::RetryAt(_)));

    assert!(backend.jobs.delete(JobKey { user_id: user, job_id: job.id }).await.unwrap());
    tokio::time::sleep(Duration::from_millis(60)).await;
    assert_eq!(deliverer.deliver(&alert).await.unwrap(), DeliverOutcome::Done);
    let failed = record(&backend, &alert, &channel.id.to_string()).await;
    assert_eq!((failed.status, failed.last_error.as_deref()), (DeliveryStatus::Failed, Some(JOB_DELETED)));
    assert_eq!(down.requests().len(), 1);

    // A late alert of the deleted job: nothing sent, nothing recorded.
    let late = alert_of(&job);
    assert_eq!(deliverer.deliver(&late).await.unwrap(), DeliverOutcome::Done);
    assert_eq!(down.requests().len(), 1, "nothing sent for a deleted job");
    assert!(backend.log.deliveries(late.id).await.unwrap().is_empty(), "no delivery recorded");
    let listed = backend.log.list(user, &PageRequest { limit: 10, cursor: None }).await.unwrap();
    assert_eq!(
        listed.items.iter().map(|e| e.alert.id).collect::<Vec<_>>(),
        vec![alert.id],
        "the late alert is not logged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_delivery_to_a_deleted_channel_is_failed_sqlite() {
    a_pending_delivery_to_a_deleted_channel_is_failed(sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_delivery_to_a_deleted_channel_is_failed_dynamodb() {
    a_pending_delivery_to_a_deleted_channel_is_failed(dynamodb().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_of_a_deleted_job_is_settled_and_writes_nothing_new_sqlite() {
    an_alert_of_a_deleted_job_is_settled_and_writes_nothing_new(sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_of_a_deleted_job_is_settled_and_writes_nothing_new_dynamodb() {
    an_alert_of_a_deleted_job_is_settled_and_writes_nothing_new(dynamodb().await).await;
}

/// The operator's webhook (`PRICETRACK_WEBHOOK_URL`) answering 400: the delivery is failed at
/// once, after one request, not retried for a day; 503 and 429 are retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operators_webhook_answering_400_fails_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(&dir.path().join("pricetrack.db")).await.unwrap();
    let backend = Backend {
        channels: Arc::new(db.channels()),
        log: Arc::new(db.delivery_log()),
        jobs: Arc::new(db.jobs()),
        _keep: None,
    };
    let (user, hash) = pricetrack_domain::testing::sample_user();
    db.users().create(&user, &hash).await.unwrap();
    let job = job(&backend, user.id).await;
    let operator = Receiver::start().await;
    let users: Arc<dyn UserStore> = Arc::new(db.users());
    let webhook =
        pricetrack_embedded::WebhookNotifier::new(url::Url::parse(&operator.url("/ops")).unwrap(), users).unwrap();
    let deliverer = deliverer(&backend, Some(OperatorWebhook { notifier: Arc::new(webhook) }));

    operator.script(&[], 400);
    let refused = alert_of(&job);
    assert_eq!(deliverer.deliver(&refused).await.unwrap(), DeliverOutcome::Done, "a 400 is final");
    let failed = record(&backend, &refused, OPERATOR_CHANNEL).await;
    assert_eq!((failed.status, failed.attempts, failed.next_attempt_at), (DeliveryStatus::Failed, 1, None));
    assert!(failed.last_error.as_deref().is_some_and(|e| e.contains("400")), "{failed:?}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(deliverer.deliver(&refused).await.unwrap(), DeliverOutcome::Done);
    assert_eq!(operator.requests().len(), 1, "never retried");

    // Busy answers are retried, then delivered once.
    operator.script(&[503, 429], 204);
    let busy = alert_of(&job);
    assert!(matches!(deliverer.deliver(&busy).await.unwrap(), DeliverOutcome::RetryAt(_)), "a 503 is retried");
    deliver_until_done(&deliverer, &busy).await;
    let delivered = record(&backend, &busy, OPERATOR_CHANNEL).await;
    assert_eq!((delivered.status, delivered.attempts), (DeliveryStatus::Delivered, 3));
    assert_eq!(operator.requests().len(), 1 + 3);
    drop(dir);
}
