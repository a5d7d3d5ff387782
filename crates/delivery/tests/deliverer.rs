//! The delivery stage end to end in one process: alerts on the durable SQLite delivery queue,
//! the delivery workers, the SQLite channel store and delivery log, and real receivers on
//! 127.0.0.1.

#![allow(clippy::unwrap_used)]

mod support;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use pricetrack_delivery::{
    ChannelSender, Deliverer, DeliveryWorkerSettings, QueueNotifier, RetryPolicy, run_delivery_workers,
};
use pricetrack_domain::delivery::{ChannelStore, DeliveryLog};
use pricetrack_domain::ports::{CheckQueue, Notifier, PageRequest};
use pricetrack_domain::{
    Alert, AlertDetails, AlertId, Channel, ChannelSecret, ChannelStatus, ChannelTarget, DeliveryStatus, JobId, Money,
    ProductUrl, TargetPrice, UserId,
};
use pricetrack_embedded::{Database, QueueSettings};
use rust_decimal::Decimal;
use support::Receiver;
use tokio_util::sync::CancellationToken;

struct Stage {
    channels: Arc<dyn ChannelStore>,
    log: Arc<dyn DeliveryLog>,
    notifier: QueueNotifier,
    stop: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Drop for Stage {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// The stage with a fast retry policy (50 ms, doubling, at most 200 ms, given up after `give_up`).
async fn stage(give_up: Duration) -> Stage {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(&dir.path().join("pricetrack.db")).await.unwrap();
    let queue: Arc<dyn CheckQueue> = Arc::new(
        db.delivery_queue(QueueSettings { visibility_timeout: Duration::from_secs(5), max_receive_count: 500 }),
    );
    let channels: Arc<dyn ChannelStore> = Arc::new(db.channels());
    let log: Arc<dyn DeliveryLog> = Arc::new(db.delivery_log());
    let deliverer = Arc::new(Deliverer::new(
        channels.clone(),
        log.clone(),
        ChannelSender::new(true, None).unwrap(),
        None,
        RetryPolicy { base: Duration::from_millis(50), max: Duration::from_millis(200), give_up_after: give_up },
    ));
    let stop = CancellationToken::new();
    tokio::spawn(run_delivery_workers(
        queue.clone(),
        deliverer,
        DeliveryWorkerSettings {
            workers: 4,
            visibility_timeout: Duration::from_secs(5),
            receive_wait: Duration::from_millis(200),
            shutdown_grace: Duration::from_secs(1),
        },
        stop.clone(),
    ));
    Stage { channels, log, notifier: QueueNotifier::new(queue), stop, _dir: dir }
}

fn alert_for(user_id: UserId) -> Alert {
    Alert {
        id: AlertId::new(),
        job_id: JobId::new(),
        user_id,
        url: ProductUrl::parse("https://shop.example/p/1").unwrap(),
        price: Money::new(Decimal::from_str("9.99").unwrap(), None),
        target_price: TargetPrice::parse("10").unwrap(),
        checked_at: chrono::Utc::now(),
        details: AlertDetails::default(),
    }
}

async fn webhook(stage: &Stage, user_id: UserId, receiver: &Receiver, path: &str) -> Channel {
    let channel = Channel::create(
        user_id,
        "hook".into(),
        ChannelTarget::Webhook {
            url: url::Url::parse(&receiver.url(path)).unwrap(),
            secret: ChannelSecret::new(pricetrack_delivery::signature::new_secret()),
        },
        chrono::Utc::now(),
    );
    stage.channels.create(&channel).await.unwrap();
    channel
}

async fn record(stage: &Stage, alert: &Alert, channel: &Channel) -> Option<pricetrack_domain::DeliveryRecord> {
    stage.log.get(alert.id, &channel.id.to_string()).await.unwrap()
}

/// Waits until the delivery of `alert` to `channel` is no longer pending.
async fn settled(stage: &Stage, alert: &Alert, channel: &Channel) -> pricetrack_domain::DeliveryRecord {
    for _ in 0..300 {
        if let Some(record) = record(stage, alert, channel).await
            && record.status != DeliveryStatus::Pending
        {
            return record;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the delivery did not settle: {:?}", record(stage, alert, channel).await);
}

#[tokio::test]
async fn an_outage_is_retried_and_the_alert_arrives_once_after_recovery() {
    let stage = stage(Duration::from_secs(60)).await;
    let receiver = Receiver::start().await;
    let user = UserId::new();
    let channel = webhook(&stage, user, &receiver, "/hook").await;
    receiver.script(&[503, 503, 503], 204);
    let alert = alert_for(user);
    stage.notifier.publish(&alert).await.unwrap();

    let record = settled(&stage, &alert, &channel).await;
    assert_eq!(record.status, DeliveryStatus::Delivered);
    assert_eq!(record.attempts, 4, "three 503s, then delivered");
    assert!(record.delivered_at.is_some() && record.last_error.is_none());
    let requests = receiver.requests();
    assert_eq!(requests.len(), 4);
    let ids: std::collections::HashSet<_> = requests.iter().map(|r| r.header("webhook-id").unwrap()).collect();
    assert_eq!(ids.len(), 1, "every attempt carries the same idempotency key");

    // Delivered: never again, even when the same alert comes through the queue once more.
    stage.notifier.publish(&alert).await.unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(receiver.requests().len(), 4, "a delivered (alert, channel) is not sent again");
    let channel_now = stage.channels.get(channel.key()).await.unwrap().unwrap();
    assert_eq!(channel_now.status, ChannelStatus::Active);
    assert_eq!(channel_now.consecutive_failures, 0);
}

#[tokio::test]
async fn a_404_fails_the_delivery_at_once_and_marks_the_channel_failing() {
    let stage = stage(Duration::from_secs(60)).await;
    let receiver = Receiver::start().await;
    let user = UserId::new();
    let broken = webhook(&stage, user, &receiver, "/gone").await;
    let working = webhook(&stage, user, &receiver, "/ok").await;
    receiver.script(&[], 204);
    let gone_receiver = Receiver::start().await;
    gone_receiver.script(&[], 404);
    let mut broken_updated = broken.clone();
    broken_updated.target = ChannelTarget::Webhook {
        url: url::Url::parse(&gone_receiver.url("/gone")).unwrap(),
        secret: ChannelSecret::new(pricetrack_delivery::signature::new_secret()),
    };
    stage.channels.update(&broken_updated).await.unwrap();

    let alert = alert_for(user);
    stage.notifier.publish(&alert).await.unwrap();
    let failed = settled(&stage, &alert, &broken).await;
    assert_eq!(failed.status, DeliveryStatus::Failed);
    assert_eq!(failed.attempts, 1, "a 404 is permanent: no retry");
    assert_eq!(failed.last_error.as_deref(), Some("the channel answered HTTP 404"));
    assert_eq!(
        settled(&stage, &alert, &working).await.status,
        DeliveryStatus::Delivered,
        "the other channel is not held back"
    );
    let channel = stage.channels.get(broken.key()).await.unwrap().unwrap();
    assert_eq!(channel.status, ChannelStatus::Failing);
    assert_eq!(channel.last_error.as_deref(), Some("the channel answered HTTP 404"));

    // The next alert to a failing channel is logged failed without a request.
    let next = alert_for(user);
    stage.notifier.publish(&next).await.unwrap();
    let skipped = settled(&stage, &next, &broken).await;
    assert_eq!((skipped.status, skipped.attempts), (DeliveryStatus::Failed, 0));
    assert!(skipped.last_error.unwrap().contains("failing"));
    assert_eq!(gone_receiver.requests().len(), 1);
}

#[tokio::test]
async fn retries_stop_when_the_window_is_over() {
    let stage = stage(Duration::from_millis(300)).await;
    let receiver = Receiver::start().await;
    receiver.script(&[], 503);
    let user = UserId::new();
    let channel = webhook(&stage, user, &receiver, "/down").await;
    let alert = alert_for(user);
    stage.notifier.publish(&alert).await.unwrap();
    let record = settled(&stage, &alert, &channel).await;
    assert_eq!(record.status, DeliveryStatus::Failed);
    assert!(record.attempts >= 2, "{record:?}");
    assert_eq!(record.last_error.as_deref(), Some("the channel answered HTTP 503"));
    let channel = stage.channels.get(channel.key()).await.unwrap().unwrap();
    assert_eq!(
        (channel.status, channel.consecutive_failures),
        (ChannelStatus::Active, 1),
        "one failed delivery counted"
    );
}

#[tokio::test]
async fn two_users_each_receive_only_their_own_alerts() {
    let stage = stage(Duration::from_secs(60)).await;
    let ada_inbox = Receiver::start().await;
    let bob_inbox = Receiver::start().await;
    let (ada, bob) = (UserId::new(), UserId::new());
    let ada_channel = webhook(&stage, ada, &ada_inbox, "/ada").await;
    let bob_channel = webhook(&stage, bob, &bob_inbox, "/bob").await;
    let (for_ada, for_bob) = (alert_for(ada), alert_for(bob));
    stage.notifier.publish(&for_ada).await.unwrap();
    stage.notifier.publish(&for_bob).await.unwrap();
    settled(&stage, &for_ada, &ada_channel).await;
    settled(&stage, &for_bob, &bob_channel).await;
    let ids = |r: &Receiver| {
        r.requests().iter().map(|c| c.json()["data"]["alert_id"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
    };
    assert_eq!(ids(&ada_inbox), vec![for_ada.id.to_string()]);
    assert_eq!(ids(&bob_inbox), vec![for_bob.id.to_string()]);
    assert!(record(&stage, &for_ada, &bob_channel).await.is_none());

    // Each user's log holds their own alert only.
    let log = stage.log.list(ada, &PageRequest { limit: 10, cursor: None }).await.unwrap();
    assert_eq!(log.items.iter().map(|e| e.alert.id).collect::<Vec<_>>(), vec![for_ada.id]);
}

#[tokio::test]
async fn a_job_naming_channels_alerts_only_those() {
    let stage = stage(Duration::from_secs(60)).await;
    let chosen_inbox = Receiver::start().await;
    let other_inbox = Receiver::start().await;
    let user = UserId::new();
    let chosen = webhook(&stage, user, &chosen_inbox, "/chosen").await;
    let other = webhook(&stage, user, &other_inbox, "/other").await;
    let mut alert = alert_for(user);
    alert.details.channels = Some(vec![chosen.id]);
    stage.notifier.publish(&alert).await.unwrap();
    assert_eq!(settled(&stage, &alert, &chosen).await.status, DeliveryStatus::Delivered);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(other_inbox.requests().is_empty());
    assert!(record(&stage, &alert, &other).await.is_none());
}

#[tokio::test]
async fn a_slow_channel_does_not_hold_back_another() {
    let stage = stage(Duration::from_secs(60)).await;
    let slow = Receiver::start().await;
    slow.delay(Some(Duration::from_secs(3)));
    let fast = Receiver::start().await;
    let user = UserId::new();
    webhook(&stage, user, &slow, "/slow").await;
    let fast_channel = webhook(&stage, user, &fast, "/fast").await;
    let alert = alert_for(user);
    let started = std::time::Instant::now();
    stage.notifier.publish(&alert).await.unwrap();
    fast.wait_for(1, Duration::from_secs(2)).await;
    assert_eq!(fast.requests().len(), 1);
    assert!(started.elapsed() < Duration::from_secs(2), "the fast channel got its alert while the slow one hung");
    let _ = fast_channel;
}
