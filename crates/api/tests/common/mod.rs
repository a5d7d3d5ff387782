//! A real API on 127.0.0.1 (port 0) over a fresh SQLite database in a temporary directory, and
//! an HTTP client to drive it.

#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use pricetrack_api::{ApiPorts, ApiSettings, Application};
use pricetrack_domain::ports::{Notifier, NotifyError};
use pricetrack_domain::{Alert, SchedulePolicy, User};
use pricetrack_embedded::{Database, QueueSettings, SqliteCheckQueue};
use reqwest::header::{CONTENT_TYPE, COOKIE, HeaderMap, SET_COOKIE};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use secrecy::SecretString;
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The signing secret every test app uses, so tests can forge their own tokens.
pub const SECRET: &str = "test-secret-0123456789abcdef-0123456789";
/// A password that passes the rules.
pub const PASSWORD: &str = "correct horse battery";

/// A notifier that counts subscriptions and can be told to fail them.
#[derive(Default)]
pub struct RecordingNotifier {
    pub subscribed: Mutex<Vec<User>>,
    pub fail: std::sync::atomic::AtomicBool,
    pub published: AtomicUsize,
}

#[async_trait]
impl Notifier for RecordingNotifier {
    async fn publish(&self, _alert: &Alert) -> Result<(), NotifyError> {
        self.published.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    async fn subscribe(&self, user: &User) -> Result<(), NotifyError> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(NotifyError::Backend("subscription backend down".into()));
        }
        self.subscribed.lock().unwrap().push(user.clone());
        Ok(())
    }
}

/// A running API and what it runs on.
pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub db: Database,
    pub queue: Arc<SqliteCheckQueue>,
    pub notifier: Arc<RecordingNotifier>,
    /// The SQLite file, for tests that count rows.
    pub db_path: std::path::PathBuf,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
    _dir: TempDir,
}

/// The settings tests start from: plain-HTTP cookies allowed, public targets only.
pub fn test_settings() -> ApiSettings {
    let mut settings = ApiSettings::new(SecretString::from(SECRET.to_owned()));
    settings.cookie_secure = false;
    settings.schedule = SchedulePolicy::default();
    // Every test signs up and in from 127.0.0.1; the per-address limit has tests of its own.
    settings.auth_burst_per_address = 10_000;
    settings
}

/// The delivery ports over `db`: real channel store, delivery log and deliverer (no email).
pub fn delivery_ports(db: &Database, allow_private: bool) -> pricetrack_api::DeliveryPorts {
    let channels: Arc<dyn pricetrack_domain::delivery::ChannelStore> = Arc::new(db.channels());
    let log: Arc<dyn pricetrack_domain::delivery::DeliveryLog> = Arc::new(db.delivery_log());
    let deliverer = pricetrack_delivery::Deliverer::new(
        channels.clone(),
        log.clone(),
        pricetrack_delivery::ChannelSender::new(allow_private, None).unwrap(),
        None,
        pricetrack_delivery::RetryPolicy::default(),
    );
    pricetrack_api::DeliveryPorts { channels, log, probe: Arc::new(deliverer) }
}

/// Starts an API with the test settings.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts an API with the test settings, changed by `configure`.
pub async fn spawn_app_with(configure: impl FnOnce(&mut ApiSettings)) -> TestApp {
    spawn_app_with_ports(configure, |_| {}).await
}

