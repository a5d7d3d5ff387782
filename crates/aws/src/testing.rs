//! A moto_server harness for tests against the real SDK clients over real HTTP (feature
//! `testing`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), String> {
//! use pricetrack_aws::testing::MotoServer;
//!
//! let moto = MotoServer::shared()?; // one server per test binary
//! let config = moto.sdk_config().await;
//! let dynamodb = aws_sdk_dynamodb::Client::new(&config);
//! # let _ = dynamodb;
//! # Ok(())
//! # }
//! ```
//!
//! moto keeps every resource in one process: give each test uniquely named resources
//! ([`unique_name`]).

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::{Credentials, SharedCredentialsProvider};

/// Environment variable naming the `moto_server` executable to use.
pub const MOTO_SERVER_ENV: &str = "PRICETRACK_MOTO_SERVER";

/// How to install moto, said when it is missing.
pub const INSTALL_HINT: &str = "moto_server is needed by the AWS adapter tests and was not found \
    (looked at $PRICETRACK_MOTO_SERVER, <workspace>/.venv/bin/moto_server and PATH). Install it from the \
    workspace root with: python3 -m venv .venv && .venv/bin/pip install 'moto[server]' \
    (scripts/test.sh does this), or point PRICETRACK_MOTO_SERVER at a moto_server executable.";

/// Runs the server under a small shell that kills it when our end of its standard input closes:
/// on drop, and also when the test process dies or exits without dropping (a shared server lives
/// in a static, which is never dropped). `$0` is the log file, the rest the server's command line.
const WRAPPER: &str = r#"log=$0
exec 3<&0
"$@" >"$log" 2>&1 </dev/null &
pid=$!
( read -r _ignored <&3; kill "$pid" 2>/dev/null ) &
wait "$pid"
"#;

/// moto_server's own `main`, with DynamoDB requests handled one at a time.
///
/// moto's DynamoDB backend is not thread-safe: a conditional write reads the item, checks the
/// condition and writes with no lock, and a transaction snapshots and restores whole tables, so
/// two concurrent requests can both pass one condition (two winners of one claim or one
/// version). Real DynamoDB checks conditions atomically per item and isolates transactions;
/// serialising DynamoDB requests gives moto those semantics. Other services (SQS long polls
/// above all) stay concurrent.
const SERIALISED_DYNAMODB: &str = r#"import sys, threading
import moto.server
try:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication
    _lock = threading.Lock()
    _call = DomainDispatcherApplication.__call__
    def _call_serialising_dynamodb(self, environ, start_response):
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            with _lock:
                return list(_call(self, environ, start_response))
        return _call(self, environ, start_response)
    DomainDispatcherApplication.__call__ = _call_serialising_dynamodb
except (ImportError, AttributeError) as e:
    print("pricetrack: DynamoDB requests NOT serialised:", e, file=sys.stderr)
moto.server.main(sys.argv[1:])
"#;

/// A moto_server process on a free port of 127.0.0.1, stopped on drop.
#[derive(Debug)]
pub struct MotoServer {
    child: Child,
    stdin: Option<ChildStdin>,
    endpoint: String,
    log: PathBuf,
}

impl MotoServer {
    /// How long [`MotoServer::start`] waits for the server to answer.
    pub const START_TIMEOUT: Duration = Duration::from_secs(60);

    /// Finds `moto_server` (`$PRICETRACK_MOTO_SERVER`, else `<workspace>/.venv/bin/moto_server`,
    /// else `PATH`), starts it on a free port of 127.0.0.1 and waits until it answers HTTP. The
    /// error says how to install moto when it is missing.
    ///
    /// When `moto_server` is a Python script (as pip installs it), its interpreter runs moto's
    /// own `main` with DynamoDB requests handled one at a time (see `SERIALISED_DYNAMODB` in the
    /// source: moto's DynamoDB is not atomic under concurrent requests, real DynamoDB is).
    pub fn start() -> Result<Self, String> {
        let program = find_moto_server()?;
        let mut last_error = String::new();
        // A port found free can be taken before moto binds it: try a few.
        for _ in 0..3 {
            match Self::start_with(&program) {
                Ok(server) => return Ok(server),
                Err(e) => last_error = e,
            }
        }
        Err(last_error)
    }

