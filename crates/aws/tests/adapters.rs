//! What the contract suites do not say: the rescheduler's reads grow with the due jobs only,
//! alerts reach their owner only, big deletions go through batch writes, and bootstrap is
//! idempotent. Against moto_server over real HTTP.

mod common;

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;

use aws_sdk_sqs::types::QueueAttributeName;
use chrono::Duration as Span;
use futures::{StreamExt, TryStreamExt};
use pricetrack_aws::bootstrap::{ResourceNames, bootstrap, ensure_topic, shell_exports};
use pricetrack_aws::testing::{subscribe_inbox, unique_name};
use pricetrack_aws::{AlertMessage, DynamoJobStore, SnsEmail, SnsNotifier, schema, user_filter_policy};
use pricetrack_domain::ports::{JobStore, Notifier, PageRequest, WriteOutcome};
use pricetrack_domain::testing::{now_ms, sample_job};
use pricetrack_domain::{
    Alert, AlertId, Availability, CheckOutcome, CheckedOffer, Email, HistoryQuery, Job, JobId, Money, ProductUrl,
    SchedulePolicy, TargetPrice, User, UserId,
};
use rust_decimal::Decimal;

use common::{fresh_job_store, sdk_config};

async fn create_all(store: &DynamoJobStore, jobs: &[Job]) {
    futures::stream::iter(jobs)
        .map(|job| store.create(job))
        .buffer_unordered(16)
        .try_collect::<Vec<()>>()
        .await
        .expect("create jobs");
}

/// Guarantee 6: with 2,000 jobs of which 50 are due, `claim_due` claims the 50 and reads about
/// 50 items, not 2,000.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn claim_due_reads_only_due_items() {
    let store = fresh_job_store().await;
    let now = now_ms();
    let (total, due) = (2_000_usize, 50_usize);
    let jobs: Vec<Job> = (0..total)
        .map(|i| {
            let at = if i < due { now - Span::milliseconds(1_000 + i as i64) } else { now + Span::hours(1) };
            sample_job(UserId::new(), at)
        })
        .collect();
    create_all(&store, &jobs).await;

    let before = store.items_read();
    let claimed = store.claim_due(now, now + Span::minutes(5), 1_000).await.expect("claim_due");
    let read = store.items_read() - before;
    assert_eq!(claimed.len(), due, "claim_due must claim every due job");
    let bound = 2 * due as u64 + u64::from(schema::DUE_SHARDS);
    assert!(read <= bound, "claim_due read {read} items for {due} due jobs among {total} (bound {bound})");

    let before = store.items_read();
    let again = store.claim_due(now, now + Span::minutes(5), 1_000).await.expect("claim_due");
    assert!(again.is_empty(), "the leased jobs are not due any more");
    assert!(store.items_read() - before <= u64::from(schema::DUE_SHARDS), "nothing due, (almost) nothing read");

    // A small limit reads about as much as it claims.
    let later = now + Span::hours(2);
    let before = store.items_read();
    let some = store.claim_due(later, later + Span::minutes(5), 10).await.expect("claim_due");
    assert_eq!(some.len(), 10, "claim_due must respect its limit");
    let read = store.items_read() - before;
    assert!(read <= 10 * u64::from(schema::DUE_SHARDS), "a claim of 10 read {read} items");
}

