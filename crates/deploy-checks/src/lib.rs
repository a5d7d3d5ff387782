//! Facts the deployment files (`deploy/`, `flux/`, `terraform/`) must agree with, read from the
//! code rather than copied: which environment variables each program reads, where the API
//! listens, and the names and numbers of the AWS resources ([`pricetrack_aws::schema`]).
//!
//! `scripts/check-deploy.sh` runs the `deploy-facts` binary and compares its JSON with the
//! rendered manifests and the Terraform.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;

use pricetrack_settings::{ConfigError, Env};
use serde_json::{Value, json};

/// Values tried, in order, for a variable a program refuses to start without: one of them is
/// valid for every kind of setting (a number of seconds, a flag, an address, a secret, a URL).
const CANDIDATES: [&str; 6] = [
    "60",
    "true",
    "0.0.0.0:9090",
    "https://example.com/some/path",
    "arn:aws:sns:us-east-1:123456789012:topic",
    "0123456789abcdef0123456789abcdef0123456789abcdef",
];

/// The lookup function of the recording environment [`variables_read`] hands to a reader.
pub type Lookup = Box<dyn Fn(&str) -> Option<String>>;

/// Every variable that `read` looks up, found by running it against a recording environment.
///
/// Unset variables read as unset (so optional ones are recorded with their defaults in use);
/// when `read` fails on a variable, candidate values are tried for it until it passes, and the
/// reading goes on. Fails when no candidate satisfies some variable.
pub fn variables_read<T>(read: impl Fn(&Env<Lookup>) -> Result<T, ConfigError>) -> Result<BTreeSet<String>, String> {
    let seen = Rc::new(RefCell::new(BTreeSet::new()));
    let mut set: Vec<(String, String)> = Vec::new();
    for _ in 0..64 {
        let values = set.clone();
        let record = Rc::clone(&seen);
        let env: Env<Lookup> = Env::new(Box::new(move |name: &str| {
            record.borrow_mut().insert(name.to_owned());
            values.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
        }));
        match read(&env) {
            Ok(_) => return Ok(seen.borrow().clone()),
            Err(error) => {
                let name = error.name.to_string();
                let tried = set.iter().position(|(n, _)| *n == name);
                let next = match tried {
                    None => 0,
                    Some(i) => {
                        let (_, value) = set.remove(i);
                        CANDIDATES.iter().position(|c| *c == value).map_or(CANDIDATES.len(), |p| p + 1)
                    }
                };
                let Some(candidate) = CANDIDATES.get(next) else {
                    return Err(format!("no sample value satisfies {name}: {error}"));
                };
                set.push((name, (*candidate).to_owned()));
            }
        }
    }
    Err("gave up: the settings keep failing".to_owned())
}

