//! `rescheduler`: claims due jobs and queues their check requests, as a Lambda function, once,
//! or in a loop.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use async_trait::async_trait;
use pricetrack_aws::AwsAdapters;
use pricetrack_domain::ports::{
    CheckQueue, ClaimedJob, IdempotentCreate, JobStore, ListOrder, Page, PageRequest, StoreError, WriteOutcome,
};
use pricetrack_domain::{
    AlertId, HistoryQuery, Job, JobKey, Observation, PricePoint, SchedulePolicy, Timestamp, UserId,
};
use pricetrack_rescheduler::{DEFAULT_BATCH_LIMIT, RescheduleError, RunReport};
use serde::Serialize;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::ReschedulerConfig;

/// How the rescheduler runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReschedulerMode {
    /// As a Lambda function: one run per invocation (an EventBridge scheduled event), bounded by
    /// the invocation's deadline.
    Lambda,
    /// One run, then exit.
    Once,
    /// A run every period until SIGTERM or Ctrl-C.
    Every(Duration),
}

/// What one run did; the Lambda function's response and `--once`'s output.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Jobs claimed (leased).
    pub claimed: usize,
    /// Check requests sent.
    pub sent: usize,
    /// Check requests that could not be sent: their jobs are due again when the lease runs out.
    pub failed: usize,
    /// The run stopped claiming because its time was nearly up; the jobs still due are claimed
    /// by the next run.
    pub stopped_early: bool,
}

impl Report {
    fn new(report: RunReport, stopped_early: bool) -> Self {
        Self { claimed: report.claimed, sent: report.sent, failed: report.failed, stopped_early }
    }
}

/// Reads how many items the job store has read so far (the DynamoDB store counts them).
pub type ItemsRead = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The rescheduler over its two ports.
#[derive(Clone)]
pub struct Rescheduler {
    jobs: Arc<dyn JobStore>,
    queue: Arc<dyn CheckQueue>,
    policy: SchedulePolicy,
    /// The store's read counter, when it has one: reported with each Lambda run.
    items_read: Option<ItemsRead>,
}

/// The CloudWatch namespace of the rescheduler's embedded metrics.
pub const EMF_NAMESPACE: &str = "pricetrack";

/// What one Lambda invocation did, as the CloudWatch metrics it reports. The Lambda has no
/// endpoint for Prometheus to scrape: it writes one line of CloudWatch Embedded Metric Format per
/// invocation to stdout instead ([`RunMetrics::emf`]), which CloudWatch Logs turns into metrics
/// without an API call (so a run reports even while CloudWatch's API is unreachable).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunMetrics {
    /// Jobs claimed (leased).
    pub claimed: u64,
    /// Check requests queued.
    pub sent: u64,
    /// Check requests that could not be queued.
    pub failed: u64,
    /// Job-store items read (DynamoDB; what the run costs); 0 when the store does not count.
    pub items_read: u64,
    /// How long the run took, in milliseconds.
    pub duration_ms: u64,
    /// The run stopped claiming because its time was nearly up.
    pub stopped_early: bool,
    /// The run failed (the invocation returns an error).
    pub error: bool,
}

impl RunMetrics {
    /// The metric names (and units) the EMF line declares, in order.
    pub const METRICS: [(&'static str, &'static str); 7] = [
        ("Claimed", "Count"),
        ("Sent", "Count"),
        ("SendFailed", "Count"),
        ("ItemsRead", "Count"),
        ("StoppedEarly", "Count"),
        ("RunErrors", "Count"),
        ("RunDuration", "Milliseconds"),
    ];

    /// The EMF record: `_aws` metadata (timestamp in milliseconds, namespace, the
    /// `FunctionName` dimension, the metric definitions) and the values as top-level members.
    pub fn emf(&self, function_name: &str, timestamp_ms: i64) -> serde_json::Value {
        let metrics: Vec<serde_json::Value> =
            Self::METRICS.iter().map(|(name, unit)| serde_json::json!({"Name": name, "Unit": unit})).collect();
        serde_json::json!({
            "_aws": {
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": EMF_NAMESPACE,
                    "Dimensions": [["FunctionName"]],
                    "Metrics": metrics,
                }],
            },
            "FunctionName": function_name,
            "Claimed": self.claimed,
            "Sent": self.sent,
            "SendFailed": self.failed,
            "ItemsRead": self.items_read,
            "StoppedEarly": u64::from(self.stopped_early),
            "RunErrors": u64::from(self.error),
            "RunDuration": self.duration_ms,
        })
    }

    fn from_report(report: &Report) -> Self {
        let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
        Self {
            claimed: count(report.claimed),
            sent: count(report.sent),
            failed: count(report.failed),
            stopped_early: report.stopped_early,
            ..Self::default()
        }
    }
}