/// `delete_all` over more jobs than one batch write takes (25) removes every job and its
/// observations, and nothing of another user.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn delete_all_removes_more_than_one_batch() {
    let store = fresh_job_store().await;
    let (user, other) = (UserId::new(), UserId::new());
    let jobs: Vec<Job> = (0..60).map(|_| sample_job(user, now_ms() + Span::hours(1))).collect();
    create_all(&store, &jobs).await;
    let kept = sample_job(other, now_ms() + Span::hours(1));
    store.create(&kept).await.expect("create");

    // Some history on a few jobs.
    let priced = CheckOutcome::Priced(CheckedOffer {
        price: Money::new(Decimal::from_str("10.50").expect("decimal"), None),
        availability: Some(Availability::InStock),
        method: "test".to_owned(),
    });
    for job in &jobs[..3] {
        let transition = job.after_check(&priced, now_ms(), &SchedulePolicy::default(), 0);
        let outcome = store
            .record_check(&transition.job, job.version, transition.observation.as_ref())
            .await
            .expect("record_check");
        assert_eq!(outcome, WriteOutcome::Applied);
        assert_eq!(
            store
                .history(job.key(), &HistoryQuery { limit: 10, ..HistoryQuery::default() })
                .await
                .expect("history")
                .items
                .len(),
            1
        );
    }

    let removed = store.delete_all(user).await.expect("delete_all");
    assert_eq!(removed, 60, "delete_all must count every job it removed");
    let left = store.list(user, &PageRequest { limit: 100, cursor: None }).await.expect("list");
    assert!(left.items.is_empty(), "delete_all must remove every job of the user");
    for job in &jobs[..3] {
        assert!(store.get(job.key()).await.expect("get").is_none());
        assert!(
            store
                .history(job.key(), &HistoryQuery { limit: 10, ..HistoryQuery::default() })
                .await
                .expect("history")
                .items
                .is_empty(),
            "history goes too"
        );
    }
    assert_eq!(store.get(kept.key()).await.expect("get"), Some(kept), "another user's job stays");
    assert_eq!(store.delete_all(user).await.expect("delete_all"), 0);
}

/// Every message in a queue (moto hands them all out at once, real SQS may not: loop).
async fn drain(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<String> {
    let mut bodies = Vec::new();
    for _ in 0..3 {
        let out = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("receive");
        bodies.extend(out.messages.unwrap_or_default().into_iter().filter_map(|m| m.body));
    }
    bodies
}

fn alert_for(user_id: UserId, price: &str) -> Alert {
    Alert {
        id: AlertId::new(),
        job_id: JobId::new(),
        user_id,
        url: ProductUrl::parse("https://shop.example/p/caf%C3%A9?x=1").expect("url"),
        price: Money::new(Decimal::from_str(price).expect("decimal"), Some(pricetrack_domain::Currency::EUR)),
        target_price: TargetPrice::parse("50").expect("target"),
        checked_at: now_ms(),
        details: Default::default(),
    }
}

/// Each user's subscription receives their own alerts only, as the alert JSON inside the SNS
/// envelope, with the subject and message attributes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sns_alerts_reach_their_owner_only() {
    let config = sdk_config().await;
    let (sns, sqs) = (aws_sdk_sns::Client::new(&config), aws_sdk_sqs::Client::new(&config));
    let topic_arn = ensure_topic(&sns, &unique_name("alerts")).await.expect("topic");
    let (alice, bob) = (UserId::new(), UserId::new());
    let alice_inbox = subscribe_inbox(&config, &topic_arn, user_filter_policy(alice)).await;
    let bob_inbox = subscribe_inbox(&config, &topic_arn, user_filter_policy(bob)).await;

    let notifier = SnsNotifier::new(sns.clone(), topic_arn.clone());
    let alice_alert = alert_for(alice, "49.90");
    let bob_alert = alert_for(bob, "12");
    notifier.publish(&alice_alert).await.expect("publish");
    notifier.publish(&bob_alert).await.expect("publish");

    for (inbox, alert) in [(&alice_inbox, &alice_alert), (&bob_inbox, &bob_alert)] {
        let bodies = drain(&sqs, inbox).await;
        assert_eq!(bodies.len(), 1, "each inbox gets exactly its owner's alert: {bodies:?}");
        let envelope: serde_json::Value = serde_json::from_str(&bodies[0]).expect("SNS envelope JSON");
        assert_eq!(envelope["Type"], "Notification");
        assert_eq!(envelope["Subject"], schema::ALERT_SUBJECT);
        assert_eq!(envelope["MessageAttributes"]["user_id"]["Value"], alert.user_id.to_string());
        assert_eq!(envelope["MessageAttributes"]["alert_id"]["Value"], alert.id.to_string());
        let message: AlertMessage =
            serde_json::from_str(envelope["Message"].as_str().expect("Message is text")).expect("alert JSON");
        assert_eq!(message, AlertMessage::from_alert(alert));
        let raw: serde_json::Value =
            serde_json::from_str(envelope["Message"].as_str().unwrap_or_default()).expect("json");
        assert!(raw["price"].is_string() && raw["target_price"].is_string(), "decimals travel as text: {raw}");
    }
}

