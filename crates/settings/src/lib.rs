//! Environment parsing shared by every pricetrack binary.
//!
//! Each binary reads its settings once, at start-up, through an [`Env`]: a reader over a lookup
//! function (the process environment, or a map in tests) with typed getters. A bad or missing
//! value is a [`ConfigError`] that names the variable and says what it accepts, and never echoes
//! a secret's value.
//!
//! ```
//! use pricetrack_settings::Env;
//!
//! let env = Env::new(|name| (name == "PRICETRACK_WORKERS").then(|| "8".to_owned()));
//! assert_eq!(env.workers().unwrap(), 8);
//! assert!(!env.allow_private_targets().unwrap());
//! let err = env.required("PRICETRACK_TABLE").unwrap_err();
//! assert_eq!(err.to_string(), "PRICETRACK_TABLE: is required");
//! ```
//!
//! The crate does no I/O of its own: [`Env::process`] is the only place that reads the process
//! environment, and nothing else is touched.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use pricetrack_domain::SchedulePolicy;
use secrecy::{ExposeSecret, SecretString};

/// A setting that could not be read: names the variable and says what it accepts; never echoes
/// a secret's value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name}: {problem}")]
pub struct ConfigError {
    /// The environment variable.
    pub name: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

impl ConfigError {
    /// An error about `name`.
    pub fn new(name: &'static str, problem: impl Into<String>) -> Self {
        Self { name, problem: problem.into() }
    }
}

/// Shortest JWT signing secret accepted, in bytes.
pub const MIN_JWT_SECRET_BYTES: usize = 32;
/// Most concurrent checks one process runs.
pub const MAX_WORKERS: usize = 256;

/// The variable names, in one place so that binaries, tests and documentation agree.
pub mod vars {
    /// Address of the HTTP API.
    pub const LISTEN: &str = "PRICETRACK_LISTEN";
    /// The HS256 session signing key (at least 32 bytes).
    pub const JWT_SECRET: &str = "PRICETRACK_JWT_SECRET";
    /// Lets checks reach loopback, private and link-local addresses.
    pub const ALLOW_PRIVATE_TARGETS: &str = "PRICETRACK_ALLOW_PRIVATE_TARGETS";
    /// Floor for a job's check interval, in seconds.
    pub const MIN_CHECK_INTERVAL_SECS: &str = "PRICETRACK_MIN_CHECK_INTERVAL_SECS";
    /// Interval of a job created without one, in seconds.
    pub const DEFAULT_CHECK_INTERVAL_SECS: &str = "PRICETRACK_DEFAULT_CHECK_INTERVAL_SECS";
    /// How long a claimed job stays off the due list, in seconds.
    pub const LEASE_SECS: &str = "PRICETRACK_LEASE_SECS";
    /// Concurrent checks.
    pub const WORKERS: &str = "PRICETRACK_WORKERS";
    /// The User-Agent of checks.
    pub const USER_AGENT: &str = "PRICETRACK_USER_AGENT";
    /// Whether the session cookie is marked `Secure`.
    pub const COOKIE_SECURE: &str = "PRICETRACK_COOKIE_SECURE";
    /// `text` or `json` logs.
    pub const LOG_FORMAT: &str = "PRICETRACK_LOG_FORMAT";
    /// Most requests in flight to one shop host.
    pub const HOST_CONCURRENCY: &str = "PRICETRACK_HOST_CONCURRENCY";
    /// Least time between two requests to one shop host.
    pub const HOST_MIN_DELAY: &str = "PRICETRACK_HOST_MIN_DELAY";
    /// The Chromium executable.
    pub const BROWSER_PATH: &str = "PRICETRACK_BROWSER_PATH";
    /// Tabs of the browser pool; 0 turns the browser off.
    pub const BROWSER_TABS: &str = "PRICETRACK_BROWSER_TABS";
    /// Hosts whose pages always go to the browser, comma-separated.
    pub const BROWSER_HOSTS: &str = "PRICETRACK_BROWSER_HOSTS";
    /// The DevTools endpoint of a Chromium that runs elsewhere (a sidecar container); unset, the
    /// process launches its own.
    pub const BROWSER_URL: &str = "PRICETRACK_BROWSER_URL";
}

/// Default of [`vars::HOST_CONCURRENCY`].
pub const DEFAULT_HOST_CONCURRENCY: usize = 2;
/// Default of [`vars::HOST_MIN_DELAY`].
pub const DEFAULT_HOST_MIN_DELAY: Duration = Duration::from_secs(1);
/// Default of [`vars::BROWSER_PATH`]: where Debian's `chromium` package puts it.
pub const DEFAULT_BROWSER_PATH: &str = "/usr/bin/chromium";
/// Default of [`vars::BROWSER_TABS`].
pub const DEFAULT_BROWSER_TABS: usize = 3;

/// How checks fetch pages, beyond the address guard and the User-Agent: per-host politeness and
/// the headless browser. Read by [`Env::scrape_settings`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScrapeSettings {
    /// `PRICETRACK_HOST_CONCURRENCY`: most requests in flight to one host (1 to 64, default 2).
    pub host_concurrency: usize,
    /// `PRICETRACK_HOST_MIN_DELAY`: least time between the starts of two requests to one host
    /// (a duration such as `1s` or `500ms`; default 1 s).
    pub host_min_delay: Duration,
    /// `PRICETRACK_BROWSER_PATH`: the Chromium executable (default `/usr/bin/chromium`).
    pub browser_path: std::path::PathBuf,
    /// `PRICETRACK_BROWSER_TABS`: pages rendered at once (0 to 32, default 3); 0 turns the
    /// browser off.
    pub browser_tabs: usize,
    /// `PRICETRACK_BROWSER_HOSTS`: hosts (and their subdomains) whose pages always go to the
    /// browser, comma-separated; empty by default.
    pub browser_hosts: Vec<String>,
    /// `PRICETRACK_BROWSER_URL`: the DevTools (CDP) endpoint of a Chromium running on its own,
    /// such as `http://127.0.0.1:9222` for the browser sidecar of the scraper pod, which holds
    /// no AWS credentials. Unset (the default), the process launches Chromium itself from
    /// `PRICETRACK_BROWSER_PATH`.
    pub browser_url: Option<String>,
}

