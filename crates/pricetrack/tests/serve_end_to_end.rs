//! `pricetrack serve` as a user meets it: the real binary, a product page and a webhook receiver
//! on 127.0.0.1, and the walk from sign-up to an alert.

use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

/// The product page: its price can be changed while the tracker watches it.
#[derive(Clone, Default)]
struct Shop {
    price: Arc<Mutex<String>>,
}

async fn product_page(State(shop): State<Shop>) -> axum::response::Html<String> {
    let price = shop.price.lock().expect("price lock").clone();
    axum::response::Html(format!(
        r#"<!doctype html><html><head><title>Widget</title>
<script type="application/ld+json">{{"@context":"https://schema.org","@type":"Product","name":"Widget",
"offers":{{"@type":"Offer","price":"{price}","priceCurrency":"EUR","availability":"https://schema.org/InStock"}}}}</script>
</head><body><h1>Widget</h1><p class="price">{price} €</p></body></html>"#
    ))
}

/// Collects the alerts POSTed to the webhook.
#[derive(Clone, Default)]
struct Inbox {
    alerts: Arc<Mutex<Vec<Value>>>,
}

async fn receive_alert(State(inbox): State<Inbox>, Json(alert): Json<Value>) {
    inbox.alerts.lock().expect("inbox lock").push(alert);
}

async fn serve_on_loopback(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move { axum::serve(listener, router).await.expect("test server") });
    addr
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// The tracker process; killed if the test fails before it stops it.
struct Tracker {
    child: Child,
    base: String,
}

impl Drop for Tracker {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

impl Tracker {
    async fn start(data_dir: &std::path::Path, webhook: &str) -> Tracker {
        Self::start_with_env(data_dir, webhook, &[]).await
    }

