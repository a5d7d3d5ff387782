//! The delivery stage of the AWS deployment as processes over moto_server and PostgreSQL: the
//! alert topic feeds the delivery queue, the scraper's delivery workers deliver to a user's
//! webhook channel on 127.0.0.1 (signed, recorded in the delivery log, retried through an
//! outage), and an email channel gets its own SNS subscription when it is added (never at
//! sign-up) and loses it when the account is deleted, with every item of the user; a scraper killed with SIGKILL mid-delivery loses no alert and sends none again that
//! the log showed delivered.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use common::{Service, Shop, free_port, set_visibility_timeout, take_messages, wait_for};
use pricetrack_postgres::testing::TestDatabase;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

const API: &str = env!("CARGO_BIN_EXE_api");
const SCRAPER: &str = env!("CARGO_BIN_EXE_scraper");

type Seen = Arc<Mutex<(u16, Vec<(HeaderMap, Bytes)>)>>;

async fn hook(State(seen): State<Seen>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let mut seen = seen.lock().expect("seen");
    seen.1.push((headers, body));
    StatusCode::from_u16(seen.0).expect("status")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_reach_a_users_channels_through_the_delivery_queue() {
    let db = TestDatabase::create().await.expect("a fresh PostgreSQL database");
    let (sdk, resources) = common::fresh_resources("delivery").await;
    let shop = Shop::default();
    let product = shop.serve("50.00").await;

    // A webhook receiver that is down (503) at first.
    let seen: Seen = Arc::new(Mutex::new((503, Vec::new())));
    let app = axum::Router::new().route("/hook", axum::routing::post(hook)).with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let hook_url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await.expect("hook server") });

    let env = common::programs_env(
        &resources,
        db.url().expose_secret(),
        &[("PRICETRACK_DELIVERY_RETRY_BASE", "300ms"), ("PRICETRACK_DELIVERY_VISIBILITY_TIMEOUT_SECS", "5")],
    );
    let port = free_port();
    let mut api_env = env.clone();
    api_env.insert("PRICETRACK_LISTEN".into(), format!("127.0.0.1:{port}"));
    let mut api = Service::start("api", API, &[], &api_env);
    let mut scraper = Service::start("scraper", SCRAPER, &[], &env);

    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder().cookie_store(true).build().expect("client");
    wait_for("the API to be ready", Duration::from_secs(60), async || {
        api.assert_running();
        let response = client.get(format!("{base}/readyz")).send().await.ok()?;
        response.status().is_success().then_some(())
    })
    .await;
    let api_url = format!("{base}/api/v1");
    let credentials = json!({"email": "ada@example.com", "password": "correct horse"});
    assert_eq!(client.post(format!("{api_url}/signup")).json(&credentials).send().await.expect("signup").status(), 201);
    assert_eq!(client.post(format!("{api_url}/signin")).json(&credentials).send().await.expect("signin").status(), 200);

    // Sign-up subscribed nobody to the topic.
    let sns = aws_sdk_sns::Client::new(&sdk);
    let subscriptions = |sns: aws_sdk_sns::Client, topic: String| async move {
        sns.list_subscriptions_by_topic().topic_arn(topic).send().await.expect("list").subscriptions.unwrap_or_default()
    };
    let before = subscriptions(sns.clone(), resources.topic_arn.clone()).await;
    assert!(before.iter().all(|s| s.protocol.as_deref() != Some("email")), "no email subscription at sign-up");

    // A webhook channel, and an email channel (its SNS subscription is made now).
    let r = client.post(format!("{api_url}/channels")).json(&json!({"kind": "webhook", "url": hook_url})).send().await;
    let webhook: Value = r.expect("create webhook").json().await.expect("json");
    let secret = webhook["secret"].as_str().expect("secret shown once").to_owned();
    let r = client
        .post(format!("{api_url}/channels"))
        .json(&json!({"kind": "email", "address": "ada@example.com"}))
        .send()
        .await
        .expect("create email channel");
    assert_eq!(r.status(), 201);
    let email_channel: Value = r.json().await.expect("json");
    let email_channel_id = email_channel["id"].as_str().expect("id").to_owned();
    let after = subscriptions(sns.clone(), resources.topic_arn.clone()).await;
    assert_eq!(after.iter().filter(|s| s.protocol.as_deref() == Some("email")).count(), 1);
    // moto sends no mail: a queue with the email subscription's filter reads what it would get.
    let email_inbox = pricetrack_aws::testing::subscribe_inbox(
        &sdk,
        &resources.topic_arn,
        pricetrack_aws::schema::email_channel_filter_policy(&email_channel_id),
    )
    .await;

    // A job below its target: one alert, delivered to both channels.
    let r = client
        .post(format!("{api_url}/jobs"))
        .json(&json!({"url": product, "target_price": "80", "check_interval_secs": 3600}))
        .send()
        .await
        .expect("create job");
    assert_eq!(r.status(), 201);

    // The email arrives through its own subscription.
    let emails = wait_for("the alert email", Duration::from_secs(30), async || {
        let bodies = take_messages(&sdk, &email_inbox, Duration::from_secs(1)).await;
        (!bodies.is_empty()).then_some(bodies)
    })
    .await;
    let envelope: Value = serde_json::from_str(&emails[0]).expect("SNS envelope");
    assert_eq!(envelope["Subject"], "Price alert: at or below your target");
    assert!(envelope["Message"].as_str().expect("text").contains("50.00"), "{envelope}");

    // The webhook is down: retried (the log says pending with the 503), then it recovers.
    wait_for("a refused attempt", Duration::from_secs(30), async || {
        (seen.lock().expect("seen").1.len() >= 2).then_some(())
    })
    .await;
    seen.lock().expect("seen").0 = 204;
    let log = wait_for("the webhook delivery", Duration::from_secs(30), async || {
        scraper.assert_running();
        let log: Value = client.get(format!("{api_url}/alerts")).send().await.ok()?.json().await.ok()?;
        let deliveries = log["alerts"][0]["deliveries"].as_array()?.clone();
        (deliveries.len() == 2 && deliveries.iter().all(|d| d["status"] == "delivered")).then_some(log)
    })
    .await;
    assert_eq!(log["alerts"].as_array().expect("alerts").len(), 1, "{log}");
    let webhook_id = webhook["id"].as_str().expect("id");
    let delivery = log["alerts"][0]["deliveries"]
        .as_array()
        .expect("deliveries")
        .iter()
        .find(|d| d["channel"] == webhook_id)
        .expect("the webhook's delivery")
        .clone();
    assert!(delivery["attempts"].as_u64().expect("attempts") >= 2, "{delivery}");

    // Every attempt was signed with the channel's secret and carried one webhook-id.
    let requests = seen.lock().expect("seen").1.clone();
    let ids: std::collections::HashSet<String> = requests
        .iter()
        .map(|(headers, body)| {
            let header = |name: &str| headers.get(name).expect(name).to_str().expect("ascii").to_owned();
            pricetrack_delivery::signature::verify(
                &secret,
                &header("webhook-id"),
                header("webhook-timestamp").parse().expect("timestamp"),
                body,
                &header("webhook-signature"),
            )
            .expect("signed with the channel's secret");
            header("webhook-id")
        })
        .collect();
    assert_eq!(ids.len(), 1);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(seen.lock().expect("seen").1.len(), requests.len(), "delivered: never sent again");
    assert!(scraper.terminate(Duration::from_secs(30)).success());

    // Deleting the account removes the email channel's SNS subscription (it holds the address)
    // and every item of the user in the table: jobs, channels, alerts, deliveries.
    let me: Value = client.get(format!("{api_url}/me")).send().await.expect("me").json().await.expect("json");
    let user_id = me["id"].as_str().expect("id").to_owned();
    let alert_id = log["alerts"][0]["id"].as_str().expect("alert id").to_owned();
    let r = client.delete(format!("{api_url}/me")).json(&json!({"password": "correct horse"})).send().await;
    assert_eq!(r.expect("delete the account").status(), 204);
    let left = subscriptions(sns.clone(), resources.topic_arn.clone()).await;
    assert!(left.iter().all(|s| s.protocol.as_deref() != Some("email")), "the email subscription is gone: {left:?}");
    let dynamodb = pricetrack_aws::aws_sdk_dynamodb::Client::new(&sdk);
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let out = dynamodb
            .scan()
            .table_name(&resources.table)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("scan the table");
        items.extend(out.items.unwrap_or_default());
        start = out.last_evaluated_key;
        if start.is_none() {
            break;
        }
    }
    let mentions =
        |item: &std::collections::HashMap<String, pricetrack_aws::aws_sdk_dynamodb::types::AttributeValue>| {
            item.values().any(|v| v.as_s().is_ok_and(|s| s.contains(&user_id) || s.contains(&alert_id)))
        };
    let leftovers: Vec<_> = items.iter().filter(|item| mentions(item)).collect();
    assert!(leftovers.is_empty(), "items of the deleted account are left: {leftovers:?}");
    assert!(api.terminate(Duration::from_secs(30)).success());
}