impl std::fmt::Debug for Rescheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rescheduler").field("policy", &self.policy).finish_non_exhaustive()
    }
}

/// The safety margin of a Lambda invocation with `remaining` time left: the run stops claiming
/// at `remaining - margin` and is cut off at `remaining - margin / 2`, where the margin is a
/// fifth of the time left, between 1 and 10 seconds. Returns `(soft, hard)`.
pub fn lambda_budget(remaining: Duration) -> (Duration, Duration) {
    let margin = (remaining / 5).clamp(Duration::from_secs(1), Duration::from_secs(10));
    (remaining.saturating_sub(margin), remaining.saturating_sub(margin / 2))
}

impl Rescheduler {
    /// A rescheduler over these ports; only `policy.lease` matters.
    pub fn new(jobs: Arc<dyn JobStore>, queue: Arc<dyn CheckQueue>, policy: SchedulePolicy) -> Self {
        Self { jobs, queue, policy, items_read: None }
    }

    /// Reports the store's items read with each Lambda run, read through `items_read`.
    pub fn with_items_read(mut self, items_read: ItemsRead) -> Self {
        self.items_read = Some(items_read);
        self
    }

    fn items_read_now(&self) -> u64 {
        self.items_read.as_ref().map_or(0, |read| read())
    }

    /// The DynamoDB job store and SQS queue of `config`, with clients from the SDK's default
    /// chain.
    pub async fn from_config(config: &ReschedulerConfig) -> Self {
        let aws = AwsAdapters::from_default_chain().await.with_waits(config.aws_waits);
        let store = aws.job_store(&config.table);
        // Clones share the read counter.
        let counter = store.clone();
        Self::new(Arc::new(store), Arc::new(aws.check_queue(&config.queue_url)), config.schedule())
            .with_items_read(Arc::new(move || counter.items_read()))
    }

    /// One run: claims the jobs due now, page by page, and queues their check requests in
    /// batches (at most `pricetrack_rescheduler::MAX_CLAIMS_PER_RUN` jobs).
    pub async fn run_once(&self) -> Result<Report, RescheduleError> {
        let report = pricetrack_rescheduler::run_once(
            self.jobs.as_ref(),
            self.queue.as_ref(),
            chrono::Utc::now(),
            &self.policy,
            DEFAULT_BATCH_LIMIT,
        )
        .await?;
        Ok(Report::new(report, false))
    }

    /// One run that claims no more after `soft` (it finishes sending what it claimed and
    /// reports `stopped_early`), and is cut off at `hard` (an error: the jobs it claimed but did
    /// not queue are due again when their lease runs out).
    pub async fn run_within(&self, soft: Duration, hard: Duration) -> anyhow::Result<Report> {
        let started = Instant::now();
        let jobs = DeadlineJobStore {
            inner: Arc::clone(&self.jobs),
            stop_claiming_at: started + soft,
            stopped: AtomicBool::new(false),
        };
        let run = pricetrack_rescheduler::run_once(
            &jobs,
            self.queue.as_ref(),
            chrono::Utc::now(),
            &self.policy,
            DEFAULT_BATCH_LIMIT,
        );
        let report = tokio::time::timeout_at(started + hard, run)
            .await
            .map_err(|_| {
                anyhow::anyhow!(
                    "the run did not finish within {:?}; jobs claimed but not queued are due again after their lease",
                    hard
                )
            })?
            .context("claiming due jobs")?;
        let stopped_early = jobs.stopped.load(Ordering::Relaxed);
        if stopped_early {
            tracing::warn!(?report, "stopped claiming: the run's time is nearly up; the next run claims the rest");
        }
        Ok(Report::new(report, stopped_early))
    }

    /// A run every `every` until `shutdown` is cancelled (a run in progress is dropped then: the
    /// jobs it claimed but did not queue are due again after their lease).
    pub async fn run_every(&self, every: Duration, shutdown: CancellationToken) {
        tracing::info!(every_ms = every.as_millis() as u64, "rescheduler started");
        pricetrack_rescheduler::run_every(
            Arc::clone(&self.jobs),
            Arc::clone(&self.queue),
            self.policy.clone(),
            every,
            shutdown,
        )
        .await;
    }