/// Default of [`vars::MIN_CHECK_INTERVAL_SECS`].
pub const DEFAULT_MIN_CHECK_INTERVAL_SECS: u64 = 60;
/// Default of [`vars::DEFAULT_CHECK_INTERVAL_SECS`].
pub const DEFAULT_DEFAULT_CHECK_INTERVAL_SECS: u64 = 3600;
/// Default of [`vars::LEASE_SECS`].
pub const DEFAULT_LEASE_SECS: u64 = 300;
/// Default of [`vars::WORKERS`].
pub const DEFAULT_WORKERS: usize = 5;

/// How logs are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (the default).
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// A reader of settings over a lookup function: `Fn(&str) -> Option<String>`.
///
/// Values are trimmed and an empty value counts as unset, except for secrets, which are taken
/// exactly as given.
pub struct Env<F = fn(&str) -> Option<String>> {
    lookup: F,
}

impl<F> fmt::Debug for Env<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Env").finish_non_exhaustive()
    }
}

fn process_lookup(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

impl Env {
    /// The process environment (a variable that is not valid Unicode counts as unset).
    pub fn process() -> Self {
        Self { lookup: process_lookup }
    }
}

impl<F: Fn(&str) -> Option<String>> Env<F> {
    /// Settings read through `lookup`.
    pub fn new(lookup: F) -> Self {
        Self { lookup }
    }

    /// The value exactly as set (not trimmed; empty counts as set). For secrets.
    pub fn raw(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
    }

    /// The trimmed value; `None` when unset or blank.
    pub fn string(&self, name: &str) -> Option<String> {
        (self.lookup)(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
    }

    /// The trimmed value; an error when unset or blank.
    pub fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.string(name).ok_or_else(|| ConfigError::new(name, "is required"))
    }

    /// The value parsed as `T`, or `None` when unset; `expected` completes "must be …" when it
    /// does not parse (the value itself is not repeated).
    pub fn parse<T: FromStr>(&self, name: &'static str, expected: &str) -> Result<Option<T>, ConfigError> {
        match self.string(name) {
            None => Ok(None),
            Some(raw) => raw.parse().map(Some).map_err(|_| ConfigError::new(name, format!("must be {expected}"))),
        }
    }

    /// The value parsed as `T`, or `default` when unset.
    pub fn parse_or<T: FromStr>(&self, name: &'static str, default: T, expected: &str) -> Result<T, ConfigError> {
        Ok(self.parse(name, expected)?.unwrap_or(default))
    }

    /// The value parsed as `T`; an error when unset.
    pub fn parse_required<T: FromStr>(&self, name: &'static str, expected: &str) -> Result<T, ConfigError> {
        self.parse(name, expected)?.ok_or_else(|| ConfigError::new(name, format!("is required ({expected})")))
    }

    /// A whole number in `range`, or `default` when unset.
    pub fn number_in<T>(
        &self,
        name: &'static str,
        default: T,
        range: std::ops::RangeInclusive<T>,
    ) -> Result<T, ConfigError>
    where
        T: FromStr + PartialOrd + fmt::Display + Copy,
    {
        let expected = format!("a whole number from {} to {}", range.start(), range.end());
        let value = self.parse_or(name, default, &expected)?;
        if range.contains(&value) { Ok(value) } else { Err(ConfigError::new(name, format!("must be {expected}"))) }
    }

    /// A number of seconds of at least `min`, or `default` seconds when unset.
    pub fn secs_at_least(&self, name: &'static str, default: u64, min: u64) -> Result<Duration, ConfigError> {
        let secs = self.parse_or(name, default, "a whole number of seconds")?;
        if secs < min {
            return Err(ConfigError::new(name, format!("must be at least {min}")));
        }
        Ok(Duration::from_secs(secs))
    }

    /// A duration such as `30s`, `5m` or `1h 30m` (humantime), or `default` when unset.
    pub fn duration_or(&self, name: &'static str, default: Duration) -> Result<Duration, ConfigError> {
        match self.string(name) {
            None => Ok(default),
            Some(raw) => parse_duration(&raw).map_err(|problem| ConfigError::new(name, problem)),
        }
    }

    /// `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off` (any case), or `default` when unset.
    pub fn bool_or(&self, name: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.string(name).map(|v| v.to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) if matches!(v.as_str(), "1" | "true" | "yes" | "on") => Ok(true),
            Some(v) if matches!(v.as_str(), "0" | "false" | "no" | "off") => Ok(false),
            Some(_) => Err(ConfigError::new(name, "must be true or false")),
        }
    }

    /// A socket address such as `127.0.0.1:9090`, or `default` when unset.
    pub fn socket_addr_or(&self, name: &'static str, default: SocketAddr) -> Result<SocketAddr, ConfigError> {
        self.parse_or(name, default, "an address such as 127.0.0.1:9090")
    }

    /// A secret, exactly as set (no trimming); `None` when unset.
    pub fn secret(&self, name: &str) -> Option<SecretString> {
        self.raw(name).map(SecretString::from)
    }

    /// A secret that must be set and not blank. The error never shows the value.
    pub fn required_secret(&self, name: &'static str) -> Result<SecretString, ConfigError> {
        match self.raw(name) {
            Some(value) if !value.trim().is_empty() => Ok(SecretString::from(value)),
            _ => Err(ConfigError::new(name, "is required")),
        }
    }

    /// `PRICETRACK_JWT_SECRET` if set, checked to be at least [`MIN_JWT_SECRET_BYTES`] long.
    pub fn jwt_secret(&self) -> Result<Option<SecretString>, ConfigError> {
        self.secret(vars::JWT_SECRET).map(validate_jwt_secret).transpose()
    }

    /// `PRICETRACK_JWT_SECRET`, which must be set and at least [`MIN_JWT_SECRET_BYTES`] long.
    pub fn required_jwt_secret(&self) -> Result<SecretString, ConfigError> {
        self.jwt_secret()?.ok_or_else(|| {
            ConfigError::new(
                vars::JWT_SECRET,
                format!(
                    "is required: a random key of at least {MIN_JWT_SECRET_BYTES} bytes (e.g. `openssl rand -hex 32`)"
                ),
            )
        })
    }

    /// `PRICETRACK_MIN_CHECK_INTERVAL_SECS` (default 60, at least 1) and
    /// `PRICETRACK_DEFAULT_CHECK_INTERVAL_SECS` (default 3600, at least the minimum); the other
    /// fields keep [`SchedulePolicy::default`] (see [`Env::lease`] for the lease).
    pub fn schedule_policy(&self) -> Result<SchedulePolicy, ConfigError> {
        let min = self.secs_at_least(vars::MIN_CHECK_INTERVAL_SECS, DEFAULT_MIN_CHECK_INTERVAL_SECS, 1)?;
        let default = self.secs_at_least(vars::DEFAULT_CHECK_INTERVAL_SECS, DEFAULT_DEFAULT_CHECK_INTERVAL_SECS, 0)?;
        if default < min {
            return Err(ConfigError::new(
                vars::DEFAULT_CHECK_INTERVAL_SECS,
                format!("must be at least {} ({})", vars::MIN_CHECK_INTERVAL_SECS, min.as_secs()),
            ));
        }
        Ok(SchedulePolicy { min_interval: min, default_interval: default, ..SchedulePolicy::default() })
    }

    /// `PRICETRACK_LEASE_SECS`: how long a claimed job stays off the due list (default 300, at
    /// least 1). Must outlast the slowest check plus the queue's visibility timeout.
    pub fn lease(&self) -> Result<Duration, ConfigError> {
        self.secs_at_least(vars::LEASE_SECS, DEFAULT_LEASE_SECS, 1)
    }

    /// `PRICETRACK_HISTORY_RETENTION_DAYS`: how long price history is kept (default 730, 1 to
    /// 36500).
    pub fn history_retention_days(&self) -> Result<u32, ConfigError> {
        self.number_in("PRICETRACK_HISTORY_RETENTION_DAYS", 730, 1..=36_500)
    }

    /// `PRICETRACK_ALLOW_PRIVATE_TARGETS` (default false).
    pub fn allow_private_targets(&self) -> Result<bool, ConfigError> {
        self.bool_or(vars::ALLOW_PRIVATE_TARGETS, false)
    }

    /// `PRICETRACK_USER_AGENT`, if set.
    pub fn user_agent(&self) -> Option<String> {
        self.string(vars::USER_AGENT)
    }

    /// `PRICETRACK_WORKERS`: 1 to [`MAX_WORKERS`], default [`DEFAULT_WORKERS`].
    pub fn workers(&self) -> Result<usize, ConfigError> {
        self.number_in(vars::WORKERS, DEFAULT_WORKERS, 1..=MAX_WORKERS)
    }

    /// `PRICETRACK_COOKIE_SECURE`, or `default` when unset.
    pub fn cookie_secure(&self, default: bool) -> Result<bool, ConfigError> {
        self.bool_or(vars::COOKIE_SECURE, default)
    }

    /// `PRICETRACK_MAX_JOBS_PER_USER`: most jobs one user may have (1 to 1,000,000, default
    /// 500).
    pub fn max_jobs_per_user(&self) -> Result<u32, ConfigError> {
        self.number_in("PRICETRACK_MAX_JOBS_PER_USER", 500, 1..=1_000_000)
    }

    /// `PRICETRACK_AUTH_BURST_PER_ADDRESS`: sign-ups and sign-ins one client address may make in
    /// a burst before it is slowed to one every 3 s (default 20).
    pub fn auth_burst_per_address(&self) -> Result<u32, ConfigError> {
        self.number_in("PRICETRACK_AUTH_BURST_PER_ADDRESS", 20, 1..=1_000_000)
    }

    /// `PRICETRACK_LISTEN`, or `default` when unset.
    pub fn listen(&self, default: SocketAddr) -> Result<SocketAddr, ConfigError> {
        self.socket_addr_or(vars::LISTEN, default)
    }

    /// The politeness and browser settings (see [`ScrapeSettings`] for each variable).
    pub fn scrape_settings(&self) -> Result<ScrapeSettings, ConfigError> {
        let host_min_delay = self.duration_or(vars::HOST_MIN_DELAY, DEFAULT_HOST_MIN_DELAY)?;
        if host_min_delay > Duration::from_secs(3600) {
            return Err(ConfigError::new(vars::HOST_MIN_DELAY, "must be at most 1h"));
        }
        let browser_hosts = self
            .string(vars::BROWSER_HOSTS)
            .map(|list| {
                list.split(',')
                    .map(|host| host.trim().trim_start_matches('.').to_ascii_lowercase())
                    .filter(|host| !host.is_empty())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        if let Some(bad) = browser_hosts.iter().find(|host| host.contains(['/', ':', ' '])) {
            return Err(ConfigError::new(
                vars::BROWSER_HOSTS,
                format!("must be host names separated by commas (not `{bad}`)"),
            ));
        }
        let browser_url = self.string(vars::BROWSER_URL).filter(|url| !url.trim().is_empty());
        if let Some(url) = &browser_url
            && !["http://", "https://", "ws://", "wss://"].iter().any(|scheme| url.starts_with(scheme))
        {
            return Err(ConfigError::new(
                vars::BROWSER_URL,
                "must be a DevTools endpoint such as http://127.0.0.1:9222 (or a ws:// URL)",
            ));
        }
        Ok(ScrapeSettings {
            host_concurrency: self.number_in(vars::HOST_CONCURRENCY, DEFAULT_HOST_CONCURRENCY, 1..=64)?,
            host_min_delay,
            browser_path: self.string(vars::BROWSER_PATH).unwrap_or_else(|| DEFAULT_BROWSER_PATH.to_owned()).into(),
            browser_tabs: self.number_in(vars::BROWSER_TABS, DEFAULT_BROWSER_TABS, 0..=32)?,
            browser_hosts,
            browser_url,
        })
    }

    /// How far apart the rescheduler sends one shop host's due checks: the scrapers' per-host
    /// spacing over their per-host concurrency (`PRICETRACK_HOST_MIN_DELAY` /
    /// `PRICETRACK_HOST_CONCURRENCY`), the pace at which the fleet may check one host anyway.
    pub fn host_spread(&self) -> Result<Duration, ConfigError> {
        let concurrency: u32 =
            self.number_in(vars::HOST_CONCURRENCY, u32::try_from(DEFAULT_HOST_CONCURRENCY).unwrap_or(2), 1..=64)?;
        let min_delay = self.duration_or(vars::HOST_MIN_DELAY, DEFAULT_HOST_MIN_DELAY)?;
        if min_delay > Duration::from_secs(3600) {
            return Err(ConfigError::new(vars::HOST_MIN_DELAY, "must be at most 1h"));
        }
        Ok(min_delay / concurrency)
    }

    /// `PRICETRACK_LOG_FORMAT`: `text` (default) or `json`.
    pub fn log_format(&self) -> Result<LogFormat, ConfigError> {
        match self.string(vars::LOG_FORMAT).map(|v| v.to_ascii_lowercase()).as_deref() {
            None | Some("text") => Ok(LogFormat::Text),
            Some("json") => Ok(LogFormat::Json),
            Some(_) => Err(ConfigError::new(vars::LOG_FORMAT, "must be text or json")),
        }
    }
}

/// Refuses a signing secret shorter than [`MIN_JWT_SECRET_BYTES`]; the error does not show it.
pub fn validate_jwt_secret(secret: SecretString) -> Result<SecretString, ConfigError> {
    if secret.expose_secret().len() < MIN_JWT_SECRET_BYTES {
        return Err(ConfigError::new(
            vars::JWT_SECRET,
            format!("must be at least {MIN_JWT_SECRET_BYTES} bytes (e.g. `openssl rand -hex 32`)"),
        ));
    }
    Ok(secret)
}

/// Parses a positive duration such as `30s`, `500ms`, `5m` or `1h 30m` (humantime syntax). The
/// error is a sentence for a command line or a [`ConfigError`].
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text.trim())
        .map_err(|e| format!("must be a duration such as 30s, 5m or 1h ({e})"))?;
    if duration.is_zero() {
        return Err("must be longer than zero".to_owned());
    }
    Ok(duration)
}

