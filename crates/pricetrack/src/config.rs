//! Configuration of `pricetrack serve`: one typed struct, read once from the environment.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use pricetrack_domain::SchedulePolicy;
pub use pricetrack_settings::{ConfigError, MIN_JWT_SECRET_BYTES, validate_jwt_secret};
use pricetrack_settings::{Env, ScrapeSettings, vars};
use secrecy::SecretString;
use url::Url;

/// Everything `pricetrack serve` reads from the environment.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// `PRICETRACK_LISTEN`: where the API listens.
    pub listen: SocketAddr,
    /// `PRICETRACK_DATA_DIR`: the SQLite database and the generated JWT secret live here.
    pub data_dir: PathBuf,
    /// `PRICETRACK_JWT_SECRET`: the session signing key; generated and kept in the data dir when
    /// unset.
    pub jwt_secret: Option<SecretString>,
    /// `PRICETRACK_WEBHOOK_URL`: where alerts are POSTed; alerts are only logged when unset.
    pub webhook_url: Option<Url>,
    /// `PRICETRACK_ALLOW_PRIVATE_TARGETS`: lets checks reach loopback and private networks (tests
    /// and local demos only).
    pub allow_private_targets: bool,
    /// `PRICETRACK_MAX_JOBS_PER_USER` (default 500).
    pub max_jobs_per_user: u32,
    /// `PRICETRACK_MIN_CHECK_INTERVAL_SECS`, `PRICETRACK_DEFAULT_CHECK_INTERVAL_SECS`: the
    /// scheduling policy.
    pub schedule: SchedulePolicy,
    /// `PRICETRACK_SCHEDULER_TICK_MS`: how often the rescheduler looks for due jobs.
    pub scheduler_tick: Duration,
    /// `PRICETRACK_WORKERS`: concurrent checks.
    pub workers: usize,
    /// `PRICETRACK_COOKIE_SECURE`: mark the session cookie `Secure` (needs https).
    pub cookie_secure: bool,
    /// `PRICETRACK_USER_AGENT`: the User-Agent checks send.
    pub user_agent: Option<String>,
    /// Per-host politeness and the headless browser (`PRICETRACK_HOST_*`, `PRICETRACK_BROWSER_*`).
    pub scrape: ScrapeSettings,
    /// `PRICETRACK_HISTORY_RETENTION_DAYS`: how long price history is kept (default 730).
    pub history_retention_days: u32,
    /// Alert delivery: SMTP for email channels, retry back-off.
    pub delivery: DeliveryConfig,
}

/// How alerts are delivered (`PRICETRACK_SMTP_*`, `PRICETRACK_DELIVERY_*`).
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// `PRICETRACK_SMTP_URL` (a secret: it holds a password), e.g.
    /// `smtps://user:pass@smtp.example:465`; email channels fail without it.
    pub smtp_url: Option<SecretString>,
    /// `PRICETRACK_SMTP_FROM`: the sender of alert emails (default `pricetrack <pricetrack@localhost>`).
    pub smtp_from: String,
    /// `PRICETRACK_DELIVERY_RETRY_BASE` (default `10s`): the wait after a delivery's first failed
    /// attempt, doubled after each further one up to an hour, for 24 hours.
    pub retry_base: Duration,
    /// `PRICETRACK_DELIVERY_WORKERS` (default 4): alerts delivered at once.
    pub workers: usize,
    /// `PRICETRACK_DELIVERY_VISIBILITY_TIMEOUT` (default `60s`): how long an alert being
    /// delivered stays hidden from other deliverers; after a crash it comes back this much later.
    pub visibility_timeout: Duration,
}

impl DeliveryConfig {
    fn from_settings<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        let retry_base = env.duration_or("PRICETRACK_DELIVERY_RETRY_BASE", Duration::from_secs(10))?;
        if retry_base.is_zero() || retry_base > Duration::from_secs(3600) {
            return Err(ConfigError::new("PRICETRACK_DELIVERY_RETRY_BASE", "must be between 1ms and 1h"));
        }
        let workers: usize = env.parse_or("PRICETRACK_DELIVERY_WORKERS", 4, "a whole number from 1 to 64")?;
        if !(1..=64).contains(&workers) {
            return Err(ConfigError::new("PRICETRACK_DELIVERY_WORKERS", "must be a whole number from 1 to 64"));
        }
        Ok(Self {
            smtp_url: env.secret("PRICETRACK_SMTP_URL"),
            smtp_from: env
                .string("PRICETRACK_SMTP_FROM")
                .unwrap_or_else(|| "pricetrack <pricetrack@localhost>".to_owned()),
            retry_base,
            workers,
            visibility_timeout: env.duration_or("PRICETRACK_DELIVERY_VISIBILITY_TIMEOUT", Duration::from_secs(60))?,
        })
    }
}