/// The receiver of the kill -9 test: answers the first `answer_first` requests at once (204),
/// holds every later one until `release` (while held, a delivery is in flight), then answers
/// 204 to everything. Records every request's `webhook-id`, and which ones it answered.
#[derive(Debug, Default)]
struct Held {
    answer_first: usize,
    released: bool,
    received: Vec<String>,
    answered: Vec<String>,
    held_now: usize,
}

type HeldState = Arc<Mutex<Held>>;

async fn held_hook(State(state): State<HeldState>, headers: HeaderMap) -> StatusCode {
    let id = headers.get("webhook-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let hold = {
        let mut held = state.lock().expect("held");
        held.received.push(id.clone());
        let hold = !held.released && held.received.len() > held.answer_first;
        if hold {
            held.held_now += 1;
        }
        hold
    };
    if hold {
        // Held until released (or the deliverer is killed and the connection dropped, which
        // ends this handler with it).
        for _ in 0..600 {
            if state.lock().expect("held").released {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        state.lock().expect("held").held_now -= 1;
        // Answered after the release only to a deliverer that is long gone.
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    state.lock().expect("held").answered.push(id);
    StatusCode::NO_CONTENT
}

/// A scraper killed with SIGKILL in the middle of deliveries: after a restart every alert is
/// delivered, none is lost, and none whose delivery the log showed delivered before the kill is
/// sent again (a delivery in flight at the kill may be repeated, with the same `webhook-id`,
/// which is what lets the receiver drop the repeat).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deliverer_killed_mid_delivery_loses_no_alert_and_repeats_no_delivered_one() {
    const JOBS: usize = 4;
    let db = TestDatabase::create().await.expect("a fresh PostgreSQL database");
    let (sdk, resources) = common::fresh_resources("delivery-kill").await;
    // What the killed scraper had taken comes back this soon: checks and deliveries.
    set_visibility_timeout(&sdk, &resources.queue_url, 4).await;
    set_visibility_timeout(&sdk, &resources.delivery_queue_url, 3).await;
    let shop = Shop::default();
    let product = shop.serve("50.00").await;

    let state: HeldState = Arc::new(Mutex::new(Held { answer_first: 2, ..Held::default() }));
    let app = axum::Router::new().route("/hook", axum::routing::post(held_hook)).with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let hook_url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await.expect("hook server") });

    let env = common::programs_env(
        &resources,
        db.url().expose_secret(),
        &[
            ("PRICETRACK_DELIVERY_RETRY_BASE", "300ms"),
            // A delivery message taken by the killed scraper is back this soon.
            ("PRICETRACK_DELIVERY_VISIBILITY_TIMEOUT_SECS", "3"),
            ("PRICETRACK_VISIBILITY_TIMEOUT_SECS", "4"),
            ("PRICETRACK_DELIVERY_WORKERS", "8"),
        ],
    );
    let port = free_port();
    let mut api_env = env.clone();
    api_env.insert("PRICETRACK_LISTEN".into(), format!("127.0.0.1:{port}"));
    let mut api = Service::start("api", API, &[], &api_env);
    let mut scraper = Service::start("scraper", SCRAPER, &[], &env);

    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder().cookie_store(true).build().expect("client");
    wait_for("the API to be ready", Duration::from_secs(60), async || {
        api.assert_running();
        let response = client.get(format!("{base}/readyz")).send().await.ok()?;
        response.status().is_success().then_some(())
    })
    .await;
    let api_url = format!("{base}/api/v1");
    let credentials = json!({"email": "ada@example.com", "password": "correct horse"});
    assert_eq!(client.post(format!("{api_url}/signup")).json(&credentials).send().await.expect("signup").status(), 201);
    assert_eq!(client.post(format!("{api_url}/signin")).json(&credentials).send().await.expect("signin").status(), 200);
    let r = client.post(format!("{api_url}/channels")).json(&json!({"kind": "webhook", "url": hook_url})).send().await;
    assert_eq!(r.expect("create webhook").status(), 201);

    // Jobs below their target: one alert each, on their first check.
    for n in 0..JOBS {
        let body = json!({"url": format!("{product}?n={n}"), "target_price": "80", "check_interval_secs": 3600});
        let r = client.post(format!("{api_url}/jobs")).json(&body).send().await.expect("create job");
        assert_eq!(r.status(), 201);
    }
    let log_of = async |client: &reqwest::Client| -> Option<Vec<Value>> {
        let log: Value = client.get(format!("{api_url}/alerts?limit=50")).send().await.ok()?.json().await.ok()?;
        log["alerts"].as_array().cloned()
    };
    let delivered = |alerts: &[Value]| -> Vec<String> {
        alerts
            .iter()
            .filter(|a| a["deliveries"].as_array().is_some_and(|d| d.iter().any(|d| d["status"] == "delivered")))
            .map(|a| a["id"].as_str().expect("id").to_owned())
            .collect()
    };

    // Two deliveries answered and logged delivered, at least one more in flight: kill -9.
    let before_kill = wait_for("two delivered and one in flight", Duration::from_secs(60), async || {
        scraper.assert_running();
        let alerts = log_of(&client).await?;
        let done = delivered(&alerts);
        (done.len() >= 2 && state.lock().expect("held").held_now >= 1).then_some(done)
    })
    .await;
    scraper.signal("KILL");
    let status = scraper.wait_exit(Duration::from_secs(10));
    assert!(!status.success(), "killed: {status}");
    // The log at the kill (a delivery recorded between the read above and the kill counts too).
    let at_kill = delivered(&log_of(&client).await.expect("the log"));
    assert!(at_kill.len() >= before_kill.len());
    let in_flight: Vec<String> = {
        let mut held = state.lock().expect("held");
        held.released = true;
        held.received.iter().filter(|id| !held.answered.contains(id)).cloned().collect()
    };
    assert!(!in_flight.is_empty(), "a delivery was in flight at the kill");

    let mut scraper = Service::start("scraper-again", SCRAPER, &[], &env);
    let alerts = wait_for("every alert delivered after the restart", Duration::from_secs(90), async || {
        scraper.assert_running();
        let alerts = log_of(&client).await?;
        (alerts.len() == JOBS && delivered(&alerts).len() == JOBS).then_some(alerts)
    })
    .await;
    // Let anything that would be sent twice arrive.
    tokio::time::sleep(Duration::from_secs(4)).await;

    let held = state.lock().expect("held");
    let alert_of = |webhook_id: &str| webhook_id.split('.').next().expect("<alert id>.<channel id>").to_owned();
    let received: Vec<String> = held.received.iter().map(|id| alert_of(id)).collect();
    let answered: Vec<String> = held.answered.iter().map(|id| alert_of(id)).collect();
    for alert in &alerts {
        let id = alert["id"].as_str().expect("id");
        assert_eq!(answered.iter().filter(|a| *a == id).count(), 1, "alert {id} accepted exactly once: {held:?}");
        let deliveries = alert["deliveries"].as_array().expect("deliveries");
        assert_eq!(deliveries.len(), 1, "{alert}");
    }
    for id in &at_kill {
        assert_eq!(
            received.iter().filter(|a| *a == id).count(),
            1,
            "alert {id}, logged delivered before the kill, was sent again: {held:?}"
        );
    }
    // Every repeat is of a delivery in flight at the kill, with its idempotency key unchanged.
    let distinct: std::collections::HashSet<&String> = held.received.iter().collect();
    assert_eq!(distinct.len(), JOBS, "one webhook-id per alert: {held:?}");
    for id in &held.received {
        let times = held.received.iter().filter(|r| *r == id).count();
        assert!(times == 1 || in_flight.contains(id), "{id} repeated but was not in flight at the kill: {held:?}");
    }
    drop(held);
    assert!(scraper.terminate(Duration::from_secs(30)).success());
    assert!(api.terminate(Duration::from_secs(30)).success());
}