/// Bounded waits on dependencies (issue 15): how long a program waits for AWS and PostgreSQL
/// before it calls a dependency unavailable. Each program has its own defaults, sized for whoever
/// waits: a user's request, a worker, a Lambda invocation.
pub mod waits {
    use std::time::Duration;

    use crate::{ConfigError, Env};

    /// `PRICETRACK_AWS_CONNECT_TIMEOUT`: longest wait for a TCP (and TLS) connection to an AWS
    /// endpoint.
    pub const AWS_CONNECT_TIMEOUT: &str = "PRICETRACK_AWS_CONNECT_TIMEOUT";
    /// `PRICETRACK_AWS_ATTEMPT_TIMEOUT`: longest one attempt of an AWS call may take.
    pub const AWS_ATTEMPT_TIMEOUT: &str = "PRICETRACK_AWS_ATTEMPT_TIMEOUT";
    /// `PRICETRACK_AWS_OPERATION_TIMEOUT`: longest an AWS call may take, retries included.
    pub const AWS_OPERATION_TIMEOUT: &str = "PRICETRACK_AWS_OPERATION_TIMEOUT";
    /// `PRICETRACK_AWS_MAX_ATTEMPTS`: attempts of one AWS call (1 means no retry).
    pub const AWS_MAX_ATTEMPTS: &str = "PRICETRACK_AWS_MAX_ATTEMPTS";
    /// `PRICETRACK_DATABASE_ACQUIRE_TIMEOUT`: longest wait for a PostgreSQL connection (a new one
    /// or one from the pool).
    pub const DATABASE_ACQUIRE_TIMEOUT: &str = "PRICETRACK_DATABASE_ACQUIRE_TIMEOUT";
    /// `PRICETRACK_DATABASE_STATEMENT_TIMEOUT`: PostgreSQL's `statement_timeout` for the API's
    /// sessions, and the client-side bound of one query.
    pub const DATABASE_STATEMENT_TIMEOUT: &str = "PRICETRACK_DATABASE_STATEMENT_TIMEOUT";

