//! Sessions that end, the account's own routes (`/me`), quotas and limits, the `__Host-` cookie
//! and the `Origin` check, over real HTTP. Accounts and sessions on SQLite, and again on
//! PostgreSQL (a fresh database per test; PostgreSQL must be running, the test fails if not).

#![allow(clippy::unwrap_used)]

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use pricetrack_api::ApiPorts;
use pricetrack_domain::ports::JobStore;
use pricetrack_domain::{JobKey, Money, Observation};
use pricetrack_postgres::PgUserStore;
use pricetrack_postgres::testing::TestDatabase;
use reqwest::header::{COOKIE, ORIGIN, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::Connection;

/// Which store keeps accounts and sessions in a test.
enum Accounts {
    Sqlite,
    Postgres,
}

/// An app whose accounts and sessions live in `accounts` (jobs always in SQLite); the
/// PostgreSQL database lives as long as the app.
async fn app_on(
    accounts: Accounts,
    configure: impl FnOnce(&mut pricetrack_api::ApiSettings),
) -> (TestApp, Option<TestDatabase>) {
    match accounts {
        Accounts::Sqlite => (spawn_app_with(configure).await, None),
        Accounts::Postgres => {
            let db = TestDatabase::create().await.unwrap_or_else(|e| panic!("PostgreSQL is needed: {e}"));
            let store = Arc::new(PgUserStore::new(db.pool().clone()));
            let app = spawn_app_with_ports(configure, |ports: &mut ApiPorts| {
                ports.users = store.clone();
                ports.sessions = store;
            })
            .await;
            (app, Some(db))
        }
    }
}

async fn status_of(app: &TestApp, method: Method, path: &str, token: &str) -> StatusCode {
    app.authed(method, path, token).send().await.unwrap().status()
}

async fn sign_in_again(app: &TestApp, email: &str, password: &str) -> String {
    let response = app.signin(email, password).await;
    assert_eq!(response.status(), StatusCode::OK);
    session_token(response.headers()).unwrap()
}

async fn signout_revokes_only_that_session(accounts: Accounts) {
    let (app, _db) = app_on(accounts, |_| {}).await;
    let (_, token) = app.user("ada@example.com").await;
    let other = sign_in_again(&app, "ada@example.com", PASSWORD).await;
    assert_eq!(status_of(&app, Method::GET, "/api/v1/jobs", &token).await, StatusCode::OK);

    let out = app.authed(Method::POST, "/api/v1/signout", &token).send().await.unwrap();
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    for path in ["/api/v1/jobs", "/api/v1/validate", "/api/v1/me"] {
        let response = app.authed(Method::GET, path, &token).send().await.unwrap();
        assert_error(response, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    }
    assert_eq!(
        status_of(&app, Method::GET, "/api/v1/jobs", &other).await,
        StatusCode::OK,
        "the other session lives on"
    );
}

#[tokio::test]
async fn signout_revokes_only_that_session_sqlite() {
    signout_revokes_only_that_session(Accounts::Sqlite).await;
}

#[tokio::test]
async fn signout_revokes_only_that_session_postgres() {
    signout_revokes_only_that_session(Accounts::Postgres).await;
}

async fn password_change_ends_every_other_session(accounts: Accounts) {
    let (app, _db) = app_on(accounts, |_| {}).await;
    let (_, token) = app.user("ada@example.com").await;
    let other = sign_in_again(&app, "ada@example.com", PASSWORD).await;
    let (_, bobs) = app.user("bob@example.com").await;
    const NEW: &str = "a brand new passphrase";

    let wrong = app
        .authed(Method::POST, "/api/v1/me/password", &token)
        .json(&json!({"current_password": "not it at all", "new_password": NEW}))
        .send()
        .await
        .unwrap();
    assert_error(wrong, StatusCode::FORBIDDEN, "wrong_password").await;
    let short = app
        .authed(Method::POST, "/api/v1/me/password", &token)
        .json(&json!({"current_password": PASSWORD, "new_password": "short"}))
        .send()
        .await
        .unwrap();
    assert_invalid_field(short, "new_password").await;
    assert_eq!(
        status_of(&app, Method::GET, "/api/v1/jobs", &other).await,
        StatusCode::OK,
        "failed changes end nothing"
    );

    let changed = app
        .authed(Method::POST, "/api/v1/me/password", &token)
        .json(&json!({"current_password": PASSWORD, "new_password": NEW}))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::NO_CONTENT);
    let refused = app.authed(Method::GET, "/api/v1/jobs", &other).send().await.unwrap();
    assert_error(refused, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    assert_eq!(status_of(&app, Method::GET, "/api/v1/jobs", &token).await, StatusCode::OK, "this session goes on");
    assert_eq!(status_of(&app, Method::GET, "/api/v1/jobs", &bobs).await, StatusCode::OK, "other users untouched");

    assert_error(app.signin("ada@example.com", PASSWORD).await, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    sign_in_again(&app, "ada@example.com", NEW).await;
}

#[tokio::test]
async fn password_change_ends_every_other_session_sqlite() {
    password_change_ends_every_other_session(Accounts::Sqlite).await;
}

#[tokio::test]
async fn password_change_ends_every_other_session_postgres() {
    password_change_ends_every_other_session(Accounts::Postgres).await;
}

#[tokio::test]
async fn me_shows_the_account() {
    let app = spawn_app().await;
    let (id, token) = app.user("Ada@Example.com").await;
    let response = app.authed(Method::GET, "/api/v1/me", &token).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["id"], id);
    assert_eq!(body["email"], "ada@example.com");
    assert!(body["created_at"].as_str().is_some_and(|t| t.ends_with('Z')), "{body}");
    assert_eq!(body.as_object().unwrap().len(), 3, "{body}");
    let anonymous = app.request(Method::GET, "/api/v1/me").send().await.unwrap();
    assert_error(anonymous, StatusCode::UNAUTHORIZED, "unauthenticated").await;
}

/// Rows in the SQLite file: (users, sessions, jobs, observations) of `user_id`.
async fn sqlite_rows(app: &TestApp, user_id: &str) -> (i64, i64, i64, i64) {
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", app.db_path.display())).await.unwrap();
    let mut count =
        async |sql: &str| -> i64 { sqlx::query_scalar(sql).bind(user_id).fetch_one(&mut conn).await.unwrap() };
    let users = count("SELECT count(*) FROM users WHERE id = ?1").await;
    let sessions = count("SELECT count(*) FROM sessions WHERE user_id = ?1").await;
    let jobs = count("SELECT count(*) FROM jobs WHERE user_id = ?1").await;
    let observations =
        count("SELECT count(*) FROM price_points WHERE job_id IN (SELECT id FROM jobs WHERE user_id = ?1)").await;
    (users, sessions, jobs, observations)
}

/// Rows in the SQLite file of the delivery stage: (channels, alerts, deliveries) of `user_id`.
async fn delivery_rows(app: &TestApp, user_id: &str) -> (i64, i64, i64) {
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", app.db_path.display())).await.unwrap();
    let mut count =
        async |sql: &str| -> i64 { sqlx::query_scalar(sql).bind(user_id).fetch_one(&mut conn).await.unwrap() };
    let channels = count("SELECT count(*) FROM channels WHERE user_id = ?1").await;
    let alerts = count("SELECT count(*) FROM alerts WHERE user_id = ?1").await;
    let deliveries = count(
        "SELECT count(*) FROM deliveries WHERE user_id = ?1 OR alert_id IN (SELECT id FROM alerts WHERE user_id = ?1)",
    )
    .await;
    (channels, alerts, deliveries)
}

/// Gives `user_id` `channels` channels and `alerts` alerts, each delivered to every channel
/// and to the operator's webhook, through the delivery stage's ports.
async fn deliveries_of(app: &TestApp, user_id: &str, channels: usize, alerts: usize) {
    use pricetrack_domain::delivery::{ChannelStore, DeliveryLog, OPERATOR_CHANNEL};
    use pricetrack_domain::delivery_testing::{pending_record, sample_alert, sample_channel};
    let user = user_id.parse().unwrap();
    let (store, log) = (app.db.channels(), app.db.delivery_log());
    let mut ids = vec![OPERATOR_CHANNEL.to_owned()];
    for i in 0..channels {
        let channel = sample_channel(user, &format!("channel {i}"));
        store.create(&channel).await.unwrap();
        ids.push(channel.id.to_string());
    }
    for _ in 0..alerts {
        let alert = sample_alert(user, chrono::Utc::now());
        log.record_alert(&alert).await.unwrap();
        for id in &ids {
            log.put(&pending_record(&alert, id)).await.unwrap();
        }
    }
}

/// Keeps one observation beside the job, through the job store port.
async fn observe(app: &TestApp, user_id: &str, job_id: &str) -> JobKey {
    let store = app.db.jobs();
    let key = JobKey { user_id: user_id.parse().unwrap(), job_id: job_id.parse().unwrap() };
    let job = store.get(key).await.unwrap().unwrap();
    let mut next = job.clone();
    next.version += 1;
    let price: Money = serde_json::from_value(json!({"amount": "90.00", "currency": "EUR"})).unwrap();
    let observation =
        Observation { job_id: key.job_id, observed_at: chrono::Utc::now(), price: Some(price), availability: None };
    store.record_check(&next, job.version, Some(&observation)).await.unwrap();
    assert_eq!(
        store
            .history(key, &pricetrack_domain::HistoryQuery { from: None, to: None, limit: 10, cursor: None })
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    key
}

async fn account_deletion_leaves_nothing_behind(accounts: Accounts) {
    let sqlite_accounts = matches!(accounts, Accounts::Sqlite);
    let (app, pg) = app_on(accounts, |_| {}).await;
    let (id, token) = app.user("ada@example.com").await;
    let other_session = sign_in_again(&app, "ada@example.com", PASSWORD).await;
    let (bob_id, bobs) = app.user("bob@example.com").await;
    let job = app.job(&token, "https://shop.example/a").await;
    app.job(&token, "https://shop.example/b").await;
    let key = observe(&app, &id, job["id"].as_str().unwrap()).await;
    app.job(&bobs, "https://shop.example/c").await;
    deliveries_of(&app, &id, 2, 3).await;
    deliveries_of(&app, &bob_id, 1, 1).await;
    assert_eq!(delivery_rows(&app, &id).await, (2, 3, 9));

    let wrong = app
        .authed(Method::DELETE, "/api/v1/me", &token)
        .json(&json!({"password": "not it at all"}))
        .send()
        .await
        .unwrap();
    assert_error(wrong, StatusCode::FORBIDDEN, "wrong_password").await;
    let missing = app.authed(Method::DELETE, "/api/v1/me", &token).json(&json!({})).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::BAD_REQUEST);
    assert_eq!(status_of(&app, Method::GET, "/api/v1/jobs", &token).await, StatusCode::OK);

    let deleted =
        app.authed(Method::DELETE, "/api/v1/me", &token).json(&json!({"password": PASSWORD})).send().await.unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert!(set_cookie(deleted.headers()).unwrap().contains("Max-Age=0"));

    for session in [&token, &other_session] {
        let response = app.authed(Method::GET, "/api/v1/jobs", session).send().await.unwrap();
        assert_error(response, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    }
    // Sign-in answers exactly as for an email that never had an account.
    let gone = app.signin("ada@example.com", PASSWORD).await;
    let gone = assert_error(gone, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let never =
        assert_error(app.signin("nobody@example.com", PASSWORD).await, StatusCode::UNAUTHORIZED, "invalid_credentials")
            .await;
    assert_eq!(gone, never);
    assert!(
        app.db
            .jobs()
            .history(key, &pricetrack_domain::HistoryQuery { from: None, to: None, limit: 10, cursor: None })
            .await
            .unwrap()
            .items
            .is_empty()
    );

    // Counted in rows: nothing of Ada's is left; Bob's account is whole.
    let (users, sessions, jobs, observations) = sqlite_rows(&app, &id).await;
    assert_eq!((jobs, observations), (0, 0), "jobs and observations");
    assert_eq!(delivery_rows(&app, &id).await, (0, 0, 0), "channels, alerts and deliveries");
    assert_eq!(delivery_rows(&app, &bob_id).await, (1, 1, 2), "bob's channel, alert and deliveries");
    if sqlite_accounts {
        assert_eq!((users, sessions), (0, 0), "user and sessions");
        assert_eq!(sqlite_rows(&app, &bob_id).await, (1, 1, 1, 0));
    } else {
        let pool = pg.as_ref().unwrap().pool();
        let count = async |sql: &str, user: &str| -> i64 {
            sqlx::query_scalar(sql).bind(user.parse::<sqlx::types::Uuid>().unwrap()).fetch_one(pool).await.unwrap()
        };
        assert_eq!(count("SELECT count(*) FROM users WHERE id = $1", &id).await, 0, "user");
        assert_eq!(count("SELECT count(*) FROM sessions WHERE user_id = $1", &id).await, 0, "sessions");
        assert_eq!(count("SELECT count(*) FROM users WHERE id = $1", &bob_id).await, 1, "bob");
        assert_eq!(count("SELECT count(*) FROM sessions WHERE user_id = $1", &bob_id).await, 1, "bob's session");
    }
    assert_eq!(status_of(&app, Method::GET, "/api/v1/jobs", &bobs).await, StatusCode::OK);
    // The email is free for a new account.
    assert_eq!(app.signup("ada@example.com", PASSWORD).await.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn account_deletion_leaves_nothing_behind_sqlite() {
    account_deletion_leaves_nothing_behind(Accounts::Sqlite).await;
}

#[tokio::test]
async fn account_deletion_leaves_nothing_behind_postgres() {
    account_deletion_leaves_nothing_behind(Accounts::Postgres).await;
}

#[tokio::test]
async fn jobs_beyond_the_quota_are_refused() {
    let app = spawn_app_with(|s| s.max_jobs_per_user = 2).await;
    let (_, token) = app.user("ada@example.com").await;
    let (_, bobs) = app.user("bob@example.com").await;
    let first = app.job(&token, "https://shop.example/1").await;
    app.job(&token, "https://shop.example/2").await;
    let third = app.create_job(&token, &json!({"url": "https://shop.example/3", "target_price": "9.99"})).await;
    let error = assert_error(third, StatusCode::FORBIDDEN, "job_limit_reached").await;
    assert!(error["message"].as_str().unwrap().contains('2'), "{error}");
    // Per user: Bob has room.
    app.job(&bobs, "https://shop.example/1").await;
    // Deleting one makes room again.
    let path = format!("/api/v1/jobs/{}", first["id"].as_str().unwrap());
    assert_eq!(status_of(&app, Method::DELETE, &path, &token).await, StatusCode::NO_CONTENT);
    app.job(&token, "https://shop.example/3").await;
}

#[tokio::test]
async fn signup_and_signin_are_limited_per_client_address() {
    let app = spawn_app_with(|s| {
        s.auth_burst_per_address = 3;
        s.auth_refill_per_address = Duration::from_secs(3600);
    })
    .await;
    assert_eq!(app.signup("ada@example.com", PASSWORD).await.status(), StatusCode::CREATED);
    assert_eq!(app.signin("ada@example.com", "wrong password").await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.signin("nobody@example.com", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
    let limited = app.signin("ada@example.com", PASSWORD).await;
    let retry_after: u64 = limited.headers()[RETRY_AFTER].to_str().unwrap().parse().unwrap();
    assert!(retry_after >= 1, "{retry_after}");
    assert_error(limited, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
    assert_eq!(app.signup("bob@example.com", PASSWORD).await.status(), StatusCode::TOO_MANY_REQUESTS);

    // Another address has its own allowance.
    let elsewhere = client_from(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)));
    let response = elsewhere
        .post(app.url("/api/v1/signin"))
        .json(&json!({"email": "ada@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_stranger_cannot_lock_the_owner_out() {
    let app = spawn_app().await;
    app.signup("ada@example.com", PASSWORD).await;
    let stranger = client_from(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3)));
    let guess = async || {
        stranger
            .post(app.url("/api/v1/signin"))
            .json(&json!({"email": "ada@example.com", "password": "a wrong guess"}))
            .send()
            .await
            .unwrap()
    };
    for attempt in 0..10 {
        assert_eq!(guess().await.status(), StatusCode::UNAUTHORIZED, "attempt {attempt}");
    }
    assert_error(guess().await, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
    // The owner, from their own address, signs in as usual.
    assert_eq!(app.signin("ada@example.com", PASSWORD).await.status(), StatusCode::OK);
}

/// A client whose connections come from `address` (any 127.0.0.0/8 address is loopback).
fn client_from(address: IpAddr) -> reqwest::Client {
    reqwest::Client::builder().local_address(address).timeout(Duration::from_secs(60)).build().unwrap()
}

#[tokio::test]
async fn state_changing_requests_from_a_foreign_origin_are_refused() {
    let app = spawn_app().await;
    let (_, token) = app.user("ada@example.com").await;
    let body = json!({"url": "https://shop.example/a", "target_price": "9.99"});
    let foreign = app
        .authed(Method::POST, "/api/v1/jobs", &token)
        .header(ORIGIN, "https://evil.example")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_error(foreign, StatusCode::FORBIDDEN, "foreign_origin").await;
    let null = app.authed(Method::DELETE, "/api/v1/jobs", &token).header(ORIGIN, "null").send().await.unwrap();
    assert_error(null, StatusCode::FORBIDDEN, "foreign_origin").await;
    let signout = app
        .authed(Method::POST, "/api/v1/signout", &token)
        .header(ORIGIN, "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_error(signout, StatusCode::FORBIDDEN, "foreign_origin").await;
    let listed: Value = app.authed(Method::GET, "/api/v1/jobs", &token).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed["jobs"].as_array().map(Vec::len), Some(0), "nothing was created: {listed}");

    // Reads from anywhere, and writes from the API's own origin or with no Origin, pass.
    let read =
        app.authed(Method::GET, "/api/v1/jobs", &token).header(ORIGIN, "https://evil.example").send().await.unwrap();
    assert_eq!(read.status(), StatusCode::OK);
    let own = app
        .authed(Method::POST, "/api/v1/jobs", &token)
        .header(ORIGIN, format!("http://{}", app.addr))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), StatusCode::CREATED);
    assert_eq!(app.create_job(&token, &body).await.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn secure_sessions_use_a_host_prefixed_cookie() {
    let app = spawn_app_with(|s| s.cookie_secure = true).await;
    app.signup("ada@example.com", PASSWORD).await;
    let response = app.signin("ada@example.com", PASSWORD).await;
    let cookie = set_cookie(response.headers()).unwrap();
    let attributes: Vec<&str> = cookie.split(';').map(str::trim).collect();
    let token = attributes[0].strip_prefix("__Host-Authorization=").unwrap_or_else(|| panic!("{cookie}")).to_owned();
    for expected in ["Secure", "Path=/", "HttpOnly", "SameSite=Lax"] {
        assert!(attributes.contains(&expected), "{expected} missing from {cookie}");
    }
    assert!(!cookie.contains("Domain"), "{cookie}");

    let by_host_cookie = app
        .request(Method::GET, "/api/v1/me")
        .header(COOKIE, format!("__Host-Authorization={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(by_host_cookie.status(), StatusCode::OK);
    // The unprefixed name, which a sibling subdomain could plant, is not read.
    let planted = app.authed(Method::GET, "/api/v1/me", &token).send().await.unwrap();
    assert_error(planted, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    let out = app
        .request(Method::POST, "/api/v1/signout")
        .header(COOKIE, format!("__Host-Authorization={token}"))
        .send()
        .await
        .unwrap();
    assert!(set_cookie(out.headers()).unwrap().starts_with("__Host-Authorization=;"));
}
