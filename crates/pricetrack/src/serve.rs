//! `pricetrack serve`: the API, the scraper workers and the rescheduler in one process on SQLite.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use pricetrack_api::{ApiPorts, ApiSettings, Application, DeliveryPorts};
use pricetrack_browser::Fetchers;
use pricetrack_delivery::{
    ChannelSender, Deliverer, DeliveryWorkerSettings, EmailSender, OperatorWebhook, QueueNotifier, RetryPolicy,
    SmtpEmailSender, run_delivery_workers,
};
use pricetrack_domain::delivery::{ChannelStore, DeliveryLog};
use pricetrack_domain::ports::{CheckQueue, JobStore, Notifier, SessionStore, UserStore};
use pricetrack_embedded::{Database, QueueSettings, WebhookNotifier};
use pricetrack_scraper::{Checker, WorkerSettings};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};

use crate::config::{ServeConfig, validate_jwt_secret};

/// How long a check request stays invisible on the queue before another worker may take it;
/// workers extend it while a check runs.
const VISIBILITY_TIMEOUT: Duration = Duration::from_secs(60);
/// Deliveries after which a message that keeps failing goes to the dead-letter table.
const MAX_RECEIVE_COUNT: u32 = 5;
/// Receives of one alert before it goes to the delivery dead-letter table: retries put the
/// message off rather than fail it, so this only counts crashes and store failures over 24 h of
/// retries (at most an hour apart).
const DELIVERY_MAX_RECEIVE_COUNT: u32 = 500;
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
    let sessions: Arc<dyn SessionStore> = Arc::new(db.users());
    let jobs: Arc<dyn JobStore> = Arc::new(db.jobs().with_history_retention_days(config.history_retention_days));
    let queue: Arc<dyn CheckQueue> = Arc::new(
        db.queue(QueueSettings { visibility_timeout: VISIBILITY_TIMEOUT, max_receive_count: MAX_RECEIVE_COUNT }),
    );
    // The delivery stage: checks put decided alerts on the durable delivery queue; the delivery
    // workers deliver them to each user's channels (and the operator's webhook), with retries.
    let delivery_queue: Arc<dyn CheckQueue> = Arc::new(db.delivery_queue(QueueSettings {
        visibility_timeout: config.delivery.visibility_timeout,
        max_receive_count: DELIVERY_MAX_RECEIVE_COUNT,
    }));
    let notifier: Arc<dyn Notifier> = Arc::new(QueueNotifier::new(delivery_queue.clone()));
    let operator = match &config.webhook_url {
        Some(url) => {
            tracing::info!("every alert is also POSTed to the operator's webhook (PRICETRACK_WEBHOOK_URL)");
            let webhook = WebhookNotifier::new(url.clone(), users.clone()).context("building the webhook client")?;
            Some(OperatorWebhook { notifier: Arc::new(webhook) })
        }
        None => None,
    };
    let email: Option<Arc<dyn EmailSender>> = match &config.delivery.smtp_url {
        Some(url) => Some(Arc::new(
            SmtpEmailSender::new(url.expose_secret(), &config.delivery.smtp_from)
                .map_err(|e| anyhow::anyhow!("PRICETRACK_SMTP_URL or PRICETRACK_SMTP_FROM: {e}"))?,
        )),
        None => {
            tracing::info!("PRICETRACK_SMTP_URL is unset: email channels cannot be delivered");
            None
        }
    };
    let channels: Arc<dyn ChannelStore> = Arc::new(db.channels());
    let delivery_log: Arc<dyn DeliveryLog> = Arc::new(db.delivery_log());
    let deliverer = Arc::new(
        Deliverer::new(
            channels.clone(),
            delivery_log.clone(),
            ChannelSender::new(config.allow_private_targets, email).context("building the delivery HTTP client")?,
            operator,
            RetryPolicy { base: config.delivery.retry_base, ..RetryPolicy::default() },
        )
        // An alert of a deleted job (or account) is delivered no further and writes nothing back.
        .with_jobs(jobs.clone()),
    );
    if config.allow_private_targets {
        tracing::warn!("PRICETRACK_ALLOW_PRIVATE_TARGETS is on: checks may reach loopback and private networks");
    }

    let shutdown = pricetrack_runtime::cancel_on_shutdown();

    // Every check goes through the per-host politeness limits (concurrency, spacing,
    // Retry-After), the browser included.
    let fetchers = Fetchers::new(&config.scrape, config.allow_private_targets, config.user_agent.as_deref())
        .context("building the HTTP client")?;

    let api_settings = ApiSettings {
        cookie_secure: config.cookie_secure,
        session_ttl: Duration::from_secs(24 * 3600),
        schedule: config.schedule.clone(),
        allow_private_targets: config.allow_private_targets,
        max_jobs_per_user: config.max_jobs_per_user,
        ..ApiSettings::new(jwt_secret)
    };
    let api_ports = ApiPorts {
        users,
        sessions,
        jobs: jobs.clone(),
        queue: queue.clone(),
        notifier: notifier.clone(),
        delivery: Some(DeliveryPorts { channels, log: delivery_log, probe: deliverer.clone() }),
        // The dashboard's page preview reads pages through the checks' own reader.
        previewer: Some(Arc::new(pricetrack_scraper::ReaderPreviewer::new(fetchers.reader()))),
    };
    let app = Application::build(config.listen, api_settings, api_ports)
        .await
        .with_context(|| format!("binding {}", config.listen))?
        // The web dashboard at `/`, in front of the API.
        .wrap_router(pricetrack_web::with_dashboard);
    tracing::info!(address = %app.local_addr(), data_dir = %config.data_dir.display(), "pricetrack is listening");

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
    let deliverers = tokio::spawn(run_delivery_workers(
        delivery_queue,
        deliverer,
        DeliveryWorkerSettings {
            workers: config.delivery.workers,
            visibility_timeout: config.delivery.visibility_timeout,
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
    deliverers.await.context("the delivery workers panicked")?;
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
