//! Contract suites for the delivery stage's ports: [`channel_store`] and [`delivery_log`], with
//! the macros [`channel_store_contract_tests!`](crate::channel_store_contract_tests) and
//! [`delivery_log_contract_tests!`](crate::delivery_log_contract_tests). Used like the suites of
//! [`crate::testing`]: a fixture expression whose value is a future resolving to a pair of a
//! fresh, empty store (`Arc<dyn ChannelStore>` or `Arc<dyn DeliveryLog>`) and whatever must live
//! as long as it (a temporary directory, a throw-away table).

use std::str::FromStr;
use std::sync::Arc;

use rust_decimal::Decimal;
use url::Url;

use crate::delivery::{ChannelStore, DeliveryLog, OPERATOR_CHANNEL};
use crate::ports::PageRequest;
use crate::{
    Alert, AlertId, Channel, ChannelKey, ChannelSecret, ChannelStatus, ChannelTarget, DeliveryRecord, DeliveryStatus,
    JobId, Money, ProductUrl, TargetPrice, Timestamp, UserId,
};

/// Now, at millisecond precision.
fn now_ms() -> Timestamp {
    let now = chrono::Utc::now();
    chrono::DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now)
}

/// A webhook channel of `user_id`.
pub fn sample_channel(user_id: UserId, name: &str) -> Channel {
    Channel::create(
        user_id,
        name.to_owned(),
        ChannelTarget::Webhook {
            url: Url::parse("https://hooks.example/in").expect("contract suite: literal URL"),
            secret: ChannelSecret::new("whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ="),
        },
        now_ms(),
    )
}

/// An alert of `user_id` decided at `checked_at`.
pub fn sample_alert(user_id: UserId, checked_at: Timestamp) -> Alert {
    Alert {
        id: AlertId::new(),
        job_id: JobId::new(),
        user_id,
        url: ProductUrl::parse("https://shop.example/p/1").expect("contract suite: literal URL"),
        price: Money::new(Decimal::from_str("49.90").expect("contract suite: decimal"), None),
        target_price: TargetPrice::parse("50").expect("contract suite: target"),
        checked_at,
        details: Default::default(),
    }
}

/// A fresh pending delivery record of `alert` to `channel`.
pub fn pending_record(alert: &Alert, channel: &str) -> DeliveryRecord {
    let now = now_ms();
    DeliveryRecord {
        alert_id: alert.id,
        user_id: alert.user_id,
        channel: channel.to_owned(),
        status: DeliveryStatus::Pending,
        attempts: 1,
        last_error: Some("HTTP 503".into()),
        delivered_at: None,
        next_attempt_at: Some(now),
        first_attempt_at: now,
        updated_at: now,
    }
}

/// The channel store cases.
pub mod channel_store {
    use super::*;

    /// A created channel reads back equal, for its owner only.
    pub async fn create_then_get_round_trips(store: &Arc<dyn ChannelStore>) {
        let user = UserId::new();
        let channel = sample_channel(user, "phone");
        store.create(&channel).await.expect("create");
        assert_eq!(store.get(channel.key()).await.expect("get"), Some(channel.clone()), "round trip");
        let other = ChannelKey { user_id: UserId::new(), channel_id: channel.id };
        assert_eq!(store.get(other).await.expect("get"), None, "another user's key finds nothing");
        assert!(matches!(store.create(&channel).await, Err(crate::ports::StoreError::AlreadyExists)));
    }

    /// `list` holds a user's own channels, oldest first.
    pub async fn list_is_per_user_oldest_first(store: &Arc<dyn ChannelStore>) {
        let user = UserId::new();
        let a = sample_channel(user, "a");
        let b = sample_channel(user, "b");
        store.create(&a).await.expect("create");
        store.create(&b).await.expect("create");
        store.create(&sample_channel(UserId::new(), "other")).await.expect("create");
        let listed = store.list(user).await.expect("list");
        assert_eq!(listed.iter().map(|c| c.id).collect::<Vec<_>>(), vec![a.id, b.id]);
    }

    /// `update` replaces an existing channel and never creates one; `delete` removes once.
    pub async fn update_and_delete(store: &Arc<dyn ChannelStore>) {
        let user = UserId::new();
        let mut channel = sample_channel(user, "a");
        assert!(!store.update(&channel).await.expect("update"), "update never creates");
        assert_eq!(store.get(channel.key()).await.expect("get"), None);
        store.create(&channel).await.expect("create");
        channel.name = "renamed".into();
        assert!(store.update(&channel).await.expect("update"));
        assert_eq!(store.get(channel.key()).await.expect("get").map(|c| c.name), Some("renamed".into()));
        let other = ChannelKey { user_id: UserId::new(), channel_id: channel.id };
        assert!(!store.delete(other).await.expect("delete"), "only the owner deletes");
        assert!(store.delete(channel.key()).await.expect("delete"));
        assert!(!store.delete(channel.key()).await.expect("delete"));
        store.create(&sample_channel(user, "x")).await.expect("create");
        store.create(&sample_channel(user, "y")).await.expect("create");
        assert_eq!(store.delete_all(user).await.expect("delete_all"), 2);
        assert!(store.list(user).await.expect("list").is_empty());
    }

