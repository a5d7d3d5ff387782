//! The delivery stage of `pricetrack serve` through real channels: the binary, product pages and
//! webhook receivers on 127.0.0.1. A channel outage never holds checks back and its alert
//! arrives once after recovery; a 404 fails the delivery at once; two users get only their own
//! alerts; `kill -9` in the middle of a delivery loses nothing.

use std::collections::HashSet;
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing;
use serde_json::{Value, json};

async fn product_page(State(price): State<Arc<Mutex<String>>>) -> axum::response::Html<String> {
    let price = price.lock().expect("price").clone();
    axum::response::Html(format!(
        r#"<!doctype html><html><head><script type="application/ld+json">{{"@context":"https://schema.org","@type":"Product","name":"Widget",
"offers":{{"@type":"Offer","price":"{price}","priceCurrency":"EUR","availability":"https://schema.org/InStock"}}}}</script></head><body></body></html>"#
    ))
}

/// A webhook receiver: answers `status` (after `hold`), and keeps the `webhook-id` and body of
/// each request.
#[derive(Clone)]
struct Hook {
    status: Arc<Mutex<u16>>,
    hold: Arc<Mutex<Duration>>,
    seen: Arc<Mutex<Vec<(String, Value)>>>,
}

impl Hook {
    fn new(status: u16) -> Self {
        Self { status: Arc::new(Mutex::new(status)), hold: Arc::default(), seen: Arc::default() }
    }
    fn set(&self, status: u16) {
        *self.status.lock().expect("status") = status;
    }
    fn seen(&self) -> Vec<(String, Value)> {
        self.seen.lock().expect("seen").clone()
    }
}

async fn hook(State(hook): State<Hook>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let id = headers.get("webhook-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    hook.seen.lock().expect("seen").push((id, serde_json::from_slice(&body).unwrap_or(Value::Null)));
    let hold = *hook.hold.lock().expect("hold");
    if !hold.is_zero() {
        tokio::time::sleep(hold).await;
    }
    StatusCode::from_u16(*hook.status.lock().expect("status")).expect("status")
}

async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, router).await.expect("server") });
    addr
}

async fn shop(price: &str) -> (String, Arc<Mutex<String>>) {
    let state = Arc::new(Mutex::new(price.to_owned()));
    let addr = serve(Router::new().route("/widget", routing::get(product_page)).with_state(state.clone())).await;
    (format!("http://{addr}/widget"), state)
}

async fn receiver(status: u16) -> (String, Hook) {
    let state = Hook::new(status);
    let addr = serve(Router::new().route("/hook", routing::post(hook)).with_state(state.clone())).await;
    (format!("http://{addr}/hook"), state)
}

struct Tracker {
    child: Child,
    api: String,
}

impl Drop for Tracker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Tracker {
    async fn start(data_dir: &std::path::Path) -> Tracker {
        let port = TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
        let child = Command::new(env!("CARGO_BIN_EXE_pricetrack"))
            .arg("serve")
            .env("PRICETRACK_LISTEN", format!("127.0.0.1:{port}"))
            .env("PRICETRACK_DATA_DIR", data_dir)
            .env_remove("PRICETRACK_WEBHOOK_URL")
            .env("PRICETRACK_ALLOW_PRIVATE_TARGETS", "true")
            .env("PRICETRACK_MIN_CHECK_INTERVAL_SECS", "1")
            .env("PRICETRACK_SCHEDULER_TICK_MS", "200")
            .env("PRICETRACK_HOST_MIN_DELAY", "10ms")
            .env("PRICETRACK_BROWSER_TABS", "0")
            .env("PRICETRACK_DELIVERY_RETRY_BASE", "200ms")
            .env("PRICETRACK_DELIVERY_VISIBILITY_TIMEOUT", "2s")
            .env_remove("PRICETRACK_JWT_SECRET")
            .env("RUST_LOG", std::env::var("PRICETRACK_TEST_RUST_LOG").unwrap_or_else(|_| "warn".into()))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start pricetrack serve");
        let tracker = Tracker { child, api: format!("http://127.0.0.1:{port}/api/v1") };
        let probe = format!("http://127.0.0.1:{port}/readyz");
        wait_for("pricetrack serve to be ready", Duration::from_secs(30), async || {
            reqwest::get(&probe).await.ok().filter(|r| r.status().is_success()).map(|_| ())
        })
        .await;
        tracker
    }