/// The facts as JSON: `env` (per program, the variables its configuration reads, plus the
/// logging ones every program reads), `api` (listen address and port), `scraper` (metrics
/// address, shutdown grace and check deadline), `metrics` (the catalogue of metric names, kinds
/// and labels), `emf_namespace` and `emf_metrics` (what the rescheduler Lambda reports), `resource_names` (how `pricetrack aws bootstrap` names the resources from
/// a prefix, with `{prefix}` standing for it), `schema` (table, index, TTL and queue settings).
pub fn facts() -> Result<Value, String> {
    use pricetrack_services::{ApiConfig, ReschedulerConfig, ScraperConfig};
    let logging: BTreeSet<String> =
        [tracing_subscriber::EnvFilter::DEFAULT_ENV.to_owned(), pricetrack_settings::vars::LOG_FORMAT.to_owned()]
            .into();
    let with_logging = |mut set: BTreeSet<String>| {
        set.extend(logging.iter().cloned());
        set
    };
    let api = with_logging(variables_read(ApiConfig::from_settings)?);
    let scraper = with_logging(variables_read(ScraperConfig::from_settings)?);
    let rescheduler = with_logging(variables_read(ReschedulerConfig::from_settings)?);
    let listen = pricetrack_services::config::DEFAULT_API_LISTEN;
    use pricetrack_aws::schema as s;
    let names = pricetrack_aws::bootstrap::ResourceNames::with_prefix("{prefix}");
    Ok(json!({
        "resource_names": {
            "table": names.table,
            "queue": names.queue,
            "dead_letter_queue": names.dead_letter_queue,
            "topic": names.topic,
            "delivery_queue": names.delivery_queue,
            "delivery_dead_letter_queue": names.delivery_dead_letter_queue,
        },
        "env": { "api": api, "scraper": scraper, "rescheduler": rescheduler },
        "api": {
            "listen_var": pricetrack_settings::vars::LISTEN,
            "default_listen": listen.to_string(),
            "port": listen.port(),
            // What the probes' timings must agree with (crates/api/src/resilience.rs).
            "readyz_answer_bound_ms": pricetrack_api::resilience::READYZ_FIRST_PROBE_WAIT.as_millis(),
            "dependency_deadline_ms": pricetrack_api::resilience::DEPENDENCY_DEADLINE.as_millis(),
        },
        "scraper": {
            "metrics_var": pricetrack_services::config::vars::METRICS_ADDR,
            "default_metrics_addr": pricetrack_services::config::DEFAULT_METRICS_ADDR.to_string(),
            "default_shutdown_grace_secs": pricetrack_services::config::DEFAULT_SHUTDOWN_GRACE_SECS,
            "check_deadline_secs": pricetrack_scraper::StaticFetcherSettings::default().deadline.as_secs(),
        },
        // Every metric the programs record (crates/metrics): the alert rules and the dashboard may
        // name only these, with these labels.
        // The namespace of the rescheduler Lambda's embedded metrics (the CloudWatch alarms on them).
        "emf_namespace": pricetrack_services::EMF_NAMESPACE,
        "emf_metrics": pricetrack_services::RunMetrics::METRICS.iter().map(|(name, _)| *name).collect::<Vec<_>>(),
        "metrics": pricetrack_metrics::CATALOG
            .iter()
            .map(|m| json!({"name": m.name, "kind": m.kind.as_str(), "labels": m.labels}))
            .collect::<Vec<_>>(),
        "schema": {
            "partition_key": s::PARTITION_KEY,
            "sort_key": s::SORT_KEY,
            "billing_mode": s::BILLING_MODE,
            "due_index": s::DUE_INDEX,
            "due_shard": s::DUE_SHARD,
            "next_check_at": s::NEXT_CHECK_AT,
            "due_index_projection": s::DUE_INDEX_PROJECTION,
            "ttl_attribute": s::TTL_ATTRIBUTE,
            "queue_visibility_timeout_secs": s::QUEUE_VISIBILITY_TIMEOUT_SECS,
            "queue_receive_wait_secs": s::QUEUE_RECEIVE_WAIT_SECS,
            "queue_max_receive_count": s::QUEUE_MAX_RECEIVE_COUNT,
            "queue_retention_secs": s::QUEUE_RETENTION_SECS,
            "dead_letter_retention_secs": s::DEAD_LETTER_RETENTION_SECS,
            "delivery_queue_visibility_timeout_secs": s::DELIVERY_QUEUE_VISIBILITY_TIMEOUT_SECS,
            "delivery_queue_max_receive_count": s::DELIVERY_QUEUE_MAX_RECEIVE_COUNT,
            "delivery_filter_policy": serde_json::from_str::<Value>(&s::delivery_filter_policy())
                .map_err(|e| e.to_string())?,
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_required_and_optional_variables() {
        let api = variables_read(pricetrack_services::ApiConfig::from_settings).expect("readable");
        for name in ["DATABASE_URL", "PRICETRACK_JWT_SECRET", "PRICETRACK_TABLE", "PRICETRACK_LISTEN"] {
            assert!(api.contains(name), "{name} in {api:?}");
        }
        assert!(!api.contains("PRICETRACK_WORKERS"), "the API has no workers: {api:?}");
        let rescheduler = variables_read(pricetrack_services::ReschedulerConfig::from_settings).expect("readable");
        assert!(rescheduler.contains("PRICETRACK_QUEUE_URL") && !rescheduler.contains("PRICETRACK_TOPIC_ARN"));
    }

    #[test]
    fn facts_are_json() {
        let facts = facts().expect("facts");
        assert_eq!(facts["api"]["port"], 9090);
        assert_eq!(facts["schema"]["due_index"], "due-index");
        assert!(facts["metrics"].as_array().is_some_and(|m| m.iter().any(|m| m["name"] == "pricetrack_checks_total")));
        assert_eq!(facts["scraper"]["default_metrics_addr"], "0.0.0.0:9464");
    }
}
