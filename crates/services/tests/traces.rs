//! One check is one trace across processes (issue 13): the `api` and `scraper` programs run as
//! separate processes over moto_server and PostgreSQL, exporting their spans over OTLP/HTTP to a
//! collector this test runs on 127.0.0.1. A job created through the API is checked by the
//! scraper, which decides an alert and hands it to its delivery pool; the scraper's `check` span
//! and the deliverer's `deliver` span must share the trace id of the API's `POST /api/v1/jobs`
//! request, which itself continues the trace the client sent in `traceparent`.
//!
//! (Without `OTEL_EXPORTER_OTLP_ENDPOINT` nothing is exported: `pricetrack-telemetry`'s own tests.)

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{Service, Shop, free_port, wait_for};
use pricetrack_postgres::testing::TestDatabase;
use pricetrack_telemetry::testing::OtlpCollector;
use secrecy::ExposeSecret;
use serde_json::json;

const API: &str = env!("CARGO_BIN_EXE_api");
const SCRAPER: &str = env!("CARGO_BIN_EXE_scraper");

/// The trace the test's own client is in: the API request must continue it.
const CLIENT_TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";
const CLIENT_TRACEPARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

/// The programs' environment, with OTLP export to `collector` as JSON, flushed every 200 ms.
fn programs_env(
    resources: &pricetrack_aws::bootstrap::Resources,
    db: &TestDatabase,
    collector: &str,
) -> BTreeMap<String, String> {
    common::programs_env(
        resources,
        db.url().expose_secret(),
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", collector),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_BSP_SCHEDULE_DELAY", "200"),
        ],
    )
}

/// Signs up and in, and creates a job whose target the page's price already meets (so its first
/// check decides an alert), in the client's trace. Returns nothing: the spans tell the rest.
async fn create_alerting_job(base: &str, product: &str) {
    let client = reqwest::Client::builder().cookie_store(true).build().expect("client");
    let api = format!("{base}/api/v1");
    let credentials = json!({"email": "ada@example.com", "password": "correct horse"});
    let r = client.post(format!("{api}/signup")).json(&credentials).send().await.expect("signup");
    assert_eq!(r.status(), 201);
    let r = client.post(format!("{api}/signin")).json(&credentials).send().await.expect("signin");
    assert_eq!(r.status(), 200);
    let r = client
        .post(format!("{api}/jobs"))
        .header("traceparent", CLIENT_TRACEPARENT)
        .json(&json!({"url": product, "target_price": "150.00", "currency": "EUR", "check_interval_secs": 3600}))
        .send()
        .await
        .expect("create job");
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
}

async fn wait_ready(api: &mut Service, base: &str) {
    let client = reqwest::Client::new();
    wait_for("the API to be ready", Duration::from_secs(60), async || {
        api.assert_running();
        let response = client.get(format!("{base}/readyz")).send().await.ok()?;
        response.status().is_success().then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_and_its_delivery_share_the_trace_of_the_api_request_that_created_the_job() {
    let collector = OtlpCollector::default();
    let collector_url = collector.serve().await;
    let db = TestDatabase::create().await.expect("a fresh PostgreSQL database");
    let (_sdk, resources) = common::fresh_resources("traces").await;
    let shop = Shop::default();
    let product = shop.serve("100.00").await;

    let env = programs_env(&resources, &db, &collector_url);
    let port = free_port();
    let mut api_env = env.clone();
    api_env.insert("PRICETRACK_LISTEN".into(), format!("127.0.0.1:{port}"));
    let mut api = Service::start("api", API, &[], &api_env);
    let mut scraper = Service::start("scraper", SCRAPER, &[], &env);
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(&mut api, &base).await;

    create_alerting_job(&base, &product).await;

    // The API's span for the request that created the job, in the client's trace.
    let request = wait_for("the API's span for POST /api/v1/jobs", Duration::from_secs(30), async || {
        api.assert_running();
        collector.find(|s| {
            s.service == "pricetrack-api"
                && s.name == "request"
                && s.attribute("method") == Some("POST")
                && s.attribute("path") == Some("/api/v1/jobs")
        })
    })
    .await;
    assert_eq!(request.trace_id, CLIENT_TRACE_ID, "the API request must continue the caller's trace: {request:?}");
    assert_eq!(request.parent_span_id, "b7ad6b7169203331", "the caller's span is the request's parent: {request:?}");

    // The scraper's check of that job, in the same trace, a child of the request's span.
    let check = wait_for("the scraper's check span in the API request's trace", Duration::from_secs(60), async || {
        scraper.assert_running();
        collector.find(|s| s.service == "pricetrack-scraper" && s.name == "check" && s.trace_id == request.trace_id)
    })
    .await;
    assert_eq!(check.parent_span_id, request.span_id, "the check's parent is the API request: {check:?}");
    assert!(check.attributes.contains_key("job_id"), "the check span names its job: {check:?}");
    assert_eq!(check.attribute("outcome"), Some("priced"), "{check:?}");
    assert_eq!(check.attribute("result"), Some("recorded"), "{check:?}");
    // Where the check's time went: the page's fetch is the check's child.
    let fetch = wait_for("the check's fetch span", Duration::from_secs(30), async || {
        collector.find(|s| s.name == "fetch" && s.trace_id == request.trace_id)
    })
    .await;
    assert_eq!(fetch.parent_span_id, check.span_id, "{fetch:?}");
    assert_eq!(fetch.attribute("method"), Some("static"), "{fetch:?}");
    assert_eq!(fetch.attribute("result"), Some("ok"), "{fetch:?}");

    // The alert it decided, delivered in the same trace (SNS, the delivery queue, the deliverer).
    let deliver = wait_for("the deliverer's span in the same trace", Duration::from_secs(60), async || {
        scraper.assert_running();
        collector.find(|s| s.service == "pricetrack-scraper" && s.name == "deliver" && s.trace_id == request.trace_id)
    })
    .await;
    assert_ne!(deliver.parent_span_id, "", "the delivery continues the check's trace: {deliver:?}");
    assert!(
        collector.spans().iter().any(|s| s.trace_id == request.trace_id && s.span_id == deliver.parent_span_id),
        "the delivery's parent is a span of this trace (the check's): {deliver:?}"
    );

    assert!(scraper.terminate(Duration::from_secs(30)).success());
    assert!(api.terminate(Duration::from_secs(30)).success());
}
