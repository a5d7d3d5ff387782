//! `scraper`: check requests from SQS, handled by a bounded pool of workers.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use pricetrack_aws::AwsAdapters;
use pricetrack_browser::Fetchers;
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
    let aws = AwsAdapters::from_default_chain().await.with_waits(config.aws_waits);
    let jobs: Arc<dyn JobStore> = Arc::new(aws.job_store(&config.table));
    let queue: Arc<dyn CheckQueue> = Arc::new(aws.check_queue(&config.queue_url));
    let notifier: Arc<dyn Notifier> = Arc::new(aws.notifier(&config.topic_arn));

    if config.allow_private_targets {
        tracing::warn!("PRICETRACK_ALLOW_PRIVATE_TARGETS is on: checks may reach loopback and private networks");
    }
    // Every check goes through the per-host politeness limits (concurrency, spacing,
    // Retry-After), the browser included.
    let fetchers = Fetchers::new(&config.scrape, config.allow_private_targets, config.user_agent.as_deref())
        .context("building the HTTP client")?;
    let checker = Arc::new(fetchers.equip(Checker::new(
        jobs,
        notifier,
        fetchers.static_fetcher.clone(),
        config.schedule.clone(),
    )));

    tracing::info!(
        workers = config.workers,
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
    fetchers.shut_down().await;
    tracing::info!("scraper stopped");
    Ok(())
}
