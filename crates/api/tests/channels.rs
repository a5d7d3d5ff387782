//! Channels and the delivery log over real HTTP: creation (secrets shown once), the address
//! guard, per-user scoping, update, delete, and a test message to a real receiver on 127.0.0.1
//! that verifies the Standard Webhooks signature.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// What a receiver got: (headers, body) of every request.
type Seen = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

/// A webhook receiver on 127.0.0.1 keeping (headers, body) of every request.
async fn receiver() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let app = axum::Router::new()
        .route(
            "/hook",
            post(|State(seen): State<Seen>, headers: HeaderMap, body: Bytes| async move {
                seen.lock().unwrap().push((headers, body));
                StatusCode::NO_CONTENT
            }),
        )
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/hook"), seen)
}

#[tokio::test]
async fn a_webhook_channel_shows_its_secret_once_and_signs_its_test_message() {
    let app = spawn_app_with(|s| s.allow_private_targets = true).await;
    let (_, token) = app.user("ada@example.com").await;
    let (hook, seen) = receiver().await;

    let response = app
        .authed(Method::POST, "/api/v1/channels", &token)
        .json(&json!({"kind": "webhook", "name": "my hook", "url": hook}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.unwrap();
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{created}");
    assert_eq!(created["kind"], "webhook");
    assert_eq!(created["status"], "active");
    let id = created["id"].as_str().unwrap().to_owned();

    // Never shown again.
    let listed: Value = app.authed(Method::GET, "/api/v1/channels", &token).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed["channels"].as_array().unwrap().len(), 1);
    assert!(!listed.to_string().contains(&secret), "{listed}");
    let one = app.authed(Method::GET, &format!("/api/v1/channels/{id}"), &token).send().await.unwrap();
    assert_eq!(one.status(), StatusCode::OK);
    assert!(!one.text().await.unwrap().contains("whsec_"));

    // A test message, signed as Standard Webhooks says.
    let tested: Value = app
        .authed(Method::POST, &format!("/api/v1/channels/{id}/test"), &token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tested, json!({"delivered": true}));
    let (headers, body) = seen.lock().unwrap().pop().expect("the receiver got the test message");
    let header = |name: &str| headers.get(name).unwrap().to_str().unwrap().to_owned();
    let timestamp: i64 = header("webhook-timestamp").parse().unwrap();
    pricetrack_delivery::signature::verify(
        &secret,
        &header("webhook-id"),
        timestamp,
        &body,
        &header("webhook-signature"),
    )
    .expect("the signature verifies with the secret shown at creation");
    assert_eq!(header("idempotency-key"), header("webhook-id"));
    let payload: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(payload["type"], "price.alert");
    assert_eq!(payload["data"]["rule"], "below_target");

    // Rename: the secret survives, the answer still hides it.
    let patched = app
        .authed(Method::PATCH, &format!("/api/v1/channels/{id}"), &token)
        .json(&json!({"name": "renamed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), StatusCode::OK);
    let patched: Value = patched.json().await.unwrap();
    assert_eq!(patched["name"], "renamed");
    assert!(patched.get("secret").is_none());
    app.authed(Method::POST, &format!("/api/v1/channels/{id}/test"), &token).send().await.unwrap();
    let (headers, body) = seen.lock().unwrap().pop().expect("second test");
    let header = |name: &str| headers.get(name).unwrap().to_str().unwrap().to_owned();
    pricetrack_delivery::signature::verify(
        &secret,
        &header("webhook-id"),
        header("webhook-timestamp").parse().unwrap(),
        &body,
        &header("webhook-signature"),
    )
    .expect("same secret after an update");

    // Another user sees nothing of it.
    let (_, other) = app.user("bob@example.com").await;
    for (method, path) in [
        (Method::GET, format!("/api/v1/channels/{id}")),
        (Method::POST, format!("/api/v1/channels/{id}/test")),
        (Method::DELETE, format!("/api/v1/channels/{id}")),
    ] {
        assert_error(app.authed(method, &path, &other).send().await.unwrap(), StatusCode::NOT_FOUND, "not_found").await;
    }
    let theirs: Value = app.authed(Method::GET, "/api/v1/channels", &other).send().await.unwrap().json().await.unwrap();
    assert_eq!(theirs["channels"], json!([]));

    let deleted = app.authed(Method::DELETE, &format!("/api/v1/channels/{id}"), &token).send().await.unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let gone = app.authed(Method::GET, &format!("/api/v1/channels/{id}"), &token).send().await.unwrap();
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn channel_urls_go_through_the_address_guard() {
    let app = spawn_app().await;
    let (_, token) = app.user("ada@example.com").await;
    for body in [
        json!({"kind": "webhook", "url": "http://127.0.0.1:9/hook"}),
        json!({"kind": "webhook", "url": "http://169.254.169.254/latest/meta-data"}),
        json!({"kind": "ntfy", "server": "http://10.0.0.1", "topic": "alerts"}),
        json!({"kind": "gotify", "server": "http://localhost:1", "token": "t"}),
        json!({"kind": "discord", "webhook_url": "http://[::1]/api/webhooks/1/x"}),
        json!({"kind": "telegram", "bot_token": "1:x", "chat_id": "1", "api_url": "http://2130706433/"}),
    ] {
        let response = app.authed(Method::POST, "/api/v1/channels", &token).json(&body).send().await.unwrap();
        assert_invalid_field(response, "url").await;
    }
    let listed: Value = app.authed(Method::GET, "/api/v1/channels", &token).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed["channels"], json!([]), "nothing stored");
}

#[tokio::test]
async fn channel_bodies_are_validated_and_secrets_never_echoed() {
    let app = spawn_app().await;
    let (_, token) = app.user("ada@example.com").await;
    let post = |body: Value| app.authed(Method::POST, "/api/v1/channels", &token).json(&body).send();
    assert_invalid_field(post(json!({"kind": "pager"})).await.unwrap(), "kind").await;
    assert_invalid_field(post(json!({"kind": "ntfy"})).await.unwrap(), "topic").await;
    assert_invalid_field(post(json!({"kind": "gotify", "server": "https://gotify.example"})).await.unwrap(), "token")
        .await;
    assert_invalid_field(post(json!({"kind": "email", "address": "not-an-address"})).await.unwrap(), "address").await;
    assert_error(
        post(json!({"kind": "ntfy", "topic": "a", "password": "x"})).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "unknown_field",
    )
    .await;

    // A Discord channel: its URL holds the key, so only its host is shown.
    let created = post(json!({
        "kind": "discord",
        "webhook_url": "https://discord.com/api/webhooks/123/very-secret-token"
    }))
    .await
    .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let text = created.text().await.unwrap();
    assert!(!text.contains("very-secret-token"), "{text}");
    assert!(text.contains("discord.com"), "{text}");
    let created = post(json!({"kind": "ntfy", "topic": "deals", "token": "tk_secret_value"})).await.unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let view: Value = created.json().await.unwrap();
    assert_eq!(view["settings"], json!({"server": "https://ntfy.sh/", "topic": "deals", "has_token": true}));
    let listed = app.authed(Method::GET, "/api/v1/channels", &token).send().await.unwrap().text().await.unwrap();
    assert!(!listed.contains("tk_secret_value") && !listed.contains("very-secret-token"), "{listed}");
}

#[tokio::test]
async fn the_alert_log_starts_empty_and_needs_a_session() {
    let app = spawn_app().await;
    let (_, token) = app.user("ada@example.com").await;
    let log: Value = app.authed(Method::GET, "/api/v1/alerts", &token).send().await.unwrap().json().await.unwrap();
    assert_eq!(log, json!({"alerts": [], "next_cursor": null}));
    assert_invalid_field(app.authed(Method::GET, "/api/v1/alerts?limit=0", &token).send().await.unwrap(), "limit")
        .await;
    assert_error(
        app.request(Method::GET, "/api/v1/alerts").send().await.unwrap(),
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
}

#[tokio::test]
async fn jobs_take_rules_a_cooldown_a_snooze_and_their_own_channels() {
    let app = spawn_app_with(|s| s.allow_private_targets = true).await;
    let (_, token) = app.user("ada@example.com").await;
    let (hook, _) = receiver().await;
    let channel: Value = app
        .authed(Method::POST, "/api/v1/channels", &token)
        .json(&json!({"kind": "webhook", "url": hook}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let channel_id = channel["id"].as_str().unwrap();
    let body = json!({
        "url": "https://shop.example.com/p/1",
        "target_price": "10",
        "rules": [
            {"kind": "drop_percent", "percent": "15", "baseline": "first_seen"},
            {"kind": "back_in_stock"},
            {"kind": "new_low"}
        ],
        "cooldown_hours": 12,
        "snooze_until": "2030-01-01T00:00:00Z",
        "channels": [channel_id]
    });
    let response = app.create_job(&token, &body).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let job: Value = response.json().await.unwrap();
    assert_eq!(job["rules"], body["rules"]);
    assert_eq!(job["cooldown_hours"], 12);
    assert_eq!(job["snooze_until"], "2030-01-01T00:00:00.000Z");
    assert_eq!(job["channels"], json!([channel_id]));
    let read: Value = app
        .authed(Method::GET, &format!("/api/v1/jobs/{}", job["id"].as_str().unwrap()), &token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(read["rules"], body["rules"], "stored");

    // A job without rules alerts below its target, as before.
    let plain: Value = app.job(&token, "https://shop.example.com/p/2").await;
    assert_eq!(plain["rules"], json!([{"kind": "below_target"}]));
    assert_eq!(plain["channels"], Value::Null);

    for (bad, field) in [
        (json!({"rules": []}), "rules"),
        (json!({"rules": [{"kind": "new_low"}, {"kind": "new_low"}]}), "rules"),
        (json!({"rules": [{"kind": "drop_percent", "percent": "100", "baseline": "previous"}]}), "rules"),
        (json!({"rules": [{"kind": "sometimes"}]}), "rules"),
        (json!({"cooldown_hours": 1000}), "cooldown_hours"),
        (json!({"snooze_until": "tomorrow"}), "snooze_until"),
        (json!({"channels": ["01a23b18-227b-76ff-8f4a-2a88cdb09c32"]}), "channels"),
    ] {
        let mut body = json!({"url": "https://shop.example.com/p/3", "target_price": "10"});
        for (k, v) in bad.as_object().unwrap() {
            body[k] = v.clone();
        }
        assert_invalid_field(app.create_job(&token, &body).await, field).await;
    }
    // Another user's channel is not yours to name.
    let (_, other) = app.user("bob@example.com").await;
    let theirs = json!({"url": "https://shop.example.com/p/4", "target_price": "10", "channels": [channel_id]});
    assert_invalid_field(app.create_job(&other, &theirs).await, "channels").await;
}

/// `PATCH /api/v1/jobs/{id}` edits the alerting settings as a JSON merge patch: `rules` replaces
/// the list, `null` clears the cooldown, the snooze and the channels (and is refused for
/// `rules`), fields not named stay; every value is validated as at creation, and a refused patch
/// changes nothing.
#[tokio::test]
async fn job_rules_are_editable_with_a_merge_patch() {
    let app = spawn_app_with(|s| s.allow_private_targets = true).await;
    let (_, token) = app.user("ada@example.com").await;
    let (hook, _) = receiver().await;
    let channel: Value = app
        .authed(Method::POST, "/api/v1/channels", &token)
        .json(&json!({"kind": "webhook", "url": hook}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let channel_id = channel["id"].as_str().unwrap();
    let job = app.job(&token, "https://shop.example.com/p/1").await;
    let path = format!("/api/v1/jobs/{}", job["id"].as_str().unwrap());
    let patch = |body: Value| {
        app.authed(Method::PATCH, &path, &token)
            .header("content-type", "application/merge-patch+json")
            .body(body.to_string())
            .send()
    };
    let read = async || -> Value { app.authed(Method::GET, &path, &token).send().await.unwrap().json().await.unwrap() };

    let rules = json!([
        {"kind": "drop_percent", "percent": "15", "baseline": "previous"},
        {"kind": "new_low"}
    ]);
    let response = patch(json!({
        "rules": rules,
        "cooldown_hours": 6,
        "snooze_until": "2030-01-01T00:00:00Z",
        "channels": [channel_id]
    }))
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let edited: Value = response.json().await.unwrap();
    assert_eq!(edited["rules"], rules);
    assert_eq!(edited["cooldown_hours"], 6);
    assert_eq!(edited["snooze_until"], "2030-01-01T00:00:00.000Z");
    assert_eq!(edited["channels"], json!([channel_id]));
    assert_eq!(edited["target_price"], job["target_price"], "fields not named stay");
    assert_eq!(read().await["rules"], rules, "stored");

    // Another field alone leaves the alerting settings as they are.
    let response = patch(json!({"target_price": "12"})).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let stored = read().await;
    assert_eq!(
        (&stored["target_price"], &stored["rules"], &stored["cooldown_hours"]),
        (&json!("12"), &rules, &json!(6))
    );

    // `null` clears the cooldown, the snooze and the channels; the rules stay.
    let response = patch(json!({"cooldown_hours": null, "snooze_until": null, "channels": null})).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let stored = read().await;
    assert_eq!(
        (&stored["cooldown_hours"], &stored["snooze_until"], &stored["channels"], &stored["rules"]),
        (&Value::Null, &Value::Null, &Value::Null, &rules)
    );

    // Refused as at creation, and a refused patch changes nothing.
    let (_, bob) = app.user("bob@example.com").await;
    let bobs_channel: Value = app
        .authed(Method::POST, "/api/v1/channels", &bob)
        .json(&json!({"kind": "webhook", "url": hook}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let before = read().await;
    for (bad, field) in [
        (json!({"rules": null}), "rules"),
        (json!({"rules": []}), "rules"),
        (json!({"rules": [{"kind": "new_low"}, {"kind": "new_low"}]}), "rules"),
        (json!({"rules": [{"kind": "drop_percent", "percent": "0", "baseline": "previous"}]}), "rules"),
        (json!({"rules": [{"kind": "sometimes"}]}), "rules"),
        (json!({"rules": "below_target"}), "rules"),
        (json!({"cooldown_hours": 721}), "cooldown_hours"),
        (json!({"cooldown_hours": -1}), "cooldown_hours"),
        (json!({"snooze_until": "tomorrow"}), "snooze_until"),
        (json!({"channels": ["01a23b18-227b-76ff-8f4a-2a88cdb09c32"]}), "channels"),
        (json!({"channels": [bobs_channel["id"]]}), "channels"),
        (json!({"target_price": "13", "rules": []}), "rules"),
    ] {
        assert_invalid_field(patch(bad.clone()).await.unwrap(), field).await;
    }
    assert_eq!(read().await, before, "refused patches change nothing");

    // Back to the default rule.
    let response = patch(json!({"rules": [{"kind": "below_target"}]})).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(read().await["rules"], json!([{"kind": "below_target"}]));
}