    /// `delete_all` removes every channel of the user, failing ones too, and none of another
    /// user's.
    pub async fn delete_all_removes_only_that_users_channels(store: &Arc<dyn ChannelStore>) {
        let user = UserId::new();
        let other = UserId::new();
        let mine = [sample_channel(user, "a"), sample_channel(user, "b"), sample_channel(user, "c")];
        for channel in &mine {
            store.create(channel).await.expect("create");
        }
        store.record_failure(mine[0].key(), "HTTP 404", true, now_ms()).await.expect("failure");
        let theirs = sample_channel(other, "theirs");
        store.create(&theirs).await.expect("create");
        assert_eq!(store.delete_all(user).await.expect("delete_all"), 3, "every channel counted");
        assert!(store.list(user).await.expect("list").is_empty(), "no channel of the user is left");
        for channel in &mine {
            assert_eq!(store.get(channel.key()).await.expect("get"), None);
        }
        assert_eq!(store.list(other).await.expect("list"), vec![theirs], "another user's channel stays");
        assert_eq!(store.delete_all(user).await.expect("delete_all"), 0, "nothing left to delete");
    }

    /// Failures count up to failing; a permanent one fails at once; a success resets.
    pub async fn failures_mark_failing_and_success_resets(store: &Arc<dyn ChannelStore>) {
        let channel = sample_channel(UserId::new(), "a");
        store.create(&channel).await.expect("create");
        for _ in 0..Channel::FAILING_AFTER - 1 {
            store.record_failure(channel.key(), "HTTP 503", false, now_ms()).await.expect("failure");
        }
        let read = store.get(channel.key()).await.expect("get").expect("exists");
        assert_eq!(read.status, ChannelStatus::Active, "not failing before the limit");
        assert_eq!(read.consecutive_failures, Channel::FAILING_AFTER - 1);
        store.record_failure(channel.key(), "HTTP 503", false, now_ms()).await.expect("failure");
        let read = store.get(channel.key()).await.expect("get").expect("exists");
        assert_eq!(read.status, ChannelStatus::Failing, "failing after the limit");
        assert_eq!(read.last_error.as_deref(), Some("HTTP 503"));
        store.record_success(channel.key(), now_ms()).await.expect("success");
        let read = store.get(channel.key()).await.expect("get").expect("exists");
        assert_eq!((read.status, read.consecutive_failures, read.last_error), (ChannelStatus::Active, 0, None));
        store.record_failure(channel.key(), "HTTP 404", true, now_ms()).await.expect("failure");
        let read = store.get(channel.key()).await.expect("get").expect("exists");
        assert_eq!(read.status, ChannelStatus::Failing, "a permanent failure fails at once");
    }

    /// Concurrent failures lose no count.
    pub async fn concurrent_failures_all_count(store: &Arc<dyn ChannelStore>) {
        let channel = sample_channel(UserId::new(), "a");
        store.create(&channel).await.expect("create");
        let tasks = (0..5).map(|_| {
            let store = Arc::clone(store);
            let key = channel.key();
            tokio::spawn(async move { store.record_failure(key, "timeout", false, now_ms()).await })
        });
        for task in futures::future::join_all(tasks).await {
            task.expect("task").expect("failure");
        }
        let read = store.get(channel.key()).await.expect("get").expect("exists");
        assert_eq!(read.consecutive_failures, 5, "every concurrent failure counted");
    }
}

/// The delivery log cases.
pub mod delivery_log {
    use super::*;

    /// A record reads back; a delivered record is final.
    pub async fn put_get_and_delivered_is_final(log: &Arc<dyn DeliveryLog>) {
        let alert = sample_alert(UserId::new(), now_ms());
        log.record_alert(&alert).await.expect("alert");
        log.record_alert(&alert).await.expect("alert again is fine");
        let mut record = pending_record(&alert, OPERATOR_CHANNEL);
        assert!(log.put(&record).await.expect("put"));
        assert_eq!(log.get(alert.id, OPERATOR_CHANNEL).await.expect("get"), Some(record.clone()));
        assert_eq!(log.get(alert.id, "other").await.expect("get"), None);
        record.status = DeliveryStatus::Delivered;
        record.attempts = 2;
        record.delivered_at = Some(now_ms());
        record.next_attempt_at = None;
        assert!(log.put(&record).await.expect("put"));
        let late = DeliveryRecord { status: DeliveryStatus::Failed, attempts: 3, ..record.clone() };
        assert!(!log.put(&late).await.expect("put"), "a delivered record is final");
        assert_eq!(log.get(alert.id, OPERATOR_CHANNEL).await.expect("get"), Some(record));
    }

