//! What the API logs: one line per request with method, matched path, status and latency; an
//! internal error's source exactly once; never an email, password, token or cookie.
//!
//! Its own test binary with a single test: the subscriber is set for this thread, and the
//! server runs on this thread (current-thread runtime), so every request's events land here.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::*;
use reqwest::header::AUTHORIZATION;
use reqwest::{Method, StatusCode};
use serde_json::json;
use tracing_subscriber::fmt::MakeWriter;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Capture {
    type Writer = Capture;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Capture {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test]
async fn logs_carry_requests_and_errors_but_no_secrets() {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(capture.clone())
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let email = "secret.person@example.com";
    let password = "hunter2-is-my-password";
    let app = spawn_app().await;
    assert_eq!(app.signup(email, password).await.status(), StatusCode::CREATED);
    let signin = app.signin(email, password).await;
    let token = session_token(signin.headers()).unwrap();
    assert_eq!(app.signin(email, "wrong-password-typed").await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.authed(Method::GET, "/api/v1/validate", &token).send().await.unwrap().status(), StatusCode::OK);
    let job = app.job(&token, "https://shop.example.com/p/1?ref=secret-query").await;
    let path = format!("/api/v1/jobs/{}", job["id"].as_str().unwrap());
    let read = app.request(Method::GET, &path).header(AUTHORIZATION, format!("Bearer {token}")).send().await.unwrap();
    assert_eq!(read.status(), StatusCode::OK);
    let bad = app.post_json("/api/v1/signup", &json!({"email": email, "password": password, "extra": 1})).await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);

    app.db.close().await;
    let failed = app.signup("another.secret@example.com", password).await;
    assert_eq!(failed.status(), StatusCode::SERVICE_UNAVAILABLE);
    app.stop().await;

    let logs = capture.text();
    for secret in [
        "secret.person",
        "another.secret",
        "example.com",
        password,
        "wrong-password-typed",
        token.as_str(),
        &token[..20],
        "Authorization=",
        "Bearer",
        "secret-query",
    ] {
        assert!(!logs.contains(secret), "logs contain {secret:?}:\n{logs}");
    }

    let finished: Vec<&str> = logs.lines().filter(|l| l.contains("request finished")).collect();
    assert!(
        finished.iter().any(|l| l.contains("method=POST")
            && l.contains("path=/api/v1/signup")
            && l.contains("status=201")
            && l.contains("latency_ms=")
            && l.contains("request_id=")),
        "no request line for the sign-up:\n{logs}"
    );
    assert!(
        finished.iter().any(|l| l.contains("path=/api/v1/jobs/{id}") && l.contains("status=200")),
        "requests are logged by matched path, not by id:\n{logs}"
    );
    assert!(
        logs.lines().any(|l| l.contains("request rejected") && l.contains("unknown_field") && l.contains("status=400")),
        "client errors are logged with their code:\n{logs}"
    );

    let failures: Vec<&str> = logs.lines().filter(|l| l.contains("request failed")).collect();
    assert_eq!(failures.len(), 1, "the server-side failure is logged once:\n{logs}");
    assert!(failures[0].contains("status=503") && failures[0].contains("unavailable"), "{}", failures[0]);
    assert!(failures[0].contains("backend failed"), "the source is in the log: {}", failures[0]);
}