/// Sign-up subscribes nobody (no mail nobody asked for); an email channel is an email
/// subscription filtered on its channel id, made when the user adds it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sign_up_subscribes_nobody_and_an_email_channel_gets_its_own_subscription() {
    let config = sdk_config().await;
    let sns = aws_sdk_sns::Client::new(&config);
    let topic_arn = ensure_topic(&sns, &unique_name("alerts")).await.expect("topic");
    let notifier = SnsNotifier::new(sns.clone(), topic_arn.clone());
    let user = User { id: UserId::new(), email: Email::parse("ada@example.com").expect("email"), created_at: now_ms() };
    notifier.subscribe(&user).await.expect("subscribe");
    let subscriptions = sns.list_subscriptions_by_topic().topic_arn(&topic_arn).send().await.expect("list");
    assert!(subscriptions.subscriptions.unwrap_or_default().is_empty(), "sign-up alone never subscribes an address");

    let email = SnsEmail::new(sns.clone(), topic_arn.clone());
    let channel = pricetrack_domain::ChannelId::new().to_string();
    email.subscribe(&channel, "ada@example.com").await.expect("subscribe the channel");
    let subscriptions = sns.list_subscriptions_by_topic().topic_arn(&topic_arn).send().await.expect("list");
    let subscriptions = subscriptions.subscriptions.unwrap_or_default();
    assert_eq!(subscriptions.len(), 1);
    let subscription = &subscriptions[0];
    assert_eq!(subscription.protocol.as_deref(), Some("email"));
    assert_eq!(subscription.endpoint.as_deref(), Some("ada@example.com"));
    // moto confirms email subscriptions at once; real SNS says "PendingConfirmation" until the
    // user clicks, and refuses to read the attributes of a pending subscription.
    if let Some(arn) = subscription.subscription_arn.as_deref().filter(|arn| arn.starts_with("arn:")) {
        let attributes = sns.get_subscription_attributes().subscription_arn(arn).send().await.expect("attributes");
        let attributes: HashMap<String, String> = attributes.attributes.unwrap_or_default();
        let policy: serde_json::Value =
            serde_json::from_str(attributes.get("FilterPolicy").expect("a filter policy")).expect("policy JSON");
        assert_eq!(policy, serde_json::json!({ "kind": ["email"], "channel_id": [channel] }));
    }

    // An email for the channel reaches a subscriber with its filter; an alert does not.
    let sqs = aws_sdk_sqs::Client::new(&config);
    let inbox = subscribe_inbox(&config, &topic_arn, schema::email_channel_filter_policy(&channel)).await;
    notifier.publish(&alert_for(user.id, "10")).await.expect("publish an alert");
    email.publish(&channel, "Price alert: at or below your target", "Now 10 EUR").await.expect("publish an email");
    let bodies = drain(&sqs, &inbox).await;
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    let envelope: serde_json::Value = serde_json::from_str(&bodies[0]).expect("SNS envelope JSON");
    assert_eq!(envelope["Message"], "Now 10 EUR");
}

