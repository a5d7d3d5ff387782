//! Tracking jobs over real HTTP: create (and its first check request), list, read, delete.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use pricetrack_domain::CheckRequest;
use pricetrack_domain::ports::{CheckQueue, Delivery, OutgoingMessage, QueueError};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const SHOP: &str = "https://shop.example.com/p/123";

#[tokio::test]
async fn create_returns_the_job_with_every_field() {
    let app = spawn_app().await;
    let (_, token) = app.user("ada@example.com").await;
    let response = app.create_job(&token, &json!({"url": SHOP, "target_price": "79.99"})).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let job: Value = response.json().await.unwrap();
    let keys: HashSet<&str> = job.as_object().unwrap().keys().map(String::as_str).collect();
    let expected: HashSet<&str> = [
        "id",
        "url",
        "target_price",
        "currency",
        "status",
        "last_price",
        "last_currency",
        "availability",
        "last_checked_at",
        "last_error",
        "created_at",
        "updated_at",
        "check_interval_secs",
        "price_selector",
        "rules",
        "cooldown_hours",
        "snooze_until",
        "channels",
        "lowest_price",
        "paused",
        "version",
    ]
    .into_iter()
    .collect();
    assert_eq!(keys, expected);
    assert_eq!(job["id"].as_str().unwrap().len(), 36);
    assert_eq!(job["url"], SHOP);
    assert_eq!(job["target_price"], "79.99");
    assert_eq!(job["status"], "pending");
    assert_eq!(job["check_interval_secs"], 3600);
    for null in
        ["currency", "last_price", "last_currency", "availability", "last_checked_at", "last_error", "price_selector"]
    {
        assert!(job[null].is_null(), "{null} should be null: {job}");
    }
    let created_at = job["created_at"].as_str().unwrap();
    assert!(created_at.ends_with('Z'), "{created_at}");
    assert!(chrono::DateTime::parse_from_rfc3339(created_at).is_ok(), "{created_at}");
    assert_eq!(job["created_at"], job["updated_at"]);

    // The same job reads back identically.
    let id = job["id"].as_str().unwrap();
    let read = app.authed(Method::GET, &format!("/api/v1/jobs/{id}"), &token).send().await.unwrap();
    assert_eq!(read.status(), StatusCode::OK);
    assert_eq!(read.json::<Value>().await.unwrap(), job);
}

#[tokio::test]
async fn create_takes_every_optional_field() {
    let app = spawn_app().await;
    let (_, token) = app.user("ada@example.com").await;
    let body = json!({
        "url": SHOP,
        "target_price": 1299.5,
        "currency": "eur",
        "check_interval_secs": 600,
        "price_selector": " .price > span ",
    });
    let response = app.create_job(&token, &body).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let job: Value = response.json().await.unwrap();
    assert_eq!(job["target_price"], "1299.5");
    assert_eq!(job["currency"], "EUR");
    assert_eq!(job["check_interval_secs"], 600);
    assert_eq!(job["price_selector"], ".price > span");
    // Explicit nulls are the same as absent fields.
    let nulls = json!({"url": SHOP, "target_price": "5", "currency": null, "check_interval_secs": null, "price_selector": null});
    let job: Value = app.create_job(&token, &nulls).await.json().await.unwrap();
    assert!(job["currency"].is_null());
    assert_eq!(job["check_interval_secs"], 3600);
}

#[tokio::test]
async fn target_price_as_string_or_number_never_through_a_float() {
    let app = spawn_app().await;
    let (_, token) = app.user("ada@example.com").await;
    for (given, shown) in [
        (json!("79.99"), "79.99"),
        (json!(79.99), "79.99"),
        (json!(100), "100"),
        (json!("80.00"), "80"),
        (json!(0.1), "0.1"),
    ] {
        let response = app.create_job(&token, &json!({"url": SHOP, "target_price": given})).await;
        assert_eq!(response.status(), StatusCode::CREATED, "{given}");
        let job: Value = response.json().await.unwrap();
        assert_eq!(job["target_price"], shown, "{given}");
    }
    // A number with more digits than an f64 holds keeps them all (sent as raw text).
    let raw = format!(r#"{{"url":"{SHOP}","target_price":12345678901.2345}}"#);
    let response = app
        .authed(Method::POST, "/api/v1/jobs", &token)
        .header("content-type", "application/json")
        .body(raw)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.json::<Value>().await.unwrap()["target_price"], "12345678901.2345");
}