    /// One server for the whole test binary, started on first use. Every caller gets the same
    /// server, or the same error.
    pub fn shared() -> Result<&'static MotoServer, String> {
        static SHARED: OnceLock<Result<MotoServer, String>> = OnceLock::new();
        SHARED.get_or_init(MotoServer::start).as_ref().map_err(Clone::clone)
    }

    fn start_with(program: &Path) -> Result<Self, String> {
        let port = free_port().map_err(|e| format!("no free port for moto_server: {e}"))?;
        let log = std::env::temp_dir().join(format!("pricetrack-moto-{}-{port}.log", std::process::id()));
        let port_arg = port.to_string();
        let mut command = Command::new("sh");
        command.arg("-c").arg(WRAPPER).arg(&log);
        match python_of(program) {
            Some(python) => command.arg(python).arg("-c").arg(SERIALISED_DYNAMODB),
            None => command.arg(program),
        };
        let mut child = command
            .args(["-H", "127.0.0.1", "-p", &port_arg])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("could not start {}: {e}", program.display()))?;
        let stdin = child.stdin.take();
        let server = Self { child, stdin, endpoint: format!("http://127.0.0.1:{port}"), log };
        server.wait_until_ready(port)
    }

    fn wait_until_ready(mut self, port: u16) -> Result<Self, String> {
        let started = Instant::now();
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("moto_server exited ({status}) before answering: {}", self.log_tail()));
            }
            if answers_http(address) {
                // Only a failed start needs the log; the server keeps writing to the unlinked file.
                let _ = std::fs::remove_file(&self.log);
                return Ok(self);
            }
            if started.elapsed() > Self::START_TIMEOUT {
                return Err(format!(
                    "moto_server did not answer on {address} within {:?}: {}",
                    Self::START_TIMEOUT,
                    self.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let start = text.len().saturating_sub(2000);
        text.get(start..).unwrap_or_default().to_owned()
    }

    /// The server's URL, e.g. `http://127.0.0.1:43127`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// An SDK configuration for this server: region `us-east-1`, static credentials
    /// `test`/`test`, the server's endpoint. Built explicitly, without reading the process
    /// environment, so tests with different servers can run in one process.
    pub async fn sdk_config(&self) -> SdkConfig {
        SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new("test", "test", None, None, "moto")))
            .endpoint_url(self.endpoint.clone())
            .build()
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        // Closing the pipe makes the wrapper kill moto_server and exit.
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                let _ = std::fs::remove_file(&self.log);
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// A name no other test uses, for a table, queue or topic: `<prefix>-<random>` (letters,
/// digits and `-`, valid for every one of them).
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// Subscribes a new SQS queue to `topic_arn` with `filter_policy` (for example
/// [`crate::user_filter_policy`], what a user's email subscription gets; moto delivers no email)
/// and returns the queue's URL: a test reads the alerts a subscriber would receive there.
/// Panics on any failure (test set-up).
pub async fn subscribe_inbox(config: &SdkConfig, topic_arn: &str, filter_policy: String) -> String {
    use aws_sdk_sqs::types::QueueAttributeName;
    let sqs = aws_sdk_sqs::Client::new(config);
    let url = sqs
        .create_queue()
        .queue_name(unique_name("inbox"))
        .send()
        .await
        .expect("create the inbox queue")
        .queue_url
        .expect("queue url");
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("queue attributes")
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .expect("queue arn");
    aws_sdk_sns::Client::new(config)
        .subscribe()
        .topic_arn(topic_arn)
        .protocol("sqs")
        .endpoint(arn)
        .attributes("FilterPolicy", filter_policy)
        .send()
        .await
        .expect("subscribe the inbox");
    url
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port())
}

fn answers_http(address: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = "GET /moto-api/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0_u8; 5];
    stream.read_exact(&mut head).is_ok() && &head == b"HTTP/"
}

/// The Python interpreter of a `moto_server` script, from its `#!` line (`#!/path/python3` or
/// `#!/usr/bin/env python3`); `None` if it is not a Python script.
fn python_of(program: &Path) -> Option<PathBuf> {
    let mut head = [0_u8; 512];
    let read = std::fs::File::open(program).and_then(|mut file| file.read(&mut head)).ok()?;
    let text = std::str::from_utf8(&head[..read]).ok().or_else(|| {
        // The read may have cut a character: the first line is all we need.
        let end = head[..read].iter().position(|&b| b == b'\n')?;
        std::str::from_utf8(&head[..end]).ok()
    })?;
    let line = text.lines().next()?.strip_prefix("#!")?;
    let mut words = line.split_whitespace();
    let first = words.next()?;
    let interpreter = if first.ends_with("/env") { words.next()? } else { first };
    interpreter.contains("python").then(|| PathBuf::from(interpreter))
}

fn find_moto_server() -> Result<PathBuf, String> {
    // The workspace root is two levels above this crate.
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("..");
    locate_moto_server(std::env::var_os(MOTO_SERVER_ENV), &workspace, std::env::var_os("PATH"))
}

/// `explicit` (the environment variable) if set, else `<workspace>/.venv/bin/moto_server`, else
/// the first `moto_server` on `path`.
fn locate_moto_server(
    explicit: Option<std::ffi::OsString>,
    workspace: &Path,
    path: Option<std::ffi::OsString>,
) -> Result<PathBuf, String> {
    if let Some(explicit) = explicit.filter(|p| !p.is_empty()) {
        let explicit = PathBuf::from(explicit);
        if explicit.is_file() {
            return Ok(explicit);
        }
        return Err(format!("{MOTO_SERVER_ENV}={} is not a file. {INSTALL_HINT}", explicit.display()));
    }
    let venv = workspace.join(".venv").join("bin").join("moto_server");
    if venv.is_file() {
        return Ok(venv);
    }
    path.iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("moto_server"))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| INSTALL_HINT.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_moto_server_says_how_to_install_it() {
        let nowhere = Path::new("/nonexistent-pricetrack-workspace");
        let missing = locate_moto_server(None, nowhere, Some("/nonexistent-bin".into())).expect_err("not found");
        assert!(missing.contains("python3 -m venv .venv && .venv/bin/pip install 'moto[server]'"), "{missing}");
        assert!(missing.contains("scripts/test.sh"), "{missing}");
        let wrong = locate_moto_server(Some("/nonexistent/moto_server".into()), nowhere, None).expect_err("not a file");
        assert!(wrong.contains("PRICETRACK_MOTO_SERVER=/nonexistent/moto_server") && wrong.contains("pip install"));
    }

    #[test]
    fn the_interpreter_comes_from_the_script_line() {
        let dir = std::env::temp_dir().join(unique_name("moto-shebang"));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let script = dir.join("moto_server");
        std::fs::write(&script, "#!/opt/venv/bin/python3\nimport moto\n").expect("write");
        assert_eq!(python_of(&script), Some(PathBuf::from("/opt/venv/bin/python3")));
        std::fs::write(&script, "#!/usr/bin/env python3\n").expect("write");
        assert_eq!(python_of(&script), Some(PathBuf::from("python3")));
        std::fs::write(&script, "#!/bin/sh\nexec moto\n").expect("write");
        assert_eq!(python_of(&script), None);
        std::fs::remove_dir_all(&dir).expect("clean up");
    }
}
