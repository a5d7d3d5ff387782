//! Configuration of `pricetrack serve`: one typed struct, read once from the environment.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use pricetrack_domain::SchedulePolicy;
use secrecy::{ExposeSecret, SecretString};
use url::Url;

/// A setting that could not be read. Names the variable and says what it accepts; never echoes a
/// secret's value.
#[derive(Debug, thiserror::Error)]
#[error("{name}: {problem}")]
pub struct ConfigError {
    /// The environment variable.
    pub name: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

/// Shortest JWT signing secret accepted, in bytes.
pub const MIN_JWT_SECRET_BYTES: usize = 32;

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
}

impl ServeConfig {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());

        let listen =
            parse_or(&get, "PRICETRACK_LISTEN", "127.0.0.1:9090".parse().ok(), "an address such as 127.0.0.1:9090")?;
        let data_dir = get("PRICETRACK_DATA_DIR").map_or_else(|| PathBuf::from("./pricetrack-data"), PathBuf::from);
        let jwt_secret = match lookup("PRICETRACK_JWT_SECRET") {
            None => None,
            Some(raw) => Some(validate_jwt_secret(SecretString::from(raw))?),
        };
        let webhook_url = match get("PRICETRACK_WEBHOOK_URL") {
            None => None,
            Some(raw) => {
                let url = Url::parse(&raw).map_err(|_| ConfigError {
                    name: "PRICETRACK_WEBHOOK_URL",
                    problem: "must be an absolute http(s) URL".into(),
                })?;
                if !matches!(url.scheme(), "http" | "https") {
                    return Err(ConfigError {
                        name: "PRICETRACK_WEBHOOK_URL",
                        problem: "must use http or https".into(),
                    });
                }
                Some(url)
            }
        };
        let allow_private_targets = parse_bool(&get, "PRICETRACK_ALLOW_PRIVATE_TARGETS", false)?;
        let min_secs: u64 =
            parse_or(&get, "PRICETRACK_MIN_CHECK_INTERVAL_SECS", Some(60), "a whole number of seconds")?;
        let default_secs: u64 =
            parse_or(&get, "PRICETRACK_DEFAULT_CHECK_INTERVAL_SECS", Some(3600), "a whole number of seconds")?;
        if min_secs == 0 {
            return Err(ConfigError {
                name: "PRICETRACK_MIN_CHECK_INTERVAL_SECS",
                problem: "must be at least 1".into(),
            });
        }
        if default_secs < min_secs {
            return Err(ConfigError {
                name: "PRICETRACK_DEFAULT_CHECK_INTERVAL_SECS",
                problem: format!("must be at least PRICETRACK_MIN_CHECK_INTERVAL_SECS ({min_secs})"),
            });
        }
        let tick_ms: u64 =
            parse_or(&get, "PRICETRACK_SCHEDULER_TICK_MS", Some(1000), "a whole number of milliseconds")?;
        if tick_ms == 0 {
            return Err(ConfigError { name: "PRICETRACK_SCHEDULER_TICK_MS", problem: "must be at least 1".into() });
        }
        let workers: usize = parse_or(&get, "PRICETRACK_WORKERS", Some(5), "a whole number from 1 to 256")?;
        if !(1..=256).contains(&workers) {
            return Err(ConfigError { name: "PRICETRACK_WORKERS", problem: "must be from 1 to 256".into() });
        }
        let cookie_secure = parse_bool(&get, "PRICETRACK_COOKIE_SECURE", false)?;
        let user_agent = get("PRICETRACK_USER_AGENT");

        Ok(Self {
            listen,
            data_dir,
            jwt_secret,
            webhook_url,
            allow_private_targets,
            schedule: SchedulePolicy {
                min_interval: Duration::from_secs(min_secs),
                default_interval: Duration::from_secs(default_secs),
                ..SchedulePolicy::default()
            },
            scheduler_tick: Duration::from_millis(tick_ms),
            workers,
            cookie_secure,
            user_agent,
        })
    }
}

/// Refuses a signing secret shorter than [`MIN_JWT_SECRET_BYTES`].
pub fn validate_jwt_secret(secret: SecretString) -> Result<SecretString, ConfigError> {
    if secret.expose_secret().len() < MIN_JWT_SECRET_BYTES {
        return Err(ConfigError {
            name: "PRICETRACK_JWT_SECRET",
            problem: format!("must be at least {MIN_JWT_SECRET_BYTES} bytes (e.g. `openssl rand -hex 32`)"),
        });
    }
    Ok(secret)
}

fn parse_or<T: std::str::FromStr>(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: Option<T>,
    expected: &str,
) -> Result<T, ConfigError> {
    match get(name) {
        Some(raw) => raw.parse().map_err(|_| ConfigError { name, problem: format!("must be {expected}") }),
        None => default.ok_or_else(|| ConfigError { name, problem: "is required".into() }),
    }
}

fn parse_bool(get: &impl Fn(&str) -> Option<String>, name: &'static str, default: bool) -> Result<bool, ConfigError> {
    match get(name).map(|v| v.to_ascii_lowercase()) {
        None => Ok(default),
        Some(v) if matches!(v.as_str(), "1" | "true" | "yes" | "on") => Ok(true),
        Some(v) if matches!(v.as_str(), "0" | "false" | "no" | "off") => Ok(false),
        Some(_) => Err(ConfigError { name, problem: "must be true or false".into() }),
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