    /// Timeouts and retries of every AWS SDK client of a program.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct AwsWaits {
        /// Connect timeout (TCP and TLS).
        pub connect: Duration,
        /// Per-attempt timeout.
        pub attempt: Duration,
        /// Operation timeout: every attempt and the back-off between them.
        pub operation: Duration,
        /// Attempts of one call, in the SDK's standard retry mode (exponential back-off with
        /// jitter between them).
        pub max_attempts: u32,
    }

    impl AwsWaits {
        /// The API: a user's request spends at most 1.5 s on one AWS call, so that it is answered
        /// (a 503 at worst) within 2 s.
        pub const API: Self = Self {
            connect: Duration::from_millis(500),
            attempt: Duration::from_millis(700),
            operation: Duration::from_millis(1500),
            max_attempts: 2,
        };
        /// The scraper's workers: they may wait longer; the long-poll receive gets its own wait
        /// time on top of the attempt timeout.
        pub const WORKER: Self = Self {
            connect: Duration::from_secs(2),
            attempt: Duration::from_secs(5),
            operation: Duration::from_secs(15),
            max_attempts: 3,
        };
        /// The rescheduler: one call never takes more than 8 s, well inside a Lambda timeout of a
        /// minute (and the run's own deadline cuts it off before the invocation's end).
        pub const RESCHEDULER: Self = Self {
            connect: Duration::from_secs(1),
            attempt: Duration::from_secs(3),
            operation: Duration::from_secs(8),
            max_attempts: 3,
        };
    }

    /// PostgreSQL waits of the API's request path.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct DatabaseWaits {
        /// Longest wait for a connection (opening one, or a free one from the pool).
        pub acquire: Duration,
        /// `statement_timeout`, and the client-side bound of one query.
        pub statement: Duration,
    }

    impl DatabaseWaits {
        /// The API's defaults: at most 1.5 s for a connection and 1.5 s for a statement.
        pub const API: Self = Self { acquire: Duration::from_millis(1500), statement: Duration::from_millis(1500) };
    }

    /// Most a wait may be set to: a setting of an hour is a mistake, not a choice.
    const MAX_WAIT: Duration = Duration::from_secs(900);

    fn bounded<F: Fn(&str) -> Option<String>>(
        env: &Env<F>,
        name: &'static str,
        default: Duration,
    ) -> Result<Duration, ConfigError> {
        let value = env.duration_or(name, default)?;
        if value.is_zero() || value > MAX_WAIT {
            return Err(ConfigError::new(name, "must be a duration from 1ms to 15m (e.g. 500ms, 2s)"));
        }
        Ok(value)
    }

    impl<F: Fn(&str) -> Option<String>> Env<F> {
        /// The AWS waits, each overridable (`PRICETRACK_AWS_*`), with a program's `defaults`.
        /// The operation timeout must be at least the attempt timeout.
        pub fn aws_waits(&self, defaults: AwsWaits) -> Result<AwsWaits, ConfigError> {
            let waits = AwsWaits {
                connect: bounded(self, AWS_CONNECT_TIMEOUT, defaults.connect)?,
                attempt: bounded(self, AWS_ATTEMPT_TIMEOUT, defaults.attempt)?,
                operation: bounded(self, AWS_OPERATION_TIMEOUT, defaults.operation)?,
                max_attempts: self.number_in(AWS_MAX_ATTEMPTS, defaults.max_attempts, 1..=10)?,
            };
            if waits.operation < waits.attempt {
                return Err(ConfigError::new(AWS_OPERATION_TIMEOUT, "must be at least PRICETRACK_AWS_ATTEMPT_TIMEOUT"));
            }
            Ok(waits)
        }

        /// The PostgreSQL waits (`PRICETRACK_DATABASE_*`), with `defaults`.
        pub fn database_waits(&self, defaults: DatabaseWaits) -> Result<DatabaseWaits, ConfigError> {
            Ok(DatabaseWaits {
                acquire: bounded(self, DATABASE_ACQUIRE_TIMEOUT, defaults.acquire)?,
                statement: bounded(self, DATABASE_STATEMENT_TIMEOUT, defaults.statement)?,
            })
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn env(pairs: &'static [(&'static str, &'static str)]) -> Env<impl Fn(&str) -> Option<String>> {
            Env::new(move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned()))
        }

        #[test]
        fn api_defaults_answer_a_user_within_two_seconds() {
            let waits = env(&[]).aws_waits(AwsWaits::API).expect("defaults");
            assert_eq!(waits, AwsWaits::API);
            assert!(waits.operation < Duration::from_secs(2));
            assert!(DatabaseWaits::API.acquire + DatabaseWaits::API.statement <= Duration::from_secs(3));
            assert!(DatabaseWaits::API.acquire <= Duration::from_secs(2));
        }

        #[test]
        fn waits_are_overridable_and_checked() {
            let waits = env(&[("PRICETRACK_AWS_ATTEMPT_TIMEOUT", "2s"), ("PRICETRACK_AWS_OPERATION_TIMEOUT", "5s")])
                .aws_waits(AwsWaits::API)
                .expect("valid");
            assert_eq!(waits.attempt, Duration::from_secs(2));
            assert_eq!(waits.operation, Duration::from_secs(5));
            let err =
                env(&[("PRICETRACK_AWS_OPERATION_TIMEOUT", "100ms")]).aws_waits(AwsWaits::API).expect_err("short");
            assert_eq!(err.name, AWS_OPERATION_TIMEOUT);
            let err = env(&[("PRICETRACK_AWS_MAX_ATTEMPTS", "0")]).aws_waits(AwsWaits::API).expect_err("zero");
            assert_eq!(err.name, AWS_MAX_ATTEMPTS);
            let err = env(&[("PRICETRACK_DATABASE_STATEMENT_TIMEOUT", "2h")])
                .database_waits(DatabaseWaits::API)
                .expect_err("long");
            assert_eq!(err.name, DATABASE_STATEMENT_TIMEOUT);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(vars: &[(&str, &str)]) -> Env<impl Fn(&str) -> Option<String>> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Env::new(move |k| map.get(k).cloned())
    }

    #[test]
    fn strings_are_trimmed_and_blank_is_unset() {
        let e = env(&[("A", "  x  "), ("B", "   ")]);
        assert_eq!(e.string("A").as_deref(), Some("x"));
        assert_eq!(e.string("B"), None);
        assert_eq!(e.raw("B").as_deref(), Some("   "));
        assert_eq!(e.required("B").expect_err("blank").to_string(), "B: is required");
        assert_eq!(e.required("C").expect_err("unset").name, "C");
    }

    #[test]
    fn numbers_parse_with_defaults_and_ranges() {
        let e = env(&[("N", "7"), ("BAD", "seven"), ("BIG", "300")]);
        assert_eq!(e.parse_or::<u32>("N", 1, "a number"), Ok(7));
        assert_eq!(e.parse_or::<u32>("UNSET", 1, "a number"), Ok(1));
        assert_eq!(e.parse_or::<u32>("BAD", 1, "a number").expect_err("bad").problem, "must be a number");
        assert_eq!(e.number_in("N", 5_usize, 1..=256), Ok(7));
        assert_eq!(
            e.number_in("BIG", 5_usize, 1..=256).expect_err("range").problem,
            "must be a whole number from 1 to 256"
        );
        assert_eq!(e.parse_required::<u32>("UNSET", "a number").expect_err("unset").problem, "is required (a number)");
    }

    #[test]
    fn booleans_accept_the_usual_spellings() {
        for (raw, expected) in [
            ("TRUE", true),
            ("1", true),
            ("yes", true),
            ("On", true),
            ("false", false),
            ("0", false),
            ("no", false),
            ("off", false),
        ] {
            assert_eq!(env(&[("B", raw)]).bool_or("B", !expected), Ok(expected), "{raw}");
        }
        assert_eq!(env(&[]).bool_or("B", true), Ok(true));
        assert_eq!(env(&[("B", "maybe")]).bool_or("B", true).expect_err("maybe").problem, "must be true or false");
    }

    #[test]
    fn durations_use_humantime() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("1m 30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("soon").expect_err("soon").starts_with("must be a duration"));
        let e = env(&[("D", "2m"), ("X", "later")]);
        assert_eq!(e.duration_or("D", Duration::ZERO), Ok(Duration::from_secs(120)));
        assert_eq!(e.duration_or("U", Duration::from_secs(1)), Ok(Duration::from_secs(1)));
        assert_eq!(e.duration_or("X", Duration::ZERO).expect_err("bad").name, "X");
    }

    #[test]
    fn jwt_secret_is_checked_and_never_echoed() {
        assert!(env(&[]).jwt_secret().expect("unset is fine").is_none());
        let missing = env(&[]).required_jwt_secret().expect_err("required");
        assert_eq!(missing.name, "PRICETRACK_JWT_SECRET");
        assert!(missing.problem.contains("is required") && missing.problem.contains("32 bytes"), "{missing}");
        let short = env(&[("PRICETRACK_JWT_SECRET", "hunter2-hunter2")]).required_jwt_secret().expect_err("short");
        assert_eq!(short.name, "PRICETRACK_JWT_SECRET");
        assert!(!short.to_string().contains("hunter2"), "{short}");
        let long = "0123456789abcdef0123456789abcdef";
        let ok = env(&[("PRICETRACK_JWT_SECRET", long)]).required_jwt_secret().expect("32 bytes");
        assert_eq!(ok.expose_secret(), long);
        assert!(!format!("{ok:?}").contains(long));
        // Exactly as given: surrounding spaces count, and an empty value is too short, not unset.
        assert!(env(&[("PRICETRACK_JWT_SECRET", "")]).jwt_secret().is_err());
    }

    #[test]
    fn required_secret_refuses_blank_without_echo() {
        let err = env(&[("DATABASE_URL", "  ")]).required_secret("DATABASE_URL").expect_err("blank");
        assert_eq!(err.to_string(), "DATABASE_URL: is required");
        let url = env(&[("DATABASE_URL", "postgres://u:pw@h/db")]).required_secret("DATABASE_URL").expect("set");
        assert_eq!(url.expose_secret(), "postgres://u:pw@h/db");
    }

    #[test]
    fn schedule_policy_and_lease() {
        let p = env(&[]).schedule_policy().expect("defaults");
        assert_eq!((p.min_interval, p.default_interval), (Duration::from_secs(60), Duration::from_secs(3600)));
        assert_eq!(p.lease, SchedulePolicy::default().lease);
        assert_eq!(env(&[]).lease(), Ok(Duration::from_secs(300)));
        assert_eq!(env(&[("PRICETRACK_LEASE_SECS", "45")]).lease(), Ok(Duration::from_secs(45)));
        assert_eq!(env(&[("PRICETRACK_LEASE_SECS", "0")]).lease().expect_err("zero").name, "PRICETRACK_LEASE_SECS");
        assert_eq!(
            env(&[("PRICETRACK_MIN_CHECK_INTERVAL_SECS", "0")]).schedule_policy().expect_err("zero").name,
            "PRICETRACK_MIN_CHECK_INTERVAL_SECS"
        );
        let err =
            env(&[("PRICETRACK_MIN_CHECK_INTERVAL_SECS", "100"), ("PRICETRACK_DEFAULT_CHECK_INTERVAL_SECS", "50")])
                .schedule_policy()
                .expect_err("default below floor");
        assert_eq!(err.name, "PRICETRACK_DEFAULT_CHECK_INTERVAL_SECS");
        assert!(err.problem.contains("PRICETRACK_MIN_CHECK_INTERVAL_SECS (100)"), "{err}");
    }

    #[test]
    fn scrape_settings_defaults_and_values() {
        let defaults = env(&[]).scrape_settings().expect("defaults");
        assert_eq!(
            defaults,
            ScrapeSettings {
                host_concurrency: 2,
                host_min_delay: Duration::from_secs(1),
                browser_path: "/usr/bin/chromium".into(),
                browser_tabs: 3,
                browser_hosts: Vec::new(),
                browser_url: None,
            }
        );
        let set = env(&[
            ("PRICETRACK_HOST_CONCURRENCY", "4"),
            ("PRICETRACK_HOST_MIN_DELAY", "250ms"),
            ("PRICETRACK_BROWSER_PATH", "/opt/chrome/chrome"),
            ("PRICETRACK_BROWSER_TABS", "0"),
            ("PRICETRACK_BROWSER_HOSTS", " Shop.Example, .js-shop.example ,, "),
            ("PRICETRACK_BROWSER_URL", "http://127.0.0.1:9222"),
        ])
        .scrape_settings()
        .expect("valid");
        assert_eq!(set.host_concurrency, 4);
        assert_eq!(set.host_min_delay, Duration::from_millis(250));
        assert_eq!(set.browser_path, std::path::PathBuf::from("/opt/chrome/chrome"));
        assert_eq!(set.browser_tabs, 0);
        assert_eq!(set.browser_url.as_deref(), Some("http://127.0.0.1:9222"));
        assert_eq!(set.browser_hosts, vec!["shop.example".to_owned(), "js-shop.example".to_owned()]);
        for (name, value) in [
            ("PRICETRACK_HOST_CONCURRENCY", "0"),
            ("PRICETRACK_HOST_MIN_DELAY", "soon"),
            ("PRICETRACK_HOST_MIN_DELAY", "2h"),
            ("PRICETRACK_BROWSER_TABS", "33"),
            ("PRICETRACK_BROWSER_HOSTS", "https://shop.example/"),
            ("PRICETRACK_BROWSER_URL", "127.0.0.1:9222"),
        ] {
            assert_eq!(env(&[(name, value)]).scrape_settings().expect_err(value).name, name);
        }
    }

    #[test]
    fn the_common_getters() {
        let e = env(&[]);
        assert_eq!(e.workers(), Ok(5));
        assert_eq!(e.allow_private_targets(), Ok(false));
        assert_eq!(e.user_agent(), None);
        assert_eq!(e.cookie_secure(true), Ok(true));
        assert_eq!(e.log_format(), Ok(LogFormat::Text));
        assert_eq!(
            e.listen("0.0.0.0:9090".parse().expect("addr")).map(|a| a.to_string()).as_deref(),
            Ok("0.0.0.0:9090")
        );
        let e = env(&[
            ("PRICETRACK_WORKERS", "256"),
            ("PRICETRACK_LOG_FORMAT", "JSON"),
            ("PRICETRACK_USER_AGENT", " bot/1 "),
            ("PRICETRACK_LISTEN", "127.0.0.1:1"),
        ]);
        assert_eq!(e.workers(), Ok(256));
        assert_eq!(e.log_format(), Ok(LogFormat::Json));
        assert_eq!(e.user_agent().as_deref(), Some("bot/1"));
        assert_eq!(e.listen("0.0.0.0:9090".parse().expect("addr")).map(|a| a.port()), Ok(1));
        assert_eq!(env(&[("PRICETRACK_WORKERS", "0")]).workers().expect_err("zero").name, "PRICETRACK_WORKERS");
        assert_eq!(
            env(&[("PRICETRACK_LOG_FORMAT", "xml")]).log_format().expect_err("xml").name,
            "PRICETRACK_LOG_FORMAT"
        );
        assert_eq!(
            env(&[("PRICETRACK_LISTEN", "nowhere")]).listen("0.0.0.0:1".parse().expect("addr")).expect_err("bad").name,
            "PRICETRACK_LISTEN"
        );
    }
}
