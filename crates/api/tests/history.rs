//! Editing, pausing, idempotent creation, listing filters and price history over real HTTP on
//! SQLite.

#![allow(clippy::unwrap_used)]

mod common;

use std::str::FromStr;

use common::*;
use pricetrack_domain::ports::JobStore;
use pricetrack_domain::{Availability, CheckOutcome, CheckedOffer, Currency, JobId, JobKey, Money, SchedulePolicy};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const SHOP: &str = "https://shop.example.com/p/123";

fn etag(response: &reqwest::Response) -> String {
    response.headers().get("etag").expect("ETag header").to_str().unwrap().to_owned()
}

async fn patch(app: &TestApp, token: &str, id: &str, body: &Value, if_match: Option<&str>) -> reqwest::Response {
    let mut request = app
        .authed(Method::PATCH, &format!("/api/v1/jobs/{id}"), token)
        .header("content-type", "application/merge-patch+json")
        .body(body.to_string());
    if let Some(tag) = if_match {
        request = request.header("if-match", tag);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn create_is_201_with_location_and_etag_and_idempotent_with_a_key() {
    let app = spawn_app().await;
    let (_, token) = app.user("ada@example.com").await;
    let send = |key: &'static str, target: &'static str| {
        app.authed(Method::POST, "/api/v1/jobs", &token)
            .header("content-type", "application/json")
            .header("idempotency-key", key)
            .body(json!({"url": SHOP, "target_price": target}).to_string())
            .send()
    };
    let first = send("order-42", "50").await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let location = first.headers().get("location").unwrap().to_str().unwrap().to_owned();
    assert_eq!(etag(&first), "\"0\"");
    let first: Value = first.json().await.unwrap();
    assert_eq!(location, format!("/api/v1/jobs/{}", first["id"].as_str().unwrap()));
    let again = send("order-42", "60").await.unwrap();
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(again.headers().get("location").unwrap().to_str().unwrap(), location);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again, first, "the same key replays the first response");
    let other = send("order-43", "60").await.unwrap();
    assert_eq!(other.status(), StatusCode::CREATED);
    let list: Value = app.authed(Method::GET, "/api/v1/jobs", &token).send().await.unwrap().json().await.unwrap();
    assert_eq!(list["jobs"].as_array().unwrap().len(), 2, "a replay creates nothing");
    let bad = app
        .authed(Method::POST, "/api/v1/jobs", &token)
        .header("content-type", "application/json")
        .header("idempotency-key", "")
        .body(json!({"url": SHOP, "target_price": "1"}).to_string())
        .send()
        .await
        .unwrap();
    assert_invalid_field(bad, "Idempotency-Key").await;

    // Once its job is deleted, a key's replay would name a job that is gone: 409, nothing made.
    let deleted = app.authed(Method::DELETE, &location, &token).send().await.unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let replay = send("order-42", "50").await.unwrap();
    assert_error(replay, StatusCode::CONFLICT, "idempotency_key_reused").await;
    let list: Value = app.authed(Method::GET, "/api/v1/jobs", &token).send().await.unwrap().json().await.unwrap();
    assert_eq!(list["jobs"].as_array().unwrap().len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn patch_merges_validates_and_honours_if_match() {
    let app = spawn_app().await;
    let (_, token) = app.user("ada@example.com").await;
    let job: Value = app
        .create_job(&token, &json!({"url": SHOP, "target_price": "50", "price_selector": ".p"}))
        .await
        .json()
        .await
        .unwrap();
    let id = job["id"].as_str().unwrap().to_owned();
    let got = app.authed(Method::GET, &format!("/api/v1/jobs/{id}"), &token).send().await.unwrap();
    let tag = etag(&got);

    let edited = patch(&app, &token, &id, &json!({"target_price": "45.50", "currency": "EUR"}), Some(&tag)).await;
    assert_eq!(edited.status(), StatusCode::OK);
    let new_tag = etag(&edited);
    assert_ne!(new_tag, tag);
    let edited: Value = edited.json().await.unwrap();
    assert_eq!((edited["target_price"].as_str(), edited["currency"].as_str()), (Some("45.5"), Some("EUR")));
    assert_eq!(edited["price_selector"], ".p", "fields not in the patch stay");

    let stale = patch(&app, &token, &id, &json!({"target_price": "1"}), Some(&tag)).await;
    assert_error(stale, StatusCode::PRECONDITION_FAILED, "precondition_failed").await;
    let now: Value =
        app.authed(Method::GET, &format!("/api/v1/jobs/{id}"), &token).send().await.unwrap().json().await.unwrap();
    assert_eq!(now["target_price"], "45.5", "a 412 changes nothing");

    let cleared = patch(&app, &token, &id, &json!({"price_selector": null, "currency": null}), None).await;
    let cleared: Value = cleared.json().await.unwrap();
    assert!(cleared["price_selector"].is_null() && cleared["currency"].is_null(), "{cleared}");

    // Rules and the cooldown are edited as they are set at creation.
    let rules = json!({"rules": [{"kind": "drop_percent", "percent": "10", "baseline": "first_seen"}, {"kind": "new_low"}], "cooldown_hours": 12});
    let ruled: Value = patch(&app, &token, &id, &rules, None).await.json().await.unwrap();
    assert_eq!(ruled["rules"].as_array().map(Vec::len), Some(2), "{ruled}");
    assert_eq!(ruled["rules"][0]["kind"], "drop_percent");
    assert_eq!(ruled["cooldown_hours"], 12);
    let uncooled: Value = patch(&app, &token, &id, &json!({"cooldown_hours": null}), None).await.json().await.unwrap();
    assert!(
        uncooled["cooldown_hours"].is_null() && uncooled["rules"].as_array().map(Vec::len) == Some(2),
        "{uncooled}"
    );

    for (body, field) in [
        (json!({"rules": []}), "rules"),
        (json!({"rules": null}), "rules"),
        (json!({"rules": [{"kind": "new_low"}, {"kind": "new_low"}]}), "rules"),
        (json!({"rules": [{"kind": "drop_percent", "percent": "100", "baseline": "first_seen"}]}), "rules"),
        (json!({"cooldown_hours": 721}), "cooldown_hours"),
        (json!({"target_price": "0"}), "target_price"),
        (json!({"check_interval_secs": 1}), "check_interval_secs"),
        (json!({"price_selector": "div["}), "price_selector"),
        (json!({"paused": "yes"}), "paused"),
        (json!({"currency": "EURO"}), "currency"),
    ] {
        assert_invalid_field(patch(&app, &token, &id, &body, None).await, field).await;
    }
    let unknown = patch(&app, &token, &id, &json!({"url": "https://other.example/"}), None).await;
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);

    let (_, mallory) = app.user("mallory@example.com").await;
    let foreign = patch(&app, &mallory, &id, &json!({"paused": true}), None).await;
    assert_error(foreign, StatusCode::NOT_FOUND, "not_found").await;
    app.stop().await;
}

#[tokio::test]
async fn pause_shows_paused_is_never_claimed_and_resume_makes_it_due() {
    let app = spawn_app().await;
    let (_, token) = app.user("ada@example.com").await;
    let job: Value = app.create_job(&token, &json!({"url": SHOP, "target_price": "50"})).await.json().await.unwrap();
    let id = job["id"].as_str().unwrap().to_owned();
    let paused: Value = patch(&app, &token, &id, &json!({"paused": true}), None).await.json().await.unwrap();
    assert_eq!((paused["status"].as_str(), paused["paused"].as_bool()), (Some("paused"), Some(true)));
    let store = app.db.jobs();
    let far = chrono::Utc::now() + chrono::Duration::days(400);
    assert!(store.claim_due(far, far, 100).await.unwrap().is_empty(), "a paused job is never claimed");
    let listed: Value =
        app.authed(Method::GET, "/api/v1/jobs?status=paused", &token).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed["jobs"].as_array().unwrap().len(), 1);
    let resumed: Value = patch(&app, &token, &id, &json!({"paused": false}), None).await.json().await.unwrap();
    assert_eq!(resumed["status"], "pending");
    let soon = chrono::Utc::now() + chrono::Duration::seconds(1);
    assert_eq!(store.claim_due(soon, far, 100).await.unwrap().len(), 1, "a resumed job is due at once");
    let none: Value =
        app.authed(Method::GET, "/api/v1/jobs?status=paused", &token).send().await.unwrap().json().await.unwrap();
    assert!(none["jobs"].as_array().unwrap().is_empty());
    let bad = app.authed(Method::GET, "/api/v1/jobs?status=asleep", &token).send().await.unwrap();
    assert_invalid_field(bad, "status").await;
    app.stop().await;
}

#[tokio::test]
async fn list_orders_newest_or_oldest() {
    let app = spawn_app().await;
    let (_, token) = app.user("ada@example.com").await;
    let mut ids = Vec::new();
    for target in ["1", "2", "3"] {
        let job: Value =
            app.create_job(&token, &json!({"url": SHOP, "target_price": target})).await.json().await.unwrap();
        ids.push(job["id"].as_str().unwrap().to_owned());
    }
    let list = |order: &'static str| {
        let token = token.clone();
        let app = &app;
        async move {
            let page: Value = app
                .authed(Method::GET, &format!("/api/v1/jobs?order={order}&limit=2"), &token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            page["jobs"].as_array().unwrap().iter().map(|j| j["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
        }
    };
    assert_eq!(list("oldest").await, ids[..2].to_vec());
    assert_eq!(list("newest").await, vec![ids[2].clone(), ids[1].clone()]);
    let bad = app.authed(Method::GET, "/api/v1/jobs?order=random", &token).send().await.unwrap();
    assert_invalid_field(bad, "order").await;
    app.stop().await;
}

#[tokio::test]
async fn history_shows_run_length_points_buckets_and_stats() {
    let app = spawn_app().await;
    let (user_id, token) = app.user("ada@example.com").await;
    let job: Value = app.create_job(&token, &json!({"url": SHOP, "target_price": "10"})).await.json().await.unwrap();
    let id = job["id"].as_str().unwrap().to_owned();
    let store = app.db.jobs();
    let key = JobKey { user_id: user_id.parse().unwrap(), job_id: id.parse::<JobId>().unwrap() };
    let start = chrono::Utc::now() - chrono::Duration::hours(5);
    for (i, price) in (0_i64..).zip(["100", "90", "90", "95", "80"]) {
        let stored = store.get(key).await.unwrap().unwrap();
        let outcome = CheckOutcome::Priced(CheckedOffer {
            price: Money::new(rust_decimal::Decimal::from_str(price).unwrap(), Some(Currency::EUR)),
            availability: Some(Availability::InStock),
            method: "test".into(),
        });
        let t = stored.after_check(&outcome, start + chrono::Duration::minutes(10 * i), &SchedulePolicy::default(), 0);
        store.record_check(&t.job, stored.version, t.observation.as_ref()).await.unwrap();
    }
    let history: Value = app
        .authed(Method::GET, &format!("/api/v1/jobs/{id}/history"), &token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let prices: Vec<&str> =
        history["points"].as_array().unwrap().iter().map(|p| p["price"].as_str().unwrap()).collect();
    assert_eq!(prices, vec!["80", "95", "90", "100"], "newest first, the unchanged 90 one point: {history}");
    assert_eq!(history["points"][2]["checks"], 2);
    assert_eq!(history["points"][0]["currency"], "EUR");
    assert_eq!(history["stats"]["lowest"]["price"], "80");
    assert_eq!(history["stats"]["highest"]["price"], "100");
    assert_eq!(history["stats"]["current"]["price"], "80");
    assert_eq!(history["stats"]["change_pct_vs_first"], "-20");
    assert!(history["next_cursor"].is_null());

    let page: Value = app
        .authed(Method::GET, &format!("/api/v1/jobs/{id}/history?limit=3"), &token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let cursor = page["next_cursor"].as_str().expect("a second page").to_owned();
    let rest: Value = app
        .authed(Method::GET, &format!("/api/v1/jobs/{id}/history?limit=3&cursor={cursor}"), &token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rest["points"][0]["price"], "100");

    let hours: Value = app
        .authed(Method::GET, &format!("/api/v1/jobs/{id}/history?resolution=hour"), &token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let buckets = hours["points"].as_array().unwrap();
    assert!(!buckets.is_empty() && buckets.len() <= 2, "{hours}");
    let all_min = buckets.iter().map(|b| b["min"].as_str().unwrap().parse::<f64>().unwrap()).fold(f64::MAX, f64::min);
    assert!((all_min - 80.0).abs() < f64::EPSILON);

    let bad =
        app.authed(Method::GET, &format!("/api/v1/jobs/{id}/history?resolution=week"), &token).send().await.unwrap();
    assert_invalid_field(bad, "resolution").await;
    let (_, mallory) = app.user("mallory@example.com").await;
    let foreign = app.authed(Method::GET, &format!("/api/v1/jobs/{id}/history"), &mallory).send().await.unwrap();
    assert_error(foreign, StatusCode::NOT_FOUND, "not_found").await;
    app.stop().await;
}
