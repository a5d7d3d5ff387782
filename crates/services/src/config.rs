//! One typed configuration per program, read once from the environment through
//! [`pricetrack_settings::Env`]. Secrets are [`SecretString`]s: `Debug` never prints them, and no
//! error repeats them.
//!
//! The AWS clients are configured by the SDK's own default chain (`AWS_REGION`,
//! `AWS_ENDPOINT_URL`, credentials from the environment, a profile, the pod's web identity or the
//! instance role); nothing here reads AWS keys.

use std::net::SocketAddr;
use std::time::Duration;

use pricetrack_domain::SchedulePolicy;
use pricetrack_settings::waits::{AwsWaits, DatabaseWaits};
use pricetrack_settings::{ConfigError, Env};
use secrecy::SecretString;

/// Environment variable names the services read beyond the common ones of
/// [`pricetrack_settings::vars`].
pub mod vars {
    /// The DynamoDB table of jobs.
    pub const TABLE: &str = "PRICETRACK_TABLE";
    /// The URL of the SQS check queue.
    pub const QUEUE_URL: &str = "PRICETRACK_QUEUE_URL";
    /// The URL of the SQS delivery queue (subscribed to the alert topic).
    pub const DELIVERY_QUEUE_URL: &str = "PRICETRACK_DELIVERY_QUEUE_URL";
    /// Alerts delivered at once by the scraper's delivery workers.
    pub const DELIVERY_WORKERS: &str = "PRICETRACK_DELIVERY_WORKERS";
    /// The wait after a delivery's first failed attempt (doubled after each further one).
    pub const DELIVERY_RETRY_BASE: &str = "PRICETRACK_DELIVERY_RETRY_BASE";
    /// The delivery queue's visibility timeout, in seconds.
    pub const DELIVERY_VISIBILITY_TIMEOUT_SECS: &str = "PRICETRACK_DELIVERY_VISIBILITY_TIMEOUT_SECS";
    /// The ARN of the SNS alert topic.
    pub const TOPIC_ARN: &str = "PRICETRACK_TOPIC_ARN";
    /// The PostgreSQL connection URL (a secret: it may hold a password).
    pub const DATABASE_URL: &str = "DATABASE_URL";
    /// The check queue's visibility timeout, in seconds.
    pub const VISIBILITY_TIMEOUT_SECS: &str = "PRICETRACK_VISIBILITY_TIMEOUT_SECS";
    /// How long in-flight checks may run on after SIGTERM, in seconds.
    pub const SHUTDOWN_GRACE_SECS: &str = "PRICETRACK_SHUTDOWN_GRACE_SECS";
    /// Whether the per-host budget is shared by every scraper through DynamoDB.
    pub const FLEET_POLITENESS: &str = "PRICETRACK_FLEET_POLITENESS";
    /// Where the scraper serves its Prometheus metrics (`GET /metrics`), or `off`.
    pub const METRICS_ADDR: &str = "PRICETRACK_METRICS_ADDR";
}

/// Where the scraper serves its metrics when `PRICETRACK_METRICS_ADDR` is unset (9464: the port
/// commonly used for an exporter inside an application, clear of the API's 9090).
pub const DEFAULT_METRICS_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 9464);

/// Where the API listens when `PRICETRACK_LISTEN` is unset.
pub const DEFAULT_API_LISTEN: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 9090);
/// Default of `PRICETRACK_SHUTDOWN_GRACE_SECS` (the pod's termination grace is 30 s by default).
pub const DEFAULT_SHUTDOWN_GRACE_SECS: u64 = 25;