    /// As [`Tracker::start`], with `extra` variables set as well.
    async fn start_with_env(data_dir: &std::path::Path, webhook: &str, extra: &[(&str, &str)]) -> Tracker {
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_pricetrack"))
            .arg("serve")
            .envs(extra.iter().copied())
            .env("PRICETRACK_LISTEN", format!("127.0.0.1:{port}"))
            .env("PRICETRACK_DATA_DIR", data_dir)
            .env("PRICETRACK_WEBHOOK_URL", webhook)
            .env("PRICETRACK_ALLOW_PRIVATE_TARGETS", "true")
            .env("PRICETRACK_MIN_CHECK_INTERVAL_SECS", "1")
            .env("PRICETRACK_SCHEDULER_TICK_MS", "200")
            .env_remove("PRICETRACK_JWT_SECRET")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start pricetrack serve");
        let tracker = Tracker { child, base: format!("http://127.0.0.1:{port}") };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = client.get(format!("{}/readyz", tracker.base)).send().await
                && r.status().is_success()
            {
                return tracker;
            }
            assert!(Instant::now() < deadline, "pricetrack serve did not become ready within 30 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().expect("run kill");
        assert!(sent.success(), "could not send SIGTERM");
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "pricetrack serve did not stop within 40 s of SIGTERM");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

async fn wait_for<T>(what: &str, timeout: Duration, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `GET /metrics` of the tracker.
async fn scrape(client: &reqwest::Client, base: &str) -> String {
    let r = client.get(format!("{base}/metrics")).send().await.expect("scrape /metrics");
    assert_eq!(r.status(), 200);
    r.text().await.expect("metrics text")
}

/// The value of the counter (or histogram bucket) `series` (labels exactly as rendered), 0 when
/// it is not there yet.
fn counter(scrape: &str, series: &str) -> u64 {
    scrape.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_up_to_alert_exactly_once() {
    let shop = Shop::default();
    *shop.price.lock().expect("price") = "100.00".into();
    let shop_addr = serve_on_loopback(Router::new().route("/widget", get(product_page)).with_state(shop.clone())).await;
    let inbox = Inbox::default();
    let hook_addr =
        serve_on_loopback(Router::new().route("/hook", post(receive_alert)).with_state(inbox.clone())).await;

    let data_dir = tempfile::tempdir().expect("tempdir");
    let tracker = Tracker::start(data_dir.path(), &format!("http://{hook_addr}/hook")).await;
    let api = format!("{}/api/v1", tracker.base);
    let client = reqwest::Client::builder().cookie_store(true).build().expect("client");

    // Sign up and sign in: the session is an HttpOnly cookie.
    let r = client
        .post(format!("{api}/signup"))
        .json(&json!({"email": "ada@example.com", "password": "correct horse"}))
        .send()
        .await
        .expect("signup");
    assert_eq!(r.status(), 201);
    let r = client
        .post(format!("{api}/signin"))
        .json(&json!({"email": "ada@example.com", "password": "correct horse"}))
        .send()
        .await
        .expect("signin");
    assert_eq!(r.status(), 200);
    let cookie = r.headers().get("set-cookie").expect("session cookie").to_str().expect("ascii").to_owned();
    assert!(cookie.contains("HttpOnly"), "{cookie}");

    // Track the widget at 80 EUR while it costs 100.
    let product = format!("http://{shop_addr}/widget");
    let r = client
        .post(format!("{api}/jobs"))
        .json(&json!({"url": product, "target_price": "80", "currency": "EUR", "check_interval_secs": 1}))
        .send()
        .await
        .expect("create job");
    assert_eq!(r.status(), 201);
    let job: Value = r.json().await.expect("job json");
    let job_id = job["id"].as_str().expect("job id").to_owned();
    assert_eq!(job["status"], "pending");

    let job_url = format!("{api}/jobs/{job_id}");
    let seen = wait_for("the first check", Duration::from_secs(20), async || {
        let job: Value = client.get(&job_url).send().await.ok()?.json().await.ok()?;
        (job["status"] == "active").then_some(job)
    })
    .await;
    assert_eq!(seen["last_price"], "100.00");
    assert!(inbox.alerts.lock().expect("inbox").is_empty(), "no alert while the price is above target");

    // The shop lowers the price: one alert arrives.
    *shop.price.lock().expect("price") = "79.99".into();
    let alert =
        wait_for("the alert", Duration::from_secs(20), async || inbox.alerts.lock().expect("inbox").first().cloned())
            .await;
    assert_eq!(alert["job_id"], job_id.as_str());
    assert_eq!(alert["email"], "ada@example.com");
    assert_eq!(alert["price"], "79.99");
    assert_eq!(alert["currency"], "EUR");
    assert_eq!(alert["target_price"], "80");

    // More checks at the low price (the interval is 1 s) stay quiet: one alert per crossing.
    let before =
        client.get(&job_url).send().await.expect("get").json::<Value>().await.expect("json")["last_checked_at"].clone();
    wait_for("two more checks", Duration::from_secs(20), async || {
        let job: Value = client.get(&job_url).send().await.ok()?.json().await.ok()?;
        (job["last_checked_at"] != before && job["status"] == "alerted").then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(inbox.alerts.lock().expect("inbox").len(), 1, "exactly one alert for one crossing");

    // Back above the target re-arms; the next drop alerts again, with a new alert id.
    *shop.price.lock().expect("price") = "120".into();
    wait_for("re-arming", Duration::from_secs(20), async || {
        let job: Value = client.get(&job_url).send().await.ok()?.json().await.ok()?;
        (job["status"] == "active" && job["last_price"] == "120").then_some(())
    })
    .await;
    *shop.price.lock().expect("price") = "75".into();
    let second = wait_for("the second alert", Duration::from_secs(20), async || {
        inbox.alerts.lock().expect("inbox").get(1).cloned()
    })
    .await;
    assert_eq!(second["price"], "75");
    assert_ne!(second["alert_id"], alert["alert_id"]);

    // The metrics saw it: two alerts decided and handed over, delivered to the operator's
    // webhook, within the alert-latency objective's 60 s.
    let metrics = scrape(&client, &tracker.base).await;
    assert!(counter(&metrics, r#"pricetrack_alerts_decided_total{rule="below_target"}"#) >= 2, "{metrics}");
    assert!(counter(&metrics, r#"pricetrack_alert_handovers_total{result="ok"}"#) >= 2, "{metrics}");
    assert!(
        counter(&metrics, r#"pricetrack_deliveries_total{channel_kind="operator",outcome="delivered"}"#) >= 2,
        "{metrics}"
    );
    assert!(
        counter(&metrics, r#"pricetrack_alert_delivery_latency_seconds_bucket{channel_kind="operator",le="60"}"#) >= 2,
        "{metrics}"
    );

    // SIGTERM stops it cleanly.
    let status = tracker.terminate();
    assert!(status.success(), "pricetrack serve exited with {status} after SIGTERM");
}

/// One trace from the API request that creates a job, through the check it queues (over the
/// SQLite queue), to the delivery of the alert that check decides (over the delivery queue),
/// exported over OTLP/HTTP to a collector on 127.0.0.1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_its_check_and_the_delivery_are_one_trace() {
    let shop = Shop::default();
    *shop.price.lock().expect("price") = "100.00".into();
    let shop_addr = serve_on_loopback(Router::new().route("/widget", get(product_page)).with_state(shop.clone())).await;
    let inbox = Inbox::default();
    let hook_addr =
        serve_on_loopback(Router::new().route("/hook", post(receive_alert)).with_state(inbox.clone())).await;
    let collector = pricetrack_telemetry::testing::OtlpCollector::default();
    let collector_url = collector.serve().await;
    let data_dir = tempfile::tempdir().expect("tempdir");
    let tracker = Tracker::start_with_env(
        data_dir.path(),
        &format!("http://{hook_addr}/hook"),
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", collector_url.as_str()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_BSP_SCHEDULE_DELAY", "200"),
        ],
    )
    .await;
    let api = format!("{}/api/v1", tracker.base);
    let client = reqwest::Client::builder().cookie_store(true).build().expect("client");
    let credentials = json!({"email": "ada@example.com", "password": "correct horse"});
    assert_eq!(client.post(format!("{api}/signup")).json(&credentials).send().await.expect("signup").status(), 201);
    assert_eq!(client.post(format!("{api}/signin")).json(&credentials).send().await.expect("signin").status(), 200);
    // The page already meets the target: the first check decides an alert.
    let r = client
        .post(format!("{api}/jobs"))
        .json(&json!({"url": format!("http://{shop_addr}/widget"), "target_price": "150", "currency": "EUR"}))
        .send()
        .await
        .expect("create job");
    assert_eq!(r.status(), 201);
    wait_for("the alert", Duration::from_secs(20), async || inbox.alerts.lock().expect("inbox").first().cloned()).await;

    let request = wait_for("the span of POST /api/v1/jobs", Duration::from_secs(20), async || {
        collector.find(|s| {
            s.service == "pricetrack"
                && s.name == "request"
                && s.attribute("path") == Some("/api/v1/jobs")
                && s.attribute("method") == Some("POST")
        })
    })
    .await;
    let check = wait_for("the check span in the request's trace", Duration::from_secs(20), async || {
        collector.find(|s| s.name == "check" && s.trace_id == request.trace_id)
    })
    .await;
    assert_eq!(check.parent_span_id, request.span_id, "the check is the request's child: {check:?}");
    let deliver = wait_for("the delivery span in the same trace", Duration::from_secs(20), async || {
        collector.find(|s| s.name == "deliver" && s.trace_id == request.trace_id)
    })
    .await;
    assert!(
        collector.spans().iter().any(|s| s.trace_id == request.trace_id && s.span_id == deliver.parent_span_id),
        "the delivery's parent is a span of the same trace: {deliver:?}"
    );
    // Nothing exported names a URL or an email.
    for span in collector.spans() {
        let text = format!("{span:?}");
        assert!(!text.contains("ada@example.com") && !text.contains("/widget"), "a span leaks personal data: {text}");
    }
    assert!(tracker.terminate().success());
}

/// A collector that accepts connections and never answers holds neither a request nor the
/// shutdown: spans are exported from a thread of their own, each export bounded by
/// `OTEL_EXPORTER_OTLP_TIMEOUT`, and spans that cannot go are dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_collector_holds_no_request_and_no_shutdown() {
    // Accepts, then holds every connection open without a byte in reply.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
    let collector = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let data_dir = tempfile::tempdir().expect("tempdir");
    let tracker = Tracker::start_with_env(
        data_dir.path(),
        "http://127.0.0.1:9/hook",
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.as_str()),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2000"),
        ],
    )
    .await;
    let api = format!("{}/api/v1", tracker.base);
    let client = reqwest::Client::builder().cookie_store(true).build().expect("client");
    let credentials = json!({"email": "ada@example.com", "password": "correct horse"});
    assert_eq!(client.post(format!("{api}/signup")).json(&credentials).send().await.expect("signup").status(), 201);
    assert_eq!(client.post(format!("{api}/signin")).json(&credentials).send().await.expect("signin").status(), 200);
    let mut slowest = Duration::ZERO;
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let started = Instant::now();
        let r = client.get(format!("{api}/jobs")).send().await.expect("list jobs");
        assert_eq!(r.status(), 200);
        slowest = slowest.max(started.elapsed());
    }
    assert!(slowest < Duration::from_secs(1), "a request waited {slowest:?} on the hung collector");
    let stopping = Instant::now();
    assert!(tracker.terminate().success());
    assert!(
        stopping.elapsed() < Duration::from_secs(15),
        "shutdown took {:?} with a hung collector",
        stopping.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_and_sessions_survive_a_restart() {
    let shop = Shop::default();
    *shop.price.lock().expect("price") = "50".into();
    let shop_addr = serve_on_loopback(Router::new().route("/widget", get(product_page)).with_state(shop.clone())).await;
    let inbox = Inbox::default();
    let hook_addr =
        serve_on_loopback(Router::new().route("/hook", post(receive_alert)).with_state(inbox.clone())).await;
    let data_dir = tempfile::tempdir().expect("tempdir");
    let hook = format!("http://{hook_addr}/hook");

    let tracker = Tracker::start(data_dir.path(), &hook).await;
    let client = reqwest::Client::builder().cookie_store(true).build().expect("client");
    let api = format!("{}/api/v1", tracker.base);
    client
        .post(format!("{api}/signup"))
        .json(&json!({"email": "bob@example.com", "password": "hunter2hunter2"}))
        .send()
        .await
        .expect("signup");
    let r = client
        .post(format!("{api}/signin"))
        .json(&json!({"email": "bob@example.com", "password": "hunter2hunter2"}))
        .send()
        .await
        .expect("signin");
    let cookie = r
        .headers()
        .get("set-cookie")
        .expect("cookie")
        .to_str()
        .expect("ascii")
        .split(';')
        .next()
        .expect("pair")
        .to_owned();
    let r = client
        .post(format!("{api}/jobs"))
        .json(&json!({"url": format!("http://{shop_addr}/widget"), "target_price": 60, "check_interval_secs": 1}))
        .send()
        .await
        .expect("create job");
    assert_eq!(r.status(), 201);
    let job_id = r.json::<Value>().await.expect("job json")["id"].as_str().expect("id").to_owned();
    wait_for("the alert", Duration::from_secs(20), async || inbox.alerts.lock().expect("inbox").first().cloned()).await;
    assert!(tracker.terminate().success());

    // Same data dir, new process: the generated secret was kept, so the old cookie still works.
    let tracker = Tracker::start(data_dir.path(), &hook).await;
    let r = reqwest::Client::new()
        .get(format!("{}/api/v1/jobs", tracker.base))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("list");
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["jobs"].as_array().expect("jobs").len(), 1);
    assert_eq!(body["jobs"][0]["status"], "alerted");
    // The job (interval 1 s) is checked again after the restart, still below its target: that
    // check must not alert again, so the restart kept the alert state.
    let before = body["jobs"][0]["last_checked_at"].clone();
    let job_url = format!("{}/api/v1/jobs/{job_id}", tracker.base);
    let restarted = reqwest::Client::new();
    wait_for("a check after the restart", Duration::from_secs(20), async || {
        let job: Value = restarted.get(&job_url).header("cookie", &cookie).send().await.ok()?.json().await.ok()?;
        (job["last_checked_at"] != before).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(inbox.alerts.lock().expect("inbox").len(), 1, "a restart does not alert again");
    assert!(tracker.terminate().success());
}

/// A product page with two prices: the JSON-LD (what automatic detection reads) has the
/// regular 99.00; members pay 79,00 €, shown only in `.member-price`.
async fn member_price_page() -> axum::response::Html<&'static str> {
    axum::response::Html(
        r#"<!doctype html><html lang="de"><head><title>Siebträger Classic | Kaffeehaus</title>
<script type="application/ld+json">{"@context":"https://schema.org","@type":"Product","name":"Siebträger Classic",
"offers":{"@type":"Offer","price":"99.00","priceCurrency":"EUR","availability":"https://schema.org/InStock"}}</script>
</head><body><h1>Siebträger Classic</h1>
<div class="price-box"><span class="regular-price">99,00 €</span>
<p class="member-offer">Mitgliederpreis: <span class="member-price">79,00 €</span></p></div>
</body></html>"#,
    )
}

/// Signs up and signs in `email`; the returned client carries the session cookie.
async fn signed_in(api: &str, email: &str) -> reqwest::Client {
    let client = reqwest::Client::builder().cookie_store(true).build().expect("client");
    let credentials = json!({"email": email, "password": "correct horse"});
    let r = client.post(format!("{api}/signup")).json(&credentials).send().await.expect("signup");
    assert_eq!(r.status(), 201);
    let r = client.post(format!("{api}/signin")).json(&credentials).send().await.expect("signin");
    assert_eq!(r.status(), 200);
    client
}

/// Creates a job through the API and returns its id.
async fn create_job(client: &reqwest::Client, api: &str, body: Value) -> String {
    let r = client.post(format!("{api}/jobs")).json(&body).send().await.expect("create job");
    assert_eq!(r.status(), 201);
    let job: Value = r.json().await.expect("job json");
    assert_eq!(job["price_selector"], body["price_selector"]);
    job["id"].as_str().expect("job id").to_owned()
}

/// The job as the API shows it once its first check is recorded.
async fn after_first_check(client: &reqwest::Client, api: &str, job_id: &str) -> Value {
    let url = format!("{api}/jobs/{job_id}");
    wait_for("the first check", Duration::from_secs(20), async || {
        let job: Value = client.get(&url).send().await.ok()?.json().await.ok()?;
        (!job["last_checked_at"].is_null()).then_some(job)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_price_selector_reads_the_price_the_user_chose() {
    let shop_addr = serve_on_loopback(Router::new().route("/siebtraeger", get(member_price_page))).await;
    let inbox = Inbox::default();
    let hook_addr =
        serve_on_loopback(Router::new().route("/hook", post(receive_alert)).with_state(inbox.clone())).await;
    let data_dir = tempfile::tempdir().expect("tempdir");
    let tracker = Tracker::start(data_dir.path(), &format!("http://{hook_addr}/hook")).await;
    let api = format!("{}/api/v1", tracker.base);
    let client = signed_in(&api, "grace@example.com").await;
    let product = format!("http://{shop_addr}/siebtraeger");

    // Automatic detection reads the JSON-LD's 99.00: above the 85 target, no alert.
    let automatic = create_job(
        &client,
        &api,
        json!({"url": product, "target_price": "85", "currency": "EUR", "check_interval_secs": 3600}),
    )
    .await;
    let job = after_first_check(&client, &api, &automatic).await;
    assert_eq!(job["last_price"], "99.00");
    assert_eq!(job["status"], "active");

    // The member price, through the user's selector: 79.00, below the target, one alert.
    let chosen = create_job(
        &client,
        &api,
        json!({"url": product, "target_price": "85", "currency": "EUR", "check_interval_secs": 3600,
               "price_selector": ".member-price"}),
    )
    .await;
    let job = after_first_check(&client, &api, &chosen).await;
    assert_eq!(job["last_price"], "79.00");
    assert_eq!(job["last_currency"], "EUR");
    assert_eq!(job["last_error"], Value::Null);
    assert_eq!(job["status"], "alerted");
    let alert =
        wait_for("the alert", Duration::from_secs(20), async || inbox.alerts.lock().expect("inbox").first().cloned())
            .await;
    assert_eq!(alert["job_id"], chosen.as_str());
    assert_eq!(alert["price"], "79.00");
    assert_eq!(alert["target_price"], "85");

    // A selector that matches nothing: a failed check with a readable error; the job stays.
    let missing = create_job(
        &client,
        &api,
        json!({"url": product, "target_price": "85", "currency": "EUR", "check_interval_secs": 3600,
               "price_selector": ".club-price"}),
    )
    .await;
    let job = after_first_check(&client, &api, &missing).await;
    assert_eq!(job["last_error"], "no price found on the page");
    assert_eq!(job["last_price"], Value::Null);
    assert_eq!(job["status"], "pending", "one failed check is not yet failing");
    assert_eq!(job["price_selector"], ".club-price");
    let listed: Value = client.get(format!("{api}/jobs")).send().await.expect("list").json().await.expect("json");
    let ids: Vec<&str> = listed["jobs"].as_array().expect("jobs").iter().filter_map(|j| j["id"].as_str()).collect();
    assert!(ids.contains(&missing.as_str()), "the job is kept: {ids:?}");
    assert_eq!(ids.len(), 3);

    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(inbox.alerts.lock().expect("inbox").len(), 1, "only the member price alerted");
    assert!(tracker.terminate().success());
}

/// A shop whose product page draws its price with JavaScript from `/api/price`.
#[derive(Clone, Default)]
struct JavaScriptShop {
    price: Arc<Mutex<String>>,
}

const JAVASCRIPT_PRODUCT: &str = r#"<!doctype html><html><head><title>Espresso grinder</title></head>
<body><h1>Espresso grinder</h1><div id="price" class="skeleton"></div><script>
fetch('/api/price').then(r => r.json()).then(p => {
  const el = document.getElementById('price');
  el.setAttribute('itemprop', 'price'); el.setAttribute('content', p.amount);
  el.textContent = p.amount + ' €';
  const currency = document.createElement('meta');
  currency.setAttribute('itemprop', 'priceCurrency'); currency.setAttribute('content', 'EUR');
  el.after(currency);
});
</script></body></html>"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_price_drawn_by_javascript_is_read_through_the_browser() {
    let shop = JavaScriptShop::default();
    *shop.price.lock().expect("price") = "24.99".into();
    let shop_addr = serve_on_loopback(
        Router::new()
            .route("/grinder", get(|| async { axum::response::Html(JAVASCRIPT_PRODUCT) }))
            .route(
                "/api/price",
                get(|State(shop): State<JavaScriptShop>| async move {
                    Json(json!({"amount": shop.price.lock().expect("price").clone()}))
                }),
            )
            .with_state(shop.clone()),
    )
    .await;
    let inbox = Inbox::default();
    let hook_addr =
        serve_on_loopback(Router::new().route("/hook", post(receive_alert)).with_state(inbox.clone())).await;
    let data_dir = tempfile::tempdir().expect("tempdir");
    let tracker = Tracker::start(data_dir.path(), &format!("http://{hook_addr}/hook")).await;
    let api = format!("{}/api/v1", tracker.base);
    let client = signed_in(&api, "linus@example.com").await;

    let job_id = create_job(
        &client,
        &api,
        json!({"url": format!("http://{shop_addr}/grinder"), "target_price": "20", "currency": "EUR",
               "check_interval_secs": 1}),
    )
    .await;
    let job = after_first_check(&client, &api, &job_id).await;
    assert_eq!(job["last_price"], "24.99", "{job}");
    assert_eq!(job["last_error"], Value::Null);
    assert!(inbox.alerts.lock().expect("inbox").is_empty());

    // The shop lowers the price; the next check renders the page again and alerts.
    *shop.price.lock().expect("price") = "18.50".into();
    let alert =
        wait_for("the alert", Duration::from_secs(30), async || inbox.alerts.lock().expect("inbox").first().cloned())
            .await;
    assert_eq!(alert["job_id"], job_id.as_str());
    assert_eq!(alert["price"], "18.50");
    assert!(tracker.terminate().success());
}

/// The newest history point's price and its number of checks.
async fn newest_point(client: &reqwest::Client, job_url: &str) -> Option<(String, u64)> {
    let history: Value = client.get(format!("{job_url}/history")).send().await.ok()?.json().await.ok()?;
    let newest = history["points"].get(0)?;
    Some((newest["price"].as_str()?.to_owned(), newest["checks"].as_u64()?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_edit_and_pause() {
    let shop = Shop::default();
    *shop.price.lock().expect("price") = "100".into();
    let shop_addr = serve_on_loopback(Router::new().route("/widget", get(product_page)).with_state(shop.clone())).await;
    let inbox = Inbox::default();
    let hook_addr =
        serve_on_loopback(Router::new().route("/hook", post(receive_alert)).with_state(inbox.clone())).await;
    let data_dir = tempfile::tempdir().expect("tempdir");
    let tracker = Tracker::start(data_dir.path(), &format!("http://{hook_addr}/hook")).await;
    let api = format!("{}/api/v1", tracker.base);
    let client = signed_in(&api, "cleo@example.com").await;
    let r = client
        .post(format!("{api}/jobs"))
        .json(&json!({"url": format!("http://{shop_addr}/widget"), "target_price": "50", "currency": "EUR",
            "check_interval_secs": 1}))
        .send()
        .await
        .expect("create job");
    assert_eq!(r.status(), 201);
    let location = r.headers().get("location").expect("Location").to_str().expect("ascii").to_owned();
    let job_url = format!("{}{location}", tracker.base);

    // 100 -> 90 (seen twice: one point) -> 95 -> 80, each price seen before the next.
    for (price, checks) in [("100", 1), ("90", 2), ("95", 1), ("80", 1)] {
        *shop.price.lock().expect("price") = price.into();
        wait_for(&format!("{price} in the history"), Duration::from_secs(20), async || {
            let (newest, seen) = newest_point(&client, &job_url).await?;
            (newest == price && seen >= checks).then_some(())
        })
        .await;
    }
    let history: Value =
        client.get(format!("{job_url}/history")).send().await.expect("history").json().await.expect("json");
    let prices: Vec<&str> =
        history["points"].as_array().expect("points").iter().map(|p| p["price"].as_str().expect("price")).collect();
    assert_eq!(prices, vec!["80", "95", "90", "100"], "the unchanged 90 is one point: {history}");
    assert!(history["points"][2]["checks"].as_u64().expect("checks") >= 2);
    assert_eq!(history["stats"]["lowest"]["price"], "80");
    assert_eq!(history["stats"]["lowest"]["currency"], "EUR");
    assert_eq!(history["stats"]["highest"]["price"], "100");
    let days: Value = client
        .get(format!("{job_url}/history?resolution=day"))
        .send()
        .await
        .expect("history")
        .json()
        .await
        .expect("json");
    assert!(!days["points"].as_array().expect("points").is_empty());
    assert!(inbox.alerts.lock().expect("inbox").is_empty(), "no alert above the target");

    // Raise the target above the current price (with the ETag): one alert at the next check.
    let current = client.get(&job_url).send().await.expect("get");
    let tag = current.headers().get("etag").expect("ETag").to_str().expect("ascii").to_owned();
    let r = client
        .patch(&job_url)
        .header("content-type", "application/merge-patch+json")
        .header("if-match", &tag)
        .body(r#"{"target_price": "85"}"#)
        .send()
        .await
        .expect("patch");
    // A check may have bumped the version since the GET: then the ETag is stale (412) and a
    // plain PATCH applies on top of the fresh job.
    let r = if r.status() == 412 {
        client
            .patch(&job_url)
            .header("content-type", "application/merge-patch+json")
            .body(r#"{"target_price": "85"}"#)
            .send()
            .await
            .expect("patch")
    } else {
        r
    };
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.expect("json")["target_price"], "85");
    let alert =
        wait_for("the alert", Duration::from_secs(20), async || inbox.alerts.lock().expect("inbox").first().cloned())
            .await;
    assert_eq!(alert["target_price"], "85");
    assert_eq!(alert["price"], "80");

    // Pause: no more checks.
    let r = client
        .patch(&job_url)
        .header("content-type", "application/merge-patch+json")
        .body(r#"{"paused": true}"#)
        .send()
        .await
        .expect("pause");
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.expect("json")["status"], "paused");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let paused: Value = client.get(&job_url).send().await.expect("get").json().await.expect("json");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let later: Value = client.get(&job_url).send().await.expect("get").json().await.expect("json");
    assert_eq!(later["status"], "paused");
    assert_eq!(later["last_checked_at"], paused["last_checked_at"], "a paused job is not checked");
    // Resume: checked again soon.
    let r = client
        .patch(&job_url)
        .header("content-type", "application/merge-patch+json")
        .body(r#"{"paused": false}"#)
        .send()
        .await
        .expect("resume");
    assert_eq!(r.status(), 200);
    wait_for("a check after resuming", Duration::from_secs(20), async || {
        let job: Value = client.get(&job_url).send().await.ok()?.json().await.ok()?;
        (job["last_checked_at"] != later["last_checked_at"]).then_some(())
    })
    .await;
    assert_eq!(inbox.alerts.lock().expect("inbox").len(), 1, "still one alert: the price did not cross again");
    assert!(tracker.terminate().success());
}

/// A page per check outcome on 127.0.0.1: a price, sold out without a price, no price at all, a
/// server error, a robot check.
fn outcome_shop() -> Router {
    const SOLD_OUT: &str = r#"<html><head><title>Kettle</title><script type="application/ld+json">
{"@context":"https://schema.org","@type":"Product","name":"Kettle",
 "offers":{"@type":"Offer","priceCurrency":"EUR","availability":"https://schema.org/OutOfStock"}}
</script></head><body><h1>Kettle</h1><p>Sold out</p></body></html>"#;
    Router::new()
        .route("/widget", get(product_page))
        .route("/sold-out", get(|| async { axum::response::Html(SOLD_OUT) }))
        .route("/no-price", get(|| async { axum::response::Html("<html><body><h1>About us</h1></body></html>") }))
        .route("/broken", get(|| async { (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "oops") }))
        .route(
            "/robot",
            get(|| async { (axum::http::StatusCode::FORBIDDEN, [("cf-mitigated", "challenge")], "Just a moment...") }),
        )
        .with_state(Shop { price: Arc::new(Mutex::new("12.50".into())) })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_every_check_outcome() {
    let shop_addr = serve_on_loopback(outcome_shop()).await;
    let inbox = Inbox::default();
    let hook_addr =
        serve_on_loopback(Router::new().route("/hook", post(receive_alert)).with_state(inbox.clone())).await;
    let data_dir = tempfile::tempdir().expect("tempdir");
    let tracker = Tracker::start(data_dir.path(), &format!("http://{hook_addr}/hook")).await;
    let api = format!("{}/api/v1", tracker.base);
    let client = reqwest::Client::builder().cookie_store(true).build().expect("client");
    let credentials = json!({"email": "ops@example.com", "password": "correct horse"});
    assert_eq!(client.post(format!("{api}/signup")).json(&credentials).send().await.expect("signup").status(), 201);
    assert_eq!(client.post(format!("{api}/signin")).json(&credentials).send().await.expect("signin").status(), 200);

    // /metrics needs no session: a fresh client (no cookie) scrapes it.
    let before = scrape(&reqwest::Client::new(), &tracker.base).await;
    assert_eq!(counter(&before, r#"pricetrack_checks_total{outcome="priced",kind="none",method="static"}"#), 0);

    let mut jobs = Vec::new();
    for page in ["widget", "sold-out", "no-price", "broken", "robot"] {
        let r = client
            .post(format!("{api}/jobs"))
            .json(&json!({"url": format!("http://{shop_addr}/{page}"), "target_price": "1", "check_interval_secs": 60}))
            .send()
            .await
            .expect("create job");
        assert_eq!(r.status(), 201);
        jobs.push(r.json::<Value>().await.expect("job")["id"].as_str().expect("id").to_owned());
    }
    for id in &jobs {
        wait_for("every job's first check", Duration::from_secs(30), async || {
            let job: Value = client.get(format!("{api}/jobs/{id}")).send().await.ok()?.json().await.ok()?;
            job["last_checked_at"].is_string().then_some(())
        })
        .await;
    }

    let metrics = scrape(&client, &tracker.base).await;
    for (series, why) in [
        (r#"pricetrack_checks_total{outcome="priced",kind="none",method="static"}"#, "the widget's price"),
        (r#"pricetrack_checks_total{outcome="unpriced",kind="none",method="static"}"#, "sold out"),
        (r#"pricetrack_checks_total{outcome="failed",kind="fetch",method="static"}"#, "a server error"),
        (r#"pricetrack_checks_total{outcome="blocked",kind="none",method="static"}"#, "a robot check"),
        (r#"pricetrack_fetch_duration_seconds_count{method="static",result="ok"}"#, "pages fetched"),
        (r#"pricetrack_fetch_duration_seconds_count{method="static",result="status"}"#, "the 500"),
        (r#"pricetrack_fetch_duration_seconds_count{method="static",result="blocked"}"#, "the 403 challenge"),
        (r#"pricetrack_check_requests_total{result="recorded"}"#, "handled check requests"),
        (r#"pricetrack_queue_operations_total{queue="check",operation="receive",result="ok"}"#, "receives"),
        (r#"pricetrack_queue_operations_total{queue="check",operation="delete",result="ok"}"#, "deletes"),
        (r#"pricetrack_queue_messages_received_total{queue="check"}"#, "messages"),
        (r#"pricetrack_politeness_wait_seconds_count{reason="host_spacing"}"#, "one shop host, spaced"),
        (r#"pricetrack_http_requests_total{method="POST",route="/api/v1/jobs",status="201"}"#, "the API"),
    ] {
        assert!(counter(&metrics, series) >= 1, "{why}: {series} in\n{metrics}");
    }
    // A page without a price is rendered in the browser too when Chromium is installed.
    let no_price = counter(&metrics, r#"pricetrack_checks_total{outcome="failed",kind="no_price",method="static"}"#)
        + counter(&metrics, r#"pricetrack_checks_total{outcome="failed",kind="no_price",method="browser"}"#);
    assert!(no_price >= 1, "no price: {metrics}");
    assert!(counter(&metrics, r#"pricetrack_rescheduler_runs_total{result="ok"}"#) >= 1, "{metrics}");
    // No URL, host or id is ever a label value.
    assert!(!metrics.contains(&shop_addr.to_string()), "a host leaked into the metrics");
    assert!(jobs.iter().all(|id| !metrics.contains(id.as_str())), "a job id leaked into the metrics");
    assert!(tracker.terminate().success());
}
