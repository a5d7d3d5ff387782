//! The HTTP envelope over real HTTP: probes, the one error shape for axum's own rejections and
//! for unknown routes and methods, body limits, and internal errors that leak nothing.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::*;
use pricetrack_domain::ports::{SessionStore, UserCredentials, UserStore, UserStoreError};
use pricetrack_domain::{Email, PasswordHash, SessionId, User, UserId, UserSession};
use reqwest::header::{ALLOW, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[tokio::test]
async fn healthz_and_readyz() {
    let app = spawn_app().await;
    let health = app.request(Method::GET, "/healthz").send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(health.json::<Value>().await.unwrap(), json!({"status": "ok"}));
    let ready = app.request(Method::GET, "/readyz").send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(
        ready.json::<Value>().await.unwrap(),
        json!({"status": "ok", "dependencies": {"users": "ok", "jobs": "ok"}})
    );
}

/// `/readyz` until it answers `status`, for at most 3 s (the prober sees a change within a
/// probe period).
async fn readyz_until(app: &TestApp, status: StatusCode) -> reqwest::Response {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    loop {
        let started = std::time::Instant::now();
        let ready = app.request(Method::GET, "/readyz").send().await.unwrap();
        assert!(started.elapsed() < std::time::Duration::from_secs(1), "/readyz took {:?}", started.elapsed());
        if ready.status() == status || std::time::Instant::now() > deadline {
            return ready;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn readyz_fails_when_the_database_is_gone_and_healthz_does_not() {
    let app = spawn_app().await;
    app.db.close().await;
    let ready = readyz_until(&app, StatusCode::SERVICE_UNAVAILABLE).await;
    let error = assert_error(ready, StatusCode::SERVICE_UNAVAILABLE, "not_ready").await;
    assert_eq!(error["message"], "not ready");
    assert_eq!(error["dependencies"], json!({"users": "down", "jobs": "down"}));
    let health = app.request(Method::GET, "/healthz").send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_failing_store_is_unavailable_and_leaks_nothing() {
    let app = spawn_app().await;
    let (_, token) = app.user("ada@example.com").await;
    app.db.close().await;
    let expected = json!({"error": {"code": "unavailable", "message": "the service is temporarily unavailable, try again shortly"}});
    // Before and after the prober has seen the store go: the same answer, at once.
    for round in 0..2 {
        let signup = app.signup("bob@example.com", PASSWORD).await;
        assert_eq!(signup.status(), StatusCode::SERVICE_UNAVAILABLE, "round {round}");
        assert_eq!(signup.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("1"));
        assert_eq!(signup.json::<Value>().await.unwrap(), expected);
        let validate = app.authed(Method::GET, "/api/v1/validate", &token).send().await.unwrap();
        assert_eq!(validate.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(validate.json::<Value>().await.unwrap(), expected);
        let signin = app.signin("ada@example.com", PASSWORD).await;
        assert_eq!(signin.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(signin.json::<Value>().await.unwrap(), expected);
        readyz_until(&app, StatusCode::SERVICE_UNAVAILABLE).await;
    }
}

/// A user store with a bug: every call panics.
struct PanickingUsers;

#[async_trait::async_trait]
impl UserStore for PanickingUsers {
    async fn create(&self, _user: &User, _hash: &PasswordHash) -> Result<(), UserStoreError> {
        panic!("bug with secret.person@example.com")
    }
    async fn find_by_email(&self, _email: &Email) -> Result<Option<UserCredentials>, UserStoreError> {
        panic!("bug with secret.person@example.com")
    }
    async fn get(&self, _id: UserId) -> Result<Option<User>, UserStoreError> {
        panic!("bug with secret.person@example.com")
    }
    async fn set_password_hash(&self, _id: UserId, _hash: &PasswordHash) -> Result<bool, UserStoreError> {
        panic!("bug with secret.person@example.com")
    }
    async fn delete(&self, _id: UserId) -> Result<bool, UserStoreError> {
        panic!("bug with secret.person@example.com")
    }
    async fn ping(&self) -> Result<(), UserStoreError> {
        panic!("bug with secret.person@example.com")
    }
}

#[tokio::test]
async fn a_panicking_handler_is_an_internal_error_and_the_server_lives_on() {
    let app = spawn_app_with_ports(|_| {}, |ports| ports.users = Arc::new(PanickingUsers)).await;
    let expected = json!({"error": {"code": "internal", "message": "internal error"}});
    let now = epoch_now();
    // A live session (the session store is the real one), so the request reaches the user store.
    let user =
        User { id: UserId::new(), email: Email::parse("ada@example.com").unwrap(), created_at: chrono::Utc::now() };
    app.db.users().create(&user, &PasswordHash::new("$argon2id$unused".to_owned())).await.unwrap();
    let session = UserSession {
        id: SessionId::new(),
        user_id: user.id,
        created_at: chrono::Utc::now(),
        expires_at: chrono::Utc::now() + chrono::Duration::minutes(10),
    };
    app.db.users().create_session(&session).await.unwrap();
    let token = forge_token(
        SECRET,
        &json!({"sub": session.user_id.to_string(), "sid": session.id.to_string(), "iat": now, "exp": now + 600}),
    );
    for _ in 0..2 {
        // The prober's probe panics: the store counts as down, and the prober lives on.
        let ready = readyz_until(&app, StatusCode::SERVICE_UNAVAILABLE).await;
        assert_error(ready, StatusCode::SERVICE_UNAVAILABLE, "not_ready").await;
        let validate = app.authed(Method::GET, "/api/v1/validate", &token).send().await.unwrap();
        assert_eq!(validate.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(validate.json::<Value>().await.unwrap(), expected);
    }
    assert_eq!(app.request(Method::GET, "/healthz").send().await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn unknown_routes_and_methods_use_the_error_shape() {
    let app = spawn_app().await;
    for path in ["/", "/nope", "/api/v1/nope", "/api/v2/jobs", "/api/v1/jobs/a/b"] {
        let response = app.request(Method::GET, path).send().await.unwrap();
        assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
    }
    for (method, path) in [
        (Method::GET, "/api/v1/signup"),
        (Method::PUT, "/api/v1/jobs"),
        (Method::POST, "/api/v1/validate"),
        (Method::PUT, "/api/v1/jobs/0192e4a0-0000-7000-8000-000000000000"),
        (Method::POST, "/healthz"),
    ] {
        let response = app.request(method.clone(), path).send().await.unwrap();
        assert!(response.headers().contains_key(ALLOW), "{method} {path} has an Allow header");
        assert_error(response, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
    }
}

#[tokio::test]
async fn malformed_json_is_a_400() {
    let app = spawn_app().await;
    let (_, token) = app.user("ada@example.com").await;
    for body in ["{", "{\"email\": }", "not json", "", "[1,2]", "\"a string\"", "null", "{\"a\":1} trailing"] {
        for path in ["/api/v1/signup", "/api/v1/signin", "/api/v1/jobs"] {
            let response = app
                .authed(Method::POST, path, &token)
                .header(CONTENT_TYPE, "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path} {body:?}");
            assert_error(response, StatusCode::BAD_REQUEST, "malformed_json").await;
        }
    }
}

#[tokio::test]
async fn bodies_over_16_kib_are_refused() {
    let app = spawn_app().await;
    let (_, token) = app.user("ada@example.com").await;
    let big = json!({"email": "ada@example.com", "password": "x".repeat(17 * 1024)});
    let response = app.post_json("/api/v1/signup", &big).await;
    assert_error(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    let big_job =
        json!({"url": "https://shop.example.com/", "target_price": "1", "price_selector": "a".repeat(17 * 1024)});
    let response = app.create_job(&token, &big_job).await;
    assert_error(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    // Just under the limit is read (and then refused for what it says, not for its size).
    let under = json!({"email": "ada@example.com", "password": "x".repeat(15 * 1024)});
    let response = app.post_json("/api/v1/signup", &under).await;
    assert_invalid_field(response, "password").await;
}

#[tokio::test]
async fn bodies_must_be_declared_json() {
    let app = spawn_app().await;
    let (_, token) = app.user("ada@example.com").await;
    let body = json!({"email": "ada@example.com", "password": PASSWORD}).to_string();
    for path in ["/api/v1/signup", "/api/v1/signin", "/api/v1/jobs"] {
        let plain = app
            .authed(Method::POST, path, &token)
            .header(CONTENT_TYPE, "text/plain")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_error(plain, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type").await;
        let missing = app.authed(Method::POST, path, &token).body(body.clone()).send().await.unwrap();
        assert_error(missing, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type").await;
    }
    // With a charset parameter it is JSON.
    let ok = app
        .request(Method::POST, "/api/v1/signup")
        .header(CONTENT_TYPE, "application/json; charset=utf-8")
        .body(json!({"email": "bob@example.com", "password": PASSWORD}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn application_stops_when_told() {
    let app = spawn_app().await;
    let addr = app.addr;
    assert_eq!(app.request(Method::GET, "/healthz").send().await.unwrap().status(), StatusCode::OK);
    app.stop().await;
    let after = reqwest::Client::new().get(format!("http://{addr}/healthz")).send().await;
    assert!(after.is_err(), "the listener is closed after shutdown");
}

#[tokio::test]
async fn every_answer_carries_a_request_id_and_a_proxys_id_is_kept() {
    let app = spawn_app().await;
    let response = app.request(Method::GET, "/healthz").send().await.unwrap();
    let made = response.headers().get("x-request-id").expect("a request id").to_str().unwrap().to_owned();
    assert_eq!(made.len(), 36, "a UUID: {made}");
    let again = app.request(Method::GET, "/api/v1/nowhere").send().await.unwrap();
    assert_ne!(again.headers()["x-request-id"].to_str().unwrap(), made, "each request has its own id");
    let proxied = app.request(Method::GET, "/healthz").header("x-request-id", "edge-4242").send().await.unwrap();
    assert_eq!(proxied.headers()["x-request-id"], "edge-4242");
    app.stop().await;
}
