//! Fixtures shared by the service tests: the three programs as child processes (killed on drop,
//! their logs shown when a test fails), AWS resources on moto_server, a product page on
//! 127.0.0.1, and polling helpers.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use pricetrack_aws::aws_sdk_sqs::types::QueueAttributeName;
use pricetrack_aws::bootstrap::{ResourceNames, Resources, bootstrap};
use pricetrack_aws::testing::{MotoServer, unique_name};
use pricetrack_aws::{aws_config::SdkConfig, aws_sdk_sqs};

/// A signing secret for the tests (64 hex characters).
pub const JWT_SECRET: &str = "5b1f0c8e2a4d6f8091a3c5e7092b4d6f8a1c3e5f7092b4d6e8f0a2c4e6f8091b";

/// This binary's moto_server; panics with the way to install it when it is missing.
pub fn moto() -> &'static MotoServer {
    match MotoServer::shared() {
        Ok(moto) => moto,
        Err(e) => panic!("{e}"),
    }
}

/// Fresh resources named after a unique prefix, on this binary's moto_server.
pub async fn fresh_resources(prefix: &str) -> (SdkConfig, Resources) {
    let config = moto().sdk_config().await;
    let names = ResourceNames::with_prefix(&unique_name(prefix));
    let resources = bootstrap(&config, &names).await.expect("bootstrap fresh resources");
    (config, resources)
}

/// Sets the check queue's visibility timeout (so that a killed worker's message comes back fast).
pub async fn set_visibility_timeout(config: &SdkConfig, queue_url: &str, secs: u32) {
    aws_sdk_sqs::Client::new(config)
        .set_queue_attributes()
        .queue_url(queue_url)
        .attributes(QueueAttributeName::VisibilityTimeout, secs.to_string())
        .send()
        .await
        .expect("set the visibility timeout");
}

/// The environment every program gets: moto's endpoint through the SDK's standard variables,
/// static test credentials, and the resources. Nothing else leaks in from the test's own
/// environment (the children start from an empty one, plus `PATH`).
pub fn aws_env(resources: &Resources) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for (k, v) in [
        ("AWS_ENDPOINT_URL", moto().endpoint()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("PRICETRACK_TABLE", &resources.table),
        ("PRICETRACK_QUEUE_URL", &resources.queue_url),
        ("PRICETRACK_TOPIC_ARN", &resources.topic_arn),
        ("PRICETRACK_DELIVERY_QUEUE_URL", &resources.delivery_queue_url),
    ] {
        env.insert(k.to_owned(), v.to_owned());
    }
    // `PRICETRACK_TEST_RUST_LOG=debug` (with `PRICETRACK_TEST_LOGS=1`) to see more of the programs.
    env.insert("RUST_LOG".to_owned(), std::env::var("PRICETRACK_TEST_RUST_LOG").unwrap_or_else(|_| "info".to_owned()));
    env
}

/// [`aws_env`] plus what every program of a sign-up-to-alert test needs: the database at
/// `database_url`, the test signing secret, checks allowed to reach 127.0.0.1 (the shop), cookies
/// over plain http, and a 1 s minimum interval; then `extra`, which may override any of them.
pub fn programs_env(resources: &Resources, database_url: &str, extra: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut env = aws_env(resources);
    let common = [
        ("DATABASE_URL", database_url),
        ("PRICETRACK_JWT_SECRET", JWT_SECRET),
        ("PRICETRACK_ALLOW_PRIVATE_TARGETS", "true"),
        ("PRICETRACK_COOKIE_SECURE", "false"),
        ("PRICETRACK_MIN_CHECK_INTERVAL_SECS", "1"),
    ];
    for (k, v) in common.iter().chain(extra) {
        env.insert((*k).to_owned(), (*v).to_owned());
    }
    env
}

/// Runs a program to its end with exactly `env` (plus `PATH`).
pub fn run_to_end(program: &str, args: &[&str], env: &BTreeMap<String, String>) -> std::process::Output {
    command(program, args, env).output().expect("run the program")
}

fn command(program: &str, args: &[&str], env: &BTreeMap<String, String>) -> Command {
    let mut command = Command::new(program);
    command.args(args).env_clear().envs(env);
    if let Some(path) = std::env::var_os("PATH") {
        command.env("PATH", path);
    }
    command
}

/// A program running as a child process. Killed (SIGKILL) on drop; when the test is failing (or
/// `PRICETRACK_TEST_LOGS` is set), the tail of its log goes to the test's output.
pub struct Service {
    pub name: String,
    child: Child,
    log: PathBuf,
}

