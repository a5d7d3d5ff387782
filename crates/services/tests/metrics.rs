//! The `scraper` program's metrics port (`PRICETRACK_METRICS_ADDR`) on moto: after checks of a
//! priced page and of a broken page on 127.0.0.1, `GET /metrics` counts them by outcome and
//! method, along with the fetches, the queue's receives and deletes, and the host's politeness.

mod common;

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use common::{Service, aws_env, free_port, fresh_resources, wait_for};
use pricetrack_aws::{DynamoJobStore, SqsCheckQueue, aws_sdk_dynamodb, aws_sdk_sqs};
use pricetrack_domain::ports::JobStore;
use pricetrack_domain::testing::{now_ms, sample_job};
use pricetrack_domain::{JobKey, ProductUrl, SchedulePolicy, UserId};

const SCRAPER: &str = env!("CARGO_BIN_EXE_scraper");

const PRICED_PAGE: &str = r#"<!doctype html><html><head><title>Widget</title>
<script type="application/ld+json">{"@context":"https://schema.org","@type":"Product","name":"Widget",
"offers":{"@type":"Offer","price":"99.00","priceCurrency":"EUR"}}</script></head><body></body></html>"#;

/// The value of the counter `series` (labels exactly as rendered); 0 when absent.
fn counter(scrape: &str, series: &str) -> u64 {
    scrape.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok()).unwrap_or(0)
}

async fn due_job(store: &DynamoJobStore, url: &str) -> JobKey {
    let mut job = sample_job(UserId::new(), now_ms() - chrono::Duration::seconds(1));
    job.url = ProductUrl::parse(url).expect("shop url");
    store.create(&job).await.expect("create job");
    job.key()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scraper_serves_its_checks_on_the_metrics_port() {
    let (config, resources) = fresh_resources("metrics").await;
    let store = DynamoJobStore::new(aws_sdk_dynamodb::Client::new(&config), resources.table.clone());
    let queue = SqsCheckQueue::new(aws_sdk_sqs::Client::new(&config), resources.queue_url.clone());

    let shop = Router::new()
        .route("/widget", get(|| async { axum::response::Html(PRICED_PAGE) }))
        .route("/broken", get(|| async { (axum::http::StatusCode::BAD_GATEWAY, "upstream down") }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
    let shop_addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, shop).await.expect("shop") });
    let priced = due_job(&store, &format!("http://{shop_addr}/widget")).await;
    let broken = due_job(&store, &format!("http://{shop_addr}/broken")).await;
    let report = pricetrack_rescheduler::run_once(&store, &queue, now_ms(), &SchedulePolicy::default(), 100)
        .await
        .expect("rescheduler run");
    assert_eq!(report.sent, 2, "{report:?}");

    let metrics_port = free_port();
    let mut env = aws_env(&resources);
    for (k, v) in [
        ("PRICETRACK_ALLOW_PRIVATE_TARGETS", "true"),
        ("PRICETRACK_METRICS_ADDR", &format!("127.0.0.1:{metrics_port}")),
        ("PRICETRACK_HOST_MIN_DELAY", "100ms"),
        // Both pages are read without JavaScript.
        ("PRICETRACK_BROWSER_TABS", "0"),
    ] {
        env.insert(k.to_owned(), v.to_owned());
    }
    let mut scraper = Service::start("scraper", SCRAPER, &[], &env);

    for key in [priced, broken] {
        let store = &store;
        wait_for("both checks recorded", Duration::from_secs(60), async || {
            scraper.assert_running();
            store.get(key).await.expect("get job")?.last_checked_at.map(drop)
        })
        .await;
    }

    let url = format!("http://127.0.0.1:{metrics_port}/metrics");
    // The outcome is written before the message is deleted: wait for the delete to be counted.
    let metrics = wait_for("the metrics of both checks", Duration::from_secs(20), async || {
        let text = reqwest::get(&url).await.ok()?.text().await.ok()?;
        (counter(&text, r#"pricetrack_queue_operations_total{queue="check",operation="delete",result="ok"}"#) >= 2)
            .then_some(text)
    })
    .await;
    for (series, want) in [
        (r#"pricetrack_checks_total{outcome="priced",kind="none",method="static"}"#, 1),
        (r#"pricetrack_checks_total{outcome="failed",kind="fetch",method="static"}"#, 1),
        (r#"pricetrack_fetch_duration_seconds_count{method="static",result="ok"}"#, 1),
        (r#"pricetrack_fetch_duration_seconds_count{method="static",result="status"}"#, 1),
        (r#"pricetrack_check_requests_total{result="recorded"}"#, 2),
        (r#"pricetrack_queue_messages_received_total{queue="check"}"#, 2),
        (r#"pricetrack_queue_operations_total{queue="check",operation="receive",result="ok"}"#, 1),
        (r#"pricetrack_check_duration_seconds_count"#, 2),
    ] {
        assert!(counter(&metrics, series) >= want, "{series} >= {want} in\n{metrics}");
    }
    // Both checks went to one host: the second waited for its turn, fleet-wide or in-process.
    let waits = counter(&metrics, r#"pricetrack_politeness_wait_seconds_count{reason="fleet_turn"}"#)
        + counter(&metrics, r#"pricetrack_politeness_wait_seconds_count{reason="host_spacing"}"#);
    assert!(waits >= 1, "{metrics}");
    assert!(metrics.contains("# TYPE pricetrack_checks_total counter"), "{metrics}");
    assert!(!metrics.contains(&shop_addr.to_string()), "a host leaked into a label");

    let status = scraper.terminate(Duration::from_secs(30));
    assert!(status.success(), "the scraper exited with {status}");
}