#[tokio::test]
async fn create_refuses_invalid_fields() {
    let app = spawn_app().await;
    let (_, token) = app.user("ada@example.com").await;
    let huge = format!("https://shop.example.com/{}", "a".repeat(3000));
    let cases = [
        (json!({"url": SHOP, "target_price": "0"}), "target_price"),
        (json!({"url": SHOP, "target_price": 0}), "target_price"),
        (json!({"url": SHOP, "target_price": "-1"}), "target_price"),
        (json!({"url": SHOP, "target_price": -1}), "target_price"),
        (json!({"url": SHOP, "target_price": "abc"}), "target_price"),
        (json!({"url": SHOP, "target_price": "1,5"}), "target_price"),
        (json!({"url": SHOP, "target_price": true}), "target_price"),
        (json!({"url": SHOP}), "target_price"),
        (json!({"url": huge, "target_price": "1"}), "url"),
        (json!({"url": "ftp://shop.example.com/p", "target_price": "1"}), "url"),
        (json!({"url": "not a url", "target_price": "1"}), "url"),
        (json!({"url": "https://user:pw@shop.example.com/", "target_price": "1"}), "url"),
        (json!({"url": "http://169.254.169.254/latest/meta-data/", "target_price": "1"}), "url"),
        (json!({"url": "http://127.0.0.1:8080/p", "target_price": "1"}), "url"),
        (json!({"url": "http://localhost/p", "target_price": "1"}), "url"),
        (json!({"url": "http://10.0.0.1/p", "target_price": "1"}), "url"),
        (json!({"url": 5, "target_price": "1"}), "url"),
        (json!({"target_price": "1"}), "url"),
        (json!({"url": SHOP, "target_price": "1", "currency": "EURO"}), "currency"),
        (json!({"url": SHOP, "target_price": "1", "currency": "€"}), "currency"),
        (json!({"url": SHOP, "target_price": "1", "check_interval_secs": 30}), "check_interval_secs"),
        (json!({"url": SHOP, "target_price": "1", "check_interval_secs": 99_999_999}), "check_interval_secs"),
        (json!({"url": SHOP, "target_price": "1", "check_interval_secs": -60}), "check_interval_secs"),
        (json!({"url": SHOP, "target_price": "1", "check_interval_secs": "600"}), "check_interval_secs"),
        (json!({"url": SHOP, "target_price": "1", "price_selector": ""}), "price_selector"),
        (json!({"url": SHOP, "target_price": "1", "price_selector": "div["}), "price_selector"),
        (json!({"url": SHOP, "target_price": "1", "price_selector": "a".repeat(513)}), "price_selector"),
    ];
    for (body, field) in cases {
        let response = app.create_job(&token, &body).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        assert_invalid_field(response, field).await;
    }
    let interval = app.create_job(&token, &json!({"url": SHOP, "target_price": "1", "check_interval_secs": 30})).await;
    let error = assert_invalid_field(interval, "check_interval_secs").await;
    assert_eq!(error["message"], "check_interval_secs must be at least 60");
    let private = app.create_job(&token, &json!({"url": "http://127.0.0.1/", "target_price": "1"})).await;
    let error = assert_invalid_field(private, "url").await;
    assert_eq!(error["message"], "url points to a private or internal network address");

    let unknown = app.create_job(&token, &json!({"url": SHOP, "target_price": "1", "user_id": "x"})).await;
    let error = assert_error(unknown, StatusCode::BAD_REQUEST, "unknown_field").await;
    assert_eq!(error["field"], "user_id");

    // None of these made a job.
    let list: Value = app.authed(Method::GET, "/api/v1/jobs", &token).send().await.unwrap().json().await.unwrap();
    assert_eq!(list["jobs"], json!([]));
}

#[tokio::test]
async fn private_targets_are_accepted_when_allowed() {
    let app = spawn_app_with(|s| s.allow_private_targets = true).await;
    let (_, token) = app.user("ada@example.com").await;
    let response = app.create_job(&token, &json!({"url": "http://127.0.0.1:8080/p", "target_price": "1"})).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    // Other URL rules still hold.
    let ftp = app.create_job(&token, &json!({"url": "ftp://127.0.0.1/p", "target_price": "1"})).await;
    assert_invalid_field(ftp, "url").await;
}

#[tokio::test]
async fn interval_floor_follows_the_schedule_policy() {
    let app = spawn_app_with(|s| {
        s.schedule.min_interval = Duration::from_secs(300);
        s.schedule.default_interval = Duration::from_secs(900);
    })
    .await;
    let (_, token) = app.user("ada@example.com").await;
    let low = app.create_job(&token, &json!({"url": SHOP, "target_price": "1", "check_interval_secs": 120})).await;
    let error = assert_invalid_field(low, "check_interval_secs").await;
    assert_eq!(error["message"], "check_interval_secs must be at least 300");
    let job = app.job(&token, SHOP).await;
    assert_eq!(job["check_interval_secs"], 900);
}