impl Service {
    /// Starts `program` with `args` and exactly `env` (plus `PATH`); its stdout and stderr go to
    /// a log file.
    pub fn start(name: &str, program: &str, args: &[&str], env: &BTreeMap<String, String>) -> Self {
        let log = std::env::temp_dir().join(format!("{}.log", unique_name(&format!("pricetrack-{name}"))));
        let file = std::fs::File::create(&log).expect("create the log file");
        let child = command(program, args, env)
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("clone the log file"))
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        Self { name: name.to_owned(), child, log }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Panics (with the log) if the process has exited.
    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("{} exited early ({status}):\n{}", self.name, self.log());
        }
    }

    /// Sends `signal` (`TERM`, `KILL`) with kill(1).
    pub fn signal(&self, signal: &str) {
        let sent =
            Command::new("kill").args([&format!("-{signal}"), &self.pid().to_string()]).status().expect("run kill");
        assert!(sent.success(), "could not send SIG{signal} to {}", self.name);
    }

    /// Waits for the process to exit, at most `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "{} did not exit within {timeout:?}:\n{}", self.name, self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM, then the exit status within `timeout`.
    pub fn terminate(&mut self, timeout: Duration) -> ExitStatus {
        self.signal("TERM");
        self.wait_exit(timeout)
    }
}

impl Drop for Service {
    #[allow(clippy::print_stderr, reason = "a failing test's diagnostics")]
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() || std::env::var_os("PRICETRACK_TEST_LOGS").is_some() {
            let log = self.log();
            let start = log.len().saturating_sub(6000);
            eprintln!("---- {} log (tail) ----\n{}", self.name, log.get(start..).unwrap_or(&log));
        }
        let _ = std::fs::remove_file(&self.log);
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// Polls `probe` every 200 ms until it gives a value; panics after `timeout`.
pub async fn wait_for<T>(what: &str, timeout: Duration, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A product page whose price can change, and which can be made slow: while `slow` is on, a
/// request waits (up to a minute) until it is turned off. Counts requests, and requests in
/// flight.
#[derive(Clone, Default)]
pub struct Shop {
    pub price: Arc<Mutex<String>>,
    pub slow: Arc<AtomicBool>,
    pub in_flight: Arc<AtomicUsize>,
    pub requests: Arc<AtomicUsize>,
}

struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn product_page(State(shop): State<Shop>) -> axum::response::Html<String> {
    shop.requests.fetch_add(1, Ordering::SeqCst);
    shop.in_flight.fetch_add(1, Ordering::SeqCst);
    // Decrements when the response is sent, or when the client goes away mid-request.
    let _in_flight = InFlight(Arc::clone(&shop.in_flight));
    let deadline = Instant::now() + Duration::from_secs(60);
    while shop.slow.load(Ordering::SeqCst) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let price = shop.price.lock().expect("price lock").clone();
    axum::response::Html(format!(
        r#"<!doctype html><html><head><title>Widget</title>
<script type="application/ld+json">{{"@context":"https://schema.org","@type":"Product","name":"Widget",
"offers":{{"@type":"Offer","price":"{price}","priceCurrency":"EUR","availability":"https://schema.org/InStock"}}}}</script>
</head><body><h1>Widget</h1><p class="price">{price} €</p></body></html>"#
    ))
}

impl Shop {
    /// Serves the page at `http://127.0.0.1:<port>/widget`; returns its URL.
    pub async fn serve(&self, price: &str) -> String {
        self.set_price(price);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let addr: SocketAddr = listener.local_addr().expect("local addr");
        let router = Router::new().route("/widget", get(product_page)).with_state(self.clone());
        tokio::spawn(async move { axum::serve(listener, router).await.expect("shop server") });
        format!("http://{addr}/widget")
    }

    pub fn set_price(&self, price: &str) {
        *self.price.lock().expect("price lock") = price.to_owned();
    }

    pub fn set_slow(&self, slow: bool) {
        self.slow.store(slow, Ordering::SeqCst);
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }
}

/// Receives (and deletes) every message now in `queue_url`, waiting up to `wait` for the first.
pub async fn take_messages(config: &SdkConfig, queue_url: &str, wait: Duration) -> Vec<String> {
    let sqs = aws_sdk_sqs::Client::new(config);
    let mut bodies = Vec::new();
    let mut wait_secs = i32::try_from(wait.as_secs()).unwrap_or(20).min(20);
    loop {
        let out = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(wait_secs)
            .send()
            .await
            .expect("receive");
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            return bodies;
        }
        for message in messages {
            if let Some(receipt) = message.receipt_handle() {
                sqs.delete_message().queue_url(queue_url).receipt_handle(receipt).send().await.expect("delete");
            }
            bodies.extend(message.body);
        }
        wait_secs = 0;
    }
}
