//! `api`: the HTTP API on PostgreSQL, DynamoDB, SQS and SNS.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use pricetrack_api::{ApiPorts, ApiSettings, Application};
use pricetrack_aws::AwsAdapters;
use pricetrack_domain::ports::{CheckQueue, JobStore, Notifier, SessionStore, UserStore};
use pricetrack_postgres::{PgPool, PgUserStore};
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;

use crate::config::{ApiConfig, MigrateConfig};

/// Connections in the PostgreSQL pool.
pub const DATABASE_MAX_CONNECTIONS: u32 = 10;
/// After a shutdown signal, how long requests in flight may take before the server stops anyway.
pub const API_SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

async fn open_database(url: &SecretString) -> anyhow::Result<PgPool> {
    let pool = pricetrack_postgres::connect(url, DATABASE_MAX_CONNECTIONS)
        .await
        .context("connecting to PostgreSQL (DATABASE_URL)")?;
    pricetrack_postgres::migrate(&pool).await.context("applying the database migrations")?;
    Ok(pool)
}

/// `api migrate`: applies the database migrations and returns.
pub async fn migrate_database(config: MigrateConfig) -> anyhow::Result<()> {
    let pool = open_database(&config.database_url).await?;
    pool.close().await;
    tracing::info!("database migrations are applied");
    Ok(())
}

/// Connects to PostgreSQL and applies its migrations, builds the AWS adapters from the SDK's
/// default chain, and serves the API until `shutdown` completes; then stops accepting
/// connections and lets the requests in flight finish (for at most [`API_SHUTDOWN_GRACE`]).
pub async fn run_api(config: ApiConfig, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    let pool = open_database(&config.database_url).await?;
    let aws = AwsAdapters::from_default_chain().await;
    let accounts = Arc::new(PgUserStore::new(pool.clone()));
    let users: Arc<dyn UserStore> = accounts.clone();
    let sessions: Arc<dyn SessionStore> = accounts;
    let jobs: Arc<dyn JobStore> = Arc::new(aws.job_store(&config.table));
    let queue: Arc<dyn CheckQueue> = Arc::new(aws.check_queue(&config.queue_url));
    let notifier: Arc<dyn Notifier> = Arc::new(aws.notifier(&config.topic_arn));
    if config.allow_private_targets {
        tracing::warn!("PRICETRACK_ALLOW_PRIVATE_TARGETS is on: job URLs may point at loopback and private networks");
    }
    if !config.cookie_secure {
        tracing::warn!("PRICETRACK_COOKIE_SECURE is off: the session cookie is sent over plain HTTP too");
    }

    let settings = ApiSettings {
        cookie_secure: config.cookie_secure,
        schedule: config.schedule.clone(),
        allow_private_targets: config.allow_private_targets,
        max_jobs_per_user: config.max_jobs_per_user,
        ..ApiSettings::new(config.jwt_secret.clone())
    };
    let app = Application::build(config.listen, settings, ApiPorts { users, sessions, jobs, queue, notifier })
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    tracing::info!(address = %app.local_addr(), table = %config.table, "api started");

    let stop = CancellationToken::new();
    let mut server = tokio::spawn(app.run_until_stopped(stop.clone().cancelled_owned()));
    let served = tokio::select! {
        served = &mut server => served,
        () = shutdown => {
            stop.cancel();
            match tokio::time::timeout(API_SHUTDOWN_GRACE, &mut server).await {
                Ok(served) => served,
                Err(_) => {
                    tracing::warn!(grace_s = API_SHUTDOWN_GRACE.as_secs(), "requests still in flight after the grace; stopping anyway");
                    server.abort();
                    Ok(Ok(()))
                }
            }
        }
    };
    pool.close().await;
    served.context("the API server panicked")?.context("the API server failed")?;
    tracing::info!("api stopped");
    Ok(())
}