/// Everything `api` reads from the environment.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// `PRICETRACK_LISTEN` (default `0.0.0.0:9090`).
    pub listen: SocketAddr,
    /// `DATABASE_URL` (required): the PostgreSQL of users.
    pub database_url: SecretString,
    /// `PRICETRACK_TABLE` (required).
    pub table: String,
    /// `PRICETRACK_QUEUE_URL` (required): a new job's first check request goes here.
    pub queue_url: String,
    /// `PRICETRACK_TOPIC_ARN` (required): new users are subscribed to it.
    pub topic_arn: String,
    /// `PRICETRACK_JWT_SECRET` (required, at least 32 bytes).
    pub jwt_secret: SecretString,
    /// `PRICETRACK_COOKIE_SECURE` (default true).
    pub cookie_secure: bool,
    /// `PRICETRACK_ALLOW_PRIVATE_TARGETS` (default false): accept job URLs on private networks.
    pub allow_private_targets: bool,
    /// `PRICETRACK_MAX_JOBS_PER_USER` (default 500).
    pub max_jobs_per_user: u32,
    /// `PRICETRACK_AUTH_BURST_PER_ADDRESS` (default 20): sign-ups and sign-ins per client address in a burst.
    pub auth_burst_per_address: u32,
    /// `PRICETRACK_MIN_CHECK_INTERVAL_SECS`, `PRICETRACK_DEFAULT_CHECK_INTERVAL_SECS`,
    /// `PRICETRACK_LEASE_SECS`.
    pub schedule: SchedulePolicy,
    /// `PRICETRACK_AWS_*` timeouts and attempts (default [`AwsWaits::API`]).
    pub aws_waits: AwsWaits,
    /// `PRICETRACK_DATABASE_*` timeouts (default [`DatabaseWaits::API`]).
    pub database_waits: DatabaseWaits,
}

impl ApiConfig {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_settings(&Env::process())
    }

    /// Reads settings through `env`.
    pub fn from_settings<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        Ok(Self {
            listen: env.listen(DEFAULT_API_LISTEN)?,
            database_url: env.required_secret(vars::DATABASE_URL)?,
            table: env.required(vars::TABLE)?,
            queue_url: env.required(vars::QUEUE_URL)?,
            topic_arn: env.required(vars::TOPIC_ARN)?,
            jwt_secret: env.required_jwt_secret()?,
            cookie_secure: env.cookie_secure(true)?,
            allow_private_targets: env.allow_private_targets()?,
            max_jobs_per_user: env.max_jobs_per_user()?,
            auth_burst_per_address: env.auth_burst_per_address()?,
            schedule: schedule(env)?,
            aws_waits: env.aws_waits(AwsWaits::API)?,
            database_waits: env.database_waits(DatabaseWaits::API)?,
        })
    }
}

/// What `api migrate` reads: only the database.
#[derive(Debug, Clone)]
pub struct MigrateConfig {
    /// `DATABASE_URL` (required).
    pub database_url: SecretString,
}

impl MigrateConfig {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_settings(&Env::process())
    }

    /// Reads settings through `env`.
    pub fn from_settings<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        Ok(Self { database_url: env.required_secret(vars::DATABASE_URL)? })
    }
}