#[tokio::test]
async fn create_requires_a_session() {
    let app = spawn_app().await;
    let response = app.post_json("/api/v1/jobs", &json!({"url": SHOP, "target_price": "1"})).await;
    assert_error(response, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    for (method, path) in [
        (Method::GET, "/api/v1/jobs"),
        (Method::DELETE, "/api/v1/jobs"),
        (Method::GET, "/api/v1/jobs/0192e4a0-0000-7000-8000-000000000000"),
        (Method::DELETE, "/api/v1/jobs/0192e4a0-0000-7000-8000-000000000000"),
    ] {
        let response = app.request(method.clone(), path).send().await.unwrap();
        assert_error(response, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    }
}

#[tokio::test]
async fn create_enqueues_the_first_check() {
    let app = spawn_app().await;
    let (user_id, token) = app.user("ada@example.com").await;
    let job = app.job(&token, SHOP).await;
    let deliveries = app.queue.receive(10, Duration::from_secs(2)).await.unwrap();
    assert_eq!(deliveries.len(), 1, "one check request per new job");
    let request = CheckRequest::from_json(&deliveries[0].body).unwrap();
    assert_eq!(request.v, CheckRequest::VERSION);
    assert_eq!(request.job_id.to_string(), job["id"].as_str().unwrap());
    assert_eq!(request.user_id.to_string(), user_id);
    assert_eq!(request.job_version, 0);
}

/// A queue that is down, or that refuses every message.
struct BrokenQueue {
    refuses: bool,
}

#[async_trait::async_trait]
impl CheckQueue for BrokenQueue {
    async fn send(&self, messages: &[OutgoingMessage]) -> Result<Vec<usize>, QueueError> {
        if self.refuses { Ok((0..messages.len()).collect()) } else { Err(QueueError::Backend("queue down".into())) }
    }
    async fn receive(&self, _max: usize, _wait: Duration) -> Result<Vec<Delivery>, QueueError> {
        Ok(Vec::new())
    }
    async fn extend(&self, _receipt: &str, _visibility: Duration) -> Result<(), QueueError> {
        Ok(())
    }
    async fn ack(&self, _receipt: &str) -> Result<(), QueueError> {
        Ok(())
    }
}

#[tokio::test]
async fn create_succeeds_when_the_first_check_cannot_be_queued() {
    for refuses in [false, true] {
        let app = spawn_app_with_ports(|_| {}, |ports| ports.queue = Arc::new(BrokenQueue { refuses })).await;
        let (_, token) = app.user("ada@example.com").await;
        let job = app.job(&token, SHOP).await;
        assert_eq!(job["status"], "pending");
        let path = format!("/api/v1/jobs/{}", job["id"].as_str().unwrap());
        let read = app.authed(Method::GET, &path, &token).send().await.unwrap();
        assert_eq!(read.status(), StatusCode::OK, "the job is stored; its lease makes it due again");
    }
}

#[tokio::test]
async fn list_pages_through_every_job_once() {
    let app = spawn_app().await;
    let (_, token) = app.user("ada@example.com").await;
    let (_, other) = app.user("bob@example.com").await;
    app.job(&other, SHOP).await;
    let mut created = Vec::new();
    for n in 0..7 {
        let job = app.job(&token, &format!("{SHOP}?n={n}")).await;
        created.push(job["id"].as_str().unwrap().to_owned());
    }

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/jobs?limit=3&cursor={c}"),
            None => "/api/v1/jobs?limit=3".to_owned(),
        };
        let response = app.authed(Method::GET, &path, &token).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let page: Value = response.json().await.unwrap();
        assert_eq!(page.as_object().unwrap().len(), 2, "{page}");
        let jobs = page["jobs"].as_array().unwrap();
        assert!(jobs.len() <= 3);
        seen.extend(jobs.iter().map(|j| j["id"].as_str().unwrap().to_owned()));
        pages += 1;
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => {
                assert!(page["next_cursor"].is_null());
                break;
            }
        }
        assert!(pages < 10, "pagination does not end");
    }
    assert_eq!(seen, created, "every job exactly once, oldest first, none of bob's");

    let all: Value = app.authed(Method::GET, "/api/v1/jobs", &token).send().await.unwrap().json().await.unwrap();
    assert_eq!(all["jobs"].as_array().unwrap().len(), 7, "default limit 20 holds them all");
    assert!(all["next_cursor"].is_null());
}

