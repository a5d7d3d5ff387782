//! `scraper`: check requests from SQS, handled by a bounded pool of workers.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use pricetrack_aws::{AwsAdapters, HostBudget};
use pricetrack_browser::Fetchers;
use pricetrack_delivery::{DeliveryWorkerSettings, RetryPolicy, run_delivery_workers};
use pricetrack_domain::ports::{CheckQueue, JobStore, Notifier};
use pricetrack_scraper::{Checker, WorkerSettings};
use tokio_util::sync::CancellationToken;

use crate::config::ScraperConfig;

/// Long polling: the longest wait of one receive (the SQS maximum).
pub const RECEIVE_WAIT: Duration = Duration::from_secs(20);

/// Runs the worker pool until `shutdown` is cancelled; then stops receiving, lets the checks in
/// flight finish within [`ScraperConfig::shutdown_grace`] (the messages of those that do not are
/// delivered again later) and returns.
pub async fn run_scraper(config: ScraperConfig, shutdown: CancellationToken) -> anyhow::Result<()> {
    let metrics = serve_metrics(config.metrics_addr, &shutdown).await;
    let aws = AwsAdapters::from_default_chain().await.with_waits(config.aws_waits);
    let jobs: Arc<dyn JobStore> =
        Arc::new(aws.job_store(&config.table).with_history_retention_days(config.history_retention_days));
    let queue: Arc<dyn CheckQueue> = Arc::new(aws.check_queue(&config.queue_url));
    let notifier: Arc<dyn Notifier> = Arc::new(aws.notifier(&config.topic_arn));

    if config.allow_private_targets {
        tracing::warn!("PRICETRACK_ALLOW_PRIVATE_TARGETS is on: checks may reach loopback and private networks");
    }
    // Every check goes through the per-host politeness limits (concurrency, spacing,
    // Retry-After), the browser included.
    let fetchers = Fetchers::new(&config.scrape, config.allow_private_targets, config.user_agent.as_deref())
        .context("building the HTTP client")?;
    let mut checker =
        fetchers.equip(Checker::new(jobs, notifier, fetchers.static_fetcher.clone(), config.schedule.clone()));
    if config.fleet_politeness {
        // One budget per shop host for the whole fleet; the process-local limits stay as well.
        let budget = HostBudget {
            concurrency: u32::try_from(config.scrape.host_concurrency).unwrap_or(u32::MAX),
            min_delay: config.scrape.host_min_delay,
            hold: config.schedule.lease,
        };
        checker = checker.with_host_gate(Arc::new(aws.host_gate(&config.table, budget)));
    }
    let checker = Arc::new(checker);

    // The delivery stage: a second worker pool, fed by the delivery queue (the alert topic's
    // subscription), delivering to each user's channels with retries. A failing channel holds
    // back only its own deliveries, never a check.
    let crate::delivery::DeliveryParts { deliverer, .. } = crate::delivery::deliverer(
        &aws,
        &config.table,
        &config.topic_arn,
        config.allow_private_targets,
        RetryPolicy { base: config.delivery_retry_base, ..RetryPolicy::default() },
    )?;
    let delivery_queue: Arc<dyn CheckQueue> = Arc::new(aws.check_queue(&config.delivery_queue_url));
    let deliverers = tokio::spawn(run_delivery_workers(
        delivery_queue,
        deliverer,
        DeliveryWorkerSettings {
            workers: config.delivery_workers,
            visibility_timeout: config.delivery_visibility_timeout,
            receive_wait: RECEIVE_WAIT,
            shutdown_grace: config.shutdown_grace,
        },
        shutdown.clone(),
    ));

    tracing::info!(
        workers = config.workers,
        delivery_workers = config.delivery_workers,
        fleet_politeness = config.fleet_politeness,
        visibility_timeout_s = config.visibility_timeout.as_secs(),
        table = %config.table,
        queue_url = %config.queue_url,
        "scraper started"
    );
    pricetrack_scraper::run_workers(
        queue,
        checker,
        WorkerSettings {
            workers: config.workers,
            visibility_timeout: config.visibility_timeout,
            receive_wait: RECEIVE_WAIT,
            shutdown_grace: config.shutdown_grace,
        },
        shutdown,
    )
    .await;
    deliverers.await.context("the delivery workers panicked")?;
    fetchers.shut_down().await;
    if let Some(metrics) = metrics {
        // The endpoint stopped with the shutdown token; an error there is only logged.
        if let Ok(Err(error)) = metrics.await {
            tracing::warn!(%error, "the metrics endpoint failed");
        }
    }
    tracing::info!("scraper stopped");
    Ok(())
}

/// Installs the metrics recorder and serves `GET /metrics` on `addr` until `shutdown`. An
/// address that cannot be bound is logged and the scraper runs on without the endpoint: checks
/// matter more than their metrics (and two scrapers on one machine would otherwise stop each
/// other).
async fn serve_metrics(
    addr: Option<std::net::SocketAddr>,
    shutdown: &CancellationToken,
) -> Option<tokio::task::JoinHandle<std::io::Result<()>>> {
    pricetrack_metrics::install();
    let addr = addr?;
    match tokio::net::TcpListener::bind(addr).await {
        Ok(listener) => {
            let stop = shutdown.clone();
            Some(tokio::spawn(pricetrack_metrics::serve(listener, async move { stop.cancelled().await })))
        }
        Err(error) => {
            tracing::error!(%addr, %error, "cannot listen for metrics (PRICETRACK_METRICS_ADDR); running without GET /metrics");
            None
        }
    }
}