/// Everything `scraper` reads from the environment.
#[derive(Debug, Clone)]
pub struct ScraperConfig {
    /// `PRICETRACK_TABLE` (required).
    pub table: String,
    /// `PRICETRACK_QUEUE_URL` (required): where check requests come from.
    pub queue_url: String,
    /// `PRICETRACK_TOPIC_ARN` (required): where alerts go.
    pub topic_arn: String,
    /// `PRICETRACK_WORKERS` (1 to 256, default 5): checks at once.
    pub workers: usize,
    /// `PRICETRACK_ALLOW_PRIVATE_TARGETS` (default false).
    pub allow_private_targets: bool,
    /// `PRICETRACK_USER_AGENT` (default `pricetrack/<version> (+…)`).
    pub user_agent: Option<String>,
    /// Per-host politeness and the headless browser (`PRICETRACK_HOST_*`, `PRICETRACK_BROWSER_*`).
    pub scrape: pricetrack_settings::ScrapeSettings,
    /// `PRICETRACK_MIN_CHECK_INTERVAL_SECS` (the floor of the next due time),
    /// `PRICETRACK_DEFAULT_CHECK_INTERVAL_SECS`, `PRICETRACK_LEASE_SECS` (the longest one check
    /// may take before it is abandoned).
    pub schedule: SchedulePolicy,
    /// `PRICETRACK_VISIBILITY_TIMEOUT_SECS` (default the queue's, 60): a message being checked is
    /// extended by this much every third of it. Must be shorter than the lease.
    pub visibility_timeout: Duration,
    /// `PRICETRACK_SHUTDOWN_GRACE_SECS` (default 25): after SIGTERM, how long checks in flight
    /// may take to finish.
    pub shutdown_grace: Duration,
    /// `PRICETRACK_DELIVERY_QUEUE_URL` (required): alerts to deliver, from the alert topic.
    pub delivery_queue_url: String,
    /// `PRICETRACK_DELIVERY_WORKERS` (1 to 64, default 4): alerts delivered at once.
    pub delivery_workers: usize,
    /// `PRICETRACK_DELIVERY_RETRY_BASE` (default `10s`): wait after a delivery's first failure,
    /// doubled after each further one up to an hour, for 24 hours.
    pub delivery_retry_base: Duration,
    /// `PRICETRACK_DELIVERY_VISIBILITY_TIMEOUT_SECS` (default the delivery queue's, 60).
    pub delivery_visibility_timeout: Duration,
    /// `PRICETRACK_FLEET_POLITENESS` (default true): the per-host concurrency and spacing hold
    /// across every scraper process (a budget in the jobs table), not only within this one.
    pub fleet_politeness: bool,
    /// `PRICETRACK_AWS_*` timeouts and attempts (default [`AwsWaits::WORKER`]).
    pub aws_waits: AwsWaits,
    /// `PRICETRACK_HISTORY_RETENTION_DAYS` (default 730): how long the price history the checks
    /// write is kept (each point's DynamoDB TTL).
    pub history_retention_days: u32,
    /// `PRICETRACK_METRICS_ADDR` (default `0.0.0.0:9464`; `off`: none): where `GET /metrics`
    /// is served.
    pub metrics_addr: Option<SocketAddr>,
}

impl ScraperConfig {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_settings(&Env::process())
    }

    /// Reads settings through `env`.
    pub fn from_settings<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        let table = env.required(vars::TABLE)?;
        let queue_url = env.required(vars::QUEUE_URL)?;
        let topic_arn = env.required(vars::TOPIC_ARN)?;
        let schedule = schedule(env)?;
        let visibility_timeout = env.secs_at_least(
            vars::VISIBILITY_TIMEOUT_SECS,
            u64::from(pricetrack_aws::schema::QUEUE_VISIBILITY_TIMEOUT_SECS),
            1,
        )?;
        if visibility_timeout >= schedule.lease {
            return Err(ConfigError::new(
                vars::VISIBILITY_TIMEOUT_SECS,
                format!(
                    "must be shorter than {} ({}s): a job's lease must outlast its message's visibility",
                    pricetrack_settings::vars::LEASE_SECS,
                    schedule.lease.as_secs()
                ),
            ));
        }
        let delivery_queue_url = env.required(vars::DELIVERY_QUEUE_URL)?;
        let delivery_workers: usize = env.parse_or(vars::DELIVERY_WORKERS, 4, "a whole number from 1 to 64")?;
        if !(1..=64).contains(&delivery_workers) {
            return Err(ConfigError::new(vars::DELIVERY_WORKERS, "must be a whole number from 1 to 64"));
        }
        let delivery_retry_base = env.duration_or(vars::DELIVERY_RETRY_BASE, Duration::from_secs(10))?;
        if delivery_retry_base.is_zero() || delivery_retry_base > Duration::from_secs(3600) {
            return Err(ConfigError::new(vars::DELIVERY_RETRY_BASE, "must be between 1ms and 1h"));
        }
        let delivery_visibility_timeout = env.secs_at_least(
            vars::DELIVERY_VISIBILITY_TIMEOUT_SECS,
            u64::from(pricetrack_aws::schema::DELIVERY_QUEUE_VISIBILITY_TIMEOUT_SECS),
            1,
        )?;
        Ok(Self {
            delivery_queue_url,
            delivery_workers,
            delivery_retry_base,
            delivery_visibility_timeout,
            table,
            queue_url,
            topic_arn,
            workers: env.workers()?,
            allow_private_targets: env.allow_private_targets()?,
            user_agent: env.user_agent(),
            scrape: env.scrape_settings()?,
            schedule,
            visibility_timeout,
            shutdown_grace: env.secs_at_least(vars::SHUTDOWN_GRACE_SECS, DEFAULT_SHUTDOWN_GRACE_SECS, 0)?,
            fleet_politeness: env.bool_or(vars::FLEET_POLITENESS, true)?,
            aws_waits: env.aws_waits(AwsWaits::WORKER)?,
            history_retention_days: env.history_retention_days()?,
            metrics_addr: metrics_addr(env)?,
        })
    }
}

