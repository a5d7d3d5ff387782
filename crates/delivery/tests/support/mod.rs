//! Real receivers on 127.0.0.1 for the delivery tests: an HTTP stand-in that records every
//! request and answers with a status the test sets, and aiosmtpd as an SMTP server.

#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;

/// One request a receiver got.
#[derive(Debug, Clone)]
pub struct Captured {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Captured {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).map(|v| v.to_str().unwrap().to_owned())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    pub fn text(&self) -> String {
        String::from_utf8(self.body.to_vec()).unwrap()
    }
}

#[derive(Debug, Default)]
struct Inner {
    /// Statuses to answer, one per request, then `then`.
    script: Vec<u16>,
    then: u16,
    body: String,
    delay: Option<Duration>,
    requests: Vec<Captured>,
}

/// An HTTP receiver on 127.0.0.1.
#[derive(Clone)]
pub struct Receiver {
    addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
}

impl Receiver {
    /// A receiver answering 200 with `{"ok":true}` to everything.
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner { then: 200, body: r#"{"ok":true}"#.into(), ..Inner::default() }));
        let app = axum::Router::new().fallback(record).with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { addr, inner }
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Answers `statuses` to the next requests, one each, then `then`.
    pub fn script(&self, statuses: &[u16], then: u16) {
        let mut inner = self.inner.lock().unwrap();
        inner.script = statuses.iter().rev().copied().collect();
        inner.then = then;
    }

    /// Holds every answer back this long.
    pub fn delay(&self, delay: Option<Duration>) {
        self.inner.lock().unwrap().delay = delay;
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Captured> {
        self.inner.lock().unwrap().requests.clone()
    }

    /// Waits up to `within` for at least `n` requests.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Captured> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let requests = self.requests();
            if requests.len() >= n || tokio::time::Instant::now() >= deadline {
                return requests;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn record(
    State(inner): State<Arc<Mutex<Inner>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let (status, answer, delay) = {
        let mut inner = inner.lock().unwrap();
        inner.requests.push(Captured { method, path: uri.path().to_owned(), headers, body });
        let status = inner.script.pop().unwrap_or(inner.then);
        (status, inner.body.clone(), inner.delay)
    };
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    (StatusCode::from_u16(status).unwrap(), [("content-type", "application/json")], answer)
}

/// aiosmtpd on 127.0.0.1, writing each message it receives into a maildir. Killed on drop.
pub struct SmtpServer {
    pub port: u16,
    child: std::process::Child,
    dir: tempfile::TempDir,
}

impl SmtpServer {
    /// Starts aiosmtpd from the Python that `PRICETRACK_AIOSMTPD_PYTHON` names (scripts/test.sh
    /// installs it into `.venv-smtp`). Fails, naming what is missing, when it is not there.
    pub async fn start() -> Self {
        let python = std::env::var("PRICETRACK_AIOSMTPD_PYTHON").unwrap_or_else(|_| {
            let local = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.venv-smtp/bin/python");
            assert!(
                std::path::Path::new(local).exists(),
                "aiosmtpd is missing: set PRICETRACK_AIOSMTPD_PYTHON to a Python with aiosmtpd \
                 (scripts/test.sh installs it into .venv-smtp)"
            );
            local.to_owned()
        });
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = tempfile::tempdir().unwrap();
        let child = std::process::Command::new(&python)
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "aiosmtpd.handlers.Mailbox"])
            .arg(dir.path().join("mail"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("could not start aiosmtpd with {python}: {e}"));
        let server = Self { port, child, dir };
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("aiosmtpd did not listen on 127.0.0.1:{port} within 10 s");
    }

    /// The raw messages received so far.
    pub fn messages(&self) -> Vec<String> {
        let new: PathBuf = self.dir.path().join("mail").join("new");
        let Ok(entries) = std::fs::read_dir(new) else { return Vec::new() };
        entries.filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok()).collect()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
