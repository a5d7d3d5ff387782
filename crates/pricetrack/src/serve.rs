//! `pricetrack serve`: the API, the scraper workers and the rescheduler in one process on SQLite.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use pricetrack_api::{ApiPorts, ApiSettings, Application};
use pricetrack_browser::Fetchers;
use pricetrack_domain::ports::{CheckQueue, JobStore, Notifier, UserStore};
use pricetrack_embedded::{Database, LogNotifier, QueueSettings, WebhookNotifier};
use pricetrack_scraper::{Checker, WorkerSettings};
use rand::RngCore;
use secrecy::SecretString;

use crate::config::{ServeConfig, validate_jwt_secret};

/// How long a check request stays invisible on the queue before another worker may take it;
/// workers extend it while a check runs.
const VISIBILITY_TIMEOUT: Duration = Duration::from_secs(60);
/// Deliveries after which a message that keeps failing goes to the dead-letter table.
const MAX_RECEIVE_COUNT: u32 = 5;
/// How long in-flight checks may run on after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Runs until SIGTERM or Ctrl-C, then shuts down gracefully.
pub async fn run(config: ServeConfig) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating the data directory {}", config.data_dir.display()))?;
    let jwt_secret = match config.jwt_secret.clone() {
        Some(secret) => secret,
        None => load_or_create_secret(&config.data_dir)?,
    };

    let db_path = config.data_dir.join("pricetrack.db");
    let db = Database::open(&db_path).await.with_context(|| format!("opening {}", db_path.display()))?;
    let users: Arc<dyn UserStore> = Arc::new(db.users());
    let jobs: Arc<dyn JobStore> = Arc::new(db.jobs().with_history_retention_days(config.history_retention_days));
    let queue: Arc<dyn CheckQueue> = Arc::new(
        db.queue(QueueSettings { visibility_timeout: VISIBILITY_TIMEOUT, max_receive_count: MAX_RECEIVE_COUNT }),
    );
    let notifier: Arc<dyn Notifier> = match &config.webhook_url {
        Some(url) => {
            tracing::info!("alerts are POSTed to the configured webhook");
            Arc::new(WebhookNotifier::new(url.clone(), users.clone()).context("building the webhook client")?)
        }
        None => {
            tracing::info!("PRICETRACK_WEBHOOK_URL is unset: alerts are only logged");
            Arc::new(LogNotifier)
        }
    };
    if config.allow_private_targets {
        tracing::warn!("PRICETRACK_ALLOW_PRIVATE_TARGETS is on: checks may reach loopback and private networks");
    }

    let shutdown = pricetrack_runtime::cancel_on_shutdown();

    let app = Application::build(
        config.listen,
        ApiSettings {
            jwt_secret,
            cookie_secure: config.cookie_secure,
            session_ttl: Duration::from_secs(24 * 3600),
            schedule: config.schedule.clone(),
            allow_private_targets: config.allow_private_targets,
        },
        ApiPorts { users, jobs: jobs.clone(), queue: queue.clone(), notifier: notifier.clone() },
    )
    .await
    .with_context(|| format!("binding {}", config.listen))?;
    tracing::info!(address = %app.local_addr(), data_dir = %config.data_dir.display(), "pricetrack is listening");

    // Every check goes through the per-host politeness limits (concurrency, spacing,
    // Retry-After), the browser included.
    let fetchers = Fetchers::new(&config.scrape, config.allow_private_targets, config.user_agent.as_deref())
        .context("building the HTTP client")?;
    let checker = Arc::new(fetchers.equip(Checker::new(
        jobs.clone(),
        notifier,
        fetchers.static_fetcher.clone(),
        config.schedule.clone(),
    )));

    let api = {
        let stop = shutdown.clone();
        tokio::spawn(app.run_until_stopped(async move { stop.cancelled().await }))
    };
    let workers = tokio::spawn(pricetrack_scraper::run_workers(
        queue.clone(),
        checker,
        WorkerSettings {
            workers: config.workers,
            visibility_timeout: VISIBILITY_TIMEOUT,
            receive_wait: Duration::from_secs(1),
            shutdown_grace: SHUTDOWN_GRACE,
        },
        shutdown.clone(),
    ));
    let rescheduler = tokio::spawn(pricetrack_rescheduler::run_every(
        jobs,
        queue,
        config.schedule.clone(),
        config.scheduler_tick,
        shutdown.clone(),
    ));

    let api_result = api.await.context("the API task panicked")?;
    // However the API stopped, the other components stop with it.
    shutdown.cancel();
    workers.await.context("the worker pool panicked")?;
    rescheduler.await.context("the rescheduler panicked")?;
    fetchers.shut_down().await;
    api_result.context("the API server failed")?;
    tracing::info!("pricetrack stopped");
    Ok(())
}

/// Reads the signing secret kept in the data directory, or creates one (32 random bytes, hex,
/// readable by the owner only) so that sessions survive a restart.
fn load_or_create_secret(data_dir: &Path) -> anyhow::Result<SecretString> {
    let path = data_dir.join("jwt-secret");
    if path.exists() {
        let raw = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        return validate_jwt_secret(SecretString::from(raw.trim().to_owned()))
            .with_context(|| format!("the secret in {} is unusable; delete it to make a new one", path.display()));
    }
    let mut bytes = [0_u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&path).with_context(|| format!("creating {}", path.display()))?;
    file.write_all(hex.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
    tracing::info!(path = %path.display(), "PRICETRACK_JWT_SECRET is unset: generated a signing secret and kept it in the data directory");
    Ok(SecretString::from(hex))
}
