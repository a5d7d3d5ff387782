//! `GET /metrics`: Prometheus' text format, reachable without a session, with the API's own
//! requests counted by route template (never the raw path) and status, and timed.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use reqwest::{Method, StatusCode};

/// The value of the counter `name{labels}` in a scrape (labels exactly as rendered), if present.
fn sample(scrape: &str, series: &str) -> Option<u64> {
    scrape.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}

async fn scrape(app: &TestApp) -> String {
    let response = app.request(Method::GET, "/metrics").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    response.text().await.unwrap()
}

#[tokio::test]
async fn requests_are_counted_by_route_template_and_status() {
    let app = spawn_app().await;
    let (_, token) = app.user("metrics@example.com").await;
    let job = app.job(&token, "https://shop.example/kettle").await;
    let id = job["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/jobs/{id}");
    let series = r#"pricetrack_http_requests_total{method="GET",route="/api/v1/jobs/{id}",status="200"}"#;
    // Other tests of this binary share the process's recorder: compare with the count before.
    let before = sample(&scrape(&app).await, series).unwrap_or(0);

    for _ in 0..3 {
        let response = app.authed(Method::GET, &path, &token).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    let missing = app.request(Method::GET, "/no/such/page").send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);

    let text = scrape(&app).await;
    assert_eq!(sample(&text, series), Some(before + 3), "{text}");
    assert!(
        text.contains(
            r#"pricetrack_http_request_duration_seconds_bucket{method="GET",route="/api/v1/jobs/{id}",le="+Inf"}"#
        ),
        "latency histogram by route template: {text}"
    );
    assert!(
        sample(&text, r#"pricetrack_http_requests_total{method="GET",route="unmatched",status="404"}"#).is_some(),
        "{text}"
    );
    // Bounded labels: neither the job's id nor an unknown path becomes a series.
    assert!(!text.contains(&id), "the raw path leaked into a label: {text}");
    assert!(!text.contains("/no/such/page"), "{text}");
    assert!(text.contains("# TYPE pricetrack_http_requests_total counter"), "{text}");

    // The scrape itself is counted under its own route, and needs no session.
    let text = scrape(&app).await;
    assert!(sample(&text, r#"pricetrack_http_requests_total{method="GET",route="/metrics",status="200"}"#).is_some());
    app.stop().await;
}