impl ServeConfig {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Self::from_settings(&Env::new(lookup))
    }

    /// Reads settings through `env`.
    pub fn from_settings<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        let listen = env.listen(SocketAddr::from(([127, 0, 0, 1], 9090)))?;
        let data_dir =
            env.string("PRICETRACK_DATA_DIR").map_or_else(|| PathBuf::from("./pricetrack-data"), PathBuf::from);
        let jwt_secret = env.jwt_secret()?;
        let webhook_url = match env.string("PRICETRACK_WEBHOOK_URL") {
            None => None,
            Some(raw) => {
                let url = Url::parse(&raw)
                    .map_err(|_| ConfigError::new("PRICETRACK_WEBHOOK_URL", "must be an absolute http(s) URL"))?;
                if !matches!(url.scheme(), "http" | "https") {
                    return Err(ConfigError::new("PRICETRACK_WEBHOOK_URL", "must use http or https"));
                }
                Some(url)
            }
        };
        let allow_private_targets = env.allow_private_targets()?;
        let max_jobs_per_user = env.max_jobs_per_user()?;
        let schedule = env.schedule_policy()?;
        let tick_ms: u64 = env.parse_or("PRICETRACK_SCHEDULER_TICK_MS", 1000, "a whole number of milliseconds")?;
        if tick_ms == 0 {
            return Err(ConfigError::new("PRICETRACK_SCHEDULER_TICK_MS", "must be at least 1"));
        }
        let workers = env.workers()?;
        let cookie_secure = env.cookie_secure(false)?;
        let user_agent = env.string(vars::USER_AGENT);
        let scrape = env.scrape_settings()?;
        let delivery = DeliveryConfig::from_settings(env)?;
        let history_retention_days = env.history_retention_days()?;

        Ok(Self {
            listen,
            data_dir,
            jwt_secret,
            webhook_url,
            allow_private_targets,
            max_jobs_per_user,
            schedule,
            scheduler_tick: Duration::from_millis(tick_ms),
            workers,
            cookie_secure,
            user_agent,
            scrape,
            delivery,
            history_retention_days,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<ServeConfig, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        ServeConfig::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults() {
        let c = config(&[]).expect("defaults are valid");
        assert_eq!(c.listen.to_string(), "127.0.0.1:9090");
        assert_eq!(c.data_dir, PathBuf::from("./pricetrack-data"));
        assert_eq!(c.workers, 5);
        assert!(!c.allow_private_targets);
        assert!(!c.cookie_secure);
        assert_eq!(c.schedule.min_interval, Duration::from_secs(60));
        assert_eq!(c.schedule.default_interval, Duration::from_secs(3600));
        assert_eq!(c.scheduler_tick, Duration::from_millis(1000));
        assert!(c.jwt_secret.is_none() && c.webhook_url.is_none());
        assert_eq!(c.schedule, SchedulePolicy::default());
    }

    #[test]
    fn bad_values_name_the_variable_and_never_echo_secrets() {
        let err = config(&[("PRICETRACK_JWT_SECRET", "tooshort-secret")]).expect_err("short secret");
        assert_eq!(err.name, "PRICETRACK_JWT_SECRET");
        assert!(!err.to_string().contains("tooshort-secret"));
        for (name, value) in [
            ("PRICETRACK_LISTEN", "nowhere"),
            ("PRICETRACK_WORKERS", "0"),
            ("PRICETRACK_WORKERS", "many"),
            ("PRICETRACK_ALLOW_PRIVATE_TARGETS", "maybe"),
            ("PRICETRACK_WEBHOOK_URL", "ftp://x"),
            ("PRICETRACK_MIN_CHECK_INTERVAL_SECS", "0"),
            ("PRICETRACK_SCHEDULER_TICK_MS", "-1"),
        ] {
            let err = config(&[(name, value)]).expect_err(name);
            assert_eq!(err.name, name);
        }
        let err =
            config(&[("PRICETRACK_MIN_CHECK_INTERVAL_SECS", "100"), ("PRICETRACK_DEFAULT_CHECK_INTERVAL_SECS", "50")])
                .expect_err("default below floor");
        assert_eq!(err.name, "PRICETRACK_DEFAULT_CHECK_INTERVAL_SECS");
    }

    #[test]
    fn secret_does_not_print() {
        let c = config(&[("PRICETRACK_JWT_SECRET", "0123456789abcdef0123456789abcdef-secret")]).expect("valid");
        assert!(!format!("{c:?}").contains("0123456789abcdef"));
    }
}