    /// SIGKILL: no shutdown, nothing flushed.
    fn kill_9(mut self) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-9", &pid]).status().expect("kill").success());
        let _ = self.child.wait();
    }
}

async fn wait_for<T>(what: &str, timeout: Duration, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Signs up and in as `email`.
async fn user(api: &str, email: &str) -> reqwest::Client {
    let client = reqwest::Client::builder().cookie_store(true).build().expect("client");
    let credentials = json!({"email": email, "password": "correct horse"});
    assert_eq!(client.post(format!("{api}/signup")).json(&credentials).send().await.expect("signup").status(), 201);
    assert_eq!(client.post(format!("{api}/signin")).json(&credentials).send().await.expect("signin").status(), 200);
    client
}

async fn post(client: &reqwest::Client, url: String, body: Value) -> Value {
    let response = client.post(url).json(&body).send().await.expect("post");
    assert!(response.status().is_success(), "{}", response.status());
    response.json().await.expect("json")
}

async fn get_json(client: &reqwest::Client, url: String) -> Value {
    client.get(url).send().await.expect("get").json().await.expect("json")
}

/// The user's delivery log entry for their first alert, once it is no longer pending.
async fn settled_delivery(client: &reqwest::Client, api: &str, within: Duration) -> Value {
    wait_for("the delivery to settle", within, async || {
        let log = get_json(client, format!("{api}/alerts")).await;
        let delivery = log["alerts"].get(0)?["deliveries"].get(0)?.clone();
        (delivery["status"] != "pending").then_some(delivery)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_outage_never_holds_checks_back_and_each_user_gets_their_alert_once() {
    let data = tempfile::tempdir().expect("tempdir");
    let tracker = Tracker::start(data.path()).await;
    let api = tracker.api.clone();
    let (page, _) = shop("50.00").await;

    // Two users, each with a webhook channel and a job below its target.
    let (ada_hook_url, ada_hook) = receiver(503).await;
    let (bob_hook_url, bob_hook) = receiver(204).await;
    let ada = user(&api, "ada@example.com").await;
    let bob = user(&api, "bob@example.com").await;
    post(&ada, format!("{api}/channels"), json!({"kind": "webhook", "url": ada_hook_url})).await;
    post(&bob, format!("{api}/channels"), json!({"kind": "webhook", "url": bob_hook_url})).await;
    let job =
        post(&ada, format!("{api}/jobs"), json!({"url": page, "target_price": "80", "check_interval_secs": 1})).await;
    let job_id = job["id"].as_str().expect("id").to_owned();
    post(&bob, format!("{api}/jobs"), json!({"url": page, "target_price": "60", "check_interval_secs": 3600})).await;

    // Ada's channel is down (503): her job is checked again and again meanwhile.
    let first_check = wait_for("ada's first check", Duration::from_secs(20), async || {
        let job = get_json(&ada, format!("{api}/jobs/{job_id}")).await;
        job["last_checked_at"].as_str().map(str::to_owned)
    })
    .await;
    wait_for("ada's channel to be tried and refused", Duration::from_secs(20), async || {
        (ada_hook.seen().len() >= 2).then_some(())
    })
    .await;
    wait_for("a later check of ada's job during the outage", Duration::from_secs(20), async || {
        let job = get_json(&ada, format!("{api}/jobs/{job_id}")).await;
        job["last_checked_at"].as_str().filter(|at| *at > first_check.as_str()).map(|_| ())
    })
    .await;
    let log = get_json(&ada, format!("{api}/alerts")).await;
    assert_eq!(log["alerts"][0]["deliveries"][0]["status"], "pending", "{log}");
    assert_eq!(log["alerts"][0]["deliveries"][0]["last_error"], "the channel answered HTTP 503", "{log}");

    // Recovery: the alert arrives, once (every attempt carried the same webhook-id).
    ada_hook.set(204);
    let delivery = settled_delivery(&ada, &api, Duration::from_secs(20)).await;
    assert_eq!(delivery["status"], "delivered", "{delivery}");
    assert!(delivery["attempts"].as_u64().expect("attempts") >= 2, "{delivery}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let ids: HashSet<String> = ada_hook.seen().into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids.len(), 1, "one alert for one crossing, whatever the retries");
    let log = get_json(&ada, format!("{api}/alerts")).await;
    assert_eq!(log["alerts"].as_array().expect("alerts").len(), 1, "{log}");
    assert_eq!(log["alerts"][0]["kind"], "below_target");
    assert_eq!(log["alerts"][0]["price"], "50.00");

    // Bob got his own alert only, and Ada's log never shows Bob's.
    let bob_seen = wait_for("bob's alert", Duration::from_secs(20), async || {
        let seen = bob_hook.seen();
        (!seen.is_empty()).then_some(seen)
    })
    .await;
    assert_eq!(bob_seen.len(), 1);
    let bob_log = get_json(&bob, format!("{api}/alerts")).await;
    let bob_alert = bob_log["alerts"][0]["id"].as_str().expect("bob's alert").to_owned();
    assert_eq!(bob_seen[0].1["data"]["alert_id"], bob_alert.as_str());
    assert!(ada_hook.seen().iter().all(|(_, body)| body["data"]["alert_id"] != bob_alert.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_404_fails_the_delivery_at_once_and_the_job_keeps_being_checked() {
    let data = tempfile::tempdir().expect("tempdir");
    let tracker = Tracker::start(data.path()).await;
    let api = tracker.api.clone();
    let (page, _) = shop("50.00").await;
    let (hook_url, hook) = receiver(404).await;
    let ada = user(&api, "ada@example.com").await;
    let channel = post(&ada, format!("{api}/channels"), json!({"kind": "webhook", "url": hook_url})).await;
    let job =
        post(&ada, format!("{api}/jobs"), json!({"url": page, "target_price": "80", "check_interval_secs": 1})).await;
    let job_id = job["id"].as_str().expect("id").to_owned();

    let delivery = settled_delivery(&ada, &api, Duration::from_secs(20)).await;
    assert_eq!(delivery["status"], "failed");
    assert_eq!(delivery["attempts"], 1, "a 404 is not retried");
    assert_eq!(delivery["last_error"], "the channel answered HTTP 404");
    let channel_now = get_json(&ada, format!("{api}/channels/{}", channel["id"].as_str().expect("id"))).await;
    assert_eq!(channel_now["status"], "failing", "{channel_now}");
    assert_eq!(channel_now["last_error"], "the channel answered HTTP 404");

    // The job goes on being checked.
    let checked = get_json(&ada, format!("{api}/jobs/{job_id}")).await["last_checked_at"].clone();
    wait_for("another check", Duration::from_secs(20), async || {
        let now = get_json(&ada, format!("{api}/jobs/{job_id}")).await["last_checked_at"].clone();
        (now != checked).then_some(())
    })
    .await;
    assert_eq!(hook.seen().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_in_the_middle_of_a_delivery_loses_nothing_and_sends_nothing_delivered_again() {
    let data = tempfile::tempdir().expect("tempdir");
    let tracker = Tracker::start(data.path()).await;
    let api = tracker.api.clone();
    let (page, _) = shop("50.00").await;
    let (hook_url, hook) = receiver(204).await;
    // The first request hangs: the tracker is killed while it waits.
    *hook.hold.lock().expect("hold") = Duration::from_secs(4);
    let ada = user(&api, "ada@example.com").await;
    post(&ada, format!("{api}/channels"), json!({"kind": "webhook", "url": hook_url})).await;
    post(&ada, format!("{api}/jobs"), json!({"url": page, "target_price": "80", "check_interval_secs": 3600})).await;
    wait_for("the delivery to start", Duration::from_secs(20), async || (!hook.seen().is_empty()).then_some(())).await;
    tracker.kill_9();
    *hook.hold.lock().expect("hold") = Duration::ZERO;

    // Restarted on the same data: the alert comes back from the durable queue and is delivered.
    let tracker = Tracker::start(data.path()).await;
    let api = tracker.api.clone();
    let ada = reqwest::Client::builder().cookie_store(true).build().expect("client");
    let credentials = json!({"email": "ada@example.com", "password": "correct horse"});
    assert_eq!(ada.post(format!("{api}/signin")).json(&credentials).send().await.expect("signin").status(), 200);
    let delivery = settled_delivery(&ada, &api, Duration::from_secs(30)).await;
    assert_eq!(delivery["status"], "delivered", "{delivery}");
    let seen = hook.seen();
    let ids: HashSet<&String> = seen.iter().map(|(id, _)| id).collect();
    assert_eq!(ids.len(), 1, "the redelivery carries the same webhook-id, so the receiver can drop it");
    let requests = seen.len();
    assert!(requests >= 2, "the interrupted attempt and the one after the restart");

    // Delivered: nothing more, even across another restart.
    drop(tracker);
    let tracker = Tracker::start(data.path()).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(hook.seen().len(), requests, "a delivered alert is never sent again");
    drop(tracker);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drop_percent_rule_alerts_once_per_drop_through_a_real_channel() {
    let data = tempfile::tempdir().expect("tempdir");
    let tracker = Tracker::start(data.path()).await;
    let api = tracker.api.clone();
    let (page, price) = shop("100.00").await;
    let (hook_url, hook) = receiver(204).await;
    let ada = user(&api, "ada@example.com").await;
    post(&ada, format!("{api}/channels"), json!({"kind": "webhook", "url": hook_url})).await;
    let job = post(
        &ada,
        format!("{api}/jobs"),
        json!({
            "url": page,
            "target_price": "1",
            "check_interval_secs": 1,
            "rules": [{"kind": "drop_percent", "percent": "10", "baseline": "first_seen"}]
        }),
    )
    .await;
    let job_id = job["id"].as_str().expect("id").to_owned();
    wait_for("the first check", Duration::from_secs(20), async || {
        get_json(&ada, format!("{api}/jobs/{job_id}")).await["last_price"].as_str().map(|_| ())
    })
    .await;
    // 5 % down: quiet. 15 % down: one alert, naming the rule and the prices.
    *price.lock().expect("price") = "95.00".into();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(hook.seen().is_empty(), "a 5 % drop is below the rule's 10 %");
    *price.lock().expect("price") = "85.00".into();
    let seen = wait_for("the drop alert", Duration::from_secs(20), async || {
        let seen = hook.seen();
        (!seen.is_empty()).then_some(seen)
    })
    .await;
    let data = &seen[0].1["data"];
    assert_eq!(data["rule"], "drop_percent", "{data}");
    assert_eq!(data["price"], "85.00");
    assert_eq!(data["previous_price"], "95.00");
    assert_eq!(data["lowest_price"], "85.00");
    assert!(data["message"].as_str().expect("message").contains(page.as_str()));
    // Still down at later checks: no second alert for the same drop.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(hook.seen().len(), 1);
    let log = get_json(&ada, format!("{api}/alerts")).await;
    assert_eq!(log["alerts"][0]["kind"], "drop_percent");
}
