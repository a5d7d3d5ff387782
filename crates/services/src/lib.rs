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
mod rescheduler;
mod scraper;

use std::process::ExitCode;

pub use api::{API_SHUTDOWN_GRACE, DATABASE_MAX_CONNECTIONS, migrate_database, run_api};
use pricetrack_settings::{ConfigError, Env, LogFormat};
pub use rescheduler::{Report, Rescheduler, ReschedulerMode, lambda_budget};
pub use scraper::{RECEIVE_WAIT, run_scraper};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

pub use crate::config::{ApiConfig, MigrateConfig, ReschedulerConfig, ScraperConfig};

/// Starts logging to stderr: text lines, or JSON objects with `PRICETRACK_LOG_FORMAT=json`; the
/// level from `RUST_LOG` (default `info`). Fails on an unknown `PRICETRACK_LOG_FORMAT`.
pub fn init_tracing() -> Result<(), ConfigError> {
    let format = Env::process().log_format()?;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
    Ok(())
}

/// Completes on SIGTERM or Ctrl-C (SIGINT). If a signal cannot be listened for, that one is
/// logged and the other still counts.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutdown signal received");
}

/// A token cancelled on SIGTERM or Ctrl-C. The signal handlers are installed before this
/// returns, so a signal that arrives right after is not missed. Call inside a Tokio runtime.
pub fn cancel_on_shutdown() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        cancel.cancel();
    });
    token
}

/// The exit status of a program: 0 on success; otherwise the error and its causes on stderr
/// (`error: …`) and status 1. A [`ConfigError`] names the variable and never shows a secret.
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
