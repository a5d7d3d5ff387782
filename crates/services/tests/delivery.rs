//! The delivery stage of the AWS deployment as processes over moto_server and PostgreSQL: the
//! alert topic feeds the delivery queue, the scraper's delivery workers deliver to a user's
//! webhook channel on 127.0.0.1 (signed, recorded in the delivery log, retried through an
//! outage), and an email channel gets its own SNS subscription when it is added (never at
//! sign-up).

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use common::{JWT_SECRET, Service, Shop, aws_env, free_port, take_messages, wait_for};
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

    let mut env: BTreeMap<String, String> = aws_env(&resources);
    for (k, v) in [
        ("DATABASE_URL", db.url().expose_secret()),
        ("PRICETRACK_JWT_SECRET", JWT_SECRET),
        ("PRICETRACK_ALLOW_PRIVATE_TARGETS", "true"),
        ("PRICETRACK_COOKIE_SECURE", "false"),
        ("PRICETRACK_MIN_CHECK_INTERVAL_SECS", "1"),
        ("PRICETRACK_DELIVERY_RETRY_BASE", "300ms"),
        ("PRICETRACK_DELIVERY_VISIBILITY_TIMEOUT_SECS", "5"),
    ] {
        env.insert(k.to_owned(), v.to_owned());
    }
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
    assert!(api.terminate(Duration::from_secs(30)).success());
}
