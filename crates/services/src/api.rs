//! `api`: the HTTP API on PostgreSQL, DynamoDB, SQS and SNS.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use pricetrack_api::resilience::{Backs, Dependency};
use pricetrack_api::{ApiPorts, ApiSettings, Application};
use pricetrack_aws::{AwsAdapters, DynamoJobStore, SqsCheckQueue};
use pricetrack_domain::ports::{CheckQueue, JobStore, Notifier, SessionStore, UserStore};
use pricetrack_postgres::{PgPool, PgUserStore};
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;

use crate::config::{ApiConfig, MigrateConfig};

/// Connections in the PostgreSQL pool.
pub const DATABASE_MAX_CONNECTIONS: u32 = 10;
/// After a shutdown signal, how long requests in flight may take before the server stops anyway.
pub const API_SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

/// The dashboard's page preview: one plain-HTTP read of the page with every guard of a check
/// (address guard, per-host politeness, limits). The API's image has no browser, so a page that
/// needs JavaScript previews as a check without the browser would read it; the scraper's own
/// checks still use the browser.
fn previewer(allow_private_targets: bool) -> anyhow::Result<Arc<dyn pricetrack_api::preview::PagePreviewer>> {
    use pricetrack_scraper::{PageReader, PoliteFetcher, PolitenessSettings, ReaderPreviewer, StaticFetcher};
    let settings = pricetrack_scraper::StaticFetcherSettings { allow_private_targets, ..Default::default() };
    let fetcher = StaticFetcher::new(settings).context("building the preview's HTTP client")?;
    let polite = PoliteFetcher::new(Arc::new(fetcher), PolitenessSettings::default());
    Ok(Arc::new(ReaderPreviewer::new(PageReader::new(Arc::new(polite)))))
}

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
    // Migrations may take their time; the request path then gets a pool with bounded waits.
    open_database(&config.database_url).await?.close().await;
    let pool = pricetrack_postgres::connect_with_waits(
        &config.database_url,
        DATABASE_MAX_CONNECTIONS,
        config.database_waits.acquire,
        Some(config.database_waits.statement),
    )
    .await
    .context("connecting to PostgreSQL (DATABASE_URL)")?;
    let aws = AwsAdapters::from_default_chain().await.with_waits(config.aws_waits);
    let pg_store = PgUserStore::new(pool.clone());
    let dynamo = aws.job_store(&config.table);
    let sqs = aws.check_queue(&config.queue_url);
    let dependencies = dependencies(&pg_store, &dynamo, &sqs);
    let accounts = Arc::new(pg_store);
    let users: Arc<dyn UserStore> = accounts.clone();
    let sessions: Arc<dyn SessionStore> = accounts;
    let jobs: Arc<dyn JobStore> = Arc::new(dynamo);
    let queue: Arc<dyn CheckQueue> = Arc::new(sqs);
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
        auth_burst_per_address: config.auth_burst_per_address,
        ..ApiSettings::new(config.jwt_secret.clone())
    };
    // Channels and the delivery log live in the jobs' table; the API only checks and tests
    // channels (the scraper's delivery workers deliver).
    let crate::delivery::DeliveryParts { deliverer, channels, log } = crate::delivery::deliverer(
        &aws,
        &config.table,
        &config.topic_arn,
        config.allow_private_targets,
        pricetrack_delivery::RetryPolicy::default(),
    )?;
    let probe = Arc::new(crate::delivery::AwsChannelProbe { deliverer, email: aws.email(&config.topic_arn) });
    let delivery = Some(pricetrack_api::DeliveryPorts { channels, log, probe });
    let app = Application::build_with_dependencies(
        config.listen,
        settings,
        ApiPorts {
            users,
            sessions,
            jobs,
            queue,
            notifier,
            delivery,
            previewer: Some(previewer(config.allow_private_targets)?),
        },
        dependencies,
    )
    .await
    .with_context(|| format!("binding {}", config.listen))?
    // The web dashboard at `/`, in front of the API.
    .wrap_router(pricetrack_web::with_dashboard);
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

/// What the API's prober watches, named as operators know them: `postgres` (accounts), `dynamodb`
/// (jobs) and `sqs` (a new job's first check request: reported, never gating).
fn dependencies(users: &PgUserStore, jobs: &DynamoJobStore, queue: &SqsCheckQueue) -> Vec<Dependency> {
    let (users, jobs, queue) = (users.clone(), jobs.clone(), queue.clone());
    vec![
        Dependency::new("postgres", Backs::Users, move || {
            let users = users.clone();
            async move { users.ping().await }
        }),
        Dependency::new("dynamodb", Backs::Jobs, move || {
            let jobs = jobs.clone();
            async move { jobs.ping().await }
        }),
        Dependency::new("sqs", Backs::Background, move || {
            let queue = queue.clone();
            async move { queue.ping().await }
        }),
    ]
}