    /// Serves Lambda invocations until the runtime stops: each event (an EventBridge scheduled
    /// event, or any JSON) triggers one run, bounded by the invocation's deadline (see
    /// [`lambda_budget`]), and the response is its [`Report`]. A failed run fails the invocation.
    ///
    /// Needs the Lambda environment (`AWS_LAMBDA_RUNTIME_API` and the function's variables).
    pub async fn serve_lambda(self) -> anyhow::Result<()> {
        for name in [
            "AWS_LAMBDA_RUNTIME_API",
            "AWS_LAMBDA_FUNCTION_NAME",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            "AWS_LAMBDA_FUNCTION_VERSION",
        ] {
            if std::env::var_os(name).is_none() {
                anyhow::bail!(
                    "{name} is not set: this is not a Lambda environment. Outside Lambda, run with --once or --every <duration> (e.g. --every 60s)"
                );
            }
        }
        let this = Arc::new(self);
        let handler = lambda_runtime::service_fn(move |event: lambda_runtime::LambdaEvent<serde_json::Value>| {
            let this = Arc::clone(&this);
            async move { this.handle_invocation(event).await }
        });
        tracing::info!("rescheduler waiting for Lambda invocations");
        lambda_runtime::run(handler).await.map_err(|e| anyhow::anyhow!(e)).context("the Lambda runtime failed")
    }

    /// What one Lambda invocation with `remaining` time runs: [`Self::run_within`] the
    /// [`lambda_budget`], and an error when the run could not queue every job it claimed (the
    /// store or the queue down), so that the failure shows in the function's error metrics and
    /// alarms instead of a success with work left undone. The jobs not queued are due again
    /// after their lease and the next run catches up.
    pub async fn invocation_run(&self, remaining: Duration) -> anyhow::Result<Report> {
        self.invocation(remaining).await.0
    }

    /// [`Self::invocation_run`], with the run's [`RunMetrics`] (reported whether it failed or
    /// not).
    pub async fn invocation(&self, remaining: Duration) -> (anyhow::Result<Report>, RunMetrics) {
        let started = Instant::now();
        let read_before = self.items_read_now();
        let (soft, hard) = lambda_budget(remaining);
        let run = self.run_within(soft, hard).await;
        let mut metrics = match &run {
            Ok(report) => RunMetrics::from_report(report),
            // A store failure still says how far the run got.
            Err(error) => match error.downcast_ref::<RescheduleError>() {
                Some(RescheduleError::Store { report, .. }) => RunMetrics::from_report(&Report::new(*report, false)),
                None => RunMetrics::default(),
            },
        };
        metrics.items_read = self.items_read_now().saturating_sub(read_before);
        metrics.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let result = match run {
            Ok(report) if report.failed > 0 => Err(anyhow::anyhow!(
                "{} of {} claimed jobs could not be queued (the check queue failed); they are due again after their lease",
                report.failed,
                report.claimed
            )),
            other => other,
        };
        metrics.error = result.is_err();
        (result, metrics)
    }

    async fn handle_invocation(
        &self,
        event: lambda_runtime::LambdaEvent<serde_json::Value>,
    ) -> Result<Report, lambda_runtime::Error> {
        let remaining = event.context.deadline().duration_since(SystemTime::now()).unwrap_or_default();
        tracing::info!(
            request_id = %event.context.request_id,
            event_id = event.payload.get("id").and_then(|v| v.as_str()).unwrap_or_default(),
            remaining_ms = remaining.as_millis() as u64,
            "scheduled run"
        );
        let (result, metrics) = self.invocation(remaining).await;
        let function_name = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_default();
        write_emf(&metrics.emf(&function_name, chrono::Utc::now().timestamp_millis()));
        // The function may be frozen as soon as it answers: export this run's spans first.
        let _ = tokio::task::spawn_blocking(pricetrack_telemetry::flush).await;
        match result {
            Ok(report) => {
                tracing::info!(?report, "run finished");
                Ok(report)
            }
            Err(error) => {
                tracing::error!(error = format!("{error:#}"), "run failed");
                Err(format!("{error:#}").into())
            }
        }
    }
}

/// Writes one EMF record as one line on stdout, where the Lambda runtime sends it to CloudWatch
/// Logs (the logs go to stderr).
#[allow(clippy::print_stdout, reason = "EMF records are read from the function's stdout")]
fn write_emf(record: &serde_json::Value) {
    println!("{record}");
}