#[tokio::test]
async fn list_refuses_bad_limits_and_cursors() {
    let app = spawn_app().await;
    let (_, token) = app.user("ada@example.com").await;
    for limit in ["0", "101", "-1", "abc", "1.5", ""] {
        let response = app.authed(Method::GET, &format!("/api/v1/jobs?limit={limit}"), &token).send().await.unwrap();
        assert_invalid_field(response, "limit").await;
    }
    for limit in ["1", "100"] {
        let response = app.authed(Method::GET, &format!("/api/v1/jobs?limit={limit}"), &token).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "limit={limit}");
    }
    let long = "x".repeat(2000);
    for cursor in ["garbage", "not-a-cursor!!", long.as_str()] {
        let response = app.authed(Method::GET, &format!("/api/v1/jobs?cursor={cursor}"), &token).send().await.unwrap();
        assert_invalid_field(response, "cursor").await;
    }
}

#[tokio::test]
async fn get_and_delete_own_job() {
    let app = spawn_app().await;
    let (_, token) = app.user("ada@example.com").await;
    let job = app.job(&token, SHOP).await;
    let path = format!("/api/v1/jobs/{}", job["id"].as_str().unwrap());
    let read = app.authed(Method::GET, &path, &token).send().await.unwrap();
    assert_eq!(read.status(), StatusCode::OK);
    assert_eq!(read.json::<Value>().await.unwrap()["id"], job["id"]);

    let deleted = app.authed(Method::DELETE, &path, &token).send().await.unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert!(deleted.bytes().await.unwrap().is_empty());
    assert_error(app.authed(Method::GET, &path, &token).send().await.unwrap(), StatusCode::NOT_FOUND, "not_found")
        .await;
    assert_error(app.authed(Method::DELETE, &path, &token).send().await.unwrap(), StatusCode::NOT_FOUND, "not_found")
        .await;
}

#[tokio::test]
async fn unknown_and_malformed_ids_are_not_found() {
    let app = spawn_app().await;
    let (_, token) = app.user("ada@example.com").await;
    for id in [
        "0192e4a0-0000-7000-8000-000000000000",
        "12345",
        "not-an-id",
        "%7B0192e4a0-0000-7000-8000-000000000000%7D",
        "%FF%FE",
    ] {
        let path = format!("/api/v1/jobs/{id}");
        assert_error(app.authed(Method::GET, &path, &token).send().await.unwrap(), StatusCode::NOT_FOUND, "not_found")
            .await;
        assert_error(
            app.authed(Method::DELETE, &path, &token).send().await.unwrap(),
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }
}

#[tokio::test]
async fn another_users_job_is_not_found_and_survives() {
    let app = spawn_app().await;
    let (_, ada) = app.user("ada@example.com").await;
    let (_, mallory) = app.user("mallory@example.com").await;
    let job = app.job(&ada, SHOP).await;
    let path = format!("/api/v1/jobs/{}", job["id"].as_str().unwrap());

    let read = app.authed(Method::GET, &path, &mallory).send().await.unwrap();
    assert_error(read, StatusCode::NOT_FOUND, "not_found").await;
    let delete = app.authed(Method::DELETE, &path, &mallory).send().await.unwrap();
    assert_error(delete, StatusCode::NOT_FOUND, "not_found").await;
    let delete_all = app.authed(Method::DELETE, "/api/v1/jobs", &mallory).send().await.unwrap();
    assert_eq!(delete_all.status(), StatusCode::NO_CONTENT);
    let list: Value = app.authed(Method::GET, "/api/v1/jobs", &mallory).send().await.unwrap().json().await.unwrap();
    assert_eq!(list["jobs"], json!([]));

    let still = app.authed(Method::GET, &path, &ada).send().await.unwrap();
    assert_eq!(still.status(), StatusCode::OK, "the owner still has the job");
}

#[tokio::test]
async fn delete_all_removes_only_the_callers_jobs() {
    let app = spawn_app().await;
    let (_, ada) = app.user("ada@example.com").await;
    let (_, bob) = app.user("bob@example.com").await;
    for n in 0..3 {
        app.job(&ada, &format!("{SHOP}?n={n}")).await;
    }
    let bobs = app.job(&bob, SHOP).await;
    let response = app.authed(Method::DELETE, "/api/v1/jobs", &ada).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let list: Value = app.authed(Method::GET, "/api/v1/jobs", &ada).send().await.unwrap().json().await.unwrap();
    assert_eq!(list, json!({"jobs": [], "next_cursor": null}));
    let list: Value = app.authed(Method::GET, "/api/v1/jobs", &bob).send().await.unwrap().json().await.unwrap();
    assert_eq!(list["jobs"].as_array().unwrap().len(), 1);
    assert_eq!(list["jobs"][0]["id"], bobs["id"]);
    // Deleting nothing is fine too.
    let again = app.authed(Method::DELETE, "/api/v1/jobs", &ada).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::NO_CONTENT);
}