/// `bootstrap` twice creates nothing new and returns the same resources; the queue has the
/// settings of `schema`, its redrive policy pointing at the dead-letter queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bootstrap_is_idempotent() {
    let config = sdk_config().await;
    let names = ResourceNames::with_prefix(&unique_name("pt"));
    let first = bootstrap(&config, &names).await.expect("first bootstrap");
    let second = bootstrap(&config, &names).await.expect("second bootstrap");
    assert_eq!(first, second, "a second bootstrap must return the same resources");
    assert_eq!(first.table, names.table);

    let sqs = aws_sdk_sqs::Client::new(&config);
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(&first.queue_url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .expect("queue attributes")
        .attributes
        .unwrap_or_default();
    let dead_letter_arn = sqs
        .get_queue_attributes()
        .queue_url(&first.dead_letter_queue_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("dead-letter queue attributes")
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .expect("dead-letter queue arn");
    let redrive: serde_json::Value = serde_json::from_str(
        attributes.get(&QueueAttributeName::RedrivePolicy).expect("the queue has a redrive policy"),
    )
    .expect("redrive policy JSON");
    assert_eq!(redrive["deadLetterTargetArn"], dead_letter_arn.as_str());
    let max_receive = match &redrive["maxReceiveCount"] {
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::String(s) => s.clone(),
        other => panic!("maxReceiveCount {other}"),
    };
    assert_eq!(max_receive, schema::QUEUE_MAX_RECEIVE_COUNT.to_string());
    assert_eq!(
        attributes.get(&QueueAttributeName::VisibilityTimeout).map(String::as_str),
        Some(schema::QUEUE_VISIBILITY_TIMEOUT_SECS.to_string().as_str())
    );
    assert_eq!(
        attributes.get(&QueueAttributeName::ReceiveMessageWaitTimeSeconds).map(String::as_str),
        Some(schema::QUEUE_RECEIVE_WAIT_SECS.to_string().as_str())
    );

    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let table =
        dynamodb.describe_table().table_name(&first.table).send().await.expect("describe").table.expect("table");
    let index = table
        .global_secondary_indexes()
        .iter()
        .find(|i| i.index_name() == Some(schema::DUE_INDEX))
        .expect("the due index");
    let keys: Vec<&str> = index.key_schema().iter().map(|k| k.attribute_name()).collect();
    assert_eq!(keys, [schema::DUE_SHARD, schema::NEXT_CHECK_AT]);
    let ttl = dynamodb.describe_time_to_live().table_name(&first.table).send().await.expect("ttl");
    assert_eq!(
        ttl.time_to_live_description.and_then(|d| d.attribute_name).as_deref(),
        Some(schema::TTL_ATTRIBUTE),
        "observations expire through the TTL"
    );

    // The delivery queue is subscribed to the topic: an alert arrives raw (its JSON), an email
    // publication does not.
    let notifier = SnsNotifier::new(aws_sdk_sns::Client::new(&config), first.topic_arn.clone());
    let alert = alert_for(UserId::new(), "9.99");
    notifier.publish(&alert).await.expect("publish");
    SnsEmail::new(aws_sdk_sns::Client::new(&config), first.topic_arn.clone())
        .publish("some-channel", "subject", "an email")
        .await
        .expect("publish an email");
    let bodies = drain(&sqs, &first.delivery_queue_url).await;
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    let message: AlertMessage = serde_json::from_str(&bodies[0]).expect("raw alert JSON");
    assert_eq!(message, AlertMessage::from_alert(&alert));

    let exports = shell_exports(&first);
    assert!(exports.starts_with("export PRICETRACK_TABLE="), "{exports}");
    assert!(exports.contains(&first.queue_url) && exports.contains(&first.topic_arn), "{exports}");

    // The store works on the bootstrapped table.
    let store = Arc::new(DynamoJobStore::new(dynamodb, first.table.clone()));
    store.ping().await.expect("ping");
    let job = sample_job(UserId::new(), now_ms());
    store.create(&job).await.expect("create");
    assert_eq!(store.get(job.key()).await.expect("get"), Some(job));
}