/// A job store that hands out no more due jobs after a moment: [`pricetrack_rescheduler::run_once`]
/// then ends its claim loop as it does when nothing is due, with a complete report.
struct DeadlineJobStore {
    inner: Arc<dyn JobStore>,
    stop_claiming_at: Instant,
    stopped: AtomicBool,
}

#[async_trait]
impl JobStore for DeadlineJobStore {
    async fn create(&self, job: &Job) -> Result<(), StoreError> {
        self.inner.create(job).await
    }

    async fn get(&self, key: JobKey) -> Result<Option<Job>, StoreError> {
        self.inner.get(key).await
    }

    async fn list(&self, user_id: UserId, page: &PageRequest) -> Result<Page<Job>, StoreError> {
        self.inner.list(user_id, page).await
    }

    async fn delete(&self, key: JobKey) -> Result<bool, StoreError> {
        self.inner.delete(key).await
    }

    async fn delete_all(&self, user_id: UserId) -> Result<u64, StoreError> {
        self.inner.delete_all(user_id).await
    }

    async fn claim_due(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: usize,
    ) -> Result<Vec<ClaimedJob>, StoreError> {
        if Instant::now() >= self.stop_claiming_at {
            self.stopped.store(true, Ordering::Relaxed);
            return Ok(Vec::new());
        }
        self.inner.claim_due(now, lease_until, limit).await
    }

    async fn record_check(
        &self,
        job: &Job,
        expected_version: u64,
        observation: Option<&Observation>,
    ) -> Result<WriteOutcome, StoreError> {
        self.inner.record_check(job, expected_version, observation).await
    }

    async fn clear_pending_alert(&self, key: JobKey, alert_id: AlertId) -> Result<WriteOutcome, StoreError> {
        self.inner.clear_pending_alert(key, alert_id).await
    }

    async fn history(&self, key: JobKey, query: &HistoryQuery) -> Result<Page<PricePoint>, StoreError> {
        self.inner.history(key, query).await
    }

    async fn create_idempotent(
        &self,
        job: &Job,
        idempotency_key: &str,
        response: &str,
        now: Timestamp,
    ) -> Result<IdempotentCreate, StoreError> {
        self.inner.create_idempotent(job, idempotency_key, response, now).await
    }

    async fn list_ordered(
        &self,
        user_id: UserId,
        page: &PageRequest,
        order: ListOrder,
    ) -> Result<Page<Job>, StoreError> {
        self.inner.list_ordered(user_id, page, order).await
    }

    async fn update(&self, job: &Job, expected_version: u64) -> Result<WriteOutcome, StoreError> {
        self.inner.update(job, expected_version).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_declares_every_metric_it_carries() {
        let metrics = RunMetrics {
            claimed: 3,
            sent: 2,
            failed: 1,
            items_read: 4,
            duration_ms: 120,
            stopped_early: false,
            error: true,
        };
        let record = metrics.emf("pricetrack-dev-rescheduler", 1_700_000_000_000);
        assert_eq!(record["_aws"]["Timestamp"], 1_700_000_000_000_i64);
        let directive = &record["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], EMF_NAMESPACE);
        assert_eq!(directive["Dimensions"], serde_json::json!([["FunctionName"]]));
        assert_eq!(record["FunctionName"], "pricetrack-dev-rescheduler");
        let declared = directive["Metrics"].as_array().expect("metrics");
        assert_eq!(declared.len(), RunMetrics::METRICS.len());
        for definition in declared {
            let name = definition["Name"].as_str().expect("name");
            assert!(record[name].is_u64(), "{name} has a number at the top level: {record}");
        }
        assert_eq!(record["Claimed"], 3);
        assert_eq!(record["SendFailed"], 1);
        assert_eq!(record["RunErrors"], 1);
        assert_eq!(record["StoppedEarly"], 0);
    }

    #[test]
    fn lambda_budget_keeps_a_margin() {
        assert_eq!(lambda_budget(Duration::from_secs(60)), (Duration::from_secs(50), Duration::from_secs(55)));
        assert_eq!(lambda_budget(Duration::from_secs(15)), (Duration::from_secs(12), Duration::from_millis(13_500)));
        assert_eq!(lambda_budget(Duration::from_secs(3)), (Duration::from_secs(2), Duration::from_millis(2_500)));
        assert_eq!(lambda_budget(Duration::from_secs(900)), (Duration::from_secs(890), Duration::from_secs(895)));
        assert_eq!(lambda_budget(Duration::ZERO), (Duration::ZERO, Duration::ZERO));
    }
}