    /// `list` pages hold a user's alerts once, newest first, with their deliveries.
    pub async fn list_is_newest_first_paged_and_per_user(log: &Arc<dyn DeliveryLog>) {
        let user = UserId::new();
        let start = now_ms();
        let mut alerts = Vec::new();
        for i in 0..5 {
            let alert = sample_alert(user, start + chrono::Duration::seconds(i));
            log.record_alert(&alert).await.expect("alert");
            log.put(&pending_record(&alert, "c1")).await.expect("put");
            log.put(&pending_record(&alert, "c2")).await.expect("put");
            alerts.push(alert);
        }
        log.record_alert(&sample_alert(UserId::new(), start)).await.expect("other user's alert");
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let page = log.list(user, &PageRequest { limit: 2, cursor }).await.expect("list");
            assert!(page.items.len() <= 2);
            for entry in &page.items {
                assert_eq!(entry.deliveries.len(), 2, "each alert with its deliveries");
                assert_eq!(entry.alert.user_id, user, "only the user's alerts");
            }
            seen.extend(page.items.into_iter().map(|e| e.alert));
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        alerts.reverse();
        assert_eq!(seen, alerts, "every alert once, newest first");
        assert_eq!(log.delete_all(user).await.expect("delete_all"), 5);
        assert!(log.list(user, &PageRequest { limit: 10, cursor: None }).await.expect("list").items.is_empty());
    }

    /// `deliveries` returns every record of one alert, by channel, and nothing of another.
    pub async fn deliveries_lists_every_record_of_an_alert(log: &Arc<dyn DeliveryLog>) {
        let alert = sample_alert(UserId::new(), now_ms());
        log.record_alert(&alert).await.expect("alert");
        assert!(log.deliveries(alert.id).await.expect("deliveries").is_empty(), "none yet");
        let b = pending_record(&alert, "b-channel");
        let a = pending_record(&alert, "a-channel");
        log.put(&b).await.expect("put");
        log.put(&a).await.expect("put");
        let other = sample_alert(alert.user_id, now_ms());
        log.record_alert(&other).await.expect("alert");
        log.put(&pending_record(&other, "a-channel")).await.expect("put");
        assert_eq!(log.deliveries(alert.id).await.expect("deliveries"), vec![a, b], "every record, by channel");
    }

    /// `delete_all` removes the user's alerts and every delivery record of them; another user's
    /// stay whole.
    pub async fn delete_all_removes_alerts_and_deliveries_of_that_user_only(log: &Arc<dyn DeliveryLog>) {
        let user = UserId::new();
        let other = UserId::new();
        let start = now_ms();
        let mut mine = Vec::new();
        for i in 0..3 {
            let alert = sample_alert(user, start + chrono::Duration::seconds(i));
            log.record_alert(&alert).await.expect("alert");
            log.put(&pending_record(&alert, "c1")).await.expect("put");
            log.put(&pending_record(&alert, OPERATOR_CHANNEL)).await.expect("put");
            mine.push(alert);
        }
        let theirs = sample_alert(other, start);
        log.record_alert(&theirs).await.expect("alert");
        log.put(&pending_record(&theirs, "c1")).await.expect("put");

        assert_eq!(log.delete_all(user).await.expect("delete_all"), 3, "every alert counted");
        for alert in &mine {
            assert!(log.deliveries(alert.id).await.expect("deliveries").is_empty(), "no delivery record left");
            assert_eq!(log.get(alert.id, "c1").await.expect("get"), None);
        }
        assert!(log.list(user, &PageRequest { limit: 10, cursor: None }).await.expect("list").items.is_empty());
        let left = log.list(other, &PageRequest { limit: 10, cursor: None }).await.expect("list").items;
        assert_eq!(left.len(), 1, "another user's alert stays");
        assert_eq!(left[0].deliveries.len(), 1, "with its delivery");
        assert_eq!(log.delete_all(user).await.expect("delete_all"), 0, "nothing left to delete");
    }
}

/// Runs every channel store case as its own test.
#[macro_export]
macro_rules! channel_store_contract_tests {
    (@cases ($fixture:expr) $($case:ident),+ $(,)?) => {$(
        #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $case() {
            let fixture = $fixture.await;
            $crate::delivery_testing::channel_store::$case(&fixture.0).await;
        }
    )+};
    ($fixture:expr $(,)?) => {
        $crate::channel_store_contract_tests!(@cases ($fixture)
            create_then_get_round_trips,
            list_is_per_user_oldest_first,
            update_and_delete,
            delete_all_removes_only_that_users_channels,
            failures_mark_failing_and_success_resets,
            concurrent_failures_all_count,
        );
    };
}

/// Runs every delivery log case as its own test.
#[macro_export]
macro_rules! delivery_log_contract_tests {
    (@cases ($fixture:expr) $($case:ident),+ $(,)?) => {$(
        #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $case() {
            let fixture = $fixture.await;
            $crate::delivery_testing::delivery_log::$case(&fixture.0).await;
        }
    )+};
    ($fixture:expr $(,)?) => {
        $crate::delivery_log_contract_tests!(@cases ($fixture)
            put_get_and_delivered_is_final,
            list_is_newest_first_paged_and_per_user,
            deliveries_lists_every_record_of_an_alert,
            delete_all_removes_alerts_and_deliveries_of_that_user_only,
        );
    };
}
