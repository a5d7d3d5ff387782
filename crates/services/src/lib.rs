//! The AWS deployment of pricetrack as three programs over the same domain code as
//! `pricetrack serve`:
//!
//! - `api` ([`run_api`]): the HTTP API on PostgreSQL (users), DynamoDB (jobs), SQS (a new job's
//!   first check request) and SNS (a subscription per new user); migrations at start-up, or
//!   `api migrate` alone;
//! - `scraper` ([`run_scraper`]): a bounded pool of workers fed by SQS;
//! - `rescheduler` ([`Rescheduler`]): claims due jobs and queues their check requests, as a
//!   Lambda function (an EventBridge schedule), once (`--once`), or in a loop (`--every 30s`).
//!
//! Each program reads one typed configuration ([`config`]) from the environment at start-up and
//! refuses to start, naming the variable, when a setting is missing or invalid. Each stops
//! cleanly on SIGTERM or Ctrl-C ([`shutdown_signal`]) and exits 0.

pub mod config;

mod api;
pub mod delivery;
mod rescheduler;
mod scraper;

use std::process::ExitCode;

pub use api::{API_SHUTDOWN_GRACE, DATABASE_MAX_CONNECTIONS, migrate_database, run_api};
use pricetrack_settings::Env;
pub use rescheduler::{EMF_NAMESPACE, ItemsRead, Report, Rescheduler, ReschedulerMode, RunMetrics, lambda_budget};
pub use scraper::{RECEIVE_WAIT, run_scraper};

pub use crate::config::{ApiConfig, MigrateConfig, ReschedulerConfig, ScraperConfig};

/// Starts logging to stderr (text lines, or JSON objects with `PRICETRACK_LOG_FORMAT=json`; the
/// level from `RUST_LOG`, default `info`) and, when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, trace
/// export as `service` (see [`pricetrack_telemetry`]). Hold the returned guard until the program
/// ends: dropping it flushes the spans not yet exported. Fails on an unknown
/// `PRICETRACK_LOG_FORMAT` or an OTLP endpoint the exporter cannot use.
pub fn init_tracing(service: &'static str) -> anyhow::Result<Telemetry> {
    Ok(pricetrack_telemetry::init(service, Env::process().log_format()?, "info")?)
}

pub use pricetrack_runtime::{cancel_on_shutdown, shutdown_signal};
pub use pricetrack_telemetry::Telemetry;

/// The exit status of a program: 0 on success; otherwise the error and its causes on stderr
/// (`error: …`) and status 1. A [`pricetrack_settings::ConfigError`] names the variable and never shows a secret.
#[allow(clippy::print_stderr, reason = "the program's error channel, before or beside the logs")]
pub fn exit_code(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