/// Everything `rescheduler` reads from the environment.
#[derive(Debug, Clone)]
pub struct ReschedulerConfig {
    /// `PRICETRACK_TABLE` (required): where due jobs are claimed.
    pub table: String,
    /// `PRICETRACK_QUEUE_URL` (required): where their check requests go.
    pub queue_url: String,
    /// `PRICETRACK_LEASE_SECS` (default 300): how long a claimed job stays off the due list.
    pub lease: Duration,
    /// `PRICETRACK_AWS_*` timeouts and attempts (default [`AwsWaits::RESCHEDULER`]).
    pub aws_waits: AwsWaits,
    /// `PRICETRACK_HOST_MIN_DELAY` / `PRICETRACK_HOST_CONCURRENCY` (the scrapers' values): how
    /// far apart one host's due checks are sent.
    pub host_spread: Duration,
}

impl ReschedulerConfig {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_settings(&Env::process())
    }

    /// Reads settings through `env`.
    pub fn from_settings<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        Ok(Self {
            table: env.required(vars::TABLE)?,
            queue_url: env.required(vars::QUEUE_URL)?,
            lease: env.lease()?,
            aws_waits: env.aws_waits(AwsWaits::RESCHEDULER)?,
            host_spread: env.host_spread()?,
        })
    }

    /// The scheduling policy the rescheduler works with: the defaults with this lease (claiming
    /// only reads the lease).
    pub fn schedule(&self) -> SchedulePolicy {
        SchedulePolicy { lease: self.lease, host_spread: self.host_spread, ..SchedulePolicy::default() }
    }
}

fn schedule<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<SchedulePolicy, ConfigError> {
    Ok(SchedulePolicy { lease: env.lease()?, ..env.schedule_policy()? })
}