/// Starts an API with the test settings changed by `configure`, over the SQLite ports changed
/// by `replace` (to put a failing adapter in).
pub async fn spawn_app_with_ports(
    configure: impl FnOnce(&mut ApiSettings),
    replace: impl FnOnce(&mut ApiPorts),
) -> TestApp {
    let mut settings = test_settings();
    configure(&mut settings);
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("pricetrack.db");
    let db = Database::open(&db_path).await.unwrap();
    let queue = Arc::new(db.queue(QueueSettings::default()));
    let notifier = Arc::new(RecordingNotifier::default());
    let ports = ApiPorts {
        users: Arc::new(db.users()),
        sessions: Arc::new(db.users()),
        jobs: Arc::new(db.jobs()),
        queue: queue.clone(),
        notifier: notifier.clone(),
        delivery: Some(delivery_ports(&db, settings.allow_private_targets)),
        previewer: None,
    };
    let mut ports = ports;
    replace(&mut ports);
    let app = Application::build("127.0.0.1:0".parse().unwrap(), settings, ports).await.unwrap();
    let addr = app.local_addr();
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async move {
        let _ = rx.await;
    }));
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    TestApp { addr, client, db, queue, notifier, db_path, shutdown: Some(tx), server: Some(server), _dir: dir }
}

impl TestApp {
    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// A request without credentials.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path))
    }

    /// A request carrying `token` in the session cookie.
    pub fn authed(&self, method: Method, path: &str, token: &str) -> RequestBuilder {
        self.request(method, path).header(COOKIE, format!("Authorization={token}"))
    }

    /// POSTs a JSON body.
    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.request(Method::POST, path).json(body).send().await.unwrap()
    }

    /// Signs up; returns the response.
    pub async fn signup(&self, email: &str, password: &str) -> Response {
        self.post_json("/api/v1/signup", &json!({"email": email, "password": password})).await
    }

    /// Signs in; returns the response.
    pub async fn signin(&self, email: &str, password: &str) -> Response {
        self.post_json("/api/v1/signin", &json!({"email": email, "password": password})).await
    }

    /// Signs up and in as `email`; returns (user id, session token).
    pub async fn user(&self, email: &str) -> (String, String) {
        let response = self.signup(email, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let id = response.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
        let response = self.signin(email, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::OK);
        let token = session_token(response.headers()).expect("session cookie");
        (id, token)
    }

    /// Creates a job; returns the response.
    pub async fn create_job(&self, token: &str, body: &Value) -> Response {
        self.authed(Method::POST, "/api/v1/jobs", token).json(body).send().await.unwrap()
    }

    /// Creates a valid job; returns its JSON.
    pub async fn job(&self, token: &str, url: &str) -> Value {
        let response = self.create_job(token, &json!({"url": url, "target_price": "79.99"})).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.unwrap()
    }

    /// Stops the server and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The `Set-Cookie` header of a response, if one.
pub fn set_cookie(headers: &HeaderMap) -> Option<String> {
    headers.get(SET_COOKIE).map(|v| v.to_str().unwrap().to_owned())
}

/// The session token a `Set-Cookie` header carries.
pub fn session_token(headers: &HeaderMap) -> Option<String> {
    let cookie = set_cookie(headers)?;
    let first = cookie.split(';').next()?;
    let token = first.strip_prefix("Authorization=")?;
    (!token.is_empty()).then(|| token.to_owned())
}

/// Asserts a response is an error in the one shape, with `status` and `code`; returns the
/// `error` object.
pub async fn assert_error(response: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(response.status(), status, "status");
    let content_type = response.headers().get(CONTENT_TYPE).map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(content_type.as_deref(), Some("application/json"), "content type");
    let body: Value = response.json().await.unwrap();
    let error = body.get("error").cloned().unwrap_or_else(|| panic!("no error object in {body}"));
    assert_eq!(body.as_object().map(|o| o.len()), Some(1), "only `error` at the top: {body}");
    assert_eq!(error["code"], code, "{body}");
    assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    error
}

/// Asserts a 400 `invalid_field` naming `field`.
pub async fn assert_invalid_field(response: Response, field: &str) -> Value {
    let error = assert_error(response, StatusCode::BAD_REQUEST, "invalid_field").await;
    assert_eq!(error["field"], field, "{error}");
    error
}

/// Base64url without padding, for hand-made tokens.
pub fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// A JWT signed with HS256 and `secret`, with these claims.
pub fn forge_token(secret: &str, claims: &Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

/// Seconds since the epoch.
pub fn epoch_now() -> i64 {
    chrono::Utc::now().timestamp()
}