/// `PRICETRACK_METRICS_ADDR`: an address, `off` (no metrics endpoint), or the default when unset.
fn metrics_addr<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Option<SocketAddr>, ConfigError> {
    if env.string(vars::METRICS_ADDR).is_some_and(|v| v.eq_ignore_ascii_case("off")) {
        return Ok(None);
    }
    env.socket_addr_or(vars::METRICS_ADDR, DEFAULT_METRICS_ADDR).map(Some)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use secrecy::ExposeSecret;

    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef-very-secret";
    const DB: &str = "postgres://pricetrack:db-password@127.0.0.1:5432/pricetrack";

    fn env(vars: &[(&str, &str)]) -> Env<impl Fn(&str) -> Option<String>> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Env::new(move |k| map.get(k).cloned())
    }

    const AWS: [(&str, &str); 4] = [
        ("PRICETRACK_TABLE", "t"),
        ("PRICETRACK_QUEUE_URL", "http://127.0.0.1:5000/123456789012/q"),
        ("PRICETRACK_TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:a"),
        ("PRICETRACK_DELIVERY_QUEUE_URL", "http://127.0.0.1:5000/123456789012/d"),
    ];

    fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        let mut all = AWS.to_vec();
        all.extend_from_slice(extra);
        all
    }

    #[test]
    fn api_defaults_and_secrets() {
        let c = ApiConfig::from_settings(&env(&with(&[("DATABASE_URL", DB), ("PRICETRACK_JWT_SECRET", SECRET)])))
            .expect("valid");
        assert_eq!(c.listen.to_string(), "0.0.0.0:9090");
        assert!(c.cookie_secure, "Secure cookies unless told otherwise");
        assert!(!c.allow_private_targets);
        assert_eq!(c.schedule, SchedulePolicy::default());
        assert_eq!(c.jwt_secret.expose_secret(), SECRET);
        let debug = format!("{c:?}");
        assert!(!debug.contains("very-secret") && !debug.contains("db-password"), "{debug}");
    }

    #[test]
    fn api_names_what_is_missing() {
        let err = ApiConfig::from_settings(&env(&with(&[("DATABASE_URL", DB)]))).expect_err("no secret");
        assert_eq!(err.name, "PRICETRACK_JWT_SECRET");
        let err = ApiConfig::from_settings(&env(&with(&[("PRICETRACK_JWT_SECRET", SECRET)]))).expect_err("no db");
        assert_eq!(err.name, "DATABASE_URL");
        let err = ApiConfig::from_settings(&env(&[("DATABASE_URL", DB), ("PRICETRACK_JWT_SECRET", SECRET)]))
            .expect_err("no table");
        assert_eq!(err.name, "PRICETRACK_TABLE");
        let err = ApiConfig::from_settings(&env(&with(&[("DATABASE_URL", DB), ("PRICETRACK_JWT_SECRET", "short")])))
            .expect_err("short secret");
        assert_eq!(err.name, "PRICETRACK_JWT_SECRET");
        assert!(!err.to_string().contains("short"), "{err}");
    }

    #[test]
    fn scraper_defaults_and_checks() {
        let c = ScraperConfig::from_settings(&env(&AWS)).expect("valid");
        assert_eq!(c.workers, 5);
        assert_eq!(c.visibility_timeout, Duration::from_secs(60));
        assert_eq!(c.shutdown_grace, Duration::from_secs(25));
        assert_eq!(c.schedule.lease, Duration::from_secs(300));
        let c = ScraperConfig::from_settings(&env(&with(&[
            ("PRICETRACK_MIN_CHECK_INTERVAL_SECS", "1"),
            ("PRICETRACK_VISIBILITY_TIMEOUT_SECS", "4"),
            ("PRICETRACK_WORKERS", "2"),
        ])))
        .expect("valid");
        assert_eq!(c.schedule.min_interval, Duration::from_secs(1));
        assert_eq!((c.visibility_timeout, c.workers), (Duration::from_secs(4), 2));
        let err = ScraperConfig::from_settings(&env(&with(&[("PRICETRACK_VISIBILITY_TIMEOUT_SECS", "300")])))
            .expect_err("visibility not shorter than the lease");
        assert_eq!(err.name, "PRICETRACK_VISIBILITY_TIMEOUT_SECS");
        assert_eq!(ScraperConfig::from_settings(&env(&AWS[..2])).expect_err("no topic").name, "PRICETRACK_TOPIC_ARN");
    }

    #[test]
    fn scraper_metrics_address_defaults_and_turns_off() {
        let c = ScraperConfig::from_settings(&env(&AWS)).expect("valid");
        assert_eq!(c.metrics_addr, Some(DEFAULT_METRICS_ADDR));
        let c =
            ScraperConfig::from_settings(&env(&with(&[("PRICETRACK_METRICS_ADDR", "127.0.0.1:9999")]))).expect("valid");
        assert_eq!(c.metrics_addr, Some("127.0.0.1:9999".parse().expect("addr")));
        let c = ScraperConfig::from_settings(&env(&with(&[("PRICETRACK_METRICS_ADDR", "OFF")]))).expect("valid");
        assert_eq!(c.metrics_addr, None);
        let err = ScraperConfig::from_settings(&env(&with(&[("PRICETRACK_METRICS_ADDR", "9464")])))
            .expect_err("not an address");
        assert_eq!(err.name, "PRICETRACK_METRICS_ADDR");
    }

    #[test]
    fn rescheduler_needs_table_and_queue_only() {
        let c = ReschedulerConfig::from_settings(&env(&AWS[..2])).expect("valid");
        assert_eq!(c.schedule().lease, Duration::from_secs(300));
        assert_eq!(
            ReschedulerConfig::from_settings(&env(&AWS[..1])).expect_err("no queue").name,
            "PRICETRACK_QUEUE_URL"
        );
    }
}
